"""LoRA: identity at init, GPT-2 fused slices, merge/unmerge, agreement with PEFT."""

from __future__ import annotations

import copy

import pytest
import torch
from _methods_util import TINY, batch, build, compose_cfg, logits

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.loading import load_method
from adaptbench.methods.lora import LoRABranch, LoRAConfig, LoRAModule

ALL = "method.targets=[q,k,v,o,ffn_in,ffn_out]"


def randomize_b(model, seed: int = 3) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("lora_B"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize("model_name", TINY)
def test_init_leaves_outputs_unchanged(model_name: str) -> None:
    base, _, _, _ = build(model_name, None, seed=5)
    adapted, _, _, _ = build(model_name, "lora", (ALL, "method.dropout=0.1"), seed=5)
    inputs = batch(base)
    assert torch.allclose(logits(base, inputs), logits(adapted, inputs), atol=1e-6)
    randomize_b(adapted)
    assert not torch.allclose(logits(base, inputs), logits(adapted, inputs), atol=1e-4)


def test_gpt2_fused_qkv_adapts_only_enabled_slices() -> None:
    model, _, layout, _ = build("tiny-gpt2", "lora", ("method.targets=[q,v]",))
    wrapper = layout.block_list(model)[0].get_submodule("attn.c_attn")
    assert isinstance(wrapper, LoRAModule) and set(wrapper.lora) == {"q", "v"}
    d = model.config.hidden_size
    assert wrapper.spans == {"q": (0, d), "v": (2 * d, 3 * d)}
    assert wrapper.lora["q"].lora_B.shape == (d, 8) and wrapper.lora["q"].lora_A.shape == (8, d)
    randomize_b(model)
    x = torch.randn(2, 5, d)
    with torch.no_grad():
        diff = wrapper(x) - wrapper.base(x)
        q, v = wrapper.lora["q"], wrapper.lora["v"]
    assert torch.equal(diff[..., d : 2 * d], torch.zeros_like(diff[..., d : 2 * d]))  # k untouched
    assert torch.allclose(diff[..., :d], q(x), atol=1e-6)
    assert torch.allclose(diff[..., 2 * d :], v(x), atol=1e-6)


def test_scale_and_gaussian_init() -> None:
    like = torch.empty(64, 64)
    branch = LoRABranch(64, 64, LoRAConfig(r=4, alpha=32, init="gaussian"), like=like)
    assert branch.scale == 8.0
    assert 0.15 < branch.lora_A.std().item() < 0.35  # N(0, 1/r^2), r=4
    assert torch.equal(branch.lora_B, torch.zeros(64, 4))


def test_gaussian_init_std_as_deberta() -> None:
    """microsoft/LoRA's DeBERTa draws A from N(0, initializer_range = 0.02): init=gaussian init_std=0.02."""
    branch = LoRABranch(4096, 64, LoRAConfig(r=4, init="gaussian", init_std=0.02), like=torch.empty(1))
    assert abs(branch.lora_A.mean().item()) < 1e-3 and 0.019 < branch.lora_A.std().item() < 0.021
    model, _, _, _ = build("tiny-deberta-v2", "lora", ("method.init=gaussian", "method.init_std=0.02"))
    a = torch.cat([p.flatten() for n, p in model.named_parameters() if n.endswith("lora_A")])
    assert a.numel() == 2 * 2 * 8 * 32 and 0.017 < a.std().item() < 0.023


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("method.r=0",), "method.r=0 is not valid: must be a positive integer"),
        (("method.alpha=0",), "method.alpha=0.0 is not valid: must be > 0"),
        (("method.dropout=1.0",), "method.dropout=1.0 is not valid: must be in [0, 1)"),
        (("method.init=xavier",), "method.init='xavier' is not valid; choose one of: gaussian, kaiming"),
        (
            ("method.init_std=0.02",),
            "method.init_std=0.02 is not valid: is only read with method.init=gaussian",
        ),
        (("method.init=gaussian", "method.init_std=-1"), "method.init_std=-1.0 is not valid: must be > 0"),
    ],
)
def test_bad_values_fail_when_the_config_is_read(overrides: tuple, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_method(compose_cfg("tiny-roberta", "lora", overrides).method)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("model_name", ["tiny-gpt2", "tiny-roberta"])
def test_merge_matches_unmerged_and_unmerge_restores(model_name: str) -> None:
    model, method, layout, _ = build(model_name, "lora", (ALL,))
    randomize_b(model)
    inputs = batch(model)
    wrappers = [m for m in model.modules() if isinstance(m, LoRAModule)]
    weights = {id(w): w.base.weight.detach().clone() for w in wrappers}
    unmerged = logits(model, inputs)

    calls = []
    for w in wrappers:
        for branch in w.lora.values():
            branch.register_forward_hook(lambda *a: calls.append(1))
    plain, _, _, _ = build(model_name, None)
    method.merge(model)
    assert all(not torch.equal(w.base.weight, weights[id(w)]) for w in wrappers)
    # merged: exactly the unadapted architecture (no wrapper, no extra module, nothing extra to run)
    assert [type(m) for m in model.modules()] == [type(m) for m in plain.modules()]
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    merged = logits(model, inputs)
    assert calls == []
    assert torch.allclose(merged, unmerged, atol=1e-5)

    method.merge(model)  # idempotent
    method.unmerge(model)
    for w in wrappers:
        assert torch.allclose(w.base.weight, weights[id(w)], atol=1e-6)
    assert torch.allclose(logits(model, inputs), unmerged, atol=1e-6)
    assert calls  # branches run again


def test_matches_peft() -> None:
    peft = pytest.importorskip("peft")
    base, _, _, _ = build("tiny-roberta", None, seed=7)
    ours, _, layout, _ = build("tiny-roberta", "lora", ("method.r=4", "method.alpha=16"), seed=7)
    theirs = peft.get_peft_model(
        copy.deepcopy(base),
        peft.LoraConfig(r=4, lora_alpha=16, target_modules=["query", "value"], lora_dropout=0.0),
    )
    randomize_b(ours)
    ours_lora = {n: p for n, p in ours.named_parameters() if ".lora." in n}
    theirs_lora = {n: p for n, p in theirs.named_parameters() if "lora_" in n}
    assert (
        sum(p.numel() for p in ours_lora.values())
        == sum(p.numel() for p in theirs_lora.values())
        == 2 * 2 * 4 * 64
    )
    with torch.no_grad():
        for i, block in enumerate(layout.block_list(ours)):
            for t, path in (("q", "attention.self.query"), ("v", "attention.self.value")):
                branch = block.get_submodule(path).lora[t]
                peft_layer = theirs.base_model.model.roberta.encoder.layer[i].get_submodule(path)
                peft_layer.lora_A["default"].weight.copy_(branch.lora_A)
                peft_layer.lora_B["default"].weight.copy_(branch.lora_B)
    # the classifier heads were built from the same seed: copy ours to be explicit
    theirs.base_model.model.classifier.load_state_dict(ours.classifier.state_dict())
    theirs.eval()
    inputs = batch(base)
    assert torch.allclose(logits(ours, inputs), logits(theirs, inputs), atol=1e-5)
    assert not torch.allclose(logits(ours, inputs), logits(base, inputs), atol=1e-4)
