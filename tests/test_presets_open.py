"""The paper's GPT-3 tables on an open decoder (conf/experiment/table{4,5,6,15}_open*.yaml): each sweeps its
published table's rows x tasks, each cell carries GPT-3's settings (hyperparams.csv, Appendix D.4 Table 12), and
Table 4's rows have the published |Θ| when counted on GPT-3 175B itself."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter

import pytest
from omegaconf import OmegaConf
from test_presets import OFFLINE_DECODER, OPEN_PRESETS, PAPER, composed, sweep_jobs

from adaptbench.harness.api.accounting import count_params
from adaptbench.harness.report.paper import KNOWN_MISPRINTS, PAPER_METHOD_ALIASES
from conftest import run_cli

TASKS_OF_LABEL = {"WikiSQL": "wikisql", "MNLI": "mnli", "SAMSum": "samsum", "MultiNLI": "mnli"}
TABLE4_METHODS = {
    "FT": "full",
    "BitFit": "bitfit",
    "PreEmbed": "prefix_embed",
    "PreLayer": "prefix_layer",
    "AdapterH": "adapter_h",
    "LoRA": "lora",
}
TARGETS_OF_LABEL = {"Wq": "q", "Wk": "k", "Wv": "v", "Wo": "o"}


def paper_rows(stem: str) -> list[dict[str, str]]:
    with open(PAPER / f"{stem}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def gpt3_settings() -> dict[str, dict[str, str]]:
    """hyperparams.csv's GPT-3 rows: method label -> hyperparameter -> printed value."""
    settings: dict[str, dict[str, str]] = {}
    for row in paper_rows("hyperparams"):
        if row["model"] == "GPT-3 175B":
            method = PAPER_METHOD_ALIASES.get(row["method"], row["method"])  # "Fine-Tune": Table 4's FT
            settings.setdefault(method, {})[row["hyperparameter"]] = row["value_paper"]
    return settings


def cell(preset: str, job: dict[str, str], model: str = OFFLINE_DECODER):
    overrides = [f"+experiment={preset}", *(f"{k}={v}" for k, v in job.items() if k not in ("seed", "model"))]
    return composed((*overrides, f"model={model}"))


def test_table4_open_sweeps_table4s_rows_and_tasks() -> None:
    """table4_open + table4_open_wide: one job per Table 4 row x task x seed, and no other (8 rows: AdapterH and
    LoRA at two sizes)."""
    jobs = sweep_jobs("table4_open") + sweep_jobs("table4_open_wide")
    expected = Counter(TABLE4_METHODS[row["method"]] for row in paper_rows("table4_gpt3"))
    assert Counter(job["method"] for job in jobs) == {m: n * 3 * 3 for m, n in expected.items()}
    assert {job["task"] for job in jobs} == {"wikisql", "mnli", "samsum"}
    assert {job["seed"] for job in jobs} == {"1", "2", "3"}
    assert {job["model"] for job in jobs} == {"smollm2-360m"}  # the default: a small Llama-family decoder


@pytest.mark.parametrize("preset", ["table4_open", "table4_open_wide"])
def test_table4_open_rows_count_table4s_params_on_gpt3(preset: str) -> None:
    """Each row's settings (App. D.4), counted on GPT-3 175B's architecture, give the |Θ| Table 4 prints."""
    printed = Counter((row["method"], row["trainable_params"]) for row in paper_rows("table4_gpt3"))
    for method in {job["method"] for job in sweep_jobs(preset)} - {"full", "bitfit"}:
        cfg = cell(preset, {"method": method, "task": "wikisql"}, model="gpt3-175b")
        count = count_params(cfg.model, cfg.method, "generation")["method_params"]
        label = f"{count / 1e6:.1f}M"
        paper_label = {v: k for k, v in TABLE4_METHODS.items()}[method]
        if method == "prefix_layer":  # Table 4 prints 20.2M; its own formula L·d·(l_p + l_i) is 18.9M
            assert KNOWN_MISPRINTS[("GPT-3 175B", "PreLayer", "20.2M")][0] == count == 96 * 12288 * (8 + 8)
            continue
        assert (paper_label, label) in printed, (preset, method, label)


def test_table15_open_rows_count_gpt3s_lora_plus_prefix() -> None:
    """LoRA+PE / LoRA+PL at Table 15's settings, counted on GPT-3 175B: LoRA r_q = r_v = 8 (37,748,736) plus the
    prefix part; the paper prints 37.8M and 52.8M (KNOWN_MISPRINTS, footnoted by adaptbench table)."""
    lora = 2 * 96 * (12288 + 12288) * 8
    expected = {"lora_pe": lora + (8 + 4) * 12288, "lora_pl": lora + 96 * 12288 * (8 + 4)}
    for method, count in expected.items():
        cfg = cell("table15_open", {"method": method, "task": "wikisql"}, model="gpt3-175b")
        assert count_params(cfg.model, cfg.method, "generation")["method_params"] == count, method
    label = {"lora_pe": ("LoRA+PE", "37.8M"), "lora_pl": ("LoRA+PL", "52.8M")}
    printed = {(row["method"], row["trainable_params"]) for row in paper_rows("table15_gpt3")}
    for method, (paper_label, params) in label.items():
        assert (paper_label, params) in printed
        assert KNOWN_MISPRINTS[("GPT-3 175B", paper_label, params)][0] == expected[method]


