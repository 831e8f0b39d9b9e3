"""Before the compute is spent: a disk that cannot hold what the job will write, and names too long to be file
names, fail in one line."""

from __future__ import annotations

from collections import namedtuple

import pytest

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run import job as runner
from adaptbench.harness.run import outcome
from adaptbench.harness.run.job import run
from adaptbench.harness.run.outcome import space_needed
from adaptbench.harness.run.plan import plan_job

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]
Usage = namedtuple("Usage", "total used free")


def test_space_needed_counts_tensors_and_checkpoints():
    counts = {"trainable_params": 1000, "total_params": 10_000}
    plan = plan_job(compose_run_config([*TINY, "trainer.checkpoint=false"])).plan
    assert space_needed(plan.trainer, counts) == 4 * 1000 + (1 << 20)
    plan = plan_job(compose_run_config([*TINY, "trainer.checkpoint=true"])).plan
    assert space_needed(plan.trainer, counts) == 4 * 1000 + 2 * (4 * 10_000 + 3 * 4 * 1000) + (1 << 20)


def test_a_disk_too_small_for_the_job_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(outcome.shutil, "disk_usage", lambda path: Usage(1 << 30, (1 << 30) - 1024, 1024))
    monkeypatch.setattr(
        runner, "train", lambda *a: pytest.fail("trained on a disk that cannot hold the result")
    )
    with pytest.raises(ConfigError, match=r"0 MiB free in .*the job needs about 1 MiB"):
        run(compose_run_config([*TINY, f"output_root={tmp_path}"]))


def test_a_name_too_long_for_a_file_name_is_refused():
    with pytest.raises(ConfigError, match=r"model.name='x{40}'\.\.\. is not valid: 300 characters"):
        plan_job(compose_run_config([*TINY, "model.name=" + "x" * 300]))


def test_checkpoints_a_finished_run_left_behind_go_at_the_next_run(tmp_path):
    """Killed after its record was written but before its checkpoints were removed: the rerun finds the job done
    and removes them (they would otherwise stay forever)."""
    cfg = compose_run_config([*TINY, f"output_root={tmp_path}", "trainer.checkpoint=true"])
    run(cfg)
    job = plan_job(cfg)
    leftover = job.artifacts / "checkpoints" / "checkpoint-2"
    leftover.mkdir(parents=True)
    (leftover / "model.safetensors").write_bytes(b"0" * 1024)
    record = run(compose_run_config([*TINY, f"output_root={tmp_path}", "trainer.checkpoint=true"]))
    assert record["status"] == "complete" and not (job.artifacts / "checkpoints").exists()
