"""The committed CPU reproduction (``results/cpu_glue_minilm``, made by ``results/cpu_glue_minilm/run.sh``): its
table re-renders from its records byte for byte, the grid is whole, the full-FT and LoRA medians against each
task's majority-class / constant-prediction baseline (the cells that do not clear it are listed, with the reason,
and fail here if a rerun clears them), and the Section 7 analyses of its committed LoRA tensors give the committed
numbers. No training here: the records are read as committed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from _records_util import run_record, write_records

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.store import iter_records
from adaptbench.harness.report.grid import Row, build_rows
from adaptbench.harness.report.layouts import layouts
from adaptbench.harness.report.tables import main
from adaptbench.harness.run.plan import plan_job
from conftest import REPO, SHARED_DATA

RESULTS = REPO / "results" / "cpu_glue_minilm"
TABLE = RESULTS / "table.md"
METHODS = ("full", "lora", "bitfit", "adapter_h", "adapter_p", "prefix_layer")
TASKS = ("sst2", "mrpc", "cola", "stsb", "rte")
SEEDS = (1, 2, 3)
# The grid's LoRA rank; the extra r = 64 runs (Section 7) form their own row of the table.
GRID_RANK = 8
# Tasks scored by a correlation (CoLA: MCC, STS-B: Pearson): a constant prediction scores 0.
CORRELATION_TASKS = ("cola", "stsb")
TABLE_METRIC = {"cola": "matthews_correlation", "stsb": "pearson"}
GLUE_HEADERS = {column.task: column.header for column in layouts()["glue"].columns}


@pytest.fixture(scope="module")
def records() -> list[Mapping[str, Any]]:
    """The committed run records; skips while the sweep has not been run and committed."""
    if not (RESULTS / "records").is_dir() or not TABLE.is_file():
        pytest.skip(
            f"the CPU reproduction is not committed yet ({RESULTS.relative_to(REPO)}/records and table.md): "
            "run `bash results/cpu_glue_minilm/run.sh` from the repository root"
        )
    return list(iter_records(RESULTS))


def is_rank_run(record: Mapping[str, Any]) -> bool:
    """One of the extra LoRA runs at another rank than the grid's (Section 7), not a grid run."""
    return record["method"] == "lora" and record["config"]["method"]["r"] != GRID_RANK


def grid_rows(records: Sequence[Mapping[str, Any]]) -> dict[str, Row]:
    """The GLUE table's rows of the main grid by method (the LoRA row of rank 8, not the r = 64 one)."""
    rows = {}
    for row in build_rows(records, layouts()["glue"]):
        if dict(row.settings).get("r", GRID_RANK) == GRID_RANK:
            rows[row.method] = row
    return rows


def task_baseline(records: Sequence[Mapping[str, Any]], task: str) -> float:
    """What predicting without the input scores on this task's evaluation subset, in the table's unit: 0 for a
    correlation, else the majority class's accuracy the runs recorded (one dev subset: every seed agrees)."""
    if task in CORRELATION_TASKS:
        return 0.0
    majority = {
        r["best"]["metrics"]["majority_baseline"] for r in records if r["task"] == task and r.get("best")
    }
    assert len(majority) == 1, f"{task}: runs disagree on the majority baseline {sorted(majority)}"
    return 100.0 * majority.pop()


