"""A new architecture is config only: conf/family/llama.yaml + conf/model/tiny-llama.yaml (a Llama-style decoder
with grouped-query attention and an untied output embedding) and every method works on it, no code changed."""

from __future__ import annotations

import pytest
import torch
from _methods_util import batch, build, logits

from adaptbench.harness.api.accounting import count_params
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.job import run

METHODS = [
    "full",
    "fttop2",
    "bitfit",
    "prefix_embed",
    "prefix_layer",
    "adapter_h",
    "adapter_l",
    "adapter_p",
    "adapter_d",
    "lora",
    "lora_pe",
    "lora_pl",
]
EXTRA = {"adapter_d": ["method.drop=1"]}


@pytest.mark.parametrize("kind", ["generation", "classification"])
@pytest.mark.parametrize("method", METHODS)
def test_counts_equal_formula(method: str, kind: str):
    cfg = compose_run_config(["model=tiny-llama", f"method={method}", *EXTRA.get(method, [])])
    report = count_params(cfg.model, cfg.method, kind, 2)
    assert report["method_params"] == report["formula_params"]


def test_lora_respects_grouped_query_attention():
    cfg = compose_run_config(["model=tiny-llama", "method=lora", "method.r=8", "method.targets=[q,k,v,o]"])
    # per block: q 32x32, k 32x16, v 32x16, o 32x32 -> 8 * (64 + 48 + 48 + 64); 2 blocks
    assert count_params(cfg.model, cfg.method, "generation")["method_params"] == 2 * 8 * (64 + 48 + 48 + 64)


def test_full_trains_the_untied_output_embedding():
    cfg = compose_run_config(["model=tiny-llama", "method=full"])
    report = count_params(cfg.model, cfg.method, "generation")
    assert report["head_params"] == 0
    assert report["method_params"] == report["total_params"]  # lm_head (30522 x 32) included, not a new head


@pytest.mark.parametrize("method", ["lora", "adapter_h", "adapter_l"])
def test_zero_init_methods_leave_outputs_unchanged(method: str):
    plain, _, _, _ = build("tiny-llama", None, kind="generation", seed=3)
    adapted, _, _, _ = build("tiny-llama", method, ("method.r=4",), kind="generation", seed=3)
    inputs = batch(plain)
    assert torch.allclose(logits(adapted, inputs), logits(plain, inputs), atol=1e-6)


def test_trains_through_the_runner(tmp_path):
    record = run(
        compose_run_config(
            ["model=tiny-llama", "method=lora_pl", "task=vader", "trainer=tiny", f"output_root={tmp_path}"]
        )
    )
    assert record["train"]["steps"] == 4 and "accuracy" in record["best"]["metrics"]
    assert record["params"]["method_params"] == record["params"]["formula_params"] > 0


def test_a_target_added_in_yaml_is_adaptable():
    """The targets a method may name are the layout's: a YAML entry (Llama's gate projection) adds one."""
    cfg = compose_run_config(
        [
            "model=tiny-llama",
            "method=lora",
            "method.r=4",
            "method.targets=[ffn_gate]",
            "+model.layout.targets.ffn_gate={path:mlp.gate_proj}",
        ]
    )
    report = count_params(cfg.model, cfg.method, "generation")
    assert report["method_params"] == report["formula_params"] == 2 * 4 * (32 + 64)
