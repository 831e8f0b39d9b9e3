"""pyter3's TER (``pyter.ter``), the same algorithm in a fraction of its time.

GenerationEval scores WebNLG/DART TER with pyter3: a greedy shift search (each round, of every block that
``_findpairs`` proposes -- a maximal common run of hypothesis and reference words starting at different
positions -- apply the move that lowers the word-level Levenshtein distance most; stop when none lowers it),
then ``(shifts + distance) / len(reference)``. pyter3 computes each candidate's distance with a Python
dynamic-programming table (with a prefix cache): ``len(hyp) * len(ref)`` cells per candidate, a few ms per
source and most of a minute for a long DART output. Here the search is pyter3's, move for move -- the same
candidates, the same choice among equal gains (pyter3 sorts ``(gain, shifted words)`` and takes the last, so
the lexicographically greatest word list wins a tie) -- and only the distance is computed differently: by
RapidFuzz's ``Levenshtein.distance`` (C++, bit-parallel), on the words as integer ids (each distinct word of a
pair its own id, so no two words can compare equal by a hash), which is the exact integer distance.

So every score is pyter3's, float for float (``tests/test_metrics_ter.py`` compares the two on the real
WebNLG/DART files).
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance.Levenshtein import distance


def block_matches(hyp: Sequence[str], ref: Sequence[str]) -> list[tuple[int, int, int]]:
    """pyter3's ``_findpairs``: for each hypothesis position i and reference position j != i with equal words,
    ``(i, j, length)`` of the longest common run starting there."""
    positions: dict[str, list[int]] = {}
    for j, word in enumerate(ref):
        positions.setdefault(word, []).append(j)
    n, m = len(hyp), len(ref)
    pairs = []
    for i, word in enumerate(hyp):
        for j in positions.get(word, ()):
            if i == j:
                continue
            length = 1
            while i + length < n and j + length < m and hyp[i + length] == ref[j + length]:
                length += 1
            pairs.append((i, j, length))
    return pairs


def moved(seq: list, i: int, j: int, length: int) -> list:
    """``seq`` with its block ``seq[i:i + length]`` taken out and put back at ``j`` (pyter3's shifted hypothesis)."""
    out = seq[:i] + seq[i + length :]
    out[j:j] = seq[i : i + length]
    return out


def best_shift(
    words: list[str], ids: list[int], ref: Sequence[str], ref_ids: list[int]
) -> tuple[list[str], list[int]] | None:
    """pyter3's ``_shift``: the shift of greatest (gain, shifted words), as (words, ids), or ``None`` if no shift
    lowers the distance. ``ids``/``ref_ids`` are ``words``/``ref`` as integer ids; the shifted word list is built
    only for a candidate that can win (a gain at least the best so far), to break the tie as pyter3 does."""
    before = distance(ids, ref_ids)
    best_gain, best = 0, None
    for i, j, length in block_matches(words, ref):
        shifted = moved(ids, i, j, length)
        gain = before - distance(shifted, ref_ids)
        if gain > best_gain or (gain == best_gain and best is not None):
            shifted_words = moved(words, i, j, length)
            if gain > best_gain or shifted_words > best[0]:
                best_gain, best = gain, (shifted_words, shifted)
    return best


def ter(hyp: Sequence[str], ref: Sequence[str]) -> float:
    """``pyter.ter(hyp, ref)``: shifts plus the remaining word edits, over the reference length. Raises
    ``ZeroDivisionError`` for an empty reference, as pyter3 does."""
    vocabulary: dict[str, int] = {}
    ref = list(ref)
    ref_ids = [vocabulary.setdefault(w, len(vocabulary)) for w in ref]
    words = list(hyp)
    ids = [vocabulary.setdefault(w, len(vocabulary)) for w in words]
    shifts = 0
    while (shift := best_shift(words, ids, ref, ref_ids)) is not None:
        shifts += 1
        words, ids = shift
    return (shifts + distance(ids, ref_ids)) / len(ref)
