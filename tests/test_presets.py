"""The paper presets (conf/experiment/): each sweeps the rows x tasks x seeds of its published table, each cell
composes with the hyperparameters the paper prints for it (results/paper/hyperparams.csv, Appendix D Tables
9-11), and a cell named on the command line narrows the sweep to that cell.

Composing a config costs Hydra a fraction of a second, so the default run composes one job per preset plus the
cells the paper's tables single out (every cell where the paper and the official scripts disagree, and the first
task of each block); ``-m slow`` composes and checks every cell."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.api.accounting import count_params
from adaptbench.harness.api.loading import load_task
from adaptbench.harness.config.tree import CONF_DIR, compose_run_config
from adaptbench.harness.config.validate import validate
from conftest import SHARED_DATA, run_cli

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "results" / "paper"  # ../shared/paper, plus table15_gpt3.csv (results/paper/README.md)
# ../shared/data's NLG folders, and the file each has (no training sets: the test trains on nothing, it validates)
NLG_DATA = {
    "e2e": ("e2e", "devset.csv"),
    "dart": ("dart", "dart-v1.1.1-full-dev.json"),
    "webnlg": ("webnlg_challenge_2017", "dev.json"),
}
# Not run by `adaptbench run`: table1_latency is `adaptbench latency`'s, table4_gpt3 lists rows for `--layout params`
NOT_RUN = ("table1_latency", "table4_gpt3")
RUN_PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml") if p.stem not in NOT_RUN)

# The paper's row labels -> method choices
METHOD_OF_LABEL = {
    "FT": "full",
    "Fine-Tune": "full",
    "BitFit": "bitfit",
    "AdapterD": "adapter_d",
    "AdapterP": "adapter_p",
    "AdapterH": "adapter_h",
    "AdapterL": "adapter_l",
    "FTTop2": "fttop2",
    "PreLayer": "prefix_layer",
    "Prefix": "prefix_layer",
    "LoRA": "lora",
}
GLUE_TASKS = {
    "MNLI": "mnli",
    "SST2": "sst2",
    "MRPC": "mrpc",
    "CoLA": "cola",
    "QNLI": "qnli",
    "QQP": "qqp",
    "RTE": "rte",
    "STSB": "stsb",
}
NLG_PRESETS = {
    "E2E": ("table3_gpt2_medium", "table3_gpt2_large"),
    "DART": ("table13_dart",),
    "WebNLG": ("table14_webnlg",),
}
MODEL_OF_LABEL = {
    "RoBERTa-base": "roberta-base",
    "RoBERTa-large": "roberta-large",
    "DeBERTa-XXL": "deberta-v2-xxlarge",
    "GPT-2 M": "gpt2-medium",
    "GPT-2 L": "gpt2-large",
}
# hyperparams.csv rows (model, method label) -> preset
GLUE_PRESETS = {
    ("RoBERTa-base", "LoRA"): "table2_roberta_base",
    ("RoBERTa-large", "LoRA"): "table2_roberta_large",
    ("RoBERTa-large", "LoRA†"): "table2_roberta_large_adapters",
    ("RoBERTa-large", "AdapterP(0.8M)†"): "table2_roberta_large_adapters",
    ("RoBERTa-large", "AdapterH(0.8M)†"): "table2_roberta_large_adapters",
    ("RoBERTa-large", "AdapterP(3M)†"): "table2_roberta_large_adapters_wide",
    ("RoBERTa-large", "AdapterH(6M)†"): "table2_roberta_large_adapters_wide",
    ("DeBERTa-XXL", "LoRA"): "table2_deberta_xxl",
}


# ---------------------------------------------------------------- sweeps


@cache
def preset_config(preset: str, config_name: str = "config") -> DictConfig:
    """The preset's default job with Hydra's own node (its sweeper params)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name=config_name, overrides=[f"+experiment={preset}"], return_hydra_config=True)


