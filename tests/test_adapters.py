"""Adapters: identity at init, placement per variant and block kind, AdapterDrop, activations, config errors.

The forwards themselves are checked against hand-written references in test_reference_forwards.py.
"""

from __future__ import annotations

import copy

import pytest
import torch
from _methods_util import TINY, batch, build, compose_cfg, logits
from torch import nn

from adaptbench.harness.api.accounting import count_params
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.loading import load_method
from adaptbench.methods.adapters import AdaptedModule, Adapter, PfeifferLayerNorm

KIND = {"tiny-llama": "generation", "tiny-gpt2": "generation"}


@pytest.mark.parametrize("model_name", [*TINY, "tiny-llama"])
@pytest.mark.parametrize("method_name", ["adapter_h", "adapter_l", "adapter_p", "adapter_d"])
def test_init_leaves_outputs_unchanged(model_name: str, method_name: str) -> None:
    kind = KIND.get(model_name)
    base, _, _, _ = build(model_name, None, seed=5, kind=kind)
    drop = ("method.drop=1",) if method_name == "adapter_d" else ()
    adapted, _, _, _ = build(model_name, method_name, ("method.r=4", *drop), seed=5, kind=kind)
    inputs = batch(base)
    assert torch.allclose(logits(base, inputs), logits(adapted, inputs), atol=1e-6)
    with torch.no_grad():
        for m in adapted.modules():
            if isinstance(m, Adapter):
                m.down.weight.normal_(std=0.5)
                m.up.weight.normal_(std=0.5)
    assert (logits(base, inputs) - logits(adapted, inputs)).abs().max() > 1e-5


def placement(block: nn.Module, layout) -> dict[str, str]:
    """Where adapters sit in one block: {site: wrapper type or 'hook'}."""
    found = {}
    for site, path in layout.sublayer_outputs.items():
        if isinstance(block.get_submodule(path), AdaptedModule):
            found[site] = "AdaptedModule"
    if isinstance(block.get_submodule(layout.layernorms[-1]), PfeifferLayerNorm):
        found["ffn_layernorm"] = "PfeifferLayerNorm"
    if hasattr(block, "output_adapter"):
        found["block_output"] = "hook"
    return found


WHERE = {
    ("adapter_h", "post"): {"attn": "AdaptedModule", "ffn": "AdaptedModule"},
    ("adapter_h", "pre"): {"attn": "AdaptedModule", "ffn": "AdaptedModule"},
    ("adapter_l", "post"): {"block_output": "hook"},
    ("adapter_l", "pre"): {"block_output": "hook"},
    ("adapter_p", "post"): {"ffn_layernorm": "PfeifferLayerNorm"},
    ("adapter_p", "pre"): {"block_output": "hook"},
}


@pytest.mark.parametrize("model_name", [*TINY, "tiny-llama"])
@pytest.mark.parametrize("method_name", ["adapter_h", "adapter_l", "adapter_p"])
def test_placement_follows_the_layout(model_name: str, method_name: str) -> None:
    model, _, layout, _ = build(model_name, method_name, ("method.r=4",), kind=KIND.get(model_name))
    d = model.config.hidden_size
    expected_position = "pre" if model_name in ("tiny-gpt2", "tiny-llama") else "post"
    assert layout.layernorm_position == expected_position
    for block in layout.block_list(model):
        assert placement(block, layout) == WHERE[(method_name, expected_position)]
    adapters = [m for m in model.modules() if isinstance(m, Adapter)]
    assert len(adapters) == len(WHERE[(method_name, expected_position)]) * model.config.num_hidden_layers
    for a in adapters:
        assert a.down.weight.shape == (4, d) and a.up.weight.shape == (d, 4)
        assert (a.layer_norm is not None) == (method_name == "adapter_l")


def test_adapter_drop_skips_lowest_blocks() -> None:
    model, _, layout, _ = build("tiny-roberta", "adapter_d", ("method.r=4", "method.drop=1"))
    blocks = layout.block_list(model)
    assert not isinstance(blocks[0].output.LayerNorm, PfeifferLayerNorm)
    assert isinstance(blocks[1].output.LayerNorm, PfeifferLayerNorm)


