"""Baselines that add nothing and only choose what trains: full fine-tuning, FT^Top2, BitFit."""

from __future__ import annotations

from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api import Layout, Method, bad_value, head_parameter_names, register_method
from adaptbench.methods._common import meta_model, n_layers


def _numel(params) -> int:
    return sum(p.numel() for p in {id(p): p for p in params}.values())


def is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == "bias"


@register_method("full")
class Full(Method):
    """Every parameter trains: the backbone, and an LM's output embedding where it is not tied to the input
    one (Llama); the task head is counted apart."""

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

    def apply(self, model: nn.Module, layout: Layout) -> None:
        for name, p in model.base_model.named_parameters():
            if is_bias(name):
                p.requires_grad_(True)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return _numel(p for n, p in meta_model(arch).base_model.named_parameters() if is_bias(n))
