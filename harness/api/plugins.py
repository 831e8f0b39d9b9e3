"""The two plugin interfaces. The runner talks to methods and tasks only through these.

A plugin is a class registered with ``@register_method(name)`` / ``@register_task(name)`` (or through the
``adaptbench.methods`` / ``adaptbench.tasks`` entry-point groups) plus a YAML file in ``conf/method`` or
``conf/task``. Its hyperparameters are a dataclass ``Config``: the YAML's keys (besides ``name``) are
validated against it before any model is built.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from adaptbench.harness.api.errors import ConfigError, bad_value
from adaptbench.harness.api.node_keys import HARNESS_KEYS, TASK_HARNESS_KEYS

if TYPE_CHECKING:  # torch and transformers load where a model is built, not where a plugin class is defined
    from torch import nn
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

    from adaptbench.harness.api.layout import Layout


def typed_config(config_class: type, values: Mapping, group: str, skip: tuple[str, ...] = ()) -> Any:
    """Validate ``values`` (less the ``skip`` keys) against the dataclass ``config_class``: unknown keys and wrong
    types fail with one line naming the key and the valid keys."""
    fields = {k: v for k, v in dict(values).items() if k not in skip}
    schema = OmegaConf.structured(config_class)
    valid = ", ".join(sorted(schema.keys())) or "(none)"
    for key in fields:
        if key not in schema:
            raise ConfigError(
                f"{group}.{key} is not a setting of {group}={values.get('name')!r}; valid keys: {valid}"
            )
    try:
        merged = OmegaConf.merge(schema, fields)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "?"
        raise ConfigError(f"{group}.{key}: {str(err).splitlines()[0]}") from None
    values = OmegaConf.to_container(merged, resolve=True)
    for key, value in values.items():  # NaN passes every range check (nan <= 0 is False): refuse it first
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                raise bad_value(f"{group}.{key}", value, "must be a finite number")
    return OmegaConf.to_object(merged)


@dataclass
class NoConfig:
    """For plugins without hyperparameters."""


@dataclass(frozen=True)
class LowRankUpdate:
    """ΔW = (alpha/r) · B A on one adapted matrix, or one output slice of a fused one, read off an adapted model.

    What ``adaptbench export --format peft`` and the Section 7 analyses need, without knowing a method's module
    classes (``Method.low_rank_updates``)."""

    module: str  # path of the adapted module in the model (PEFT's target module)
    target: str  # the layout's name for the matrix (q, v, ...)
    lora_A: Any  # torch.Tensor, r x d_in
    lora_B: Any  # torch.Tensor, d_out x r
    alpha: float  # the update is scaled by alpha / r
    dropout: float
    weight: Any  # torch.Tensor, the frozen W of the matrix or slice, d_out x d_in
    whole: bool  # covers the module's whole matrix (PEFT adapts whole matrices only)
    transposed: bool  # the module stores W as d_in x d_out (GPT-2's Conv1D; PEFT's fan_in_fan_out)

    def delta_weight(self) -> Any:
        """(alpha/r) · B A, shaped d_out x d_in."""
        return (self.lora_B @ self.lora_A) * (self.alpha / self.lora_A.shape[0])


class Plugin(ABC):
    """What methods and tasks share: a ``Config`` dataclass that validates their YAML node.

    Value checks that need no model belong in the ``Config``'s ``__post_init__`` (they run when the YAML node is
    read); checks against the model in ``Method.validate``."""

    name: ClassVar[str]
    Config: ClassVar[type] = NoConfig
    group: ClassVar[str]
    # node keys read by the harness rather than the plugin (never passed to ``Config``)
    harness_keys: ClassVar[tuple[str, ...]] = HARNESS_KEYS

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @classmethod
    def from_config(cls, values: Mapping) -> Plugin:
        """Build from the YAML node ``method`` / ``task`` (validated against ``Config``)."""
        return cls(typed_config(cls.Config, values, cls.group, skip=cls.harness_keys))


class Method(Plugin):
    """An adaptation method: changes a built model in place and decides which parameters train.

    Before ``apply`` the harness freezes every parameter; ``apply`` inserts the method's modules and sets
    ``requires_grad=True`` on what the method trains. Afterwards the harness unfreezes the task head
    (the parameters outside ``model.base_model``). ``method_params`` is what trains, minus the head.
    """

    group = "method"
    # Whether a trained model of this method is exactly a PEFT adapter (``adaptbench export`` writes only such
    # runs): LoRA's A and B and nothing else trained besides the task head (``low_rank_updates``, converted by the
    # harness), or a PEFT tuner's own model (``peft_model``). A composition answers for all of its components.
    exports_to_peft: bool = False
    # Whether everything the method trains is a tensor the base model already has, with no module or hook added
    # (full fine-tuning, BitFit): the trained model is the base architecture with other values, which
    # ``adaptbench export --format merged`` writes as it is. A composition answers for all of its components.
    trains_in_place: bool = False
    # Where the method's node keeps its width r, the key a |Θ| budget sets (``adaptbench latency
    # latency.budget=11M``): a dotted path into the node; a node without that key has no width to choose.
    width_key: str = "r"

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        """Raise ConfigError for hyperparameters that cannot work with this model (called before building,
        once; ``apply`` does not check again)."""

    @abstractmethod
    def apply(self, model: nn.Module, layout: Layout) -> None:
        """Insert the method's modules and unfreeze what it trains."""

    @abstractmethod
    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        """The paper's |Θ| formula evaluated from the architecture config (no model needed)."""

    def input_length(self, max_seq_len: int) -> int:
        """Tokens left for the task's input out of ``max_seq_len`` (prefix methods take some positions)."""
        return max_seq_len

    def example_transform(
        self, tokenizer: PreTrainedTokenizerBase, task_kind: str, vocab_size: int
    ) -> Callable[[dict], dict] | None:
        """How the method changes one tokenised example (prefix methods insert their positions); ``None``
        leaves the data as the task made it. The runner maps it over every split."""
        return None

    def low_rank_updates(self, model: nn.Module) -> list[LowRankUpdate]:
        """The low-rank updates this method put into ``model`` (LoRA's B A), for PEFT export and the Section 7
        analyses. Default: none."""
        return []

    def peft_model(
        self,
        model: nn.Module,
        build_base: Callable[[], nn.Module],
        layout: Layout,
        fields: Mapping[str, Any],
    ) -> Any | None:
        """PEFT's own ``PeftModel`` holding the tensors the adapted ``model`` trained, for PEFT's ``save_pretrained``
        (``adaptbench export --format peft``), built on ``build_base()`` (the run's model again, not adapted).
        ``fields``: the PEFT config fields the harness sets (``task_type``, ``base_model_name_or_path``,
        ``modules_to_save``: the task head). Default ``None``: the method's PEFT form is its ``low_rank_updates``,
        which the harness converts to a LoRA adapter."""
        return None

    def merge(self, model: nn.Module) -> None:
        """Fold the method into the frozen weights for inference (LoRA). Default: nothing to merge."""

    def unmerge(self, model: nn.Module) -> None:
        """Undo ``merge``."""

    def training_callbacks(self, model: nn.Module) -> list[Any]:
        """``transformers.TrainerCallback`` objects the method needs during training, for the adapted ``model``
        (AdaLoRA reallocates its ranks after every optimizer step). Default: none."""
        return []


