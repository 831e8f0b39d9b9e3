"""Optional experiment loggers beside the harness's own JSON record (which is always written).

What a W&B run holds (its flat config and summary) is ``records.wandb``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from omegaconf import DictConfig

from adaptbench.harness.records.wandb import (
    RESULT_COLUMNS,
    SAMPLE_COLUMNS,
    flat_config,
    result_rows,
    run_group,
    run_summary,
    sample_rows,
    tensors_metadata,
)
from adaptbench.harness.run.console import is_verbose

log = logging.getLogger("adaptbench")

# The tensors a run keeps at its best evaluation (``trainer.save_trainable``), in its artifacts folder.
TRAINABLE_FILE = "trainable.safetensors"


def artifact_name(run_name: str) -> str:
    """``trainable-<run name>``, in the letters W&B takes in an artifact name (one artifact per job, a version per
    rerun)."""
    return "trainable-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", run_name)


class NullLogger:
    """No logger: every call does nothing. Used as a context manager around a job (see ``WandbLogger``)."""

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        pass

    def finish(
        self, record: Mapping[str, Any], outputs: Path | None = None, splits: Sequence[str] = ()
    ) -> None:
        """Close the job's log with its ``record``; ``outputs`` is its artifacts folder (the trained tensors,
        generated text), ``splits`` its evaluation splits."""

    def __enter__(self) -> NullLogger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, trace: TracebackType | None
    ) -> None:
        pass


class WandbLogger(NullLogger):
    """One W&B run per job, created here (not by the Trainer) so multirun jobs each get their own run: grouped
    by ``experiment/model/task``, ``job_type`` = the method, a flat config (``flat_config``); closed by
    ``finish`` with the record's results, or on leaving the ``with`` block when the job failed (exit code 1),
    so the next job of a sweep never writes into it."""

    def __init__(
        self, cfg: DictConfig, run_name: str, lr: float | None = None, params: int | None = None
    ) -> None:
        if not is_verbose():  # wandb's own banner, sync hints and run summary: 30+ console lines a job
            os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        node = cfg.logger
        self._wandb, self.node = wandb, node
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
            settings=wandb.Settings(silent=not is_verbose()),
        )

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def finish(
        self, record: Mapping[str, Any], outputs: Path | None = None, splits: Sequence[str] = ()
    ) -> None:
        """The record's results as the summary, a ``results`` table, a generation job's ``samples`` table and the
        trained tensors as a ``model`` artifact, as HF's WandbCallback and lm-evaluation-harness's logger log theirs
        (both are tied to their own loops: neither can log a harness record)."""
        self.run.summary.update(run_summary(record))
        try:
            self.log_tables(record, outputs, splits)
            if outputs is not None and self.node.get("log_tensors", True):
                self.log_tensors(record, outputs / TRAINABLE_FILE)
        except Exception as err:  # noqa: BLE001 -- the record is written: never turned into a failure by W&B
            log.warning(
                "W&B run %s: tables or tensors not logged (%s: %s)", self.run.name, type(err).__name__, err
            )
        self.run.finish()
        self.finished = True

    def log_tables(self, record: Mapping[str, Any], outputs: Path | None, splits: Sequence[str]) -> None:
        wandb = self._wandb
        tables = {"results": wandb.Table(columns=RESULT_COLUMNS, data=result_rows(record, splits))}
        limit = int(self.node.get("samples", 10))
        samples = sample_rows(outputs, record, splits, limit) if outputs is not None else []
        if samples:
            tables["samples"] = wandb.Table(columns=SAMPLE_COLUMNS, data=samples)
        self.run.log(tables)

    def log_tensors(self, record: Mapping[str, Any], tensors: Path) -> None:
        """The trained tensors (kept with ``trainer.save_trainable``) as the ``model`` artifact of this run."""
        if not tensors.is_file():
            return
        artifact = self._wandb.Artifact(
            artifact_name(record["run_name"]),
            type="model",
            description="adaptbench trainable tensors (best evaluation): load with `init_from` or export",
            metadata=tensors_metadata(record),
        )
        artifact.add_file(str(tensors), name=TRAINABLE_FILE)
        self.run.log_artifact(artifact, aliases=["best"])

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
