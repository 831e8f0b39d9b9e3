"""``task=text_generation task.dataset=<org/name>``: a dataset by name instead of files, read through the same
checks (tested on a ``datasets.save_to_disk`` folder, which ``task.dataset`` reads with ``load_from_disk``; a hub
name goes through ``load_dataset`` the same way)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.registry import TASKS
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.run.job import run
from adaptbench.tasks import custom

COLUMNS = ["task.source_field=table", "task.target_field=summary"]


def rows(sources: range) -> list[dict]:
    """One row per source; its targets a list (one or two: several references of a source)."""
    return [
        {
            "table": f"name : x{i} | food : thai",
            "summary": [f"x{i} serves thai food.", f"thai at x{i}."][: 1 + i % 2],
        }
        for i in sources
    ]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``save_to_disk`` folder with splits ``train`` (6 sources) and ``test`` (3), columns table and summary."""
    from datasets import Dataset, DatasetDict

    folder = tmp_path_factory.mktemp("data") / "tables-dataset"
    splits = {"train": rows(range(6)), "test": rows(range(6, 9))}
    DatasetDict({name: Dataset.from_list(r) for name, r in splits.items()}).save_to_disk(str(folder))
    return folder


def task_of(overrides: list[str]):
    cfg = compose_run_config(["model=tiny-gpt2", "task=text_generation", *overrides])
    return TASKS.get("text_generation").from_config(cfg.task)


def test_a_dataset_is_read_as_the_same_jsonl_files_are(saved: Path, tmp_path: Path) -> None:
    files = {}
    for name, sources in (("train", range(6)), ("test", range(6, 9))):
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows(sources)), encoding="utf-8")
    from_files = task_of([f"task.train_file={files['train']}", f"task.eval_file={files['test']}", *COLUMNS])
    from_dataset = task_of([f"task.dataset={saved}", "task.eval_split=test", *COLUMNS])
    from_dataset.validate()
    loaded, expected = from_dataset.load(), from_files.load()
    for split in ("train", "validation"):
        assert loaded[split].to_dict() == expected[split].to_dict()
    # two references of source 7 are two (source, reference) rows
    assert loaded["validation"]["reference"] == [
        "x6 serves thai food.",
        "x7 serves thai food.",
        "thai at x7.",
        "x8 serves thai food.",
    ]
    assert loaded["validation"]["source"][1:3] == ["name : x7 | food : thai"] * 2
    # a record from before the dataset keys keeps its hash
    now = compose_run_config(["model=tiny-gpt2", "task=text_generation"])
    before = OmegaConf.to_container(now, resolve=True)
    for key in ("dataset", "train_split", "eval_split"):
        del before["task"][key]
    assert config_hash(before) == config_hash(now)


def test_tiny_gpt2_trains_and_scores_from_a_dataset(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(custom, "java_available", lambda: False)  # METEOR is not what this file tests
    cfg = compose_run_config(
        ["model=tiny-gpt2", "method=lora", "trainer=tiny", "task=text_generation", f"task.dataset={saved}"]
        + ["task.eval_split=test", *COLUMNS, "task.num_beams=2", "task.max_new_tokens=6"]
        + [f"output_root={tmp_path / 'out'}"]
    )
    record = run(cfg)
    assert record["status"] == "complete" and record["train"]["steps"] == 4
    assert record["config"]["task"]["dataset"] == str(saved)
    metrics = record["best"]["metrics"]
    assert {"BLEU", "rouge1", "rouge2", "rougeL"} <= set(metrics) and "METEOR" not in metrics
    assert metrics["num_sources"] == 3.0  # the test split's sources, each decoded once
    assert 0.0 <= metrics["BLEU"] <= 100.0 and 0.0 <= metrics["rouge1"] <= 1.0
    [folder] = (tmp_path / "out" / "artifacts" / "text_generation" / "tiny-gpt2").iterdir()
    references = (folder / "validation_references.txt").read_text().split("\n\n")
    assert references[1].splitlines() == ["x7 serves thai food.", "thai at x7."]
    hypotheses = (folder / "validation_hypotheses_eval1.txt").read_text().splitlines()
    assert len(hypotheses) == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["task.source_field=tabel", "task.target_field=summary"],
            "task.source_field='tabel' is not a column of {d}[train]; columns: summary, table",
        ),
        (
            [*COLUMNS, "task.eval_split=validation"],
            "task.eval_split (a split of task.dataset='{d}')='validation' is not valid; choose one of: test, train",
        ),
    ],
    ids=["bad-column", "bad-split"],
)
def test_bad_dataset_settings_fail_in_one_line_before_anything_is_built(
    saved: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    cfg = compose_run_config(
        ["model=tiny-gpt2", "method=lora", "trainer=tiny", "task=text_generation", f"task.dataset={saved}"]
        + [*overrides, f"output_root={tmp_path / 'out'}"]
    )
    with pytest.raises(ConfigError) as err:
        run(cfg)
    assert str(err.value) == message.format(d=saved)
    assert not (tmp_path / "out").exists()  # refused in validation: no record, no artifacts
