"""``adaptbench latency`` for PEFT's tuners: those PEFT can merge are timed merged (the merged model is the base
architecture and computes what the unmerged one computed), prompt tuning unmerged, and the record and the table
say which; a tuner PEFT cannot put on a model is refused in one line before anything is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _methods_util import METHOD_CASES, NOT_SUPPORTED

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import arch_config, model_kind
from adaptbench.harness.api.plugins import head_parameter_names
from adaptbench.harness.measure.latency import compose_latency_config
from adaptbench.harness.measure.timing import build_pair, module_types
from conftest import run_cli

MERGEABLE = [
    "peft_lora", "peft_dora", "peft_ia3", "peft_vera", "peft_adalora", "peft_loha", "peft_lokr", "peft_oft",
    "peft_boft", "peft_fourierft", "peft_ln_tuning",
]  # fmt: skip
CASES = [("tiny-bert", t) for t in MERGEABLE]
CASES += [("tiny-gpt2", t) for t in ("peft_lora", "peft_ia3", "peft_vera")]


def point(model_name: str, tuner: str):  # noqa: ANN201
    cfg = compose_latency_config([f"model={model_name}", f"method={tuner}", *METHOD_CASES[tuner]])
    kind = model_kind(cfg.model)
    arch, layout = arch_config(cfg.model, kind), Layout.from_config(cfg.model.layout)
    method = load_method(cfg.method)
    method.validate(arch, layout)
    return cfg, method, kind, arch, layout


@pytest.mark.parametrize(("model_name", "tuner"), CASES)
def test_a_mergeable_tuner_is_timed_as_the_base_architecture_computing_its_function(
    model_name: str, tuner: str
) -> None:
    cfg, method, kind, arch, layout = point(model_name, tuner)
    base, merged, _, changed = build_pair(cfg, method, kind, arch, layout, merge=True)
    assert changed  # what the record's "merged" says
    assert [(n, type(m)) for n, m in merged.named_modules()] == [
        (n, type(m)) for n, m in base.named_modules()
    ]
    # the merged forward is the trained tuner's: move every tuner tensor off its identity init, then merge
    _, adapted, _, unchanged = build_pair(cfg, method, kind, arch, layout, merge=False)
    assert not unchanged
    heads = head_parameter_names(adapted)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in adapted.named_parameters():
            if p.requires_grad and name not in heads:
                p.add_(0.5 * torch.randn(p.shape, generator=generator))
    ids = torch.randint(0, arch.vocab_size, (2, 8), generator=generator)
    with torch.no_grad():
        plain, trained = base(input_ids=ids).logits, adapted(input_ids=ids).logits
        method.merge(adapted)
        folded = adapted(input_ids=ids).logits
    assert module_types(adapted) == module_types(base)
    assert (trained - plain).abs().max() > 1e-4  # the tuner changes the function
    assert torch.allclose(folded, trained, atol=1e-5)


def test_prompt_tuning_has_nothing_to_merge_and_runs_unmerged() -> None:
    cfg, method, kind, arch, layout = point("tiny-bert", "peft_prompt_tuning")
    base, adapted, _, changed = build_pair(cfg, method, kind, arch, layout, merge=True)
    assert not changed
    assert hasattr(adapted.base_model, "virtual_tokens") and not hasattr(base.base_model, "virtual_tokens")


def test_the_record_and_the_table_say_which_ran_merged(tmp_path: Path) -> None:
    result = run_cli(
        "latency", "-m", "model=tiny-gpt2", "method=peft_ia3,peft_prompt_tuning", "latency.seq=16",
        "latency.trials=3", "latency.warmup=1", f"output_root={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "latency").rglob("*.json"))]
    merged = {r["method"]: r["merged"] for r in records}
    assert merged == {"peft_ia3": True, "peft_prompt_tuning": False}
    prompt = next(r for r in records if r["method"] == "peft_prompt_tuning")
    assert prompt["input_len"] == 16 + 20  # the YAML's 20 virtual tokens before the input
    table = run_cli("table", str(tmp_path), "--layout", "latency")
    assert table.returncode == 0, table.stderr
    assert "forward path: merged into W: IA3 (PEFT); unmerged: Prompt tuning (PEFT)" in table.stdout


@pytest.mark.parametrize("tuner", sorted(t for t, models in NOT_SUPPORTED.items() if t.startswith("peft")))
def test_a_tuner_peft_cannot_put_on_the_model_is_one_line_before_any_work(tuner: str, tmp_path: Path) -> None:
    """PEFT's LoHa, LoKr, OFT and BOFT adapt nn.Linear (and convolutions), not GPT-2's Conv1D: its refusal, as one
    line naming the tuner, the model type and the module classes PEFT supports, before a model is built."""
    assert NOT_SUPPORTED[tuner] == {"tiny-gpt2"}
    with pytest.raises(ConfigError) as err:
        point("tiny-gpt2", tuner)
    line = str(err.value)
    assert "\n" not in line
    assert f"method.peft_type={tuner.removeprefix('peft_').upper()} cannot adapt model type 'gpt2'" in line
    assert "Conv1D" in line and "Linear" in line  # the module PEFT refused and what it supports
    result = run_cli("latency", "model=tiny-gpt2", f"method={tuner}", f"output_root={tmp_path}")
    assert result.returncode == 2
    (message,) = [x for x in result.stderr.splitlines() if x.startswith("adaptbench: error:")]
    assert message == f"adaptbench: error: {line}"
    assert not (tmp_path / "latency").exists()
