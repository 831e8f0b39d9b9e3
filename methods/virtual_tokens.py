"""Virtual tokens: positions of the input sequence that hold trainable vectors instead of real tokens.

They are what the prefix methods train (l_p before the input, l_i at the end of the prompt). Both sides live here:

- data: ``insert_virtual_tokens`` puts ids ``vocab_size + j`` (j = 0..n-1, outside the vocabulary) into each
  tokenised example; ``positions_left`` is what remains of the maximum length for the example itself.
- model: ``VirtualTokens``, attached as ``model.base_model.virtual_tokens``, hooks the word-embedding module
  (found through the Layout) so those ids never reach the embedding table. PrefixEmbed looks them up in its own
  trainable table; PrefixLayer keeps the lookup's mask and, before each block, replaces the hidden state at those
  positions by trainable vectors. Generation steps after the first (KV cache) carry no virtual ids: the hooks
  then do nothing.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from adaptbench.harness.api import ConfigError, Layout

ATTR = "virtual_tokens"
# How the trainable vectors start: what real tokens produce where the vectors go (Li & Liang 2021, Sec. 7.2:
# "initializing the prefix with activations of real words"), or the model's own N(0, initializer_range²).
INITS = ("activations", "random")
# Per-token fields extended alongside input_ids, with the value virtual positions get (None: the neighbour's).
FILL = {"attention_mask": 1, "token_type_ids": None, "labels": -100}


# -- data side -------------------------------------------------------------------------------------------
def positions_left(max_len: int, l_p: int, l_i: int) -> int:
    """Tokens left for the example itself when l_p + l_i of ``max_len`` positions are virtual tokens."""
    if l_p + l_i >= max_len:
        raise ConfigError(
            f"method.prefix_len + method.infix_len = {l_p} + {l_i} = {l_p + l_i} virtual tokens but the maximum "
            f"sequence length is {max_len}: nothing is left for the input; lower them or raise trainer.max_seq_len"
        )
    return max_len - l_p - l_i


def _insert(values: list, at: int, count: int, fill: object) -> list:
    if fill is None:  # copy the neighbour: the token before the insertion point, else the one after
        fill = values[at - 1] if at > 0 else (values[at] if values else 0)
    return values[:at] + [fill] * count + values[at:]


def insert_virtual_tokens(features: dict, l_p: int, l_i: int, vocab_size: int, prefix_at: int) -> dict:
    """One example with the virtual token ids inserted (a new dict; usable with ``datasets.map``).

    l_p ids go at ``prefix_at`` (1 for encoders, whose first token is [CLS]/<s>; 0 for decoders) and l_i ids
    at ``features["prompt_end"]`` (the end of the prompt), shifted by l_p. ``attention_mask`` (1),
    ``token_type_ids`` (neighbour's value) and per-token ``labels`` (-100) are extended when they are lists as
    long as ``input_ids``. ``prompt_end`` moves to the new end of the prompt, after the infix, so a generation
    prompt cut at ``prompt_end`` keeps every virtual token.
    """
    if l_p == 0 and l_i == 0:
        return dict(features)
    ids = list(features["input_ids"])
    n = len(ids)
    prompt_end = features.get("prompt_end")
    if l_i > 0 and prompt_end is None:
        raise ConfigError(
            f"method.infix_len={l_i} needs the task to provide prompt_end (where the infix goes)"
        )
    prefix_at = min(prefix_at, n)
    infix_at = None if prompt_end is None else max(int(prompt_end), prefix_at) + l_p
    fields = {
        k: fill for k, fill in FILL.items() if isinstance(features.get(k), list) and len(features[k]) == n
    }
    out = dict(features)
    out["input_ids"] = ids[:prefix_at] + [vocab_size + j for j in range(l_p)] + ids[prefix_at:]
    if infix_at is not None:
        out["input_ids"][infix_at:infix_at] = [vocab_size + l_p + j for j in range(l_i)]
    for key, fill in fields.items():
        values = _insert(list(features[key]), prefix_at, l_p, fill)
        out[key] = values if infix_at is None else _insert(values, infix_at, l_i, fill)
    if prompt_end is not None:
        out["prompt_end"] = infix_at + l_i
    return out


# -- initial vectors -------------------------------------------------------------------------------------
def real_token_ids(vocab_size: int, n: int, device: torch.device) -> torch.Tensor:
    """n ids drawn uniformly from the vocabulary with the global RNG (a seeded run draws the same ones).

    Li & Liang pick task words ("summarize", "table-to-text:"); a method knows no task or tokenizer, so it
    samples real tokens instead (Lester et al. 2021 found sampled vocabulary as good an init as chosen words)."""
    return torch.randint(vocab_size, (n,), device=device)


def hidden_block_inputs(model: nn.Module, layout: Layout, ids: torch.Tensor) -> torch.Tensor:
    """The hidden state entering each block when the frozen model reads ``ids`` as one sequence: (L, n, d)."""
    blocks = layout.block_list(model)
    seen: list[torch.Tensor | None] = [None] * len(blocks)

    def keep(i: int, module: nn.Module, args: tuple, kwargs: dict) -> None:
        seen[i] = (args[0] if args else kwargs["hidden_states"])[0]

    handles = [b.register_forward_pre_hook(partial(keep, i), with_kwargs=True) for i, b in enumerate(blocks)]
    was_training = model.training
    model.eval()  # no dropout
    try:
        with torch.no_grad():
            model.base_model(input_ids=ids.unsqueeze(0))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return torch.stack(seen)


def initial_vectors(
    model: nn.Module, layout: Layout, n: int, layers: bool, init: str
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(embedding vectors (n, d) or None, per-block vectors (L, n, d) or None) to start training from.

    ``activations``: PrefixEmbed starts from the word embeddings of n real tokens, PrefixLayer from the hidden
    states those tokens produce entering each block (the scale of real activations; 0.02·N(0,1) is 23-31x smaller
    than MiniLM-L6's hidden states). ``random``: N(0, initializer_range²). A meta-device model (counting
    parameters) gets random values: there is nothing to compute from.
    """
    weight = layout.embedding(model).weight
    vocab_size, d = weight.shape
    if init == "activations" and not weight.is_meta:
        ids = real_token_ids(vocab_size, n, weight.device)
        if layers:
            return None, hidden_block_inputs(model, layout, ids).to(weight.dtype).clone()
        return weight[ids].detach().clone(), None
    std = float(getattr(model.config, "initializer_range", 0.02))
    shape = (len(layout.block_list(model)), n, d) if layers else (n, d)
    vectors = torch.randn(shape, device=weight.device, dtype=weight.dtype) * std
    return (None, vectors) if layers else (vectors, None)


# -- model side ------------------------------------------------------------------------------------------
class VirtualTokens(nn.Module):
    """The trainable vectors of the virtual tokens and the hooks that put them in place (see the module doc)."""

    def __init__(
        self, vocab_size: int, embed: torch.Tensor | None, layer_states: torch.Tensor | None
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.n = int((embed if embed is not None else layer_states[0]).shape[0])
        self.embed = None if embed is None else nn.Parameter(embed)
        self.layer_states = None if layer_states is None else nn.Parameter(layer_states)
        # (mask, virtual index) of the sequence the current forward pass started from; not a buffer.
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None
        self._call: tuple[torch.Tensor, torch.Tensor] | None = None

    def hook_into(self, model: nn.Module, layout: Layout) -> None:
        base = model.base_model
        base.register_forward_pre_hook(self._base_pre_hook, with_kwargs=True)
        base.register_forward_hook(self._base_post_hook)
        emb = layout.embedding(model)
        emb.register_forward_pre_hook(self._embedding_pre_hook)
        emb.register_forward_hook(self._embedding_hook)
        if self.layer_states is None:
            return
        for i, block in enumerate(layout.block_list(model)):
            block.register_forward_pre_hook(partial(self._block_pre_hook, i), with_kwargs=True)
        # DeBERTa-v2's ConvLayer also reads the state entering block 0: it must see the trainable vectors too
        for path in layout.embedding_output_readers:
            if _has_submodule(base, path):
                base.get_submodule(path).register_forward_pre_hook(
                    partial(self._block_pre_hook, 0), with_kwargs=True
                )

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
        if bool(mask.any()) and int(ids.max()) >= self.vocab_size + self.n:
            raise ValueError(
                f"token id {int(ids.max())} is beyond the vocabulary ({self.vocab_size}) and the {self.n} "
                "virtual tokens"
            )
        self._call = (mask, (ids - self.vocab_size).clamp(min=0))
        if (
            self._state is None
        ):  # the first lookup of a forward pass is input_ids (GPT-2 reuses wte for types)
            self._state = self._call
        return (ids.masked_fill(mask, 0), *args[1:])

    def _embedding_hook(self, module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
        mask, index = self._call
        self._call = None
        if self.embed is None or not bool(mask.any()):
            return None
        return torch.where(mask.unsqueeze(-1), self.embed[index].to(out.dtype), out)

    def _block_pre_hook(self, i: int, module: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
        if self._state is None:
            return None
        mask, index = self._state
        positional = len(args) > 0
        h = args[0] if positional else kwargs.get("hidden_states")
        if h is None or h.shape[:2] != mask.shape or not bool(mask.any()):
            return None
        h = torch.where(mask.unsqueeze(-1), self.layer_states[i][index].to(h.dtype), h)
        if positional:
            return (h, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": h}


def _has_submodule(root: nn.Module, path: str) -> bool:
    try:
        return root.get_submodule(path) is not None
    except AttributeError:
        return False


def attach_virtual_tokens(model: nn.Module, layout: Layout, n: int, layers: bool, init: str) -> VirtualTokens:
    """Give ``model`` n virtual tokens with trainable vectors (at the word embedding, or before every block when
    ``layers``); returns the attached module, its vectors trainable."""
    if hasattr(model.base_model, ATTR):
        raise ValueError("the model already has virtual tokens: compose at most one prefix method")
    embed, layer_states = initial_vectors(model, layout, n, layers, init)
    tokens = VirtualTokens(layout.embedding(model).weight.shape[0], embed, layer_states)
    model.base_model.add_module(ATTR, tokens)
    tokens.hook_into(model, layout)
    tokens.requires_grad_(True)
    return tokens
