"""Prefix methods of the LoRA paper: PrefixEmbed and PrefixLayer (model side: ``methods/_reserved.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.errors import bad_value
from adaptbench.harness.layout import Layout
from adaptbench.harness.plugins import Method
from adaptbench.harness.registry import register_method
from adaptbench.harness.reserved import insert_reserved, usable_length
from adaptbench.methods._common import check_non_negative, hidden_size, n_layers
from adaptbench.methods._reserved import attach


@dataclass
class PrefixConfig:
    prefix_len: int = 16
    infix_len: int = 16


@dataclass
class PrefixLayerConfig:
    prefix_len: int = 8
    infix_len: int = 8


class _Prefix(Method):
    Config = PrefixConfig
    LAYERS = False

    @property
    def n_reserved(self) -> int:
        return self.cfg.prefix_len + self.cfg.infix_len

    def reserved_positions(self) -> tuple[int, int]:
        return (self.cfg.prefix_len, self.cfg.infix_len)

    def input_length(self, max_seq_len: int) -> int:
        return usable_length(max_seq_len, *self.reserved_positions())

    def example_transform(self, tokenizer: Any, task_kind: str, vocab_size: int) -> Callable[[dict], dict]:
        l_p, l_i = self.reserved_positions()
        # Encoders pool position 0 ([CLS]/<s>): prefixes go after it. Decoders have no such token.
        prefix_at = int(task_kind != "generation" and tokenizer.cls_token_id is not None)
        return lambda ex: insert_reserved(ex, l_p, l_i, vocab_size, prefix_at)

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        check_non_negative("method.prefix_len", self.cfg.prefix_len)
        check_non_negative("method.infix_len", self.cfg.infix_len)
        if self.n_reserved == 0:
            raise bad_value("method.prefix_len", self.cfg.prefix_len, "prefix_len + infix_len must be >= 1")

    def apply(self, model: nn.Module, layout: Layout) -> None:
        self.validate(model.config, layout)
        attach(model, layout, self.n_reserved, embed=not self.LAYERS, layers=self.LAYERS)


@register_method("prefix_embed")
class PrefixEmbed(_Prefix):
    """l_p + l_i reserved tokens whose input embeddings train: |Θ| = d·(l_p+l_i)."""

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return hidden_size(arch) * self.n_reserved


@register_method("prefix_layer")
class PrefixLayer(_Prefix):
    """The hidden state entering each of the L blocks at the reserved positions is a trainable vector (the
    embedding output and the outputs of blocks 1..L-1); the last block's output there stays computed, so
    heads reading position 0 or the last token see real activations. |Θ| = L·d·(l_p+l_i)."""

    Config = PrefixLayerConfig
    LAYERS = True

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return n_layers(arch) * hidden_size(arch) * self.n_reserved
