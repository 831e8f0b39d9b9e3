"""Bottleneck adapters: Houlsby (adapter_h), Lin (adapter_l), Pfeiffer (adapter_p), AdapterDrop (adapter_d).

An adapter is f(z) = up(act(down(norm(z)))) (down d->r, up r->d, norm its own LayerNorm or nothing) added to the
hidden state it reads. ``up`` starts at zero, so the adapted model computes exactly what the base model does
until training moves it. Where each variant reads and writes, as its authors' code does it (post-LN blocks
x -> LN(x + sublayer(x)): BERT, RoBERTa, DeBERTa; pre-LN blocks x -> x + sublayer(LN(x)): GPT-2, Llama):

- Houlsby: h -> h + f(h) on both sublayers' outputs h, after their dropout and before the residual add
  (adapter-hub ``DoubleSeqBnConfig``; microsoft/LoRA's ``houlsby`` RoBERTa). Same in both block kinds.
- Pfeiffer: one per block at the FFN. Post-LN: s -> LN(s + f(LN(s))) with s = FFN output + residual and LN the
  block's own FFN LayerNorm, applied twice (adapter-hub ``SeqBnConfig``: original_ln_before/after,
  residual_before_ln; microsoft/LoRA's ``pfeiffer`` RoBERTa). Pre-LN there is no LayerNorm on that path, so the
  same config gives s -> s + f(s) on the block output s.
- Lin: one per block on the block output y (after the FFN residual, and its LayerNorm in post-LN blocks),
  with its own LayerNorm: y -> y + f(LN_a(y)) (Lin et al. 2020's GPT-2 code).

|Θ| = L̂_Adpt·(2·d·r + r + d) + 2·L̂_LN·d (L̂_LN: Lin's own LayerNorms, Houlsby's with ``train_layernorm``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api import Layout, Method, bad_choice, bad_value, register_method, set_submodule
from adaptbench.methods._common import check_positive, hidden_size, n_layers

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "swish": nn.SiLU,  # x·sigmoid(x), Houlsby's in adapter-hub and microsoft/LoRA
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}
SUBLAYERS = ("attn", "ffn")
# where an adapter goes in a block: a sublayer's output, the FFN LayerNorm of a post-LN block, the block output
SITES = (*SUBLAYERS, "ffn_layernorm", "block_output")


class Adapter(nn.Module):
    """The bottleneck f(z) = up(act(down(norm(z)))); ``forward(h)`` is h + f(h)."""

    def __init__(self, d: int, r: int, activation: str, own_layernorm: bool, like: torch.Tensor):
        super().__init__()
        kw = {"device": like.device, "dtype": like.dtype}
        self.layer_norm = nn.LayerNorm(d, **kw) if own_layernorm else None
        self.down = nn.Linear(d, r, **kw)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(r, d, **kw)
        # Houlsby et al.'s near-identity init: small down projection, zero biases, zero up projection.
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def delta(self, z: torch.Tensor) -> torch.Tensor:
        """f(z), the update the adapter adds."""
        z = self.layer_norm(z) if self.layer_norm is not None else z
        return self.up(self.act(self.down(z)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.delta(h)


class AdaptedModule(nn.Module):
    """A module whose output goes through an adapter: h -> h + f(h)."""

    def __init__(self, base: nn.Module, adapter: Adapter):
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.adapter(self.base(*args, **kwargs))


class PfeifferLayerNorm(nn.Module):
    """A post-LN block's FFN LayerNorm with a Pfeiffer adapter: s -> LN(s + f(LN(s))).

    The block computes LN(s) with s = FFN output + residual; the adapter reads LN(s), its update joins the FFN
    output before the residual add (s + f(...)), and the same LayerNorm normalises again."""

    def __init__(self, base: nn.Module, adapter: Adapter):
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.base(s + self.adapter.delta(self.base(s)))


class BlockOutputAdapter(nn.Module):
    """An adapter on a block's output y -> y + f(y) (its first output when the block returns a tuple).

    A block output is no module's output in pre-LN blocks (it is the residual sum inside the block's forward),
    so a forward hook on the block applies it; the adapter is registered as the block's ``output_adapter``
    child, and the block keeps its place and type (other methods still find their modules through the
    Layout)."""

    def __init__(self, adapter: Adapter):
        super().__init__()
        self.adapter = adapter

    def attach(self, block: nn.Module) -> None:
        block.output_adapter = self
        block.register_forward_hook(self._on_block_output)

    def _on_block_output(self, block: nn.Module, args: tuple, output: Any) -> Any:
        if isinstance(output, tuple):
            return (self.adapter(output[0]), *output[1:])
        return self.adapter(output)


def insert_adapter(block: nn.Module, site: str, adapter: Adapter, layout: Layout) -> None:
    """Put ``adapter`` at ``site`` (one of ``SITES``) of one block."""
    if site == "block_output":
        BlockOutputAdapter(adapter).attach(block)
        return
    path = layout.layernorms[-1] if site == "ffn_layernorm" else layout.sublayer_outputs[site]
    wrapper = PfeifferLayerNorm if site == "ffn_layernorm" else AdaptedModule
    set_submodule(block, path, wrapper(block.get_submodule(path), adapter))


def check_sites(sites: tuple[str, ...], layout: Layout) -> None:
    """The layout maps every module the ``sites`` need (conf/family/*.yaml)."""
    for site in sites:
        if site in SUBLAYERS and site not in layout.sublayer_outputs:
            raise bad_value(
                "model.layout.sublayer_outputs",
                dict(layout.sublayer_outputs),
                f"map {', '.join(SUBLAYERS)} to each sublayer's output module (see conf/family/bert.yaml)",
            )
        if site == "ffn_layernorm" and not layout.layernorms:
            raise bad_value("model.layout.layernorms", [], "list the block's [attention, FFN] LayerNorms")


@dataclass
class AdapterConfig:
    """Pfeiffer: r=64 gives RoBERTa-large 3,171,840 (Table 2's AdapterP 3.0M row)."""

    r: int = 64
    activation: str = "relu"

    def __post_init__(self) -> None:
        check_positive("method.r", self.r)
        if self.activation not in ACTIVATIONS:
            raise bad_choice("method.activation", self.activation, ACTIVATIONS)


@dataclass
class HoulsbyConfig(AdapterConfig):
    """r=64 gives RoBERTa-large 6,343,680 (Table 2's AdapterH 6.0M row)."""

    activation: str = "swish"
    train_layernorm: bool = False


@dataclass
class LinConfig(AdapterConfig):
    """r=8 gives GPT-2 large 875,808 with the adapters' own LayerNorms (Table 3's AdapterL 0.88M row)."""

    r: int = 8


@dataclass
class DropConfig(AdapterConfig):
    """r=48, drop=8 gives RoBERTa-base 298,176 (Table 2's AdapterD 0.3M row); drop=0 gives 894,528 (0.9M)."""

    r: int = 48
    drop: int = 8


class _Adapters(Method):
    """Shared insertion and counting; subclasses say where adapters go and whether they carry a LayerNorm."""

    Config = AdapterConfig
    OWN_LAYERNORM: ClassVar[bool] = False

    @abstractmethod
    def sites(self, layout: Layout) -> tuple[str, ...]:
        """Where this variant puts adapters in each block (names from ``SITES``)."""

    def first_block(self) -> int:
        return 0

    def trained_layernorms(self, layout: Layout) -> tuple[str, ...]:
        """Base-model LayerNorm paths (per block) that train besides the adapters."""
        return ()

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        check_sites(self.sites(layout), layout)

    def apply(self, model: nn.Module, layout: Layout) -> None:
        blocks = list(layout.block_list(model))
        like = next(blocks[0].parameters())
        for block in blocks[self.first_block() :]:
            for site in self.sites(layout):
                adapter = Adapter(
                    hidden_size(model.config), self.cfg.r, self.cfg.activation, self.OWN_LAYERNORM, like
                )
                adapter.requires_grad_(True)
                insert_adapter(block, site, adapter, layout)
        for block in blocks:
            for path in self.trained_layernorms(layout):
                block.get_submodule(path).requires_grad_(True)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        d, r, L = hidden_size(arch), self.cfg.r, n_layers(arch)
        n_adapters = len(self.sites(layout)) * (L - self.first_block())
        n_ln = L * len(self.trained_layernorms(layout)) + (n_adapters if self.OWN_LAYERNORM else 0)
        return n_adapters * (2 * d * r + r + d) + 2 * n_ln * d


@register_method("adapter_h")
class AdapterH(_Adapters):
    """Houlsby et al. 2019: on the attention and the FFN output, after dropout, before the residual add."""

    Config = HoulsbyConfig

    def sites(self, layout: Layout) -> tuple[str, ...]:
        return SUBLAYERS

    def trained_layernorms(self, layout: Layout) -> tuple[str, ...]:
        return tuple(layout.layernorms) if self.cfg.train_layernorm else ()


@register_method("adapter_l")
class AdapterL(_Adapters):
    """Lin et al. 2020: one adapter per block on the block output, with its own trainable LayerNorm."""

    Config = LinConfig
    OWN_LAYERNORM = True

    def sites(self, layout: Layout) -> tuple[str, ...]:
        return ("block_output",)


@register_method("adapter_p")
class AdapterP(_Adapters):
    """Pfeiffer et al. 2021: one adapter per block reading the FFN's residual sum (LayerNorm'd in post-LN)."""

    def sites(self, layout: Layout) -> tuple[str, ...]:
        return ("ffn_layernorm",) if layout.layernorm_position == "post" else ("block_output",)


@register_method("adapter_d")
class AdapterD(AdapterP):
    """AdapterDrop (Rücklé et al. 2020): Pfeiffer adapters, none in the lowest ``drop`` blocks."""

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
