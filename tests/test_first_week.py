"""Issue 24, a cluster user's first week: what a new user hits in the first days (sweeps over local data, honest
records and hashes, config mistakes that leave no record, one-line hints), each as the user would meet it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptbench.harness.cli import main
from conftest import run_cli

# One data_dir pattern for every GLUE task of a sweep, as the README writes it (single quotes: no shell expansion).
GLUE_PATTERN = "task.data_dir=../shared/data/glue_${task.name}"
TINY_RUN = ["model=tiny-bert", "method=bitfit", "trainer=tiny", "trainer.max_eval_samples=16"]


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def refused_in_process(capsys, *args: str) -> list[str]:
    """``adaptbench <args>`` in this process, for a command line refused before Hydra starts (the same ``main``
    a subprocess runs; tests/test_cli_errors.py runs such refusals in a fresh process): its stderr lines."""
    assert main(list(args)) == 2
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_a_two_task_sweep_over_local_glue_folders_composes_with_one_pattern_and_runs(shared_data, tmp_path):
    sweep = run_cli(
        "run",
        "-m",
        "task=sst2,mrpc",
        GLUE_PATTERN,
        *TINY_RUN,
        "trainer.max_steps=2",
        "device=cpu",
        f"output_root={tmp_path}",
    )
    assert sweep.returncode == 0, sweep.stderr
    paths = {path.parent.parent.name: path for path in (tmp_path / "records").glob("*/*/*.json")}
    records = {task: json.loads(path.read_text()) for task, path in paths.items()}
    assert {task: r["status"] for task, r in records.items()} == {"sst2": "complete", "mrpc": "complete"}
    # each task's job got its own folder from the one pattern
    assert {task: r["config"]["task"]["data_dir"] for task, r in records.items()} == {
        "sst2": "../shared/data/glue_sst2",
        "mrpc": "../shared/data/glue_mrpc",
    }
    # the same job as a single run with the folder written out: the same record (so the same config hash)
    single = run_cli(
        "run",
        "task=mrpc",
        "task.data_dir=../shared/data/glue_mrpc",
        *TINY_RUN,
        "trainer.max_steps=2",
        "device=cpu",
        "dry_run=true",
        f"output_root={tmp_path}",
    )
    assert single.returncode == 0, single.stderr
    [job] = json_lines(single.stdout)
    assert Path(job["record"]) == paths["mrpc"] and job["done"] is True


def test_a_setting_of_every_swept_method_but_not_the_default_one_composes(tmp_path):
    # prefix_len belongs to both prefix methods but not to lora, the default method Hydra composes a sweep's base with
    sweep = run_cli(
        "run",
        "-m",
        "method=prefix_embed,prefix_layer",
        "method.prefix_len=3",
        "model=tiny-bert",
        "task=vader",
        "trainer=tiny",
        "dry_run=true",
        f"output_root={tmp_path}",
    )
    assert sweep.returncode == 0, sweep.stderr
    assert [j["method_config"]["prefix_len"] for j in json_lines(sweep.stdout)] == [3, 3]


def test_the_world_size_of_a_launch_is_recorded_and_hashed(tmp_path, monkeypatch):
    from adaptbench.harness.config.tree import compose_run_config
    from adaptbench.harness.records.hashing import config_hash
    from adaptbench.harness.run.plan import plan_job

    overrides = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora", f"output_root={tmp_path}"]
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    alone = plan_job(compose_run_config(overrides))
    monkeypatch.setenv("WORLD_SIZE", "1")
    one = plan_job(compose_run_config(overrides))
    monkeypatch.setenv("WORLD_SIZE", "2")
    two = plan_job(compose_run_config(overrides))
    # one process: the hash every earlier record was taken with (no world_size key)
    assert alone.key == one.key == config_hash(compose_run_config(overrides))
    assert "world_size" not in one.cfg
    assert two.cfg.world_size == 2 and two.key != one.key and two.path != one.path
    assert config_hash(two.cfg) == two.key  # a record's config alone gives its hash back


def test_config_and_data_mistakes_in_a_sweep_leave_no_record_for_later_tables(shared_data, tmp_path, capsys):
    # fp16 on the CPU (found when the device is picked) and a missing data folder (found when the data loads)
    sweep = run_cli(
        "run",
        "-m",
        "task=mrpc",
        "task.data_dir=../shared/data/glue_mrpc,../shared/data/glue_nope",
        "trainer.precision=fp32,fp16",
        *TINY_RUN,
        "trainer.max_steps=2",
        "device=cpu",
        f"output_root={tmp_path}",
    )
    assert sweep.returncode == 1, sweep.stderr
    failures = [line for line in sweep.stderr.splitlines() if ": failed: " in line]
    assert len(failures) == 3 and all("(no record: a config or data mistake)" in line for line in failures)
    assert "sweep: 1 complete, 0 skipped (already done), 3 failed" in sweep.stdout
    records = [json.loads(p.read_text()) for p in (tmp_path / "records").rglob("*.json")]
    assert [(r["status"], r["config"]["trainer"]["precision"]) for r in records] == [("complete", "fp32")]
    capsys.readouterr()
    assert main(["table", str(tmp_path)]) == 0  # in process: the table reads the records, no Hydra involved
    table = capsys.readouterr().out
    assert "failed" not in table and "1 complete" not in table


def test_another_models_weights_under_a_presets_name_are_refused_in_one_line(tmp_path, capsys):
    [line] = refused_in_process(
        capsys,
        "run",
        "model=roberta-base",
        "model.hf_name=bert-base-uncased",
        "method=lora",
        "task=vader",
        f"output_root={tmp_path}",
    )
    assert line.startswith("adaptbench: error: model.hf_name='bert-base-uncased' is not model='roberta-base'")
    assert "'FacebookAI/roberta-base'" in line and "model.path=" in line
    assert not (tmp_path / "records").exists()
    # the preset's own name, spelled out, is the same run
    same = run_cli(
        "run",
        "model=roberta-base",
        "model.hf_name=FacebookAI/roberta-base",
        "model.pretrained=false",
        "method=lora",
        "task=vader",
        "dry_run=true",
        f"output_root={tmp_path}",
    )
    assert same.returncode == 0, same.stderr


def test_the_logging_interval_is_a_setting_hashed_only_when_set(tmp_path, capsys):
    import torch
    from omegaconf import open_dict

    from adaptbench.harness.config.tree import compose_run_config
    from adaptbench.harness.config.validate import validate
    from adaptbench.harness.records.hashing import config_hash
    from adaptbench.harness.run.training import training_arguments

    def job(*overrides: str):
        cfg = compose_run_config(["model=tiny-bert", "task=vader", "method=lora", "trainer=tiny", *overrides])
        plan = validate(cfg)
        args = training_arguments(plan.trainer, tmp_path, 1, torch.device("cpu"))
        return config_hash(cfg), args.logging_steps

    default_hash, default_steps = job()
    assert default_steps == 4  # min(50, max_steps) with trainer=tiny's 4 steps, as before the setting existed
    assert job("trainer.max_steps=-1", "trainer.epochs=1")[1] == 50
    every_step_hash, every_step = job("trainer.logging_steps=1")
    assert every_step == 1 and every_step_hash != default_hash
    # null, the default, hashes as records made before the setting did (no logging_steps key)
    plain = compose_run_config(["model=tiny-bert", "task=vader", "method=lora", "trainer=tiny"])
    with open_dict(plain):
        del plain.trainer["logging_steps"]
    assert config_hash(plain) == default_hash
    [line] = refused_in_process(
        capsys, "run", "model=tiny-bert", "trainer.logging_steps=0", "dry_run=true", f"output_root={tmp_path}"
    )
    assert "trainer.logging_steps=0" in line


@pytest.mark.parametrize("sweep", [[], ["-m"]])
def test_a_preset_without_its_plus_gets_a_one_line_hint(sweep, tmp_path, capsys):
    lines = refused_in_process(
        capsys, "run", *sweep, "experiment=table2_roberta_base", "dry_run=true", f"output_root={tmp_path}"
    )
    assert lines == [
        "adaptbench: error: experiment is not in the default config; add the preset with "
        "+experiment=table2_roberta_base"
    ]


def test_score_prints_bleu_in_one_unit_for_every_task():
    from adaptbench.harness.report.layouts import in_table_units

    # E2E's scorer gives BLEU as a fraction (e2e-metrics), WebNLG's and DART's 0-100 (multi-bleu): one unit out
    assert in_table_units("e2e", {"BLEU": 0.6925, "NIST": 8.71}) == {
        "BLEU": pytest.approx(69.25),
        "NIST": 8.71,
    }
    assert in_table_units("webnlg", {"BLEU": 46.5, "TER": 0.46}) == {"BLEU": 46.5, "TER": 0.46}
    assert in_table_units("dart", {"BLEU": 47.1}) == {"BLEU": 47.1}
    assert in_table_units("vader", {"accuracy": 0.9}) == {"accuracy": 0.9}  # no paper table: as recorded


def test_a_wandb_sweep_is_quiet_and_logs_a_loss_curve(tmp_path, monkeypatch):
    from adaptbench.harness.report.wandb import offline_run_files, read_offline_run, read_run_records

    monkeypatch.delenv("WANDB_SILENT", raising=False)  # as a user's shell has it: unset
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    result = run_cli(
        "run",
        "-m",
        "seed=1,2",
        "model=tiny-bert",
        "task=vader",
        "method=lora",
        "trainer=tiny",
        "trainer.max_steps=6",
        "trainer.logging_steps=1",
        "logger=wandb",
        "device=cpu",
        f"output_root={tmp_path}",
        env={"WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(console) <= 10, "\n".join(console)
    runs = offline_run_files(tmp_path / "wandb")
    assert len(runs) == 2
    for path in runs:
        summary = read_offline_run(path).summary
        assert [key for key in summary if key.endswith("train_samples_per_second")] == [
            "train_samples_per_second"
        ]
        loss_steps = []
        for record in read_run_records(path):
            if record.WhichOneof("record_type") == "history":
                items = {
                    item.key or "/".join(item.nested_key): item.value_json for item in record.history.item
                }
                if "train/loss" in items:
                    loss_steps.append(json.loads(items["_step"]))
        assert loss_steps == [1, 2, 3, 4, 5, 6]
