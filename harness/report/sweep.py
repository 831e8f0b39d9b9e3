"""At the end of a sweep (``adaptbench run -m ...``): the comparison table of its jobs and one summary line.

``SweepSummary`` is a Hydra callback (registered in ``conf/config.yaml``). When the sweep ends it writes
``multirun.md`` beside Hydra's ``multirun.yaml`` in the sweep folder and prints

    sweep: 4 complete, 2 skipped (already done), 1 failed (errors: outputs/multirun/.../3/error.txt)

The sweep's jobs are identified by their own saved configs (``<sweep dir>/<n>/.hydra/config.yaml``): each one's
config hash names its record, exactly as the runner placed it, so records of other sweeps under the same
``output_root`` stay out. A job whose record predates the sweep was skipped (``resume=true``); a job without a
record failed, and its error is in ``error.txt`` in its job folder (written by ``on_job_end``); one with neither
was interrupted (Ctrl-C or a killed process): counted apart, never a failed cell of the table.

Hydra does not call ``on_multirun_end`` when a job fails (the sweeper re-raises the first failure once the
batch has run), so the summary is also registered with ``atexit``: a failed sweep gets it on its way out.
"""

from __future__ import annotations

import atexit
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.schema import RecordError, failure_record
from adaptbench.harness.records.store import read_record, record_path
from adaptbench.harness.report.render import render
from adaptbench.harness.report.results import Results
from adaptbench.harness.report.text import run_table

ERROR_FILE = "error.txt"
ELSEWHERE_FILE = "running_elsewhere.txt"  # written by a job whose lock another live process holds
LISTED_ERRORS = 3  # failed jobs named in the summary line (all of them are in multirun.md)


@dataclass
class SweepJobs:
    """The jobs of one sweep, sorted by what became of them."""

    complete: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failed: list[tuple[dict, str]] = field(default_factory=list)  # (record or stand-in, where its error is)
    # jobs another live process (another sweep) was running: neither this sweep's result nor its failure
    elsewhere: list[str] = field(default_factory=list)
    # job folders with neither a record nor an error: stopped (Ctrl-C, a killed process) before they ended; not a
    # failure of their config, so no failed cell in the table (a rerun with resume=true runs them)
    interrupted: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[dict]:
        return self.complete + self.skipped + [record for record, _ in self.failed]

    def summary(self, table: Path | None) -> str:
        line = f"sweep: {len(self.complete)} complete, {len(self.skipped)} skipped (already done), "
        line += f"{len(self.failed)} failed"
        if self.failed:
            places = [where for _, where in self.failed]
            more = f", and {len(places) - LISTED_ERRORS} more" if len(places) > LISTED_ERRORS else ""
            line += f" (errors: {', '.join(places[:LISTED_ERRORS])}{more})"
        if self.elsewhere:
            line += f", {len(self.elsewhere)} running elsewhere"
        if self.interrupted:
            line += f", {len(self.interrupted)} interrupted (no record: run the sweep again to finish it)"
        return line + (f"; table: {table}" if table else "")


def note_running_elsewhere(message: str) -> None:
    """In a sweep's job folder: this job's lock is held by another live process (see ``collect``)."""
    from hydra.core.hydra_config import HydraConfig

    folder = Path(HydraConfig.get().runtime.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ELSEWHERE_FILE).write_text(message + "\n", encoding="utf-8")


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job folders (those Hydra saved a config in), in job order."""
    found = [p.parent.parent for p in sweep_dir.glob("*/.hydra/config.yaml")]
    return sorted(found, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))


def stand_in(cfg: DictConfig, error: str) -> dict:
    """A failure record for a job that wrote none, so that the table shows its cell as failed."""
    return dict(failure_record(cfg, key="", run_name="", error=error))


def job_record_path(job: Path, cfg: DictConfig) -> Path:
    """Where the runner put the record of the job saved in ``job`` (``runner.plan_job``): its config less the
    ``++method.<key>`` settings its method lacks (dropped by the job), its hash with the upstream record's when it
    started from one (``init_from``; a job whose ``init_from`` was refused wrote its failure record without); a hub
    model's node filled from its config.json."""
    from adaptbench.harness.api.errors import ConfigError
    from adaptbench.harness.config.hub import fill_hub_model
    from adaptbench.harness.config.init_from import init_source
    from adaptbench.harness.config.tree import forced_method_settings
    from adaptbench.harness.config.validate import drop_settings_the_method_lacks

    overrides = job / ".hydra" / "overrides.yaml"
    upstream = None
    try:
        fill_hub_model(cfg)  # as the job's validation did: its hash covers the arch read from config.json
        if overrides.is_file():
            forced = forced_method_settings([str(o) for o in OmegaConf.load(overrides)])
            drop_settings_the_method_lacks(cfg, forced)
        if cfg.get("init_from") is not None:
            upstream = init_source(cfg.init_from, cfg.model.name, cfg.method.name).key
    except ConfigError:  # the job failed on it and wrote its failure record under the plain hash
        pass
    return record_path(cfg, config_hash(cfg, upstream=upstream))


