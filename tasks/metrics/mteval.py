"""Corpus BLEU-4 and NIST-5 as the E2E challenge's ``measure_scores.py`` computes them.

The e2e-metrics script (github.com/tuetschek/e2e-metrics) gets BLEU and NIST from mteval-v13a (Perl), or
with ``-p`` -- as the LoRA paper's pipeline runs it -- from its Python port ``metrics/pymteval.py``. Both
lowercase the text and use the mteval-v13a tokenizer, take multiple references per segment and report
BLEU as a fraction.

* BLEU is sacrebleu's corpus BLEU with ``tokenize="13a"`` and ``lowercase=True``: the same tokenizer,
  clipped n-gram counts over all references and closest-reference length (ties to the shorter one).
* NIST is written out here: sacrebleu has no NIST and nltk (which has one) is not a dependency. It follows
  pymteval's ``NISTScore``: information weights from the n-gram counts of all references of the corpus,
  hits clipped by the maximum count in any one reference, and mteval's length penalty against the summed
  per-segment average reference length.

One deliberate difference from pymteval, in both metrics: a hypothesis shorter than n tokens contributes
0 n-grams (pymteval adds ``len - n + 1``, which is negative, and an empty string counts as one empty
token). Hypotheses of five or more tokens -- every realistic E2E output -- score identically.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

NIST_BETA = -math.log(0.5) / math.log(1.5) ** 2
"""mteval-v13a's length-penalty constant: the penalty is 0.5 when the output is 2/3 of the reference length."""


@cache
def _tokenizer_13a() -> Tokenizer13a:
    """sacrebleu is imported when a score is first computed, not with the module."""
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


def mteval_tokenize(text: str) -> list[str]:
    """Lowercase and tokenize like mteval-v13a (the tokenizer both BLEU and NIST use here)."""
    return _tokenizer_13a()(text.lower()).split()


def _check_corpus(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} reference sets")
    if not hyps:
        raise ValueError("empty corpus")
    empty = [i for i, group in enumerate(refs) if not group]
    if empty:
        raise ValueError(f"segments without references: {empty[:10]}")


def ref_streams(refs: Sequence[Sequence[str]], max_refs: int | None = None) -> list[list[str | None]]:
    """Per-segment reference lists -> sacrebleu's reference streams, ``None`` where a segment has fewer."""
    width = max(len(group) for group in refs)
    if max_refs is not None:
        width = min(width, max_refs)
    return [[group[i] if i < len(group) else None for group in refs] for i in range(width)]


def corpus_bleu_e2e(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    """mteval-v13a corpus BLEU-4 on lowercased text, as a fraction in [0, 1]."""
    from sacrebleu.metrics import BLEU

    _check_corpus(hyps, refs)
    bleu = BLEU(lowercase=True, tokenize="13a", smooth_method="none", force=True)
    return bleu.corpus_score(list(hyps), ref_streams(refs)).score / 100.0


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_nist(hyps: Sequence[str], refs: Sequence[Sequence[str]], max_n: int = 5) -> float:
    """mteval-style corpus NIST-``max_n`` (NIST-5 by default) on lowercased, 13a-tokenized text.

    NIST = BP * sum_n [ sum over hit n-grams of info(g) / number of hypothesis n-grams ], where
    info(w1..wn) = log2(count(w1..wn-1) / count(w1..wn)) over all reference n-grams of the corpus (the
    0-gram count is the total reference length), and BP = exp(-beta * ln(min(1, L_sys / L_ref))**2) with
    L_ref the sum over segments of the average reference length.
    """
    _check_corpus(hyps, refs)
    ref_counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(max_n + 1)]
    hits: list[list[Counter[tuple[str, ...]]]] = [[] for _ in range(max_n + 1)]
    hyp_ngram_totals = [0] * (max_n + 1)
    sys_len = 0
    avg_ref_len = 0.0
    for hyp, group in zip(hyps, refs, strict=True):
        hyp_tokens = mteval_tokenize(hyp)
        ref_tokens = [mteval_tokenize(ref) for ref in group]
        sys_len += len(hyp_tokens)
        for n in range(1, max_n + 1):
            hyp_ngrams = _ngrams(hyp_tokens, n)
            hyp_ngram_totals[n] += max(0, len(hyp_tokens) - n + 1)
            max_ref: Counter[tuple[str, ...]] = Counter()
            for tokens in ref_tokens:
                counts = _ngrams(tokens, n)
                max_ref |= counts  # element-wise max: clipping is by the best single reference
                ref_counts[n].update(counts)
            hits[n].append(hyp_ngrams & max_ref)  # element-wise min: clipped hits
        ref_len_sum = sum(len(tokens) for tokens in ref_tokens)
        ref_counts[0][()] += ref_len_sum
        avg_ref_len += ref_len_sum / len(ref_tokens)

    def info(ngram: tuple[str, ...]) -> float:
        return math.log2(ref_counts[len(ngram) - 1][ngram[:-1]] / ref_counts[len(ngram)][ngram])

    score = 0.0
    for n in range(1, max_n + 1):
        if hyp_ngram_totals[n] == 0:
            continue  # no hypothesis n-grams of this order: nothing to gain (pymteval divides by zero)
        hit_info = sum(info(g) * c for segment in hits[n] for g, c in segment.items())
        score += hit_info / hyp_ngram_totals[n]
    return nist_length_penalty(sys_len, avg_ref_len) * score


def nist_length_penalty(sys_len: float, ref_len: float) -> float:
    """mteval's NIST brevity penalty: 1 at or above the reference length, exp(-beta * ln(ratio)^2) below."""
    if ref_len <= 0:
        return 1.0
    ratio = sys_len / ref_len
    if ratio >= 1:
        return 1.0
    if ratio <= 0:
        return 0.0
    return math.exp(-NIST_BETA * math.log(ratio) ** 2)
