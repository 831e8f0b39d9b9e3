"""Per-architecture map of module names, read from the model's YAML (``conf/family/*.yaml``).

Methods reach into a model only through a Layout, so a new architecture is a YAML file, not code.
All paths are dotted attribute paths; ``blocks`` and ``word_embeddings`` are relative to
``model.base_model``, target and LayerNorm paths are relative to one block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import nn

from adaptbench.harness.api.errors import bad_choice

LAYERNORM_POSITIONS = ("post", "pre")


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
    # Modules besides the first block that read the hidden state entering it (paths from model.base_model,
    # skipped when absent): DeBERTa-v2's ConvLayer, built only when conv_kernel_size > 0.
    embedding_output_readers: tuple[str, ...] = field(default_factory=tuple)
    # "post": x -> LN(x + sublayer(x)) (BERT, RoBERTa, DeBERTa); "pre": x -> x + sublayer(LN(x)) (GPT-2, Llama)
    layernorm_position: str = "post"
    # per sublayer (attn, ffn): the module whose output is the sublayer's output after its dropout, just before
    # the residual add
    sublayer_outputs: Mapping[str, str] = field(default_factory=dict)
    # decoder-only (GPT-2, Llama): built as a causal LM when no task says otherwise (latency, |Θ| tables)
    decoder: bool = False
    # an absolute position table (BERT, RoBERTa, GPT-2): an input longer than it indexes past its end
    absolute_positions: bool = False
    # RoBERTa's positions start after the padding index: pad_token_id + 1 of the table's rows are never used
    positions_after_padding: bool = False

    @classmethod
    def from_config(cls, cfg: Mapping) -> Layout:
        targets = {name: Target(**dict(spec)) for name, spec in dict(cfg["targets"]).items()}
        return cls(
            blocks=cfg["blocks"],
            word_embeddings=cfg["word_embeddings"],
            targets=targets,
            layernorms=tuple(cfg.get("layernorms", ())),
            embedding_output_readers=tuple(cfg.get("embedding_output_readers", ())),
            layernorm_position=_layernorm_position(cfg.get("layernorm_position", "post")),
            sublayer_outputs=dict(cfg.get("sublayer_outputs", {})),
            decoder=bool(cfg.get("decoder", False)),
            absolute_positions=bool(cfg.get("absolute_positions", False)),
            positions_after_padding=bool(cfg.get("positions_after_padding", False)),
        )

    def target(self, name: str) -> Target:
        if name not in self.targets:
            raise bad_choice("method.targets", name, self.targets)
        return self.targets[name]

    def block_list(self, model: nn.Module) -> nn.ModuleList:
        return model.base_model.get_submodule(self.blocks)

    def embedding(self, model: nn.Module) -> nn.Embedding:
        return model.base_model.get_submodule(self.word_embeddings)


def _layernorm_position(value: str) -> str:
    if value not in LAYERNORM_POSITIONS:
        raise bad_choice("model.layout.layernorm_position", value, LAYERNORM_POSITIONS)
    return value


def set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    """Replace the module at a dotted ``path`` under ``root``."""
    parent_path, _, attr = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, attr, module)
