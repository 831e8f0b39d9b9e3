"""After the compute nothing is lost: the result is on disk (in space reserved before training) before
anything that can fail; a record that cannot be published names its folder and is published by the next run
without training again; a broken ``evaluations.json`` or checkpoint is passed over, not fatal on every rerun."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run import job as runner
from adaptbench.harness.run.job import run
from adaptbench.harness.run.plan import plan_job
from adaptbench.harness.run.resume import checkpoint_problem
from adaptbench.harness.run.training import EvalTracker
from conftest import REPO

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora", "trainer.save_trainable=true"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 48 MiB file system (tmpfs) as output_root; skips where this process may not mount one."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# A real `adaptbench run` process whose disk fills up the moment training ends (before the record is written).
DISK_FULL_AFTER_TRAINING = """
import sys
from adaptbench.harness import cli
from adaptbench.harness.run import job

trained = job.train

def train_then_fill_the_disk(*args, **kwargs):
    result = trained(*args, **kwargs)
    with open({filler!r}, "wb", buffering=0) as handle:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    handle.write(b"x" * chunk)
            except OSError:
                pass
    try:
        open({filler!r} + ".probe", "wb").write(b"x" * 8192)
    except OSError as err:
        print("disk full:", err, flush=True)
    return result

job.train = train_then_fill_the_disk
sys.exit(cli.main(["run", *{overrides!r}]))
"""


def test_a_full_disk_after_training_loses_nothing(small_disk):
    overrides = [*TINY, f"output_root={small_disk}"]
    filler = small_disk / "filler"
    done = subprocess.run(
        [sys.executable, "-c", DISK_FULL_AFTER_TRAINING.format(filler=str(filler), overrides=overrides)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "disk full: [Errno 28] No space left on device" in done.stdout  # really full at the record write
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    job = plan_job(compose_run_config(overrides))
    record = json.loads(job.path.read_text())
    assert record["status"] == "complete" and record["train"]["steps"] == 4
    assert (job.artifacts / "trainable.safetensors").is_file()
    assert json.loads((job.artifacts / "evaluations.json").read_text())["best"] == record["best"]


def no_training(*args, **kwargs):
    raise AssertionError("trained again")


def test_a_record_that_cannot_be_written_is_written_by_the_next_run(tmp_path, monkeypatch):
    """A directory in the way of the record (as a permission error would be): one error naming the folder,
    the tensors and evaluations stay, and the next run with the same config publishes the record untrained."""
    cfg = compose_run_config([*TINY, f"output_root={tmp_path}"])
    job = plan_job(cfg)
    trained = runner.train

    def train_then_block_the_record(*args, **kwargs):
        result = trained(*args, **kwargs)
        job.path.mkdir(parents=True)
        (job.path / "stray").write_text("x")
        return result

    monkeypatch.setattr(runner, "train", train_then_block_the_record)
    with pytest.raises(Exception, match=rf"cannot write the record in {job.path.parent}") as failed:
        run(cfg)
    assert "\n" not in str(failed.value) and str(job.artifacts) in str(failed.value)
    assert (job.artifacts / "trainable.safetensors").is_file()
    evaluations = json.loads((job.artifacts / "evaluations.json").read_text())

    (job.path / "stray").unlink()
    job.path.rmdir()
    monkeypatch.setattr(runner, "train", no_training)
    record = run(compose_run_config([*TINY, f"output_root={tmp_path}"]))
    assert record["config_hash"] == job.key and record["best"] == evaluations["best"]
    assert json.loads(job.path.read_text()) == record
    assert run(compose_run_config([*TINY, f"output_root={tmp_path}"])) == record  # now simply done


def test_a_truncated_evaluations_file_beside_a_checkpoint_is_passed_over(tmp_path, monkeypatch, caplog):
    overrides = [*TINY, "trainer.max_steps=6", "trainer.eval_every=2", f"output_root={tmp_path}"]
    uninterrupted = run(compose_run_config([*overrides, f"output_root={tmp_path / 'whole'}"]))
    original = EvalTracker.on_step_end

    def killed_at_step_5(self, args, state, control, model=None, **kwargs):
        original(self, args, state, control, model=model, **kwargs)
        if state.global_step == 5:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(EvalTracker, "on_step_end", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        run(compose_run_config([*overrides, "trainer.checkpoint=true"]))
    monkeypatch.setattr(EvalTracker, "on_step_end", original)
    job = plan_job(compose_run_config(overrides))
    evaluations = job.artifacts / "evaluations.json"
    evaluations.write_text(evaluations.read_text()[:40])
    with caplog.at_level(logging.WARNING, logger="adaptbench"):
        again = run(compose_run_config(overrides))
    warnings = [r.getMessage() for r in caplog.records if str(evaluations) in r.getMessage()]
    assert len(warnings) == 1 and "starting afresh" in warnings[0]
    assert again["resumed_from"] is None and again["train"]["segments"] == 1
    for before, after in zip(uninterrupted["history"], again["history"], strict=True):
        assert after["metrics"] == pytest.approx(before["metrics"])


def whole_checkpoint(folder: Path) -> Path:
    """The files of a Trainer checkpoint, small and loadable."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(4)}, str(folder / "model.safetensors"))
    torch.save({"state": {}, "param_groups": []}, folder / "optimizer.pt")
    torch.save({}, folder / "scheduler.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    return folder


class NotWeights:
    """An object the Trainer's ``torch.load(weights_only=True)`` refuses to unpickle."""


def test_a_checkpoint_that_does_not_load_weights_only_is_passed_over(tmp_path):
    assert checkpoint_problem(whole_checkpoint(tmp_path / "whole")) is None
    pickled = whole_checkpoint(tmp_path / "pickled")
    torch.save({"state": NotWeights()}, pickled / "optimizer.pt")  # a whole zip: only loading tells
    assert checkpoint_problem(pickled).startswith("optimizer.pt: does not load")
    garbage = whole_checkpoint(tmp_path / "garbage")
    (garbage / "scheduler.pt").write_bytes(b"PK\x03\x04" + os.urandom(64))
    assert checkpoint_problem(garbage).startswith("scheduler.pt:")
