"""Bad data: one line naming the file and the line (``adaptbench: error: <file>:<line>: <what is wrong>``)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from adaptbench.harness.api.errors import ConfigError, DataError
from adaptbench.harness.api.loading import load_task
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.plan import plan_job
from adaptbench.harness.run.tensors import load_trainable, save_trainable
from conftest import run_cli

SST2_HEADER = "sentence\tlabel\n"


def read(task: str, path: Path):
    return load_task(compose_run_config([f"task={task}", "model=tiny-bert"]).task).read_tsv(path)


def write(tmp_path: Path, content: str | bytes, name: str = "train.tsv") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    ("task", "content", "message"),
    [
        ("sst2", "", r"train\.tsv: empty file$"),
        ("sst2", SST2_HEADER, r"train\.tsv: no examples \(only a header\)$"),
        (
            "sst2",
            (SST2_HEADER + "good\t1\n").encode() + b"bad \xff\t0\n",
            r"train\.tsv:3: not utf-8 text \(byte 0xff\)",
        ),
        (
            "sst2",
            SST2_HEADER + "fine\t1\n" + "x" * (csv.field_size_limit() + 1) + "\t0\n",
            r"train\.tsv:3: field larger",
        ),
        (
            "sst2",
            SST2_HEADER + "fine\t1\nfine\tmaybe\n",
            r"train\.tsv:3: label 'maybe' is not one of negative",
        ),
        ("sst2", SST2_HEADER + "fine\t1\nno label\n", r"train\.tsv:3: fewer than 2 tab-separated fields"),
        (
            "stsb",
            "index\tsentence1\tsentence2\tscore\n0\ta\tb\t4.2\n1\ta\tb\tfive\n",
            r"train\.tsv:3: score 'five'",
        ),
    ],
)
def test_bad_glue_files_name_the_file_and_line(tmp_path, task, content, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError, match=message) as err:
        read(task, path)
    assert str(err.value).startswith(f"{path}:") and "\n" not in str(err.value)


def test_a_bad_lexicon_line_is_named(tmp_path):
    lexicon = write(tmp_path, "good\t1.5\t0.5\t[1]\nodd\tlots\t0.1\t[2]\n", "lexicon.txt")
    cfg = compose_run_config(["task=vader", "model=tiny-bert", f"task.lexicon={lexicon}"])
    with pytest.raises(DataError, match=rf"^{lexicon}:2: rating 'lots' is not a number$"):
        load_task(cfg.task).load()


def test_a_corrupt_tensors_file_is_named(tmp_path):
    model = nn.Linear(4, 2)
    path = tmp_path / "trainable.safetensors"
    save_trainable(model, path)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match=rf"^{path}: truncated"):
        load_trainable(model, path)
    path.write_bytes(b"not tensors at all")
    with pytest.raises(DataError, match=rf"^{path}: "):
        load_trainable(model, path)
    torch.manual_seed(0)  # a whole file still loads
    save_trainable(model, path)
    load_trainable(nn.Linear(4, 2), path)


def test_a_wrong_init_from_path_is_one_line(tmp_path):
    missing = tmp_path / "no-such-run.json"
    with pytest.raises(ConfigError, match=rf"^init_from='{missing}' is not valid: no such file$"):
        plan_job(compose_run_config(["model=tiny-bert", "trainer=tiny", f"init_from={missing}"]))


def test_the_cli_reports_bad_data_in_one_line(tmp_path):
    data = tmp_path / "sst2"
    data.mkdir()
    write(data, SST2_HEADER + "fine\t1\n")
    (data / "dev.tsv").write_bytes(SST2_HEADER.encode() + b"caf\xe9\t1\n")
    result = run_cli(
        "run", "model=tiny-bert", "method=lora", "task=sst2", "trainer=tiny", f"task.data_dir={data}",
        f"output_root={tmp_path / 'out'}",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"adaptbench: error: {data / 'dev.tsv'}:2: not utf-8 text (byte 0xe9)"
    )
