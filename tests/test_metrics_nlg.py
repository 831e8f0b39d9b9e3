"""E2E / WebNLG / DART metrics: toy cases computed by hand, the official WebNLG/DART scorer's numbers, the readers
behind ``adaptbench score``, and the real dev sets in ../shared/data.

The java-backed metrics (METEOR, the COCO PTB tokenizer) share one METEOR process per module: starting
the jar and loading its paraphrase table costs ~10 s (more on a busy machine).
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.errors import ConfigError, DataError
from adaptbench.harness.api.registry import TASKS
from adaptbench.tasks._generation import read_hyps
from adaptbench.tasks.metrics.coco import MeteorScorer
from adaptbench.tasks.metrics.mteval import NIST_BETA, corpus_bleu_e2e, corpus_nist
from adaptbench.tasks.metrics.nlg import (
    generation_eval_tokenize,
    lora_decode_postprocess,
    lora_reference_columns,
    score_e2e,
    ter_min_over_refs,
    tokenized_once,
)
from conftest import run_cli

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
    # two jars: every METEOR of this module goes through the split path, and
    # test_meteor_pipelined_and_without_repeated_references_is_unchanged holds it to one jar's own compute_score
    scorer = MeteorScorer(processes=2)
    procs = [m.meteor_p for m in scorer._meteors]
    yield scorer
    scorer.close()
    assert all(p.poll() is not None for p in procs), "a METEOR java process outlived its scorer"


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
    # a shift counts as one edit: "c d a b" -> "a b c d" is one block move of 2 words
    assert ter_min_over_refs("c d a b", ["a b c d"]) == pytest.approx(1 / 4)
    # TER can exceed 1 (6 edits / 1 reference word); GenerationEval scores an empty reference 1, and takes the min
    assert ter_min_over_refs("a b c d e f", ["x"]) == pytest.approx(6.0)
    assert ter_min_over_refs("a b c d e f", ["x", ""]) == 1.0


def test_lora_decode_postprocess() -> None:
    assert (
        lora_decode_postprocess("Hello, World's end-point (2.5km).")
        == "hello , world ' s end - point ( 2 . 5km ) ."
    )
    once = lora_decode_postprocess("Café Sicilia: £20-25!")
    assert once == "café sicilia : £ 20 - 25 !"
    assert lora_decode_postprocess(once) == once


def test_generation_eval_tokenize_is_nltk_word_tokenize() -> None:
    # what nltk.word_tokenize still changes on LoRA-processed text: quotes and a few fused words
    text = lora_decode_postprocess('He said "I cannot go." Then he left.')
    assert text == 'he said " i cannot go . " then he left .'
    # treebank's opening-quote rule (a quote after a space) catches every quote once LoRA has split them off
    assert generation_eval_tokenize(text) == "he said `` i can not go . `` then he left ."


# ---------------------------------------------------------------------------------------------- readers


def reference_groups(task: str, path: Path) -> list[list[str]]:
    return TASKS.get(task).from_config({"name": task}).reference_groups(path)


def test_e2e_reference_layouts_group_the_same(tmp_path: Path) -> None:
    refs = reference_groups("e2e", need(E2E_DEV))
    assert len(refs) == 547 and sum(len(g) for g in refs) == 4672
    assert refs[0][0] == "There is a place in the city centre, Alimentum, that is not family-friendly."
    lora_refs = reference_groups("e2e", need(E2E_LORA_VALID))
    assert (
        lora_refs[0][0] == "There is a place in the city centre , Alimentum , that is not family - friendly ."
    )
    assert [len(g) for g in lora_refs] == [len(g) for g in refs]
    # e2e-metrics' multi-reference text (references of one MR on consecutive lines, blank line between MRs)
    txt = tmp_path / "devel-conc.txt"
    txt.write_text("\n\n".join("\n".join(g) for g in refs[:3]) + "\n", encoding="utf-8")
    assert reference_groups("e2e", txt) == refs[:3]


def test_e2e_csv_groups_by_first_appearance(tmp_path: Path) -> None:
    path = tmp_path / "refs.csv"
    path.write_text('mr,ref\n"a[1]","one"\n"b[2]","two ""q"""\n"a[1]","uno"\n', encoding="utf-8")
    assert reference_groups("e2e", path) == [["one", "uno"], ['two "q"']]
    lines = tmp_path / "refs.txt"
    lines.write_text("a : 1||one\nb : 2 || two\na : 1||uno\n", encoding="utf-8")
    assert reference_groups("e2e", lines) == [["one", "uno"], ["two"]]


