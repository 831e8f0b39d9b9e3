"""E2E / WebNLG / DART metrics: toy cases computed by hand, and the real dev sets in ../shared/data.

The java-backed metrics (METEOR, the COCO PTB tokenizer) share one METEOR process per module: starting
the jar and loading its paraphrase table costs ~10 s.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU

from adaptbench.harness.errors import ConfigError
from adaptbench.tasks.metrics.coco import MeteorScorer
from adaptbench.tasks.metrics.mteval import NIST_BETA, corpus_bleu_e2e, corpus_nist
from adaptbench.tasks.metrics.nlg import (
    lora_decode_postprocess,
    read_e2e_refs,
    read_hyps,
    read_webnlg_dart_refs,
    score_e2e,
    score_files,
    score_webnlg_dart,
    ter_min_over_refs,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
E2E_DEV = DATA / "e2e" / "devset.csv"
E2E_LORA_VALID = DATA / "e2e_lora" / "valid.txt"
WEBNLG_DEV = DATA / "webnlg_challenge_2017" / "dev.json"
DART_DEV = DATA / "dart" / "dart-v1.1.1-full-dev.json"

needs_java = pytest.mark.skipif(
    shutil.which("java") is None, reason="METEOR and the COCO PTB tokenizer need java"
)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"../shared/data not present: {path} (real benchmark data only exists next to the dev checkout)"
        )
    return path


@pytest.fixture(scope="module")
def meteor() -> Iterator[MeteorScorer]:
    if shutil.which("java") is None:
        pytest.skip("METEOR needs java")
    scorer = MeteorScorer()
    proc = scorer._meteor.meteor_p
    yield scorer
    scorer.close()
    assert proc.poll() is not None, "the METEOR java process outlived its scorer"


# ------------------------------------------------------------------------------------ BLEU / NIST by hand


def test_nist_identical_single_sentence_by_hand() -> None:
    # one segment, hypothesis == reference == "x y x y x"; counts over the reference:
    # 0-gram: 5 words | x:3 y:2 | xy:2 yx:2 | xyx:2 yxy:1 | xyxy:1 yxyx:1 | xyxyx:1
    # info(w1..wn) = log2(count(w1..wn-1) / count(w1..wn)); every hypothesis n-gram is a hit.
    uni = (3 * math.log2(5 / 3) + 2 * math.log2(5 / 2)) / 5
    bi = (2 * math.log2(3 / 2) + 2 * math.log2(2 / 2)) / 4  # xy: c(x)/c(xy) = 3/2; yx: c(y)/c(yx) = 2/2
    tri = (2 * math.log2(2 / 2) + 1 * math.log2(2 / 1)) / 3  # xyx: c(xy)/c(xyx); yxy: c(yx)/c(yxy)
    four = (math.log2(2 / 1) + math.log2(1 / 1)) / 2  # xyxy: c(xyx)/1; yxyx: c(yxy)/1
    five = math.log2(1 / 1) / 1
    expected = uni + bi + tri + four + five  # brevity penalty 1 (same length)
    assert corpus_nist(["x y x y x"], [["x y x y x"]]) == pytest.approx(expected)
    assert expected == pytest.approx(2.0968, abs=1e-4)


def test_nist_short_hypothesis_brevity_penalty_by_hand() -> None:
    # hypothesis "x y x" against the same reference: unigram hits x:2 y:1, bigram hits xy, yx, trigram xyx;
    # no 4- or 5-grams in the hypothesis. Length ratio 3/5 -> mteval penalty exp(-beta * ln(0.6)^2).
    beta = -math.log(0.5) / math.log(1.5) ** 2
    assert beta == pytest.approx(NIST_BETA)
    info_sum = (2 * math.log2(5 / 3) + math.log2(5 / 2)) / 3 + (math.log2(3 / 2) + 0.0) / 2 + 0.0 / 1
    expected = math.exp(-beta * math.log(3 / 5) ** 2) * info_sum
    # uppercase in the hypothesis: the score is computed on lowercased text
    assert corpus_nist(["X Y x"], [["x y x y x"]]) == pytest.approx(expected)


def test_nist_uses_lowercased_mteval_tokens_and_max_ref_clipping() -> None:
    # "the cat." tokenizes to "the cat ." in both; the second reference adds counts to the info weights
    a = corpus_nist(["The cat."], [["the cat ."]])
    b = corpus_nist(["the cat ."], [["THE CAT."]])
    assert a == pytest.approx(b)
    assert a > 0


def test_bleu_exact_match_is_one_and_matches_sacrebleu() -> None:
    refs = [["The cat sat on the mat.", "A cat was sitting on the mat."], ["It rains today in Paris."]]
    assert corpus_bleu_e2e(["the cat sat on the mat .", "It rains today in Paris."], refs) == pytest.approx(
        1.0
    )
    hyps = ["a cat sat on the mat today", "it rains in paris today ."]
    expected = BLEU(tokenize="13a", smooth_method="none").corpus_score(
        [h.lower() for h in hyps], [[g[0].lower() for g in refs], [refs[0][1].lower(), None]]
    )
    assert 0.2 < expected.score / 100 < 0.9
    assert corpus_bleu_e2e(hyps, refs) == pytest.approx(expected.score / 100)


def test_ter_min_over_refs_by_hand() -> None:
    assert ter_min_over_refs("a b c d", ["a b x d"]) == pytest.approx(1 / 4)  # one substitution / 4
    # one deletion against a 5-word reference (1/5) beats one substitution against 4 words (1/4)
    assert ter_min_over_refs("a b c d", ["a b x d", "a b c d e"]) == pytest.approx(1 / 5)
    assert ter_min_over_refs("a b c d", ["q", "a b c d"]) == 0.0
    assert ter_min_over_refs("a b c d", [""]) == 1.0
    # a shift counts as one edit: "c d a b" -> "a b c d" is one block move of 2 words
    assert ter_min_over_refs("c d a b", ["a b c d"]) == pytest.approx(1 / 4)


def test_lora_decode_postprocess() -> None:
    assert (
        lora_decode_postprocess("Hello, World's end-point (2.5km).")
        == "hello , world ' s end - point ( 2 . 5km ) ."
    )
    once = lora_decode_postprocess("Café Sicilia: £20-25!")
    assert once == "café sicilia : £ 20 - 25 !"
    assert lora_decode_postprocess(once) == once


# ---------------------------------------------------------------------------------------------- readers


def test_read_e2e_formats_group_the_same(tmp_path: Path) -> None:
    mrs, refs = read_e2e_refs(need(E2E_DEV))
    assert len(mrs) == len(refs) == 547
    assert sum(len(g) for g in refs) == 4672
    assert mrs[0] == "name[Alimentum], area[city centre], familyFriendly[no]"
    assert refs[0][0] == "There is a place in the city centre, Alimentum, that is not family-friendly."
    lora_mrs, lora_refs = read_e2e_refs(need(E2E_LORA_VALID))
    assert lora_mrs[0] == "name : Alimentum | area : city centre | family friendly : no"
    assert (
        lora_refs[0][0] == "There is a place in the city centre , Alimentum , that is not family - friendly ."
    )
    assert [len(g) for g in lora_refs] == [len(g) for g in refs]
    # e2e-metrics' multi-reference text (references of one MR on consecutive lines, blank line between MRs)
    txt = tmp_path / "devel-conc.txt"
    txt.write_text("\n\n".join("\n".join(g) for g in refs[:3]) + "\n", encoding="utf-8")
    assert read_e2e_refs(txt) == ([""] * 3, refs[:3])


def test_read_e2e_csv_groups_by_first_appearance(tmp_path: Path) -> None:
    path = tmp_path / "refs.csv"
    path.write_text('mr,ref\n"a[1]","one"\n"b[2]","two ""q"""\n"a[1]","uno"\n', encoding="utf-8")
    assert read_e2e_refs(path) == (["a[1]", "b[2]"], [["one", "uno"], ['two "q"']])
    lines = tmp_path / "refs.txt"
    lines.write_text("a : 1||one\nb : 2 || two\na : 1||uno\n", encoding="utf-8")
    assert read_e2e_refs(lines) == (["a : 1", "b : 2"], [["one", "uno"], ["two"]])


