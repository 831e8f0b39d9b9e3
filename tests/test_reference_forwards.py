"""Adapted blocks against hand-written forwards of the reference code (a few lines of torch each).

References: microsoft/LoRA's vendored RoBERTa (``houlsby``/``pfeiffer`` branches of ``RobertaSelfOutput`` /
``RobertaOutput``), adapter-hub's ``DoubleSeqBnConfig``/``SeqBnConfig``, Lin et al.'s GPT-2 ``Block``/``Adapter``,
loralib's ``MergedLinear``. Adapters get random weights first (the zero-initialised up projection would hide
every mistake); dropout is live where the order of adapter and dropout matters.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _methods_util import build

from adaptbench.methods.adapters import Adapter
from adaptbench.methods.lora import LoRAModule

POST_LN = ["tiny-roberta", "tiny-bert", "tiny-deberta-v2"]
ATOL = 1e-6


def randomize(model: torch.nn.Module, base_layernorms: bool = True, seed: int = 11) -> None:
    """Random adapter weights and adapter LayerNorms (and the base model's LayerNorms unless told not to)."""
    g = torch.Generator().manual_seed(seed)

    def fill(p: torch.Tensor, mean: float = 0.0) -> None:
        p.copy_(mean + torch.randn(p.shape, generator=g) * 0.3)

    with torch.no_grad():
        adapters = [m for m in model.modules() if isinstance(m, Adapter)]
        own = {id(ln) for a in adapters for ln in a.modules() if isinstance(ln, torch.nn.LayerNorm)}
        for a in adapters:
            for lin in (a.down, a.up):
                fill(lin.weight)
                fill(lin.bias)
        for ln in model.modules():
            if isinstance(ln, torch.nn.LayerNorm) and (base_layernorms or id(ln) in own):
                fill(ln.weight, mean=1.0)
                fill(ln.bias)


def bottleneck(a: Adapter, z: torch.Tensor, act=F.relu) -> torch.Tensor:
    """up(act(down(z))) by hand."""
    return F.linear(act(F.linear(z, a.down.weight, a.down.bias)), a.up.weight, a.up.bias)


def layer_norm(ln: torch.nn.LayerNorm, z: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(z, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


def linear(module: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """nn.Linear or GPT-2's Conv1D (weight stored in x out) by hand."""
    w = module.weight if isinstance(module, torch.nn.Linear) else module.weight.T
    return F.linear(z, w, module.bias)


def randn(*shape: int, seed: int = 4) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def with_seed(seed: int, fn, *args):
    """``fn(*args)`` with the global RNG at ``seed``: the same dropout masks for module and reference."""
    torch.manual_seed(seed)
    return fn(*args)


# -- Houlsby: after each sublayer's dropout, before its residual add --------------------------------------------
@pytest.mark.parametrize("model_name", POST_LN)
def test_houlsby_post_ln_sublayers_with_dropout(model_name: str) -> None:
    """microsoft/LoRA ``houlsby``: h = dropout(dense(x)); h = h + f(h); LN(h + input), f with swish."""
    model, _, layout, _ = build(model_name, "adapter_h", ("method.r=4",))
    randomize(model)
    block = layout.block_list(model)[0]
    d, d_ff = model.config.hidden_size, model.config.intermediate_size
    p = model.config.hidden_dropout_prob
    block.train()
    for sub, d_in in ((block.attention.output, d), (block.output, d_ff)):
        x, residual = randn(2, 5, d_in), randn(2, 5, d, seed=5)
        a = sub.dropout.adapter
        h = with_seed(7, F.dropout, linear(sub.dense, x), p, True)
        want = layer_norm(sub.LayerNorm, h + bottleneck(a, h, F.silu) + residual)
        assert torch.allclose(with_seed(7, sub, x, residual), want, atol=ATOL)


def test_houlsby_post_ln_whole_block() -> None:
    """The two adapters of a RoBERTa block in place: attention, then FFN, each before its Add & Norm."""
    model, _, layout, _ = build("tiny-roberta", "adapter_h", ("method.r=4",))
    randomize(model)
    block = layout.block_list(model)[0]
    x = randn(2, 5, model.config.hidden_size)
    context = []
    block.attention.self.register_forward_hook(lambda m, args, out: context.append(out[0]))
    with torch.no_grad():
        got = block(x)
        att, out = block.attention.output, block.output
        a = linear(att.dense, context[0])
        h1 = layer_norm(att.LayerNorm, a + bottleneck(att.dropout.adapter, a, F.silu) + x)
        m = linear(out.dense, F.gelu(linear(block.intermediate.dense, h1)))
        want = layer_norm(out.LayerNorm, m + bottleneck(out.dropout.adapter, m, F.silu) + h1)
    assert torch.allclose(got, want, atol=ATOL)


def test_houlsby_pre_ln_gpt2_block() -> None:
    """GPT-2 (pre-LN): x1 = x + a + f(a), a = attention output; y = x1 + m + f(m), m = MLP(ln_2(x1))."""
    model, _, layout, _ = build("tiny-gpt2", "adapter_h", ("method.r=4",), kind="generation")
    randomize(model)
    block = layout.block_list(model)[0]
    x = randn(2, 5, model.config.hidden_size)
    merged_heads = []
    block.attn.c_proj.register_forward_pre_hook(lambda m, args: merged_heads.append(args[0]))
    with torch.no_grad():
        got = block(x)
        got = got[0] if isinstance(got, tuple) else got
        a = linear(block.attn.c_proj, merged_heads[0])
        x1 = x + a + bottleneck(block.attn.resid_dropout.adapter, a, F.silu)
        mlp = block.mlp
        m = linear(mlp.c_proj, mlp.act(linear(mlp.c_fc, layer_norm(block.ln_2, x1))))
        want = x1 + m + bottleneck(mlp.dropout.adapter, m, F.silu)
    assert torch.allclose(got, want, atol=ATOL)


def test_houlsby_pre_ln_mlp_adapter_after_dropout() -> None:
    model, _, layout, _ = build("tiny-gpt2", "adapter_h", ("method.r=4",), kind="generation")
    randomize(model)
    mlp = layout.block_list(model)[0].mlp
    mlp.train()
    z = randn(2, 5, model.config.hidden_size)
    h = with_seed(
        3, F.dropout, linear(mlp.c_proj, mlp.act(linear(mlp.c_fc, z))), model.config.resid_pdrop, True
    )
    want = h + bottleneck(mlp.dropout.adapter, h, F.silu)
    assert torch.allclose(with_seed(3, mlp, z), want, atol=ATOL)


# -- Pfeiffer: reads the FFN's residual sum, LayerNorm'd and re-normalised in post-LN blocks ---------------------
@pytest.mark.parametrize("method_name", ["adapter_p", "adapter_d"])
@pytest.mark.parametrize("model_name", POST_LN)
def test_pfeiffer_post_ln_ffn_with_dropout(model_name: str, method_name: str) -> None:
    """microsoft/LoRA ``pfeiffer``: h = dropout(dense(x)); s = h + input; LN(h + f(LN(s)) + input)."""
    drop = ("method.drop=1",) if method_name == "adapter_d" else ()
    model, _, layout, _ = build(model_name, method_name, ("method.r=4", *drop))
    randomize(model)
    out = layout.block_list(model)[1].output
    out.train()
    x, residual = randn(2, 5, model.config.intermediate_size), randn(2, 5, model.config.hidden_size, seed=5)
    ln, a = out.LayerNorm.base, out.LayerNorm.adapter
    h = with_seed(9, F.dropout, linear(out.dense, x), model.config.hidden_dropout_prob, True)
    want = layer_norm(ln, h + bottleneck(a, layer_norm(ln, h + residual)) + residual)
    assert torch.allclose(with_seed(9, out, x, residual), want, atol=ATOL)


# -- adapters on the block output: Lin (own LayerNorm) everywhere, Pfeiffer in pre-LN blocks ---------------------
@pytest.mark.parametrize(
    ("model_name", "method_name", "own_ln"),
    [
        ("tiny-roberta", "adapter_l", True),
        ("tiny-bert", "adapter_l", True),
        ("tiny-gpt2", "adapter_l", True),
        ("tiny-gpt2", "adapter_p", False),
    ],
)
def test_block_output_adapter(model_name: str, method_name: str, own_ln: bool) -> None:
    """Lin et al.: y = block(x) (after the FFN residual, and its LayerNorm in post-LN); y + f(LN_a(y)).
    Pfeiffer in a pre-LN block (adapter-hub SeqBnConfig without a LayerNorm on that path): y + f(y)."""
    kind = "generation" if model_name == "tiny-gpt2" else None
    base, _, base_layout, _ = build(model_name, None, seed=2, kind=kind)
    model, _, layout, _ = build(model_name, method_name, ("method.r=4",), seed=2, kind=kind)
    randomize(model, base_layernorms=False)  # the base model's stay as in ``base``
    block, base_block = layout.block_list(model)[1], base_layout.block_list(base)[1]
    a = block.output_adapter.adapter
    assert (a.layer_norm is not None) == own_ln
    x = randn(2, 5, model.config.hidden_size)
    with torch.no_grad():
        y = base_block(x)
        y = y[0] if isinstance(y, tuple) else y
        want = y + bottleneck(a, layer_norm(a.layer_norm, y) if own_ln else y)
        got = block(x)
    assert torch.allclose(got[0] if isinstance(got, tuple) else got, want, atol=ATOL)


# -- LoRA: one dropout mask for all slices of a fused matrix ---------------------------------------------------
def test_lora_fused_slices_share_one_dropout_mask() -> None:
    """loralib MergedLinear: x is dropped out once; q, k and v updates all read that same x."""
    model, _, layout, _ = build("tiny-gpt2", "lora", ("method.targets=[q,k,v]", "method.dropout=0.5"))
    wrapper = layout.block_list(model)[0].attn.c_attn
    assert isinstance(wrapper, LoRAModule)
    with torch.no_grad():
        for branch in wrapper.lora.values():
            branch.lora_B.normal_()
    wrapper.train()
    x = randn(2, 5, model.config.hidden_size)
    with torch.no_grad():
        got = with_seed(6, wrapper, x) - wrapper.base(x)
        xd = with_seed(6, F.dropout, x, 0.5, True)
        want = torch.cat([xd @ b.lora_A.T @ b.lora_B.T * b.scale for b in wrapper.lora.values()], dim=-1)
    assert torch.allclose(got, want, atol=ATOL)
