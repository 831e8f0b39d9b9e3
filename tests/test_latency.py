"""``adaptbench latency``: records per sweep point, merged LoRA is the base model, budgets pick r by formula."""

from __future__ import annotations

import json

import pytest
import torch
from test_cli_errors import assert_one_line_error

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import arch_config, model_kind
from adaptbench.harness.measure.latency import LatencySettings, compose_latency_config, parse_budget
from adaptbench.harness.measure.timing import (
    build_pair,
    method_for_budget,
    nearest_width,
    random_inputs,
)
from adaptbench.harness.records.schema import LatencyRecord
from adaptbench.methods.lora import LoRAModule
from conftest import run_cli

RECORD_FIELDS = {
    "kind", "model", "method", "batch", "seq", "trials", "device", "threads", "budget", "r", "method_params",
    "base_ms_median", "method_ms_median", "base_iqr_ms", "method_iqr_ms", "ratio", "overhead", "merged",
    "config_hash", "provenance",
}  # fmt: skip


def point(*overrides: str):
    """(config, method, kind, arch, layout) of one latency point."""
    cfg = compose_latency_config(list(overrides))
    kind = model_kind(cfg.model)
    return (
        cfg,
        load_method(cfg.method),
        kind,
        arch_config(cfg.model, kind),
        Layout.from_config(cfg.model.layout),
    )


def test_sweep_prints_and_writes_one_record_per_point(tmp_path):
    result = run_cli(
        "latency", "-m", "model=tiny-gpt2", "method=lora,adapter_h,prefix_layer", "latency.seq=16",
        "latency.trials=3", "latency.warmup=1", f"output_root={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = {
        r["method"]: r for r in map(json.loads, (x for x in result.stdout.splitlines() if x[:1] == "{"))
    }
    assert set(printed) == {"lora", "adapter_h", "prefix_layer"}
    files = sorted((tmp_path / "latency" / "tiny-gpt2").glob("*.json"))
    assert len(files) == 3
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        assert record == printed[record["method"]]
        assert path.name == f"{record['method']}-b1-s16-{record['config_hash'][:12]}.json"
        assert RECORD_FIELDS <= record.keys()
        assert record.keys() == LatencyRecord.__annotations__.keys()  # exactly the typed schema
        assert record["kind"] == "latency" and record["trials"] == 3 and record["threads"] >= 1
        assert record["ratio"] == pytest.approx(
            record["method_ms_median"] / record["base_ms_median"], abs=1e-3
        )
        assert record["overhead"] == pytest.approx(record["ratio"] - 1, abs=1e-3)
    lora, adapter, prefix = printed["lora"], printed["adapter_h"], printed["prefix_layer"]
    # tiny-gpt2: L = 2, d = 32; LoRA on d x d matrices (q, v): 2·L̂·d·r with L̂ = 2 targets x L blocks
    lora_cfg, prefix_cfg = lora["config"]["method"], prefix["config"]["method"]
    assert lora_cfg["targets"] == ["q", "v"]
    assert lora["method_params"] == 2 * (2 * 2) * 32 * lora_cfg["r"] and lora["r"] == lora_cfg["r"]
    assert lora["merged"] is True and adapter["merged"] is False
    assert (
        prefix["input_len"] == 16 + prefix_cfg["prefix_len"] + prefix_cfg["infix_len"] and prefix["r"] is None
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["latency.budget=abc"], ("latency.budget='abc'", "0.5M", "11M")),
        (["-m", "latency.budget=11M,lots"], ("latency.budget='lots'",)),
        (["method=lroa"], ("method='lroa'", "adapter_h", "lora")),
        (["task=e2e"], ("task=", "method=, model=")),
    ],
)
def test_bad_arguments_are_one_line_errors_before_any_work(tmp_path, args, fragments):
    assert_one_line_error(run_cli("latency", *args, f"output_root={tmp_path}"), *fragments)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("value", "count"), [("0.5M", 500_000), ("11M", 11_000_000), ("500000", 500_000),
                                              (500000, 500_000), ("1.5k", 1500)])  # fmt: skip
