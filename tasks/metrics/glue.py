"""GLUE metrics as the LoRA paper reports them (Table 2): pure functions over predictions and labels.

Every function takes ``(predictions, labels)`` (array-likes of equal length) and returns a dict of plain
Python floats. Classification functions accept either class ids (shape ``(n,)``) or logits/probabilities
(shape ``(n, num_classes)``, reduced with argmax); STS-B accepts scores of shape ``(n,)`` or ``(n, 1)``.

scikit-learn and scipy are imported inside the functions: importing a task module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from adaptbench.harness.api import bad_choice

MetricFn = Callable[[ArrayLike, ArrayLike], dict[str, float]]


def _check(
    predictions: ArrayLike, labels: ArrayLike, *, regression: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    preds = np.asarray(predictions)
    labs = np.asarray(labels)
    if regression:
        if preds.ndim == 2 and preds.shape[1] == 1:
            preds = preds[:, 0]
        preds = preds.astype(np.float64)
        labs = labs.astype(np.float64).reshape(-1)
    elif preds.ndim == 2:
        preds = preds.argmax(axis=-1)
    if preds.ndim != 1:
        raise ValueError(f"predictions must be 1-D (or 2-D logits), got shape {preds.shape}")
    if labs.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labs.shape}")
    if len(preds) != len(labs):
        raise ValueError(f"{len(preds)} predictions for {len(labs)} labels")
    if len(preds) == 0:
        raise ValueError("no predictions to score")
    return preds, labs


def accuracy(predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Fraction of exact matches."""
    from sklearn.metrics import accuracy_score

    preds, labs = _check(predictions, labels)
    return {"accuracy": float(accuracy_score(labs, preds))}


def f1(predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Binary F1 of the positive class 1 (MRPC, QQP). No predicted or true positives gives 0.0, not a warning."""
    from sklearn.metrics import f1_score

    preds, labs = _check(predictions, labels)
    return {"f1": float(f1_score(labs, preds, pos_label=1, average="binary", zero_division=0.0))}


def accuracy_and_f1(predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Accuracy and binary F1 (the GLUE metrics of MRPC and QQP)."""
    return {**accuracy(predictions, labels), **f1(predictions, labels)}


def matthews(predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Matthews correlation coefficient (CoLA). sklearn already defines it as 0.0 for a constant prediction."""
    from sklearn.metrics import matthews_corrcoef

    preds, labs = _check(predictions, labels)
    return {"matthews_correlation": float(matthews_corrcoef(labs, preds))}


def pearson_spearman(predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Pearson and Spearman correlation (STS-B) and their mean.

    Both correlations are undefined when the predictions (or the labels) are constant: scipy returns NaN,
    which would poison averages and comparisons downstream. We report 0.0 instead -- a constant predictor
    carries no information about the ranking, so "no correlation" is the honest score -- and set
    ``constant_prediction`` to True (False otherwise; ``constant_labels`` likewise) so that the substitution
    is visible in the record rather than silent.
    """
    from scipy.stats import pearsonr, spearmanr

    preds, labs = _check(predictions, labels, regression=True)
    constant_prediction = bool(np.ptp(preds) == 0)
    constant_labels = bool(np.ptp(labs) == 0)
    if constant_prediction or constant_labels or len(preds) < 2:
        pearson = spearman = 0.0
    else:
        pearson = float(pearsonr(preds, labs)[0])
        spearman = float(spearmanr(preds, labs)[0])
    return {
        "pearson": pearson,
        "spearman": spearman,
        "pearson_spearman_mean": (pearson + spearman) / 2,
        "constant_prediction": constant_prediction,
        "constant_labels": constant_labels,
    }


GLUE_METRICS: dict[str, MetricFn] = {
    "mnli": accuracy,
    "mnli_mm": accuracy,
    "sst2": accuracy,
    "qnli": accuracy,
    "rte": accuracy,
    "mrpc": accuracy_and_f1,
    "qqp": accuracy_and_f1,
    "cola": matthews,
    "stsb": pearson_spearman,
}
"""Task name -> metric function ``(predictions, labels) -> dict``."""

GLUE_MAIN_METRIC: dict[str, str] = {
    "mnli": "accuracy",
    "mnli_mm": "accuracy",
    "sst2": "accuracy",
    "qnli": "accuracy",
    "rte": "accuracy",
    "mrpc": "accuracy",
    "qqp": "accuracy",
    "cola": "matthews_correlation",
    "stsb": "pearson",
}
"""The key of the number the LoRA paper reports per task (Table 2: MCC for CoLA, Pearson for STS-B,
accuracy otherwise, MNLI matched)."""


def glue_metric(task: str, predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Score ``task``'s predictions; the result also holds ``"main"``, the number the paper reports."""
    try:
        fn = GLUE_METRICS[task]
    except KeyError:
        raise bad_choice("task", task, GLUE_METRICS) from None
    result = fn(predictions, labels)
    result["main"] = float(result[GLUE_MAIN_METRIC[task]])
    return result
