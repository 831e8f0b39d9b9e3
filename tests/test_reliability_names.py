"""Names that become paths go through one check for every command that writes, and text from records is
printed escaped: ``adaptbench latency`` refuses a model name that would leave ``output_root`` as ``run`` does;
``--out`` that cannot be written is one line; a record's terminal escape sequences are never printed raw."""

from __future__ import annotations

import pytest
from _records_util import run_record, write_records

from conftest import run_cli

LATENCY = ["model=tiny-bert", "method=lora", "latency.trials=1", "latency.warmup=0", "latency.seq=8"]


@pytest.mark.parametrize("name", ["../escaped", "/tmp/adaptbench-absolute", "a/b"])
def test_latency_refuses_a_model_name_that_leaves_output_root(tmp_path, name):
    root = tmp_path / "root"
    result = run_cli("latency", *LATENCY, f"model.name={name}", f"output_root={root}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"adaptbench: error: model.name={name!r} is not valid: it names a folder of the results; use letters, "
        "digits and . _ + - (no '/', no leading '.')"
    ]
    assert not list(tmp_path.rglob("*.json"))
    assert not (tmp_path / "escaped").exists() and not root.exists()


def test_table_out_that_is_a_folder_is_one_line(tmp_path):
    root = write_records(tmp_path / "runs", [run_record("lora", 1, 0.9)])
    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = run_cli("table", str(root), "--out", str(folder))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"adaptbench: error: --out {folder}: it is a folder, not a file"
    ]


def test_plot_out_that_is_a_file_is_one_line(tmp_path):
    root = write_records(tmp_path / "runs", [run_record("lora", 1, 0.9)])
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = run_cli("plot", str(root), "--out", str(a_file))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"adaptbench: error: --out {a_file}: it is a file, not a folder"
    ]


def test_table_prints_escape_sequences_of_a_record_escaped(tmp_path):
    hostile = "lora\x1b[2J\x1b]0;owned\x07"
    root = write_records(tmp_path / "runs", [run_record(hostile, 1, 0.9), run_record("bitfit", 1, 0.8)])
    result = run_cli("table", str(root))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "lora\\x1b[2J\\x1b]0;owned\\x07" in result.stdout
    out = tmp_path / "table.txt"
    assert run_cli("table", str(root), "--out", str(out)).returncode == 0
    assert "\x1b" not in out.read_text()
