"""``benchmarks/gpu_check.sh --cpu-smoke``: the GPU check's every step, on the CPU with tiny models, so the script
that has to work the first time a GPU is at hand cannot rot unseen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
# in the order they run: latency last, whose 90 points are the likeliest to outlast a lease
STEPS = ["quickstart", "table2_cell", "memory_step", "latency", "latency_table"]


def test_cpu_smoke_runs_every_step_and_writes_its_files(tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        ["bash", str(SCRIPT), "--cpu-smoke", str(out)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(out)
    steps = [json.loads(line)["step"] for line in (out / "steps.jsonl").read_text().splitlines()]
    assert steps == STEPS
    [quick] = (out / "quickstart" / "records").rglob("*.json")
    record = json.loads(quick.read_text())
    assert record["status"] == "complete" and record["config"]["trainer"]["precision"] == "bf16"
    latency = [json.loads(p.read_text()) for p in (out / "latency" / "latency").rglob("*.json")]
    assert sorted(r["method"] for r in latency) == ["adapter_h", "lora"]
    assert all(r["trials"] == 3 and r["model"] == "tiny-gpt2" for r in latency)
    table = (out / "latency_table.md").read_text()
    assert "AdapterH" in table and "Table 1" in table  # beside the paper's numbers
    [cell] = (out / "table2" / "records").rglob("*.json")
    assert json.loads(cell.read_text())["train"]["steps"] == 3
    memory = json.loads((out / "memory_step.json").read_text())
    assert set(memory["variants"]) == {"full", "lora", "full+checkpointing", "lora+checkpointing"}
    assert memory["lora_over_full_peak_memory"] is None  # no allocator to ask on the CPU
    assert memory["lora_over_full_step_time"] > 0


def test_without_a_gpu_the_full_check_refuses_in_one_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        return  # the real check would run here
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "gpu")], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "no CUDA device: run with --cpu-smoke"


def test_keep_going_runs_every_step_past_failures_and_exits_1(tmp_path: Path) -> None:
    """One GPU lease, one try: with KEEP_GOING=1 a failed step is reported and the next one still runs (here
    every step fails: the interpreter is ``false``); without it the first failure stops the check."""
    out = tmp_path / "gpu"
    env = {**os.environ, "PYTHON": "false", "KEEP_GOING": "1"}
    result = subprocess.run(
        ["bash", str(SCRIPT), "--cpu-smoke", str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 1
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == STEPS and {s["status"] for s in steps} == {"failed"}
    assert result.stderr.strip().splitlines()[-1].startswith(f"gpu_check: FAILED steps: {' '.join(STEPS)};")

    del env["KEEP_GOING"]
    stopped = subprocess.run(
        ["bash", str(SCRIPT), "--cpu-smoke", str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert stopped.returncode == 1 and "gpu_check: quickstart FAILED" in stopped.stderr
    assert (out / "steps.jsonl").read_text() == "" and "table2_cell" not in stopped.stderr


def test_the_offline_bundle_scripts_parse() -> None:
    """benchmarks/gpu_bundle.sh (here, with PyPI) and gpu_bundle_run.sh (there, offline) run once per GPU lease,
    which no test can give: their shell at least parses."""
    for name in ("gpu_bundle.sh", "gpu_bundle_run.sh"):
        result = subprocess.run(
            ["bash", "-n", str(REPO / "benchmarks" / name)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
