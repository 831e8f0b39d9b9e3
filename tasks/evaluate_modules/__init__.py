"""The harness's official metrics as Hugging Face ``evaluate`` modules, shipped in the package and loaded offline by
path, so a training script of one's own gets the numbers ``adaptbench`` reports with the API it knows::

    import evaluate
    from adaptbench.tasks.evaluate_modules import evaluate_module_path

    glue = evaluate.load(evaluate_module_path("glue"), "mrpc")   # config: a GLUE task (mnli, sst2, ..., stsb)
    glue.compute(predictions=[1, 0, 1], references=[1, 1, 1])   # class ids (STS-B: scores)
    e2e = evaluate.load(evaluate_module_path("e2e"))
    e2e.compute(predictions=outputs, references=refs_per_mr)     # one output, a list of references per MR
    webnlg = evaluate.load(evaluate_module_path("webnlg"))       # "dart" loads the same module

Each module computes through :mod:`adaptbench.tasks.metrics`, the code ``adaptbench run`` and ``adaptbench
score`` use; the NLG modules need java. ``compute(..., meteor=scorer)`` reuses an open
:class:`~adaptbench.tasks.metrics.coco.MeteorScorer` (the METEOR jar takes seconds to start).
"""

from __future__ import annotations

from pathlib import Path

from adaptbench.harness.api import bad_choice

EVALUATE_MODULES = {
    "glue": "adaptbench_glue",
    "e2e": "adaptbench_e2e",
    "webnlg": "adaptbench_webnlg_dart",
    "dart": "adaptbench_webnlg_dart",
}
"""What the metrics are for -> the folder of its module (a folder ``x`` holding the script ``x.py``)."""


def evaluate_module_path(name: str) -> str:
    """The folder to pass to ``evaluate.load`` for ``name`` in glue, e2e, webnlg, dart."""
    if name not in EVALUATE_MODULES:
        raise bad_choice("name", name, EVALUATE_MODULES)
    return str(Path(__file__).resolve().parent / EVALUATE_MODULES[name])
