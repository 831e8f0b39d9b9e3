"""Baselines that add nothing and only choose what trains: full fine-tuning, FT^Top2, BitFit, and the frozen
model's linear probe (only the task head trains)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api import (
    ConfigError,
    Layout,
    Method,
    bad_choice,
    bad_value,
    head_parameter_names,
    register_method,
)
from adaptbench.methods._common import meta_model, n_layers


def _numel(params) -> int:
    return sum(p.numel() for p in {id(p): p for p in params}.values())


def is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == "bias"


@register_method("full")
class Full(Method):
    """Every parameter trains: the backbone, and an LM's output embedding where it is not tied to the input
    one (Llama); the task head is counted apart."""

    trains_in_place = True

    def apply(self, model: nn.Module, layout: Layout) -> None:
        model.requires_grad_(True)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        meta = meta_model(arch)
        heads = head_parameter_names(meta)
        return _numel(p for n, p in meta.named_parameters() if n not in heads)


@register_method("fttop2")
class FTTop2(Method):
    """Only the last two Transformer blocks train."""

    TOP = 2
    trains_in_place = True

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        if n_layers(arch) < self.TOP:
            raise bad_value(
                "model.arch.num_hidden_layers", n_layers(arch), f"fttop2 needs >= {self.TOP} blocks"
            )

    def apply(self, model: nn.Module, layout: Layout) -> None:
        for block in list(layout.block_list(model))[-self.TOP :]:
            for p in block.parameters():
                p.requires_grad_(True)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        blocks = list(layout.block_list(meta_model(arch)))[-self.TOP :]
        return _numel(p for b in blocks for p in b.parameters())


@register_method("bitfit")
class BitFit(Method):
    """Only bias vectors train: every parameter of the backbone named ``*.bias`` (LayerNorm biases too)."""

    trains_in_place = True

    def apply(self, model: nn.Module, layout: Layout) -> None:
        for name, p in model.base_model.named_parameters():
            if is_bias(name):
                p.requires_grad_(True)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return _numel(p for n, p in meta_model(arch).base_model.named_parameters() if is_bias(n))


POOLINGS = ("head", "mean")


@dataclass
class ProbeConfig:
    # head: the features the model's own head reads (BERT: its pooler on [CLS]); mean: the attention-masked mean of
    # the last block's outputs, put at the first position, where encoder heads read (BERT's frozen pooler, then
    # the head)
    pooling: str = "head"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise bad_choice("method.pooling", self.pooling, POOLINGS)


@register_method("linear_probe")
class LinearProbe(Method):
    """The frozen model's own score: nothing of the pretrained model trains (|Θ| = 0), only the task head, on
    the frozen features. A table's reference row: a method above it adapted the model, not just the head."""

    Config = ProbeConfig
    # only the head trains; mean pooling, though, is a hook the base architecture lacks
    trains_in_place = True

    def __init__(self, cfg: ProbeConfig) -> None:
        super().__init__(cfg)
        self.trains_in_place = cfg.pooling == "head"

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        if self.cfg.pooling == "mean" and layout.decoder:
            raise bad_value("method.pooling", "mean", "a decoder's head reads the last token, not the first")
        if any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in arch.architectures or ()):
            # a generation task keeps the pretrained LM head: a probe would train nothing at all
            raise ConfigError(
                "method=linear_probe trains only a new task head; a generation task has none (choose a "
                "classification or regression task)"
            )

    def apply(self, model: nn.Module, layout: Layout) -> None:
        if self.cfg.pooling == "mean":
            mean_at_first_position(model, list(layout.block_list(model))[-1])

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return 0


def mean_at_first_position(model: nn.Module, last_block: nn.Module) -> None:
    """Hooks: the model's ``attention_mask`` is kept as it is called; the last block's output at position 0
    becomes the masked mean over the positions, so a head that reads the first token reads the mean."""
    seen: dict[str, torch.Tensor | None] = {}

    def keep_mask(module: nn.Module, args: tuple, kwargs: dict) -> None:
        seen["mask"] = kwargs.get("attention_mask")

    def pool(module: nn.Module, args: tuple, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        mask = seen.get("mask")
        weights = torch.ones(hidden.shape[:2], device=hidden.device) if mask is None else mask
        weights = weights.to(hidden.dtype)[..., None]
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        pooled = torch.cat([mean[:, None], hidden[:, 1:]], dim=1)
        return (pooled, *output[1:]) if isinstance(output, tuple) else pooled

    model.register_forward_pre_hook(keep_mask, with_kwargs=True)
    last_block.register_forward_hook(pool)
