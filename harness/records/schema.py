"""The run record's schema: one typed definition, written by the runner and read by every report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from adaptbench.harness.api.errors import ConfigError

RECORD_VERSION = 2


Status = Literal["complete", "failed", "diverged"]


class Evaluation(TypedDict):
    """One evaluation of a run (every epoch or every N steps, and at the last step)."""

    epoch: float
    step: int
    metrics: dict[str, Any]
    eval_seconds: float


class ParamCounts(TypedDict):
    """``method_params`` is the paper's |Θ| (without the task head); see harness.api.accounting."""

    method_params: int
    head_params: int
    trainable_params: int
    total_params: int
    formula_params: int


class _TrainStatsKeys(TypedDict):
    steps: int
    train_loss: float | None
    train_seconds: float
    eval_seconds: float
    train_samples_per_second: float | None
    train_examples: int
    # how many processes trained it: 1, plus one per resume from a checkpoint
    segments: int


class TrainStats(_TrainStatsKeys, total=False):
    """Training and evaluation cost. Rates are None when their time is 0. The keys below are missing from
    records written before they existed (still read: ``read_record`` checks only ``_RecordKeys``)."""

    # non-padding input tokens of every training batch / train_seconds
    train_tokens_per_second: float | None
    # (evaluations x rows of the evaluation splits) / eval_seconds; tokens: the rows' input tokens (for a
    # generation task the tokenised prompt + reference rows, not the decoded tokens)
    eval_samples_per_second: float | None
    eval_tokens_per_second: float | None


class _RecordKeys(TypedDict):
    record_version: int
    status: Status
    config_hash: str
    run_name: str
    method: str
    model: str
    task: str
    seed: int
    config: dict[str, Any]


class Record(_RecordKeys, total=False):
    """The one schema of a run record: written by the runner, read by ``adaptbench table`` and the plots.

    Every record has the keys of ``_RecordKeys``; a complete run also has the rest. ``best`` is the evaluation
    that the paper reports (each seed at its best epoch, by ``metric_for_best``)."""

    metric_for_best: str
    best: Evaluation | None
    history: list[Evaluation]
    params: ParamCounts
    train: TrainStats
    lr: float
    lr_source: str
    resumed_from: str | None
    wall_seconds: float
    peak_memory_bytes: int
    peak_memory_kind: str
    provenance: dict[str, Any]
    # direction of ``metric_for_best`` (see ``selection_value``)
    greater_is_better: bool
    # the metric that picked ``best`` when it is not ``metric_for_best``: ``selection_<metric>``, the held-out part
    # of the training data (``task.selection``); ``metric_for_best`` is then the dev score reported at that epoch
    selected_by: str
    # a diverged run: the optimizer step whose training loss was not finite
    diverged_at_step: int
    # a failed run: the one-line error and the file holding its traceback
    error: str
    traceback: str
    # the record hash of the run whose tensors this run started from (``init_from``)
    init_from_hash: str | None


REQUIRED_KEYS = frozenset(_RecordKeys.__annotations__)


class RecordError(ConfigError):
    """A file under a records folder that is not a readable adaptbench record."""


STATUSES = ("complete", "failed", "diverged")
_NUMBER = (int, float)


def _is(value: Any, kinds: type | tuple[type, ...], optional: bool = False) -> bool:
    if value is None:
        return optional
    return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in _tuple(kinds))


def _tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _evaluation_problem(value: Any, key: str) -> str | None:
    if not isinstance(value, dict):
        return f"{key} is {type(value).__name__}, not an object"
    metrics = value.get("metrics")
    if not isinstance(metrics, dict):
        return f"{key}.metrics is {type(metrics).__name__}, not an object"
    bad = [k for k, v in metrics.items() if not _is(v, (*_NUMBER, bool), optional=True)]  # bool: a flag
    return f"{key}.metrics.{bad[0]} is {type(metrics[bad[0]]).__name__}, not a number" if bad else None


# required key -> its type (what every reader may rely on)
REQUIRED_TYPES: dict[str, type | tuple[type, ...]] = {
    "record_version": int,
    "config_hash": str,
    "run_name": str,
    "method": str,
    "model": str,
    "task": str,
    "seed": int,
    "config": dict,
}
# optional key -> its type when present (None allowed)
OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "metric_for_best": str,
    "history": list,
    "params": dict,
    "train": dict,
    "lr": _NUMBER,
    "wall_seconds": _NUMBER,
    "peak_memory_bytes": _NUMBER,
    "greater_is_better": bool,
    "error": str,
}


