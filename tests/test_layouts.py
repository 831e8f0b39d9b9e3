"""Table layouts are data (conf/layout/*.yaml): the case table below must equal what conf/ holds, every column
names a column of its paper CSV, and a new layout is one YAML file, rendered with no Python."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from _records_util import run_record, write_records

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import CONF_DIR
from adaptbench.harness.config.validate import TrainerConfig
from adaptbench.harness.report.layouts import layouts as packaged_layouts
from adaptbench.harness.report.layouts import read_layout
from conftest import run_cli

PAPER = Path(__file__).resolve().parents[1] / "results" / "paper"
# layout -> (the paper CSV it compares with, its columns' tasks, how seeds aggregate)
LAYOUT_CASES = {
    "glue": ("table2_glue", {"mnli", "sst2", "mrpc", "cola", "qnli", "qqp", "rte", "stsb"}, "median"),
    "e2e": ("table3_e2e", {"e2e"}, "mean"),
    "dart": ("table13_dart", {"dart"}, "mean"),
    "webnlg": ("table14_webnlg", {"webnlg"}, "mean"),
    "table4_open": ("table4_gpt3", {"wikisql", "mnli", "samsum"}, "mean"),
    "table5_open": ("table5_weight_types", {"wikisql", "mnli"}, "mean"),
    "table6_open": ("table6_rank", {"wikisql", "mnli"}, "mean"),
    "table15_open": ("table15_gpt3", {"wikisql", "mnli"}, "mean"),
}


def test_the_case_table_is_what_conf_holds():
    found = {
        name: (layout.paper_table, {c.task for c in layout.columns}, layout.agg)
        for name, layout in packaged_layouts().items()
    }
    assert found == LAYOUT_CASES


@pytest.mark.parametrize("name", sorted(LAYOUT_CASES))
def test_every_column_names_a_column_of_its_paper_csv(name):
    layout = packaged_layouts()[name]
    with open(PAPER / f"{layout.paper_table}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    keys = set(rows[0])
    keyed = layout.paper_rows
    if keyed is not None and keyed.unpivot_key:  # Table 6: the scores' keys are the values of one column
        keys = {row[keyed.unpivot_key] for row in rows}
    if keyed is not None:  # every setting column exists
        assert {col.column for _, col in keyed.settings} <= set(rows[0])
    assert [c.paper_key for c in layout.columns if c.paper_key not in keys] == []


def test_a_new_layout_is_one_yaml_file(tmp_path):
    """A task no packaged layout has gets its table from a YAML file in a folder of the user's."""
    records = [
        run_record(m, s, v)
        for m, vs in {"full": [0.9, 0.8], "lora": [0.7, 0.75]}.items()
        for s, v in enumerate(vs, 1)
    ]
    write_records(tmp_path / "out", records)
    layout_dir = tmp_path / "conf" / "layout"
    layout_dir.mkdir(parents=True)
    (layout_dir / "lexicon.yaml").write_text(
        "title: VADER polarity (x100)\naggregation: mean\n"
        "columns:\n  - {header: Polarity acc., task: vader, metric: accuracy, scale: 100, digits: 2}\n"
    )
    result = run_cli("table", str(tmp_path / "out"), "--layout-dir", str(layout_dir), "--layout", "lexicon")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("**VADER polarity (x100): mean over seeds")
    assert "| Polarity acc. |" in lines[2]
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith("| minilm-l6")}
    assert "85.00" in rows["FT"] and "72.50" in rows["LoRA"]  # means x 100, 2 digits
    assert (
        run_cli("table", str(tmp_path / "out"), "--layout", "lexicon").returncode == 2
    )  # not without the folder


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: t\ncolumns: []\n", "columns is empty"),
        ("title: t\naggregation: mode\ncolumns: [{header: h, task: t, metric: m}]\n", "aggregation='mode'"),
        ("title: t\ncolumns: [{header: h, task: t, metric: m, scael: 100}]\n", r"columns\[0\].*scael"),
        ("title: t\ncolums: []\n", "colums"),
        ("title: [unclosed\n", "not a readable layout"),
    ],
)
def test_a_bad_layout_file_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        read_layout(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_the_trainer_defaults_are_the_trainer_dataclass():
    """conf/trainer/default.yaml and TrainerConfig say the same: same keys, same defaults."""
    assert yaml.safe_load((CONF_DIR / "trainer" / "default.yaml").read_text()) == asdict(TrainerConfig())


def test_a_record_without_a_where_key_counts_as_its_tasks_default():
    """A record made before a task setting existed ran with the task's default: an MNLI record without ``form``
    classified (not Table 4's generation column), a WebNLG record without ``categories`` scored all of them."""
    from adaptbench.harness.report.layouts import Column

    generation = Column("MNLI-m", "mnli", "accuracy", where=(("form", "generation"),))
    classification = Column("MNLI", "mnli", "accuracy", where=(("form", "classification"),))
    old_mnli = {"task": "mnli", "config": {"task": {"name": "mnli"}}}
    assert not generation.selects(old_mnli)
    assert classification.selects(old_mnli)
    assert generation.selects({"task": "mnli", "config": {"task": {"form": "generation"}}})
    webnlg = {"task": "webnlg", "config": {"task": {}}}
    by_split = {s: Column(s, "webnlg", "BLEU", where=(("categories", s),)) for s in ("unseen", "seen", "all")}
    assert [s for s, column in by_split.items() if column.selects(webnlg)] == ["all"]
