"""GLUE metrics: hand-computed values, agreement with scikit-learn/scipy, degenerate inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from adaptbench.harness.api.errors import ConfigError
from adaptbench.tasks.metrics.glue import (
    GLUE_MAIN_METRIC,
    GLUE_METRICS,
    accuracy,
    accuracy_and_f1,
    f1,
    glue_metric,
    matthews,
    pearson_spearman,
)

# tp = 2 (idx 0, 4), tn = 1 (idx 2), fp = 1 (idx 1), fn = 1 (idx 3)
PREDS = np.array([1, 1, 0, 0, 1])
LABELS = np.array([1, 0, 0, 1, 1])


def test_accuracy_by_hand() -> None:
    assert accuracy(PREDS, LABELS) == {"accuracy": pytest.approx(3 / 5)}
    assert accuracy([0, 1, 2], [0, 1, 2])["accuracy"] == 1.0


def test_f1_by_hand() -> None:
    # precision = 2/3, recall = 2/3 -> F1 = 2/3
    assert f1(PREDS, LABELS) == {"f1": pytest.approx(2 / 3)}
    # precision = 1/1, recall = 1/3 -> F1 = 2 * 1 * (1/3) / (4/3) = 1/2
    assert f1([1, 0, 0, 0], [1, 1, 1, 0])["f1"] == pytest.approx(0.5)


def test_matthews_by_hand() -> None:
    tp, tn, fp, fn = 2, 1, 1, 1
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert expected == pytest.approx(1 / 6)
    assert matthews(PREDS, LABELS) == {"matthews_correlation": pytest.approx(expected)}
    assert matthews(LABELS, LABELS)["matthews_correlation"] == pytest.approx(1.0)
    assert matthews(1 - LABELS, LABELS)["matthews_correlation"] == pytest.approx(-1.0)


def test_pearson_spearman_by_hand() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    out = pearson_spearman(x, 2 * x + 1)
    assert out["pearson"] == pytest.approx(1.0)
    assert out["spearman"] == pytest.approx(1.0)
    assert out["pearson_spearman_mean"] == pytest.approx(1.0)
    assert out["constant_prediction"] is False
    # y = x^2: ranks agree (Spearman 1); Pearson from the definition
    y = x**2
    xc, yc = x - x.mean(), y - y.mean()
    r = float((xc * yc).sum() / math.sqrt((xc**2).sum() * (yc**2).sum()))
    out = pearson_spearman(x, y)
    assert out["pearson"] == pytest.approx(r)
    assert out["spearman"] == pytest.approx(1.0)
    assert out["pearson_spearman_mean"] == pytest.approx((r + 1.0) / 2)
    # reversed order: Spearman -1
    assert pearson_spearman(x, -y)["spearman"] == pytest.approx(-1.0)


def test_agrees_with_sklearn_and_scipy() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=200)
    preds = np.where(rng.random(200) < 0.8, labels, 1 - labels)
    assert accuracy(preds, labels)["accuracy"] == pytest.approx(accuracy_score(labels, preds))
    assert f1(preds, labels)["f1"] == pytest.approx(f1_score(labels, preds))
    assert matthews(preds, labels)["matthews_correlation"] == pytest.approx(matthews_corrcoef(labels, preds))

    scores = rng.uniform(0, 5, size=300)
    noisy = scores + rng.normal(0, 1.0, size=300)
    out = pearson_spearman(noisy, scores)
    assert out["pearson"] == pytest.approx(pearsonr(noisy, scores)[0])
    assert out["spearman"] == pytest.approx(spearmanr(noisy, scores)[0])
    assert 0.5 < out["pearson"] < 1.0


def test_returns_plain_python_floats() -> None:
    for task, fn in GLUE_METRICS.items():
        preds, labels = (PREDS.astype(float), LABELS.astype(float)) if task == "stsb" else (PREDS, LABELS)
        for key, value in fn(preds, labels).items():
            assert type(value) in (float, bool), (task, key, type(value))


def test_constant_prediction_is_reported_not_nan() -> None:
    labels = np.array([0.5, 1.5, 4.0, 3.2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConstantInputWarning / RuntimeWarning either
        out = pearson_spearman(np.full(4, 2.5), labels)
        assert out == {
            "pearson": 0.0,
            "spearman": 0.0,
            "pearson_spearman_mean": 0.0,
            "constant_prediction": True,
            "constant_labels": False,
        }
        assert not any(isinstance(v, float) and math.isnan(v) for v in out.values())
        # classification metrics with a constant prediction: defined values, no warnings
        assert matthews([1, 1, 1, 1], [0, 1, 0, 1])["matthews_correlation"] == 0.0
        assert accuracy_and_f1([0, 0, 0, 0], [0, 1, 0, 1]) == {"accuracy": 0.5, "f1": 0.0}
        assert pearson_spearman(labels, np.full(4, 1.0))["constant_labels"] is True


def test_logits_are_argmaxed_and_stsb_column_squeezed() -> None:
    logits = np.array([[0.1, 0.9], [2.0, -1.0], [0.3, 0.2], [0.0, 5.0], [-1.0, 1.0]])  # -> 1, 0, 0, 1, 1
    assert accuracy(logits, LABELS)["accuracy"] == pytest.approx(1.0)
    x = np.array([1.0, 2.0, 3.0])
    assert pearson_spearman(x[:, None], x)["pearson"] == pytest.approx(1.0)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="no predictions"):
        accuracy([], [])


def test_task_table() -> None:
    assert set(GLUE_METRICS) == {"mnli", "mnli_mm", "sst2", "qnli", "rte", "mrpc", "qqp", "cola", "stsb"}
    assert set(GLUE_MAIN_METRIC) == set(GLUE_METRICS)
    assert GLUE_MAIN_METRIC["cola"] == "matthews_correlation"
    assert GLUE_MAIN_METRIC["stsb"] == "pearson"
    assert all(
        GLUE_MAIN_METRIC[t] == "accuracy" for t in ("mnli", "mnli_mm", "sst2", "mrpc", "qnli", "qqp", "rte")
    )
    assert set(GLUE_METRICS["mrpc"](PREDS, LABELS)) == {"accuracy", "f1"}
    assert set(GLUE_METRICS["qqp"](PREDS, LABELS)) == {"accuracy", "f1"}
    out = glue_metric("cola", PREDS, LABELS)
    assert out["main"] == pytest.approx(1 / 6)
    with pytest.raises(ConfigError, match="task='mnli-mm' is not valid"):
        glue_metric("mnli-mm", PREDS, LABELS)
