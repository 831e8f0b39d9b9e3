"""The common runner end to end on tiny models: records, resume, multirun, best-epoch selection."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.task_keys import TaskSettings
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.store import artifacts_dir, write_json_atomic
from adaptbench.harness.run.job import run
from adaptbench.harness.run.training import EvalTracker
from conftest import run_cli

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny"]
RECORD_FIELDS = {
    "config",
    "config_hash",
    "best",
    "history",
    "params",
    "train",
    "wall_seconds",
    "peak_memory_bytes",
    "provenance",
}


def records_under(root: Path) -> list[Path]:
    return sorted((root / "records").rglob("*.json"))


def test_run_writes_one_complete_record_and_resumes(tmp_path):
    cfg = compose_run_config([*TINY, "method=lora", f"output_root={tmp_path}", "trainer.save_trainable=true"])
    record = run(cfg)
    [path] = records_under(tmp_path)
    on_disk = json.loads(path.read_text())
    assert RECORD_FIELDS <= set(on_disk)
    assert on_disk["config_hash"] == config_hash(cfg) == record["config_hash"]
    assert on_disk["params"]["method_params"] == on_disk["params"]["formula_params"] > 0
    assert (
        on_disk["params"]["trainable_params"]
        == on_disk["params"]["method_params"] + on_disk["params"]["head_params"]
    )
    assert on_disk["train"]["steps"] == 4
    train = on_disk["train"]
    assert (
        0 < train["train_seconds"]
        and train["train_seconds"] + train["eval_seconds"] <= on_disk["wall_seconds"]
    )
    assert train["train_samples_per_second"] > 0
    assert on_disk["best"]["step"] == 4 and "accuracy" in on_disk["best"]["metrics"]
    assert on_disk["provenance"]["packages"]["torch"]
    assert on_disk["provenance"]["seed"] == 1
    assert (artifacts_dir(path) / "trainable.safetensors").is_file()
    assert not list(path.parent.glob(".*.tmp"))
    # A second identical run is skipped: same record, file untouched.
    mtime = path.stat().st_mtime_ns
    again = run(
        compose_run_config([*TINY, "method=lora", f"output_root={tmp_path}", "trainer.save_trainable=true"])
    )
    assert again["config_hash"] == record["config_hash"]
    assert path.stat().st_mtime_ns == mtime
    # A dry run of the same job names that record and finds it done.
    planned = run(compose_run_config([*TINY, "method=lora", f"output_root={tmp_path}", "dry_run=true"]))
    assert (planned["record"], planned["done"]) == (str(path), True)


def test_config_hash_ignores_where_and_tracks_what():
    base = compose_run_config([*TINY, "method=lora"])
    assert config_hash(base) == config_hash(
        compose_run_config([*TINY, "method=lora", "output_root=/elsewhere"])
    )
    assert config_hash(base) != config_hash(compose_run_config([*TINY, "method=lora", "method.r=2"]))
    assert config_hash(base) != config_hash(compose_run_config([*TINY, "method=lora", "seed=2"]))


def test_multirun_writes_one_record_per_job(tmp_path):
    result = run_cli(
        "run", "-m", "method=full,lora", "seed=1,2", *TINY, f"output_root={tmp_path}", "trainer.max_steps=2"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in records_under(tmp_path)]
    assert sorted((r["method"], r["seed"]) for r in records) == [
        ("full", 1),
        ("full", 2),
        ("lora", 1),
        ("lora", 2),
    ]
    assert len({r["config_hash"] for r in records}) == 4


@pytest.mark.parametrize(("greater", "expected_step"), [(True, 2), (False, 3)])
def test_eval_tracker_keeps_the_best_evaluation(greater: bool, expected_step: int, tmp_path):
    scores = iter([0.5, 0.8, 0.1])
    plan = SimpleNamespace(
        trainer=SimpleNamespace(eval_every=1),
        task=SimpleNamespace(metric_for_best="m", greater_is_better=greater),
        settings=TaskSettings(),  # no held-out selection: the best evaluation is picked on "m"
    )
    logged = []
    tracker = EvalTracker(
        lambda model: {"m": next(scores)},
        plan,
        None,
        SimpleNamespace(log=lambda m, s: logged.append(s)),
        tmp_path / "evaluations.json",
    )
    for step in (1, 2, 3):
        tracker.on_step_end(None, SimpleNamespace(global_step=step, epoch=step / 3), None, model=None)
    tracker.on_train_end(None, SimpleNamespace(global_step=3, epoch=1.0), None, model=None)
    assert [h["step"] for h in tracker.history] == [1, 2, 3]
    assert tracker.best["step"] == expected_step
    assert logged == [1, 2, 3]
    saved = json.loads((tmp_path / "evaluations.json").read_text())
    assert saved["best"]["step"] == expected_step and len(saved["history"]) == 3


def test_atomic_write_leaves_old_record_on_failure(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})

    class Unserialisable:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_json_atomic(path, {"a": Unserialisable()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_init_from_loads_the_method_tensors_not_the_head(tmp_path):
    """The paper's MRPC/RTE/STS-B protocol: start from another task's adapted model; the head is new."""
    import torch
    from safetensors.torch import load_file

    from adaptbench.harness.api.layout import Layout
    from adaptbench.harness.api.loading import load_method
    from adaptbench.harness.api.models import build_model
    from adaptbench.harness.api.plugins import adapt
    from adaptbench.harness.config.init_from import init_source
    from adaptbench.harness.run.tensors import load_trainable

    cfg = compose_run_config([*TINY, "method=lora", f"output_root={tmp_path}", "trainer.save_trainable=true"])
    run(cfg)
    [record] = records_under(tmp_path)
    tensors = init_source(str(record), "tiny-bert", "lora").path
    saved = load_file(str(tensors))
    model = build_model(cfg.model, "regression", 1)  # another task: a 1-output head instead of 2
    adapt(model, load_method(cfg.method), Layout.from_config(cfg.model.layout))
    load_trainable(model, tensors, include_head=False)
    params = dict(model.named_parameters())
    lora_names = [n for n in saved if "classifier" not in n]
    assert lora_names and all(torch.equal(params[n], saved[n]) for n in lora_names)
    assert params["classifier.weight"].shape[0] == 1


def test_task_init_from_starts_stsb_from_an_rte_run(tmp_path, shared_data):
    """``init_from`` end to end: a 2-class RTE run's LoRA tensors start a 1-output STS-B regression run."""
    common = [
        "model=tiny-bert",
        "method=lora",
        "trainer=tiny",
        "trainer.save_trainable=true",
        f"output_root={tmp_path}",
    ]
    run(compose_run_config([*common, "task=rte", f"task.data_dir={shared_data / 'glue_rte'}"]))
    [rte_record] = records_under(tmp_path)
    stsb = run(
        compose_run_config(
            [*common, "task=stsb", f"task.data_dir={shared_data / 'glue_stsb'}", f"init_from={rte_record}"]
        )
    )
    assert stsb["config"]["init_from"] == str(rte_record)
    assert "pearson" in stsb["best"]["metrics"]
    with pytest.raises(ConfigError, match="init_from=.*no such file"):
        run(
            compose_run_config(
                [
                    *common,
                    "task=stsb",
                    f"task.data_dir={shared_data / 'glue_stsb'}",
                    f"init_from={tmp_path / 'nothing.json'}",
                ]
            )
        )


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    """A run killed mid-way and started again with the same command continues from its last checkpoint and ends
    where an uninterrupted run ends."""
    overrides = [
        *TINY,
        "method=lora",
        "trainer.max_steps=6",
        "trainer.eval_every=2",
        "trainer.checkpoint=true",
    ]
    uninterrupted = run(compose_run_config([*overrides, f"output_root={tmp_path / 'whole'}"]))

    original = EvalTracker.on_step_end

    def crash_at_step_5(self, args, state, control, model=None, **kwargs):
        original(self, args, state, control, model=model, **kwargs)
        if state.global_step == 5:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(EvalTracker, "on_step_end", crash_at_step_5)
    root = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run(compose_run_config([*overrides, f"output_root={root}"]))
    assert not records_under(root)
    monkeypatch.setattr(EvalTracker, "on_step_end", original)

    resumed = run(compose_run_config([*overrides, f"output_root={root}"]))
    assert resumed["resumed_from"].endswith("checkpoint-4")
    assert [h["step"] for h in resumed["history"]] == [2, 4, 6]
    assert resumed["config_hash"] == uninterrupted["config_hash"]
    for before, after in zip(uninterrupted["history"], resumed["history"], strict=True):
        assert after["metrics"]["accuracy"] == pytest.approx(before["metrics"]["accuracy"])
    [path] = records_under(root)
    assert not (artifacts_dir(path) / "checkpoints").exists()
