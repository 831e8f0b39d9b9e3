"""The five E2E NLG Challenge metrics as its official measure_scores.py computes them (the LoRA paper's Table 13)."""

import datasets
import evaluate

from adaptbench.tasks.metrics.coco import MeteorScorer
from adaptbench.tasks.metrics.nlg import score_e2e

_DESCRIPTION = """BLEU, NIST, METEOR, ROUGE_L and CIDEr as e2e-metrics' measure_scores.py computes them (BLEU,
METEOR and ROUGE_L as fractions), computed by adaptbench.tasks.metrics.nlg.score_e2e. Needs java."""

_INPUTS = """predictions: one output per unique meaning representation; references: all references of that MR.
meteor (optional): an open adaptbench MeteorScorer to reuse."""


class AdaptbenchE2E(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions: list, references: list, meteor: MeteorScorer | None = None) -> dict:
        return score_e2e(references, predictions, meteor=meteor)
