"""Never lose or silently corrupt a result: checkpoints kept until the record exists, ``init_from`` checked,
diverged runs recorded as such in strict JSON, names that stay under ``output_root``, readable files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from adaptbench.harness.api.errors import ConfigError, DataError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.store import artifacts_dir, write_json_atomic
from adaptbench.harness.run.job import run
from adaptbench.harness.run.plan import plan_job
from adaptbench.harness.run.training import EvalTracker

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]


def records_under(root: Path) -> list[Path]:
    return sorted((root / "records").rglob("*.json"))


def strict_json(path: Path) -> dict:
    """Parse as strict JSON: NaN / Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_rerun_without_the_checkpoint_flag_resumes_instead_of_deleting(tmp_path, monkeypatch):
    """A checkpointed job killed mid-way, rerun without ``trainer.checkpoint=true``: it continues from its
    checkpoint (not from step 0), and the checkpoints go only once the record is written."""
    overrides = [*TINY, "trainer.max_steps=6", "trainer.eval_every=2", f"output_root={tmp_path}"]
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
    assert sorted(p.name for p in (job.artifacts / "checkpoints").iterdir()) == [
        "checkpoint-2",
        "checkpoint-4",
    ]

    resumed = run(compose_run_config(overrides))
    assert resumed["resumed_from"].endswith("checkpoint-4")
    assert resumed["train"]["steps"] == 6 and resumed["train"]["segments"] == 2
    assert [h["step"] for h in resumed["history"]] == [2, 4, 6]
    assert not (job.artifacts / "checkpoints").exists()


def fake_upstream(
    root: Path, status: str = "complete", model: str = "tiny-bert", key: str = "a" * 64
) -> Path:
    """A record (and its trainable tensors) as an upstream run would leave them."""
    record = root / "records" / "vader" / model / f"lora-s1-{key[:12]}.json"
    fields = {"record_version": 2, "status": status, "config_hash": key, "run_name": record.stem}
    fields |= {"method": "lora", "model": model, "task": "vader", "seed": 1, "config": {}}
    write_json_atomic(record, fields)
    tensors = artifacts_dir(record) / "trainable.safetensors"
    tensors.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": torch.zeros(2)}, str(tensors))
    return record


def test_init_from_reads_and_checks_the_record(tmp_path):
    def plan(init_from: object):
        return plan_job(compose_run_config([*TINY, f"output_root={tmp_path}", f"init_from={init_from}"]))

    good = fake_upstream(tmp_path / "up")
    downstream = plan(good)
    assert downstream.plan.init_from.path == artifacts_dir(good) / "trainable.safetensors"
    # the upstream run's hash is part of the downstream job's: a rerun upstream makes a new downstream job
    rerun = fake_upstream(tmp_path / "up2", key="b" * 64)
    assert plan(rerun).key != downstream.key

    with pytest.raises(ConfigError, match="init_from=.*its run is failed, not complete"):
        plan(fake_upstream(tmp_path / "failed", status="failed"))
    with pytest.raises(ConfigError, match="its run trained model='tiny-roberta', this one 'tiny-bert'"):
        plan(fake_upstream(tmp_path / "other", model="tiny-roberta"))
    with pytest.raises(ConfigError, match="init_from=''"):
        plan("")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"status": "comp')
    with pytest.raises(ConfigError, match="corrupt.json: not a readable record"):
        plan(corrupt)
    # the half-trained tensors of a run that never wrote its record
    unfinished = fake_upstream(tmp_path / "unfinished")
    unfinished.unlink()
    with pytest.raises(ConfigError, match="it never finished"):
        plan(artifacts_dir(unfinished) / "trainable.safetensors")
    truncated = fake_upstream(tmp_path / "truncated")
    tensors = artifacts_dir(truncated) / "trainable.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-3])
    with pytest.raises(DataError, match=r"trainable\.safetensors: truncated"):
        plan(truncated)


def test_a_diverged_run_is_recorded_as_diverged_in_strict_json(tmp_path):
    record = run(compose_run_config([*TINY, "method=full", "trainer.lr=1e30", f"output_root={tmp_path}"]))
    [path] = records_under(tmp_path)
    on_disk = strict_json(path)
    assert record["status"] == on_disk["status"] == "diverged"
    assert 1 <= on_disk["diverged_at_step"] <= 4
    assert on_disk["train"]["train_loss"] is None


def test_records_are_strict_json(tmp_path):
    write_json_atomic(tmp_path / "r.json", {"loss": float("inf"), "history": [{"m": float("nan")}]})
    assert strict_json(tmp_path / "r.json") == {"loss": None, "history": [{"m": None}]}


@pytest.mark.parametrize(("group", "name"), [("model", "org/x"), ("task", "../../x"), ("method", ".hidden")])
def test_names_that_would_leave_output_root_are_refused(tmp_path, group, name):
    cfg = compose_run_config([*TINY, f"output_root={tmp_path}"])
    cfg[group].name = name
    with pytest.raises(ConfigError, match=rf"{group}\.name='{re.escape(name)}' is not valid"):
        plan_job(cfg)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_records_and_tensors_follow_the_umask(tmp_path, umask):
    from torch import nn

    from adaptbench.harness.run.tensors import save_trainable

    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "r.json", {"a": 1})
        save_trainable(nn.Linear(2, 2), tmp_path / "t.safetensors")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == expected
    assert (tmp_path / "t.safetensors").stat().st_mode & 0o777 == expected
