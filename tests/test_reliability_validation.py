"""Validate everything before the model is built: each bad setting fails at once, in one line naming it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run import job as runner
from adaptbench.harness.run.job import run
from adaptbench.harness.run.plan import plan_job
from conftest import run_cli

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.lr=nan", r"trainer\.lr=nan is not valid: must be a finite number"),
        ("seed=-1", r"seed=-1 is not valid: must be an integer in \[0, 2\*\*32\)"),
        (
            "trainer.lr_scheduler=cosinus",
            r"trainer\.lr_scheduler='cosinus' is not valid; choose one of: .*cosine",
        ),
        (
            "+trainer.extra_args.warmup_stepz=3",
            r"extra_args\.warmup_stepz is not a transformers\.TrainingArguments",
        ),
        ("+trainer.extra_args.learning_rate=0.1", r"extra_args\.learning_rate is set by the harness"),
        (
            "trainer.max_seq_len=600",
            r"trainer\.max_seq_len=600 is not valid: the model's position table holds 512",
        ),
        ("output_root=", r"output_root='' is not valid"),
    ],
)
def test_bad_settings_fail_before_the_model_is_built(override: str, message: str, monkeypatch):
    monkeypatch.setattr(runner, "build", lambda job: pytest.fail("built a model for an invalid config"))
    with pytest.raises(ConfigError, match=message):
        run(compose_run_config([*TINY, override]))


def test_roberta_positions_start_after_the_padding_index(tmp_path):
    """tiny-roberta: 514 position slots, padding index 0, so positions 1..513 hold 513 tokens."""
    roberta = ["model=tiny-roberta", "task=vader", "trainer=tiny", f"output_root={tmp_path}"]
    plan_job(compose_run_config([*roberta, "method=lora", "trainer.max_seq_len=513"]))
    with pytest.raises(ConfigError, match="position table holds 513 positions"):
        plan_job(compose_run_config([*roberta, "method=lora", "trainer.max_seq_len=514"]))


def test_output_root_must_be_a_writable_folder(tmp_path, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match="output_root=.* it exists and is not a folder"):
        plan_job(compose_run_config([*TINY, f"output_root={a_file}"]))
    monkeypatch.setattr(runner, "build", lambda job: pytest.fail("built a model with nowhere to write"))
    with pytest.raises(
        ConfigError, match=r"output_root='/proc/adaptbench': cannot write in /proc/adaptbench"
    ):
        run(compose_run_config([*TINY, "output_root=/proc/adaptbench"]))

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ConfigError, match="cannot write in .*No space left on device"):
        run(compose_run_config([*TINY, f"output_root={tmp_path / 'out'}"]))
    assert not list(Path(tmp_path / "out").rglob(".write-probe-*"))


def test_tiny_roberta_trains_on_a_sentence_pair_task(tmp_path):
    """A one-type embedding (type_vocab_size 1) with a tokenizer that marks the second segment: the segment
    ids are dropped, as RoBERTa's own tokenizer never makes them."""
    data = tmp_path / "mrpc"
    data.mkdir()
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    rows = "".join(f"{i % 2}\t{i}\t{i}\tthe cat sat {i}\tthe dog ran {i}\n" for i in range(8))
    for name in ("train.tsv", "dev.tsv"):
        (data / name).write_text(header + rows)
    record = run(
        compose_run_config(
            ["model=tiny-roberta", "method=lora", "task=mrpc", "trainer=tiny", "trainer.max_steps=2"]
            + [f"task.data_dir={data}", f"output_root={tmp_path / 'out'}"]
        )
    )
    assert record["status"] == "complete" and record["train"]["steps"] == 2


def test_the_cli_prints_one_line_and_exits_2(tmp_path):
    result = run_cli("run", *TINY, "seed=-1", f"output_root={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "adaptbench: error: seed=-1 is not valid: must be an integer in [0, 2**32)"
    )
    assert not (tmp_path / "records").exists()
