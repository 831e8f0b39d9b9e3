"""The job's tokenised splits: the task's preprocessing, then the method's per-example transform."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import DatasetDict


from typing import Any

from adaptbench.harness.config.validate import RunPlan


def prepare_data(plan: RunPlan, tokenizer: Any, vocab_size: int, seed: int) -> DatasetDict:
    """Load, subsample and tokenise the task's splits; then let the method change each example (prefix
    methods insert their positions)."""
    trainer = plan.trainer
    raw = plan.task.load()
    if trainer.max_train_samples and len(raw["train"]) > trainer.max_train_samples:
        raw["train"] = raw["train"].shuffle(seed=seed).select(range(trainer.max_train_samples))
    if trainer.max_eval_samples:
        for split in raw:
            if split != "train" and len(raw[split]) > trainer.max_eval_samples:
                raw[split] = raw[split].select(range(trainer.max_eval_samples))
    data = plan.task.preprocess(raw, tokenizer, plan.method.input_length(trainer.max_seq_len))
    transform = plan.method.example_transform(tokenizer, plan.task.kind, vocab_size)
    return data if transform is None else data.map(transform)
