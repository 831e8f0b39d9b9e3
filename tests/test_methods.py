"""Every method on every tiny family: exactly the intended parameters train, and one step moves only them."""

from __future__ import annotations

import re

import pytest
import torch
from _methods_util import METHOD_CASES, NOT_SUPPORTED, TINY, batch, build, compose_cfg, method_batch

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import arch_config
from adaptbench.harness.api.plugins import head_parameter_names

# The paper's methods, whose trained parameters this file names one by one; the PEFT tuners train what PEFT's own
# injection makes trainable, checked against PEFT's count in tests/test_peft_tuners.py.
METHODS = sorted(m for m in METHOD_CASES if not m.startswith("peft"))
OVERRIDES = METHOD_CASES


def expected(method: str, layout: Layout, n_blocks: int):
    """Predicate on a backbone parameter name: should it train?"""
    blocks = re.escape(layout.blocks)
    lora = re.compile(r"\.lora\.(q|k|v|o|ffn_in|ffn_out)\.lora_[AB]$")
    adapter = re.compile(rf"{blocks}\.(\d+)\..*\.adapter\.(down|up|layer_norm)\.(weight|bias)$")
    top = re.compile(rf"{blocks}\.({n_blocks - 2}|{n_blocks - 1})\.")
    return {
        "full": lambda n: True,
        "linear_probe": lambda n: False,  # only the task head trains (|Θ| = 0)
        "fttop2": lambda n: bool(top.search(n)),
        "bitfit": lambda n: n.endswith(".bias"),
        "prefix_embed": lambda n: n.endswith("virtual_tokens.embed"),
        "prefix_layer": lambda n: n.endswith("virtual_tokens.layer_states"),
        "adapter_h": lambda n: bool(adapter.search(n)) and "layer_norm" not in n,
        "adapter_l": lambda n: bool(adapter.search(n)),
        "adapter_p": lambda n: bool(adapter.search(n)) and "layer_norm" not in n,
        "adapter_d": lambda n: bool(adapter.search(n)) and int(adapter.search(n).group(1)) >= 1,
        "lora": lambda n: bool(lora.search(n)),
        "lora_pe": lambda n: bool(lora.search(n)) or n.endswith("virtual_tokens.embed"),
        "lora_pl": lambda n: bool(lora.search(n)) or n.endswith("virtual_tokens.layer_states"),
    }[method]


def step_inputs(model, method, model_name: str) -> dict:
    """A random batch (with the method's virtual tokens inserted) and labels."""
    b = batch(model, n=2, length=6)
    vocab = model.get_input_embeddings().weight.shape[0]
    inputs = method_batch(method, b, vocab, encoder=model_name != "tiny-gpt2")
    ids = inputs["input_ids"]
    inputs["labels"] = (
        ids.masked_fill(ids >= vocab, -100) if model_name == "tiny-gpt2" else torch.tensor([0, 1])
    )
    return inputs


@pytest.mark.parametrize("model_name", TINY)
@pytest.mark.parametrize("method_name", METHODS)
def test_trainable_set_and_one_step(model_name: str, method_name: str) -> None:
    if model_name in NOT_SUPPORTED.get(method_name, ()):
        pytest.skip(f"{method_name} refuses {model_name} in one line (tests/test_contracts.py)")
    model, method, layout, _ = build(model_name, method_name, OVERRIDES.get(method_name, ()))
    heads = head_parameter_names(model)
    names = dict(model.named_parameters())
    want = expected(method_name, layout, len(layout.block_list(model)))
    trainable = {n for n, p in names.items() if p.requires_grad}
    backbone_trainable = trainable - heads
    assert backbone_trainable or method_name == "linear_probe", "the method trains nothing"
    assert backbone_trainable == {n for n in names if n not in heads and want(n)}
    assert heads <= trainable  # the task head always trains
    if method_name == "full":
        assert all(p.requires_grad for p in model.base_model.parameters())

    before = {n: p.detach().clone() for n, p in names.items()}
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs = step_inputs(model, method, model_name)
    # Two steps: at the first, zero-initialised up/B make the gradient of down/A (and zero biases) exactly 0.
    for _ in range(2):
        opt.zero_grad()
        model(**inputs).loss.backward()
        opt.step()
    for n, p in names.items():
        if n in trainable:
            assert not torch.equal(p, before[n]), f"{n} did not change"
        else:
            assert torch.equal(p, before[n]), f"frozen {n} changed"


def test_prefix_and_lora_parameters_get_gradients() -> None:
    """Beyond weight decay: the loss really reaches the virtual tokens' vectors and LoRA's B."""
    model, method, _, _ = build("tiny-roberta", "lora_pl", ("method.prefix_len=2", "method.infix_len=1"))
    model(**step_inputs(model, method, "tiny-roberta")).loss.backward()
    tokens = model.base_model.virtual_tokens
    assert tokens.layer_states.grad is not None and tokens.layer_states.grad.abs().sum() > 0
    bs = [p for n, p in model.named_parameters() if n.endswith("lora_B")]
    assert bs and all(p.grad.abs().sum() > 0 for p in bs)


def _method(name: str, *overrides: str):
    cfg = compose_cfg("tiny-roberta", name, overrides)
    return load_method(cfg.method), arch_config(cfg.model), Layout.from_config(cfg.model.layout)


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("lora", ("method.r=0",), "method.r=0 is not valid: must be a positive integer"),
        (
            "lora",
            ("method.targets=[q,x]",),
            "method.targets='x' is not valid; choose one of: ffn_in, ffn_out, k, o, q, v",
        ),
        (
            "lora",
            ("method.init=xavier",),
            "method.init='xavier' is not valid; choose one of: gaussian, kaiming",
        ),
        ("lora", ("method.dropout=1.5",), "method.dropout=1.5 is not valid: must be in [0, 1)"),
        ("adapter_p", ("method.r=-1",), "method.r=-1 is not valid: must be a positive integer"),
        (
            "adapter_d",
            ("method.drop=2",),
            "method.drop=2 is not valid: must be in [0, 1] (the model has L=2 blocks)",
        ),
        ("adapter_d", ("method.drop=-1",), "method.drop=-1 is not valid: must be in [0, 1]"),
        ("lora_pl", ("method.r=0",), "method.r=0 is not valid"),
    ],
)
def test_validate_errors(name: str, overrides: tuple, message: str) -> None:
    """Value checks fail when the method node is read (Config.__post_init__), model checks in validate."""
    with pytest.raises(ConfigError) as err:
        method, arch, layout = _method(name, *overrides)
        method.validate(arch, layout)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_keys_fail_with_valid_keys() -> None:
    with pytest.raises(
        ConfigError,
        match=r"method.rank is not a setting.*valid keys: alpha, dropout, init, init_std, r, targets",
    ):
        _method("lora", "+method.rank=4")
    with pytest.raises(
        ConfigError, match=r"method.drop is not a setting of any component.*lora, prefix_embed"
    ):
        _method("lora_pe", "+method.drop=1")


def test_compose_splits_hyperparameters() -> None:
    method, arch, layout = _method("lora_pe", "method.r=2", "method.prefix_len=3", "method.infix_len=1")
    lora, prefix = method.components
    assert (lora.cfg.r, lora.cfg.targets, prefix.cfg.prefix_len, prefix.cfg.infix_len) == (
        2,
        ["q", "v"],
        3,
        1,
    )
    assert method.input_length(128) == 128 - 3 - 1
    assert method.formula_params(arch, layout) == lora.formula_params(arch, layout) + 32 * 4
