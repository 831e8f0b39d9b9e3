"""Your own data as a task: text_classification / text_generation from CSV, TSV and JSONL files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.registry import TASKS
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.job import run
from adaptbench.tasks import custom
from conftest import run_cli

WORDS = {"pos": ["great", "lovely", "superb", "fun"], "neg": ["awful", "dull", "bad", "boring"]}


def make(name: str, **cfg: object):
    return TASKS.get(name).from_config({"name": name, **cfg})


def write_csv(path: Path, header: list[str], rows: list[list[object]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def reviews(n: int) -> list[list[str]]:
    """``n`` (text, label) rows whose label the text's adjective gives away."""
    labels = ["pos", "neg"] * (n // 2)
    return [[f"the film was {WORDS[label][i % 4]}", label] for i, label in enumerate(labels)]


def test_classification_run_from_csv(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ["review", "stars"], reviews(24))
    dev = write_csv(tmp_path / "dev.csv", ["review", "stars"], reviews(8))
    result = run_cli(
        "run",
        "model=tiny-bert",
        "method=lora",
        "trainer=tiny",
        "trainer.max_steps=10",
        "task=text_classification",
        f"task.train_file={train}",
        f"task.eval_file={dev}",
        "task.text_fields=[review]",
        "task.label_field=stars",
        "task.name=reviews",
        f"output_root={tmp_path / 'out'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [path] = (tmp_path / "out" / "records" / "reviews" / "tiny-bert").glob("*.json")
    record = json.loads(path.read_text())
    assert record["task"] == "reviews" and record["train"]["steps"] == 10
    assert record["metric_for_best"] == "accuracy"
    metrics = record["best"]["metrics"]
    assert {"accuracy", "f1_macro", "majority_baseline"} <= set(metrics)
    assert metrics["majority_baseline"] == 0.5  # 4 pos, 4 neg
    assert record["params"]["head_params"] == 32 * 2 + 2  # two classes on tiny-bert's 32-d [CLS]


def test_generation_run_from_jsonl(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [r for i in range(6) for r in rows_for(i)])
    dev = write_jsonl(tmp_path / "dev.jsonl", [r for i in range(3) for r in rows_for(i)])
    cfg = compose_run_config(
        [
            "model=tiny-gpt2",
            "method=lora",
            "trainer=tiny",
            "trainer.max_steps=10",
            "trainer.eval_every=10",
            "task=text_generation",
            f"task.train_file={train}",
            f"task.eval_file={dev}",
            "task.num_beams=2",
            "task.max_new_tokens=6",
            f"output_root={tmp_path / 'out'}",
        ]
    )
    record = run(cfg)
    assert record["train"]["steps"] == 10 and record["metric_for_best"] == "BLEU"
    metrics = record["best"]["metrics"]
    assert {"BLEU", "rouge1", "rouge2", "rougeL"} <= set(metrics)
    assert ("METEOR" in metrics) == (shutil.which("java") is not None)
    assert metrics["num_sources"] == 3.0  # one hypothesis per unique source
    [folder] = (tmp_path / "out" / "artifacts" / "text_generation" / "tiny-gpt2").iterdir()
    refs = (folder / "validation_references.txt").read_text().split("\n\n")
    assert refs[0].splitlines() == ["x0 serves thai food.", "thai at x0."]


def rows_for(i: int) -> list[dict]:
    """Source i with two targets: a JSON list for even i, two rows with the same source for odd i."""
    source, targets = f"name : x{i} | food : thai", [f"x{i} serves thai food.", f"thai at x{i}."]
    if i % 2 == 0:
        return [{"source": source, "target": targets}]
    return [{"source": source, "target": t} for t in targets]


def test_generation_groups_targets_and_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custom, "java_available", lambda: False)  # METEOR's jar: see the run test
    path = write_jsonl(tmp_path / "d.jsonl", [r for i in range(2) for r in rows_for(i)])
    task = make("text_generation", train_file=str(path), eval_file=str(path))
    task.validate()
    pairs = task.read_pairs(path, evaluation=True)
    assert pairs == [(s, t) for i in range(2) for r in rows_for(i) for s, t in expand(r)]
    refs = [["the cat sat on the mat", "a cat was on the mat"], ["it rains today in paris"]]
    perfect = task.score(refs, ["a cat was on the mat", "it rains today in paris"])
    assert perfect["BLEU"] == pytest.approx(100.0)
    assert perfect["rouge1"] == perfect["rouge2"] == perfect["rougeL"] == 1.0  # best over the references
    disjoint = task.score(refs, ["zebra", "quantum"])
    assert disjoint["BLEU"] == disjoint["rouge1"] == disjoint["rougeL"] == 0.0
    # rouge1 of "the cat" against "the cat sat on the mat" (F of P=2/2, R=2/6 = 0.5) and 0 for source two
    assert task.score(refs, ["the cat", "zebra"])["rouge1"] == pytest.approx((0.5 + 0.0) / 2)


def expand(row: dict) -> list[tuple[str, str]]:
    targets = row["target"] if isinstance(row["target"], list) else [row["target"]]
    return [(row["source"], t) for t in targets]


def test_labels_become_sorted_class_ids_or_a_regression(tmp_path: Path) -> None:
    # integers sort numerically (2 before 10), strings alphabetically; JSON 3 and CSV "3" are one class
    rows = [["a", "10"], ["b", "2"], ["c", "3"], ["d", "2"]]
    ints = write_csv(tmp_path / "ints.tsv", ["text", "label"], rows, delimiter="\t")
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": "x", "label": 3}, {"text": "y", "label": 10}])
    task = make("text_classification", train_file=str(ints), eval_file=str(dev))
    task.validate()
    assert (task.kind, task.num_labels, task.metric_for_best) == ("classification", 3, "accuracy")
    data = task.load()
    assert data["train"]["label"] == [2, 0, 1, 0] and data["validation"]["label"] == [1, 2]

    names = write_jsonl(tmp_path / "names.jsonl", [{"t": "a", "y": "pos"}, {"t": "b", "y": "neg"}])
    task = make(
        "text_classification", train_file=str(names), eval_file=str(names), text_fields=["t"], label_field="y"
    )
    assert task.load()["train"]["y"] == [1, 0]

    floats = write_csv(tmp_path / "r.csv", ["s1", "s2", "score"], [["a", "b", "0.5"], ["c", "d", "4"]])
    task = make(
        "text_classification",
        train_file=str(floats),
        eval_file=str(floats),
        text_fields=["s1", "s2"],
        label_field="score",
    )
    assert (task.kind, task.num_labels, task.metric_for_best) == ("regression", 1, "pearson")
    assert task.load()["train"]["score"] == [0.5, 4.0]
    forced = make(
        "text_classification",
        train_file=str(floats),
        eval_file=str(floats),
        text_fields=["s1", "s2"],
        label_field="score",
        label_kind="classification",
    )
    assert forced.num_labels == 2


def test_macro_f1(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "t.csv", ["text", "label"], reviews(4))
    task = make("text_classification", train_file=str(train), eval_file=str(train))
    # class 0: P 1/2, R 1 -> F 2/3; class 1: P 1, R 2/3 -> F 4/5; macro = their mean
    scores = task.metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    assert scores == pytest.approx({"accuracy": 0.75, "f1_macro": (2 / 3 + 4 / 5) / 2})


GOOD_DEV = "text,label\nfine,pos\nbad,neg\n"


@pytest.mark.parametrize(
    ("train", "dev", "settings", "message"),
    [
        (None, GOOD_DEV, {}, r"task.train_file='{d}/train.csv': no such file"),
        ("", GOOD_DEV, {}, r"^{d}/train.csv: empty file"),
        ("text,label\n", GOOD_DEV, {}, r"^{d}/train.csv: no data rows"),
        ("text,label\nok,pos\nfine\n", GOOD_DEV, {}, r"^{d}/train.csv:3: 1 fields, the header has 2"),
        ("text,label\nok,pos\nfine,\n", GOOD_DEV, {}, r'^{d}/train.csv:3: label "" in \'label\' is empty'),
        ("text,label\nok,pos\nfine,pos\n", GOOD_DEV, {}, r"^{d}/train.csv: one label \('pos'\) in column"),
        (
            "text,stars\nok,pos\n",
            GOOD_DEV,
            {},
            r"^task.label_field='label' is not a column of {d}/train.csv; columns: stars, text$",
        ),
        (
            "text,label\nok,pos\nfine,0.5\n",
            GOOD_DEV,
            {"label_kind": "regression"},
            r"^{d}/train.csv:2: label 'pos' is not a number",
        ),
        (
            GOOD_DEV,
            'text,label\n"two\nlines",pos\nfine,meh\n',  # a quoted line break: the bad row starts on line 4
            {},
            r"^{d}/dev.csv:4: label \"meh\" is not one of the train file's labels: neg, pos$",
        ),
        (GOOD_DEV, GOOD_DEV, {"text_fields": ["a", "b", "c"]}, r"task.text_fields=.* name one column"),
        (GOOD_DEV, GOOD_DEV, {"label_kind": "ordinal"}, r"choose one of: auto, classification, regression"),
    ],
)
def test_bad_classification_data(
    tmp_path: Path, train: str | None, dev: str, settings: dict, message: str
) -> None:
    if train is not None:
        (tmp_path / "train.csv").write_text(train, encoding="utf-8")
    (tmp_path / "dev.csv").write_text(dev, encoding="utf-8")
    files = {"train_file": str(tmp_path / "train.csv"), "eval_file": str(tmp_path / "dev.csv")}
    with pytest.raises(ConfigError, match=message.format(d=tmp_path)):
        task = make("text_classification", **files, **settings)
        task.validate()
        task.load()


def test_bad_generation_data(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", rows_for(0))
    (tmp_path / "broken.jsonl").write_text(
        '{"source": "a", "target": "b"}\n{"source": "a",\n', encoding="utf-8"
    )
    (tmp_path / "list.jsonl").write_text('{"source": "a", "target": []}\n', encoding="utf-8")
    (tmp_path / "data.txt").write_text("a || b\n", encoding="utf-8")
    cases = {
        "broken.jsonl": r"broken.jsonl:2: not valid JSON",
        "list.jsonl": r"list.jsonl:1: empty 'source' or 'target'",
        "data.txt": r"task.train_file='data.txt': file type '.txt' is not valid; choose one of: .csv, .jsonl, .tsv",
    }
    for name, message in cases.items():
        task = make("text_generation", data_dir=str(tmp_path), train_file=name, eval_file=good.name)
        with pytest.raises(ConfigError, match=message):
            task.validate()
            task.load()
    task = make("text_generation", train_file=str(good), eval_file=str(good), target_field="summary")
    with pytest.raises(
        ConfigError,
        match=r"task.target_field='summary' is not a column of .*good.jsonl:1; columns: source, target",
    ):
        task.load()


def test_cli_prints_one_line_before_building(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ["review", "stars"], [*reviews(4), ["so so", ""]])
    result = run_cli(
        "run",
        "model=tiny-bert",
        "task=text_classification",
        f"task.train_file={train}",
        f"task.eval_file={train}",
        "task.text_fields=[review]",
        "task.label_field=stars",
        f"output_root={tmp_path / 'out'}",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"adaptbench: error: {train}:6: label \"\" in 'stars' is empty or not a label"
    )
    assert not (tmp_path / "out" / "artifacts").exists()  # failed in validation: nothing was built


def test_a_dataset_by_name_is_read_as_the_same_files_are(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    columns = ["review", "stars"]
    train_rows, dev_rows = reviews(24), reviews(8)
    train = write_csv(tmp_path / "train.csv", columns, train_rows)
    dev = write_csv(tmp_path / "dev.csv", columns, dev_rows)
    folder = (
        tmp_path / "reviews-dataset"
    )  # what datasets' save_to_disk writes (a hub name loads the same way)
    splits = {"train": train_rows, "test": dev_rows}
    columns_of = {
        split: {name: [row[i] for row in rows] for i, name in enumerate(columns)}
        for split, rows in splits.items()
    }
    DatasetDict({split: Dataset.from_dict(c) for split, c in columns_of.items()}).save_to_disk(str(folder))
    fields = {"text_fields": ["review"], "label_field": "stars"}
    from_files = make("text_classification", train_file=str(train), eval_file=str(dev), **fields).load()
    cfg = compose_run_config(
        ["model=tiny-bert", "task=text_classification", f"task.dataset={folder}", "task.eval_split=test"]
        + ["task.text_fields=[review]", "task.label_field=stars"]
    )
    from omegaconf import OmegaConf

    from adaptbench.harness.records.hashing import config_hash

    now = compose_run_config(["model=tiny-bert", "task=text_classification"])
    before = OmegaConf.to_container(now, resolve=True)  # a record from before the dataset keys
    for key in ("dataset", "train_split", "eval_split"):
        del before["task"][key]
    assert config_hash(before) == config_hash(now)
    task = TASKS.get("text_classification").from_config(cfg.task)
    task.validate()
    from_dataset = task.load()
    for split in ("train", "validation"):
        assert from_dataset[split].to_dict() == from_files[split].to_dict()
    assert from_dataset["train"]["stars"][:2] == [1, 0]  # "pos", "neg": ids in sorted order of the labels

    wrong = make("text_classification", dataset=str(folder), **fields)  # eval_split: validation, not there
    with pytest.raises(ConfigError) as err:
        wrong.load()
    assert str(err.value) == (
        f"task.eval_split (a split of task.dataset={str(folder)!r})='validation' is not valid; "
        "choose one of: test, train"
    )
    with pytest.raises(ConfigError) as err:
        make(
            "text_classification", dataset=str(folder), label_field="rating", text_fields=["review"]
        ).validate()
    assert str(err.value) == (
        f"task.label_field='rating' is not a column of {folder}[train]; columns: review, stars"
    )
