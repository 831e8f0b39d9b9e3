"""Nothing on disk is trusted blindly: a record at a job's path is the job's result only if its content is the
job's (its own ``config_hash``, this schema's ``record_version``); another's is moved aside and the job runs."""

from __future__ import annotations

import json
import logging

import pytest

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.schema import RECORD_VERSION
from adaptbench.harness.records.store import iter_records, write_json_atomic
from adaptbench.harness.run.job import run
from adaptbench.harness.run.plan import plan_job
from adaptbench.harness.run.resume import finished_record

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]


def foreign_record(key: str, version: int = RECORD_VERSION) -> dict:
    """A complete record as another config (or another schema) would have written it."""
    fields = {"record_version": version, "status": "complete", "config_hash": key, "run_name": "r"}
    fields |= {"method": "lora", "model": "tiny-bert", "task": "vader", "seed": 1, "config": {}}
    return {**fields, "best": {"epoch": 1.0, "step": 4, "metrics": {"accuracy": 0.99}, "eval_seconds": 0.1}}


@pytest.mark.parametrize(
    ("why", "fields"),
    [
        ("config_hash", {"key": "f" * 64}),
        ("record_version", {"version": RECORD_VERSION + 7}),
    ],
)
def test_a_record_of_another_config_is_moved_aside_not_trusted(tmp_path, caplog, why, fields):
    job = plan_job(compose_run_config([*TINY, f"output_root={tmp_path}"]))
    record = foreign_record(fields.get("key", job.key), fields.get("version", RECORD_VERSION))
    write_json_atomic(job.path, record)
    with caplog.at_level(logging.WARNING, logger="adaptbench"):
        assert finished_record(job) is None
    stale = job.path.with_name(f"{job.path.stem}.stale.json")
    assert not job.path.exists()
    assert json.loads(stale.read_text()) == record
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and why in warnings[0] and str(stale) in warnings[0]
    # a record moved aside is not a result: tables do not read it
    assert list(iter_records(tmp_path)) == []


def test_a_dry_run_only_reports_a_foreign_record(tmp_path):
    cfg = compose_run_config([*TINY, f"output_root={tmp_path}", "dry_run=true"])
    job = plan_job(cfg)
    write_json_atomic(job.path, foreign_record("f" * 64))
    assert run(cfg)["done"] is False
    assert job.path.exists()  # dry_run changes nothing on disk


def test_the_job_whose_path_holds_a_foreign_record_trains(tmp_path):
    cfg = compose_run_config([*TINY, f"output_root={tmp_path}"])
    job = plan_job(cfg)
    write_json_atomic(job.path, foreign_record("f" * 64))
    record = run(cfg)
    assert record["config_hash"] == job.key and record["train"]["steps"] == 4
    on_disk = json.loads(job.path.read_text())
    assert on_disk["config_hash"] == job.key and on_disk["best"]["metrics"]["accuracy"] != 0.99
    assert job.path.with_name(f"{job.path.stem}.stale.json").exists()
