"""Where a regression head starts: ``task.head_bias_init=label_mean`` sets its output bias to the mean training
label. A freshly built head outputs about 0 while STS-B's labels are 0-5 (mean 2.65): over a short budget most
of the training goes into moving the output's mean, and a method is then ranked by how fast it moves a bias."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.plugins import head_parameter_names


def output_layer(model: nn.Module, num_labels: int) -> tuple[str, nn.Linear]:
    """The task head's output layer: the last ``nn.Linear`` among the head's parameters with ``num_labels``
    outputs (BERT's ``classifier``, RoBERTa's ``classifier.out_proj``, DeBERTa's ``classifier``, GPT-2's
    ``score``)."""
    heads = head_parameter_names(model)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module.out_features == num_labels and f"{name}.weight" in heads
    ]
    if not found:
        raise ConfigError(
            f"the model has no task-head layer with {num_labels} outputs to start at the label mean"
        )
    return found[-1]


def init_head_bias(model: nn.Module, train: Any, setting: str, num_labels: int) -> float | None:
    """Apply ``task.head_bias_init`` to the built model before training; returns the bias set (None for
    ``zero``, which leaves the head as the model built it)."""
    if setting != "label_mean":
        return None
    name, layer = output_layer(model, num_labels)
    if layer.bias is None:
        raise ConfigError(
            f"task.head_bias_init='label_mean': the head's output layer {name} has no bias; "
            "set task.head_bias_init=zero"
        )
    mean = float(torch.tensor(train["labels"], dtype=torch.float64).mean())
    with torch.no_grad():
        layer.bias.fill_(mean)
    return mean
