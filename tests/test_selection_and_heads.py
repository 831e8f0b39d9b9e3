"""Issue 20's protocol settings: a regression head starts at the mean training label (``task.head_bias_init``), and
``task.selection`` picks the best epoch on a held-out part of the training data, the dev set only reported. Tiny
random models on small hand-written GLUE files, so every expected number comes from the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.hashing import config_hash
from adaptbench.harness.records.schema import selection_value
from adaptbench.harness.run.job import build, run
from adaptbench.harness.run.plan import plan_job

STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
WORDS = "red green blue cat dog bird runs sits eats the a big small old new fast slow".split()


def sentence(i: int) -> str:
    return " ".join(WORDS[(i * k + k) % len(WORDS)] for k in (1, 3, 5, 7))


def write_stsb(folder: Path, scores: list[float], dev_scores: list[float]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, values, offset in (("train.tsv", scores, 0), ("dev.tsv", dev_scores, 1000)):
        rows = [
            f"{i}\tmain\tx\t2012\t{i}\tnone\tnone\t{sentence(i + offset)}\t{sentence(i + offset + 1)} {i}\t{s:.3f}"
            for i, s in enumerate(values)
        ]
        (folder / name).write_text("\n".join([STSB_HEADER, *rows]) + "\n", encoding="utf-8")
    return folder


def write_sst2(folder: Path, n_train: int, n_dev: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, offset in (("train.tsv", n_train, 0), ("dev.tsv", n_dev, 500)):
        rows = [f"{sentence(i + offset)} number {i + offset}\t{(i * 7 + 3) % 2}" for i in range(n)]
        (folder / name).write_text("\n".join(["sentence\tlabel", *rows]) + "\n", encoding="utf-8")
    return folder


def tiny(
    task: str, data: Path, out: Path, *extra: str, method: str = "bitfit", model: str = "tiny-bert"
) -> list[str]:
    return [
        f"model={model}", f"method={method}", f"task={task}", f"task.data_dir={data}", "trainer=tiny",
        "trainer.max_train_samples=null", "trainer.max_eval_samples=null", f"output_root={out}", *extra,
    ]  # fmt: skip


SCORES = [0.4, 1.2, 2.0, 3.6, 4.8, 5.0, 2.2, 3.4]


def test_regression_head_starts_at_the_mean_training_label(tmp_path: Path) -> None:
    data = write_stsb(tmp_path / "stsb", SCORES, [1.0, 2.0, 3.0, 4.0])
    built = build(plan_job(compose_run_config(tiny("stsb", data, tmp_path))))
    assert built.model.classifier.bias.item() == pytest.approx(sum(SCORES) / len(SCORES), abs=1e-6)  # 2.825


def test_head_bias_init_zero_leaves_the_head_as_built(tmp_path: Path) -> None:
    data = write_stsb(tmp_path / "stsb", SCORES, [1.0, 2.0, 3.0, 4.0])
    built = build(plan_job(compose_run_config(tiny("stsb", data, tmp_path, "task.head_bias_init=zero"))))
    assert built.model.classifier.bias.item() == 0.0


def test_head_bias_init_is_hashed_only_where_it_changes_the_run(tmp_path: Path) -> None:
    data = write_sst2(tmp_path / "sst2", 16, 8)
    base = tiny("sst2", data, tmp_path)
    # a classification task's hash is what it was before the setting existed
    assert config_hash(compose_run_config(base)) == config_hash(
        compose_run_config([*base, "+task.head_bias_init=zero"])
    )
    with pytest.raises(ConfigError, match=r"task.head_bias_init='label_mean'.*not regression"):
        plan_job(compose_run_config([*base, "+task.head_bias_init=label_mean"]))
    stsb = tiny("stsb", write_stsb(tmp_path / "stsb", SCORES, [1.0, 2.0]), tmp_path)
    assert config_hash(compose_run_config(stsb)) != config_hash(
        compose_run_config([*stsb, "task.head_bias_init=zero"])
    )
    with pytest.raises(ConfigError, match=r"task.head_bias_init='mean'.*label_mean, zero"):
        plan_job(compose_run_config([*stsb, "task.head_bias_init=mean"]))


def test_selection_holds_out_training_rows_by_content(tmp_path: Path) -> None:
    folder = write_sst2(tmp_path / "sst2", 40, 8)
    lines = (folder / "train.tsv").read_text().splitlines()
    # a repeated sentence: whichever side of the split its copies fall, none may stay in training beside another
    (folder / "train.tsv").write_text("\n".join([*lines, *lines[1:6]]) + "\n", encoding="utf-8")
    cfg = compose_run_config(tiny("sst2", folder, tmp_path, "+task.selection.heldout=10"))
    built = build(plan_job(cfg))
    heldout = {tuple(ids) for ids in built.data["selection"]["input_ids"]}
    train = [tuple(ids) for ids in built.data["train"]["input_ids"]]
    assert len(built.data["selection"]) == 10 and not heldout & set(train)
    assert len(built.data["validation"]) == 8
    assert len(heldout | set(train)) == 40  # every distinct training sentence is on one side


def test_selection_picks_the_epoch_on_the_heldout_split_and_reports_dev(tmp_path: Path) -> None:
    folder = write_sst2(tmp_path / "sst2", 48, 16)
    overrides = tiny(
        "sst2", folder, tmp_path, "+task.selection.heldout=0.25", "+task.selection.seed=3",
        "trainer.max_steps=12", "trainer.eval_every=2", "trainer.lr=0.05",
    )  # fmt: skip
    plain = config_hash(compose_run_config(tiny("sst2", folder, tmp_path)))
    assert config_hash(compose_run_config(overrides)) != plain
    record = run(compose_run_config(overrides))
    history = record["history"]
    assert record["selected_by"] == "selection_accuracy" and record["metric_for_best"] == "accuracy"
    assert all({"accuracy", "selection_accuracy"} <= set(e["metrics"]) for e in history)
    # best = the first evaluation with the highest held-out accuracy, whatever dev says
    top = max(e["metrics"]["selection_accuracy"] for e in history)
    chosen = next(e for e in history if e["metrics"]["selection_accuracy"] == top)
    assert record["best"] == chosen
    assert selection_value(record) == top
    on_disk = json.loads(next((tmp_path / "records").rglob("*.json")).read_text())
    assert on_disk["best"]["metrics"]["accuracy"] == chosen["metrics"]["accuracy"]  # the number reported


def test_selection_setting_errors_are_one_line(tmp_path: Path) -> None:
    folder = write_sst2(tmp_path / "sst2", 16, 8)
    with pytest.raises(ConfigError, match=r"task.selection.heldout=1.5.*fraction in \(0, 1\) or a count"):
        plan_job(compose_run_config(tiny("sst2", folder, tmp_path, "+task.selection.heldout=1.5")))
    with pytest.raises(ConfigError, match=r"task.selection.heldout=16.*has 16 rows"):
        build(plan_job(compose_run_config(tiny("sst2", folder, tmp_path, "+task.selection.heldout=16"))))


class _NoLogger:
    def log(self, values: dict, step: int) -> None:
        pass


def test_tracker_keeps_the_heldout_best_when_dev_disagrees(tmp_path: Path) -> None:
    """Scripted evaluations: dev is best at step 20, the held-out split at step 10; the tracker keeps step 10,
    with the dev score of step 10 (0.60, not dev's best 0.90) as the number reported."""
    from types import SimpleNamespace

    from adaptbench.harness.run.training import EvalTracker

    folder = write_sst2(tmp_path / "sst2", 16, 8)
    script = iter([(0.60, 0.80), (0.90, 0.70), (0.70, 0.75)])  # (dev accuracy, held-out accuracy)

    def evaluate(model: object) -> dict:
        dev, heldout = next(script)
        return {"accuracy": dev, "selection_accuracy": heldout}

    for selection, expected_step in (("+task.selection.heldout=4", 10), (None, 20)):
        plan = plan_job(
            compose_run_config(tiny("sst2", folder, tmp_path, *[s for s in [selection] if s]))
        ).plan
        tracker = EvalTracker(evaluate, plan, None, _NoLogger(), tmp_path / f"evals-{expected_step}.json")
        for step in (10, 20, 30):
            tracker._run(SimpleNamespace(global_step=step, epoch=step / 10), model=None)
        assert tracker.best["step"] == expected_step
        assert tracker.best["metrics"]["accuracy"] == {10: 0.60, 20: 0.90}[expected_step]
        script = iter([(0.60, 0.80), (0.90, 0.70), (0.70, 0.75)])
