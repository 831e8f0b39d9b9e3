"""Run records: one JSON file per run, written atomically, keyed by a hash of what changes the result."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import re
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, TypedDict

from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.api.errors import ConfigError

log = logging.getLogger("adaptbench")

RECORD_VERSION = 2
# Config keys that do not change a run's result (where it writes, how it logs, how fast it evaluates).
NON_RESULT_KEYS = ("output_root", "resume", "logger", "device", "hydra")
NON_RESULT_TRAINER_KEYS = ("eval_batch_size", "save_trainable", "checkpoint")
NON_RESULT_METHOD_KEYS = ("paper_label",)  # how tables name the method
PACKAGES = ("adaptbench", "torch", "transformers", "datasets", "accelerate", "hydra-core", "peft", "wandb")


Status = Literal["complete", "failed", "diverged"]


class Evaluation(TypedDict):
    """One evaluation of a run (every epoch or every N steps, and at the last step)."""

    epoch: float
    step: int
    metrics: dict[str, Any]
    eval_seconds: float


class ParamCounts(TypedDict):
    """``method_params`` is the paper's |Θ| (without the task head); see harness.accounting."""

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


def result_config(cfg: DictConfig | Mapping) -> dict:
    """The resolved config minus the keys that do not change the result."""
    plain = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    plain = {k: v for k, v in plain.items() if k not in NON_RESULT_KEYS}
    if "dry_run" in plain:
        # A dry run names (and finds) the record its real run writes: hashed at its default rather than dropped,
        # since every existing record's hash was taken with "dry_run": false in it.
        plain["dry_run"] = False
    for section, dropped in (("trainer", NON_RESULT_TRAINER_KEYS), ("method", NON_RESULT_METHOD_KEYS)):
        if isinstance(plain.get(section), dict):
            plain[section] = {k: v for k, v in plain[section].items() if k not in dropped}
    trainer = plain.get("trainer")
    if isinstance(trainer, dict) and trainer.get("gradient_checkpointing") is False:
        # added after records existed: hashed only when on, so every earlier record keeps its hash
        del trainer["gradient_checkpointing"]
    return plain


def config_hash(cfg: DictConfig | Mapping, upstream: str | None = None) -> str:
    """A stable hash (sha256 of canonical JSON) of the result-changing config; ``upstream`` identifies the tensors
    the run starts from (``init_from``), so rerunning the upstream run makes this a new job."""
    result = result_config(cfg)
    if upstream is not None:
        result["init_from_hash"] = upstream
    canonical = json.dumps(result, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
"""What a method, model or task name may look like: it becomes a folder or file name under ``output_root``."""


def check_path_name(key: str, value: object) -> str:
    """``value`` if it is safe as one path component (no ``/``, no ``..``, no leading dot), else ConfigError."""
    name = str(value)
    if not SAFE_NAME.fullmatch(name):
        raise ConfigError(
            f"{key}={name!r} is not valid: it names a folder of the results; use letters, digits and . _ + - "
            "(no '/', no leading '.')"
        )
    return name


def record_path(cfg: DictConfig, key: str) -> Path:
    """``<output_root>/records/<task>/<model>/<method>-s<seed>-<hash12>.json`` (its files: ``artifacts_dir``)."""
    method = check_path_name("method.name", cfg.method.name)
    task = check_path_name("task.name", cfg.task.name)
    model = check_path_name("model.name", cfg.model.name)
    return Path(cfg.output_root) / "records" / task / model / f"{method}-s{int(cfg.seed)}-{key[:12]}.json"


def artifacts_dir(record: Path) -> Path:
    """The folder of a run's files (best trainable tensors, checkpoints, generated text): the record's path with
    ``records`` replaced by ``artifacts`` and without ``.json``, kept apart so ``records/`` holds only records."""
    root, task, model = record.parents[2].parent, record.parent.parent.name, record.parent.name
    return root / "artifacts" / task / model / record.stem


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None: records are strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_prefix(path: Path) -> str:
    """Temp files name their writer (``.<file>.<host>-<pid>.``) so a later write can tell a dead writer's."""
    return f".{path.name}.{socket.gethostname()}-{os.getpid()}."


def clean_stale_temps(folder: Path) -> None:
    """Remove temp files of writers on this host that died before renaming them (a kill -9 mid-write)."""
    host = socket.gethostname()
    for tmp in folder.glob(".*.tmp"):
        writer = re.search(r"-(\d+)\.[^.]+\.tmp$", tmp.name)
        pid = int(writer.group(1)) if writer else None
        if pid is not None and f".{host}-{pid}." in tmp.name and not _pid_alive(pid):
            tmp.unlink(missing_ok=True)


def atomic_file(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A temp file beside ``path`` for an atomic write, readable as the user's umask allows (mkstemp alone
    makes it 0600, which hides results in a shared folder); stale temps of dead writers are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=suffix)
    os.chmod(tmp, 0o666 & ~current_umask())
    return fd, tmp


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers never see half a record. Strict
    JSON: non-finite numbers are written as null."""
    fd, tmp = atomic_file(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(finite(payload), handle, indent=2, sort_keys=False, default=str, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_record(path: str | Path) -> Record:
    """A record file, checked to be one (RecordError naming the file otherwise)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(f"{path}: not a readable record ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or not REQUIRED_KEYS <= data.keys():
        missing = sorted(REQUIRED_KEYS - data.keys()) if isinstance(data, dict) else ["(not a JSON object)"]
        raise RecordError(f"{path}: not an adaptbench record (missing {', '.join(missing)})")
    return data  # type: ignore[return-value]


def is_complete(record: Mapping[str, Any]) -> bool:
    """A finished result (complete, or diverged: a deterministic outcome), as opposed to a failed attempt."""
    return record.get("status") in ("complete", "diverged")


def selection_value(record: Mapping[str, Any]) -> float:
    """The number a hyperparameter search maximises: the best evaluation's ``metric_for_best``, negated when
    lower is better (``greater_is_better`` false), so larger is always better; -inf for a diverged run or one
    without that metric."""
    value = ((record.get("best") or {}).get("metrics") or {}).get(record.get("metric_for_best", ""))
    if record.get("status") != "complete" or not isinstance(value, (int, float)) or not math.isfinite(value):
        return float("-inf")
    return float(value) if record.get("greater_is_better", True) else -float(value)


def iter_records(root: str | Path) -> Iterator[Record]:
    """Every record under ``<root>/records`` (or under ``root`` itself if it has no ``records`` folder); files
    that are not records (corrupt, truncated, foreign JSON) are skipped with one warning line each."""
    base = Path(root) / "records"
    base = base if base.is_dir() else Path(root)
    for path in sorted(base.rglob("*.json")):
        try:
            yield read_record(path)
        except RecordError as err:
            log.warning("skipped: %s", err)


def git_commit() -> str | None:
    """The commit of the checkout the harness runs from, with ``-dirty`` when it has local changes."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(device: str, seed: int) -> dict[str, Any]:
    return {
        "packages": package_versions(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "device": device,
        "host": socket.gethostname(),
        "seed": seed,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
