"""GLUE metrics as adaptbench reports them (the LoRA paper's Table 2); the config name is the GLUE task."""

import datasets
import evaluate

from adaptbench.harness.api import bad_choice
from adaptbench.tasks.metrics.glue import GLUE_METRICS, glue_metric

_DESCRIPTION = """Accuracy (MNLI, SST-2, QNLI, RTE), accuracy and F1 (MRPC, QQP), Matthews correlation (CoLA),
Pearson and Spearman correlation (STS-B), computed by adaptbench.tasks.metrics.glue; "main" is the number the
paper reports for the task."""

_INPUTS = """predictions: class ids (STS-B: scores); references: labels of the same kind."""


class AdaptbenchGlue(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in GLUE_METRICS:
            raise bad_choice("config_name", self.config_name, GLUE_METRICS)
        kind = "float64" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"predictions": datasets.Value(kind), "references": datasets.Value(kind)}
            ),
        )

    def _compute(self, predictions: list, references: list) -> dict:
        return glue_metric(self.config_name, predictions, references)
