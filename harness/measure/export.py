"""``adaptbench export RECORD --format peft|merged --out DIR``: a trained run as files other tools load.

The run's model is rebuilt from the record's ``config`` (a model built with random weights,
``model.pretrained=false``, gets the run's base weights back from the run's seed) and its best evaluation's
``trainable.safetensors`` (written with ``trainer.save_trainable=true``) is loaded onto it.

* ``peft``: ``adapter_config.json`` + ``adapter_model.safetensors`` for ``peft.PeftModel.from_pretrained(base,
  DIR)``; ``base_model_name_or_path`` is the model's hub name (not the local folder it was loaded from).
  - A PEFT tuner (``method=peft_*``): PEFT's own ``PeftModel`` holding the run's tensors (``Method.peft_model``),
    written by PEFT's ``save_pretrained``.
  - LoRA: its A and B become PEFT's ``lora_A.weight``/``lora_B.weight`` with the same ``r``, ``lora_alpha``
    (PEFT also scales by alpha/r) and ``lora_dropout``; the task head goes into ``modules_to_save``. LoRA on
    output slices of a fused matrix (GPT-2's q and v inside ``c_attn``) is refused: PEFT adapts a whole
    matrix, so the same tensors there would be a different function.
* ``merged``: a plain model of the base architecture, saved with ``save_pretrained`` with the tokenizer,
  loadable with ``AutoModelFor{SequenceClassification,CausalLM}``: the trained model itself for a method that
  trains in place (``Method.trains_in_place``: full fine-tuning, BitFit's biases and the head written into the
  base), B A folded into the weights for LoRA and the PEFT tuners (``Method.merge``).

``peft`` takes runs of methods that declare ``Method.exports_to_peft`` (LoRA, the PEFT tuners). PEFT's
prompt/prefix tuning is not the function of the harness's prefix methods (PEFT puts virtual tokens before the
first token and has no infix; its prefix tuning learns keys/values, not activations), so no other method has an
exact PEFT form. ``merged`` takes those and the methods that train in place (``loading.exports_merged``);
adapters and prefixes add modules the base architecture has not.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import save_file
from torch import nn
from transformers import PreTrainedTokenizerBase, set_seed

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import (
    exports_merged,
    load_method,
    load_task,
    merged_methods,
    peft_methods,
)
from adaptbench.harness.api.models import build_model, load_tokenizer, resolve_location
from adaptbench.harness.api.plugins import LowRankUpdate, Method, Task, adapt, head_parameter_names
from adaptbench.harness.records.store import artifacts_dir, read_record
from adaptbench.harness.run.tensors import load_trainable

FORMATS = ("peft", "merged")
PEFT_TASK_TYPES = {"classification": "SEQ_CLS", "regression": "SEQ_CLS", "generation": "CAUSAL_LM"}
PEFT_PREFIX = "base_model.model."
"""What ``PeftModel`` puts before the wrapped model's own parameter names in a saved adapter."""


@dataclass
class Rebuilt:
    """A run's adapted model with its trained tensors loaded, and what built it."""

    cfg: DictConfig
    method: Method
    task: Task
    layout: Layout
    model: nn.Module
    tokenizer: PreTrainedTokenizerBase


def check_exportable(record_path: Path, method_name: str, method: Method, fmt: str) -> None:
    """One line naming the method and the methods that export to ``fmt``, unless ``method`` does."""
    if fmt == "peft" and not method.exports_to_peft:
        raise ConfigError(
            f"{record_path}: method={method_name!r} is not valid for --format peft; choose one of: "
            f"{', '.join(peft_methods())} (PEFT has no exact equivalent of the other methods)"
        )
    if fmt == "merged" and not exports_merged(method):
        raise ConfigError(
            f"{record_path}: method={method_name!r} is not valid for --format merged; choose one of: "
            f"{', '.join(merged_methods())} (the others add modules or hooks the base architecture lacks)"
        )


def load_run(record_path: Path, fmt: str) -> tuple[DictConfig, Path]:
    """The run's config and its ``trainable.safetensors``, after checking that it is a complete run of a method
    that exports to ``fmt`` (``check_exportable``)."""
    record = read_record(record_path)
    if record["status"] != "complete":
        reason = f" ({record['error']})" if record.get("error") else ""
        raise ConfigError(
            f"{record_path}: a {record['status']} run{reason}; only a complete run can be exported"
        )
    check_exportable(record_path, record["method"], load_method(record["config"]["method"]), fmt)
    path = artifacts_dir(record_path) / "trainable.safetensors"
    if not path.is_file():
        raise ConfigError(
            f"{record_path}: no {path}: the run kept no trained tensors; rerun it with trainer.save_trainable=true"
        )
    return OmegaConf.create(record["config"]), path


def rebuild(cfg: DictConfig, trainable: Path) -> Rebuilt:
    """The run's model, adapted and with its trained tensors, in eval mode on the CPU."""
    method, task = load_method(cfg.method), load_task(cfg.task)
    layout = Layout.from_config(cfg.model.layout)
    set_seed(int(cfg.seed))  # as the runner does before building: random base weights come out the same
    model = build_model(cfg.model, task.kind, task.num_labels)
    adapt(model, method, layout)
    load_trainable(model, trainable)
    model.eval()
    return Rebuilt(cfg, method, task, layout, model, load_tokenizer(cfg.model))


# ------------------------------------------------------------------------------------------------ peft
def check_whole_matrices(updates: list[LowRankUpdate], layout: Layout) -> None:
    """Refuse LoRA on output slices of a fused matrix (GPT-2's ``c_attn``): PEFT adapts whole matrices."""
    sliced = sorted({u.target for u in updates if not u.whole})
    if sliced:
        raise ConfigError(
            f"--format peft: LoRA on slices {', '.join(sliced)} of a fused matrix ({layout.target(sliced[0]).path})"
            " has no exact PEFT equivalent (PEFT adapts the whole matrix); use --format merged"
        )


