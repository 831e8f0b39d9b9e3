"""Bad input files and help requests: one line ``adaptbench: error: <file>[:line]: <what>`` with exit 2, or the
help text with exit 0, never a traceback (issue 19, class "tracebacks on bad files and paths")."""

from __future__ import annotations

import pytest

from adaptbench.harness.api.errors import DataError
from adaptbench.harness.api.loading import load_task
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.tasks.nlg import read_e2e_pairs
from conftest import run_cli

HUGE = 200_000  # over csv's default field size limit (131,072)


def classification_task(train, dev):
    cfg = compose_run_config(
        ["model=tiny-bert", "method=lora", "trainer=tiny", "task=text_classification",
         f"task.train_file={train}", f"task.eval_file={dev}"]
    )  # fmt: skip
    return load_task(cfg.task)


def test_a_csv_field_over_the_csv_limit_is_bad_data_at_its_line(tmp_path):
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text('text,label\nfine,0\n"' + "x" * HUGE + '",1\n')
    dev.write_text("text,label\nok,0\nno,1\n")
    with pytest.raises(DataError, match=rf"^{train}:3: not valid CSV \(field larger than field limit"):
        classification_task(train, dev).load()


def test_an_e2e_csv_field_over_the_limit_is_bad_data(tmp_path):
    path = tmp_path / "devset.csv"
    path.write_text('mr,ref\n"name[x]","' + "y" * HUGE + '"\n')
    with pytest.raises(DataError, match=rf"^{path}:2: not valid CSV"):
        read_e2e_pairs(path)


def test_the_cli_reports_it_in_one_line(tmp_path):
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text('text,label\n"' + "x" * HUGE + '",1\n')
    dev.write_text("text,label\nok,0\nno,1\n")
    result = run_cli(
        "run", "model=tiny-bert", "method=lora", "trainer=tiny", "task=text_classification",
        f"task.train_file={train}", f"task.eval_file={dev}", f"output_root={tmp_path / 'out'}",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"adaptbench: error: {train}:2: not valid CSV")
    assert "Traceback" not in result.stderr


def test_params_help_prints_help_and_counts_nothing():
    result = run_cli("params", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: adaptbench params")
    assert "method_params" not in result.stdout


def test_top_level_help_exits_zero():
    result = run_cli("--help")
    assert result.returncode == 0 and "usage: adaptbench" in result.stdout
