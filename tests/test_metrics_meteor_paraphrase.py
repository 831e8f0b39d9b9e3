"""METEOR with its paraphrase table cut to what a corpus can use: which words count as present (by hand), the
index and the cut on a small table (by hand), and on the real files every segment's statistics and the corpus
score equal to the whole table's."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.registry import TASKS
from adaptbench.tasks.metrics.coco import (
    METEOR_COMMAND,
    MeteorScorer,
    ptb_tokenize_corpus,
    start_meteor_jar,
)
from adaptbench.tasks.metrics.meteor_paraphrase import ParaphraseIndex, SegmentWords, text_runs
from adaptbench.tasks.metrics.nlg import lora_decode_postprocess, lora_reference_columns, tokenized_once

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs java")


def test_text_runs_read_the_text_as_is_and_with_punctuation_deleted() -> None:
    runs = text_runs(["Don't stop-me.now", "Ünïcode café"])
    assert runs == {"don", "t", "stop", "me", "now", "n", "code", "caf", "dont", "stopmenow", "ncode"}


def test_segment_words_are_every_substring_of_every_run() -> None:
    assert set(SegmentWords([["ab"]]).masks) == {"a", "b", "ab"}
    assert set(SegmentWords([["x-y"]]).masks) == {"x", "y", "xy"}


def test_segment_words_know_the_buckets_each_word_occurs_in() -> None:
    words = SegmentWords([["the cat", "a cat"], ["the dog"], ["dogs"]], buckets=2)
    assert [words.bucket_of(i) for i in range(3)] == [0, 0, 1]
    assert words.masks["cat"] == 0b01 and words.masks["dog"] == 0b11 and words.masks["dogs"] == 0b10
    assert words.masks["the"] == 0b01 and words.masks["s"] == 0b10 and "t" in words.masks
    assert words.covers([["cat the"], ["a dog"], ["dog"]])
    assert not words.covers([["cat"], ["dog"], ["the"]])  # "the" never occurs in the third bucket
    assert not words.covers([["cat"], ["dog"]])  # another corpus


TABLE = [
    ("0.5", "the cat", "the feline"),
    ("0.25", "cat", "kitty"),
    ("0.125", "big dog", "large dog"),
    ("0.0625", "naïve", "naive"),
    ("0.03", "u.s.", "united states"),
    ("0.01", "u.s.", "the"),
]


@pytest.fixture
def small_table(tmp_path: Path) -> Path:
    path = tmp_path / "paraphrase-en.gz"
    path.write_bytes(gzip.compress("".join(f"{p}\n{a}\n{b}\n" for p, a, b in TABLE).encode()))
    return path


def test_cut_keeps_the_entries_whose_ascii_words_all_occur_in_one_segment(
    small_table: Path, tmp_path: Path
) -> None:
    index = ParaphraseIndex(small_table, cache=tmp_path / "cache")
    cut = tmp_path / "cut.gz"
    segments = [["the cat sat", "a feline"], ["a kitty", "one cat"], ["big", "dog"]]
    assert index.write_cut(SegmentWords(segments), cut) == 3
    # the cat/the feline and cat/kitty (each within one segment), u.s./the (u.s. is not all letters: kept);
    # big dog/large dog: "large" occurs nowhere; naive, united: nowhere
    expected = "0.5\nthe cat\nthe feline\n0.25\ncat\nkitty\n0.01\nu.s.\nthe\n"
    assert gzip.decompress(cut.read_bytes()).decode() == expected
    # the same words, but "the" and "feline" never in one segment: that entry goes
    apart = [["the cat sat"], ["a feline"], ["a kitty", "one cat"]]
    assert index.write_cut(SegmentWords(apart), cut) == 2
    assert gzip.decompress(cut.read_bytes()).decode() == "0.25\ncat\nkitty\n0.01\nu.s.\nthe\n"


def test_index_is_built_once(small_table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ParaphraseIndex(small_table, cache=tmp_path / "cache")
    monkeypatch.setattr(ParaphraseIndex, "_build", lambda self: pytest.fail("rebuilt"))
    assert ParaphraseIndex(small_table, cache=tmp_path / "cache").folder == first.folder


def paraphrased_corpus(task: str, path: Path) -> tuple[list[list[str]], list[str]]:
    """Each source's last reference as its hypothesis against the others (human rewordings, so METEOR's
    paraphrase stage has work), as ``score_webnlg_dart`` processes and tokenises them."""
    if not path.exists():
        pytest.skip(f"../shared/data not present: {path}")
    groups = TASKS.get(task).from_config({"name": task}).reference_groups(path)
    groups = [g for g in groups if len(g) > 1]
    refs = [
        [lora_decode_postprocess(r) for r in group]
        for group in lora_reference_columns([g[:-1] for g in groups])
    ]
    hyps = [lora_decode_postprocess(g[-1]) for g in groups]
    return tokenized_once(refs, hyps)


def e2e_corpus() -> tuple[list[list[str]], list[str]]:
    """E2E dev, PTB-tokenised as ``score_e2e`` does, the last reference of each MR as its hypothesis."""
    path = DATA / "e2e" / "devset.csv"
    if not path.exists():
        pytest.skip(f"../shared/data not present: {path}")
    groups = [g for g in TASKS.get("e2e").from_config({"name": "e2e"}).reference_groups(path) if len(g) > 1]
    return ptb_tokenize_corpus([g[:-1] for g in groups], [g[-1] for g in groups])


@needs_java
@pytest.mark.parametrize("corpus", ["dart", "webnlg", "e2e"])
def test_cut_table_gives_every_segment_the_whole_tables_statistics(
    corpus: str, whole_table_meteor: MeteorScorer
) -> None:
    """The whole dev set of each: the cut holds a fraction of the table, and not one statistic moves."""
    if corpus == "e2e":
        refs, hyps = e2e_corpus()
    else:
        path = {
            "dart": DATA / "dart" / "dart-v1.1.1-full-dev.json",
            "webnlg": DATA / "webnlg_challenge_2017" / "dev.json",
        }
        refs, hyps = paraphrased_corpus(corpus, path[corpus])
    with MeteorScorer(corpus=[[*group, hyp] for group, hyp in zip(refs, hyps, strict=True)]) as cut:
        assert cut._words is not None
        assert cut.segment_statistics(refs, hyps) == whole_table_meteor.segment_statistics(refs, hyps)
        if corpus == "dart":  # the corpus score is the EVAL of those statistics; once is enough
            assert cut.score(refs, hyps) == whole_table_meteor.score(refs, hyps)


@needs_java
def test_the_paraphrase_stage_matters_on_that_text(whole_table_meteor: MeteorScorer, tmp_path: Path) -> None:
    """Not vacuous: with an empty paraphrase table many DART segments' statistics differ."""
    refs, hyps = paraphrased_corpus("dart", DATA / "dart" / "dart-v1.1.1-full-dev.json")
    refs, hyps = refs[:400], hyps[:400]
    empty = tmp_path / "empty.gz"
    empty.write_bytes(gzip.compress(b""))
    jar = start_meteor_jar(empty)
    try:
        without = [jar._stat(hyp, group) for group, hyp in zip(refs, hyps, strict=True)]
    finally:
        jar.meteor_p.kill()
        jar.meteor_p.wait()
    differ = sum(
        a != b for a, b in zip(without, whole_table_meteor.segment_statistics(refs, hyps), strict=True)
    )
    assert differ > 100  # 178 of 400 when written


