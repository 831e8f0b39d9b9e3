"""Adapters: identity at init, placement per variant, AdapterDrop, Houlsby's LayerNorm option."""

from __future__ import annotations

import pytest
import torch
from _methods_util import TINY, batch, build, logits

from adaptbench.methods.adapters import AdaptedModule

VARIANTS = {"adapter_h": ("o", "ffn_out"), "adapter_l": ("ffn_out",), "adapter_p": ("ffn_out",)}


@pytest.mark.parametrize("model_name", TINY)
@pytest.mark.parametrize("method_name", ["adapter_h", "adapter_l", "adapter_p", "adapter_d"])
def test_init_leaves_outputs_unchanged(model_name: str, method_name: str) -> None:
    base, _, _, _ = build(model_name, None, seed=5)
    drop = ("method.drop=1",) if method_name == "adapter_d" else ()
    adapted, _, _, _ = build(model_name, method_name, ("method.r=4", *drop), seed=5)
    inputs = batch(base)
    assert torch.allclose(logits(base, inputs), logits(adapted, inputs), atol=1e-6)
    with torch.no_grad():
        for m in adapted.modules():
            if isinstance(m, AdaptedModule):
                m.adapter.down.weight.normal_(std=0.5)
                m.adapter.up.weight.normal_(std=0.5)
    assert (logits(base, inputs) - logits(adapted, inputs)).abs().max() > 1e-5


@pytest.mark.parametrize("model_name", ["tiny-roberta", "tiny-gpt2"])
@pytest.mark.parametrize("method_name", sorted(VARIANTS))
def test_placement(model_name: str, method_name: str) -> None:
    model, _, layout, _ = build(model_name, method_name, ("method.r=4",))
    d = model.config.hidden_size
    for block in layout.block_list(model):
        for name, target in layout.targets.items():
            module = block.get_submodule(target.path)
            assert isinstance(module, AdaptedModule) == (name in VARIANTS[method_name]), (name, method_name)
            if isinstance(module, AdaptedModule):
                a = module.adapter
                assert a.down.weight.shape == (4, d) and a.up.weight.shape == (d, 4)
                assert (a.layer_norm is not None) == (method_name == "adapter_l")


def test_adapter_drop_skips_lowest_blocks() -> None:
    model, _, layout, _ = build("tiny-roberta", "adapter_d", ("method.r=4", "method.drop=1"))
    blocks = layout.block_list(model)
    assert not isinstance(blocks[0].get_submodule("output.dense"), AdaptedModule)
    assert isinstance(blocks[1].get_submodule("output.dense"), AdaptedModule)


def test_adapter_is_residual_bottleneck() -> None:
    model, _, layout, _ = build("tiny-gpt2", "adapter_p", ("method.r=4",))
    module = layout.block_list(model)[0].get_submodule("mlp.c_proj")
    with torch.no_grad():
        module.adapter.up.weight.normal_()
        x = torch.randn(3, 128)
        h = module.base(x)
        a = module.adapter
        assert torch.allclose(module(x), h + a.up(torch.relu(a.down(h))), atol=1e-6)


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
