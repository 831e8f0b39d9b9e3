"""What a finished (or failed) job writes: its record, built from what it trained and measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adaptbench.harness.records.schema import failure_record

if TYPE_CHECKING:
    from datasets import DatasetDict
import logging
import os
import resource
import shutil
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.provenance import provenance
from adaptbench.harness.records.schema import RECORD_VERSION, Record, RecordError, TrainStats, is_complete
from adaptbench.harness.records.store import (
    artifacts_dir,
    json_bytes,
    read_record,
    record_path,
    write_json_atomic,
)
from adaptbench.harness.run.plan import Built, Job, RecordNotWritten
from adaptbench.harness.run.resume import CHECKPOINTS_KEPT, foreign_content
from adaptbench.harness.run.training import Trained

log = logging.getLogger("adaptbench")

RESULT_NAME = "result.json"
"""The finished record in the job's artifacts folder, until it is moved to the record's path."""

RESERVED_BYTES = 1 << 20
"""Space taken before training for the record (a record of hundreds of evaluations is well under it)."""


def peak_memory(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {
            "peak_memory_bytes": torch.cuda.max_memory_allocated(device),
            "peak_memory_kind": "cuda_allocated",
        }
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_memory_bytes": rss_kib * 1024, "peak_memory_kind": "process_max_rss"}


def per_second(amount: float, seconds: float) -> float | None:
    return round(amount / seconds, 3) if seconds > 0 else None


def eval_split_size(data: DatasetDict) -> tuple[int, int]:
    """Rows and input tokens of the evaluation splits (what one evaluation feeds the model; rows are tokenised
    unpadded, so every ``input_ids`` position is a real token)."""
    import pyarrow.compute as pc

    rows = tokens = 0
    for name, split in data.items():
        if name == "train":
            continue
        rows += len(split)
        if len(split) and "input_ids" in split.column_names:
            lengths = pc.list_value_length(split.data.table.column("input_ids"))
            tokens += int(pc.sum(lengths).as_py() or 0)
    return rows, tokens


def throughput(built: Built, trained: Trained, samples_seen: int) -> dict[str, float | None]:
    """Samples and tokens per second of training (non-padding tokens the Trainer counted) and of evaluation
    (every evaluation of the history over the evaluation splits, against their summed time)."""
    evaluations = len(trained.tracker.history)
    eval_seconds = sum(entry["eval_seconds"] for entry in trained.tracker.history)
    eval_rows, eval_tokens = eval_split_size(built.data)
    return {
        "train_samples_per_second": per_second(samples_seen, trained.train_seconds),
        "train_tokens_per_second": per_second(trained.tokens_seen, trained.train_seconds),
        "eval_samples_per_second": per_second(evaluations * eval_rows, eval_seconds),
        "eval_tokens_per_second": per_second(evaluations * eval_tokens, eval_seconds),
    }


def make_record(job: Job, built: Built, trained: Trained, wall_seconds: float) -> Record:
    cfg, plan = job.cfg, job.plan
    samples_seen = trained.steps * plan.trainer.batch_size * plan.trainer.grad_accum * trained.args.world_size
    seconds = trained.train_seconds
    device = built.device
    record = Record(
        record_version=RECORD_VERSION,
        status="complete" if trained.diverged_at_step is None else "diverged",
        config_hash=job.key,
        run_name=job.artifacts.name,
        method=str(cfg.method.name),
        model=str(cfg.model.name),
        task=str(cfg.task.name),
        seed=int(cfg.seed),
        metric_for_best=plan.task.metric_for_best,
        greater_is_better=plan.task.greater_is_better,
        best=trained.tracker.best,
        history=trained.tracker.history,
        params=built.counts,
        train=TrainStats(
            steps=trained.steps,
            train_loss=trained.train_loss,
            train_seconds=round(seconds, 3),
            eval_seconds=round(sum(entry["eval_seconds"] for entry in trained.tracker.history), 3),
            train_examples=len(built.data["train"]),
            segments=trained.tracker.segments,
            **throughput(built, trained, samples_seen),
        ),
        lr=plan.trainer.lr,
        lr_source=plan.lr_source,
        resumed_from=trained.resumed_from,
        init_from_hash=plan.init_from.key if plan.init_from else None,
        wall_seconds=round(wall_seconds, 3),
        **peak_memory(device),
        provenance=provenance(
            str(device) if device.type == "cpu" else torch.cuda.get_device_name(device), cfg.seed
        ),
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    if plan.settings.selection is not None:
        record["selected_by"] = plan.settings.best_metric(plan.task.metric_for_best)
    if trained.diverged_at_step is not None:
        record["diverged_at_step"] = trained.diverged_at_step
    return record


def reserve_result(job: Job) -> Path:
    """Take the record's space on disk before training (a file of zeros in the artifacts folder): the result
    written into it later needs no new space, so a disk that fills up during training cannot lose it. A disk
    already too full fails here, in one line, before the compute is spent."""
    reserved = job.artifacts / f"{RESULT_NAME}.reserved"
    try:
        reserved.parent.mkdir(parents=True, exist_ok=True)
        with reserved.open("wb") as handle:
            handle.write(bytes(RESERVED_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        reserved.unlink(missing_ok=True)
        raise ConfigError(
            f"output_root={str(job.cfg.output_root)!r}: cannot reserve {RESERVED_BYTES >> 20} MiB for the "
            f"record in {reserved.parent} ({err.strerror or err})"
        ) from None
    return reserved


def keep_result(reserved: Path, record: Record) -> Path:
    """Write the record into its reserved space and name it ``result.json``: the first write after training,
    over blocks already allocated (a record larger than the reservation grows the file)."""
    data = json_bytes(record)
    with reserved.open("r+b") as handle:
        handle.write(data)
        handle.truncate(len(data))
        handle.flush()
        os.fsync(handle.fileno())
    kept = reserved.with_name(RESULT_NAME)
    os.replace(reserved, kept)
    return kept


def publish(kept: Path, job: Job) -> None:
    """Move the kept result to the record's path (a rename: no new space); RecordNotWritten naming the folder
    when that fails (a directory in the way, no permission): the result stays kept for the next run."""
    try:
        try:
            os.replace(kept, job.path)
        except OSError as err:
            if err.errno != 18:  # EXDEV: artifacts on another file system than the records; copy instead
                raise
            write_json_atomic(job.path, read_record(kept))
            kept.unlink()
    except OSError as err:
        raise RecordNotWritten(
            f"cannot write the record in {job.path.parent} ({err.strerror or err}); the result is kept in "
            f"{kept.parent}: run the same config again to write the record without training"
        ) from None


def recover_result(job: Job) -> Record | None:
    """The record a finished run kept but could not publish (see ``publish``), now written to its path; None
    when there is none (or it is not this job's, or unreadable: removed with one line)."""
    kept = job.artifacts / RESULT_NAME
    if not job.cfg.get("resume", True) or not kept.is_file():
        return None
    try:
        record = read_record(kept)
        why = foreign_content(record, job) or (None if is_complete(record) else "not a finished result")
    except RecordError as err:
        why = str(err)
    if why is not None:
        log.warning("%s: %s; removed", kept, why)
        kept.unlink(missing_ok=True)
        return None
    publish(kept, job)
    log.warning("%s: record written from the result its run kept in %s (not trained again)", job.path, kept)
    shutil.rmtree(job.artifacts / "checkpoints", ignore_errors=True)
    return record


def in_sweep() -> bool:
    """Whether this job is one of a Hydra multirun (where one bad job must not stop the others)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def one_line(err: BaseException) -> str:
    """An error as one line: a ConfigError's own message, else the exception's type and first line."""
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(err, ConfigError) else f"{type(err).__name__}: {first}".rstrip(": ")


def note_refusal(err: ConfigError) -> Path | None:
    """A sweep job's config or data mistake, as one line in ``error.txt`` of its Hydra job folder (where the
    sweep's summary points for a job without a record); None outside a Hydra job or where it cannot be written."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    path = Path(HydraConfig.get().runtime.output_dir) / "error.txt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"ConfigError: {one_line(err)}\n", encoding="utf-8")
    except OSError:
        return None
    return path


def write_failure(cfg: DictConfig, err: BaseException, key: str | None = None) -> Path | None:
    """Write a failure record (``status: failed``, the one-line error, the traceback's file) where the job's
    record goes; None when the config cannot even name that place. Resume retries a failed job."""
    try:
        key = key or config_hash(cfg)
        path = record_path(cfg, key)
    except Exception:  # noqa: BLE001 -- a config too broken to place a record: the error is still raised
        return None
    try:
        return write_failure_record(cfg, err, key, path)
    except OSError as failed:  # a full disk, a read-only folder: the job's own error is what the user sees
        log.warning("could not write the failure record %s (%s)", path, failed.strerror or failed)
        return None


def write_failure_record(cfg: DictConfig, err: BaseException, key: str, path: Path) -> Path:
    trace = artifacts_dir(path) / "traceback.txt"
    trace.parent.mkdir(parents=True, exist_ok=True)
    trace.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
    write_json_atomic(path, failure_record(cfg, key, path.stem, one_line(err), str(trace)))
    return path


def summary(record: Record) -> str:
    """One line on a finished job: its selection metric at the best evaluation, steps and time."""
    metric = record["metric_for_best"]
    best = (record.get("best") or {}).get("metrics", {})
    value = best.get(metric)
    shown = "-" if value is None else f"{value:.4f}"
    train = record["train"]
    return f"{metric} {shown}, {train['steps']} steps in {train['train_seconds']:.0f} s"


def space_needed(trainer: Any, counts: Mapping[str, int]) -> int:
    """Bytes a job writes under its artifacts folder, at most: the best trainable tensors (fp32) and, with
    ``trainer.checkpoint``, the Trainer's checkpoints (all weights, AdamW's two moments and the trainable
    weights' copy for each of the kept ones), plus 1 MiB of record and logs."""
    tensors = 4 * counts["trainable_params"]
    per_checkpoint = 4 * counts["total_params"] + 3 * tensors
    checkpoints = CHECKPOINTS_KEPT * per_checkpoint if trainer.checkpoint else 0
    return tensors + checkpoints + (1 << 20)


def check_free_space(job: Job, counts: Mapping[str, int]) -> None:
    """Refuse to train, in one line, when the output folder's disk cannot hold what the job will write: found
    before the compute is spent, not at the last save."""
    need = space_needed(job.plan.trainer, counts)
    free = shutil.disk_usage(job.artifacts).free
    if free < need:
        raise ConfigError(
            f"output_root={str(job.cfg.output_root)!r}: {free >> 20} MiB free in {job.artifacts}, the job needs "
            f"about {need >> 20} MiB (tensors{' and checkpoints' if job.plan.trainer.checkpoint else ''})"
        )
