"""``adaptbench.tasks.metrics.ter``: pyter3's TER, move for move, on hand-made cases, random word lists and the
real WebNLG/DART dev files (references against each other, as outputs of a system that paraphrases)."""

from __future__ import annotations

import random
from pathlib import Path

import pyter
import pytest

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.registry import TASKS
from adaptbench.tasks.metrics.nlg import (
    generation_eval_tokenize,
    lora_decode_postprocess,
    lora_reference_columns,
    ter_min_over_refs,
)
from adaptbench.tasks.metrics.ter import block_matches, moved, ter

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV = {
    "webnlg": DATA / "webnlg_challenge_2017" / "dev.json",
    "dart": DATA / "dart" / "dart-v1.1.1-full-dev.json",
}
SAMPLE = 300


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize(
    ("hyp", "ref", "expected"),
    [
        ("a b c d", "a b x d", 1 / 4),  # one substitution
        ("c d a b", "a b c d", 1 / 4),  # one shift of a 2-word block
        ("a b c d e f", "x", 6.0),  # 1 substitution + 5 deletions over 1 reference word
        ("", "a b", 1.0),  # two insertions
        ("a a a", "a a a", 0.0),
        # pyter's docstring example: 4 edits over 13 words
        (
            "THIS WEEK THE SAUDIS denied information published in the new york times",
            "SAUDI ARABIA denied THIS WEEK information published in the AMERICAN new york times",
            4 / 13,
        ),
    ],
)
def test_by_hand_and_equal_to_pyter(hyp: str, ref: str, expected: float) -> None:
    assert ter(words(hyp), words(ref)) == pytest.approx(expected)
    assert ter(words(hyp), words(ref)) == pyter.ter(words(hyp), words(ref))


def test_empty_reference_divides_by_zero_as_pyter_does() -> None:
    with pytest.raises(ZeroDivisionError):
        pyter.ter(["a"], [])
    with pytest.raises(ZeroDivisionError):
        ter(["a"], [])


def test_distance_on_word_ids_is_pyters_and_so_are_pairs_and_moves() -> None:
    from rapidfuzz.distance.Levenshtein import distance

    rng = random.Random(0)
    for _ in range(500):
        vocab = rng.choice([2, 3, 6])
        h = [str(rng.randrange(vocab)) for _ in range(rng.randrange(0, 12))]
        r = [str(rng.randrange(vocab)) for _ in range(rng.randrange(1, 12))]
        ids: dict[str, int] = {}
        h_ids, r_ids = [ids.setdefault(w, len(ids)) for w in h], [ids.setdefault(w, len(ids)) for w in r]
        assert distance(h_ids, r_ids) == pyter.edit_distance(h, r)
        pairs = block_matches(h, r)
        assert pairs == list(pyter._findpairs(h, r))
        for i, j, length in pairs:
            shifted = h[:i] + h[i + length :]  # pyter's _shift builds the moved hypothesis so
            assert moved(h, i, j, length) == shifted[:j] + h[i : i + length] + shifted[j:]


def test_random_word_lists_score_exactly_as_pyter() -> None:
    # small vocabularies: many equal-gain shifts, so the tie-break (the greatest word list) is exercised
    rng = random.Random(1)
    for _ in range(1500):
        vocab = rng.choice([2, 3, 5, 20])
        h = [str(rng.randrange(vocab)) for _ in range(rng.randrange(0, 16))]
        r = [str(rng.randrange(vocab)) for _ in range(rng.randrange(1, 16))]
        assert ter(h, r) == pyter.ter(h, r), (h, r)


def pyter_min_over_refs(hyp: str, refs: list[str]) -> float:
    """GenerationEval's loop, with pyter itself: every reference, an empty one scored 1."""
    best = float("inf")
    for ref in refs:
        try:
            best = min(best, pyter.ter(hyp.split(), ref.split()) if ref else 1.0)
        except ZeroDivisionError:
            best = min(best, 1.0)
    return best


@pytest.mark.parametrize("task", ["webnlg", "dart"])
def test_real_dev_files_score_exactly_as_pyter(task: str) -> None:
    """Sources with 2+ references: the last reference as the output, scored against all of them (0: itself)
    and against the others; the processing is the scorer's (LoRA's decoding, 6 columns, nltk tokens)."""
    if not DEV[task].exists():
        pytest.skip(f"../shared/data not present: {DEV[task]}")
    refs = TASKS.get(task).from_config({"name": task}).reference_groups(DEV[task])
    multi = [g for g in refs if len(g) >= 2][:SAMPLE]
    assert len(multi) == SAMPLE
    checked = 0
    for group in lora_reference_columns(multi):
        tokens = [generation_eval_tokenize(lora_decode_postprocess(r)) for r in group]
        hyp, others = tokens[-1], [t for t in tokens if t != tokens[-1]]
        assert ter_min_over_refs(hyp, tokens) == 0.0
        if others:
            assert ter_min_over_refs(hyp, others) == pyter_min_over_refs(hyp, others)
            for ref in dict.fromkeys(others):
                assert ter(hyp.split(), ref.split()) == pyter.ter(hyp.split(), ref.split())
                checked += 1
    assert checked > SAMPLE
