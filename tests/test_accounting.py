"""|Θ| measured on meta-built adapted models equals each method's formula; the paper's check figures."""

from __future__ import annotations

import time

import pytest
from _methods_util import compose_cfg

from adaptbench.harness.api.accounting import count_params

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


@pytest.mark.parametrize("model_name", ["roberta-base", "gpt2-medium", "deberta-v2-xxlarge"])
@pytest.mark.parametrize("method_name", METHODS)
def test_method_params_equal_formula(model_name: str, method_name: str) -> None:
    cfg = compose_cfg(model_name, method_name)
    start = time.perf_counter()
    report = count_params(cfg.model, cfg.method)
    assert time.perf_counter() - start < 20
    assert report["method_params"] == report["formula_params"] > 0
    assert report["trainable_params"] == report["method_params"] + report["head_params"]
    assert report["total_params"] >= report["trainable_params"]


@pytest.mark.parametrize(
    ("model_name", "method_name", "overrides", "expected"),
    [
        ("roberta-large", "adapter_h", ("method.r=64",), 6_343_680),
        ("roberta-large", "adapter_p", ("method.r=64",), 3_171_840),
        ("roberta-base", "lora", ("method.r=8",), 294_912),
        ("gpt2-medium", "lora", ("method.r=4", "method.targets=[q,v]"), 393_216),
        ("gpt2-large", "lora", ("method.r=4",), 737_280),
        ("roberta-base", "prefix_layer", ("method.prefix_len=10", "method.infix_len=2"), 12 * 768 * 12),
        ("roberta-base", "prefix_embed", ("method.prefix_len=10", "method.infix_len=2"), 768 * 12),
        ("roberta-base", "adapter_d", ("method.r=8", "method.drop=5"), 7 * (2 * 768 * 8 + 8 + 768)),
        ("roberta-base", "adapter_l", ("method.r=8",), 12 * (2 * 768 * 8 + 8 + 768) + 2 * 12 * 768),
        ("roberta-base", "lora", ("method.r=2", "method.targets=[ffn_in]"), 12 * 2 * (768 + 3072)),
        (
            "gpt2-medium",
            "lora",
            ("method.r=2", "method.targets=[q,k,v,o,ffn_in,ffn_out]"),
            24 * 2 * (8 * 1024 + 2 * 5 * 1024),
        ),
    ],
)
def test_check_figures(model_name: str, method_name: str, overrides: tuple, expected: int) -> None:
    cfg = compose_cfg(model_name, method_name, overrides)
    report = count_params(cfg.model, cfg.method)
    assert report["method_params"] == report["formula_params"] == expected


def test_known_totals() -> None:
    """Full fine-tuning counts the backbone: 124.6M RoBERTa-base minus the pooler, 354.8M GPT-2 medium."""
    assert (
        count_params(compose_cfg("roberta-base", "full").model, {"name": "full"})["method_params"]
        == 124_055_040
    )
    gen = count_params(compose_cfg("gpt2-medium", "full").model, {"name": "full"}, task_kind="generation")
    assert gen["method_params"] == 354_823_168 and gen["head_params"] == 0  # lm_head is tied to wte
