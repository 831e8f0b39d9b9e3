"""Per-architecture map of module names, read from the model's YAML (``conf/family/*.yaml``).

Methods reach into a model only through a Layout, so a new architecture is a YAML file, not code.
All paths are dotted attribute paths; ``blocks`` and ``word_embeddings`` are relative to
``model.base_model``, target and LayerNorm paths are relative to one block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import nn

from adaptbench.harness.errors import bad_choice


@dataclass(frozen=True)
class Target:
    """One weight a method may adapt: a Linear/Conv1D inside a block, or one output slice of a fused one.

    GPT-2's ``c_attn`` computes q, k and v in one Conv1D: q is ``Target("attn.c_attn", slice=0, n_slices=3)``.
    """

    path: str
    slice: int | None = None
    n_slices: int = 1


@dataclass(frozen=True)
class Layout:
    blocks: str
    word_embeddings: str
    targets: Mapping[str, Target]
    layernorms: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, cfg: Mapping) -> Layout:
        targets = {name: Target(**dict(spec)) for name, spec in dict(cfg["targets"]).items()}
        return cls(
            blocks=cfg["blocks"],
            word_embeddings=cfg["word_embeddings"],
            targets=targets,
            layernorms=tuple(cfg.get("layernorms", ())),
        )

    def target(self, name: str) -> Target:
        if name not in self.targets:
            raise bad_choice("method.targets", name, self.targets)
        return self.targets[name]

    def block_list(self, model: nn.Module) -> nn.ModuleList:
        return model.base_model.get_submodule(self.blocks)

    def embedding(self, model: nn.Module) -> nn.Embedding:
        return model.base_model.get_submodule(self.word_embeddings)


def set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    """Replace the module at a dotted ``path`` under ``root``."""
    parent_path, _, attr = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, attr, module)
