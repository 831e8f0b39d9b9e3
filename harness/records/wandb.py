"""The W&B mapping, both ways: a run's flat config and summary from its record (written by ``run.loggers``),
and the record a W&B run stands for (read back by ``adaptbench table --from-wandb``).

A W&B run per job has a flat config, so the runs table filters and groups by its columns with no parsing:
``method``, ``model``, ``task``, ``seed``, ``lr``, ``params`` (|Θ|), ``experiment`` and the method's own settings
(``r``, ``alpha``, ...), and the whole nested config under ``config``. Its summary holds the record's results;
its ``results`` table one row per split and metric (``result_rows``), a generation job's ``samples`` table the
first generated texts beside their sources and references (``sample_rows``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.api.node_keys import HARNESS_KEYS
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.schema import RECORD_VERSION

# Flat config keys the harness sets itself; a method setting of the same name never overwrites one.
CELL_KEYS = ("method", "model", "task", "seed", "experiment", "lr", "params")


NESTED_CONFIG_KEY = "config"


def experiment_of(cfg: DictConfig) -> str | None:
    """The paper preset a job belongs to: ``cfg.experiment`` when the config has one, else Hydra's choice of
    ``+experiment=<preset>`` (a preset is ``@package _global_`` and leaves no key of its own in the config)."""
    if cfg.get("experiment"):
        return str(cfg.experiment)
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("experiment")
        return str(choice) if choice else None
    return None


def run_group(cfg: DictConfig) -> str:
    """``experiment/model/task`` (``model/task`` without a preset): the runs W&B draws as one line."""
    parts = [experiment_of(cfg), str(cfg.model.name), str(cfg.task.name)]
    return "/".join(p for p in parts if p)


def flat_config(cfg: DictConfig, lr: float | None = None, params: int | None = None) -> dict[str, Any]:
    """The W&B run config: the job's cell and settings as top-level keys, the full config under ``config``.

    ``lr`` is the learning rate the job trains with (the method's default when ``trainer.lr`` is unset);
    ``params`` is |Θ| (``method_params``)."""
    full = OmegaConf.to_container(cfg, resolve=True)
    method = full["method"]
    flat: dict[str, Any] = {
        "method": str(method["name"]),
        "model": str(cfg.model.name),
        "task": str(cfg.task.name),
        "seed": int(cfg.seed),
        "experiment": experiment_of(cfg),
        "lr": lr if lr is not None else full["trainer"].get("lr") or method.get("lr"),
        "params": params,
    }
    for key, value in method.items():
        if key not in HARNESS_KEYS and key not in flat:
            flat[key] = value
    flat[NESTED_CONFIG_KEY] = full
    return flat


def run_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run's results for the W&B summary: the best evaluation's metrics (``best/<metric>``), |Θ| and the
    other counts, training time, throughput and peak memory."""
    best = record.get("best") or {}
    train = record.get("train") or {}
    counts = record.get("params") or {}
    summary: dict[str, Any] = {f"best/{k}": v for k, v in (best.get("metrics") or {}).items()}
    summary |= {"best/epoch": best.get("epoch"), "best/step": best.get("step")}
    summary |= {
        "status": record.get("status"),
        "metric_for_best": record.get("metric_for_best"),
        "greater_is_better": record.get("greater_is_better"),
        "params": counts.get("method_params"),
        "trainable_params": counts.get("trainable_params"),
        "total_params": counts.get("total_params"),
        "head_params": counts.get("head_params"),
        "wall_seconds": record.get("wall_seconds"),
        "peak_memory_bytes": record.get("peak_memory_bytes"),
        "peak_memory_kind": record.get("peak_memory_kind"),
        "config_hash": record.get("config_hash"),
    }
    # the record's training statistics (time, loss, samples and tokens per second...), each as train_<key>
    summary |= {k if k.startswith(("train_", "eval_")) else f"train_{k}": v for k, v in train.items()}
    return {k: v for k, v in summary.items() if v is not None}


# Summary keys of ``loggers.run_summary`` that are not metrics of the best evaluation.
BEST_POSITION_KEYS = ("best/epoch", "best/step")


FAILED_STATES = ("crashed", "failed", "killed")


@dataclass
class WandbRun:
    """What a W&B run holds that a record needs: its name, state, config and summary (plain dicts)."""

    name: str
    state: str
    config: dict[str, Any]
    summary: dict[str, Any]
    job_type: str | None = None
    group: str | None = None
    # offline runs only: the run's folder, and the artifacts it logged
    folder: Path | None = None
    artifacts: list[Any] = field(default_factory=list)


# ------------------------------------------------------------------------------------ runs -> records
def record_from_wandb(run: WandbRun) -> dict[str, Any] | None:
    """The record a W&B run of ``adaptbench run logger=wandb`` stands for (the fields the tables and plots
    read), or None for a run that is not one (no ``method``/``task`` in its config) or not finished yet."""
    config, summary = run.config, run.summary
    full = config.get(NESTED_CONFIG_KEY)
    if not isinstance(full, dict) or not all(k in config for k in ("method", "model", "task", "seed")):
        return None
    if run.state == "running":
        return None
    status = summary.get("status") or ("failed" if run.state in FAILED_STATES else "complete")
    if run.state in FAILED_STATES and status == "complete":
        status = "failed"
    metrics = {
        k.removeprefix("best/"): v
        for k, v in summary.items()
        if k.startswith("best/") and k not in BEST_POSITION_KEYS
    }
    record: dict[str, Any] = {
        "record_version": RECORD_VERSION,
        "status": status,
        "config_hash": summary.get("config_hash") or config_hash(full),
        "run_name": run.name,
        "method": str(config["method"]),
        "model": str(config["model"]),
        "task": str(config["task"]),
        "seed": int(config["seed"]),
        "config": full,
        "metric_for_best": summary.get("metric_for_best"),
        "greater_is_better": summary.get("greater_is_better", True),
        "best": {
            "metrics": metrics,
            "epoch": summary.get("best/epoch"),
            "step": summary.get("best/step"),
        }
        if metrics
        else None,
        "lr": config.get("lr"),
    }
    counts = {
        "method_params": summary.get("params", config.get("params")),
        "trainable_params": summary.get("trainable_params"),
        "total_params": summary.get("total_params"),
        "head_params": summary.get("head_params"),
    }
    if counts["method_params"] is not None:
        record["params"] = counts
    if status == "failed":
        record["error"] = f"the W&B run {run.name!r} is {run.state}"
    return record


# ------------------------------------------------------------------------------------ a job's tables
RESULT_COLUMNS = ["task", "model", "method", "seed", "params", "split", "metric", "score", "reported"]
SAMPLE_COLUMNS = ["split", "step", "source", "references", "hypothesis"]
UNPREFIXED_SPLIT = (
    "validation"  # a task's metrics of its validation split carry no prefix (``Task.evaluate``)
)


def split_and_metric(key: str, splits: Sequence[str]) -> tuple[str, str]:
    """``validation_mismatched_accuracy`` -> (``validation_mismatched``, ``accuracy``); an unprefixed metric is the
    validation split's. The longest matching split wins (``validation_mismatched`` before ``validation``)."""
    for split in sorted((s for s in splits if s != UNPREFIXED_SPLIT), key=len, reverse=True):
        if key.startswith(f"{split}_"):
            return split, key.removeprefix(f"{split}_")
    return UNPREFIXED_SPLIT, key


def result_rows(record: Mapping[str, Any], splits: Sequence[str]) -> list[list[Any]]:
    """The W&B ``results`` table of a job (``RESULT_COLUMNS``): one row per split and metric of its best
    evaluation, with its cell (task, model, method, seed, |Θ|); ``reported`` marks the metric the tables report
    (``metric_for_best``)."""
    metrics = (record.get("best") or {}).get("metrics") or {}
    cell = [record["task"], record["model"], record["method"], record["seed"]]
    cell.append((record.get("params") or {}).get("method_params"))
    return [
        [*cell, *split_and_metric(key, splits), value, key == record.get("metric_for_best")]
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


def hypotheses_file(outputs: Path, split: str, record: Mapping[str, Any]) -> tuple[Path, int] | None:
    """The generated text of ``split`` a generation task wrote in the job's artifacts folder
    (``<split>_hypotheses_eval<k>.txt``, k counting the evaluations of one process) and the step it was made at:
    the best evaluation's; for a resumed run (k restarts in each process) the newest file, the last evaluation's."""
    history, best = list(record.get("history") or []), record.get("best")
    if (record.get("train") or {}).get("segments", 1) == 1 and best in history:
        path = outputs / f"{split}_hypotheses_eval{history.index(best) + 1}.txt"
        if path.is_file():
            return path, int(best["step"])
    files = list(outputs.glob(f"{split}_hypotheses_eval*.txt"))
    if not files or not history:
        return None
    return max(files, key=lambda p: p.stat().st_mtime), int(history[-1]["step"])


def sample_rows(
    outputs: Path, record: Mapping[str, Any], splits: Sequence[str], limit: int
) -> list[list[Any]]:
    """The W&B ``samples`` table of a generation job (``SAMPLE_COLUMNS``): the first ``limit`` sources of each
    evaluation split with their references (one per line) and the generated hypothesis, read from the files the
    task wrote (``<split>_sources.txt``, ``<split>_references.txt``: a blank line between sources' references).
    Empty for a task that writes none (classification)."""
    rows: list[list[Any]] = []
    for split in splits:
        found = hypotheses_file(outputs, split, record) if limit > 0 else None
        sources_file, references_file = outputs / f"{split}_sources.txt", outputs / f"{split}_references.txt"
        if found is None or not sources_file.is_file() or not references_file.is_file():
            continue
        hyps_path, step = found
        sources = sources_file.read_text(encoding="utf-8").splitlines()
        groups = references_file.read_text(encoding="utf-8").split("\n\n")
        hyps = hyps_path.read_text(encoding="utf-8").splitlines()
        for source, group, hyp in list(zip(sources, groups, hyps, strict=False))[:limit]:
            rows.append([split, step, source, group.strip("\n"), hyp])
    return rows


def tensors_metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the trainable-tensor artifact says of its run: the cell, |Θ|, the config hash and the best metrics."""
    keys = ("method", "model", "task", "seed", "config_hash", "metric_for_best")
    metadata = {key: record.get(key) for key in keys}
    metadata["params"] = (record.get("params") or {}).get("method_params")
    best = record.get("best") or {}
    metadata |= {"best_step": best.get("step"), "best_metrics": best.get("metrics")}
    return {k: v for k, v in metadata.items() if v is not None}
