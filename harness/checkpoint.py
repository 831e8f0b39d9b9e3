"""Save and load only what trained (method parameters + task head), not the frozen base model.

LoRA's A and B are stored as themselves (save unmerged: W is frozen and not saved), so a checkpoint is
small and is loaded onto a freshly built model adapted with the same method.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import nn

from adaptbench.harness.api.errors import ConfigError, bad_data, bad_value
from adaptbench.harness.api.plugins import head_parameter_names
from adaptbench.harness.records import RecordError, artifacts_dir, atomic_file, read_record


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters with ``requires_grad`` by name (tied ones once)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def save_trainable(model: nn.Module, path: str | Path) -> None:
    """Write the trainable parameters of an adapted model to a safetensors file."""
    tensors = {n: p.detach().to("cpu").contiguous() for n, p in trainable_state(model).items()}
    payload = save(tensors, metadata={"format": "pt", "content": "adaptbench trainable parameters"})
    fd, tmp = atomic_file(Path(path))  # renamed into place: a kill mid-save leaves the previous file whole
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole safetensors file (truncated, empty, not safetensors), or None. Reads only
    the header: the data's extent it declares must be the file's size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) < 8:
                return f"{size} bytes: too short for a safetensors file"
            (header_len,) = struct.unpack("<Q", raw)
            if header_len > size - 8:
                return "truncated or not a safetensors file (header runs past the end)"
            header = json.loads(handle.read(header_len))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return f"not a safetensors file ({type(err).__name__})"
    ends = [entry["data_offsets"][1] for k, entry in header.items() if k != "__metadata__"]
    if 8 + header_len + max(ends, default=0) != size:
        return "truncated (its header declares more data than the file holds)"
    return None


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


@dataclass(frozen=True)
class InitSource:
    """The tensors a run starts from (``init_from``) and what identifies them: the upstream record's
    ``config_hash``, or the sha256 of a bare tensors file. It joins the downstream run's config hash, so a
    rerun upstream run makes the downstream one a new job."""

    path: Path
    key: str


def init_source(location: object, model: str, method: str) -> InitSource:
    """Check ``init_from``: a complete run record of the same model and method whose run saved its trainable
    tensors (``trainer.save_trainable``), or a ``trainable.safetensors`` file; the tensors must be whole."""
    text = "" if location is None else str(location).strip()
    if not text:
        raise bad_value("init_from", location, "give a run record (.json) or a trainable.safetensors file")
    path = Path(text)
    if not path.exists():
        raise bad_value("init_from", text, "no such file")
    if path.suffix == ".json":
        key = _check_upstream_record(path, model, method)
        path = artifacts_dir(path) / "trainable.safetensors"
        if not path.is_file():
            raise ConfigError(
                f"init_from={text!r}: no trainable.safetensors there (give a record of a run made with "
                "trainer.save_trainable=true, or the file itself)"
            )
    elif (record := record_of_artifact(path)) is not None:
        if not record.is_file():
            raise bad_value("init_from", text, f"its run has no record ({record}): it never finished")
        key = _check_upstream_record(record, model, method)
    else:
        key = hashlib.sha256(path.read_bytes()).hexdigest()
    problem = safetensors_problem(path)
    if problem:
        raise bad_data(path, None, problem)
    return InitSource(path=path, key=key)


def record_of_artifact(path: Path) -> Path | None:
    """The record of the run whose artifacts folder holds ``path`` (inverse of ``records.artifacts_dir``), or None
    for a file outside an adaptbench output folder."""
    parents = path.resolve().parents
    if len(parents) < 5 or parents[3].name != "artifacts":
        return None
    run, model, task = parents[0].name, parents[1].name, parents[2].name
    return parents[4] / "records" / task / model / f"{run}.json"


def _check_upstream_record(path: Path, model: str, method: str) -> str:
    try:
        record = read_record(path)
    except RecordError as err:
        raise ConfigError(f"init_from: {err}") from None
    if record["status"] != "complete":
        raise bad_value("init_from", str(path), f"its run is {record['status']}, not complete")
    if record["model"] != model:
        raise bad_value(
            "init_from", str(path), f"its run trained model={record['model']!r}, this one {model!r}"
        )
    if record["method"] != method:
        raise bad_value(
            "init_from", str(path), f"its run trained method={record['method']!r}, this one {method!r}"
        )
    return record["config_hash"]
