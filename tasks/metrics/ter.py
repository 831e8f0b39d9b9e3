"""pyter3's TER (``pyter.ter``), the same algorithm in a fraction of its time.

GenerationEval scores WebNLG/DART TER with pyter3: a greedy shift search (each round, of every block that
``_findpairs`` proposes -- a maximal common run of hypothesis and reference words starting at different
positions -- apply the move that lowers the word-level Levenshtein distance most; stop when none lowers it),
then ``(shifts + distance) / len(reference)``. pyter3 computes each candidate's distance with a Python
dynamic-programming table (with a prefix cache): ``len(hyp) * len(ref)`` cells per candidate, a few ms per
source and most of a minute for a long DART output. Here the search is pyter3's, move for move -- the same
candidates, the same choice among equal gains (pyter3 sorts ``(gain, shifted words)`` and takes the last, so
the lexicographically greatest word list wins a tie) -- and only the distance is computed differently:

* bit-parallel Levenshtein (Myers 1999, in Hyyrö's 2001 formulation), one Python integer holding a whole
  column of the table, so a hypothesis of n words costs n rounds of integer operations instead of n·m cells;
* a shifted hypothesis shares its first ``min(from, to)`` words with the current one, so the column after
  every prefix of the current hypothesis is kept and each candidate resumes from there (pyter3's prefix
  cache, for the same reason).

Both give the exact integer distance, so every score is pyter3's, float for float
(``tests/test_metrics_ter.py`` compares the two on the real WebNLG/DART files).
"""

from __future__ import annotations

from collections.abc import Sequence

Column = tuple[int, int, int]
"""The bit-parallel state after some hypothesis words: (vertical +1 bits, vertical -1 bits, distance)."""


class LevenshteinToReference:
    """Word-level Levenshtein distance from any word list to one fixed reference (Myers/Hyyrö bit vectors)."""

    def __init__(self, ref: Sequence[str]) -> None:
        self.length = len(ref)
        self.mask = (1 << self.length) - 1
        self.top = 1 << (self.length - 1) if ref else 0
        self.match: dict[str, int] = {}
        for j, word in enumerate(ref):
            self.match[word] = self.match.get(word, 0) | (1 << j)
        self.start: Column = (self.mask, 0, self.length)  # distance of the empty hypothesis: len(ref)

    def columns(self, words: Sequence[str]) -> list[Column]:
        """The state after each prefix of ``words``: ``columns(w)[k]`` is after ``w[:k]``."""
        out = [self.start]
        for word in words:
            out.append(self.step(out[-1], word))
        return out

    def distance(self, words: Sequence[str], frm: int = 0, column: Column | None = None) -> int:
        """The distance of ``words``, resuming at ``words[frm:]`` from ``column`` (the state after ``frm``
        words). :meth:`step`, inlined: this loop is where the search spends its time."""
        vp, vn, score = self.start if column is None else column
        if not self.length:
            return score + len(words) - frm
        match, mask, top = self.match, self.mask, self.top
        for k in range(frm, len(words)):
            eq = match.get(words[k], 0)
            xv = eq | vn
            xh = (((eq & vp) + vp) ^ vp) | eq
            hp = vn | ~(xh | vp)
            hn = vp & xh
            if hp & top:
                score += 1
            elif hn & top:
                score -= 1
            hp = (hp << 1) | 1
            vp = ((hn << 1) | ~(xv | hp)) & mask
            vn = hp & xv & mask
        return score

    def step(self, column: Column, word: str) -> Column:
        """One more hypothesis word: Hyyrö's column update, with a 1 shifted in (global, not search, distance)."""
        vp, vn, score = column
        if not self.length:
            return vp, vn, score + 1
        eq = self.match.get(word, 0)
        xv = eq | vn
        xh = (((eq & vp) + vp) ^ vp) | eq
        hp = vn | ~(xh | vp)
        hn = vp & xh
        if hp & self.top:
            score += 1
        elif hn & self.top:
            score -= 1
        hp = (hp << 1) | 1
        return ((hn << 1) | ~(xv | hp)) & self.mask, hp & xv & self.mask, score


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


def best_shift(hyp: list[str], ref: Sequence[str], lev: LevenshteinToReference) -> tuple[int, list[str]]:
    """pyter3's ``_shift``: the (gain, shifted hypothesis) that is greatest as a tuple, or ``(0, hyp)``."""
    cols = lev.columns(hyp)
    before = cols[-1][2]
    best: tuple[int, list[str]] | None = None
    for i, j, length in block_matches(hyp, ref):
        shifted = hyp[:i] + hyp[i + length :]
        shifted[j:j] = hyp[i : i + length]
        frm = min(i, j)
        candidate = (before - lev.distance(shifted, frm, cols[frm]), shifted)
        if best is None or candidate > best:
            best = candidate
    return best if best is not None else (0, hyp)


def ter(hyp: Sequence[str], ref: Sequence[str]) -> float:
    """``pyter.ter(hyp, ref)``: shifts plus the remaining word edits, over the reference length. Raises
    ``ZeroDivisionError`` for an empty reference, as pyter3 does."""
    words, ref = list(hyp), list(ref)
    lev = LevenshteinToReference(ref)
    shifts = 0
    while True:
        gain, shifted = best_shift(words, ref, lev)
        if gain <= 0:
            break
        shifts += 1
        words = shifted
    return (shifts + lev.distance(words)) / len(ref)