def test_read_webnlg_dart_layouts(tmp_path: Path) -> None:
    sources, refs = read_webnlg_dart_refs(need(WEBNLG_DEV))
    # 872 entries, 2258 "good" lexicalisations; two triple sets occur twice and merge, as in LoRA's decoding
    assert len(sources) == len(refs) == 870
    assert sum(len(g) for g in refs) == 2258
    assert sources[0] == "Aarhus : leaderName : Jacob_Bundsgaard"
    assert refs[0] == ["The leader of Aarhus is Jacob Bundsgaard."]
    sources, refs = read_webnlg_dart_refs(need(DART_DEV))
    assert len(refs) == 2721  # 2768 triple sets, 47 repeated ones merge
    assert (
        sources[0]
        == "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, North Carolina"
    )
    assert refs[0] == ["A school from Mars Hill, North Carolina, joined in 1973."]
    # blank-line separated text and GenerationEval's reference0..N directory
    txt = tmp_path / "refs.txt"
    txt.write_text("r1a\nr1b\n\nr2a\n", encoding="utf-8")
    assert read_webnlg_dart_refs(txt) == (["", ""], [["r1a", "r1b"], ["r2a"]])
    refdir = tmp_path / "references"
    refdir.mkdir()
    (refdir / "reference0").write_text("r1a\nr2a\n", encoding="utf-8")
    (refdir / "reference1").write_text("r1b\nr2a\n", encoding="utf-8")
    assert read_webnlg_dart_refs(refdir) == (["", ""], [["r1a", "r1b"], ["r2a", "r2a"]])


