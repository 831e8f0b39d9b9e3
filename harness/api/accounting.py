"""Parameter accounting: what a method trains, measured on the adapted model and by the paper's formula."""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import arch_config, build_model
from adaptbench.harness.api.plugins import Method, adapt, head_parameter_names


def parameter_report(model: nn.Module, method: Method, arch: PretrainedConfig, layout: Layout) -> dict:
    """Counts on an adapted model (tied parameters counted once).

    ``method_params`` is |Θ|: trainable parameters outside the task head, i.e. what the method adds or
    unfreezes; ``formula_params`` is the method's closed form for the same number.
    """
    heads = head_parameter_names(model)
    named = dict(model.named_parameters())  # named_parameters() already skips tied duplicates
    trainable = {n: p for n, p in named.items() if p.requires_grad}
    head = sum(p.numel() for n, p in named.items() if n in heads)
    method_params = sum(p.numel() for n, p in trainable.items() if n not in heads)
    return {
        "method_params": method_params,
        "head_params": head,
        "trainable_params": sum(p.numel() for p in trainable.values()),
        "total_params": sum(p.numel() for p in named.values()),
        "formula_params": int(method.formula_params(arch, layout)),
    }


def count_params(
    model_cfg: Mapping, method_node: Mapping, task_kind: str = "classification", num_labels: int = 2
) -> dict:
    """``parameter_report`` for a model config and a method YAML node, built on the ``meta`` device (no weights,
    no memory: seconds even for DeBERTa-v2-xxlarge)."""
    arch = arch_config(model_cfg, task_kind, num_labels)
    layout = Layout.from_config(model_cfg["layout"])
    method = load_method(method_node)
    method.validate(arch, layout)
    model = build_model(model_cfg, task_kind, num_labels, device="meta")
    adapt(model, method, layout)
    return parameter_report(model, method, arch, layout)
