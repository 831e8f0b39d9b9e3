"""Data side of prefix methods: insert the reserved token ids into tokenised examples.

The model side (``methods/_reserved.py``) maps id ``vocab_size + j`` to the j-th trainable vector, where
``vocab_size`` is the size of the model's word-embedding table. Ids 0..l_p-1 (after the vocabulary) are the
prefix, l_p..l_p+l_i-1 the infix.
"""

from __future__ import annotations

from adaptbench.harness.errors import ConfigError

# Per-token fields extended alongside input_ids, with the value the reserved positions get
# (None: copy the neighbouring value).
FILL = {"attention_mask": 1, "token_type_ids": None, "labels": -100}


def usable_length(max_len: int, l_p: int, l_i: int) -> int:
    """Tokens left for the example itself when the method reserves l_p + l_i of ``max_len`` positions."""
    if l_p < 0 or l_i < 0:
        raise ConfigError(f"reserved positions must be >= 0, got prefix_len={l_p}, infix_len={l_i}")
    if l_p + l_i >= max_len:
        raise ConfigError(
            f"the method reserves prefix_len + infix_len = {l_p} + {l_i} = {l_p + l_i} positions but the maximum "
            f"sequence length is {max_len}: nothing is left for the input; need prefix_len + infix_len < {max_len}"
        )
    return max_len - l_p - l_i


def _insert(values: list, at: int, count: int, fill: object) -> list:
    if fill is None:  # copy the neighbour: the token before the insertion point, else the one after
        fill = values[at - 1] if at > 0 else (values[at] if values else 0)
    return values[:at] + [fill] * count + values[at:]


def insert_reserved(features: dict, l_p: int, l_i: int, vocab_size: int, prefix_at: int) -> dict:
    """One example with the reserved ids inserted (a new dict; usable with ``datasets.map``).

    l_p ids go at ``prefix_at`` (1 for encoders, whose first token is [CLS]/<s>; 0 for decoders) and l_i ids
    at ``features["prompt_end"]`` (the end of the prompt), shifted by l_p. ``attention_mask`` (1),
    ``token_type_ids`` (neighbour's value) and per-token ``labels`` (-100) are extended when they are lists as
    long as ``input_ids``. ``prompt_end`` is moved to the new end of the prompt, after the infix, so a
    generation prompt cut at ``prompt_end`` keeps every reserved token.
    """
    if l_p == 0 and l_i == 0:
        return dict(features)
    ids = list(features["input_ids"])
    n = len(ids)
    if l_i > 0 and features.get("prompt_end") is None:
        raise ConfigError(f"infix_len={l_i} needs the task to provide prompt_end (where the infix goes)")
    prefix_at = min(prefix_at, n)
    prompt_end = features.get("prompt_end")
    infix_at = None if prompt_end is None else max(int(prompt_end), prefix_at) + l_p
    out = dict(features)
    fields = {
        k: fill for k, fill in FILL.items() if isinstance(features.get(k), list) and len(features[k]) == n
    }
    out["input_ids"] = ids[:prefix_at] + [vocab_size + j for j in range(l_p)] + ids[prefix_at:]
    if infix_at is not None:
        out["input_ids"][infix_at:infix_at] = [vocab_size + l_p + j for j in range(l_i)]
    for key, fill in fields.items():
        values = _insert(list(features[key]), prefix_at, l_p, fill)
        out[key] = values if infix_at is None else _insert(values, infix_at, l_i, fill)
    if prompt_end is not None:
        out["prompt_end"] = infix_at + l_i
    return out
