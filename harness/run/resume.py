"""Resume: a killed job restarts from its newest whole checkpoint; a finished job is found by its record."""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path

from adaptbench.harness.records.files import safetensors_problem
from adaptbench.harness.records.schema import RECORD_VERSION, Record, RecordError, is_complete
from adaptbench.harness.records.store import STALE_SUFFIX, read_record
from adaptbench.harness.run.console import say
from adaptbench.harness.run.loggers import is_main_rank
from adaptbench.harness.run.plan import Job, job_label

log = logging.getLogger("adaptbench")

CHECKPOINTS_KEPT = 2  # the newest may be cut short by a kill during its save: the one before it is whole


def foreign_content(record: Record, job: Job) -> str | None:
    """Why a record at the job's path is not this job's result (another config's hash, another schema's
    version), or None: the path holds only 12 characters of the hash, and a file can be copied or edited."""
    if record.get("config_hash") != job.key:
        return f"its config_hash {str(record.get('config_hash'))[:12]}... is not this job's {job.key[:12]}..."
    if record.get("record_version") != RECORD_VERSION:
        return f"its record_version {record.get('record_version')!r} is not {RECORD_VERSION}"
    return None


def set_aside(job: Job, why: str) -> None:
    """Move a record that is not the job's to ``<name>.stale.json`` (kept, never read as a result), one line."""
    stale = job.path.with_name(job.path.stem + STALE_SUFFIX)
    job.path.replace(stale)
    log.warning("%s: %s; moved aside to %s, running the job", job.path, why, stale)


def finished_record(job: Job, set_aside_foreign: bool = True) -> Record | None:
    """The job's record if it holds the job's finished result; None for no record, a failed attempt (retried),
    an unreadable file (treated as missing, with one warning line naming it) or another config's record (moved
    aside, see ``set_aside``; left in place with ``set_aside_foreign=False``, as a dry run does)."""
    if not job.path.exists():
        return None
    try:
        record = read_record(job.path)
    except RecordError as err:
        log.warning("%s; running the job again", err)
        return None
    if (why := foreign_content(record, job)) is not None:
        if set_aside_foreign:
            set_aside(job, why)
        return None
    return record if is_complete(record) else None


def checkpoint_problem(folder: Path) -> str | None:
    """Why a Trainer checkpoint cannot be resumed from (cut short by a kill during its save, a truncated
    file), or None. The Trainer writes ``trainer_state.json`` last, so a checkpoint without it is incomplete;
    weights are checked by their safetensors header, torch files by their zip directory (written at the end)."""
    state = folder / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "incomplete (no readable trainer_state.json)"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        return "incomplete (no model weights)"
    for path in weights:
        if problem := safetensors_problem(path):
            return f"{path.name}: {problem}"
    if not (folder / "optimizer.pt").is_file():
        return "incomplete (no optimizer.pt)"
    for path in sorted(folder.glob("*.pt")) + sorted(folder.glob("*.pth")):
        try:
            with zipfile.ZipFile(path):
                pass
        except (OSError, zipfile.BadZipFile):
            return f"{path.name}: truncated or not a torch file"
        if problem := torch_load_problem(path):
            return f"{path.name}: {problem}"
    return None


def torch_load_problem(path: Path) -> str | None:
    """Why the Trainer's ``torch.load(weights_only=True)`` of a checkpoint file would fail (objects it may not
    unpickle, a corrupt member), or None. Memory-mapped: the tensors are not read."""
    import torch
    from transformers.trainer_pt_utils import safe_globals

    try:
        with safe_globals():  # what the Trainer allows when it loads rng_state.pth
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 -- any failure to load is a reason to pass the checkpoint over
        first = (str(err).strip().splitlines() or [""])[0][:160]
        return f"does not load weights-only ({type(err).__name__}: {first})"
    return None


def checkpoints_newest_first(output_dir: Path) -> list[Path]:
    found = [p for p in output_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True)


def resume_point(job: Job, output_dir: Path) -> str | None:
    """The newest whole checkpoint of this job to continue from, whatever ``trainer.checkpoint`` says now (an
    earlier attempt's checkpoints are never thrown away while the job has no record), or None. Broken ones are
    removed, each with one line. ``resume=false`` starts afresh and removes them."""
    if not output_dir.is_dir():
        return None
    if not job.cfg.get("resume", True):
        shutil.rmtree(output_dir, ignore_errors=True)
        log.warning("resume=false: removed the earlier attempt's checkpoints in %s", output_dir)
        return None
    for checkpoint in checkpoints_newest_first(output_dir):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            say(f"{job_label(job.cfg)}: resuming from {checkpoint}")
            return str(checkpoint)
        log.warning("%s: %s; removed, trying the one before", checkpoint, problem)
        shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def already_done(job: Job) -> Record | None:
    """The job's finished record when ``resume`` is on and one exists."""
    if not job.cfg.get("resume", True) or (done := finished_record(job)) is None:
        return None
    log.info("already done, skipping (resume=true): %s", job.path)
    leftover = job.artifacts / "checkpoints"
    if leftover.is_dir() and is_main_rank():
        # killed between writing its record and removing its checkpoints: the record is the result, they go now
        shutil.rmtree(leftover, ignore_errors=True)
        log.warning("%s: removed the checkpoints a finished run left (%s)", job.path.name, leftover)
    return done
