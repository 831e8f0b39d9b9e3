"""Every run record carries its cost: samples and tokens per second of training and of evaluation, and peak
memory, counted from what the run really fed the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptbench.harness.api.models import load_tokenizer
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.store import read_record
from adaptbench.harness.run.data import prepare_data
from adaptbench.harness.run.job import run
from adaptbench.harness.run.plan import plan_job

# One epoch exactly: 4 steps x batch 4 over 16 training rows, so the run sees every training row once.
TINY_EPOCH = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora", "trainer.eval_every=2"]
ROUNDING = 0.05
RATES = (
    "train_samples_per_second",
    "train_tokens_per_second",
    "eval_samples_per_second",
    "eval_tokens_per_second",
)


def test_record_counts_train_and_eval_throughput_and_peak_memory(tmp_path: Path) -> None:
    cfg = compose_run_config([*TINY_EPOCH, f"output_root={tmp_path}"])
    run(cfg)
    [path] = (tmp_path / "records").rglob("*.json")
    record = read_record(path)  # as written to disk
    train = record["train"]
    for rate in RATES:
        assert train[rate] > 0, rate
    assert record["peak_memory_bytes"] > 0

    # the same rows the run trained and evaluated on, tokenised unpadded
    job = plan_job(cfg)
    data = prepare_data(job.plan, load_tokenizer(cfg.model), 30522, cfg.seed)
    train_ids = data["train"]["input_ids"]
    assert len(train_ids) == 16
    own_tokens = sum(len(ids) for ids in train_ids)
    padded_tokens = sum(4 * max(map(len, train_ids[i : i + 4])) for i in range(0, 16, 4))

    # the record rounds both the rates and the seconds: on a sub-second run the product is a few % off
    assert train["train_samples_per_second"] * train["train_seconds"] == pytest.approx(16, rel=ROUNDING)
    # the Trainer's batches are padded to their longest row; only the real tokens count
    seen = train["train_tokens_per_second"] * train["train_seconds"]
    assert seen == pytest.approx(own_tokens, rel=ROUNDING)
    assert own_tokens < padded_tokens

    evaluations = len(record["history"])
    assert evaluations == 2  # steps 2 and 4
    eval_rows = sum(len(split) for name, split in data.items() if name != "train")
    eval_tokens = sum(
        len(ids) for name, split in data.items() if name != "train" for ids in split["input_ids"]
    )
    assert train["eval_samples_per_second"] * train["eval_seconds"] == pytest.approx(
        evaluations * eval_rows, rel=ROUNDING
    )
    assert train["eval_tokens_per_second"] * train["eval_seconds"] == pytest.approx(
        evaluations * eval_tokens, rel=ROUNDING
    )
