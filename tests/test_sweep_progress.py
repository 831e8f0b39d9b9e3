"""Sweep-level progress: "job k of n" and the sweep's time left on each job's progress line, and plain progress
lines while a job runs when the output is not a terminal (a pipe here, as under SLURM or ``> log``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from transformers import TrainerControl, TrainerState, TrainingArguments

from adaptbench.harness.run import sweep_progress
from adaptbench.harness.run.progress import JobProgress
from adaptbench.harness.run.sweep_progress import SweepPosition, clock, planned_jobs, sweep_seconds_left
from conftest import run_cli


def test_the_sweep_eta_is_the_jobs_left_at_the_pace_so_far():
    # job 3 of 6 starts 120 s into the sweep, 2 jobs done: 60 s a job, jobs 3..6 left
    third = SweepPosition(number=3, total=6, elapsed=120.0, done=2)
    assert sweep_seconds_left(third, job_elapsed=0.0, job_left=None) == 240.0
    # 10 s into it with 30 s left by its own pace: its 30 s, then jobs 4..6 at 60 s
    assert sweep_seconds_left(third, job_elapsed=10.0, job_left=30.0) == 30.0 + 3 * 60.0
    # the first job: no job has ended, so the jobs after it go at its own pace (10 s done + 20 s left)
    first = SweepPosition(number=1, total=4, elapsed=2.0, done=0)
    assert sweep_seconds_left(first, job_elapsed=10.0, job_left=20.0) == 20.0 + 3 * 30.0
    assert sweep_seconds_left(first, job_elapsed=0.0, job_left=None) is None
    # the last job: only its own time; a sweeper that plans no total: no ETA
    assert sweep_seconds_left(SweepPosition(4, 4, 90.0, 3), 5.0, 7.0) == 7.0
    assert sweep_seconds_left(SweepPosition(4, None, 90.0, 3), 5.0, 7.0) is None
    # parallel launchers: 4 jobs ended in 100 s (25 s a job of throughput) when job 6 of 8 starts
    assert SweepPosition(6, 8, 100.0, 4).seconds_left() == 25.0 * 3
    assert (third.label(), SweepPosition(3, None, 0.0, 0).label()) == ("job 3 of 6", "job 3")
    assert (clock(187.4), clock(3 * 3600 + 59), clock(-2)) == ("0:03:07", "3:00:59", "0:00:00")


BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def multirun_config(sweeper: dict, task_overrides: list[str]):
    return OmegaConf.create({"hydra": {"sweeper": sweeper, "overrides": {"task": task_overrides}}})


def test_planned_jobs_follow_the_sweeper():
    # the basic sweeper's product of swept values, its own params included (hydra.sweeper.params)
    cfg = multirun_config(
        {"_target_": BASIC, "params": {"trainer.lr": "1e-3,1e-4"}},
        ["seed=1,2,3", "method=lora,bitfit", "task=vader"],
    )
    assert planned_jobs(cfg) == 12
    assert planned_jobs(multirun_config({"_target_": BASIC, "params": None}, ["seed=1"])) == 1
    optuna = {"_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper", "n_trials": 20}
    assert planned_jobs(multirun_config(optuna, ["trainer.lr=interval(1e-4, 1e-2)"])) == 20
    assert planned_jobs(multirun_config({"_target_": "some.OtherSweeper"}, ["seed=1,2"])) is None


def fake_training(progress: JobProgress, steps: int) -> None:
    """The callback events of a run of ``steps`` optimizer steps, as the Trainer sends them."""
    args, control = TrainingArguments(output_dir="unused", report_to="none"), TrainerControl()
    state = TrainerState(max_steps=steps, global_step=0)
    progress.on_train_begin(args, state, control)
    for step in range(1, steps + 1):
        state.global_step = step
        progress.on_log(args, state, control, logs={"loss": 1.0 / step})
        progress.on_step_end(args, state, control)
    progress.on_train_end(args, state, control)


def test_a_terminal_gets_the_live_bar_with_the_sweep_position(monkeypatch, capsys):
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "160")  # a wide terminal: rich drops columns that do not fit
    monkeypatch.setattr(sweep_progress, "_position", SweepPosition(2, 3, 40.0, 1))
    fake_training(JobProgress("lora · tiny-bert · vader · seed 1", every_seconds=0), steps=3)
    err = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", capsys.readouterr().err)  # the bar's cursor moves
    assert "job 2 of 3 · lora · tiny-bert · vader · seed 1" in err
    assert "3/3" in err and "loss 0.3333" in err and re.search(r"sweep \d:\d\d:\d\d left", err)
    assert ": step " not in err  # no plain lines on a terminal


def test_off_a_terminal_plain_lines_come_every_progress_seconds(monkeypatch, capsys):
    monkeypatch.setenv("TTY_INTERACTIVE", "0")
    monkeypatch.setattr(sweep_progress, "_position", None)  # a single run: no sweep part
    fake_training(JobProgress("bitfit · tiny-bert · vader · seed 1", every_seconds=0), steps=3)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "bitfit · tiny-bert · vader · seed 1: training, 3 steps"
    assert [re.sub(r", \d:\d\d:\d\d left$", "", line) for line in lines[1:]] == [
        "bitfit · tiny-bert · vader · seed 1: step 1/3, loss 1.0000",
        "bitfit · tiny-bert · vader · seed 1: step 2/3, loss 0.5000",
        "bitfit · tiny-bert · vader · seed 1: step 3/3, loss 0.3333",
    ]
    fake_training(JobProgress("bitfit", every_seconds=3600), steps=3)
    assert capsys.readouterr().err.splitlines() == ["bitfit: training, 3 steps"]  # the start line only


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=1"]], ids=["basic", "joblib"]
)
def test_a_piped_sweep_shows_job_k_of_n_and_lines_while_a_job_runs(launcher, tmp_path: Path):
    result = run_cli(
        "run", "-m", "seed=1,2", "model=tiny-bert", "task=vader", "method=bitfit", "trainer=tiny",
        "trainer.max_steps=6", "trainer.logging_steps=2", "logger.progress_seconds=0", "device=cpu",
        *launcher, f"output_root={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    for number, seed in ((1, 1), (2, 2)):
        label = f"job {number} of 2 · bitfit · tiny-bert · vader · seed {seed}"
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{label}: training, 6 steps"))
        result_line = next(
            i
            for i, line in enumerate(lines)
            if line.startswith(f"bitfit · tiny-bert · vader · seed {seed}: accuracy")
        )
        steps = [line for line in lines[start:result_line] if line.startswith(f"{label}: step ")]
        assert [re.match(rf"{re.escape(label)}: step (\d)/6\b", line).group(1) for line in steps] == list(
            "123456"
        )
        # after its second step: its last loss (logged at step 2), its pace, so its time left and the sweep's
        tail = r", loss \d+\.\d{4}, \d:\d\d:\d\d left; sweep \d:\d\d:\d\d left$"
        assert all(re.search(tail, line) for line in steps[2:]), steps
    # job 2 starts with job 1 ended: the sweep's time left from its pace so far
    assert re.search(
        r"^job 2 of 2 · .*: training, 6 steps; sweep about \d:\d\d:\d\d left$", result.stderr, re.M
    )
    assert sum(1 for _ in tmp_path.glob(f"multirun/*/*/*/{sweep_progress.ENDED_FILE}")) == 2
