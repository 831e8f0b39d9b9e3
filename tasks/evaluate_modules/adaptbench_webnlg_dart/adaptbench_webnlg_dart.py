"""WebNLG / DART BLEU, METEOR and TER as the WebNLG challenge's GenerationEval computes them on the LoRA
pipeline's files (the LoRA paper's Table 14)."""

import datasets
import evaluate

from adaptbench.tasks.metrics.coco import MeteorScorer
from adaptbench.tasks.metrics.nlg import score_webnlg_dart

_DESCRIPTION = """BLEU (0-100), METEOR and TER (fractions) as GenerationEval's eval.py -nr 6 -m bleu,meteor,ter
computes them after the LoRA repository's gpt2_decode.py --tokenize --lower, computed by
adaptbench.tasks.metrics.nlg.score_webnlg_dart. Needs java."""

_INPUTS = """predictions: one output per unique triple set; references: all references of that triple set.
meteor (optional): an open adaptbench MeteorScorer to reuse."""


class AdaptbenchWebNLGDart(evaluate.Metric):
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
        return score_webnlg_dart(references, predictions, meteor=meteor)
