"""A sweep survives one bad job: a failing job writes a failure record (retried on rerun) and raises JobFailed
for the CLI to go on with; ``selection_value`` gives a hyperparameter search one number to maximise."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import check_run_overrides, compose_run_config
from adaptbench.harness.records.schema import selection_value
from adaptbench.harness.run import job as runner
from adaptbench.harness.run.job import run
from adaptbench.harness.run.plan import JobFailed, JobRefused, plan_job
from adaptbench.harness.run.resume import finished_record
from conftest import CLI, REPO

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]


def test_an_invalid_job_of_a_sweep_leaves_no_record(tmp_path, monkeypatch):
    cfg = compose_run_config([*TINY, "method.r=0", f"output_root={tmp_path}"])
    with pytest.raises(ConfigError, match=r"method\.r"):  # alone: one line, exit 2, nothing written
        run(cfg)
    assert not (tmp_path / "records").exists()

    # in a sweep: the job fails and the sweep goes on, but a config mistake is no result of the output root
    # (a failure record would show as "(1 failed)" in every later table there)
    monkeypatch.setattr(runner, "in_sweep", lambda: True)
    with pytest.raises(JobRefused, match=r"method\.r=0") as failed:
        run(cfg)
    assert failed.value.record_path is None  # outside a Hydra job folder: nowhere to note it
    assert not (tmp_path / "records").exists()


def test_a_job_that_crashes_in_training_is_recorded_and_retried(tmp_path, monkeypatch):
    def out_of_memory(job):
        raise RuntimeError("CUDA out of memory\nmore detail")

    monkeypatch.setattr(runner, "build", out_of_memory)
    cfg = compose_run_config([*TINY, f"output_root={tmp_path}"])
    with pytest.raises(JobFailed, match="RuntimeError: CUDA out of memory$") as failed:
        run(cfg)
    record = json.loads(Path(failed.value.record_path).read_text())
    assert (record["status"], record["error"]) == ("failed", "RuntimeError: CUDA out of memory")
    assert "more detail" in Path(record["traceback"]).read_text()
    assert finished_record(plan_job(cfg)) is None  # resume does not mistake it for a result: it runs again


def record(status: str, value: float | None, greater: bool = True) -> dict:
    return {
        "status": status,
        "metric_for_best": "m",
        "greater_is_better": greater,
        "best": None if value is None else {"metrics": {"m": value}},
    }


def test_selection_value_is_larger_for_better_runs():
    assert selection_value(record("complete", 0.9)) == 0.9
    assert selection_value(record("complete", 0.2, greater=False)) == -0.2  # a loss: lower is better
    assert selection_value(record("complete", 0.2, greater=False)) > selection_value(
        record("complete", 0.5, greater=False)
    )
    assert selection_value(record("diverged", None)) == -math.inf
    assert selection_value(record("complete", float("nan"))) == -math.inf


def test_a_killed_parallel_sweep_finishes_on_rerun(tmp_path):
    """kill -9 a 6-job joblib sweep once its first record is written; the same command again leaves exactly
    the 6 complete records, none twice, and no temp files."""
    args = [
        *CLI, "run", "-m", "method=full,lora", "seed=1,2,3", "model=tiny-bert", "task=vader", "trainer=tiny",
        "trainer.max_steps=2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"output_root={tmp_path}",
    ]  # fmt: skip
    sweep = subprocess.Popen(
        args, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while (
        not list((tmp_path / "records").rglob("*.json"))
        and time.monotonic() < deadline
        and sweep.poll() is None
    ):
        time.sleep(0.5)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "records").rglob("*.json")]
    assert sorted((r["method"], r["seed"], r["status"]) for r in records) == [
        (method, seed, "complete") for method in ("full", "lora") for seed in (1, 2, 3)
    ]
    assert len({r["config_hash"] for r in records}) == 6
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".write-probe-*"))


def test_a_bad_job_inside_a_sweep_is_one_line_and_the_sweep_exits_non_zero(tmp_path):
    """``method.r=0,4``: the r=0 job fails validation; the r=4 job still runs; one line for the failure, one
    summary line at the end, no traceback, exit 1, and no record for r=0 (a config mistake, noted in its job
    folder's error.txt, which the summary line names)."""
    result = subprocess.run(
        [*CLI, "run", "-m", *TINY, "method.r=0,4", f"output_root={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    failures = [line for line in result.stderr.splitlines() if ": failed: " in line]
    assert len(failures) == 1 and "method.r=0 is not valid" in failures[0]
    # each job's label shows the swept setting, so the two lora jobs are told apart
    assert failures[0].startswith("adaptbench: lora (r=0) · tiny-bert · ")
    console = (result.stdout + result.stderr).splitlines()
    assert any(line.startswith("lora (r=4) · tiny-bert · vader · seed 1: ") for line in console)
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith("sweep: 1 complete, 0 skipped (already done), 1 failed")
    )
    records = [json.loads(p.read_text()) for p in (tmp_path / "records").rglob("*.json")]
    assert [(r["config"]["method"]["r"], r["status"]) for r in records] == [(4, "complete")]
    [error_file] = tmp_path.glob("multirun/*/*/*/error.txt")
    assert "method.r=0 is not valid" in error_file.read_text() and str(error_file) in result.stdout


def records_under(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (root / "records").rglob("*.json")]


@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
    reason="hydra-optuna-sweeper is not installed (pip install 'adaptbench[optuna]')",
)
def test_an_optuna_sweep_maximises_the_selection_value(tmp_path):
    """The README's Optuna sweep, 3 trials: each job's return value is its record's selection value, so the
    study's best value is the best record's, and its best parameters are that record's lr and r."""
    result = subprocess.run(
        [*CLI, "run", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.direction=maximize",
         "hydra.sweeper.sampler.seed=1", "trainer.lr=tag(log, interval(1e-4, 1e-2))", "method.r=choice(2, 4)",
         *TINY, "trainer.max_steps=2", f"output_root={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = records_under(tmp_path)
    assert len(records) == 3 and {r["status"] for r in records} == {"complete"}
    values = {(r["config"]["trainer"]["lr"], r["config"]["method"]["r"]): selection_value(r) for r in records}
    assert all(1e-4 <= lr <= 1e-2 and r in (2, 4) for lr, r in values)
    [results] = (tmp_path / "multirun").rglob("optimization_results.yaml")
    study = OmegaConf.load(results)
    assert study.best_value == max(values.values())
    assert values[(study.best_params["trainer.lr"], study.best_params["method.r"])] == study.best_value


def test_a_sweep_sets_a_setting_only_some_of_its_methods_take(tmp_path):
    """``-m method=lora,bitfit method.r=4``: BitFit has no ``r``; one line before any job points to
    ``++method.r=4``, which sets ``r`` for LoRA and, with a note, leaves the BitFit job as it is without it
    (the same job, the same record). A typo is still refused, in a sweep and in a single run."""
    rest = ["model=tiny-bert", "task=vader", "trainer=tiny", "trainer.max_steps=2", f"output_root={tmp_path}"]
    with pytest.raises(
        ConfigError,
        match=r"^method\.r is not a setting of method='bitfit' \(its settings: lr\); to set it only for the "
        r"methods that take it, write \+\+method\.r=4$",
    ):
        check_run_overrides(["-m", "method=lora,bitfit", "method.r=4", *rest])
    with pytest.raises(
        ConfigError, match=r"^method\.r is not a setting of method='full' .* write \+\+method\.r=4"
    ):
        check_run_overrides(["-m", "+experiment=table14_webnlg", "method.r=4"])  # the methods a preset sweeps
    for typo in ("method.rr=4", "++method.rr=4"):
        with pytest.raises(
            ConfigError,
            match=r"^method\.rr is not a setting of any method of the sweep \(lora, bitfit\); valid",
        ):
            check_run_overrides(["-m", "method=lora,bitfit", typo, *rest])
    for single in (["method=bitfit", "++method.r=4"], ["method=lora", "++method.rr=4"]):
        with pytest.raises(ConfigError, match=r"^method\.rr? is not a setting of method="):
            check_run_overrides([*single, *rest])

    result = subprocess.run(
        [*CLI, "run", "-m", "method=lora,bitfit", "++method.r=4", *rest],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    notes = [line for line in result.stderr.splitlines() if "is not a setting" in line]
    assert notes == ["adaptbench: note: method.r is not a setting of method='bitfit': ignored for this job"]
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith("sweep: 2 complete, 0 skipped (already done), 0 failed")
    )
    records = {r["method"]: r for r in records_under(tmp_path)}
    assert records["lora"]["config"]["method"]["r"] == 4
    assert "r" not in records["bitfit"]["config"]["method"]
    assert records["bitfit"]["config_hash"] == plan_job(compose_run_config(["method=bitfit", *rest])).key


def test_the_sweep_summary_finds_the_record_of_a_job_started_from_another(tmp_path):
    """``init_from``: the job's hash includes its upstream record's; the summary finds the record the runner
    wrote (before, it looked under the hash without it and counted the job as failed)."""
    from test_reliability_results import fake_upstream

    from adaptbench.harness.records.store import write_json_atomic
    from adaptbench.harness.report.sweep import collect

    cfg = compose_run_config(
        [*TINY, f"output_root={tmp_path}", f"init_from={fake_upstream(tmp_path / 'up')}"]
    )
    job = plan_job(cfg)
    fields = {"record_version": 2, "status": "complete", "config_hash": job.key, "run_name": job.path.stem}
    fields |= {"method": "lora", "model": "tiny-bert", "task": "vader", "seed": 1, "config": {}}
    write_json_atomic(job.path, fields)
    saved = tmp_path / "multirun" / "0" / ".hydra"
    saved.mkdir(parents=True)
    OmegaConf.save(cfg, saved / "config.yaml")
    OmegaConf.save(OmegaConf.create([f"init_from={cfg.init_from}"]), saved / "overrides.yaml")
    jobs = collect(tmp_path / "multirun", started=None)
    assert ([r["config_hash"] for r in jobs.complete], jobs.failed) == ([job.key], [])
