"""Shared helpers of the method tests (tiny configs, CPU)."""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from omegaconf import DictConfig
from torch import nn

from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import build_model
from adaptbench.harness.api.plugins import Method, adapt
from adaptbench.harness.config.tree import compose_run_config

TINY = ["tiny-roberta", "tiny-gpt2", "tiny-deberta-v2", "tiny-bert"]

# The case table of every method the tests cover, with the overrides that fit it to the tiny models.
# tests/test_contracts.py fails when a registered method is missing here: a new method is tested or CI fails.
METHOD_CASES: dict[str, tuple[str, ...]] = {
    "full": (),
    "fttop2": (),
    "bitfit": (),
    # the frozen model's probe (only the head trains); the head's own features, so decoders take it too
    "linear_probe": ("method.pooling=head",),
    "prefix_embed": ("method.prefix_len=2", "method.infix_len=1"),
    "prefix_layer": ("method.prefix_len=2", "method.infix_len=1"),
    "adapter_h": ("method.r=4",),
    "adapter_l": ("method.r=4",),
    "adapter_p": ("method.r=4",),
    "adapter_d": ("method.drop=1",),
    "lora": (),
    "lora_pe": ("method.prefix_len=2", "method.infix_len=1"),
    "lora_pl": ("method.prefix_len=2", "method.infix_len=1"),
    "peft": (),
    "peft_lora": (),
    "peft_dora": (),
    "peft_ia3": (),
    "peft_prompt_tuning": ("method.peft_config.num_virtual_tokens=3",),
    "peft_vera": ("method.peft_config.r=8",),
    "peft_adalora": (
        "method.peft_config.tinit=2",
        "method.peft_config.tfinal=2",
        "method.peft_config.total_step=8",
    ),
    "peft_loha": (),
    "peft_lokr": (),
    "peft_oft": ("method.peft_config.oft_block_size=8",),
    "peft_boft": (),
    "peft_fourierft": ("method.peft_config.n_frequency=64",),
    "peft_ln_tuning": (),
}
# Methods a model cannot take, refused in one line before anything is built: PEFT's LoHa, LoKr, OFT and BOFT
# adapt nn.Linear/Conv layers, not GPT-2's Conv1D.
NOT_SUPPORTED: dict[str, set[str]] = {
    "peft_loha": {"tiny-gpt2"},
    "peft_lokr": {"tiny-gpt2"},
    "peft_oft": {"tiny-gpt2"},
    "peft_boft": {"tiny-gpt2"},
    "linear_probe": {"tiny-gpt2"},  # a causal LM has no new head to probe with
}
# the one-line refusal each unsupported pair gives (PEFT's, turned into one line, or the plugin's own)
REFUSAL = {"linear_probe": "trains only a new task head; a generation task has none"}
KIND = {"tiny-gpt2": "generation"}


def compose_cfg(model: str, method: str = "lora", overrides: tuple[str, ...] = ()) -> DictConfig:
    return compose_run_config([f"model={model}", f"method={method}", *overrides])


def build(
    model: str,
    method: str | None = None,
    overrides: tuple[str, ...] = (),
    seed: int = 0,
    kind: str | None = None,
) -> tuple[nn.Module, Method | None, Layout, DictConfig]:
    """A tiny model with random weights (seeded), adapted with ``method`` when given, in eval mode."""
    cfg = compose_cfg(model, method or "lora", overrides)
    layout = Layout.from_config(cfg.model.layout)
    torch.manual_seed(seed)
    m = build_model(cfg.model, kind or KIND.get(model, "classification"), 2)
    m.eval()
    meth = None
    if method is not None:
        meth = load_method(cfg.method)
        meth.validate(m.config, layout)
        adapt(m, meth, layout)
    return m, meth, layout, cfg


def batch(model: nn.Module, n: int = 2, length: int = 7, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    mask[1, -2:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def logits(model: nn.Module, inputs: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).logits


def method_batch(
    method: Method, b: dict, vocab: int, encoder: bool, prompt_end: int = 3
) -> dict[str, torch.Tensor]:
    """``b`` as the runner feeds it to an adapted model: each example through the method's ``example_transform``
    (prefix methods insert their positions; after [CLS] for encoders, at 0 for decoders)."""
    tokenizer = SimpleNamespace(cls_token_id=101 if encoder else None)
    transform = method.example_transform(tokenizer, "classification" if encoder else "generation", vocab)
    rows = [
        {"input_ids": ids.tolist(), "attention_mask": m.tolist(), "prompt_end": prompt_end}
        for ids, m in zip(b["input_ids"], b["attention_mask"], strict=True)
    ]
    rows = [transform(r) for r in rows] if transform else rows
    return {k: torch.tensor([r[k] for r in rows]) for k in ("input_ids", "attention_mask")}