def test_budget_spellings(value, count):
    assert parse_budget(value) == count


@pytest.mark.parametrize("value", ["abc", "11MB", "-5", "0", "1e6"])
def test_bad_budget_names_the_value(value):
    with pytest.raises(ConfigError, match=r"latency\.budget=.*parameter count"):
        LatencySettings(budget=value)


def test_merged_lora_forward_path_is_the_base_modules():
    cfg, method, kind, arch, layout = point("model=tiny-gpt2", "method=lora", "method.targets=[q,k,v,o]")
    base, merged, _, changed = build_pair(cfg, method, kind, arch, layout, merge=True)
    assert changed
    assert not any(isinstance(m, LoRAModule) for m in merged.modules())
    assert [(n, type(m)) for n, m in merged.named_modules()] == [
        (n, type(m)) for n, m in base.named_modules()
    ]
    for path, wrapper in merged._lora_detached.items():
        assert merged.get_submodule(path) is wrapper.base  # the original module object, back in its place

    _, unmerged, _, changed = build_pair(cfg, method, kind, arch, layout, merge=False)
    assert not changed
    # q, k, v share GPT-2's fused c_attn: per block one wrapper for them and one for o (c_proj); 2 blocks
    assert sum(isinstance(m, LoRAModule) for m in unmerged.modules()) == 4


def test_the_pair_is_built_on_the_measuring_device():
    """Latency builds both models where it times them (a GPU initialises GPT-2 medium at once; a CPU core takes
    ~13 s per model): on ``meta`` every tensor of base and adapted model, the method's new ones too, is there."""
    cfg, method, kind, arch, layout = point("model=tiny-gpt2", "method=adapter_h")
    base, adapted, counts, _ = build_pair(cfg, method, kind, arch, layout, merge=False, device="meta")
    for model in (base, adapted):
        devices = {t.device.type for t in [*model.parameters(), *model.buffers()]}
        assert devices == {"meta"}
    assert counts["method_params"] > 0


def gpt2_medium_lora(r: int) -> int:
    """|Θ| of LoRA on Wq, Wv of GPT-2 medium (L = 24, d = 1024): 2·L̂·d·r with L̂ = 2L matrices."""
    return 2 * (2 * 24) * 1024 * r


def gpt2_medium_adapter_h(r: int) -> int:
    """Houlsby adapters, 2 per block, each down d·r + r and up r·d + d, on GPT-2 medium."""
    return 2 * 24 * ((1024 * r + r) + (r * 1024 + 1024))


@pytest.mark.parametrize(
    ("method", "budget", "by_hand"),
    [
        ("lora", "0.5M", gpt2_medium_lora),
        ("lora", "11M", gpt2_medium_lora),
        ("adapter_h", "11M", gpt2_medium_adapter_h),
        ("adapter_h", "500000", gpt2_medium_adapter_h),
    ],
)
def test_budget_picks_the_r_nearest_the_paper_count(method, budget, by_hand):
    pinned = "method.targets=[q,v]" if method == "lora" else "method.train_layernorm=false"
    cfg, _, kind, arch, layout = point("model=gpt2-medium", f"method={method}", pinned)
    target = parse_budget(budget)
    expected = min(range(1, 4096), key=lambda r: abs(by_hand(r) - target))
    assert method_for_budget(cfg.method, target, arch, layout)["r"] == expected


def test_paper_budgets_on_gpt2_medium():
    cfg, _, _, arch, layout = point("model=gpt2-medium", "method=adapter_h", "method.train_layernorm=false")
    assert method_for_budget(cfg.method, 11_000_000, arch, layout)["r"] == 111  # |Θ| = 10,966,224


def test_budget_sets_a_peft_tuners_peft_config_r():
    """DoRA through PEFT keeps its width in ``peft_config.r``; the budget reaches it as it reaches ``r``. By hand:
    DoRA on W_q, W_v of RoBERTa-base is 24 matrices of r·(768 + 768) + 768 (the magnitude), so 0.5M -> r = 13
    (497,664; r = 14 gives 534,528)."""
    cfg, _, _, arch, layout = point("model=roberta-base", "method=peft_dora", "method.targets=[q,v]")
    node = method_for_budget(cfg.method, 500_000, arch, layout)
    assert node["peft_config"]["r"] == 13 and "r" not in node
    assert node["peft_config"]["use_dora"] is True  # the rest of peft_config kept
    assert load_method(node).formula_params(arch, layout) == 24 * (13 * 1536 + 768) == 497_664