def test_read_hyps_keeps_empty_outputs(tmp_path: Path) -> None:
    path = tmp_path / "hyps.txt"
    path.write_text(" one \n\nthree\u2028still three\r\n", encoding="utf-8")
    assert read_hyps(path) == ["one", "", "three\u2028still three"]  # only "\n" separates outputs


def test_count_mismatch_names_both_numbers(tmp_path: Path) -> None:
    refs_path = need(E2E_DEV)
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("\n".join(["x"] * 12) + "\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=rf"^12 hypotheses for 547 unique MRs in {re.escape(str(refs_path))}"
    ):
        score_files("e2e", refs_path, hyps)
    with pytest.raises(ConfigError, match="12 hypotheses for 870 unique sources in"):
        score_files("webnlg", need(WEBNLG_DEV), hyps)
    with pytest.raises(ConfigError, match="2 hypotheses for 1 unique MRs"):
        score_e2e([["a"]], ["a", "b"])
    with pytest.raises(ConfigError, match="task='wmt' is not valid"):
        score_files("wmt", refs_path, hyps)
    with pytest.raises(ConfigError, match="file not found"):
        score_files("e2e", tmp_path / "missing.csv", hyps)


# ------------------------------------------------------------------------------------ E2E on the dev set


def template_output(mr: str) -> str:
    """A rule-based E2E system: one clause per slot of the MR."""
    slots = dict(re.findall(r"(\w[\w ]*)\[([^\]]*)\]", mr))
    text = f"{slots.get('name', 'It')} is a {slots.get('eatType', 'restaurant')}"
    if "food" in slots:
        text += f" serving {slots['food']} food"
    if "priceRange" in slots:
        text += f" in the {slots['priceRange']} price range"
    if "area" in slots:
        text += f" in the {slots['area']}"
    if "near" in slots:
        text += f" near {slots['near']}"
    text += "."
    if "customer rating" in slots:
        text += f" It has a {slots['customer rating']} customer rating."
    if "familyFriendly" in slots:
        text += (
            " It is family friendly." if slots["familyFriendly"] == "yes" else " It is not family friendly."
        )
    return text


@pytest.fixture(scope="module")
def e2e_dev() -> tuple[list[str], list[list[str]]]:
    return read_e2e_refs(need(E2E_DEV))


@pytest.fixture(scope="module")
def e2e_scores(
    e2e_dev: tuple[list[str], list[list[str]]], meteor: MeteorScorer
) -> dict[str, dict[str, float]]:
    mrs, refs = e2e_dev
    return {
        "first_ref": score_e2e(refs, [g[0] for g in refs], meteor=meteor),
        "template": score_e2e(refs, [template_output(mr) for mr in mrs], meteor=meteor),
    }