def test_committed_table_rerenders_from_committed_records(
    records: list[Mapping[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same command as run.sh, from the repository root
    monkeypatch.chdir(REPO)
    out = tmp_path / "table.md"
    assert main([str(RESULTS.relative_to(REPO)), "--compare", "paper", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == TABLE.read_text(encoding="utf-8"), (
        "results/cpu_glue_minilm/table.md differs from the table its records give: rerun the table command "
        "of results/cpu_glue_minilm/run.sh"
    )


def test_grid_is_whole(records: list[Mapping[str, Any]]) -> None:
    grid = {
        (r["method"], r["task"], r["seed"])
        for r in records
        if r.get("status") == "complete" and not is_rank_run(r)
    }
    missing = {(m, t, s) for m in METHODS for t in TASKS for s in SEEDS} - grid
    assert not missing, f"{len(missing)} grid runs lack a complete record, e.g. {sorted(missing)[:5]}"


# run.sh's second sweep: Section 7's LoRA runs at r = 64 on SST-2 (the grid's r = 8 runs are the other side)
RANK_RUNS = (("lora", "sst2", 1, "method.r=64"), ("lora", "sst2", 2, "method.r=64"))


def test_every_committed_record_is_a_job_of_the_committed_preset(
    records: list[Mapping[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records are what the preset as committed makes: every job of run.sh's two sweeps, composed as the CLI
    composes it, names (by its config hash) a committed record, and no other record is committed. A preset edit
    that changes a result-changing setting fails here until the sweep is rerun."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the preset's jobs validate against the GLUE files in {SHARED_DATA}, which is absent")
    monkeypatch.chdir(REPO)  # the preset's data_dir and output_root are relative to the repository root
    jobs = [(m, t, s) for m in METHODS for t in TASKS for s in SEEDS] + list(RANK_RUNS)
    expected = set()
    for method, task, seed, *settings in jobs:
        overrides = [
            "+experiment=cpu_glue_minilm",
            f"method={method}",
            f"task={task}",
            f"seed={seed}",
            *settings,
        ]
        expected.add(plan_job(compose_run_config(overrides)).path)
    committed = {path.relative_to(REPO) for path in (RESULTS / "records").rglob("*.json")}
    assert len(records) == len(committed)
    assert sorted(map(str, committed - expected)) == [], (
        "records no job of the preset makes (stale or edited)"
    )
    assert sorted(map(str, expected - committed)) == [], "jobs of the preset with no committed record"


@pytest.mark.parametrize(("method", "task"), [(m, t) for m in ("full", "lora") for t in TASKS])
def test_full_and_lora_medians_beat_the_task_baseline(
    records: list[Mapping[str, Any]], method: str, task: str
) -> None:
    cell = grid_rows(records)[method].cells[GLUE_HEADERS[task]]
    assert cell.n == len(SEEDS), f"{method} on {task}: {cell.n} seeds"
    score, baseline = cell.value("median"), task_baseline(records, task)
    assert score > baseline, f"{method} on {task}: median {score:.1f}, baseline {baseline:.1f}"


def test_a_setting_that_changes_only_between_tasks_keeps_one_row(tmp_path: Path, capsys) -> None:
    """The preset gives CoLA and RTE their whole training sets and the PEFT methods another rate there
    (conf/cell/cpu_glue_minilm): LoRA stays one row across tasks, while its r = 64 runs, which differ from r = 8
    on the same task, get their own row."""
    records = []
    for seed in SEEDS:
        for task, samples, lr, score in (("sst2", 768, 3e-3, 0.80), ("cola", None, 5e-4, 0.30)):
            record = run_record(
                "lora", seed, score, task=task, metric=TABLE_METRIC.get(task, "accuracy"), method_cfg={"r": 8}
            )
            record["config"]["trainer"] = {"max_train_samples": samples, "lr": lr}
            records.append(record)
        records.append(run_record("lora", seed, 0.79, task="sst2", method_cfg={"r": 64}))
    main([str(write_records(tmp_path, records)), "--layout", "glue"])
    rows = {
        line.split(" | ")[1]: line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| minilm")
    }
    assert set(rows) == {"LoRA (r=8)", "LoRA (r=64)"}
    assert "| 30.0 ±0.0 n=3 |" in rows["LoRA (r=8)"] and "| 80.0 ±0.0 n=3 |" in rows["LoRA (r=8)"]


# --------------------------------------------------------------------------------------------- Section 7
ANALYSIS = RESULTS / "analysis"
# The committed analyses (results/cpu_glue_minilm/analysis/<name>.txt, made by run.sh): LoRA on SST-2 at r = 8
# and r = 64 (Figure 3) and two seeds at r = 64 (Figure 4); (rank, seed) of each run.
SUBSPACE_PAIRS = {
    "subspace_q_r8_r64": ("q", (8, 1), (64, 1)),
    "subspace_v_r8_r64": ("v", (8, 1), (64, 1)),
    "subspace_q_r64_seeds": ("q", (64, 1), (64, 2)),
}


def lora_sst2_record(records: Sequence[Mapping[str, Any]], rank: int, seed: int) -> str:
    """The record of LoRA on SST-2 at this rank and seed, relative to the repository root."""
    (record,) = (
        r
        for r in records
        if r["method"] == "lora" and r["task"] == "sst2" and r["seed"] == seed
        and r["config"]["method"]["r"] == rank
    )  # fmt: skip
    return f"{RESULTS.relative_to(REPO)}/records/sst2/{record['model']}/{record['run_name']}.json"


@pytest.mark.parametrize("name", list(SUBSPACE_PAIRS))
def test_subspace_of_committed_lora_runs_prints_the_committed_grid(
    records: list[Mapping[str, Any]],
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from adaptbench.harness.measure.analyze import main as analyze

    monkeypatch.chdir(REPO)
    weight, first, second = SUBSPACE_PAIRS[name]
    heatmap = tmp_path / f"{name}.png"
    runs = [lora_sst2_record(records, *first), lora_sst2_record(records, *second)]
    assert analyze(["subspace", *runs, "--weight", weight, "--out", str(heatmap)]) == 0
    printed = capsys.readouterr().out
    grid = [line.split() for line in printed.splitlines() if line.startswith("i=")]
    assert [row[0] for row in grid] == [f"i={i}" for i in range(1, 9)]
    assert all(len(row) == 9 and all(0.0 <= float(v) <= 1.0 for v in row[1:]) for row in grid)
    assert heatmap.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    committed = (ANALYSIS / f"{name}.txt").read_text(encoding="utf-8")
    assert printed.split("heatmap:")[0] == committed.split("heatmap:")[0]


@pytest.mark.parametrize("rank", [8, 64])
def test_amplification_of_committed_lora_runs_gives_the_committed_numbers(
    records: list[Mapping[str, Any]],
    rank: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from adaptbench.harness.measure.analyze import main as analyze

    monkeypatch.chdir(REPO)
    assert analyze(["amplification", lora_sst2_record(records, rank, 1), "--weight", "q", "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    committed = json.loads((ANALYSIS / f"amplification_q_r{rank}.json").read_text(encoding="utf-8"))
    assert numbers.keys() == committed.keys()
    for key, value in committed.items():
        assert numbers[key] == (pytest.approx(value, rel=1e-6) if isinstance(value, float) else value), key
    # what the paper's Table 7 reads: ΔW's own directions are weaker in W than W's top directions, and
    # stronger than a random subspace's
    assert numbers["projected_on_random"] < numbers["projected_on_delta"] < numbers["projected_on_w"]


# --------------------------------------------------------------------------------------------- README
README = RESULTS / "README.md"


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row in ``text`` (separator rows left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_readme_table_numbers_are_the_records(records: list[Mapping[str, Any]]) -> None:
    """Every cell of the README's table is table.md's cell of the same row and task (table.md re-renders from
    the records above), and the README's generated parts are what the records give now."""
    from adaptbench.harness.report.readme import generated_parts

    text = README.read_text(encoding="utf-8")
    parts = generated_parts(text, records)
    assert "table" in parts, "results/cpu_glue_minilm/README.md has no generated table part"
    for name, (written, generated) in parts.items():
        assert written == generated, (
            f"README part {name!r} is stale: run python -m adaptbench.harness.report.readme results/cpu_glue_minilm"
        )
    header, *rows = markdown_rows(parts["table"][0])
    scores = TABLE.read_text(encoding="utf-8").split("**Cost per method")[0]  # not the cost section after it
    full_header, *full_rows = markdown_rows(scores)
    ours = {row[1]: dict(zip(full_header, row, strict=True)) for row in full_rows if row[0] == "minilm-l6"}
    assert {row[0] for row in rows} == set(ours)
    for row in rows:
        for column, cell in zip(header, row, strict=True):
            expected = ours[row[0]]["Method" if column == "Method" else column]
            assert cell == expected.removesuffix(" [paper -]"), (row[0], column)
