"""NLG metrics of the LoRA paper's E2E (Table 13), WebNLG (Table 14) and DART (Table 14) results.

E2E: the E2E NLG Challenge's official ``measure_scores.py`` (github.com/tuetschek/e2e-metrics), which the
LoRA repository runs as ``measure_scores.py e2e_ref.txt e2e_pred.txt -p``: BLEU and NIST mteval-v13a
style (:mod:`adaptbench.tasks.metrics.mteval`), METEOR, ROUGE-L and CIDEr from the COCO caption code
(:mod:`adaptbench.tasks.metrics.coco`). BLEU, METEOR and ROUGE_L are fractions (0.684, not 68.4), NIST and CIDEr
unbounded, as the script's table output and the paper's Table 13 (BLEU 70.4 = 0.704) report them.

WebNLG / DART: the WebNLG challenge's ``GenerationEval/eval.py -nr 6 -m bleu,meteor,ter`` as the LoRA
repository runs it, after its ``gpt2_decode.py --tokenize --lower``. See :func:`score_webnlg_dart`.

``refs[i]`` are all references of the i-th unique input (MR / triple set), ``hyps[i]`` the one output for it.
The metric libraries (sacrebleu, pycocoevalcap, nltk) are imported when a score is computed; TER is pyter3's
algorithm in :mod:`adaptbench.tasks.metrics.ter`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from adaptbench.harness.api import ConfigError
from adaptbench.tasks.metrics.coco import MeteorScorer, coco_scores, meteor_processes
from adaptbench.tasks.metrics.mteval import corpus_bleu_e2e, corpus_nist, ref_streams
from adaptbench.tasks.metrics.nltk_tokens import TokenizerProcess, generation_eval_tokenize

WEBNLG_DART_MAX_REFS = 6
"""The LoRA pipeline writes 6 reference files (``--ref_num 6`` / ``-nr 6``): extra references are dropped,
missing ones are copies of the first."""

E2E_METRICS = ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr")
WEBNLG_DART_METRICS = ("BLEU", "METEOR", "TER")


def check_counts(refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> None:
    """One hypothesis per reference group, at least one group, no group without references."""
    if len(hyps) != len(refs):
        raise ConfigError(f"{len(hyps)} hypotheses for {len(refs)} unique sources (one per source)")
    if not refs:
        raise ConfigError("no references")
    empty = [i for i, group in enumerate(refs) if not group]
    if empty:
        raise ConfigError(f"{len(empty)} sources without references (the first is number {empty[0] + 1})")


def score_e2e(
    refs: Sequence[Sequence[str]], hyps: Sequence[str], *, meteor: MeteorScorer | None = None
) -> dict[str, float]:
    """The five E2E challenge metrics: ``{"BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"}``.

    Needs java (METEOR, PTB tokenizer). Pass an open :class:`MeteorScorer` to skip the jar's start-up.
    """
    check_counts(refs, hyps)
    groups = [[r.strip() for r in group] for group in refs]
    outs = [h.strip() for h in hyps]
    scores = {"BLEU": corpus_bleu_e2e(outs, groups), "NIST": corpus_nist(outs, groups)}
    scores.update(coco_scores(groups, outs, meteor=meteor))
    return {name: float(scores[name]) for name in E2E_METRICS}


def lora_decode_postprocess(text: str) -> str:
    """``gpt2_decode.py --tokenize --lower`` of the LoRA repository: lowercase, split at every non-word
    character (``re.split(r"(\\W)")``), single spaces. Idempotent, so already processed files are unchanged."""
    return " ".join(" ".join(re.split(r"(\W)", text.lower())).split())


def ter_min_over_refs(hyp: str, refs: Sequence[str]) -> float:
    """GenerationEval's segment TER: the lowest ``pyter.ter`` over the references, on whitespace tokens; an
    empty reference (or one pyter fails on) counts 1.0. pyter's TER can exceed 1 (a long output).

    The TER is :func:`adaptbench.tasks.metrics.ter.ter` (pyter3's algorithm, exact, many times faster). A
    repeated reference (LoRA pads every source to 6 with copies of the first) is scored once, and a reference
    whose length alone bounds its TER at or above the best so far is skipped: shifts keep the hypothesis'
    length, so at least ``|len(hyp) - len(ref)|`` edits remain, and the minimum is unchanged.
    """
    from adaptbench.tasks.metrics.ter import ter

    hyp_words = hyp.split()
    candidates = []
    best = float("inf")
    for ref in dict.fromkeys(refs):
        ref_words = ref.split()
        if (
            not ref_words
        ):  # empty or whitespace-only: pyter divides by zero, GenerationEval's bare except gives 1
            best = min(best, 1.0)
        elif ref_words == hyp_words:
            return 0.0  # what pyter returns, without its shift search
        else:
            candidates.append((abs(len(hyp_words) - len(ref_words)) / len(ref_words), ref_words))
    for bound, ref_words in sorted(candidates, key=lambda c: c[0]):
        if bound >= best:
            break
        best = min(best, ter(hyp_words, ref_words))
    return best


def lora_reference_columns(refs: Sequence[Sequence[str]]) -> list[list[str]]:
    """Exactly ``WEBNLG_DART_MAX_REFS`` references per source, as LoRA's ``gpt2_decode.py --ref_num 6`` writes
    the reference files: the first 6, padded with copies of the first (which changes none of the scores)."""
    width = WEBNLG_DART_MAX_REFS
    return [[group[k] if k < len(group) else group[0] for k in range(width)] for group in refs]


def score_webnlg_dart(
    refs: Sequence[Sequence[str]], hyps: Sequence[str], *, meteor: MeteorScorer | None = None
) -> dict[str, float]:
    """WebNLG/DART metrics as the LoRA paper's pipeline reports them: ``{"BLEU", "METEOR", "TER"}``.

    Scales follow the paper's Table 14: BLEU on 0-100 (e.g. 46.2), METEOR and TER as fractions (e.g. .39, .46).
    Each step is GenerationEval's (``eval.py -nr 6 -m bleu,meteor,ter``) on the files LoRA writes:

    * text: :func:`lora_decode_postprocess` (lowercase, split off every non-word character) of references and
      hypotheses; 6 references per source (:func:`lora_reference_columns`);
    * BLEU: ``multi-bleu-detok.perl`` on that text, i.e. corpus BLEU with the mteval-13a tokenizer,
      case-sensitive, closest reference length: sacrebleu's ``BLEU(tokenize="13a")``;
    * METEOR: METEOR 1.5 ``-l en -norm``, corpus level, on :func:`generation_eval_tokenize` d text;
    * TER: on the same tokens, per source the lowest ``pyter.ter`` against any reference
      (:func:`ter_min_over_refs`), averaged over sources -- not sacrebleu's corpus TER, which pools edits.
      pyter3's shift search, with a faster exact distance (:mod:`adaptbench.tasks.metrics.ter`).
    """
    check_counts(refs, hyps)
    groups = [[lora_decode_postprocess(r) for r in group] for group in lora_reference_columns(refs)]
    outs = [lora_decode_postprocess(h) for h in hyps]
    if meteor is not None:  # a long-lived scorer (the runner's): nltk is imported once, here
        return _score_processed(groups, outs, meteor, lambda: tokenized_once(groups, outs))
    # One corpus, scored once: a worker tokenises on another core while the METEOR jars start with the paraphrase
    # entries this text can use (the scorer checks that the tokenised text is covered and cuts again if not).
    with TokenizerProcess() as worker, ThreadPoolExecutor(max_workers=1) as pool:
        tokenized = pool.submit(tokenized_once, groups, outs, worker.tokenize)
        with MeteorScorer(
            meteor_processes(), corpus=[[*g, h] for g, h in zip(groups, outs, strict=True)]
        ) as own:
            return _score_processed(groups, outs, own, tokenized.result)


def _score_processed(
    groups: list[list[str]],
    outs: list[str],
    meteor: MeteorScorer,
    tokens: Callable[[], tuple[list[list[str]], list[str]]],
) -> dict[str, float]:
    """:func:`score_webnlg_dart` on LoRA-processed text; ``tokens`` gives its :func:`tokenized_once` form."""
    from sacrebleu.metrics import BLEU

    tok_groups, tok_outs = tokens()
    # METEOR's java processes align while this thread computes BLEU and TER
    with ThreadPoolExecutor(max_workers=1) as pool:
        meteor_value = pool.submit(meteor.score, tok_groups, tok_outs)
        bleu = BLEU(tokenize="13a", lowercase=False, smooth_method="none", force=True)
        # each distinct reference once: BLEU clips by the most frequent count over the references and takes the
        # closest length, neither of which a copy changes
        bleu_score = bleu.corpus_score(outs, ref_streams([list(dict.fromkeys(g)) for g in groups])).score
        pairs = zip(tok_outs, tok_groups, strict=True)
        ter = sum(ter_min_over_refs(h, group) for h, group in pairs) / len(outs)
        return {"BLEU": float(bleu_score), "METEOR": float(meteor_value.result()), "TER": float(ter)}


def tokenized_once(
    groups: Sequence[Sequence[str]],
    outs: Sequence[str],
    tokenize_all: Callable[[Sequence[str]], list[str]] | None = None,
) -> tuple[list[list[str]], list[str]]:
    """:func:`generation_eval_tokenize` d references and hypotheses, each distinct text tokenised once (LoRA's
    padding repeats the first reference up to 6 times), and each source's repeated references dropped.
    ``tokenize_all`` tokenises a list of texts elsewhere (a :class:`TokenizerProcess`); by default, here.

    Dropping repeats changes neither metric: TER is a minimum over the references, and METEOR 1.5 scores a
    hypothesis by its best reference, keeping the first of equal scores (``MeteorScorer.getMeteorStats``
    replaces the best only on a strictly higher score), so a later copy of a reference is never chosen.
    """
    distinct = list(dict.fromkeys([*(r for group in groups for r in group), *outs]))
    if tokenize_all is None:
        tokens = [generation_eval_tokenize(text) for text in distinct]
    else:
        tokens = tokenize_all(distinct)
    token_of = dict(zip(distinct, tokens, strict=True))
    tok_groups = [list(dict.fromkeys(token_of[r] for r in group)) for group in groups]
    return tok_groups, [token_of[h] for h in outs]