class Task(Plugin):
    """A dataset, its preprocessing, its metric and the metric that selects the best epoch.

    ``kind`` is ``"classification"``, ``"regression"`` or ``"generation"`` (causal LM; loss on the
    completion only). The runner builds ``AutoModelForSequenceClassification`` (num_labels from the task)
    or ``AutoModelForCausalLM`` from it.
    """

    group = "task"
    harness_keys = HARNESS_KEYS + TASK_HARNESS_KEYS
    kind: ClassVar[str] = "classification"
    metric_for_best: ClassVar[str] = "accuracy"
    greater_is_better: ClassVar[bool] = True

    @property
    def num_labels(self) -> int:
        return 1 if self.kind == "regression" else 2

    def validate(self) -> None:
        """Raise ConfigError for bad task settings (missing data files, ...), before any model is built."""

    @abstractmethod
    def load(self) -> Any:
        """Raw splits as a ``datasets.DatasetDict`` with at least ``train`` and ``validation``."""

    @abstractmethod
    def preprocess(self, raw: Any, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Any:
        """Tokenised splits: ``input_ids``, ``attention_mask``, ``labels`` and ``prompt_end`` (the index where
        infix positions go). ``max_length`` already excludes positions taken by the method."""

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        """Pads a list of tokenised examples into a batch (for training and evaluation)."""
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    @abstractmethod
    def evaluate(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, data: Any, ctx: Any) -> dict:
        """Metrics of ``model`` on the tokenised evaluation splits ``data`` (a DatasetDict without ``train``;
        ``validation`` always, plus e.g. ``validation_mismatched``). ``ctx`` is an
        ``adaptbench.harness.api.evaluation.EvalContext``."""


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
