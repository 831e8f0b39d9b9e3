"""Turn the ``method`` and ``task`` YAML nodes into plugin instances."""

from __future__ import annotations

from collections.abc import Mapping

from adaptbench.harness.api.plugins import Method, Task
from adaptbench.harness.api.registry import METHODS, TASKS


def plugin_name(node: Mapping) -> str:
    """The registry key: ``plugin`` when the YAML sets it (``lora_pe`` is the ``compose`` plugin), else ``name``."""
    return node.get("plugin") or node["name"]


def load_method(node: Mapping) -> Method:
    return METHODS.get(plugin_name(node)).from_config(node)


def load_task(node: Mapping) -> Task:
    return TASKS.get(plugin_name(node)).from_config(node)


def peft_methods() -> list[str]:
    """The registered methods whose runs export to PEFT (``Method.exports_to_peft``)."""
    return [name for name in METHODS.names() if METHODS.get(name).exports_to_peft]


def exports_merged(method: Method | type[Method]) -> bool:
    """Whether a run of ``method`` (an instance: its settings count; a class: its defaults) can be written as a
    plain model of the base architecture (``adaptbench export --format merged``): it trains in place
    (``Method.trains_in_place``), or it has a PEFT form, which ``Method.merge`` folds into the weights (LoRA,
    PEFT's tuners; what does not fold, prompt tuning's vectors, is refused once merged)."""
    return method.exports_to_peft or method.trains_in_place


def merged_methods() -> list[str]:
    """The registered methods whose runs export as a merged model (``exports_merged``)."""
    return [name for name in METHODS.names() if exports_merged(METHODS.get(name))]


def lora_methods() -> list[str]:
    """The registered methods that export to PEFT as LoRA (their ``low_rank_updates``), not through a PEFT model
    of their own (``Method.peft_model``): those whose tensors are the harness's LoRA A and B."""
    return [
        name
        for name in peft_methods()
        if METHODS.get(name).peft_model is Method.peft_model  # not overridden
    ]
