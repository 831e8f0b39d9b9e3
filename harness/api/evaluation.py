"""Shared evaluation plumbing: batched prediction over a tokenised split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader


@dataclass
class EvalContext:
    """What a task's ``evaluate`` may use besides the model and data."""

    batch_size: int
    device: torch.device
    collator: Callable[[list[dict]], dict]
    output_dir: str | None = None


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@torch.no_grad()
def predict_logits(model: nn.Module, data: Any, ctx: EvalContext) -> tuple[np.ndarray, np.ndarray]:
    """(logits, labels) of ``model`` over ``data`` in eval mode; restores the model's train/eval mode."""
    was_training = model.training
    model.eval()
    columns = [c for c in (*MODEL_INPUTS, "labels") if c in data.column_names]
    loader = DataLoader(data.select_columns(columns), batch_size=ctx.batch_size, collate_fn=ctx.collator)
    all_logits, all_labels = [], []
    for batch in loader:
        labels = batch.pop("labels")
        inputs = {k: v.to(ctx.device) for k, v in batch.items() if k in MODEL_INPUTS}
        all_logits.append(model(**inputs).logits.float().cpu().numpy())
        all_labels.append(labels.numpy())
    model.train(was_training)
    return np.concatenate(all_logits), np.concatenate(all_labels)
