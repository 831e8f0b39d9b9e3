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


def test_wandb_settings_come_from_the_environment_unless_set(monkeypatch):
    """logger.project / logger.mode are null by default: the user's WANDB_PROJECT / WANDB_MODE apply; set,
    they override the environment. Only rank 0 under torchrun opens a W&B run."""
    import wandb

    from adaptbench.harness.loggers import NullLogger, WandbLogger, open_logger

    opened: list[dict] = []
    monkeypatch.setattr(wandb, "init", lambda **kwargs: opened.append(kwargs))
    monkeypatch.setenv("WANDB_PROJECT", "theirs")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    base = ["model=tiny-bert", "method=bitfit", "trainer=tiny", "logger=wandb"]
    WandbLogger(compose_run_config(base), "run")
    WandbLogger(compose_run_config([*base, "logger.project=mine", "logger.mode=offline"]), "run")
    assert [(o["project"], o["mode"]) for o in opened] == [("theirs", "disabled"), ("mine", "offline")]
    monkeypatch.setenv("RANK", "1")
    assert type(open_logger(compose_run_config(base), "run")) is NullLogger
    assert len(opened) == 2
