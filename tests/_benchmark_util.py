"""Run a ``benchmarks/<name>.py --quick`` in a fresh process (CPU only) and read back its JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def quick_benchmark(script: str, timeout: int) -> tuple[dict[str, dict], list[dict]]:
    """(each comparison line by its name, every JSON line); fails with the stderr tail when the script fails."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line["comparison"]: line for line in lines if "comparison" in line}, lines
