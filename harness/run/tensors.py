"""Save and load only what trained (method parameters + task head), not the frozen base model.

LoRA's A and B are stored as themselves (save unmerged: W is frozen and not saved), so a checkpoint is
small and is loaded onto a freshly built model adapted with the same method.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import nn

from adaptbench.harness.api.errors import ConfigError, bad_data
from adaptbench.harness.api.plugins import head_parameter_names
from adaptbench.harness.records.files import safetensors_problem
from adaptbench.harness.records.store import write_bytes_atomic


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters with ``requires_grad`` by name (tied ones once)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def save_trainable(model: nn.Module, path: str | Path) -> None:
    """Write the trainable parameters of an adapted model to a safetensors file."""
    tensors = {n: p.detach().to("cpu").contiguous() for n, p in trainable_state(model).items()}
    payload = save(tensors, metadata={"format": "pt", "content": "adaptbench trainable parameters"})
    write_bytes_atomic(Path(path), payload)  # a kill mid-save leaves the previous file whole


def _names(keys: list[str]) -> str:
    shown = ", ".join(sorted(keys)[:5])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > 5 else "")


def load_trainable(model: nn.Module, path: str | Path, include_head: bool = True) -> None:
    """Load a ``save_trainable`` file onto a model built and adapted the same way; the sets of names and the
    shapes must match exactly. ``include_head=False`` loads only the method's tensors: the paper starts
    MRPC/RTE/STS-B from an MNLI-adapted model, whose 3-class head does not fit the new task."""
    problem = safetensors_problem(Path(path))
    if problem:
        raise bad_data(path, None, problem)
    tensors = load_file(str(path))
    params = trainable_state(model)
    if not include_head:
        heads = head_parameter_names(model)
        params = {k: v for k, v in params.items() if k not in heads}
        tensors = {k: v for k, v in tensors.items() if k not in heads}
    missing = [k for k in params if k not in tensors]
    unexpected = [k for k in tensors if k not in params]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {_names(unexpected)}")
        raise ConfigError(
            f"checkpoint {path} does not fit this model's trainable parameters (same model and method?): "
            + "; ".join(parts)
        )
    for name, p in params.items():
        t = tensors[name]
        if t.shape != p.shape:
            raise ConfigError(
                f"checkpoint {path}: {name} has shape {tuple(t.shape)}, the model {tuple(p.shape)}"
            )
        with torch.no_grad():
            p.copy_(t.to(device=p.device, dtype=p.dtype))