def test_nearest_width_ties_and_bounds():
    assert nearest_width(lambda r: 10 * r, 14) == 1
    assert nearest_width(lambda r: 10 * r, 15) == 1  # a tie goes to the smaller r
    assert nearest_width(lambda r: 10 * r, 16) == 2
    assert nearest_width(lambda r: 10 * r, 3) == 1
    assert nearest_width(lambda r: 10 * r, 12_345) == 1234


def test_budget_needs_a_method_with_a_width():
    cfg, _, _, arch, layout = point("model=tiny-gpt2", "method=prefix_layer")
    with pytest.raises(
        ConfigError, match=r"method='prefix_layer' has no width r.*adapter_h.*lora.*peft_dora"
    ):
        method_for_budget(cfg.method, 1000, arch, layout)


def test_prefix_methods_run_on_seq_plus_their_positions():
    _, method, kind, arch, _ = point(
        "model=tiny-bert", "method=prefix_layer", "method.prefix_len=8", "method.infix_len=8"
    )
    settings = LatencySettings(batch=3, seq=10)
    base_ids, method_ids = random_inputs(method, settings, kind, arch, seed=0)
    assert kind == "classification" and base_ids.shape == (3, 10) and method_ids.shape == (3, 10 + 8 + 8)
    vocab = arch.vocab_size
    assert torch.equal(method_ids[:, :8], torch.arange(vocab, vocab + 8).expand(3, 8))  # the prefix
    assert torch.equal(method_ids[:, 8:18], base_ids)
    assert torch.equal(method_ids[:, 18:], torch.arange(vocab + 8, vocab + 16).expand(3, 8))  # the infix


def test_prefix_positions_must_fit_the_model():
    _, method, kind, arch, _ = point(
        "model=tiny-gpt2", "method=prefix_layer", "method.prefix_len=8", "method.infix_len=8"
    )
    # tiny-gpt2 has n_positions = 256
    with pytest.raises(ConfigError, match=r"latency\.seq=250.*266 tokens.*at most 256"):
        random_inputs(method, LatencySettings(seq=250), kind, arch, seed=0)


@pytest.mark.parametrize(
    ("overhead", "ratio_iqr", "says"),
    [
        (-0.338, 0.05, "negative beyond the paired-ratio IQR 5.0%"),  # contention, not a faster adapter
        (0.01, 0.03, "within the paired-ratio IQR 3.0%"),
        (-0.01, 0.05, "within the paired-ratio IQR 5.0%"),
        (0.25, 0.03, None),  # a real overhead
        (0.0, 0.0, None),  # no spread at all: nothing to call noise
    ],
)
def test_a_noise_point_is_flagged(overhead, ratio_iqr, says):
    from adaptbench.harness.records.schema import latency_noise

    found = latency_noise({"overhead": overhead, "ratio_iqr": ratio_iqr})
    assert found == says if says is None else says in found


def test_the_latency_table_marks_noise_points():
    from _records_util import latency_record

    from adaptbench.harness.report.latency_table import NOISE_NOTE, latency_tables

    noisy = {**latency_record("adapter_h", 1, 128, 30, 20), "ratio_iqr": 0.05}  # -33% "overhead"
    clean = {**latency_record("adapter_h", 4, 128, 20, 26), "ratio_iqr": 0.02}  # +30%
    (table,) = latency_tables([noisy, clean])
    (row,) = [line for line in table.rows if line[0].startswith("AdapterH")]
    cells = dict(zip(table.headers, row, strict=True))
    assert "-33.3% n=1 (1 noise)" in cells["batch 1 / seq 128"] and "noise" not in cells["batch 4 / seq 128"]
    assert NOISE_NOTE in table.notes
