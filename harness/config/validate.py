"""Validation of a composed run config, before any model is built.

The method and task nodes are validated against their plugins' ``Config`` dataclasses; the trainer node
against ``TrainerConfig``; then each plugin checks its values against the model (rank > 0, ...).
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from transformers import PretrainedConfig, TrainingArguments
from transformers.trainer_utils import SchedulerType

from adaptbench.harness.api.errors import ConfigError, bad_choice, bad_value
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method, load_task, plugin_name
from adaptbench.harness.api.models import arch_config
from adaptbench.harness.api.plugins import HARNESS_KEYS, Method, Task, typed_config
from adaptbench.harness.api.registry import METHODS
from adaptbench.harness.config.arch_keys import check_arch_keys
from adaptbench.harness.config.hub import fill_hub_model
from adaptbench.harness.config.init_from import InitSource, init_source
from adaptbench.harness.config.task_keys import TaskSettings, task_settings
from adaptbench.harness.config.tree import CONF_DIR, forced_method_settings, group_options
from adaptbench.harness.config.types import requirement_unmet
from adaptbench.harness.records.store import check_path_name

PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda")
LR_SCHEDULERS = tuple(s.value for s in SchedulerType)
MAX_BATCH = 2**20
"""The largest batch size, evaluation batch size and gradient accumulation taken: a sane bound well above
any real run (a larger one fails only once the model is built, or allocates without end)."""
# TrainingArguments the runner sets from trainer.* itself (harness.run.training.training_arguments): extra_args may not
# set them behind the harness's back (the record would not say what ran)
RUNNER_TRAINING_ARGS = frozenset(
    {
        "output_dir", "learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size",
        "gradient_accumulation_steps", "weight_decay", "max_grad_norm", "lr_scheduler_type", "optim", "fp16",
        "bf16", "eval_strategy", "save_strategy", "save_steps", "save_total_limit", "save_only_model",
        "logging_strategy", "logging_steps", "report_to", "seed", "data_seed", "use_cpu", "disable_tqdm",
        "max_steps", "num_train_epochs", "warmup_steps", "logging_nan_inf_filter",
        "gradient_checkpointing", "activation_checkpointing",
    }
)  # fmt: skip


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
    # optimizer steps between training-loss logs; None: min(50, max_steps), or 50 for a run by epochs
    logging_steps: Any = None
    save_trainable: bool = True
    checkpoint: bool = False
    # transformers' gradient (activation) checkpointing: recompute activations in the backward pass
    gradient_checkpointing: bool = False
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
    init_from: InitSource | None = None
    # the harness's own task settings: the regression head's start, the held-out selection split
    settings: TaskSettings = field(default_factory=TaskSettings)


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
    for key in ("batch_size", "eval_batch_size", "grad_accum"):
        if getattr(trainer, key) > MAX_BATCH:
            raise bad_value(f"trainer.{key}", getattr(trainer, key), f"must be <= {MAX_BATCH}")
    if trainer.max_train_samples is not None and trainer.batch_size > trainer.max_train_samples:
        raise bad_value(
            "trainer.batch_size",
            trainer.batch_size,
            f"larger than the training set (trainer.max_train_samples={trainer.max_train_samples})",
        )
    if trainer.warmup_steps < 0:
        raise bad_value("trainer.warmup_steps", trainer.warmup_steps, "must be >= 0")
    if trainer.epochs <= 0 and trainer.max_steps <= 0:
        raise bad_value("trainer.epochs", trainer.epochs, "must be > 0 unless trainer.max_steps > 0")
    if not 0 <= trainer.warmup_ratio < 1:
        raise bad_value("trainer.warmup_ratio", trainer.warmup_ratio, "must be in [0, 1)")
    if trainer.precision not in PRECISIONS:
        raise bad_choice("trainer.precision", trainer.precision, PRECISIONS)
    every = trainer.eval_every
    if every != "epoch" and not (isinstance(every, int) and every > 0):
        raise bad_value("trainer.eval_every", every, "must be 'epoch' or a positive number of steps")
    for key in ("max_train_samples", "max_eval_samples", "logging_steps"):
        value = getattr(trainer, key)
        if value is not None and not (isinstance(value, int) and value > 0):
            raise bad_value(f"trainer.{key}", value, "must be null or a positive integer")
    if trainer.lr_scheduler not in LR_SCHEDULERS:
        raise bad_choice("trainer.lr_scheduler", trainer.lr_scheduler, LR_SCHEDULERS)
    check_extra_args(dict(trainer.extra_args))
    return trainer


def check_extra_args(extra: dict) -> None:
    """``trainer.extra_args`` may name only TrainingArguments fields that the runner does not set itself."""
    known = {f.name for f in fields(TrainingArguments) if f.init}
    for key in extra:
        if key in RUNNER_TRAINING_ARGS:
            raise ConfigError(
                f"trainer.extra_args.{key} is set by the harness from trainer.*; set it there, not in extra_args"
            )
        if key not in known:
            raise ConfigError(
                f"trainer.extra_args.{key} is not a transformers.TrainingArguments setting "
                "(see its documentation for the valid names)"
            )
    hints = typing.get_type_hints(TrainingArguments)
    for key, value in extra.items():
        if (requirement := requirement_unmet(value, hints.get(key, Any))) is not None:
            raise bad_value(f"trainer.extra_args.{key}", value, requirement)


def check_positions(arch: PretrainedConfig, layout: Layout, input_length: int) -> None:
    """An input longer than an absolute position table fails mid-training with an index error: refuse it. The
    family says whether its table is absolute (conf/family); DeBERTa's is when ``position_biased_input``."""
    absolute = layout.absolute_positions or getattr(arch, "position_biased_input", False)
    limit = getattr(arch, "max_position_embeddings", None)
    if not absolute or limit is None:
        return
    if layout.positions_after_padding:
        limit -= (arch.pad_token_id or 0) + 1
    if input_length > limit:
        raise bad_value(
            "trainer.max_seq_len", input_length, f"the model's position table holds {limit} positions"
        )