@pytest.mark.parametrize("task", ["webnlg", "dart"])
def test_webnlg_dart_reference_layouts(task: str, tmp_path: Path) -> None:
    # the task's JSON, its own source || text lines, GenerationEval's reference0..N folder, blank-line text
    txt = tmp_path / "refs.txt"
    txt.write_text("r1a\nr1b\n\nr2a\n", encoding="utf-8")
    assert reference_groups(task, txt) == [["r1a", "r1b"], ["r2a"]]
    lines = tmp_path / "valid.txt"
    lines.write_text("s1 : p : o || r1a\ns2 : p : o || r2a\ns1 : p : o || r1b\n", encoding="utf-8")
    assert reference_groups(task, lines) == [["r1a", "r1b"], ["r2a"]]  # not one group of three
    refdir = tmp_path / "references"
    refdir.mkdir()
    (refdir / "reference0").write_text("r1a\nr2a\n", encoding="utf-8")
    (refdir / "reference1").write_text("r1b\n\n", encoding="utf-8")
    assert reference_groups(task, refdir) == [["r1a", "r1b"], ["r2a"]]


def test_webnlg_dart_json_grouping() -> None:
    refs = reference_groups("webnlg", need(WEBNLG_DEV))
    # 872 entries, 2258 "good" lexicalisations; two triple sets occur twice and merge, as in LoRA's decoding
    assert len(refs) == 870 and sum(len(g) for g in refs) == 2258
    assert refs[0] == ["The leader of Aarhus is Jacob Bundsgaard."]
    refs = reference_groups("dart", need(DART_DEV))
    assert len(refs) == 2721  # 2768 triple sets, 47 repeated ones merge
    assert refs[0] == ["A school from Mars Hill, North Carolina, joined in 1973."]


def test_read_hyps_keeps_empty_outputs_but_not_the_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "hyps.txt"
    path.write_text(" one \n\nthree\u2028still three\r\n", encoding="utf-8")
    assert read_hyps(path) == ["one", "", "three\u2028still three"]  # only "\n" separates outputs
    path.write_text("one\ntwo", encoding="utf-8")
    assert read_hyps(path) == ["one", "two"]


def test_bad_files_name_file_and_line(tmp_path: Path) -> None:
    e2e = TASKS.get("e2e")
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("x\n" * 12, encoding="utf-8")
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(hyps))}: 12 hypotheses \(one per line\) for 547 unique"
    ):
        e2e.score_files(need(E2E_DEV), hyps)
    with pytest.raises(DataError, match="12 hypotheses .* for 870 unique sources in"):
        TASKS.get("webnlg").score_files(need(WEBNLG_DEV), hyps)
    bad_csv = tmp_path / "refs.csv"
    bad_csv.write_text('mr,ref\n"a[1]","one"\n"a[1]","two","three"\n', encoding="utf-8")
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(bad_csv))}:3: expected the two columns mr,ref, got 3$"
    ):
        e2e.score_files(bad_csv, hyps)
    bad_lines = tmp_path / "refs.txt"
    bad_lines.write_text("a : 1 || one\nno separator here\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(bad_lines))}:2: no 'source \|\| text' separator$"):
        e2e.score_files(bad_lines, hyps)
    bad_json = tmp_path / "dev.json"
    bad_json.write_text('{"entries": [\n  {"1": }\n]}', encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(bad_json))}:2: not valid JSON"):
        TASKS.get("dart").score_files(bad_json, hyps)
    with pytest.raises(ConfigError, match="2 hypotheses for 1 unique sources"):
        score_e2e([["a"]], ["a", "b"])
    with pytest.raises(ConfigError, match="file not found"):
        e2e.score_files(tmp_path / "missing.csv", hyps)


def test_missing_java_fails_before_work(tmp_path: Path, shared_data: Path) -> None:
    """No java on PATH: validate (before any model is built) and ``adaptbench score`` say what needs it."""
    no_java = str(tmp_path)  # an empty folder as the whole PATH
    hint = "install a Java runtime (8+), e.g. apt-get install default-jre-headless"
    task = TASKS.get("e2e").from_config(
        {"name": "e2e", "data_dir": str(shared_data / "e2e"), "train_file": "devset.csv"}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", no_java)
        with pytest.raises(ConfigError) as err:
            task.validate()
    assert str(err.value) == (
        "java not found on PATH, needed by task=e2e's metrics METEOR 1.5 and the COCO PTB tokenizer; " + hint
    )
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("x\n", encoding="utf-8")
    result = run_cli("score", "webnlg", "--refs", str(WEBNLG_DEV), "--hyps", str(hyps), env={"PATH": no_java})
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(f"java not found on PATH, needed by task=webnlg's metric METEOR 1.5; {hint}")
    )


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


def e2e_dev_mrs() -> list[str]:
    """The official MRs of devset.csv in first-appearance order (the template system reads them)."""
    with need(E2E_DEV).open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return list(dict.fromkeys(mr for mr, _ in rows))


