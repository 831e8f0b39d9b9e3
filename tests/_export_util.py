"""Shared helpers of the export tests: a run (trained, or faked by moving its trainable tensors), the harness's
model of it, and ``adaptbench export`` as the CLI runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from adaptbench.harness import cli
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method, load_task
from adaptbench.harness.api.models import build_model
from adaptbench.harness.api.plugins import adapt
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.store import artifacts_dir, record_path, write_json_atomic
from adaptbench.harness.run.job import run
from adaptbench.harness.run.tensors import load_trainable, save_trainable

TEXTS = ["a fine day", "terrible news, sadly", "ok"]


def train(root: Path, overrides: list[str]) -> Path:
    """A few steps with ``trainer.save_trainable=true``; the record's path."""
    cfg = compose_run_config([*overrides, "trainer.save_trainable=true", f"output_root={root}"])
    record = run(cfg)
    return record_path(cfg, record["config_hash"])


def run_config(record: Path) -> DictConfig:
    return OmegaConf.create(json.loads(record.read_text())["config"])


def base_model(cfg: DictConfig) -> torch.nn.Module:
    """The run's model before adaptation and training, as the runner builds it (seeded), in eval mode."""
    task = load_task(cfg.task)
    set_seed(cfg.seed)
    return build_model(cfg.model, task.kind, task.num_labels).eval()


def harness_model(record: Path) -> torch.nn.Module:
    """The run's model as the runner builds it (seeded), adapted, with the saved tensors loaded."""
    cfg = run_config(record)
    model = base_model(cfg)
    adapt(model, load_method(cfg.method), Layout.from_config(cfg.model.layout))
    load_trainable(model, artifacts_dir(record) / "trainable.safetensors")
    return model.eval()


def logits(model: torch.nn.Module, tokenizer) -> torch.Tensor:
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def export(record: Path, fmt: str, out: Path, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``adaptbench export`` as the CLI runs it: (exit code, stderr)."""
    code = cli.main(["export", str(record), "--format", fmt, "--out", str(out)])
    return code, capsys.readouterr().err


def fake_record(cfg: DictConfig, **changes: object) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    record = {
        "record_version": 2,
        "status": "complete",
        "config_hash": "0" * 64,
        "run_name": "fake",
        "method": config["method"]["name"],
        "model": config["model"]["name"],
        "task": config["task"]["name"],
        "seed": config["seed"],
        "config": config,
    }
    return {**record, **changes}


def fake_run(root: Path, overrides: list[str]) -> tuple[Path, torch.nn.Module]:
    """A record and its trained tensors without training: the adapted model's trainable tensors (head included)
    moved off their initial values, as training would. (record path, that model in eval mode)"""
    cfg = compose_run_config([*overrides, f"output_root={root}"])
    model = base_model(cfg)
    adapt(model, load_method(cfg.method), Layout.from_config(cfg.model.layout))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    path = record_path(cfg, "0" * 64)
    save_trainable(model, artifacts_dir(path) / "trainable.safetensors")
    write_json_atomic(path, fake_record(cfg))
    return path, model.eval()
