"""Two identical sweeps at once: a job whose lock another live process holds is "running elsewhere" in this
sweep's summary, not failed, and does not by itself make the exit status non-zero."""

from __future__ import annotations

import signal
import subprocess
import sys

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.plan import plan_job
from conftest import CLI, REPO

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]


def test_a_job_held_by_another_live_sweep_is_running_elsewhere(tmp_path):
    lock = (
        plan_job(compose_run_config([*TINY, "method.r=4", f"output_root={tmp_path}"])).artifacts / "job.lock"
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from adaptbench.harness.run.locks import job_lock\n"
            f"with job_lock(Path({str(lock)!r})):\n    print('held', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        sweep = subprocess.run(
            [*CLI, "run", "-m", *TINY, "method.r=4,8", f"output_root={tmp_path}"],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "Traceback" not in sweep.stderr
    assert f"already running (pid {holder.pid}" in sweep.stderr
    summary = sweep.stdout.strip().splitlines()[-1]
    assert summary.startswith("sweep: 1 complete, 0 skipped (already done), 0 failed, 1 running elsewhere")
    records = sorted((tmp_path / "records").rglob("*.json"))
    assert len(records) == 1  # the held job wrote nothing: neither a record nor a failure record
