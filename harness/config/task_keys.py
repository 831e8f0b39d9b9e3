"""The task settings the harness reads itself (``TASK_HARNESS_KEYS``), for any task: how a regression head's output
starts (``task.head_bias_init``) and the held-out part of the training data that picks the best epoch
(``task.selection``), so that the dev set is only reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, open_dict

from adaptbench.harness.api.errors import ConfigError, bad_choice, bad_value
from adaptbench.harness.api.plugins import Task, typed_config

HEAD_BIAS_INITS = ("label_mean", "zero")
"""``label_mean``: the head's output bias starts at the mean training label (a regression head then predicts the
labels' mean from step 0 instead of spending its budget moving its output from 0 to it); ``zero``: as the model
builds it."""

SELECTION_SPLIT = "selection"
"""The held-out split's name among the evaluation splits; its metrics are recorded as ``selection_<metric>``."""


@dataclass
class SelectionConfig:
    # rows held out of the training data: a fraction in (0, 1) of the training file, or a count >= 1
    heldout: Any = None
    # the seed of the draw (not the run's seed: every seed of a cell picks on the same held-out rows)
    seed: int = 0

    def __post_init__(self) -> None:
        value = self.heldout
        fraction = isinstance(value, float) and 0 < value < 1
        count = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        if not (fraction or count):
            raise bad_value("task.selection.heldout", value, "must be a fraction in (0, 1) or a count >= 1")


@dataclass
class TaskSettings:
    """What the harness does around any task: see the module docstring."""

    head_bias_init: str = "zero"
    selection: SelectionConfig | None = None

    def best_metric(self, metric_for_best: str) -> str:
        """The metric key that picks the best evaluation: the held-out split's when selection is on."""
        return metric_for_best if self.selection is None else f"{SELECTION_SPLIT}_{metric_for_best}"


def default_head_bias_init(kind: str) -> str:
    return "label_mean" if kind == "regression" else "zero"


def task_settings(cfg: DictConfig, task: Task) -> TaskSettings:
    """Read and check ``task.head_bias_init`` and ``task.selection``. A regression task without
    ``head_bias_init`` gets ``label_mean`` written into ``cfg`` (so the record and the hash say it); for other
    tasks nothing is added (their hashes are those of records made before the setting existed)."""
    node = cfg.task
    if "head_bias_init" not in node and task.kind == "regression":
        with open_dict(node):
            node.head_bias_init = default_head_bias_init(task.kind)
    head = node.get("head_bias_init", "zero")
    if head not in HEAD_BIAS_INITS:
        raise bad_choice("task.head_bias_init", head, HEAD_BIAS_INITS)
    if head == "label_mean" and task.kind != "regression":
        raise bad_value(
            "task.head_bias_init", head, f"task={node.name} is {task.kind}, not regression; set it to zero"
        )
    selection = node.get("selection")
    if selection is not None:
        if not isinstance(selection, DictConfig):
            raise ConfigError(
                f"task.selection={selection!r}: set task.selection.heldout (a fraction or a count) "
                "and optionally task.selection.seed"
            )
        selection = typed_config(SelectionConfig, selection, "task.selection")
    return TaskSettings(head_bias_init=head, selection=selection)
