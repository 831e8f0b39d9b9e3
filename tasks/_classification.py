"""Shared base for sequence classification and regression tasks (GLUE, vader)."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from adaptbench.harness.api import Task, bad_data

if TYPE_CHECKING:  # torch and transformers load to train and evaluate, not when the task modules are imported
    from torch import nn
    from transformers import PreTrainedTokenizerBase

    from adaptbench.harness.api import EvalContext


def read_data_text(path: Path) -> str:
    """A UTF-8 data file's text (a leading byte-order mark dropped: MRPC starts with one); bytes that are not
    UTF-8 fail as one line naming the file and the line."""
    raw = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise bad_data(path, line, f"not utf-8 text (byte {raw[err.start]:#04x})") from None


def prompt_end(input_ids: list[int], tokenizer: PreTrainedTokenizerBase) -> int:
    """Where infix positions go: before the closing special token ([SEP], </s>) if there is one."""
    closing = {tokenizer.sep_token_id, tokenizer.eos_token_id} - {None}
    return len(input_ids) - 1 if input_ids and input_ids[-1] in closing else len(input_ids)


class SequenceTask(Task):
    """A task whose examples are one text or a text pair and one label (class id or float).

    Subclasses set ``text_fields`` (one or two column names of the raw data) and implement ``load`` and
    ``metrics``; tokenisation and evaluation are shared.
    """

    text_fields: ClassVar[tuple[str, ...]] = ("sentence",)
    label_field: ClassVar[str] = "label"

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def preprocess(self, raw: Any, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Any:
        def encode(batch: dict) -> dict:
            texts = [batch[field] for field in self.text_fields]
            enc = tokenizer(*texts, truncation=True, max_length=max_length)
            enc["labels"] = (
                [float(x) for x in batch[self.label_field]]
                if self.kind == "regression"
                else [int(x) for x in batch[self.label_field]]
            )
            enc["prompt_end"] = [prompt_end(ids, tokenizer) for ids in enc["input_ids"]]
            return enc

        first = next(iter(raw.values()))
        return raw.map(encode, batched=True, remove_columns=first.column_names)

    def evaluate(
        self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, data: Any, ctx: EvalContext
    ) -> dict:
        """Metrics on every evaluation split: ``validation`` unprefixed, other splits prefixed by their name."""
        from adaptbench.harness.api import predict_logits

        result: dict[str, float] = {}
        for split, dataset in data.items():
            logits, labels = predict_logits(model, dataset, ctx)
            predictions = logits[:, 0] if self.kind == "regression" else logits.argmax(-1)
            metrics = self.metrics(predictions, labels)
            if self.kind == "classification":
                # Accuracy of always predicting the most frequent label: the bar every method must clear.
                metrics["majority_baseline"] = float(np.bincount(labels.astype(int)).max() / len(labels))
            prefix = "" if split == "validation" else f"{split}_"
            result.update({prefix + k: v for k, v in metrics.items()})
        return result