def sweep_jobs(preset: str, *argv: str, config_name: str = "config") -> list[dict[str, str]]:
    """The jobs of ``adaptbench run -m +experiment=<preset> <argv>`` as Hydra's BasicSweeper builds them (the
    preset's sweeper params, then the command line), each completed with the preset's default choices."""
    cfg = preset_config(preset, config_name)
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    overrides = OverridesParser.create().parse_overrides([*params, *argv])
    defaults = {
        "model": cfg.model.name,
        "method": cfg.method.name,
        "task": cfg.get("task", {}).get("name"),
        "seed": str(cfg.seed),
    }
    return [
        {**defaults, **dict(item.split("=", 1) for item in job)}
        for job in BasicSweeper.split_arguments(overrides, None)[0]
    ]


def table_rows(csv_name: str, *models: str, marker: str | None = None) -> Counter:
    """Counter of (model, method) over the rows a paper table prints for ``models``."""
    with open(PAPER / csv_name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return Counter(
        (MODEL_OF_LABEL[row["model"]], METHOD_OF_LABEL[row["method"]])
        for row in rows
        if row["model"] in models and (marker is None or (row.get("marker") == "†") == (marker == "†"))
    )


def swept_rows(*commands: tuple[str, ...]) -> Counter:
    """Counter of (model, method) over the jobs of the given commands, per task and seed combination."""
    jobs = [job for command in commands for job in sweep_jobs(*command)]
    return Counter((job["model"], job["method"]) for job in jobs)


# (paper CSV, its models, its marker, the commands whose jobs must be exactly its rows, tasks, seeds)
SWEEP_CASES = [
    (
        "table2_glue.csv",
        ["RoBERTa-base"],
        None,
        [("table2_roberta_base",), ("table2_roberta_base_wide",)],
        8,
        5,
    ),
    ("table2_glue.csv", ["RoBERTa-large"], "", [("table2_roberta_large",)], 8, 5),
    (
        "table2_glue.csv",
        ["RoBERTa-large"],
        "†",
        [("table2_roberta_large_adapters",), ("table2_roberta_large_adapters_wide",)],
        8,
        5,
    ),
    ("table2_glue.csv", ["DeBERTa-XXL"], None, [("table2_deberta_xxl",)], 8, 5),
    ("table3_e2e.csv", ["GPT-2 M"], None, [("table3_gpt2_medium",), ("table3_gpt2_medium_wide",)], 1, 3),
    ("table3_e2e.csv", ["GPT-2 L"], None, [("table3_gpt2_large",), ("table3_gpt2_large_wide",)], 1, 3),
    (
        "table13_dart.csv",
        ["GPT-2 M", "GPT-2 L"],
        None,
        [
            ("table13_dart",),
            ("table13_dart_wide",),
            ("table13_dart", "model=gpt2-medium", "method=fttop2"),
        ],
        1,
        3,
    ),
    (
        "table14_webnlg.csv",
        ["GPT-2 M", "GPT-2 L"],
        None,
        [
            ("table14_webnlg",),
            ("table14_webnlg_wide",),
            ("table14_webnlg", "model=gpt2-medium", "method=fttop2"),
        ],
        1,
        3,
    ),
]

# The presets checked elsewhere than in SWEEP_CASES, and by which test
OTHER_PRESET_CASES = {
    "table1_latency": "test_table1_latency_preset_holds_the_papers_points",
    "table4_gpt3": "test_tables.py::test_table4_rows_come_from_their_preset",
    "table5_weight_types": "test_table5_rows_adapt_the_same_number_of_parameters",
    "table6_rank": "test_every_cell_matches_appendix_d",
    "cpu_glue_minilm": "test_cpu_reproduction.py",
    "table4_open": "test_presets_open.py::test_table4_open_sweeps_table4s_rows_and_tasks",
    "table4_open_wide": "test_presets_open.py::test_table4_open_sweeps_table4s_rows_and_tasks",
    "table5_open": "test_presets_open.py::test_table5_open_rows_are_table5s",
    "table6_open": "test_presets_open.py::test_table6_open_rows_are_table6s",
    "table15_open": "test_presets_open.py::test_table15_open_sweeps_lora_with_each_prefix",
    "claims_minilm": "test_claims_minilm_selects_on_heldout_rows_and_has_the_probe_row",
    "claims_minilm_adapters": "test_claims_2_to_5_sweep_their_rows_on_the_claims_protocol",
    "claims_minilm_weight_types": "test_claims_2_to_5_sweep_their_rows_on_the_claims_protocol",
    "claims_minilm_rank": "test_claims_2_to_5_sweep_their_rows_on_the_claims_protocol",
    "claims_minilm_prefix": "test_claims_2_to_5_sweep_their_rows_on_the_claims_protocol",
    "beyond_paper": "test_beyond_paper_puts_peft_tuners_beside_table2_at_loras_budget",
}
# Presets on a decoder the user names (the paper's GPT-3 tables): their cells hold every setting (a row file
# per model cannot exist). Their default, SmolLM2-360M, has its architecture in its YAML: they validate offline on
# it; the tiny stand-in below trains where a test needs weights.
OPEN_PRESETS = ("table4_open", "table4_open_wide", "table5_open", "table6_open", "table15_open")
OFFLINE_DECODER = "tiny-llama"


def test_claims_minilm_selects_on_heldout_rows_and_has_the_probe_row():
    """Issue 20's sweep: every job holds out the same 256 training rows, STS-B's head starts at the label mean,
    the probe row is mean-pooled, CoLA and RTE train on their whole sets for 3 epochs, and no cell sets a rate
    (results/claims_minilm/run.sh searches it)."""
    from adaptbench.harness.config.tree import compose_run_config

    for method in ("full", "lora", "linear_probe"):
        for task in ("sst2", "stsb", "rte", "cola"):
            cfg = compose_run_config(["+experiment=claims_minilm", f"method={method}", f"task={task}"])
            assert dict(cfg.task.selection) == {"heldout": 256, "seed": 0}
            assert cfg.task.get("head_bias_init") == ("label_mean" if task == "stsb" else None)
            assert cfg.trainer.lr is None
            whole = task in ("rte", "cola")
            assert (cfg.trainer.max_train_samples, cfg.trainer.epochs) == ((None, 3) if whole else (768, 2))
            assert cfg.method.get("pooling") == ("mean" if method == "linear_probe" else None)


def test_claims_2_to_5_sweep_their_rows_on_the_claims_protocol():
    """Claims 2-5 (results/claims.md): each preset's sweep is its table's rows x tasks, on claim 1's held-out
    protocol; the adapters' widths put |Θ| within 7% of LoRA r = 8's 73,728 (6 layers x 2 x 2 x 384 x 8)."""
    from adaptbench.harness.config.tree import compose_run_config

    lora_params = 6 * 2 * 2 * 384 * 8
    adapters = sweep_jobs("claims_minilm_adapters")
    assert {(job["method"], job["task"]) for job in adapters} == {
        (m, t) for m in ("adapter_h", "adapter_p", "adapter_l") for t in ("sst2", "mrpc")
    }
    widths = {"adapter_h": (8, 2), "adapter_p": (16, 1), "adapter_l": (15, 1)}  # (r, adapters per layer)
    for method, (r, per_layer) in widths.items():
        cfg = compose_run_config(["+experiment=claims_minilm_adapters", f"method={method}", "task=sst2"])
        assert cfg.method.r == r and dict(cfg.task.selection) == {"heldout": 256, "seed": 0}
        down_up = 6 * per_layer * (2 * 384 * r + r + 384)  # both projections with their biases
        assert abs(down_up - lora_params) / lora_params < 0.07
    weight_types = sweep_jobs("claims_minilm_weight_types")
    assert len(weight_types) == 7 * 2 * 3 and {job["method"] for job in weight_types} == {"lora"}
    rank = sweep_jobs("claims_minilm_rank")
    assert sorted({int(job["method.r"]) for job in rank}) == [1, 2, 4, 8, 64] and len(rank) == 5 * 2 * 3
    prefix = sweep_jobs("claims_minilm_prefix")
    assert {(job["method"], int(job["method.prefix_len"])) for job in prefix} == {
        (m, n) for m in ("prefix_embed", "prefix_layer") for n in (2, 8, 32, 64)
    }
    cfg = compose_run_config(["+experiment=claims_minilm_prefix", "method=prefix_embed", "task=sst2"])
    assert cfg.method.infix_len == 0 and cfg.trainer.lr is None


# beyond_paper's rows: (method, |Θ| on MiniLM-L6); the added methods within BUDGET_TOLERANCE of LoRA r = 8's
# 6 x 2 x 2 x 384 x 8 = 73,728, except IA3 (vectors scaling activations: 6 x (384 + 384 + 1536) at T-Few's k, v,
# FFN), the paper's FT and BitFit, which train what they train, and the frozen model's probe (no adaptation: 0)
BEYOND_PAPER = {
    "full": None,
    "bitfit": None,
    "adapter_d": 4 * (2 * 384 * 24 + 24 + 384),
    "adapter_h": 6 * 2 * (2 * 384 * 8 + 8 + 384),
    "adapter_p": 6 * (2 * 384 * 16 + 16 + 384),
    "lora": 6 * 2 * 2 * 384 * 8,
    "peft_dora": 6 * 2 * (2 * 384 * 8 + 384),
    "peft_ia3": 6 * (384 + 384 + 1536),
    "peft_vera": 6 * 2 * (5760 + 384),
    "peft_prompt_tuning": 192 * 384,
    "linear_probe": 0,
}
BUDGET_TOLERANCE = 0.07


def test_beyond_paper_puts_peft_tuners_beside_table2_at_loras_budget():
    """Issue 22's preset: Table 2's methods and DoRA, IA3, VeRA, prompt tuning on SST-2 and MRPC, each row's |Θ|
    (``count_params``, what ``adaptbench params`` prints) its formula, within 7% of LoRA's where the form allows,
    on claim 1's held-out protocol with no rate set (results/beyond_paper_minilm/run.sh searches it)."""
    jobs = sweep_jobs("beyond_paper")
    assert {(job["method"], job["task"], job["model"]) for job in jobs} == {
        (m, t, "minilm-l6") for m in BEYOND_PAPER for t in ("sst2", "mrpc")
    }
    assert len(jobs) == len(BEYOND_PAPER) * 2 and {job["seed"] for job in jobs} == {"1"}
    lora = BEYOND_PAPER["lora"]
    for method, expected in BEYOND_PAPER.items():
        cfg = compose_run_config(["+experiment=beyond_paper", f"method={method}", "task=sst2"])
        assert dict(cfg.task.selection) == {"heldout": 256, "seed": 0} and cfg.trainer.lr is None
        assert cfg.output_root == "results/beyond_paper_minilm"
        task = load_task(cfg.task)
        counted = count_params(cfg.model, cfg.method, task.kind, task.num_labels)["method_params"]
        if expected is not None:
            assert counted == expected, method
        if expected is not None and method not in ("peft_ia3", "linear_probe"):
            assert abs(counted - lora) / lora <= BUDGET_TOLERANCE, method
    script = (
        REPO / "results" / "beyond_paper_minilm" / "run.sh"
    ).read_text()  # searches and trains every row
    streams = [group.split() for group in re.findall(r"for method in ([\w ]+); do", script)]
    assert sorted(m for stream in streams for m in stream) == sorted(BEYOND_PAPER)  # each row once
    assert set(re.findall(r"\[(\w+)\]=[\d.e,-]+", script)) == set(BEYOND_PAPER)
    prompt = compose_run_config(["+experiment=beyond_paper", "method=peft_prompt_tuning", "task=sst2"])
    assert (
        prompt.trainer.max_seq_len - prompt.method.peft_config.num_virtual_tokens == 128
    )  # the others' input


def test_the_preset_case_tables_are_what_conf_holds():
    """Every preset in conf/experiment is a case here (a new preset fails until it has one), and no case names a
    preset that is not there."""
    swept = {command[0] for case in SWEEP_CASES for command in case[3]}
    assert swept.isdisjoint(OTHER_PRESET_CASES)
    assert swept | set(OTHER_PRESET_CASES) == {p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")}


@pytest.mark.parametrize(("csv_name", "models", "marker", "commands", "tasks", "seeds"), SWEEP_CASES)
def test_presets_sweep_every_row_of_their_table(csv_name, models, marker, commands, tasks, seeds):
    """Each published row x task x seed is one job, and no job is outside the table (the RoBERTa-base block:
    FT, BitFit, AdapterD 0.3M, LoRA + AdapterD 0.9M = 5 rows x 8 tasks x 5 seeds = 200 jobs)."""
    expected = {
        row: count * tasks * seeds for row, count in table_rows(csv_name, *models, marker=marker).items()
    }
    assert dict(swept_rows(*commands)) == expected


def test_table2_roberta_base_sweeps_160_jobs_and_its_wide_row_40():
    main = sweep_jobs("table2_roberta_base")
    assert len(main) == 4 * 8 * 5
    assert {job["task"] for job in main} == set(GLUE_TASKS.values())
    assert {job["seed"] for job in main} == {"1", "2", "3", "4", "5"}
    assert len(sweep_jobs("table2_roberta_base_wide")) == 8 * 5


def test_command_line_choices_narrow_the_sweep_to_one_cell():
    jobs = sweep_jobs("table2_roberta_base", "method=lora", "task=rte")
    assert [(job["method"], job["task"], job["seed"]) for job in jobs] == [
        ("lora", "rte", str(s)) for s in range(1, 6)
    ]


@pytest.mark.slow
def test_dry_run_lists_the_narrowed_cell_with_its_hyperparameters(tmp_path):
    """The real command: ``adaptbench run -m +experiment=table2_roberta_base method=lora task=rte dry_run=true``."""
    argv = ["run", "+experiment=table2_roberta_base", "method=lora", "task=rte", "dry_run=true"]
    result = run_cli(*argv, f"output_root={tmp_path}", "-m")
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [job["seed"] for job in jobs] == [1, 2, 3, 4, 5]
    for job in jobs:
        assert (job["method"], job["model"], job["task"]) == ("lora", "roberta-base", "rte")
        assert (job["lr"], job["lr_source"]) == (5e-4, "trainer.lr")
        assert (job["trainer"]["batch_size"], job["trainer"]["epochs"], job["trainer"]["max_seq_len"]) == (
            32,
            80,
            512,
        )
        assert (job["method_config"]["r"], job["method_config"]["alpha"]) == (8, 8)


@pytest.mark.parametrize("preset", RUN_PRESETS)
def test_every_swept_row_has_its_hyperparameter_file(preset):
    """The row files are optional in the defaults list (runs without a preset have none), so a missing one would
    silently train with the method's defaults: every (model, method) a preset sweeps must have its file."""
    for job in sweep_jobs(preset):
        row_file = CONF_DIR / "row" / preset / job["model"] / f"{job['method']}.yaml"
        if preset in OPEN_PRESETS:  # any model: every setting is the cell's
            row_file = CONF_DIR / "cell" / preset / f"{job['method']}_{job['task']}.yaml"
        assert row_file.is_file(), f"{preset}: no {row_file.relative_to(CONF_DIR)}"


# ---------------------------------------------------------------- composing cells


def cell_overrides(preset: str, job: dict[str, str]) -> tuple[str, ...]:
    overrides = [f"+experiment={preset}", *(f"{k}={v}" for k, v in job.items() if k != "seed")]
    if job.get("task") in NLG_DATA:
        folder, data_file = NLG_DATA[job["task"]]
        if (SHARED_DATA / folder).is_dir():
            overrides += [f"task.data_dir={SHARED_DATA / folder}", f"task.train_file={data_file}"]
    return tuple(overrides)


@cache
def composed(overrides: tuple[str, ...]) -> DictConfig:
    return compose_run_config(list(overrides))


def check_cell(overrides: tuple[str, ...]) -> None:
    """Compose and validate (NLG tasks need their data folder to validate: checked where ../shared/data has it)."""
    cfg = composed(overrides)
    if cfg.task.name in NLG_DATA and cfg.task.data_dir is None:
        return
    validate(cfg)


@pytest.mark.parametrize("preset", RUN_PRESETS)
def test_each_preset_composes_and_validates(preset):
    check_cell(cell_overrides(preset, sweep_jobs(preset)[0]))


@pytest.mark.slow
@pytest.mark.parametrize("preset", RUN_PRESETS)
def test_every_cell_composes_and_validates(preset):
    cells = {cell_overrides(preset, job) for job in sweep_jobs(preset)}
    for overrides in sorted(cells):
        check_cell(overrides)


def test_the_readme_cells_carry_the_paper_settings():
    e2e = composed(("+experiment=table3_gpt2_medium", "method=lora", "task=e2e"))
    assert (e2e.trainer.lr, e2e.trainer.batch_size, e2e.trainer.epochs, e2e.trainer.warmup_steps) == (
        2e-4,
        8,
        5,
        500,
    )
    assert e2e.trainer.weight_decay == 0.01
    assert e2e.trainer.extra_args.label_smoothing_factor == 0.1
    assert (e2e.method.r, e2e.method.alpha, e2e.method.dropout) == (4, 32, 0.1)
    assert (e2e.task.num_beams, e2e.task.length_penalty, e2e.task.no_repeat_ngram_size) == (10, 0.9, 4)
    rte = composed(("+experiment=table2_roberta_base", "method=lora", "task=rte"))
    assert (rte.trainer.lr, rte.trainer.batch_size, rte.trainer.epochs, rte.trainer.max_seq_len) == (
        5e-4,
        32,
        80,
        512,
    )
    assert (rte.method.r, rte.method.alpha, list(rte.method.targets)) == (8, 8, ["q", "v"])


def test_without_a_preset_no_row_or_cell_applies():
    plain = composed(("method=lora", "model=roberta-base", "task=rte"))
    assert plain.trainer.lr is None and plain.trainer.epochs == 3


# ---------------------------------------------------------------- against Appendix D (hyperparams.csv)


def number(text: str) -> float:
    return float(re.search(r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?", text.replace(",", "")).group())


# hyperparams.csv name -> (config key, parse); names not listed have no harness key (optimizer: always AdamW;
# init_for_task: init_from, which a user points at their own MNLI record; cls_dropout; the GPT-3 rows)
CHECKED = {
    "learning_rate": ("trainer.lr", number),
    "batch_size": ("trainer.batch_size", number),
    "epochs": ("trainer.epochs", number),
    "warmup": ("trainer.warmup_ratio", number),
    "warmup_steps": ("trainer.warmup_steps", number),
    "lr_schedule": ("trainer.lr_scheduler", str),
    "lora_config": ("method.r", number),
    "lora_alpha": ("method.alpha", number),
    "bottleneck_r": ("method.r", number),
    "max_seq_len": ("trainer.max_seq_len", number),
    "weight_decay": ("trainer.weight_decay", number),
    "lora_dropout": ("method.dropout", number),
    "label_smooth": ("trainer.extra_args.label_smoothing_factor", number),
    "beam_size": ("task.num_beams", number),
    "length_penalty": ("task.length_penalty", number),
    "no_repeat_ngram_size": ("task.no_repeat_ngram_size", number),
}


def paper_cells() -> dict[tuple[str, ...], list[dict]]:
    """hyperparams.csv rows that have a preset, grouped by the overrides of their cell."""
    with open(PAPER / "hyperparams.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cells: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        for preset, model in cell_presets(row):
            method = METHOD_OF_LABEL[re.match(r"[A-Za-z-]+", row["method"]).group()]
            task = GLUE_TASKS.get(row["task"], row["task"].lower())
            job = {"model": model, "method": method, "task": task}
            cells.setdefault(cell_overrides(preset, job), []).append(row)
    return cells


def cell_presets(row: dict) -> list[tuple[str, str]]:
    if row["model"] == "GPT-2 M/L":
        presets = NLG_PRESETS[row["task"]]
        if len(presets) == 2:
            return list(zip(presets, ("gpt2-medium", "gpt2-large"), strict=True))
        return [(presets[0], "gpt2-medium"), (presets[0], "gpt2-large")]
    preset = GLUE_PRESETS.get((row["model"], row["method"]))
    return [(preset, MODEL_OF_LABEL[row["model"]])] if preset else []


PAPER_CELLS = paper_cells()


def featured_cells() -> list[tuple[str, ...]]:
    """The cells the tables single out: every one where the paper and the scripts disagree, and the first task of
    each (preset, model, method) block."""
    first_of_block: dict[tuple[str, ...], tuple[str, ...]] = {}
    for cell in PAPER_CELLS:
        first_of_block.setdefault(cell[:3], cell)
    disagreeing = {
        cell for cell, rows in PAPER_CELLS.items() if any(r["paper_eq_repo"] == "NO" for r in rows)
    }
    return sorted(disagreeing | set(first_of_block.values()))


FEATURED = featured_cells()


def assert_cell_matches_paper(overrides: tuple[str, ...]) -> None:
    cfg = composed(overrides)
    for row in PAPER_CELLS[overrides]:
        if row["hyperparameter"] not in CHECKED or not row["value_paper"].strip():
            continue
        key, parse = CHECKED[row["hyperparameter"]]
        expected = parse(row["value_paper"])
        assert OmegaConf.select(cfg, key) == expected, f"{overrides}: {key} for {row['hyperparameter']}"
        if row["hyperparameter"] == "lora_config":
            assert list(cfg.method.targets) == ["q", "v"]


def test_the_paper_lists_enough_cells():
    assert len(PAPER_CELLS) >= 70 and len(FEATURED) >= 12


@pytest.mark.parametrize("overrides", FEATURED, ids=" ".join)
def test_featured_cells_match_appendix_d(overrides):
    assert_cell_matches_paper(overrides)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", sorted(PAPER_CELLS), ids=" ".join)
def test_every_cell_matches_appendix_d(overrides):
    assert_cell_matches_paper(overrides)


def preset_files(overrides: tuple[str, ...]) -> list[Path]:
    """The YAML files that set a cell's values: its preset (and the one a _wide preset extends), row and cell."""
    choices = dict(item.lstrip("+").split("=", 1) for item in overrides)
    preset = choices["experiment"]
    files = [CONF_DIR / "experiment" / f"{name}.yaml" for name in {preset, preset.removesuffix("_wide")}]
    files.append(CONF_DIR / "row" / preset / choices["model"] / f"{choices['method']}.yaml")
    files.append(CONF_DIR / "cell" / preset / f"{choices['method']}_{choices['task']}.yaml")
    return [path for path in files if path.is_file()]


@pytest.mark.parametrize("overrides", FEATURED, ids=" ".join)
def test_where_paper_and_scripts_disagree_a_comment_names_both(overrides):
    comments = " ".join(
        line.split("#", 1)[1]
        for path in preset_files(overrides)
        for line in path.read_text().splitlines()
        if "#" in line
    )
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", comments.replace(",", ""))}
    for row in PAPER_CELLS[overrides]:
        if row["paper_eq_repo"] == "NO":
            assert number(row["value_repo"]) in numbers, (
                f"{overrides}: {row['hyperparameter']} {row['value_repo']}"
            )
            assert number(row["value_paper"]) in numbers, (
                f"{overrides}: {row['hyperparameter']} {row['value_paper']}"
            )


# ---------------------------------------------------------------- Table 5 and Table 1


@pytest.mark.slow
def test_table5_rows_adapt_the_same_number_of_parameters():
    """Table 5 compares target sets at one budget: r x number of matrices is the same in every row."""
    counts = {}
    for job in sweep_jobs("table5_weight_types", "seed=1"):
        cfg = composed(("+experiment=table5_weight_types", f"weight_types={job['weight_types']}"))
        task = load_task(cfg.task)
        counts[job["weight_types"]] = count_params(cfg.model, cfg.method, task.kind, task.num_labels)[
            "method_params"
        ]
    assert len(counts) == 7 and len(set(counts.values())) == 1


def test_table1_latency_preset_holds_the_papers_points():
    """Composed by ``adaptbench latency`` (conf/latency.yaml): GPT-2 medium, 100 trials, and a grid that holds the
    three (batch, seq, |Θ|) points of Table 1 for its three methods."""
    cfg = preset_config("table1_latency", "latency")
    assert (cfg.model.name, cfg.latency.trials) == ("gpt2-medium", 100)
    points = {
        (job["method"], job["latency.batch"], job["latency.seq"], job["latency.budget"])
        for job in sweep_jobs("table1_latency", config_name="latency")
    }
    with open(PAPER / "table1_latency.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            methods = ["lora"] if row["method"] == "Fine-Tune/LoRA" else [METHOD_OF_LABEL[row["method"]]]
            for method in methods:
                assert (method, row["batch_size"], row["seq_len"], row["adapter_params_theta"]) in points
