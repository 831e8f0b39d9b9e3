"""The one progress line a job shows on the console (see harness.run.console).

On a terminal it is a live rich bar. Elsewhere (a pipe, a log file, a SLURM output file; rich's
``Console.is_interactive``, which ``TTY_INTERACTIVE=0`` turns off) rich draws nothing until the bar stops, so the
job prints plain lines instead: one when training starts, then one every
``logger.progress_seconds`` (rich has no such mode: it only renders live or once at the end). In a sweep the line
starts with "job k of n" and ends with the time the sweep has left (``harness.run.sweep_progress``).
"""

from __future__ import annotations

import time
from typing import Any

from omegaconf import DictConfig
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import TrainerCallback

from adaptbench.harness.run.console import say
from adaptbench.harness.run.sweep_progress import SweepPosition, clock, sweep_position

DEFAULT_PROGRESS_SECONDS = 60.0


def progress_seconds(cfg: DictConfig) -> float:
    """``logger.progress_seconds``: how often a job not on a terminal prints its progress line."""
    node = cfg.get("logger")
    value = node.get("progress_seconds") if node is not None else None
    return DEFAULT_PROGRESS_SECONDS if value is None else float(value)


class JobProgress(TrainerCallback):
    """One progress line per job: its name (after "job k of n" in a sweep), steps done of total, the last training
    loss, the job's time left and the sweep's."""

    def __init__(self, label: str, every_seconds: float = DEFAULT_PROGRESS_SECONDS) -> None:
        self.label = label
        self.every_seconds = every_seconds
        self.progress: Progress | None = None
        self.task: Any = None
        self.live = False
        self.position: SweepPosition | None = None
        self.loss = "-"
        self.started = self.printed = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not getattr(state, "is_world_process_zero", True):
            return
        console = Console(stderr=True, highlight=False)
        self.live = console.is_interactive  # a terminal, not a dumb one; TTY_INTERACTIVE=0/1 overrides
        self.position = sweep_position()
        if self.position is not None:
            self.label = f"{self.position.label()} · {self.label}"
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[sweep]}"),
            console=console,
            disable=not self.live,  # still keeps the task's speed and time left for the plain lines
        )
        self.progress.start()
        self.task = self.progress.add_task(
            self.label, total=state.max_steps, completed=state.global_step, loss="-", sweep=""
        )
        self.started = self.printed = time.perf_counter()
        if not self.live:
            left = self.position.seconds_left() if self.position else None
            sweep = f"; sweep about {clock(left)} left" if left is not None else ""
            say(f"{self.label}: training, {state.max_steps} steps{sweep}")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if self.progress is not None and logs and "loss" in logs:
            self.loss = f"{logs['loss']:.4f}"
            self.progress.update(self.task, loss=self.loss)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is None:
            return
        self.progress.update(self.task, completed=state.global_step)
        job_left = self.progress.tasks[0].time_remaining
        sweep_left = self.sweep_left(job_left)
        sweep = f"sweep {clock(sweep_left)} left" if sweep_left is not None else ""
        if self.live:
            self.progress.update(self.task, sweep=sweep)
        elif time.perf_counter() - self.printed >= self.every_seconds:
            self.printed = time.perf_counter()
            line = f"{self.label}: step {state.global_step}/{state.max_steps}"
            line += f", loss {self.loss}" if self.loss != "-" else ""  # none logged yet
            line += f", {clock(job_left)} left" if job_left is not None else ""
            say(line + (f"; {sweep}" if sweep else ""))

    def sweep_left(self, job_left: float | None) -> float | None:
        if self.position is None:
            return None
        return self.position.seconds_left(time.perf_counter() - self.started, job_left)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()
            self.progress = None
