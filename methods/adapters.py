"""Bottleneck adapters: Houlsby (adapter_h), Lin (adapter_l), Pfeiffer (adapter_p), AdapterDrop (adapter_d).

An adapter maps h -> h + up(ReLU(down(h))) with up zero-initialised, so the adapted model computes exactly
what the base model does until training moves it. It is inserted "in sequence": the target module (the
attention output projection ``o`` and/or the FFN output projection ``ffn_out``) is wrapped so its output
passes through the adapter, before the block's dropout, residual add and LayerNorm.
|Θ| = L̂_Adpt·(2·d·r + r + d) + 2·L̂_LN·d.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.errors import bad_value
from adaptbench.harness.layout import Layout
from adaptbench.harness.plugins import Method
from adaptbench.harness.registry import register_method
from adaptbench.methods._common import check_positive, features, hidden_size, n_layers
from adaptbench.methods._wrap import wrap_targets


class Adapter(nn.Module):
    """down d->r, ReLU, up r->d (zeros), residual; optionally its own LayerNorm on the input (Lin et al.)."""

    def __init__(self, d: int, r: int, layernorm: bool, like: torch.Tensor):
        super().__init__()
        kw = {"device": like.device, "dtype": like.dtype}
        self.layer_norm = nn.LayerNorm(d, **kw) if layernorm else None
        self.down = nn.Linear(d, r, **kw)
        self.act = nn.ReLU()
        self.up = nn.Linear(r, d, **kw)
        # Houlsby et al.'s near-identity init: small down projection, zero biases, zero up projection.
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.layer_norm(h) if self.layer_norm is not None else h
        return h + self.up(self.act(self.down(z)))


class AdaptedModule(nn.Module):
    """A Linear/Conv1D whose output goes through an adapter."""

    def __init__(self, base: nn.Module, adapter: Adapter):
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


@dataclass
class AdapterConfig:
    r: int = 64


@dataclass
class HoulsbyConfig:
    r: int = 64
    train_layernorm: bool = False


@dataclass
class DropConfig:
    r: int = 64
    drop: int = 5


class _Adapters(Method):
    """Shared placement logic; subclasses say where adapters go and whether they carry a LayerNorm."""

    Config = AdapterConfig
    PLACES: ClassVar[tuple[str, ...]] = ("ffn_out",)
    OWN_LAYERNORM: ClassVar[bool] = False

    def first_block(self) -> int:
        return 0

    def trained_layernorms(self, layout: Layout) -> tuple[str, ...]:
        """Base-model LayerNorm paths (per block) that train besides the adapters."""
        return ()

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        check_positive("method.r", self.cfg.r)
        for place in self.PLACES:
            layout.target(place)

    def apply(self, model: nn.Module, layout: Layout) -> None:
        self.validate(model.config, layout)
        n = len(layout.block_list(model))

        def make(module: nn.Module, targets: dict) -> nn.Module:
            d = features(module)[1]
            return AdaptedModule(module, Adapter(d, self.cfg.r, self.OWN_LAYERNORM, module.weight))

        for w in wrap_targets(model, layout, self.PLACES, make, blocks=range(self.first_block(), n)):
            w.adapter.requires_grad_(True)
        for block in layout.block_list(model):
            for path in self.trained_layernorms(layout):
                block.get_submodule(path).requires_grad_(True)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        d, r, L = hidden_size(arch), self.cfg.r, n_layers(arch)
        n_adapters = len(self.PLACES) * (L - self.first_block())
        n_ln = L * len(self.trained_layernorms(layout)) + (n_adapters if self.OWN_LAYERNORM else 0)
        return n_adapters * (2 * d * r + r + d) + 2 * n_ln * d


@register_method("adapter_h")
class AdapterH(_Adapters):
    """Houlsby et al. 2019: after the attention output projection and after the FFN output (2 per block)."""

    Config = HoulsbyConfig
    PLACES = ("o", "ffn_out")

    def trained_layernorms(self, layout: Layout) -> tuple[str, ...]:
        return tuple(layout.layernorms) if self.cfg.train_layernorm else ()


@register_method("adapter_l")
class AdapterL(_Adapters):
    """Lin et al. 2020: one adapter per block after the MLP, with its own trainable LayerNorm."""

    OWN_LAYERNORM = True


@register_method("adapter_p")
class AdapterP(_Adapters):
    """Pfeiffer et al. 2021: one adapter per block after the FFN output."""


@register_method("adapter_d")
class AdapterD(_Adapters):
    """AdapterDrop (Rücklé et al. 2020): Pfeiffer placement without adapters in the lowest ``drop`` blocks."""

    Config = DropConfig

    def first_block(self) -> int:
        return self.cfg.drop

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        super().validate(arch, layout)
        L = n_layers(arch)
        if not 0 <= self.cfg.drop < L:
            raise bad_value(
                "method.drop", self.cfg.drop, f"must be in [0, {L - 1}] (the model has L={L} blocks)"
            )