@pytest.mark.parametrize(
    ("method_name", "overrides", "act"),
    [
        ("adapter_h", (), nn.SiLU),  # swish: adapter-hub DoubleSeqBnConfig, microsoft/LoRA houlsby
        ("adapter_p", (), nn.ReLU),
        ("adapter_l", (), nn.ReLU),
        ("adapter_d", ("method.drop=1",), nn.ReLU),
        ("adapter_h", ("method.activation=relu",), nn.ReLU),
        ("adapter_p", ("method.activation=gelu",), nn.GELU),
    ],
)
def test_activation(method_name: str, overrides: tuple, act: type) -> None:
    model, _, _, _ = build("tiny-bert", method_name, ("method.r=4", *overrides))
    acts = {type(m.act) for m in model.modules() if isinstance(m, Adapter)}
    assert acts == {act}


@pytest.mark.parametrize(
    ("method_name", "override", "message"),
    [
        (
            "adapter_h",
            "method.activation=sigmoid",
            "method.activation='sigmoid' is not valid; choose one of: ",
        ),
        ("adapter_l", "method.r=0", "method.r=0 is not valid: must be a positive integer"),
        ("adapter_d", "method.r=-2", "method.r=-2 is not valid: must be a positive integer"),
    ],
)
def test_bad_values_fail_when_the_config_is_read(method_name: str, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_method(compose_cfg("tiny-bert", method_name, (override,)).method)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_layout_without_sublayer_outputs_is_a_config_error() -> None:
    cfg = compose_cfg("tiny-bert", "adapter_h", ("~model.layout.sublayer_outputs",))
    with pytest.raises(ConfigError, match=r"model.layout.sublayer_outputs=\{\} is not valid: map attn, ffn"):
        count_params(cfg.model, cfg.method)


def test_houlsby_train_layernorm_option() -> None:
    model, method, layout, _ = build("tiny-bert", "adapter_h", ("method.r=4", "method.train_layernorm=true"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    for i in range(2):
        for ln in layout.layernorms:
            assert f"bert.encoder.layer.{i}.{ln}.weight" in trainable
            assert f"bert.encoder.layer.{i}.{ln}.bias" in trainable
    assert "bert.embeddings.LayerNorm.weight" not in trainable
    d, L = 32, 2
    assert method.formula_params(model.config, layout) == 2 * L * (2 * d * 4 + 4 + d) + 2 * (2 * L) * d


@pytest.mark.parametrize(
    ("model_name", "method_name", "overrides", "expected", "paper_row"),
    [
        ("roberta-large", "adapter_h", (), 6_343_680, "Table 2 RoBERTa-large AdapterH 6.0M"),
        ("roberta-large", "adapter_h", ("method.r=8",), 835_968, "Table 2 RoBERTa-large AdapterH 0.8M"),
        ("roberta-large", "adapter_p", (), 3_171_840, "Table 2 RoBERTa-large AdapterP 3.0M"),
        ("roberta-large", "adapter_p", ("method.r=16",), 811_392, "Table 2 RoBERTa-large AdapterP 0.8M"),
        ("roberta-base", "adapter_d", (), 298_176, "Table 2 RoBERTa-base AdapterD 0.3M"),
        ("roberta-base", "adapter_d", ("method.drop=0",), 894_528, "Table 2 RoBERTa-base AdapterD 0.9M"),
        ("gpt2-large", "adapter_l", (), 875_808, "Table 3 GPT-2 L AdapterL 0.88M"),
        ("gpt2-medium", "adapter_l", ("method.r=6",), 368_784, "Table 3 GPT-2 M AdapterL 0.37M"),
    ],
)
def test_defaults_reproduce_paper_rows(
    model_name: str, method_name: str, overrides: tuple, expected: int, paper_row: str
) -> None:
    """|Θ| = L̂_Adpt·(2dr + r + d) + 2·L̂_LN·d, written out: e.g. AdapterD default 4·(2·768·48 + 48 + 768)."""
    cfg = compose_cfg(model_name, method_name, overrides)
    report = count_params(cfg.model, cfg.method)
    assert report["method_params"] == report["formula_params"] == expected, paper_row


def test_block_output_hook_survives_deepcopy() -> None:
    """The hook is bound to the block's own ``output_adapter``: a deep copy runs its copy, not the original."""
    model, _, layout, _ = build("tiny-gpt2", "adapter_l", ("method.r=4",), kind="generation")
    inputs = batch(model)
    before = logits(model, inputs)
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for block in layout.block_list(clone):
            block.output_adapter.adapter.up.bias.normal_()  # not a constant: LayerNorms would remove it
    assert torch.equal(logits(model, inputs), before)
    assert not torch.allclose(logits(clone, inputs), before, atol=1e-4)