@needs_java
def test_e2e_first_reference_is_perfect(e2e_scores: dict[str, dict[str, float]]) -> None:
    s = e2e_scores["first_ref"]
    assert set(s) == {"BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"}
    assert all(type(v) is float for v in s.values())
    assert s["BLEU"] == pytest.approx(1.0)
    assert s["METEOR"] == pytest.approx(1.0)
    assert s["ROUGE_L"] == pytest.approx(1.0)
    assert 10 < s["NIST"] < 16  # every n-gram a hit: NIST = the sum of mean info weights of orders 1-5
    assert 2 < s["CIDEr"] < 5  # CIDEr-D of one exact reference among ~8 is not 10: the others differ


@needs_java
def test_e2e_template_system_plausible_and_below_references(
    e2e_dev: tuple[list[str], list[list[str]]], e2e_scores: dict[str, dict[str, float]]
) -> None:
    s = e2e_scores["template"]
    assert 0.2 < s["BLEU"] < 0.9
    assert 3 < s["NIST"] < 9
    assert 0.2 < s["METEOR"] < 0.6
    assert 0.4 < s["ROUGE_L"] < 0.9
    assert 0.5 < s["CIDEr"] < 3
    assert all(s[k] < e2e_scores["first_ref"][k] for k in s)
    # BLEU against sacrebleu computed here: lowercased text, 13a tokens, variable reference counts
    mrs, refs = e2e_dev
    hyps = [template_output(mr).lower() for mr in mrs]
    width = max(len(g) for g in refs)
    streams = [[g[i].lower() if i < len(g) else None for g in refs] for i in range(width)]
    assert s["BLEU"] == pytest.approx(BLEU(tokenize="13a").corpus_score(hyps, streams).score / 100, abs=1e-9)


@needs_java
def test_e2e_score_files_lora_format(tmp_path: Path, meteor: MeteorScorer) -> None:
    _, refs = read_e2e_refs(need(E2E_LORA_VALID))
    hyps = tmp_path / "pred.txt"
    hyps.write_text("\n".join(g[0] for g in refs) + "\n\n", encoding="utf-8")  # trailing blank line tolerated
    s = score_files("e2e", E2E_LORA_VALID, hyps, meteor=meteor)
    assert s["BLEU"] == pytest.approx(1.0)
    assert s["METEOR"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------- WebNLG and DART


@needs_java
@pytest.mark.parametrize("path", [WEBNLG_DEV, DART_DEV], ids=["webnlg", "dart"])
def test_webnlg_dart_first_reference_is_perfect(path: Path, meteor: MeteorScorer) -> None:
    _, refs = read_webnlg_dart_refs(need(path))
    s = score_webnlg_dart(refs, [g[0] for g in refs], meteor=meteor)
    assert set(s) == {"BLEU", "METEOR", "TER"}
    assert s["BLEU"] == pytest.approx(100.0)
    assert s["TER"] == 0.0
    assert s["METEOR"] == pytest.approx(1.0)


@needs_java
def test_webnlg_copy_the_triples_system(meteor: MeteorScorer) -> None:
    sources, refs = read_webnlg_dart_refs(need(WEBNLG_DEV))
    sources, refs = sources[:40], refs[:40]  # TER's shift search is slow in pure Python
    hyps = [s.replace("_", " ").replace(" : ", " ").replace(" | ", " and ") + "." for s in sources]
    s = score_webnlg_dart(refs, hyps, meteor=meteor)
    assert 5 < s["BLEU"] < 60  # 0-100 scale, as the paper's Table 14
    assert 0.1 < s["METEOR"] < 0.6
    assert 0.2 < s["TER"] < 1.0
    first = score_webnlg_dart(refs, [g[0] for g in refs], meteor=meteor)
    assert s["BLEU"] < first["BLEU"] and s["METEOR"] < first["METEOR"] and s["TER"] > first["TER"]


@needs_java
def test_meteor_process_is_closed() -> None:
    scorer = MeteorScorer()
    proc = scorer._meteor.meteor_p
    scorer.close()
    assert proc.poll() is not None
    scorer.close()  # idempotent
    with MeteorScorer() as scorer2:
        proc2 = scorer2._meteor.meteor_p
    assert proc2.poll() is not None
    with pytest.raises(RuntimeError, match="closed"):
        scorer2.score([["a"]], ["a"])
