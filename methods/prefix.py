"""Prefix methods of the LoRA paper: PrefixEmbed and PrefixLayer, trained through virtual tokens
(``methods/virtual_tokens.py``: the data and model sides of those positions)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api import Layout, Method, bad_choice, bad_value, register_method
from adaptbench.methods._common import check_non_negative, hidden_size, n_layers
from adaptbench.methods.virtual_tokens import (
    INITS,
    attach_virtual_tokens,
    insert_virtual_tokens,
    positions_left,
)


def check_prefix_settings(prefix_len: int, infix_len: int, prefix_init: str) -> None:
    check_non_negative("method.prefix_len", prefix_len)
    check_non_negative("method.infix_len", infix_len)
    if prefix_len + infix_len == 0:
        raise bad_value("method.prefix_len", prefix_len, "prefix_len + infix_len must be >= 1")
    if prefix_init not in INITS:
        raise bad_choice("method.prefix_init", prefix_init, INITS)


@dataclass
class PrefixEmbedConfig:
    """Defaults: the paper's PreEmbed on GPT-3 (App. D.4, Table 4: l_p = 256, l_i = 8)."""

    prefix_len: int = 256
    infix_len: int = 8
    prefix_init: str = "activations"

    def __post_init__(self) -> None:
        check_prefix_settings(self.prefix_len, self.infix_len, self.prefix_init)


@dataclass
class PrefixLayerConfig:
    """Defaults: the paper's PreLayer on GPT-3 (App. D.4, Table 4: l_p = l_i = 8)."""

    prefix_len: int = 8
    infix_len: int = 8
    prefix_init: str = "activations"

    def __post_init__(self) -> None:
        check_prefix_settings(self.prefix_len, self.infix_len, self.prefix_init)


class _Prefix(Method):
    LAYERS: ClassVar[bool]

    @property
    def n_virtual(self) -> int:
        """l_p + l_i: the virtual tokens this method trains."""
        return self.cfg.prefix_len + self.cfg.infix_len

    def input_length(self, max_seq_len: int) -> int:
        return positions_left(max_seq_len, self.cfg.prefix_len, self.cfg.infix_len)

    def example_transform(self, tokenizer: Any, task_kind: str, vocab_size: int) -> Callable[[dict], dict]:
        l_p, l_i = self.cfg.prefix_len, self.cfg.infix_len
        # Encoders pool position 0 ([CLS]/<s>): prefixes go after it. Decoders have no such token.
        prefix_at = int(task_kind != "generation" and tokenizer.cls_token_id is not None)
        return lambda ex: insert_virtual_tokens(ex, l_p, l_i, vocab_size, prefix_at)

    def apply(self, model: nn.Module, layout: Layout) -> None:
        attach_virtual_tokens(model, layout, self.n_virtual, layers=self.LAYERS, init=self.cfg.prefix_init)


@register_method("prefix_embed")
class PrefixEmbed(_Prefix):
    """l_p + l_i virtual tokens whose input embeddings train: |Θ| = d·(l_p+l_i)."""

    Config = PrefixEmbedConfig
    LAYERS = False

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return hidden_size(arch) * self.n_virtual


@register_method("prefix_layer")
class PrefixLayer(_Prefix):
    """The hidden state entering each of the L blocks at the virtual tokens is a trainable vector (the embedding
    output and the outputs of blocks 1..L-1); the last block's output there stays computed, so heads reading
    position 0 or the last token see real activations. |Θ| = L·d·(l_p+l_i)."""

    Config = PrefixLayerConfig
    LAYERS = True

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return n_layers(arch) * hidden_size(arch) * self.n_virtual
