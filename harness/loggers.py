"""Optional experiment loggers beside the harness's own JSON record (which is always written).

A W&B run per job has a flat config, so the runs table filters and groups by its columns with no parsing:
``method``, ``model``, ``task``, ``seed``, ``lr``, ``params`` (|Θ|), ``experiment`` and the method's own settings
(``r``, ``alpha``, ...), and the whole nested config under ``config``. Its summary holds the record's results
(``run_summary``); ``adaptbench table --from-wandb`` turns (config, summary) back into records.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Flat config keys the harness sets itself; a method setting of the same name never overwrites one.
CELL_KEYS = ("method", "model", "task", "seed", "experiment", "lr", "params")
NESTED_CONFIG_KEY = "config"
# Method-node keys that are not settings of the run.
NOT_SETTINGS = ("name", "plugin", "lr")


class NullLogger:
    """No logger: every call does nothing. Used as a context manager around a job (see ``WandbLogger``)."""

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        pass

    def finish(self, record: Mapping[str, Any]) -> None:
        pass

    def __enter__(self) -> NullLogger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, trace: TracebackType | None
    ) -> None:
        pass


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
        if key not in NOT_SETTINGS and key not in flat:
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


class WandbLogger(NullLogger):
    """One W&B run per job, created here (not by the Trainer) so multirun jobs each get their own run: grouped
    by ``experiment/model/task``, ``job_type`` = the method, a flat config (``flat_config``); closed by
    ``finish`` with the record's results, or on leaving the ``with`` block when the job failed (exit code 1),
    so the next job of a sweep never writes into it."""

    def __init__(
        self, cfg: DictConfig, run_name: str, lr: float | None = None, params: int | None = None
    ) -> None:
        import wandb

        node = cfg.logger
        self._wandb = wandb
        self.finished = False
        self.run = wandb.init(
            # logger.project / logger.mode override the user's WANDB_PROJECT / WANDB_MODE only when set
            project=node.get("project") or os.environ.get("WANDB_PROJECT") or "adaptbench",
            entity=node.get("entity"),
            mode=node.get("mode") or os.environ.get("WANDB_MODE") or "offline",
            group=node.get("group") or run_group(cfg),
            job_type=str(cfg.method.name),
            tags=list(node.get("tags") or [])
            + [str(cfg.method.name), str(cfg.task.name), str(cfg.model.name)],
            name=run_name,
            config=flat_config(cfg, lr, params),
            dir=str(cfg.output_root),
            reinit="finish_previous",
        )

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def finish(self, record: Mapping[str, Any]) -> None:
        self.run.summary.update(run_summary(record))
        self.run.finish()
        self.finished = True

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self.finished:
            self.run.finish(exit_code=0 if err is None else 1)
            self.finished = True


def is_main_rank() -> bool:
    """Whether this is the process that logs and writes (rank 0 under torchrun; the only one otherwise)."""
    return int(os.environ.get("RANK", "0")) == 0


def open_logger(
    cfg: DictConfig, run_name: str, lr: float | None = None, params: int | None = None
) -> NullLogger:
    """The job's logger: a W&B run on rank 0 only (one run per job under torchrun too), else nothing."""
    name = cfg.logger.get("name", "none") if cfg.get("logger") else "none"
    return WandbLogger(cfg, run_name, lr, params) if name == "wandb" and is_main_rank() else NullLogger()
