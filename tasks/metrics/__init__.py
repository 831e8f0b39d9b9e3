"""Evaluation metrics: GLUE classification/regression metrics and the E2E / WebNLG / DART NLG metrics.

Importing them is cheap: scikit-learn, scipy, sacrebleu, pycocoevalcap, nltk and pyter are imported by the
functions that compute a score. The NLG metrics run java (METEOR 1.5, the COCO PTB tokenizer).
"""

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
from adaptbench.tasks.metrics.nlg import E2E_METRICS, WEBNLG_DART_METRICS, score_e2e, score_webnlg_dart

__all__ = [
    "E2E_METRICS",
    "GLUE_MAIN_METRIC",
    "GLUE_METRICS",
    "WEBNLG_DART_METRICS",
    "accuracy",
    "accuracy_and_f1",
    "f1",
    "glue_metric",
    "matthews",
    "pearson_spearman",
    "score_e2e",
    "score_webnlg_dart",
]