def schema_problem(data: Mapping[str, Any]) -> str | None:
    """What makes ``data`` (a JSON object with every required key) not a record of this schema, or None: the
    types of the fields readers use, so that a hostile or foreign file is skipped by name, not a traceback later."""
    if data["status"] not in STATUSES:
        return f"status={data['status']!r} is not one of {', '.join(STATUSES)}"
    for key, kind in REQUIRED_TYPES.items():
        if not _is(data[key], kind):
            return f"{key} is {type(data[key]).__name__} ({data[key]!r:.40}), not {_tuple(kind)[0].__name__}"
    for key, kind in OPTIONAL_TYPES.items():
        if key in data and not _is(data[key], kind, optional=True):
            return f"{key} is {type(data[key]).__name__}, not {_tuple(kind)[0].__name__}"
    if data.get("best") is not None and (problem := _evaluation_problem(data["best"], "best")):
        return problem
    counts = data.get("params") or {}
    bad = [k for k, v in counts.items() if not _is(v, _NUMBER, optional=True)]
    return f"params.{bad[0]} is {type(counts[bad[0]]).__name__}, not a number" if bad else None


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None: records are strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def is_complete(record: Mapping[str, Any]) -> bool:
    """A finished result (complete, or diverged: a deterministic outcome), as opposed to a failed attempt."""
    return record.get("status") in ("complete", "diverged")


def selection_value(record: Mapping[str, Any]) -> float:
    """The number a hyperparameter search maximises: the best evaluation's ``selected_by`` (the held-out split's
    metric, never the reported dev score, when ``task.selection`` is on) else its ``metric_for_best``, negated when
    lower is better (``greater_is_better`` false), so larger is always better; -inf for a diverged run or one
    without that metric."""
    metric = record.get("selected_by") or record.get("metric_for_best", "")
    value = ((record.get("best") or {}).get("metrics") or {}).get(metric)
    if record.get("status") != "complete" or not isinstance(value, (int, float)) or not math.isfinite(value):
        return float("-inf")
    return float(value) if record.get("greater_is_better", True) else -float(value)


class LatencyRecord(TypedDict):
    """One ``adaptbench latency`` point (``<output_root>/latency/<model>/...json``): the method's and the unadapted
    base model's forward time at one batch x sequence length, measured interleaved in one process."""

    kind: Literal["latency"]
    model: str
    method: str
    task_kind: str
    batch: int
    seq: int
    input_len: int  # the sequence length the method's model saw (prefix methods add positions)
    trials: int
    warmup: int
    device: str
    threads: int
    budget: int | None  # the |Θ| budget the adapter width was chosen for, if any
    r: int | None
    method_params: int
    formula_params: int
    merged: bool
    base_ms_median: float
    method_ms_median: float
    base_iqr_ms: float
    method_iqr_ms: float
    ratio: float
    ratio_iqr: float
    overhead: float
    config: dict[str, Any]
    config_hash: str
    provenance: dict[str, Any]


LATENCY_KIND = "latency"


def latency_noise(point: Mapping[str, Any]) -> str | None:
    """Why a latency point's overhead is noise, not a measurement (None when it is one): smaller than the
    spread of its paired method/base ratios (IQR), or negative beyond it (an added module cannot speed the
    forward pass up by more than the noise: contention from other processes did, as in a -33.8% "overhead")."""
    overhead, spread = point.get("overhead"), point.get("ratio_iqr")
    if not isinstance(overhead, (int, float)) or not isinstance(spread, (int, float)):
        return None
    if overhead < -spread:
        return (
            f"overhead {overhead:+.1%} is negative beyond the paired-ratio IQR {spread:.1%}: a noisy machine"
        )
    if abs(overhead) < spread:
        return (
            f"overhead {overhead:+.1%} is within the paired-ratio IQR {spread:.1%}: indistinguishable from 0"
        )
    return None


def failure_record(cfg: Any, key: str, run_name: str, error: str, traceback: str | None = None) -> Record:
    """The record of a job that failed (``status: failed``, its one-line error, no ``best``), from its config: the
    one constructor of failure records, written by the runner and stood in by a sweep's summary for a job that
    wrote none."""
    from omegaconf import OmegaConf

    record = Record(
        record_version=RECORD_VERSION,
        status="failed",
        config_hash=key,
        run_name=run_name,
        method=str(cfg.method.name),
        model=str(cfg.model.name),
        task=str(cfg.task.name),
        seed=int(cfg.seed),
        error=error,
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    if traceback is not None:
        record["traceback"] = traceback
    return record