def is_complete_record(path: Path) -> bool:
    try:
        return read_record(path).get("status") == "complete"
    except RecordError:
        return False


def collect(sweep_dir: Path, started: float | None) -> SweepJobs:
    """Each job of the sweep: its record if it has one (written before ``started``: skipped), else failed."""
    jobs = SweepJobs()
    for job in job_dirs(sweep_dir):
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        if (
            cfg.get("dry_run", False) or "task" not in cfg
        ):  # a dry run (or a non-run job) writes no run record
            continue
        path = job_record_path(job, cfg)
        error_file = job / ERROR_FILE
        where = str(error_file if error_file.is_file() else job)
        if (job / ELSEWHERE_FILE).is_file() and not is_complete_record(path):
            jobs.elsewhere.append((job / ELSEWHERE_FILE).read_text(encoding="utf-8").strip())
            continue
        try:
            record = dict(read_record(path))
        except RecordError:
            if not error_file.is_file() and not path.exists():  # stopped before Hydra saw it end
                jobs.interrupted.append(str(job))
                continue
            jobs.failed.append((stand_in(cfg, f"no record at {path}; see {where}"), where))
            continue
        if record.get("status") != "complete":
            jobs.failed.append((record, str(path)))
        elif started is not None and path.stat().st_mtime < started:
            jobs.skipped.append(record)
        else:
            jobs.complete.append(record)
    return jobs


def write_table(sweep_dir: Path, jobs: SweepJobs) -> Path | None:
    """``multirun.md``: the comparison table(s) of the sweep's records (None when it has no job records)."""
    if not jobs.records:
        return None
    tables = [
        render(run_table(rows, layout, None, False), "md") for layout, rows in Results(jobs.records).grids()
    ]
    path = sweep_dir / "multirun.md"
    path.write_text(f"# {jobs.summary(None)}\n\n" + "\n\n".join(tables) + "\n", encoding="utf-8")
    return path


_failed_in_last_sweep = 0


def failed_jobs() -> int:
    """How many jobs of the sweep that ended in this process failed (0 after a single run): the exit status."""
    return _failed_in_last_sweep


class SweepSummary(Callback):
    """Writes ``multirun.md`` and prints one summary line when a sweep ends (see the module docstring)."""

    def __init__(self) -> None:
        self.sweep_dir: Path | None = None
        self.started: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_dir = Path(config.hydra.sweep.dir)
        self.started = time.time()
        atexit.register(self.finish)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.unregister(self.finish)
        self.finish()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """A failed job's exception and traceback, to ``error.txt`` in its job folder."""
        if job_return.status != JobStatus.FAILED:
            return
        error = job_return._return_value  # the public ``return_value`` re-raises it
        text = "".join(traceback.format_exception(error)) if isinstance(error, BaseException) else str(error)
        output_dir = Path(config.hydra.runtime.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / ERROR_FILE).write_text(text, encoding="utf-8")

    def finish(self) -> None:
        if self.sweep_dir is None or not self.sweep_dir.is_dir():
            return
        global _failed_in_last_sweep
        jobs = collect(self.sweep_dir, self.started)
        _failed_in_last_sweep = len(jobs.failed) + len(jobs.interrupted)  # the exit status: not all done
        if not jobs.records and not jobs.interrupted:
            return
        try:
            table = write_table(self.sweep_dir, jobs)
        except Exception as err:  # noqa: BLE001 -- the summary line must never be lost to the table
            print(f"adaptbench: sweep table not written: {type(err).__name__}: {err}", file=sys.stderr)
            table = None
        print(jobs.summary(table), flush=True)
