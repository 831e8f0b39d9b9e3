"""Model side of the reserved positions used by prefix methods (the data side is ``harness/reserved.py``).

The data pipeline inserts ids ``vocab_size + j`` (j = 0..n-1) that are not in the vocabulary. This module,
attached to ``model.base_model`` as ``reserved_positions``, hooks the word-embedding module (found through the
Layout) so those ids never reach the embedding table: they are looked up in a trainable table instead
(PrefixEmbed), and it remembers which positions were reserved, so block pre-hooks can replace the hidden state
entering each block at those positions by trainable vectors (PrefixLayer). Later generation steps with a KV
cache carry no reserved ids; the hooks then do nothing.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from adaptbench.harness.layout import Layout

ATTR = "reserved_positions"


class ReservedPositions(nn.Module):
    def __init__(self, model: nn.Module, layout: Layout, n: int, embed: bool, layers: bool):
        super().__init__()
        emb = layout.embedding(model)
        blocks = layout.block_list(model)
        weight = emb.weight
        self.vocab_size, d = weight.shape
        self.n = n
        std = float(getattr(model.config, "initializer_range", 0.02))
        kw = {"device": weight.device, "dtype": weight.dtype}
        self.embed = nn.Parameter(torch.randn(n, d, **kw) * std) if embed else None
        self.layer_states = nn.Parameter(torch.randn(len(blocks), n, d, **kw) * std) if layers else None
        # (mask, reserved index) of the sequence the current forward pass started from; not a buffer.
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None
        self._call: tuple[torch.Tensor, torch.Tensor] | None = None
        model.base_model.add_module(ATTR, self)
        base = model.base_model
        base.register_forward_pre_hook(self._base_pre_hook, with_kwargs=True)
        base.register_forward_hook(self._base_post_hook)
        emb.register_forward_pre_hook(self._embedding_pre_hook)
        emb.register_forward_hook(self._embedding_hook)
        if layers:
            for i, block in enumerate(blocks):
                block.register_forward_pre_hook(partial(self._block_pre_hook, i), with_kwargs=True)

    # -- hooks -------------------------------------------------------------------------------------------
    def _base_pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if isinstance(
            ids, torch.Tensor
        ):  # a new sequence; with inputs_embeds only, keep what the embedding saw
            self._state = None

    def _base_post_hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._state = None

    def _embedding_pre_hook(self, module: nn.Module, args: tuple) -> tuple:
        ids = args[0]
        mask = ids >= self.vocab_size
        rid = (ids - self.vocab_size).clamp(min=0)
        if bool(mask.any()):
            top = int(ids.max())
            if top >= self.vocab_size + self.n:
                raise ValueError(
                    f"token id {top} is beyond the vocabulary ({self.vocab_size}) and the {self.n} reserved ids"
                )
        self._call = (mask, rid)
        if (
            self._state is None
        ):  # the first lookup of a forward pass is input_ids (GPT-2 reuses wte for types)
            self._state = (mask, rid)
        return (ids.masked_fill(mask, 0), *args[1:])

    def _embedding_hook(self, module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
        mask, rid = self._call
        self._call = None
        if self.embed is None or not bool(mask.any()):
            return None
        return torch.where(mask.unsqueeze(-1), self.embed[rid].to(out.dtype), out)

    def _block_pre_hook(self, i: int, module: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
        if self._state is None:
            return None
        mask, rid = self._state
        positional = len(args) > 0
        h = args[0] if positional else kwargs.get("hidden_states")
        if h is None or h.shape[:2] != mask.shape or not bool(mask.any()):
            return None
        h = torch.where(mask.unsqueeze(-1), self.layer_states[i][rid].to(h.dtype), h)
        if positional:
            return (h, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": h}


def attach(model: nn.Module, layout: Layout, n: int, embed: bool, layers: bool) -> ReservedPositions:
    """Attach (once) the reserved-position machinery to ``model``; returns it with its tables trainable."""
    if hasattr(model.base_model, ATTR):
        raise ValueError("the model already has reserved positions: compose at most one prefix method")
    rp = ReservedPositions(model, layout, n, embed, layers)
    rp.requires_grad_(True)
    return rp
