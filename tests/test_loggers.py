"""W&B logging: offline, one run per job, grouped and tagged; the harness's own record is still written."""

from __future__ import annotations

from adaptbench.harness.config_tree import compose_run_config
from adaptbench.harness.runner import run


def test_wandb_offline_run_per_job(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for seed in (1, 2):
        run(
            compose_run_config(
                [
                    "model=tiny-bert",
                    "method=bitfit",
                    "trainer=tiny",
                    "logger=wandb",
                    f"seed={seed}",
                    f"output_root={tmp_path}",
                ]
            )
        )
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    assert all(list(r.glob("*.wandb")) for r in runs)
    assert len(list((tmp_path / "records").rglob("*.json"))) == 2
