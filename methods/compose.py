"""``compose``: apply several methods to one model (LoRA+PrefixEmbed = ``lora_pe``, LoRA+PrefixLayer = ``lora_pl``).

The YAML lists ``components`` and the union of their hyperparameters; each component receives the subset
its own Config knows. Reserved positions and |Θ| formulas add up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import nn
from transformers import PretrainedConfig

from harness.errors import ConfigError, bad_value
from harness.layout import Layout
from harness.plugins import RESERVED_KEYS, Method
from harness.registry import METHODS, register_method


@dataclass
class ComposeConfig:
    components: list[str] = field(default_factory=list)


@register_method("compose")
class Compose(Method):
    Config = ComposeConfig

    def __init__(self, cfg: ComposeConfig, components: list[Method]) -> None:
        super().__init__(cfg)
        self.components = components

    @classmethod
    def from_config(cls, values: Mapping) -> Compose:
        values = dict(values)
        names = list(values.get("components") or [])
        if len(names) < 2:
            raise bad_value("method.components", names, "list at least two methods to compose")
        if "compose" in names:
            raise bad_value("method.components", names, "compose cannot contain itself")
        classes = [METHODS.get(n) for n in names]
        settings = {k: v for k, v in values.items() if k not in (*RESERVED_KEYS, "components")}
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
        return cls(ComposeConfig(components=names), components)

    def validate(self, arch: PretrainedConfig, layout: Layout) -> None:
        prefixed = [c.name for c in self.components if c.reserved_positions() != (0, 0)]
        if len(prefixed) > 1:
            raise bad_value("method.components", [c.name for c in self.components], "at most one prefix method")
        for c in self.components:
            c.validate(arch, layout)

    def apply(self, model: nn.Module, layout: Layout) -> None:
        self.validate(model.config, layout)
        for c in self.components:
            c.apply(model, layout)

    def formula_params(self, arch: PretrainedConfig, layout: Layout) -> int:
        return sum(c.formula_params(arch, layout) for c in self.components)

    def reserved_positions(self) -> tuple[int, int]:
        pairs = [c.reserved_positions() for c in self.components]
        return (sum(p for p, _ in pairs), sum(i for _, i in pairs))

    def merge(self, model: nn.Module) -> None:
        for c in self.components:
            c.merge(model)

    def unmerge(self, model: nn.Module) -> None:
        for c in reversed(self.components):
            c.unmerge(model)
