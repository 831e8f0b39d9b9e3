"""A ``logger=wandb`` job's tables and artifact: the ``results`` table (one row per split and metric), a generation
job's ``samples`` table (source, references, hypothesis) and the trained tensors as a ``model`` artifact. Real
offline W&B runs, read back from their run files (``harness.report.wandb.read_offline_run``) and the table files
W&B wrote beside them."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import wandb
from test_custom_tasks import rows_for, write_jsonl

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.config.validate import validate
from adaptbench.harness.records.store import artifacts_dir
from adaptbench.harness.records.wandb import split_and_metric
from adaptbench.harness.report.wandb import offline_run_files, read_offline_run
from adaptbench.harness.run.job import run
from adaptbench.tasks import custom

SOURCES = 3  # in the generation run's dev file, two references each


def offline_run(root: Path):
    wandb.teardown()  # wandb-core writes the run file after finish() returns
    (found,) = map(read_offline_run, offline_run_files(root / "wandb"))
    return found


def table(found, key: str) -> dict:
    """A logged ``wandb.Table`` as W&B stored it: its columns and rows."""
    logged = found.summary[key]
    assert logged["_type"] == "table-file"
    return json.loads((found.folder / "files" / logged["path"]).read_text(encoding="utf-8"))


def by_column(logged: dict) -> list[dict]:
    return [dict(zip(logged["columns"], row, strict=True)) for row in logged["data"]]


@pytest.fixture(scope="module")
def generation(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object, Path]:
    """A 4-step LoRA run of tiny-gpt2 on a JSONL generation task, evaluated at steps 2 and 4, with
    ``logger.samples=2`` and the trained tensors kept: (record, its W&B run, the run's artifacts folder)."""
    tmp = tmp_path_factory.mktemp("generation")
    train = write_jsonl(tmp / "train.jsonl", [r for i in range(6) for r in rows_for(i)])
    dev = write_jsonl(tmp / "dev.jsonl", [r for i in range(SOURCES) for r in rows_for(i)])
    overrides = ["model=tiny-gpt2", "method=lora", "trainer=tiny", "trainer.eval_every=2"]
    overrides += ["trainer.save_trainable=true", "task=text_generation", f"task.train_file={train}"]
    overrides += [f"task.eval_file={dev}", "task.num_beams=1", "task.max_new_tokens=4"]
    overrides += ["logger=wandb", "logger.samples=2", f"output_root={tmp / 'out'}"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        patch.setenv("WANDB_SILENT", "true")
        patch.setenv("WANDB_DATA_DIR", str(tmp / "wandb-data"))
        patch.setattr(custom, "java_available", lambda: False)  # METEOR's java: seconds per evaluation
        record = run(compose_run_config(overrides))
        found = offline_run(tmp / "out")
    (path,) = (tmp / "out" / "records").rglob("*.json")
    return record, found, artifacts_dir(path)


def test_results_table_has_a_row_per_metric_of_the_best_evaluation(generation):
    record, found, _ = generation
    rows = by_column(table(found, "results"))
    assert {row["metric"]: row["score"] for row in rows} == record["best"]["metrics"]
    assert {row["split"] for row in rows} == {"validation"}
    assert [row["metric"] for row in rows if row["reported"]] == ["BLEU"]
    for row in rows:
        assert (row["task"], row["model"], row["method"], row["seed"]) == (
            "text_generation",
            "tiny-gpt2",
            "lora",
            1,
        )
        assert row["params"] == record["params"]["method_params"] > 0


def test_samples_table_shows_the_first_sources_with_references_and_hypotheses(generation):
    record, found, outputs = generation
    rows = by_column(table(found, "samples"))
    assert len(rows) == 2  # logger.samples=2 of the 3 sources
    steps = [entry["step"] for entry in record["history"]]
    assert steps == [2, 4]
    best = steps.index(record["best"]["step"]) + 1  # the task's hypotheses file of the best evaluation
    hyps = (outputs / f"validation_hypotheses_eval{best}.txt").read_text(encoding="utf-8").splitlines()
    for i, row in enumerate(rows):
        assert row["split"] == "validation" and row["step"] == record["best"]["step"]
        assert row["source"] == f"name : x{i} | food : thai"
        assert row["references"].splitlines() == [f"x{i} serves thai food.", f"thai at x{i}."]
        assert row["hypothesis"] == hyps[i]


def test_trained_tensors_are_a_model_artifact(generation):
    record, found, outputs = generation
    (artifact,) = [a for a in found.artifacts if a.type == "model"]
    assert artifact.name == f"trainable-{record['run_name']}"
    tensors = (outputs / "trainable.safetensors").read_bytes()
    (entry,) = artifact.manifest.contents
    assert entry.path == "trainable.safetensors" and entry.size == len(tensors)
    assert entry.digest == base64.b64encode(hashlib.md5(tensors).digest()).decode()  # W&B's own digest
    metadata = json.loads(artifact.metadata)
    assert metadata["params"] == record["params"]["method_params"]
    assert metadata["best_metrics"] == record["best"]["metrics"]
    assert metadata["config_hash"] == record["config_hash"]


def test_a_classification_job_has_results_but_no_samples_and_no_artifact_when_off(tmp_path, monkeypatch):
    """vader with a held-out selection split: its ``selection_`` metrics get their own split; no generated text,
    so no samples table; ``logger.log_tensors=false`` keeps the tensors off W&B (the file is still written)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    overrides = [
        "model=tiny-bert",
        "method=bitfit",
        "task=vader",
        "+task.selection.heldout=0.25",
        "trainer=tiny",
    ]
    overrides += ["trainer.save_trainable=true", "logger=wandb", "logger.log_tensors=false"]
    record = run(compose_run_config([*overrides, f"output_root={tmp_path}"]))
    found = offline_run(tmp_path)
    rows = by_column(table(found, "results"))
    by_split = {(row["split"], row["metric"]): row["score"] for row in rows}
    metrics = record["best"]["metrics"]
    assert by_split[("validation", "accuracy")] == metrics["accuracy"]
    assert by_split[("selection", "accuracy")] == metrics["selection_accuracy"]
    assert len(by_split) == len(metrics)
    assert [(row["split"], row["metric"]) for row in rows if row["reported"]] == [("validation", "accuracy")]
    assert "samples" not in found.summary
    assert [a.type for a in found.artifacts if a.type == "model"] == []
    assert (artifacts_dir(next((tmp_path / "records").rglob("*.json"))) / "trainable.safetensors").is_file()


@pytest.mark.parametrize(
    ("key", "splits", "expected"),
    [
        ("accuracy", ["validation"], ("validation", "accuracy")),
        (
            "validation_mismatched_accuracy",
            ["validation", "validation_mismatched"],
            ("validation_mismatched", "accuracy"),
        ),
        (
            "selection_matthews_correlation",
            ["validation", "selection"],
            ("selection", "matthews_correlation"),
        ),
        ("validation_mismatched_accuracy", ["validation"], ("validation", "validation_mismatched_accuracy")),
    ],
)
def test_a_metric_key_names_its_split(key, splits, expected):
    assert split_and_metric(key, splits) == expected


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("logger.samples=-1", "logger.samples=-1 is not valid: give a whole number of sources >= 0"),
        ("logger.samples=2.5", "logger.samples=2.5 is not valid"),
        ("logger.log_tensors=maybe", "logger.log_tensors='maybe' is not valid: must be true or false"),
        ("logger.progress_seconds=-5", "logger.progress_seconds=-5 is not valid: give seconds >= 0"),
    ],
)
def test_bad_logger_settings_are_one_line(override, expected):
    cfg = compose_run_config(["model=tiny-bert", "logger=wandb", override])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


def test_a_table_w_and_b_cannot_take_is_a_warning_not_a_failed_job(tmp_path, monkeypatch, caplog):
    """The record is written before the W&B run is finished: unreadable generated text (not UTF-8) costs the
    tables one warning line; the run still closes as finished with the record's summary."""
    from adaptbench.harness.run.loggers import WandbLogger

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_run_config(["model=tiny-gpt2", "method=lora", "logger=wandb", f"output_root={tmp_path}"])
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    for name in ("validation_sources.txt", "validation_references.txt"):
        (outputs / name).write_text("a source\n", encoding="utf-8")
    (outputs / "validation_hypotheses_eval1.txt").write_bytes(b"\xff\xfe not text\n")
    best = {"epoch": 1.0, "step": 4, "metrics": {"BLEU": 12.5}, "eval_seconds": 0.1}
    record = {"run_name": "lora-s1-x", "task": "e2e", "model": "tiny-gpt2", "method": "lora", "seed": 1}
    record |= {"best": best, "history": [best], "metric_for_best": "BLEU", "status": "complete"}
    with caplog.at_level("WARNING", logger="adaptbench"), WandbLogger(cfg, "lora-s1-x") as logger:
        logger.finish(record, outputs, ["validation"])
    found = offline_run(tmp_path)
    assert found.state == "finished" and found.summary["best/BLEU"] == 12.5
    assert "results" not in found.summary
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("W&B run lora-s1-x: tables or tensors not logged (UnicodeDecodeError: ")
