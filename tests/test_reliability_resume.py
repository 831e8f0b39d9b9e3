"""Resume survives the kill it exists for: broken checkpoints and records are skipped with one line, a second
process on the same job is refused, a run killed during a checkpoint save ends as an uninterrupted one."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.store import write_json_atomic
from adaptbench.harness.run.job import run
from adaptbench.harness.run.locks import JobRunning, job_lock
from adaptbench.harness.run.plan import plan_job
from adaptbench.harness.run.resume import checkpoint_problem, finished_record

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]
CHECKPOINTED = [*TINY, "trainer.max_steps=6", "trainer.eval_every=2", "trainer.checkpoint=true"]


def fake_checkpoint(folder: Path) -> Path:
    """The files a Trainer checkpoint holds, small."""
    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(4)}, str(folder / "model.safetensors"))
    torch.save({"state": {}, "param_groups": []}, folder / "optimizer.pt")
    torch.save({}, folder / "scheduler.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    return folder


def test_checkpoint_check_finds_what_a_kill_leaves(tmp_path):
    assert checkpoint_problem(fake_checkpoint(tmp_path / "whole")) is None
    no_state = fake_checkpoint(tmp_path / "no_state")
    (
        no_state / "trainer_state.json"
    ).unlink()  # killed before the Trainer wrote its state (it writes it last)
    assert "incomplete" in checkpoint_problem(no_state)
    cut = fake_checkpoint(tmp_path / "cut_optimizer")
    (cut / "optimizer.pt").write_bytes((cut / "optimizer.pt").read_bytes()[:-10])
    assert checkpoint_problem(cut) == "optimizer.pt: truncated or not a torch file"
    empty = fake_checkpoint(tmp_path / "empty_weights")
    (empty / "model.safetensors").write_bytes(b"")
    assert "model.safetensors" in checkpoint_problem(empty)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    return run(compose_run_config([*CHECKPOINTED, f"output_root={tmp_path_factory.mktemp('whole')}"]))


def test_same_config_and_seed_give_identical_metrics(uninterrupted, tmp_path):
    again = run(compose_run_config([*CHECKPOINTED, f"output_root={tmp_path}"]))
    assert [h["metrics"] for h in again["history"]] == [h["metrics"] for h in uninterrupted["history"]]
    assert again["train"]["train_loss"] == uninterrupted["train"]["train_loss"]


# A run whose process is killed (SIGKILL: no clean-up at all) in the middle of the checkpoint save at step 4.
KILLED_DURING_SAVE = """
import os, signal
from transformers import Trainer
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.job import run

original = Trainer._save_rng_state

def die_while_saving_step_4(self, output_dir):
    if self.state.global_step == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, output_dir)

Trainer._save_rng_state = die_while_saving_step_4
run(compose_run_config({overrides!r}))
"""


def test_killed_during_a_checkpoint_save_resumes_from_the_one_before(uninterrupted, tmp_path, caplog):
    """kill -9 while the process writes checkpoint-4 (model and optimizer written, trainer state not yet): the
    rerun sets it aside with one line, continues from checkpoint-2 and ends with the uninterrupted run's
    metrics."""
    overrides = [*CHECKPOINTED, f"output_root={tmp_path}"]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_DURING_SAVE.format(overrides=overrides)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not list((tmp_path / "records").rglob("*.json"))
    with caplog.at_level(logging.WARNING, logger="adaptbench"):
        resumed = run(compose_run_config(overrides))
    assert any("checkpoint-4: incomplete" in r.getMessage() for r in caplog.records)
    assert resumed["resumed_from"].endswith("checkpoint-2")
    assert [h["step"] for h in resumed["history"]] == [2, 4, 6]
    for before, after in zip(uninterrupted["history"], resumed["history"], strict=True):
        assert after["metrics"] == pytest.approx(before["metrics"])
    # every segment's training time counts: throughput is the steps' samples over the sum of the segments
    train = resumed["train"]
    assert train["segments"] == 2
    assert train["train_samples_per_second"] == pytest.approx(6 * 4 / train["train_seconds"], rel=0.01)


def test_an_unreadable_or_failed_record_is_run_again(tmp_path, caplog):
    job = plan_job(compose_run_config([*TINY, f"output_root={tmp_path}"]))
    job.path.parent.mkdir(parents=True)
    for broken in ("", '{"record_version": 2, "sta'):
        job.path.write_text(broken)
        with caplog.at_level(logging.WARNING, logger="adaptbench"):
            assert finished_record(job) is None
        assert str(job.path) in caplog.records[-1].getMessage()
    fields = {"record_version": 2, "config_hash": job.key, "run_name": "r", "method": "lora"}
    fields |= {"model": "tiny-bert", "task": "vader", "seed": 1, "config": {}}
    write_json_atomic(job.path, {**fields, "status": "failed", "error": "boom"})
    assert finished_record(job) is None
    write_json_atomic(job.path, {**fields, "status": "complete"})
    assert finished_record(job)["status"] == "complete"


def test_a_second_process_on_the_same_job_is_refused(tmp_path):
    """While a live process holds the job's lock, another run of the job stops at once; once the holder is
    killed (-9: no clean-up) the lock is free again: the kernel drops a dead process's flock."""
    cfg = compose_run_config([*TINY, f"output_root={tmp_path}"])
    lock = plan_job(cfg).artifacts / "job.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from adaptbench.harness.run.locks import job_lock\n"
            f"with job_lock(Path({str(lock)!r})):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(JobRunning, match=rf"already running \(pid {holder.pid}"):
            run(cfg)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with job_lock(lock):
        assert lock.read_text().strip() == str(os.getpid())


def test_a_stale_temp_file_is_removed_by_the_next_write(tmp_path):
    host = socket.gethostname()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".r.json.{host}-{dead.stdout.strip()}.x1y2z3.tmp"
    live = tmp_path / f".other.json.{host}-{os.getpid()}.a1b2c3.tmp"
    stale.write_text("{")
    live.write_text("{")
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "r.json"])