def check_output_root(value: Any) -> None:
    """Every file of a run goes under ``output_root``: it must name a folder (existing or to be made)."""
    if value is None or not str(value).strip():
        raise bad_value("output_root", value, "name a folder for records, artifacts and Hydra's logs")
    root = Path(str(value))
    if root.exists() and not root.is_dir():
        raise bad_value("output_root", str(value), "it exists and is not a folder")
    if root.resolve().is_relative_to(CONF_DIR.resolve()):
        raise bad_value("output_root", str(value), f"it is inside the installed config tree {CONF_DIR}")


def check_top_level(cfg: DictConfig) -> None:
    """The settings every job of a command line shares and Hydra's own folders depend on (``output_root``):
    checked before Hydra creates any folder, and again in each job."""
    if cfg.get("device", "auto") not in DEVICES:
        raise bad_choice("device", cfg.device, DEVICES)
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise bad_value("seed", seed, "must be an integer in [0, 2**32)")
    for flag in ("resume", "dry_run"):  # "maybe" would read as true
        if not isinstance(cfg.get(flag, False), bool):
            raise bad_value(flag, cfg.get(flag), "must be true or false")
    check_output_root(cfg.get("output_root"))
    check_logger(cfg.get("logger"))


def check_logger(node: Any) -> None:
    """The logger's console and W&B settings that are numbers or flags (``conf/logger/*.yaml``), where given."""
    if not isinstance(node, DictConfig):
        return
    seconds = node.get("progress_seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0
    ):
        raise bad_value(
            "logger.progress_seconds", seconds, "give seconds >= 0 (0: a progress line every step)"
        )
    samples = node.get("samples")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 0):
        raise bad_value(
            "logger.samples", samples, "give a whole number of sources >= 0 (0: no samples table)"
        )
    if not isinstance(node.get("log_tensors", True), bool):
        raise bad_value("logger.log_tensors", node.get("log_tensors"), "must be true or false")


