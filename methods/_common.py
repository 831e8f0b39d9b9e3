"""Pieces shared by the methods: architecture numbers, validation one-liners, weight orientation."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, PretrainedConfig
from transformers.pytorch_utils import Conv1D

from adaptbench.harness.api import Layout, bad_value


def n_layers(arch: PretrainedConfig) -> int:
    """L: number of Transformer blocks (``num_hidden_layers`` is mapped for every HF config, e.g. GPT-2's n_layer)."""
    return int(arch.num_hidden_layers)


def hidden_size(arch: PretrainedConfig) -> int:
    """d: the model width."""
    return int(arch.hidden_size)


def check_positive(key: str, value: int) -> None:
    if value <= 0:
        raise bad_value(key, value, "must be a positive integer (>= 1)")


def check_non_negative(key: str, value: int) -> None:
    if value < 0:
        raise bad_value(key, value, "must be >= 0")


def check_targets(targets: Iterable[str], layout: Layout) -> None:
    """Every target must be mapped by this model's layout (q, k, v, o, ffn_in, ffn_out, or what its YAML adds)."""
    targets = list(targets)
    if not targets:
        raise bad_value(
            "method.targets", targets, f"name at least one of: {', '.join(sorted(layout.targets))}"
        )
    for t in targets:
        layout.target(t)
    if len(set(targets)) != len(targets):
        raise bad_value("method.targets", targets, "each target at most once")


def is_transposed(module: nn.Module) -> bool:
    """True for GPT-2's Conv1D, whose weight is stored in x out (nn.Linear stores out x in)."""
    return isinstance(module, Conv1D)


def features(module: nn.Module) -> tuple[int, int]:
    """(in_features, out_features) of an nn.Linear or Conv1D, from its weight."""
    if not isinstance(module, (nn.Linear, Conv1D)):
        raise TypeError(f"expected nn.Linear or Conv1D, got {type(module).__name__}")
    rows, cols = module.weight.shape
    return (rows, cols) if is_transposed(module) else (cols, rows)


_META_CACHE: dict[str, nn.Module] = {}


def meta_model(arch: PretrainedConfig) -> nn.Module:
    """The architecture built on the ``meta`` device (no memory, about a second even for 1.5B parameters).

    Formulas that cannot be written from config numbers alone without model-specific knowledge (all
    parameters, biases, one block, an FFN shape) count on this. It is the causal LM when ``arch.architectures``
    names one (``adaptbench.harness.api.models.arch_config`` sets it for generation tasks), else the sequence classifier.
    """
    key = arch.to_json_string(use_diff=False)
    if key not in _META_CACHE:
        causal_lm = any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in arch.architectures or ())
        model_class = AutoModelForCausalLM if causal_lm else AutoModelForSequenceClassification
        with torch.device("meta"):
            _META_CACHE[key] = model_class.from_config(copy.deepcopy(arch))
    return _META_CACHE[key]