@needs_java
def test_text_outside_the_cut_is_scored_after_cutting_again(whole_table_meteor: MeteorScorer) -> None:
    refs, hyps = [["the big dog barked loudly"]], ["a large hound was barking"]
    with MeteorScorer(corpus=[["the cat", "a cat"]]) as scorer:
        first_words = scorer._words
        assert scorer.score(refs, hyps) == whole_table_meteor.score(refs, hyps)
        assert scorer._words is not first_words and scorer._words.covers([[*refs[0], *hyps]])


@needs_java
def test_no_writable_cache_falls_back_to_the_whole_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(blocker / "cache"))
    with (
        pytest.warns(UserWarning, match="whole paraphrase table"),
        MeteorScorer(corpus=[["the cat"]]) as scorer,
    ):
        assert scorer._words is None
        assert "-a" not in scorer._meteor.meteor_cmd


@needs_java
def test_our_command_is_pycocoevalcaps_plus_the_table(
    whole_table_meteor: MeteorScorer, tmp_path: Path
) -> None:
    assert tuple(whole_table_meteor._meteor.meteor_cmd) == METEOR_COMMAND
    jar = start_meteor_jar(tmp_path / "t.gz")
    try:
        java, *rest = METEOR_COMMAND
        assert jar.meteor_cmd[0] == java and jar.meteor_cmd[-2:] == ["-a", str(tmp_path / "t.gz")]
        assert [a for a in jar.meteor_cmd if not a.startswith("-XX:")] == [
            java,
            *rest,
            "-a",
            str(tmp_path / "t.gz"),
        ]
    finally:
        jar.meteor_p.kill()
        jar.meteor_p.wait()
