"""Optional experiment loggers beside the harness's own JSON record (which is always written).

What a W&B run holds (its flat config and summary) is ``records.wandb``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from omegaconf import DictConfig

from adaptbench.harness.records.wandb import flat_config, run_group, run_summary
from adaptbench.harness.run.console import is_verbose


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
            settings=wandb.Settings(silent=not is_verbose()),
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
