"""The committed CPU reproduction (``results/cpu_glue_minilm``, made by ``results/cpu_glue_minilm/run.sh``): its
table re-renders from its records byte for byte, the grid is whole, and the full-FT and LoRA rows beat every task's
majority-class / constant-prediction baseline. No training here: the records are read as committed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from _records_util import run_record, write_records

from adaptbench.harness.records import iter_records
from adaptbench.harness.tables import LAYOUTS, Row, build_rows, main
from conftest import REPO

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
    for row in build_rows(records, LAYOUTS["glue"]):
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


@pytest.mark.parametrize("method", ["full", "lora"])
def test_full_and_lora_rows_beat_each_task_baseline(records: list[Mapping[str, Any]], method: str) -> None:
    row = grid_rows(records)[method]
    columns = {c.task: c for c in LAYOUTS["glue"].columns}
    not_above = []
    for task in TASKS:
        cell = row.cells[columns[task].header]
        assert cell.n == len(SEEDS), f"{method} on {task}: {cell.n} seeds"
        score, baseline = cell.value("median"), task_baseline(records, task)
        if not score > baseline:
            not_above.append(f"{task} {score:.1f} (baseline {baseline:.1f})")
    assert not not_above, f"{method}: median not above the baseline on {', '.join(not_above)}"


def test_a_setting_that_changes_only_between_tasks_keeps_one_row(tmp_path: Path, capsys) -> None:
    """The preset gives CoLA and RTE larger samples (conf/cell/cpu_glue_minilm): FT stays one row across tasks,
    while LoRA's r = 64 runs, which differ from r = 8 on the same task, get their own row."""
    records = []
    for seed in SEEDS:
        for task, samples, score in (("sst2", 512, 0.80), ("cola", 2000, 0.30)):
            record = run_record("full", seed, score, task=task, metric=TABLE_METRIC.get(task, "accuracy"))
            record["config"]["trainer"] = {"max_train_samples": samples}
            records.append(record)
        records += [
            run_record("lora", seed, 0.7 + r / 1000, task="sst2", method_cfg={"r": r}) for r in (8, 64)
        ]
    main([str(write_records(tmp_path, records)), "--layout", "glue"])
    rows = {
        line.split(" | ")[1] for line in capsys.readouterr().out.splitlines() if line.startswith("| minilm")
    }
    assert rows == {"FT", "LoRA (r=8)", "LoRA (r=64)"}
