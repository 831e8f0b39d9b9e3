"""The sweep-end callback: multirun.md beside multirun.yaml with the sweep's jobs only, and one summary line
(complete, skipped because already done, failed with where the error is)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from _records_util import run_record
from omegaconf import OmegaConf

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.store import record_path, write_json_atomic
from adaptbench.harness.report.sweep import collect, write_table
from conftest import run_cli


def job_config(tmp_path: Path, method: str) -> object:
    return compose_run_config(
        ["model=tiny-bert", "trainer=tiny", f"method={method}", f"output_root={tmp_path}"]
    )


def save_job(sweep: Path, number: int, cfg: object) -> Path:
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, job / ".hydra" / "config.yaml")
    return job


def write_run(cfg: object, score: float, mtime: float | None = None) -> Path:
    record = run_record(str(cfg.method.name), 1, score, model="tiny-bert")
    record["config"] = OmegaConf.to_container(cfg, resolve=True)
    path = record_path(cfg, config_hash(cfg))
    write_json_atomic(path, record)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_jobs_sorted_into_complete_skipped_failed(tmp_path):
    sweep = tmp_path / "multirun" / "day" / "time"
    started = time.time()
    done_before, new, broken = (job_config(tmp_path, m) for m in ("lora", "bitfit", "adapter_h"))
    write_run(done_before, 0.7, mtime=started - 60)  # an earlier sweep's record: this sweep skipped the job
    write_run(new, 0.6)
    write_run(job_config(tmp_path, "full"), 0.9)  # another sweep's record under the same output_root
    save_job(sweep, 0, done_before)
    save_job(sweep, 1, new)
    (save_job(sweep, 2, broken) / "error.txt").write_text("RuntimeError: boom\n")

    jobs = collect(sweep, started)
    assert [r["method"] for r in jobs.complete] == ["bitfit"]
    assert [r["method"] for r in jobs.skipped] == ["lora"]
    assert [where for _, where in jobs.failed] == [str(sweep / "2" / "error.txt")]
    summary = jobs.summary(None)
    assert (
        summary
        == f"sweep: 1 complete, 1 skipped (already done), 1 failed (errors: {sweep / '2' / 'error.txt'})"
    )

    text = write_table(sweep, jobs).read_text()
    assert "| tiny-bert | AdapterH | - | n=0 (1 failed) |" in text
    assert "| tiny-bert | LoRA |" in text and "| tiny-bert | BitFit |" in text
    assert "| FT |" not in text  # not a job of this sweep


def test_two_job_multirun_writes_multirun_md(tmp_path):
    result = run_cli(
        "run", "-m", "model=tiny-bert", "trainer=tiny", "method=lora,bitfit", f"output_root={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sweep: 2 complete, 0 skipped (already done), 0 failed; table: " in result.stdout
    (multirun_yaml,) = (tmp_path / "multirun").glob("*/*/multirun.yaml")
    table = (multirun_yaml.parent / "multirun.md").read_text()
    assert "| tiny-bert | LoRA | 2,048 |" in table and "| tiny-bert | BitFit |" in table
    assert table.count(" n=1 |") == 2


def test_the_summary_line_survives_a_table_that_cannot_be_written(tmp_path, capsys):
    """multirun.md that cannot be written (a folder in its place) costs the table, never the summary line."""
    from adaptbench.harness.report.sweep import SweepSummary

    sweep = tmp_path / "multirun" / "day" / "time"
    cfg = job_config(tmp_path, "lora")
    write_run(cfg, 0.7)
    save_job(sweep, 0, cfg)
    (sweep / "multirun.md").mkdir()
    callback = SweepSummary()
    callback.sweep_dir, callback.started = sweep, time.time() - 60
    callback.finish()
    captured = capsys.readouterr()
    assert captured.out.strip() == "sweep: 1 complete, 0 skipped (already done), 0 failed"
    assert "sweep table not written: IsADirectoryError" in captured.err