def test_every_open_cell_has_gpt3s_settings() -> None:
    """Rate per method, 2 epochs, batch 128, weight decay 0.1, linear schedule, the per-task sequence length and
    Table 12's 250,000 warm-up tokens (as steps of 128 sequences), MNLI as generation."""
    settings = gpt3_settings()
    label_of = {v: k for k, v in TABLE4_METHODS.items()} | {"lora_pe": "LoRA", "lora_pl": "LoRA"}
    for preset in OPEN_PRESETS:
        for job in {json.dumps({k: job[k] for k in ("method", "task")}) for job in sweep_jobs(preset)}:
            job = json.loads(job)
            cfg = cell(preset, job)
            paper = settings[label_of[job["method"]]]
            seq_len = dict(re.findall(r"(\w+) (\d+)", paper["seq_len"]))
            label = next(k for k, v in TASKS_OF_LABEL.items() if v == job["task"] and k in seq_len)
            assert cfg.trainer.lr == float(paper["learning_rate"]), (preset, job)
            assert cfg.trainer.batch_size * cfg.trainer.grad_accum == int(paper["batch_size"])
            assert (cfg.trainer.epochs, cfg.trainer.weight_decay) == (int(paper["epochs"]), 0.1)
            assert cfg.trainer.lr_scheduler == paper["lr_schedule"] and cfg.trainer.warmup_ratio == 0
            assert cfg.trainer.max_seq_len == int(seq_len[label])
            tokens = int(paper["warmup_tokens"].replace(",", ""))
            assert cfg.trainer.warmup_steps == round(tokens / (128 * int(seq_len[label])))
            assert cfg.task.get("form", "generation") == "generation"  # MNLI: the label word generated


def test_table5_open_rows_are_table5s() -> None:
    jobs = sweep_jobs("table5_open")
    assert {(j["method"], j["task"], j["seed"]) for j in jobs} == {
        ("lora", t, s) for t in ("wikisql", "mnli") for s in "123"
    }
    rows = set()
    for name in {job["weight_types"] for job in jobs}:
        node = cell("table5_open", {"weight_types": name, "method": "lora", "task": "mnli"}).method
        rows.add((tuple(node.targets), node.r))
    published = {
        (tuple(TARGETS_OF_LABEL[w] for w in row["weight_types"].split(",")), int(row["rank_r"]))
        for row in paper_rows("table5_weight_types")
    }
    assert rows == published and len(jobs) == 7 * 2 * 3


def test_table6_open_rows_are_table6s() -> None:
    jobs = sweep_jobs("table6_open")
    swept = Counter((j["task"], j["method.targets"], j["method.r"]) for j in jobs)
    published = Counter(
        (
            TASKS_OF_LABEL[row["dataset"]],
            "[" + ",".join(TARGETS_OF_LABEL[w] for w in row["weight_types"].split(",")) + "]",
            r.removeprefix("r="),
        )
        for row in paper_rows("table6_rank")
        for r in row
        if r.startswith("r=")
    )
    assert swept == {key: 3 for key in published}  # 3 seeds of each published cell
    one = cell(
        "table6_open", {"method": "lora", "task": "wikisql", "method.r": "64", "method.targets": "[q,k,v,o]"}
    )
    assert (one.method.r, list(one.method.targets), one.trainer.lr) == (64, ["q", "k", "v", "o"], 2e-4)


def test_table15_open_sweeps_lora_with_each_prefix() -> None:
    jobs = sweep_jobs("table15_open")
    assert Counter((j["method"], j["task"]) for j in jobs) == {
        (m, t): 3 for m in ("lora_pe", "lora_pl") for t in ("wikisql", "mnli")
    }
    pe = cell("table15_open", {"method": "lora_pe", "task": "wikisql"}).method
    assert (pe.r, pe.prefix_len, pe.infix_len, list(pe.components)) == (8, 8, 4, ["lora", "prefix_embed"])


def test_the_default_decoder_counts_offline_as_smollm2_360m() -> None:
    """The presets' default carries its architecture (no hub needed): a meta build counts SmolLM2-360M's
    published 361,821,120 parameters, and LoRA r_q = r_v = 1 is 2·L̂·d·r_q + ... = 32 layers x (q: 960+960,
    v: 960+320) x 1 = 102,400."""
    cfg = composed(("+experiment=table4_open", "method=full", "task=wikisql"))
    assert cfg.model.name == "smollm2-360m" and cfg.model.hf_name == "HuggingFaceTB/SmolLM2-360M"
    assert count_params(cfg.model, cfg.method, "generation")["total_params"] == 361_821_120
    lora = composed(("+experiment=table4_open", "method=lora", "task=wikisql"))
    assert count_params(lora.model, lora.method, "generation")["method_params"] == 32 * (1920 + 1280)


@pytest.mark.slow
def test_dry_run_lists_table4s_jobs(tmp_path) -> None:
    """``adaptbench run -m +experiment=table4_open dry_run=true`` as a user types it, offline (HF_HUB_OFFLINE):
    Table 4's 6 methods x 3 tasks x 3 seeds on the default SmolLM2-360M, each with its GPT-3 rate, MNLI as
    generation, and no hub access needed."""
    argv = ["run", "-m", "+experiment=table4_open", "dry_run=true"]
    result = run_cli(*argv, f"output_root={tmp_path}", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert Counter((j["method"], j["task"]) for j in jobs) == {
        (m, t): 3 for m in TABLE4_METHODS.values() for t in ("wikisql", "mnli", "samsum")
    }
    assert {j["model"] for j in jobs} == {"smollm2-360m"}
    assert len({j["record"] for j in jobs}) == 54 and not any(j["done"] for j in jobs)
    rates = {label: float(s["learning_rate"]) for label, s in gpt3_settings().items()}
    for job in jobs:
        assert job["lr"] == rates[{v: k for k, v in TABLE4_METHODS.items()}[job["method"]]]
        if job["task"] == "mnli":
            assert job["task_config"]["form"] == "generation"
    assert {OmegaConf.create(j["method_config"]).get("r") for j in jobs if j["method"] == "lora"} == {1}
