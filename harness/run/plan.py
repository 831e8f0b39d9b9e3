"""One job before it runs: its validated plan, its record path, its console label, and what it builds and trains."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import DatasetDict


import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import parse_overrides
from adaptbench.harness.config.validate import RunPlan, validate
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.store import artifacts_dir, record_path

log = logging.getLogger("adaptbench")


class JobFailed(RuntimeError):
    """A job that did not finish; its failure record (``status: failed``) is at ``record_path`` (None when the
    config could not even name its record)."""

    def __init__(self, record_path: Path | None, message: str) -> None:
        super().__init__(message)
        self.record_path = record_path
        self.message = message


class JobRefused(JobFailed):
    """A job of a sweep stopped by a config or data mistake (a ConfigError: fp16 on a CPU, a missing data folder)
    before it trained. It writes no failure record, which would show as a failed cell in every later table of
    the output root; its one line goes to ``error.txt`` in the sweep's job folder (``record_path`` is that
    file, None where there is none) and the sweep's summary counts it as failed."""


class RecordNotWritten(ConfigError):
    """A finished run whose record could not be put at its path; its result is kept in the artifacts folder and
    the next run of the same config writes the record from it (no failure record: it would hide nothing new)."""


class Diverged(RuntimeError):
    """The training loss stopped being finite at ``step``."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training loss is not finite at step {step}")
        self.step = step


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no CUDA device is available; use device=cpu or device=auto")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def emulated_bf16_warning(device: torch.device, precision: str) -> str | None:
    """A warning when bf16 autocast would run on a CPU without native bf16 (no AVX512-BF16 or AMX): oneDNN then
    emulates it, and a step is several times slower than fp32 (about 10x for MiniLM on an AVX2 EPYC)."""
    if device.type != "cpu" or precision != "bf16" or torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return None
    return (
        "trainer.precision='bf16' on a CPU without native bf16 (no AVX512-BF16/AMX): emulated, several times slower "
        "than fp32; consider trainer.precision=fp32"
    )


@dataclass
class Job:
    """One run's validated plan and where its results go."""

    cfg: DictConfig
    plan: RunPlan
    key: str
    path: Path

    @property
    def artifacts(self) -> Path:
        return artifacts_dir(self.path)


@dataclass
class Built:
    """What ``build`` makes: the adapted model on its device and the tokenised data."""

    model: Any
    tokenizer: Any
    data: DatasetDict
    counts: dict
    device: torch.device


def job_label(cfg: DictConfig) -> str:
    """``lora (r=64) · minilm-l6 · sst2 · seed 1``: with the method settings the command line gives, so that the
    jobs of a sweep over them (``method.r=8,64``) are told apart on the console."""
    settings = ", ".join(f"{key}={value}" for key, value in command_line_method_settings(cfg))
    method = f"{cfg.method.name} ({settings})" if settings else cfg.method.name
    return f"{method} · {cfg.model.name} · {cfg.task.name} · seed {cfg.seed}"


def command_line_method_settings(cfg: DictConfig) -> list[tuple[str, Any]]:
    """The ``method.<key>`` overrides of the running Hydra job, with the values this job's method took (a
    ``++method.<key>`` the method does not take is dropped from its config, and from here)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    settings = []
    for override in parse_overrides(HydraConfig.get().overrides.task):
        group, _, key = override.key_or_group.partition(".")
        value = OmegaConf.select(cfg.method, key) if group == "method" and key else None
        if value is not None:
            settings.append((key, value))
    return settings


def launch_world_size() -> int:
    """The number of processes the launcher started (torchrun and accelerate set ``WORLD_SIZE``), 1 alone."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def record_world_size(cfg: DictConfig) -> None:
    """Put the launch's world size into the job's config when above 1: the global batch is ``world_size`` times
    the per-process one, so a 2-process record is another result (another hash) than a 1-process one, and its
    record says so (``config.world_size``). Absent at 1, so every single-process record keeps its hash."""
    world_size = launch_world_size()
    if world_size > 1:
        with open_dict(cfg):
            cfg.world_size = world_size


def plan_job(cfg: DictConfig) -> Job:
    """Validate the config (before any model is built) and place its record."""
    plan = validate(cfg)
    record_world_size(cfg)
    key = config_hash(cfg, upstream=plan.init_from.key if plan.init_from else None)
    return Job(cfg=cfg, plan=plan, key=key, path=record_path(cfg, key))


def check_writable(job: Job) -> None:
    """Write and remove a small file where the record and the artifacts go, before any training: a read-only
    folder or a full disk fails now, in one line, not after the compute is spent."""
    for folder in (job.path.parent, job.artifacts):
        probe = folder / f".write-probe-{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with probe.open("wb") as handle:
                handle.write(b"\0" * 65536)
                handle.flush()
                os.fsync(handle.fileno())
            probe.unlink()
        except OSError as err:
            probe.unlink(missing_ok=True)
            raise ConfigError(
                f"output_root={str(job.cfg.output_root)!r}: cannot write in {folder} ({err.strerror or err})"
            ) from None
