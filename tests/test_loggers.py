"""W&B logging, offline: one run per job with a flat config, its results in the summary, the sweep's summary run
(``adaptbench table --wandb``) and tables read back from W&B runs (``--from-wandb``). Everything is checked
by reading the offline run files back (``harness.report.wandb.read_offline_run``); nothing of W&B is mocked,
except where a test only looks at the arguments given to ``wandb.init``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import wandb
from omegaconf import OmegaConf

from adaptbench.harness import cli
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.wandb import WandbRun, record_from_wandb, run_group
from adaptbench.harness.report.wandb import offline_run_files, read_offline_run
from adaptbench.harness.run.loggers import WandbLogger
from conftest import run_cli

PRESET = "table2_roberta_base"
JOB = ["model=tiny-bert", "task=vader", "seed=1", "trainer=tiny", "trainer.max_steps=2", "logger=wandb"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-job offline multirun (LoRA, BitFit) with logger=wandb, under a paper preset (its cells made tiny)."""
    root = tmp_path_factory.mktemp("sweep")
    result = run_cli(
        "run", f"+experiment={PRESET}", "method=lora,bitfit", *JOB, f"output_root={root}", "-m",
        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DATA_DIR": str(root / "wandb-data")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def job_runs(root: Path) -> dict[str, WandbRun]:
    """The offline W&B runs of the sweep's jobs, by method (the summary run left out)."""
    runs = [read_offline_run(path) for path in offline_run_files(root / "wandb")]
    return {run.config["method"]: run for run in runs if run.job_type != "summary"}


def records(root: Path) -> dict[str, dict]:
    return {r["method"]: r for r in map(json.loads, map(Path.read_text, (root / "records").rglob("*.json")))}


def test_a_multirun_gives_one_flat_run_per_job(sweep: Path):
    runs, written = job_runs(sweep), records(sweep)
    assert sorted(runs) == ["bitfit", "lora"]
    for method, run in runs.items():
        record = written[method]
        assert run.state == "finished" and run.job_type == method
        assert run.group == f"{PRESET}/tiny-bert/vader"
        config = run.config
        assert (config["method"], config["model"], config["task"], config["seed"]) == (
            method,
            "tiny-bert",
            "vader",
            1,
        )
        assert config["params"] == record["params"]["method_params"] and config["lr"] == record["lr"]
        assert config["experiment"] == PRESET
        assert config["config"]["trainer"] == record["config"]["trainer"]  # the full config, nested
        summary = run.summary
        assert summary["best/accuracy"] == record["best"]["metrics"]["accuracy"]
        assert summary["params"] == record["params"]["method_params"]
        assert summary["trainable_params"] == record["params"]["trainable_params"]
        assert summary["train_seconds"] == record["train"]["train_seconds"]
        assert summary["train_samples_per_second"] == record["train"]["train_samples_per_second"]
        assert summary["peak_memory_bytes"] == record["peak_memory_bytes"]
    assert (runs["lora"].config["r"], runs["lora"].config["alpha"]) == (8, 8)  # the method's settings, flat


def table_rows(markdown: str) -> list[list[str]]:
    """The body rows of the first markdown table in ``markdown``, cells unescaped."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")] for line in lines[1:]]


def test_table_wandb_logs_one_summary_run(sweep: Path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(sweep / "wandb-data"))
    assert cli.main(["table", str(sweep), "--wandb"]) == 0
    printed = capsys.readouterr().out
    (summary_run,) = [
        r for r in map(read_offline_run, offline_run_files(sweep / "wandb")) if r.job_type == "summary"
    ]
    logged = summary_run.summary["table/tasks_without_a_paper_table"]
    assert logged["_type"] == "table-file"
    table = json.loads((summary_run.folder / "files" / logged["path"]).read_text())
    assert table["columns"] == ["Model", "Method", "|Θ|", "vader accuracy"]
    assert table["data"] == table_rows(printed)  # the printed table, cell for cell
    cells = json.loads((summary_run.folder / "files" / summary_run.summary["cells"]["path"]).read_text())
    by_method = {
        row[cells["columns"].index("method")]: dict(zip(cells["columns"], row, strict=True))
        for row in cells["data"]
    }
    for method, record in records(sweep).items():
        assert by_method[method]["value"] == record["best"]["metrics"]["accuracy"]
        assert (
            by_method[method]["params"] == record["params"]["method_params"] and by_method[method]["n"] == 1
        )
    image = summary_run.summary["plots/score_vs_params"]
    assert image["_type"] == "image-file" and (summary_run.folder / "files" / image["path"]).is_file()
    (artifact,) = [a for a in summary_run.artifacts if a.type == "run-records"]
    expected = sorted(str(p.relative_to(sweep / "records")) for p in (sweep / "records").rglob("*.json"))
    assert sorted(entry.path for entry in artifact.manifest.contents) == expected


def test_table_wandb_reads_each_record_once_and_builds_each_grid_once(sweep: Path, monkeypatch):
    """The tables, the cell numbers and the figures of ``table --wandb`` all come from one results model."""
    from adaptbench.harness.records import store
    from adaptbench.harness.report import results

    reads, builds = Counter(), Counter()
    read_record, build_rows = store.read_record, results.build_rows
    monkeypatch.setattr(store, "read_record", lambda path: reads.update([str(path)]) or read_record(path))
    monkeypatch.setattr(
        results, "build_rows", lambda rs, layout: builds.update([layout.name]) or build_rows(rs, layout)
    )
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(sweep / "wandb-data"))
    assert cli.main(["table", str(sweep), "--wandb"]) == 0
    assert len(reads) == len(records(sweep)) and set(reads.values()) == {1}
    # the table and the cells share the auto layout's grid; the figure has its own per-task panel grid
    assert builds["auto"] == 1 and set(builds.values()) == {1}


def test_from_wandb_builds_the_same_table_as_the_records(sweep: Path, capsys):
    assert cli.main(["table", str(sweep)]) == 0
    from_records = capsys.readouterr().out
    assert cli.main(["table", "--from-wandb", str(sweep / "wandb")]) == 0
    assert capsys.readouterr().out == from_records
    assert cli.main(["table", "--from-wandb", str(sweep / "wandb"), "--filter", "method=lora"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[1] for row in rows] == ["LoRA"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--filter", "method=lora"], "--filter selects W&B runs"),
        (["--from-wandb", "not a project"], "--from-wandb='not a project' is not valid"),
        (["--from-wandb", "{root}", "--filter", "method"], "--filter='method' is not valid"),
        (
            ["--from-wandb", "{root}", "--filter", "method=adapter_h"],
            "no finished adaptbench runs with method=",
        ),
    ],
)
def test_bad_wandb_options_are_one_line(argv, expected, tmp_path, capsys):
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "run-x.wandb").write_bytes(b":W&B\xe1\xbe\x00")  # a run file with no records
    assert cli.main(["table", *(a.replace("{root}", str(tmp_path)) for a in argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adaptbench: error: ") and "\n" not in err and expected in err, err


def test_a_failed_job_closes_its_run_as_crashed(tmp_path, monkeypatch):
    """Leaving the ``with`` block on an exception finishes the W&B run with exit code 1; read back, it is a
    failed run, never a complete one."""
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_run_config(["model=tiny-bert", "method=lora", "logger=wandb", f"output_root={tmp_path}"])
    with pytest.raises(RuntimeError), WandbLogger(cfg, "broken", lr=1e-3, params=2048):
        raise RuntimeError("the job failed")
    wandb.teardown()  # wandb-core writes the run file after finish() returns; a process's exit waits for it
    (run,) = map(read_offline_run, offline_run_files(tmp_path / "wandb"))
    assert run.state == "crashed" and run.group == "tiny-bert/vader"
    record = record_from_wandb(run)
    assert (
        record["status"] == "failed" and record["best"] is None and record["params"]["method_params"] == 2048
    )


def test_group_names_the_experiment_when_the_config_has_one():
    cfg = compose_run_config(["model=tiny-bert", "task=vader"])
    assert run_group(cfg) == "tiny-bert/vader"
    OmegaConf.set_struct(cfg, False)
    cfg.experiment = "mine"
    assert run_group(cfg) == "mine/tiny-bert/vader"


def test_wandb_settings_come_from_the_environment_unless_set(monkeypatch, tmp_path):
    """logger.project / logger.mode are null by default: the user's WANDB_PROJECT / WANDB_MODE apply; set,
    they override the environment. Only rank 0 under torchrun opens a W&B run. Real (offline) W&B runs."""
    from adaptbench.harness.run.loggers import NullLogger, open_logger

    monkeypatch.setenv("WANDB_PROJECT", "theirs")
    monkeypatch.setenv("WANDB_MODE", "offline")
    base = ["model=tiny-bert", "method=bitfit", "trainer=tiny", "logger=wandb", f"output_root={tmp_path}"]
    theirs = WandbLogger(compose_run_config(base), "run")
    assert (theirs.run.project, theirs.run.settings.mode, theirs.run.disabled) == ("theirs", "offline", False)
    theirs.run.finish()
    mine = WandbLogger(compose_run_config([*base, "logger.project=mine"]), "run")
    assert mine.run.project == "mine"  # logger.project beats WANDB_PROJECT
    mine.run.finish()
    off = WandbLogger(compose_run_config([*base, "logger.mode=disabled"]), "run")
    assert off.run.disabled  # logger.mode beats WANDB_MODE
    off.run.finish()
    monkeypatch.setenv("RANK", "1")
    assert type(open_logger(compose_run_config(base), "run")) is NullLogger
