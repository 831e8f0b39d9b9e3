"""The job's tokenised splits: the task's preprocessing, then the method's per-example transform."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import DatasetDict


from typing import Any

from adaptbench.harness.config.task_keys import SELECTION_SPLIT, SelectionConfig
from adaptbench.harness.config.validate import RunPlan


def prepare_data(plan: RunPlan, tokenizer: Any, vocab_size: int, seed: int) -> DatasetDict:
    """Load, hold out the selection split (``task.selection``), subsample and tokenise the task's splits; then let
    the method change each example (prefix methods insert their positions)."""
    trainer = plan.trainer
    raw = plan.task.load()
    selection = plan.settings.selection
    if selection is not None:
        raw = hold_out(raw, selection)
    if trainer.max_train_samples and len(raw["train"]) > trainer.max_train_samples:
        raw["train"] = raw["train"].shuffle(seed=seed).select(range(trainer.max_train_samples))
    if trainer.max_eval_samples:
        for split in raw:
            if split != "train" and len(raw[split]) > trainer.max_eval_samples:
                raw[split] = raw[split].select(range(trainer.max_eval_samples))
    data = plan.task.preprocess(raw, tokenizer, plan.method.input_length(trainer.max_seq_len))
    if selection is not None:
        data["train"] = without_heldout_inputs(data["train"], data[SELECTION_SPLIT])
    transform = plan.method.example_transform(tokenizer, plan.task.kind, vocab_size)
    return data if transform is None else data.map(transform)


def hold_out(raw: DatasetDict, selection: SelectionConfig) -> DatasetDict:
    """Carve the selection split out of the whole training file (before ``max_train_samples`` draws the training
    sample from the rest), with the selection's own seed: every run seed of a cell picks on the same rows."""
    if selection.heldout >= len(raw["train"]):
        from adaptbench.harness.api.errors import bad_value

        raise bad_value(
            "task.selection.heldout", selection.heldout, f"the training data has {len(raw['train'])} rows"
        )
    parts = raw["train"].train_test_split(test_size=selection.heldout, seed=selection.seed, shuffle=True)
    raw["train"], raw[SELECTION_SPLIT] = parts["train"], parts["test"]
    return raw


def without_heldout_inputs(train: Any, heldout: Any) -> Any:
    """The training rows whose tokenised input is not also a held-out row's (GLUE's training files repeat some
    sentences: a copy left in training would make the held-out score partly a training score)."""
    seen = {tuple(ids) for ids in heldout["input_ids"]}
    keep = [i for i, ids in enumerate(train["input_ids"]) if tuple(ids) not in seen]
    return train if len(keep) == len(train) else train.select(keep)
