"""Several processes, one result: under torchrun (2 CPU ranks, gloo) one rank evaluates and writes one record,
with the loss and metrics of a single process trained on the same global batch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.job import run
from conftest import REPO

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora", "device=cpu"]


@pytest.mark.skipif(
    shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun"
)
def test_two_ranks_record_what_one_process_records(tmp_path):
    torchrun = str(Path(sys.executable).parent / "torchrun")
    ranks = subprocess.run(
        [torchrun, "--nproc_per_node=2", "-m", "adaptbench.harness.cli", "run", *TINY]
        + ["trainer.batch_size=2", f"output_root={tmp_path / 'ddp'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ranks.returncode == 0, ranks.stderr[-3000:]
    [path] = (tmp_path / "ddp" / "records").rglob("*.json")
    both = json.loads(path.read_text())
    one = run(compose_run_config([*TINY, "trainer.batch_size=4", f"output_root={tmp_path / 'one'}"]))
    assert both["train"]["steps"] == one["train"]["steps"] == 4
    # dropout draws differ between the ranks and the single process: close, not equal
    assert both["train"]["train_loss"] == pytest.approx(one["train"]["train_loss"], abs=0.05)
    assert [h["step"] for h in both["history"]] == [h["step"] for h in one["history"]]
    assert both["best"]["metrics"]["accuracy"] == pytest.approx(one["best"]["metrics"]["accuracy"], abs=0.07)
