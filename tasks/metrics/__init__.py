"""Evaluation metrics: GLUE classification/regression metrics and the E2E / WebNLG / DART NLG metrics.

``glue`` needs only numpy/scipy/scikit-learn; the NLG metrics import ``sacrebleu`` and ``pycocoevalcap``
and run java (METEOR 1.5, the COCO PTB tokenizer) when called.
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
from adaptbench.tasks.metrics.nlg import (
    read_e2e_refs,
    read_hyps,
    read_webnlg_dart_refs,
    score_e2e,
    score_files,
    score_webnlg_dart,
)

__all__ = [
    "GLUE_MAIN_METRIC",
    "GLUE_METRICS",
    "accuracy",
    "accuracy_and_f1",
    "f1",
    "glue_metric",
    "matthews",
    "pearson_spearman",
    "read_e2e_refs",
    "read_hyps",
    "read_webnlg_dart_refs",
    "score_e2e",
    "score_files",
    "score_webnlg_dart",
]