def peft_tensors(model: nn.Module, updates: list[LowRankUpdate]) -> dict[str, torch.Tensor]:
    """A and B of every adapted matrix (each whole: see ``check_whole_matrices``) and the head's parameters under
    PEFT's saved names."""
    tensors = {}
    for u in updates:
        tensors[f"{PEFT_PREFIX}{u.module}.lora_A.weight"] = u.lora_A
        tensors[f"{PEFT_PREFIX}{u.module}.lora_B.weight"] = u.lora_B
    params = dict(model.named_parameters())
    for name in sorted(head_parameter_names(model)):
        tensors[PEFT_PREFIX + name] = params[name]
    return {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}


def target_modules(model: nn.Module, wrapped: set[str], layout: Layout, targets: Sequence[str]) -> list[str]:
    """PEFT's ``target_modules``: the layout's paths of the targets (PEFT matches them as name suffixes) when
    they select exactly the adapted modules, else the full module paths (BERT's ffn_out path ``output.dense``
    would also select ``attention.output.dense``)."""
    suffixes = sorted({layout.target(t).path for t in targets})
    selected = {
        name
        for name, _ in model.named_modules()
        if any(name == s or name.endswith("." + s) for s in suffixes)
    }
    return suffixes if selected == wrapped else sorted(wrapped)


def base_model_location(model_cfg: Any) -> str | None:
    """Where PEFT users get the base model: its hub name (the run may have loaded a local or packaged copy, whose
    path means nothing on another machine), else the run's local folder; None for random weights."""
    if not model_cfg.get("pretrained", True):
        return None
    if model_cfg.get("hf_name"):
        return str(model_cfg.hf_name)
    return resolve_location(model_cfg.path) if model_cfg.get("path") else None


def harness_fields(rebuilt: Rebuilt) -> dict[str, Any]:
    """The PEFT config fields the run decides, whatever the method: task type, base model and the head."""
    heads = sorted({name.split(".")[0] for name in head_parameter_names(rebuilt.model)})
    return {
        "task_type": PEFT_TASK_TYPES[rebuilt.task.kind],
        "base_model_name_or_path": base_model_location(rebuilt.cfg.model),
        "modules_to_save": heads or None,
    }


def adapter_config(rebuilt: Rebuilt, updates: list[LowRankUpdate]) -> dict[str, Any]:
    """PEFT's LoraConfig of the run: one r, alpha/r and dropout for every adapted matrix (LoRA's settings)."""
    first = updates[0]
    return {
        "peft_type": "LORA",
        **harness_fields(rebuilt),
        "r": int(first.lora_A.shape[0]),
        "lora_alpha": first.alpha,
        "lora_dropout": first.dropout,
        "target_modules": target_modules(
            rebuilt.model, {u.module for u in updates}, rebuilt.layout, sorted({u.target for u in updates})
        ),
        "fan_in_fan_out": any(u.transposed for u in updates),
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "inference_mode": True,
    }


def build_base(rebuilt: Rebuilt) -> nn.Module:
    """The run's model again, not adapted (its random base weights from the run's seed, as ``rebuild``)."""
    set_seed(int(rebuilt.cfg.seed))
    return build_model(rebuilt.cfg.model, rebuilt.task.kind, rebuilt.task.num_labels).eval()


def export_peft(rebuilt: Rebuilt, out: Path) -> None:
    own = rebuilt.method.peft_model(
        rebuilt.model, lambda: build_base(rebuilt), rebuilt.layout, harness_fields(rebuilt)
    )
    if own is not None:
        own.save_pretrained(out)
        return
    updates = rebuilt.method.low_rank_updates(rebuilt.model)
    check_whole_matrices(updates, rebuilt.layout)
    config = adapter_config(rebuilt, updates)
    out.mkdir(parents=True, exist_ok=True)
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    save_file(peft_tensors(rebuilt.model, updates), str(out / "adapter_model.safetensors"), {"format": "pt"})


# ------------------------------------------------------------------------------------------------ merged
def export_merged(rebuilt: Rebuilt, out: Path) -> None:
    """The rebuilt model, merged (nothing to merge for a method that trains in place), as a plain transformers
    model. Refused where the merged model is not the base architecture (prompt tuning's vectors fold into no
    weight): the saved model would lose what the run trained."""
    rebuilt.method.merge(rebuilt.model)
    extra = sorted(set(rebuilt.model.state_dict()) - set(build_base(rebuilt).state_dict()))
    if extra:
        raise ConfigError(
            f"--format merged: method={rebuilt.cfg.method.name!r} does not fold into the base weights "
            f"({extra[0]} is left); use --format peft"
        )
    rebuilt.model.save_pretrained(out)
    rebuilt.tokenizer.save_pretrained(out)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="adaptbench export",
        description="Write a trained run's adapter in a format other tools load.",
    )
    parser.add_argument(
        "record", type=Path, help="the run's record (.json); the run needs trainer.save_trainable"
    )
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="peft: adapter for peft.PeftModel.from_pretrained; merged: a plain transformers model "
        "(LoRA folded in; full fine-tuning and BitFit as trained)",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write")
    args = parser.parse_args(list(argv))
    cfg, trainable = load_run(args.record, args.format)
    rebuilt = rebuild(cfg, trainable)
    (export_peft if args.format == "peft" else export_merged)(rebuilt, args.out)
    summary = {"format": args.format, "out": str(args.out)}
    if args.format == "peft":
        summary["base_model"] = base_model_location(rebuilt.cfg.model)
    print(json.dumps(summary))
    return 0
