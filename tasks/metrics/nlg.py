"""NLG metrics of the LoRA paper's E2E (Table 13), WebNLG (Table 14) and DART (Table 14) results.

E2E: the E2E NLG Challenge's official ``measure_scores.py`` (github.com/tuetschek/e2e-metrics), which the
LoRA repository runs as ``measure_scores.py e2e_ref.txt e2e_pred.txt -p``: BLEU and NIST mteval-v13a
style (:mod:`adaptbench.tasks.metrics.mteval`), METEOR, ROUGE-L and CIDEr from the COCO caption code
(:mod:`adaptbench.tasks.metrics.coco`). BLEU, METEOR and ROUGE_L are fractions (0.684, not 68.4), NIST and CIDEr
unbounded, as the script's table output and the paper's Table 13 (BLEU 70.4 = 0.704) report them.

WebNLG / DART: the WebNLG 2020 challenge ``GenerationEval/eval.py -nr 6 -m bleu,meteor,ter`` as the LoRA
repository runs it, after its ``gpt2_decode.py --tokenize --lower``. See :func:`score_webnlg_dart`.

References are grouped per input (MR / triple set), one hypothesis per unique input, in the order the
inputs first appear -- the grouping of the LoRA decoding script (and, for the official E2E CSV, whose
equal MRs are consecutive, of ``measure_scores.py``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from sacrebleu.metrics import BLEU
from sacrebleu.metrics.lib_ter import translation_edit_rate

from adaptbench.harness.errors import ConfigError, bad_choice
from adaptbench.tasks.metrics.coco import MeteorScorer, coco_scores, meteor_score
from adaptbench.tasks.metrics.mteval import corpus_bleu_e2e, corpus_nist, ref_streams

PathLike = str | os.PathLike[str]

WEBNLG_DART_MAX_REFS = 6
"""The LoRA pipeline writes 6 reference files (``--ref_num 6`` / ``-nr 6``): extra references are dropped."""

E2E_METRICS = ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr")
WEBNLG_DART_METRICS = ("BLEU", "METEOR", "TER")
NLG_TASKS = ("e2e", "webnlg", "dart")


def _check_counts(refs: Sequence[Sequence[str]], hyps: Sequence[str], what: str, where: str = "") -> None:
    if len(hyps) != len(refs):
        raise ConfigError(f"{len(hyps)} hypotheses for {len(refs)} unique {what}{where}")
    if not refs:
        raise ConfigError(f"no references{where}")
    empty = [i for i, group in enumerate(refs) if not group]
    if empty:
        raise ConfigError(f"{len(empty)} {what} without references{where} (first at index {empty[0]})")


def score_e2e(
    refs_by_mr: Sequence[Sequence[str]], hyps: Sequence[str], *, meteor: MeteorScorer | None = None
) -> dict[str, float]:
    """The five E2E challenge metrics: ``{"BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"}``.

    ``refs_by_mr[i]`` are all references of the i-th unique MR, ``hyps[i]`` the one output for it. Needs
    java (METEOR, PTB tokenizer). Pass an open :class:`MeteorScorer` to skip the jar's start-up (~5-10 s).
    """
    _check_counts(refs_by_mr, hyps, "MRs")
    refs = [[r.strip() for r in group] for group in refs_by_mr]
    outs = [h.strip() for h in hyps]
    scores = {"BLEU": corpus_bleu_e2e(outs, refs), "NIST": corpus_nist(outs, refs)}
    scores.update(coco_scores(refs, outs, meteor=meteor))
    return {name: float(scores[name]) for name in E2E_METRICS}


def lora_decode_postprocess(text: str) -> str:
    """``gpt2_decode.py --tokenize --lower`` of the LoRA repository: lowercase, split at every non-word
    character (``re.split(r"(\\W)")``), single spaces. Idempotent, so already processed files are unchanged."""
    return " ".join(" ".join(re.split(r"(\W)", text.lower())).split())


def ter_min_over_refs(hyp: str, refs: Sequence[str]) -> float:
    """Segment TER as GenerationEval's ``ter_score``: the lowest edits / reference length over the references
    (1.0 against an empty reference), on whitespace tokens. The edit distance with shifts is sacrebleu's
    tercom implementation (GenerationEval uses pyter, whose shift search is less constrained: scores can
    differ slightly)."""
    hyp_words = hyp.split()
    ref_words = [ref.split() for ref in refs]
    if not ref_words:
        return 1.0
    if any(words and words == hyp_words for words in ref_words):
        return 0.0  # exact match: the shift search (tens of ms per long pair) cannot do better than 0
    best = 1.0 if not all(ref_words) else float("inf")
    for words in ref_words:
        if words:
            edits, ref_len = translation_edit_rate(hyp_words, words)
            best = min(best, edits / ref_len)
    return best


def score_webnlg_dart(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[str],
    *,
    meteor: MeteorScorer | None = None,
    postprocess: bool = True,
) -> dict[str, float]:
    """WebNLG/DART metrics as the LoRA paper's pipeline reports them: ``{"BLEU", "METEOR", "TER"}``.

    Scales follow the paper's Table 14: BLEU on 0-100 (e.g. 46.2), METEOR and TER as fractions (e.g. .39, .46).

    * Text: with ``postprocess`` (default) references and hypotheses get the LoRA decoding step
      :func:`lora_decode_postprocess` (lowercase, split off punctuation); only the first 6 references of
      each source are used.
    * BLEU: sacrebleu corpus BLEU, 13a tokenizer, case-sensitive (on lowercased text) -- what
      GenerationEval's ``multi-bleu-detok.perl`` computes; fewer than 6 references are simply fewer
      (LoRA pads with copies of the first reference, which changes nothing in BLEU).
    * METEOR: METEOR 1.5 ``-l en -norm`` with all (<= 6) references, corpus level.
    * TER: GenerationEval's definition -- per source the lowest TER against any one reference, averaged
      over sources (not sacrebleu's corpus TER, which pools edits and average reference lengths).
      TER's shift search is pure Python: expect up to ~0.1 s per source for long, inexact outputs.
    """
    _check_counts(refs, hyps, "sources")
    groups = [list(group[:WEBNLG_DART_MAX_REFS]) for group in refs]
    outs = list(hyps)
    if postprocess:
        groups = [[lora_decode_postprocess(r) for r in group] for group in groups]
        outs = [lora_decode_postprocess(h) for h in outs]
    else:
        groups = [[" ".join(r.split()) for r in group] for group in groups]
        outs = [" ".join(h.split()) for h in outs]
    bleu = BLEU(tokenize="13a", lowercase=False, smooth_method="none", force=True)
    bleu_score = bleu.corpus_score(outs, ref_streams(groups)).score
    ter = sum(ter_min_over_refs(h, group) for h, group in zip(outs, groups, strict=True)) / len(outs)
    return {"BLEU": float(bleu_score), "METEOR": float(meteor_score(groups, outs, meteor)), "TER": float(ter)}


# ---------------------------------------------------------------------------------------------- readers


def _read_text(path: PathLike) -> str:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"file not found: {path}")
    return p.read_text(encoding="utf-8-sig")


def _lines(text: str) -> list[str]:
    """Split at "\n" only (as iterating over a file does; ``str.splitlines`` would also split at U+2028,
    form feeds etc. inside a generated text), without the empty string after a final newline."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _group_first_appearance(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[list[str]]]:
    groups: dict[str, list[str]] = {}
    for key, ref in pairs:
        groups.setdefault(key, []).append(ref)
    return list(groups), list(groups.values())


def _blank_line_groups(text: str) -> list[list[str]]:
    """e2e-metrics' multi-reference text: one reference per line, sources separated by empty lines."""
    groups: list[list[str]] = [[]]
    for line in _lines(text):
        line = line.strip()
        if line:
            groups[-1].append(line)
        elif groups[-1]:
            groups.append([])
    if not groups[-1]:
        groups.pop()
    return groups


def read_e2e_refs(path: PathLike) -> tuple[list[str], list[list[str]]]:
    """E2E references grouped by MR in first-appearance order: ``(mrs, refs_by_mr)``.

    Accepts the official CSV (``*.csv``, columns ``mr,ref``, one row per reference), the LoRA repository's
    ``MR || reference`` lines, and e2e-metrics' plain multi-reference text (references of one MR on
    consecutive lines, MRs separated by an empty line), which has no MRs: ``mrs`` is then all ``""``.
    """
    text = _read_text(path)
    if Path(path).suffix.lower() == ".csv":
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
        if rows and [c.strip().lower() for c in rows[0]] == ["mr", "ref"]:
            rows = rows[1:]
        bad = [n for n, row in enumerate(rows, start=1) if len(row) != 2]
        if bad:
            raise ConfigError(
                f"{path}: expected the 2 columns mr,ref; {len(bad)} data rows differ, the first is row {bad[0]}"
            )
        return _group_first_appearance([(mr.strip(), ref.strip()) for mr, ref in rows])
    lines = [line for line in _lines(text) if line.strip()]
    if lines and "||" in lines[0]:
        pairs = []
        for n, line in enumerate(lines, start=1):
            mr, sep, ref = line.partition("||")
            if not sep:
                raise ConfigError(f"{path}: line {n} has no 'MR || reference' separator")
            pairs.append((mr.strip(), ref.strip()))
        return _group_first_appearance(pairs)
    groups = _blank_line_groups(text)
    return [""] * len(groups), groups


def _webnlg_source(triples: Sequence[dict]) -> str:
    return " | ".join(f"{t['subject']} : {t['property']} : {t['object']}" for t in triples)


def _dart_source(tripleset: Sequence[Sequence[str]]) -> str:
    return " | ".join(f"{s} : {r.lower()} : {o}" for s, r, o in tripleset)


def read_webnlg_dart_refs(path: PathLike) -> tuple[list[str], list[list[str]]]:
    """WebNLG/DART references grouped by source in first-appearance order: ``(sources, refs_by_source)``.

    Accepted layouts:

    * WebNLG 2017 JSON as in the LoRA repository (``{"entries": [{"1": {...}}, ...]}``): lexicalisations
      with ``comment == "good"``, source = the linearised ``modifiedtripleset``
      (``subj : prop : obj | ...``), exactly as ``format_converting_webnlg.py`` builds the context;
    * DART JSON (a list of ``{"tripleset", "annotations"}``): all annotation texts, relation lowercased as
      in ``format_converting_dart.py``;
    * a directory of GenerationEval reference files ``reference0``, ``reference1``, ... (line i of each
      file is a reference of source i; duplicates from LoRA's padding are harmless);
    * plain text: references of one source on consecutive lines, sources separated by an empty line.

    Equal sources are merged, as LoRA's decoding script keys references by the source text. The directory
    and plain-text layouts carry no sources: ``sources`` is then all ``""``.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("reference*"), key=lambda f: (len(f.name), f.name))
        if not files:
            raise ConfigError(f"{path}: directory has no reference0, reference1, ... files")
        columns = [_lines(f.read_text(encoding="utf-8-sig")) for f in files]
        n = len(columns[0])
        if any(len(c) != n for c in columns):
            raise ConfigError(f"{path}: reference files differ in length: {[len(c) for c in columns]}")
        groups = [[c[i].strip() for c in columns if c[i].strip()] for i in range(n)]
        return [""] * n, groups
    text = _read_text(path)
    if p.suffix.lower() != ".json":
        groups = _blank_line_groups(text)
        return [""] * len(groups), groups
    data = json.loads(text)
    pairs: list[tuple[str, str]] = []
    if isinstance(data, dict) and "entries" in data:
        for i, entry in enumerate(data["entries"], start=1):
            item = entry[str(i)]
            source = _webnlg_source(item["modifiedtripleset"])
            pairs.extend(
                (source, lex["lex"]) for lex in item["lexicalisations"] if lex.get("comment") == "good"
            )
    elif isinstance(data, list) and all(isinstance(x, dict) and "tripleset" in x for x in data):
        for item in data:
            source = _dart_source(item["tripleset"])
            pairs.extend((source, ann["text"]) for ann in item["annotations"])
    else:
        raise ConfigError(f"{path}: not the WebNLG (LoRA layout, 'entries') or DART JSON layout")
    return _group_first_appearance(pairs)


def read_hyps(path: PathLike) -> list[str]:
    """System outputs, one per line (one per unique MR / source), whitespace stripped; empty lines are empty
    outputs."""
    return [line.strip() for line in _lines(_read_text(path))]


def score_files(
    task: str, refs_path: PathLike, hyps_path: PathLike, *, meteor: MeteorScorer | None = None
) -> dict[str, float]:
    """Score a hypothesis file against a reference file for ``task`` in ``e2e``, ``webnlg``, ``dart``.

    Raises ConfigError when the number of hypotheses differs from the number of unique MRs / sources.
    """
    if task not in NLG_TASKS:
        raise bad_choice("task", task, NLG_TASKS)
    if task == "e2e":
        _, refs = read_e2e_refs(refs_path)
        what = "MRs"
    else:
        _, refs = read_webnlg_dart_refs(refs_path)
        what = "sources"
    hyps = read_hyps(hyps_path)
    while len(hyps) > len(refs) and hyps and not hyps[-1]:
        hyps.pop()  # blank lines at the end of the file, not empty outputs
    _check_counts(
        refs, hyps, what, where=f" in {refs_path} (hypotheses: {hyps_path}, one line per {what[:-1]})"
    )
    if task == "e2e":
        return score_e2e(refs, hyps, meteor=meteor)
    return score_webnlg_dart(refs, hyps, meteor=meteor)