@pytest.fixture(scope="module")
def e2e_dev() -> tuple[list[str], list[list[str]]]:
    return e2e_dev_mrs(), reference_groups("e2e", need(E2E_DEV))


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
    refs = reference_groups("e2e", need(E2E_LORA_VALID))
    hyps = tmp_path / "pred.txt"
    hyps.write_text("\n".join(g[0] for g in refs) + "\n\n", encoding="utf-8")  # trailing blank line tolerated
    task = TASKS.get("e2e").from_config({"name": "e2e"})
    s = task.score(*task.scoring_inputs(E2E_LORA_VALID, hyps), meteor=meteor)
    assert s["BLEU"] == pytest.approx(1.0)
    assert s["METEOR"] == pytest.approx(1.0)


# ------------------------------------------------------------------- WebNLG and DART: the official scorer

OFFICIAL_SOURCES = 300
OFFICIAL_WEBNLG_DART = {
    ("webnlg", "first"): (100.0, 1.0, 0.0),
    ("webnlg", "degraded"): (51.49, 0.44504343299045457, 0.2574081149844724),
    ("webnlg", "triples"): (34.75, 0.3674489297004747, 0.4670147530044825),
    ("dart", "first"): (100.0, 1.0, 0.0),
    ("dart", "degraded"): (50.38, 0.4506260777735735, 0.23853489798053806),
}
"""(BLEU on 0-100, METEOR, TER) of the WebNLG challenge's own scorer on the first 300 sources of each dev set.

Obtained with github.com/WebNLG/GenerationEval at commit 8067849 (``eval.py``, identical to the copy the LoRA
repository runs), from a scratch copy outside this repository, as ``eval.run(refs_path=".../reference",
hyps_path=".../hypothesis", num_refs=6, metrics="bleu,meteor,ter")`` (the unrounded values the script's table
rounds to 2 decimals; BLEU comes rounded from multi-bleu-detok.perl). Environment: nltk 3.5, pyter3 0.3, perl,
the METEOR 1.5 jar and paraphrase table that pycocoevalcap ships, OpenJDK 17. Files as LoRA's
``format_converting_{webnlg,dart}.py`` + ``gpt2_decode.py --tokenize --lower --ref_num 6`` write them: sources
grouped by context text in first-appearance order, references lowercased and split at non-word characters,
padded to 6 with the first. Hypotheses, from each source's references (the raw texts, before that processing):
``first`` = the first reference, ``degraded`` = :func:`degraded` of it, ``triples`` = :func:`triples_text` of
the linearised source (DART ``triples``, not tested: its long outputs make pyter's shift search take a minute,
scored 21.02 / 0.3252 / 0.9211). Two forced deviations: the files end without a final newline (GenerationEval's
``read().split("\\n")`` would add one empty source, scored TER 1), and nltk's punkt model cannot be downloaded
here, so ``word_tokenize`` ran with ``preserve_line=True``; on LoRA-processed text the sentence split changes no
token (checked on every text scored, by re-tokenising it split after each ``. ? !``). nltk 3.5 and nltk 3.10
tokenise all 9,248 WebNLG and DART dev references identically.
"""


def degraded(ref: str) -> str:
    """Every fifth word dropped, then the first three moved to the end: deletions and a shift for TER."""
    kept = [w for i, w in enumerate(ref.split()) if i % 5 != 4]
    return " ".join(kept[3:] + kept[:3])


def triples_text(source: str) -> str:
    """A weak system that copies the linearised triples: ``A_b : p : c | ...`` -> ``A b p c and ... .``"""
    return source.replace("_", " ").replace(" : ", " ").replace(" | ", " and ") + " ."


def first_sources(task: str, path: Path, n: int) -> list[tuple[str, list[str]]]:
    pairs = TASKS.get(task).from_config({"name": task}).read_pairs(need(path), evaluation=True)
    groups: dict[str, list[str]] = {}
    for source, ref in pairs:
        groups.setdefault(source, []).append(ref)
    return list(groups.items())[:n]


