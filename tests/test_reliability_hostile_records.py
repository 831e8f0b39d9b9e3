"""Tables and plots over hostile record folders: a file whose fields have the wrong types, NaN, null metrics or
JSON nested past the parser's limit is skipped with one line naming it and why; the good records still render."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from _records_util import run_record, write_records

from adaptbench.harness.records.schema import RecordError
from adaptbench.harness.records.store import read_record
from conftest import run_cli


def good() -> dict:
    return run_record("lora", 1, 0.8)


def with_change(path: tuple[str, ...], value: object) -> dict:
    record = copy.deepcopy(good())
    node = record
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return record


HOSTILE = {
    "seed_text": (json.dumps(with_change(("seed",), "one")), "seed is str"),
    "seed_bool": (json.dumps(with_change(("seed",), True)), "seed is bool"),
    "config_list": (json.dumps(with_change(("config",), [])), "config is list"),
    "status_unknown": (json.dumps(with_change(("status",), "done")), "status='done'"),
    "metrics_null": (json.dumps(with_change(("best", "metrics"), None)), "best.metrics is NoneType"),
    "metric_text": (
        json.dumps(with_change(("best", "metrics", "accuracy"), "high")),
        "best.metrics.accuracy is str",
    ),
    "best_list": (json.dumps(with_change(("best",), [0.9])), "best is list"),
    "params_text": (
        json.dumps(with_change(("params", "method_params"), "many")),
        "params.method_params is str",
    ),
    "nan": (json.dumps(good()).replace('"accuracy": 0.8', '"accuracy": NaN'), "NaN is not strict JSON"),
    "deep": ('{"a": ' * 100_000 + "1" + "}" * 100_000, "RecursionError"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_record_is_refused_by_name(tmp_path, name):
    text, why = HOSTILE[name]
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    with pytest.raises(RecordError) as err:
        read_record(path)
    assert str(err.value).startswith(str(path)) and why in str(err.value)


def test_table_and_plot_skip_them_in_one_line_each(tmp_path):
    write_records(tmp_path, [run_record("lora", 1, 0.8), run_record("full", 1, 0.9)])
    folder = tmp_path / "records" / "vader" / "minilm-l6"
    for name, (text, _) in HOSTILE.items():
        (folder / f"{name}.json").write_text(text)
    table = run_cli("table", str(tmp_path))
    assert table.returncode == 0, table.stderr
    skipped = [line for line in table.stderr.splitlines() if "skipped:" in line]
    assert len(skipped) == len(HOSTILE) and "Traceback" not in table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("| minilm-l6")]
    assert len(rows) == 2  # FT and LoRA, from the two good records
    plot = run_cli("plot", str(tmp_path), "--out", str(tmp_path / "figures"))
    assert plot.returncode == 0, plot.stderr
    assert "Traceback" not in plot.stderr and (tmp_path / "figures" / "score_vs_params.png").is_file()


def test_every_committed_record_passes_the_schema():
    for path in sorted((Path(__file__).resolve().parents[1] / "results").rglob("records/**/*.json")):
        read_record(path)
