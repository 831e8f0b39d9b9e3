"""The ``evaluate`` modules shipped in the package give the harness's own numbers: GLUE per task against
``glue_metric``, E2E and WebNLG/DART against ``adaptbench score`` (``score_files``) on real dev-set files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.registry import TASKS
from adaptbench.tasks.evaluate_modules import EVALUATE_MODULES, evaluate_module_path
from adaptbench.tasks.metrics.coco import MeteorScorer
from adaptbench.tasks.metrics.glue import GLUE_METRICS, glue_metric

evaluate = pytest.importorskip("evaluate")


def test_module_folders_hold_their_scripts() -> None:
    for name, folder in EVALUATE_MODULES.items():
        path = Path(evaluate_module_path(name))
        assert path.name == folder and (path / f"{folder}.py").is_file()
    assert evaluate_module_path("webnlg") == evaluate_module_path("dart")
    with pytest.raises(ConfigError, match="name='wmt' is not valid; choose one of: dart, e2e, glue, webnlg"):
        evaluate_module_path("wmt")


@pytest.mark.parametrize("task", sorted(GLUE_METRICS))
def test_glue_module_equals_the_harness(task: str) -> None:
    rng = np.random.default_rng(0)
    if task == "stsb":
        labels = rng.uniform(0, 5, 50)
        predictions = labels + rng.normal(0, 1, 50)
    else:
        labels = rng.integers(0, 3 if task.startswith("mnli") else 2, 50)
        predictions = np.where(rng.random(50) < 0.7, labels, 1 - labels % 2)
    module = evaluate.load(evaluate_module_path("glue"), task)
    result = module.compute(predictions=predictions.tolist(), references=labels.tolist())
    assert result == glue_metric(task, predictions, labels)
    assert 0 < result["main"] < 1


def test_glue_module_rejects_an_unknown_task() -> None:
    with pytest.raises(ConfigError, match="config_name='wnli' is not valid; choose one of: cola, mnli"):
        evaluate.load(evaluate_module_path("glue"), "wnli")


def first_groups(task: str, path: Path, n: int) -> list[list[str]]:
    return TASKS.get(task).from_config({"name": task}).reference_groups(path)[:n]


@pytest.mark.parametrize(
    "task, refs_file",
    [
        ("e2e", "e2e/devset.csv"),
        ("webnlg", "webnlg_challenge_2017/dev.json"),
        ("dart", "dart/dart-v1.1.1-full-dev.json"),
    ],
)
def test_nlg_module_equals_adaptbench_score(
    task: str, refs_file: str, shared_data: Path, tmp_path: Path, whole_table_meteor: MeteorScorer
) -> None:
    groups = first_groups(task, shared_data / refs_file, 30)
    hyps = [" ".join(g[0].split()[2:] + g[0].split()[:2]) for g in groups]  # the first reference, rotated
    refs_path = tmp_path / "refs.txt"  # references of one source on consecutive lines, an empty line between
    refs_path.write_text("\n".join("".join(r + "\n" for r in g) for g in groups), encoding="utf-8")
    hyps_path = tmp_path / "hyps.txt"
    hyps_path.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    scorer = TASKS.get(task).from_config({"name": task})
    expected = scorer.score(
        *scorer.scoring_inputs(refs_path, hyps_path), meteor=whole_table_meteor
    )  # = score_files
    module = evaluate.load(evaluate_module_path(task))
    result = module.compute(predictions=hyps, references=groups, meteor=whole_table_meteor)
    assert result == pytest.approx(expected, rel=1e-12)
    assert 0 < result["BLEU"] < (1 if task == "e2e" else 100)