@needs_java
@pytest.mark.parametrize(
    "task, system", list(OFFICIAL_WEBNLG_DART), ids=[f"{t}-{s}" for t, s in OFFICIAL_WEBNLG_DART]
)
def test_webnlg_dart_match_generation_eval(
    task: str, system: str, tmp_path: Path, meteor: MeteorScorer
) -> None:
    """``adaptbench score webnlg|dart`` (``score_files``) gives GenerationEval's numbers to 0.002 (BLEU: 0.2 on its
    0-100 scale), from WebNLG's ``source || text`` lines and DART's reference0..5 folder, with hypothesis files
    that end in a newline."""
    path = WEBNLG_DEV if task == "webnlg" else DART_DEV
    groups = first_sources(task, path, OFFICIAL_SOURCES)
    make = {
        "first": lambda s, refs: refs[0],
        "degraded": lambda s, refs: degraded(refs[0]),
        "triples": lambda s, refs: triples_text(s),
    }[system]
    hyps = tmp_path / "hypothesis.txt"
    hyps.write_text("".join(make(s, refs) + "\n" for s, refs in groups), encoding="utf-8")
    if task == "webnlg":
        refs_path = tmp_path / "valid.txt"
        refs_path.write_text("".join(f"{s} || {r}\n" for s, refs in groups for r in refs), encoding="utf-8")
    else:
        refs_path = tmp_path / "references"
        refs_path.mkdir()
        for k in range(max(len(refs) for _, refs in groups)):
            lines = (refs[k] if k < len(refs) else "" for _, refs in groups)
            (refs_path / f"reference{k}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    scorer = TASKS.get(task).from_config({"name": task})
    scores = scorer.score(
        *scorer.scoring_inputs(refs_path, hyps), meteor=meteor
    )  # score_files less the java check
    bleu, meteor_official, ter = OFFICIAL_WEBNLG_DART[task, system]
    assert scores["BLEU"] == pytest.approx(bleu, abs=0.2)
    assert scores["METEOR"] == pytest.approx(meteor_official, abs=0.002)
    assert scores["TER"] == pytest.approx(ter, abs=0.002)


@needs_java
def test_dart_scores_identical_to_pyter3s_loop_on_the_real_file(monkeypatch, meteor: MeteorScorer) -> None:
    """The first 300 DART dev sources, the ``degraded`` outputs (deletions and a shift: TER's shift search runs):
    BLEU, METEOR and TER exactly, float for float, those of the same scoring with GenerationEval's pyter3 loop in
    place of our TER (within 0.002 of GenerationEval's own run: test_webnlg_dart_match_generation_eval)."""
    from test_metrics_ter import pyter_min_over_refs

    from adaptbench.tasks.metrics import nlg

    groups = [refs for _, refs in first_sources("dart", DART_DEV, OFFICIAL_SOURCES)]
    hyps = [degraded(refs[0]) for refs in groups]
    ours = nlg.score_webnlg_dart(groups, hyps, meteor=meteor)
    monkeypatch.setattr(nlg, "ter_min_over_refs", pyter_min_over_refs)
    assert nlg.score_webnlg_dart(groups, hyps, meteor=meteor) == ours
    assert 0 < ours["TER"] < 1


@pytest.mark.parametrize("task, path", [("dart", DART_DEV), ("webnlg", WEBNLG_DEV)])
def test_tokenizer_worker_gives_this_processes_tokens(task: str, path: Path) -> None:
    """The worker (nltk imported with scipy/scikit-learn marked absent) tokenises every reference of the real dev
    set as ``generation_eval_tokenize`` does here."""
    from adaptbench.tasks.metrics.nltk_tokens import TokenizerProcess

    groups = TASKS.get(task).from_config({"name": task}).reference_groups(need(path))
    texts = list(dict.fromkeys(lora_decode_postprocess(r) for group in groups for r in group))
    with TokenizerProcess() as worker:
        assert worker.tokenize(texts) == [generation_eval_tokenize(t) for t in texts]


def test_a_failed_tokenizer_worker_is_a_warning_and_the_same_tokens() -> None:
    from adaptbench.tasks.metrics.nltk_tokens import TokenizerProcess

    with TokenizerProcess() as worker:
        worker._proc.kill()
        with pytest.warns(UserWarning, match="tokenizer worker failed"):
            assert worker.tokenize(['he said "cannot"']) == ["he said `` can not ''"]


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


@needs_java
def test_meteor_pipelined_and_without_repeated_references_is_unchanged(meteor: MeteorScorer) -> None:
    """The score path's three METEOR shortcuts change no digit: pipelined lines split across two jars (the
    fixture's) give pycocoevalcap's own ``compute_score`` on one jar, and dropping LoRA's padded copies of the
    first reference gives the padded score."""
    assert len(meteor._meteors) == 2
    groups = first_sources("dart", DART_DEV, OFFICIAL_SOURCES)
    columns = lora_reference_columns([refs for _, refs in groups])
    processed = [[lora_decode_postprocess(r) for r in group] for group in columns]
    outs = [lora_decode_postprocess(degraded(refs[0])) for _, refs in groups]
    deduped, tok_outs = tokenized_once(processed, outs)
    padded = [[generation_eval_tokenize(r) for r in group] for group in processed]
    assert sum(map(len, deduped)) < sum(map(len, padded)) == 6 * OFFICIAL_SOURCES
    gts = {i: group for i, group in enumerate(padded)}
    res = {i: [hyp] for i, hyp in enumerate(tok_outs)}
    original, _ = meteor._meteor.compute_score(gts, res)
    assert meteor.score(padded, tok_outs) == original
    assert meteor.score(deduped, tok_outs) == original
