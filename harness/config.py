"""Validation of a composed run config, before any model is built.

The method and task nodes are validated against their plugins' ``Config`` dataclasses; the trainer node
against ``TrainerConfig``; then each plugin checks its values against the model (rank > 0, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from adaptbench.harness.checkpoint import init_checkpoint
from adaptbench.harness.config_tree import group_options
from adaptbench.harness.errors import ConfigError, bad_choice, bad_value
from adaptbench.harness.layout import Layout
from adaptbench.harness.models import arch_config
from adaptbench.harness.plugin_loading import load_method, load_task
from adaptbench.harness.plugins import Method, Task, typed_config

PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainerConfig:
    # None: the method's own default (``lr`` in its YAML), else FALLBACK_LR
    lr: Any = None
    epochs: int = 3
    max_steps: int = -1
    batch_size: int = 16
    eval_batch_size: int = 64
    grad_accum: int = 1
    warmup_ratio: float = 0.06
    warmup_steps: int = 0
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    lr_scheduler: str = "linear"
    precision: str = "fp32"
    max_seq_len: int = 128
    eval_every: Any = "epoch"
    max_train_samples: Any = None
    max_eval_samples: Any = None
    save_trainable: bool = True
    checkpoint: bool = False
    extra_args: dict = field(default_factory=dict)


FALLBACK_LR = 5e-4
"""The learning rate of a method whose YAML names none and of a run that sets no ``trainer.lr``."""


@dataclass
class RunPlan:
    """Everything validated: what the runner needs to build and train."""

    method: Method
    task: Task
    trainer: TrainerConfig
    layout: Layout
    # where ``trainer.lr`` came from: "trainer.lr" (set for this run), "method.lr" (the method's default) or
    # "fallback" (FALLBACK_LR); recorded with the run
    lr_source: str = "trainer.lr"
    # trained method tensors to start from (``init_from``: the paper's MNLI-adapted start for MRPC/RTE/STS-B)
    init_from: Path | None = None


def resolve_lr(trainer: TrainerConfig, method_node: Any) -> str:
    """Fill ``trainer.lr`` when unset: the method's own default, else FALLBACK_LR. Returns where it came from."""
    if trainer.lr is not None:
        source = "trainer.lr"
    elif method_node.get("lr") is not None:
        trainer.lr, source = method_node.lr, "method.lr"
    else:
        trainer.lr, source = FALLBACK_LR, "fallback"
    value = trainer.lr
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise bad_value(source, value, "must be a finite number > 0")
    trainer.lr = float(value)
    return source


def validate_trainer(node: Any) -> TrainerConfig:
    trainer: TrainerConfig = typed_config(TrainerConfig, node, "trainer")
    for key in ("batch_size", "eval_batch_size", "grad_accum", "max_seq_len"):
        if getattr(trainer, key) <= 0:
            raise bad_value(f"trainer.{key}", getattr(trainer, key), "must be > 0")
    if trainer.epochs <= 0 and trainer.max_steps <= 0:
        raise bad_value("trainer.epochs", trainer.epochs, "must be > 0 unless trainer.max_steps > 0")
    if not 0 <= trainer.warmup_ratio < 1:
        raise bad_value("trainer.warmup_ratio", trainer.warmup_ratio, "must be in [0, 1)")
    if trainer.precision not in PRECISIONS:
        raise bad_choice("trainer.precision", trainer.precision, PRECISIONS)
    every = trainer.eval_every
    if every != "epoch" and not (isinstance(every, int) and every > 0):
        raise bad_value("trainer.eval_every", every, "must be 'epoch' or a positive number of steps")
    for key in ("max_train_samples", "max_eval_samples"):
        value = getattr(trainer, key)
        if value is not None and not (isinstance(value, int) and value > 0):
            raise bad_value(f"trainer.{key}", value, "must be null or a positive integer")
    return trainer


def validate(cfg: DictConfig) -> RunPlan:
    """Check the whole run config; raise ConfigError naming the bad key and value."""
    if cfg.get("device", "auto") not in DEVICES:
        raise bad_choice("device", cfg.device, DEVICES)
    if not isinstance(cfg.get("seed"), int):
        raise bad_value("seed", cfg.get("seed"), "must be an integer")
    for group in ("method", "model", "task"):
        if not isinstance(cfg.get(group), DictConfig) or "name" not in cfg[group]:
            raise ConfigError(f"{group} is not set; choose one of: {', '.join(group_options(group))}")
    trainer = validate_trainer(cfg.trainer)
    lr_source = resolve_lr(trainer, cfg.method)
    method = load_method(cfg.method)
    task = load_task(cfg.task)
    layout = Layout.from_config(cfg.model.layout)
    method.validate(arch_config(cfg.model, task.kind, task.num_labels), layout)
    task.validate()
    init_from = cfg.get("init_from")
    return RunPlan(
        method=method,
        task=task,
        trainer=trainer,
        layout=layout,
        lr_source=lr_source,
        init_from=init_checkpoint(init_from) if init_from else None,
    )
