"""Several processes, one result: under torchrun (2 CPU ranks, gloo) one rank evaluates and writes one record,
with the loss and metrics of a single process trained on the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch.distributed

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.job import run
from conftest import REPO

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora", "device=cpu"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_two_ranks_record_what_one_process_records(tmp_path):
    # torchrun as `python -m torch.distributed.run`: this interpreter, not whichever one a copied venv's
    # `torchrun` script names in its first line
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    ranks = subprocess.run(
        [*torchrun, "--nproc_per_node=2", "-m", "adaptbench.harness.cli", "run", *TINY]
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
    # the same global batch, yet another launch: recorded, and another hash, so neither run stands in for the other
    assert both["config"]["world_size"] == 2 and "world_size" not in one["config"]
    assert both["config_hash"] != one["config_hash"]
    # dropout draws differ between the ranks and the single process: close, not equal
    assert both["train"]["train_loss"] == pytest.approx(one["train"]["train_loss"], abs=0.05)
    assert [h["step"] for h in both["history"]] == [h["step"] for h in one["history"]]
    assert both["best"]["metrics"]["accuracy"] == pytest.approx(one["best"]["metrics"]["accuracy"], abs=0.07)
