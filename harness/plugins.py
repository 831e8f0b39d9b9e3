"""The two plugin interfaces. The runner talks to methods and tasks only through these.

A plugin is a class registered with ``@register_method(name)`` / ``@register_task(name)`` (or through the
``adaptbench.methods`` / ``adaptbench.tasks`` entry-point groups) plus a YAML file in ``conf/method`` or
``conf/task``. Its hyperparameters are a dataclass ``Config``: the YAML's keys (besides ``name``) are
validated against it before any model is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn
from transformers import DataCollatorWithPadding, PretrainedConfig, PreTrainedTokenizerBase

from harness.errors import ConfigError
from harness.layout import Layout

# Keys every method/task YAML may carry besides its hyperparameters.
RESERVED_KEYS = ("name", "plugin")


def typed_config(config_class: type, values: Mapping, group: str) -> Any:
    """Validate ``values`` against the dataclass ``config_class``: unknown keys and wrong types fail with
    one line naming the key and the valid keys."""
    fields = {k: v for k, v in dict(values).items() if k not in RESERVED_KEYS}
    schema = OmegaConf.structured(config_class)
    valid = ", ".join(sorted(schema.keys())) or "(none)"
    for key in fields:
        if key not in schema:
            raise ConfigError(f"{group}.{key} is not a setting of {group}={values.get('name')!r}; valid keys: {valid}")
    try:
        merged = OmegaConf.merge(schema, fields)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "?"
        raise ConfigError(f"{group}.{key}: {str(err).splitlines()[0]}") from None
    return OmegaConf.to_object(merged)


@dataclass
class NoConfig:
    """For plugins without hyperparameters."""


class Plugin:
    """What methods and tasks share: a ``Config`` dataclass that validates their YAML node."""

    name: ClassVar[str]
    Config: ClassVar[type] = NoConfig
    group: ClassVar[str]

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @classmethod
    def from_config(cls, values: Mapping) -> Plugin:
        """Build from the YAML node ``method`` / ``task`` (validated against ``Config``)."""
        return cls(typed_config(cls.Config, values, cls.group))


class Method(Plugin):
    """An adaptation method: changes a built model in place and decides which parameters train.

    Before ``apply`` the harness freezes every parameter; ``apply`` inserts the method's modules and sets
    ``requires_grad=True`` on what the method trains. Afterwards the harness unfreezes the task head
    (the parameters outside ``model.base_model``). ``method_params`` is what trains, minus the head.
    """

    group = "method"

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        """Raise ConfigError for hyperparameters that cannot work with this model (called before building)."""

    def apply(self, model: nn.Module, layout: Layout) -> None:
        raise NotImplementedError

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        """The paper's |Θ| formula evaluated from the architecture config (no model needed)."""
        raise NotImplementedError

    def reserved_positions(self) -> tuple[int, int]:
        """(l_p, l_i): sequence positions this method inserts before the input and after the prompt."""
        return (0, 0)

    def merge(self, model: nn.Module) -> None:
        """Fold the method into the frozen weights for inference (LoRA). Default: nothing to merge."""

    def unmerge(self, model: nn.Module) -> None:
        """Undo ``merge``."""


class Task(Plugin):
    """A dataset, its preprocessing, its metric and the metric that selects the best epoch.

    ``kind`` is ``"classification"``, ``"regression"`` or ``"generation"`` (causal LM; loss on the
    completion only). The runner builds ``AutoModelForSequenceClassification`` (num_labels from the task)
    or ``AutoModelForCausalLM`` from it.
    """

    group = "task"
    kind: ClassVar[str] = "classification"
    metric_for_best: ClassVar[str] = "accuracy"
    greater_is_better: ClassVar[bool] = True

    @property
    def num_labels(self) -> int:
        return 1 if self.kind == "regression" else 2

    def validate(self) -> None:
        """Raise ConfigError for bad task settings (missing data files, ...), before any model is built."""

    def load(self) -> Any:
        """Raw splits as a ``datasets.DatasetDict`` with at least ``train`` and ``validation``."""
        raise NotImplementedError

    def preprocess(self, raw: Any, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Any:
        """Tokenised splits: ``input_ids``, ``attention_mask``, ``labels`` and ``prompt_end`` (the index where
        infix positions go). ``max_length`` already excludes positions reserved by the method."""
        raise NotImplementedError

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        """Pads a list of tokenised examples into a batch (for training and evaluation)."""
        return DataCollatorWithPadding(tokenizer)

    def evaluate(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, data: Any, ctx: Any) -> dict:
        """Metrics of ``model`` on the tokenised evaluation splits ``data`` (a DatasetDict without ``train``;
        ``validation`` always, plus e.g. ``validation_mismatched``). ``ctx`` is a harness.evaluation.EvalContext."""
        raise NotImplementedError


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the newly initialised task head's parameters: those outside ``model.base_model``, except a
    language model's pretrained output embedding (GPT-2's is tied to the input embedding, Llama's is not)."""
    pretrained = {id(p) for p in model.base_model.parameters()}
    output_embeddings = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output_embeddings is not None:
        pretrained |= {id(p) for p in output_embeddings.parameters()}
    return {name for name, p in model.named_parameters() if id(p) not in pretrained}


def adapt(model: nn.Module, method: Method, layout: Layout) -> None:
    """Freeze everything, let the method insert and unfreeze what it trains, then unfreeze the head."""
    for p in model.parameters():
        p.requires_grad_(False)
    method.apply(model, layout)
    heads = head_parameter_names(model)
    for name, p in model.named_parameters():
        if name in heads:
            p.requires_grad_(True)
