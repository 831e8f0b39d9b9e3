"""Issue 24's small bugs, each as a user meets it: a hub download that fails is a config mistake (no record), an
unknown trainer key names the trainer file, a hub model's ``+model.arch.<key>`` is checked, an interrupted
sweep job is not a failure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_hub_models import QWEN2, checkpoint, hub
from test_sweep_callback import job_config, save_job, write_run

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.report.sweep import collect, write_table
from conftest import run_cli


def test_a_single_run_whose_weights_cannot_be_downloaded_leaves_no_record(tmp_path):
    # the preset's own hub name, an empty cache and no network: the weights cannot be had
    result = run_cli(
        "run",
        "model=minilm-l6",
        "model.path=null",
        "task=vader",
        "trainer=tiny",
        "device=cpu",
        f"output_root={tmp_path}",
        env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")},
    )
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("adaptbench:")]
    assert line.startswith(
        "adaptbench: error: model.hf_name='sentence-transformers/all-MiniLM-L6-v2' cannot be loaded ("
    )
    assert line.endswith("give a local folder with model.path=... or set model.pretrained=false")
    assert not list((tmp_path / "records").rglob("*.json"))


@pytest.mark.parametrize(("choice", "shown"), [(["trainer=tiny"], "tiny"), ([], "default")])
def test_an_unknown_trainer_key_names_the_trainer_file(choice, shown):
    with pytest.raises(ConfigError) as err:
        compose_run_config(["model=tiny-bert", *choice, "trainer.bogus=3"])
    assert str(err.value).startswith(f"trainer.bogus is not a setting of trainer='{shown}'; valid keys: ")


def test_a_hub_models_arch_changes_are_checked_and_applied(tmp_path):
    folder = checkpoint(tmp_path / "Qwen2-tiny", QWEN2)
    with pytest.raises(ConfigError) as err:
        compose_run_config(hub(folder, "+model.arch.hiden_size=64"))
    assert str(err.value) == (
        "model.arch.hiden_size is not a setting of model_type='qwen2'; close names: hidden_act, hidden_size"
    )
    cfg = compose_run_config(hub(folder, "+model.arch.num_hidden_layers=1"))
    assert cfg.model.name == "Qwen2-tiny" and cfg.model.arch.model_type == "qwen2"
    assert (cfg.model.arch.num_hidden_layers, cfg.model.arch.hidden_size) == (
        1,
        32,
    )  # the change, on config.json


def test_an_interrupted_sweep_job_is_not_counted_failed(tmp_path):
    sweep = tmp_path / "multirun" / "day" / "time"
    started = time.time()
    done, broken, stopped = (job_config(tmp_path, m) for m in ("lora", "bitfit", "adapter_h"))
    write_run(done, 0.7)
    save_job(sweep, 0, done)
    (save_job(sweep, 1, broken) / "error.txt").write_text("RuntimeError: boom\n")
    save_job(
        sweep, 2, stopped
    )  # Ctrl-C during its training: Hydra never saw it end (no error.txt, no record)

    jobs = collect(sweep, started)
    assert [where for _, where in jobs.failed] == [str(sweep / "1" / "error.txt")]
    assert jobs.interrupted == [str(sweep / "2")]
    assert jobs.summary(None) == (
        f"sweep: 1 complete, 0 skipped (already done), 1 failed (errors: {sweep / '1' / 'error.txt'}), "
        "1 interrupted (no record: run the sweep again to finish it)"
    )
    text = Path(write_table(sweep, jobs)).read_text()
    assert "| tiny-bert | BitFit | - | n=0 (1 failed) |" in text
    assert "AdapterH" not in text
