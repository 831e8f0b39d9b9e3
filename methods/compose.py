"""``compose``: apply several methods to one model (LoRA+PrefixEmbed = ``lora_pe``, LoRA+PrefixLayer = ``lora_pl``).

The YAML lists ``components`` and the union of their hyperparameters; each component receives the subset
its own Config knows. |Θ| formulas add up; positions taken from the input (prefix methods' virtual tokens) add
up too, and at most one component may take them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api import (
    HARNESS_KEYS,
    METHODS,
    ConfigError,
    Layout,
    LowRankUpdate,
    Method,
    bad_value,
    register_method,
)


def takes_input_positions(method: Method) -> bool:
    """Whether ``method`` takes positions of the input for itself (a prefix method's virtual tokens)."""
    plenty = 1 << 20
    return method.input_length(plenty) < plenty


@dataclass
class ComposeConfig:
    components: list[str] = field(default_factory=list)


@register_method("compose")
class Compose(Method):
    Config = ComposeConfig

    def __init__(self, cfg: ComposeConfig, components: list[Method]) -> None:
        super().__init__(cfg)
        self.components = components
        self.exports_to_peft = all(c.exports_to_peft for c in components)
        self.trains_in_place = all(c.trains_in_place for c in components)

    @classmethod
    def from_config(cls, values: Mapping) -> Compose:
        values = dict(values)
        names = list(values.get("components") or [])
        if len(names) < 2:
            raise bad_value("method.components", names, "list at least two methods to compose")
        if "compose" in names:
            raise bad_value("method.components", names, "compose cannot contain itself")
        classes = [METHODS.get(n) for n in names]
        settings = {k: v for k, v in values.items() if k not in (*HARNESS_KEYS, "components")}
        known: dict[str, list[str]] = {}
        for n, c in zip(names, classes, strict=True):
            for f in dataclasses.fields(c.Config):
                known.setdefault(f.name, []).append(n)
        for key in settings:
            if key not in known:
                raise ConfigError(
                    f"method.{key} is not a setting of any component of method={values.get('name')!r} "
                    f"({', '.join(names)}); valid keys: {', '.join(sorted(known))}"
                )
        components = []
        for n, c in zip(names, classes, strict=True):
            own = {f.name for f in dataclasses.fields(c.Config)}
            components.append(c.from_config({"name": n, **{k: v for k, v in settings.items() if k in own}}))
        if sum(takes_input_positions(c) for c in components) > 1:  # they would fight over the same positions
            raise bad_value(
                "method.components", names, "at most one prefix method (one that takes input positions)"
            )
        return cls(ComposeConfig(components=names), components)

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        for c in self.components:
            c.validate(arch, layout)

    def apply(self, model: nn.Module, layout: Layout) -> None:
        for c in self.components:
            c.apply(model, layout)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return sum(c.formula_params(arch, layout) for c in self.components)

    def input_length(self, max_seq_len: int) -> int:
        for c in self.components:
            max_seq_len = c.input_length(max_seq_len)
        return max_seq_len

    def example_transform(
        self, tokenizer: Any, task_kind: str, vocab_size: int
    ) -> Callable[[dict], dict] | None:
        transforms = [
            t for c in self.components if (t := c.example_transform(tokenizer, task_kind, vocab_size))
        ]
        if not transforms:
            return None
        if len(transforms) == 1:
            return transforms[0]

        def chained(example: dict) -> dict:
            for t in transforms:
                example = t(example)
            return example

        return chained

    def low_rank_updates(self, model: nn.Module) -> list[LowRankUpdate]:
        return [u for c in self.components for u in c.low_rank_updates(model)]

    def training_callbacks(self, model: nn.Module) -> list[Any]:
        return [cb for c in self.components for cb in c.training_callbacks(model)]

    def merge(self, model: nn.Module) -> None:
        for c in self.components:
            c.merge(model)

    def unmerge(self, model: nn.Module) -> None:
        for c in reversed(self.components):
            c.unmerge(model)