def drop_settings_the_method_lacks(cfg: DictConfig, keys: Iterable[str]) -> list[str]:
    """Remove from ``cfg.method`` each of ``keys`` that is not a setting of its method (``++method.r=4`` in a
    sweep over ``method=lora,bitfit``: BitFit has no ``r``), so that the job runs, and is hashed, as if it had
    not been set. Returns one note per key removed."""
    if not isinstance(cfg.get("method"), DictConfig) or "name" not in cfg.method:
        return []
    config_class = METHODS.get(plugin_name(cfg.method)).Config
    takes = {f.name for f in fields(config_class)} | set(HARNESS_KEYS)
    notes = []
    for key in dict.fromkeys(keys):
        if key in cfg.method and key not in takes:
            with open_dict(cfg.method):
                del cfg.method[key]
            notes.append(f"method.{key} is not a setting of method={cfg.method.name!r}: ignored for this job")
    return notes


def settle_forced_settings(cfg: DictConfig) -> None:
    """In a Hydra job, drop the ``++method.<key>=…`` settings its method does not take, with a note each (the
    command line's check made sure some method of it takes them: ``harness.config.tree.check_method_settings``)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        for note in drop_settings_the_method_lacks(
            cfg, forced_method_settings(HydraConfig.get().overrides.task)
        ):
            print(f"adaptbench: note: {note}", file=sys.stderr)  # stderr: stdout stays for dry runs' JSON


def check_model_weights(model: DictConfig) -> None:
    """A model preset names its weights: ``model=roberta-base model.hf_name=bert-base-uncased`` would train BERT
    under RoBERTa's name, layout and architecture, and its record would say roberta-base. Refused: the same
    weights from elsewhere are ``model.path=…``; another model is its own preset (``conf/model/<name>.yaml``)."""
    preset = CONF_DIR / "model" / f"{model.name}.yaml"
    if "hf_name" not in model or not preset.is_file():
        return
    own = OmegaConf.load(preset).get("hf_name")
    if model.hf_name != own:
        raise ConfigError(
            f"model.hf_name={model.hf_name!r} is not model={str(model.name)!r}'s weights ({own!r}); load "
            f"{model.name}'s weights from a folder with model.path=…, or use (or add) the model's own preset: "
            f"model=<name>, conf/model/<name>.yaml"
        )


def validate(cfg: DictConfig) -> RunPlan:
    """Check the whole run config; raise ConfigError naming the bad key and value. First drops from ``cfg`` the
    force-added method settings its method lacks (``settle_forced_settings``), so the config hash never sees
    them, and fills a hub model's node from its checkpoint's config.json (``config.hub``)."""
    settle_forced_settings(cfg)
    fill_hub_model(cfg)  # model=hub: before anything reads the model node (and before the hash)
    check_top_level(cfg)
    for group in ("method", "model", "task"):
        if not isinstance(cfg.get(group), DictConfig) or "name" not in cfg[group]:
            raise ConfigError(f"{group} is not set; choose one of: {', '.join(group_options(group))}")
        check_path_name(f"{group}.name", cfg[group].name)
    trainer = validate_trainer(cfg.trainer)
    lr_source = resolve_lr(trainer, cfg.method)
    method = load_method(cfg.method)
    task = load_task(cfg.task)
    check_model_weights(cfg.model)
    layout = Layout.from_config(cfg.model.layout)
    if not cfg.model.get(
        "arch_source"
    ):  # model=hub: the checkpoint's config.json, read by transformers as is
        check_arch_keys(cfg.model.get("arch"))
    arch = arch_config(cfg.model, task.kind, task.num_labels)
    method.validate(arch, layout)
    check_positions(arch, layout, method.input_length(trainer.max_seq_len))
    task.validate()
    settings = task_settings(cfg, task)
    init_from = cfg.get("init_from")
    return RunPlan(
        method=method,
        task=task,
        trainer=trainer,
        layout=layout,
        lr_source=lr_source,
        init_from=None if init_from is None else init_source(init_from, cfg.model.name, cfg.method.name),
        settings=settings,
    )
