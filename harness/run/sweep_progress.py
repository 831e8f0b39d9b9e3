"""Where a job stands in its sweep: "job k of n" and the time the sweep has left, shown on the job's progress line
(``harness.run.progress.JobProgress``).

Hydra has no sweep-wide progress of its own (its launchers log each job's overrides as it starts), so
``SweepProgress``, a Hydra callback registered in ``conf/config.yaml``, keeps it: the number of planned jobs when the
sweep starts (the basic sweeper's job list, a search sweeper's ``n_trials``), and for each job its number
(``hydra.job.num``), the time since the sweep started and how many jobs had ended. Jobs of a parallel launcher
(joblib, submitit) run in other processes, each with its own copy of the callback, so an ended job leaves a file in
its job folder (``ENDED_FILE``) and a starting job counts those files.

This module imports no ML library: Hydra instantiates its callbacks for dry runs too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

ENDED_FILE = "job_seconds.txt"  # in a job's folder once it ended: its wall seconds


@dataclass(frozen=True)
class SweepPosition:
    """A job's place in its sweep when it started."""

    number: int  # 1-based, in launch order
    total: int | None  # planned jobs; None when the sweeper does not say
    elapsed: float  # seconds from the start of the sweep to the start of this job
    done: int  # jobs of the sweep that had ended by then

    def label(self) -> str:
        return f"job {self.number} of {self.total}" if self.total else f"job {self.number}"

    def seconds_left(self, job_elapsed: float = 0.0, job_left: float | None = None) -> float | None:
        """See ``sweep_seconds_left``."""
        return sweep_seconds_left(self, job_elapsed, job_left)


def sweep_seconds_left(position: SweepPosition, job_elapsed: float, job_left: float | None) -> float | None:
    """The sweep's time left: this job's time left plus the jobs after it, each at the sweep's pace so far
    (seconds per ended job, so a parallel launcher's throughput counts), or, before any job has ended, at this
    job's own pace (its elapsed plus left). Before this job's pace is known (``job_left`` None): the jobs from
    this one on at the sweep's pace, or None when no job has ended yet. None without a planned total."""
    if position.total is None:
        return None
    after = max(position.total - position.number, 0)
    if job_left is None:
        return position.elapsed / position.done * (after + 1) if position.done else None
    per_job = position.elapsed / position.done if position.done else job_elapsed + job_left
    return job_left + per_job * after


def clock(seconds: float) -> str:
    """``0:03:07``, as rich's ``TimeRemainingColumn`` shows time."""
    return str(timedelta(seconds=max(0, round(seconds))))


def planned_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep of ``config`` (the multirun config) launches: the basic sweeper's job list (its
    ``params`` and the command line's overrides, expanded as it expands them), a search sweeper's ``n_trials``
    (Optuna), else None."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.sweeper
    if str(sweeper.get("_target_", "")).endswith(".BasicSweeper"):
        params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
        try:
            overrides = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
            batches = BasicSweeper.split_arguments(overrides, max_batch_size=None)
        except Exception:  # noqa: BLE001 -- e.g. glob(): the sweeper needs its config loader; progress never fails a sweep
            return None
        return sum(len(batch) for batch in batches)
    trials = sweeper.get("n_trials")
    return int(trials) if isinstance(trials, int) and trials > 0 else None


def ended_jobs(sweep_dir: Path) -> int:
    return sum(1 for _ in sweep_dir.glob(f"*/{ENDED_FILE}"))


_position: SweepPosition | None = None


def sweep_position() -> SweepPosition | None:
    """The running job's place in its sweep (None in a single run)."""
    return _position


class SweepProgress(Callback):
    """Sets the running job's ``SweepPosition`` (see the module docstring)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.total: int | None = None
        self.job_started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()  # wall clock: jobs of a parallel launcher compare it in other processes
        self.total = planned_jobs(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _position
        if self.started is None:  # a single run
            return
        self.job_started = time.time()
        _position = SweepPosition(
            number=int(config.hydra.job.num) + 1,
            total=self.total,
            elapsed=self.job_started - self.started,
            done=ended_jobs(Path(config.hydra.sweep.dir)),
        )
        from adaptbench.harness.run.console import is_verbose, say

        if is_verbose():  # quiet, the job's progress line shows it
            left = _position.seconds_left()
            say(_position.label() + (f"; sweep about {clock(left)} left" if left is not None else ""))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        global _position
        if self.started is None:
            return
        _position = None
        folder = Path(config.hydra.runtime.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ENDED_FILE).write_text(f"{time.time() - self.job_started:.1f}\n", encoding="utf-8")
