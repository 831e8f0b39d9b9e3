"""Optional experiment loggers beside the harness's own JSON record (which is always written)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf


class NullLogger:
    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        pass

    def finish(self, summary: Mapping[str, Any]) -> None:
        pass


class WandbLogger(NullLogger):
    """One W&B run per job, created here (not by the Trainer) so multirun jobs each get their own run,
    with the sweep's group and tags, closed by ``finish``."""

    def __init__(self, cfg: DictConfig, run_name: str) -> None:
        import wandb

        node = cfg.logger
        self._wandb = wandb
        self.run = wandb.init(
            # logger.project / logger.mode override the user's WANDB_PROJECT / WANDB_MODE only when set
            project=node.get("project") or os.environ.get("WANDB_PROJECT") or "adaptbench",
            entity=node.get("entity"),
            mode=node.get("mode") or os.environ.get("WANDB_MODE") or "offline",
            group=node.get("group") or f"{cfg.task.name}/{cfg.model.name}",
            tags=list(node.get("tags") or [])
            + [str(cfg.method.name), str(cfg.task.name), str(cfg.model.name)],
            name=run_name,
            config=OmegaConf.to_container(cfg, resolve=True),
            dir=str(cfg.output_root),
            reinit="finish_previous",
        )

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.run.summary.update(dict(summary))
        self.run.finish()


def is_main_rank() -> bool:
    """Whether this is the process that logs and writes (rank 0 under torchrun; the only one otherwise)."""
    return int(os.environ.get("RANK", "0")) == 0


def open_logger(cfg: DictConfig, run_name: str) -> NullLogger:
    """The job's logger: a W&B run on rank 0 only (one run per job under torchrun too), else nothing."""
    name = cfg.logger.get("name", "none") if cfg.get("logger") else "none"
    return WandbLogger(cfg, run_name) if name == "wandb" and is_main_rank() else NullLogger()
