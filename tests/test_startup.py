"""Start-up stays cheap: the CLI and its help import no ML or metric stack, and counting parameters imports no
metric stack (they load when a metric is computed) and no ``datasets`` (it loads when a task builds its
data). Checked through ``sys.modules`` in a fresh interpreter,
so a regression fails here rather than as a slow ``--help`` weeks later."""

from __future__ import annotations

import json
import subprocess
import sys

METRIC_STACKS = ("sklearn", "scipy", "pycocoevalcap", "sacrebleu", "wandb")
# transformers' modeling_utils imports scipy.optimize itself (its detection losses) whenever scipy is installed,
# so building any model loads ``scipy``; our metrics' part of it is ``scipy.stats``.
OUR_METRIC_MODULES = ("sklearn", "scipy.stats", "pycocoevalcap", "sacrebleu", "wandb")


def modules_after(code: str) -> set[str]:
    """Every module name in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def imported_after(code: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    return {name.split(".")[0] for name in modules_after(code)}


def test_cli_help_imports_no_ml_stack() -> None:
    loaded = imported_after(
        "import contextlib, io\nfrom adaptbench.harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help']); main(['run', '--help'])"
    )
    assert not loaded & {"torch", "transformers", "datasets", *METRIC_STACKS}


def test_params_imports_no_metric_stack_nor_datasets() -> None:
    loaded = modules_after(
        "import contextlib, io\nfrom adaptbench.harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['params', 'model=roberta-base', 'method=lora', 'task=sst2']) == 0"
    )
    assert "torch" in loaded  # the probe really built the model
    assert not loaded & set(OUR_METRIC_MODULES)
    assert "datasets" not in loaded, (
        "counting parameters imported `datasets` (~0.75 s): import it where data is built"
    )


def test_score_imports_neither_torch_nor_transformers(tmp_path) -> None:
    """``adaptbench score dart`` end to end (reading, BLEU, nltk tokens, TER, the JSON), METEOR's jar replaced
    by a stand-in so that the probe needs no java: ``import torch`` alone costs seconds the scores do not need,
    and nltk (1.5-3 s with the scipy it pulls in) is imported by the tokenizer worker, not here."""
    refs, hyps = tmp_path / "refs.txt", tmp_path / "hyps.txt"
    refs.write_text("a | b | c || the cat sat on the mat\na | b | c || a cat sat\nd | e | f || dogs bark\n")
    hyps.write_text("the cat sat on a mat\ndogs bark loudly\n")
    loaded = modules_after(
        "import contextlib, io, json\n"
        "from adaptbench.tasks.metrics import nlg\n"
        "class NoJar:\n"
        "    def __init__(self, processes=1, corpus=None): pass\n"
        "    def __enter__(self): return self\n"
        "    def __exit__(self, *exc): pass\n"
        "    def score(self, refs, hyps): return 0.5\n"
        "nlg.MeteorScorer = NoJar\n"
        "from adaptbench.harness.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    assert main(['score', 'dart', '--refs', {str(refs)!r}, '--hyps', {str(hyps)!r}]) == 0\n"
        "scores = json.loads(out.getvalue())\n"
        "assert scores['METEOR'] == 0.5 and 0 < scores['BLEU'] < 100 and 0 < scores['TER'] < 1, scores"
    )
    assert "sacrebleu" in loaded and "rapidfuzz" in loaded  # the probe really scored
    assert "nltk" not in loaded
    assert not loaded & {"torch", "transformers", "datasets"}, sorted(
        loaded & {"torch", "transformers", "datasets"}
    )
