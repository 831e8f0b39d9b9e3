"""WebNLG/DART TER, ours / pyter3's, in the same run on the same text: GenerationEval's loop (``pyter.ter`` against
each of the 6 reference columns, the minimum per source) against ``ter_min_over_refs`` (pyter3's algorithm with
bit-parallel distances, each distinct reference once, references whose length bounds them out skipped), the two
taking turns. Text: the first sources of the DART dev set (../shared/data), each output its first reference
with every fifth word dropped and the first three moved to the end (deletions and a shift), processed as
``adaptbench score dart`` processes it (LoRA's decoding, nltk tokens). Every per-source TER must be equal, float
for float. Ratio = our seconds / pyter3's; target <= 0.1 (10x).

    python benchmarks/score_speed.py [--quick] [--rounds 2] [--sources 300]
"""

from __future__ import annotations

from _common import SHARED_DATA, arguments, comparison, emit_summary, note, time_rounds

BENCHMARK = "score_speed"
TARGET = 0.1
DART_DEV = SHARED_DATA / "dart" / "dart-v1.1.1-full-dev.json"


def degraded(ref: str) -> str:
    kept = [w for i, w in enumerate(ref.split()) if i % 5 != 4]
    return " ".join(kept[3:] + kept[:3])


def scorer_text(count: int) -> tuple[list[str], list[list[str]]]:
    """Tokenised outputs and their 6 reference columns, as ``score_webnlg_dart`` hands them to TER."""
    import adaptbench.tasks  # noqa: F401  (registers the tasks)
    from adaptbench.harness.api.registry import TASKS
    from adaptbench.tasks.metrics.nlg import (
        generation_eval_tokenize,
        lora_decode_postprocess,
        lora_reference_columns,
    )

    refs = TASKS.get("dart").from_config({"name": "dart"}).reference_groups(DART_DEV)[:count]
    groups = [
        [generation_eval_tokenize(lora_decode_postprocess(r)) for r in g]
        for g in lora_reference_columns(refs)
    ]
    hyps = [generation_eval_tokenize(lora_decode_postprocess(degraded(g[0]))) for g in refs]
    return hyps, groups


def pyter_min_over_refs(hyp: str, refs: list[str]) -> float:
    """GenerationEval's segment TER: ``pyter.ter`` against every reference; an empty one (or a failure) is 1."""
    import pyter

    best = float("inf")
    for ref in refs:
        try:
            best = min(best, pyter.ter(hyp.split(), ref.split()) if ref else 1.0)
        except ZeroDivisionError:
            best = min(best, 1.0)
    return best


def main() -> None:
    args = arguments(
        __doc__,
        rounds=2,
        quick_rounds=1,
        extra=lambda p: p.add_argument(
            "--sources", type=int, default=None, help="DART sources (300; quick 60)"
        ),
    )
    if not DART_DEV.is_file():
        emit_summary(BENCHMARK, skipped=f"no DART data at {DART_DEV}")
        return
    from adaptbench.tasks.metrics.nlg import ter_min_over_refs

    count = args.sources or (60 if args.quick else 300)
    hyps, groups = scorer_text(count)
    ours = [ter_min_over_refs(h, g) for h, g in zip(hyps, groups, strict=True)]
    theirs = [pyter_min_over_refs(h, g) for h, g in zip(hyps, groups, strict=True)]
    different = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    if different:
        raise SystemExit(
            f"TER differs from pyter3's on {len(different)} sources, the first is number {different[0]}"
        )
    note(f"{BENCHMARK}: {count} sources, every TER equal to pyter3's (mean {sum(ours) / count:.6f})")
    times = time_rounds(
        {
            "ours": lambda: [ter_min_over_refs(h, g) for h, g in zip(hyps, groups, strict=True)],
            "pyter3": lambda: [pyter_min_over_refs(h, g) for h, g in zip(hyps, groups, strict=True)],
        },
        rounds=args.rounds,
        warmup=0,
    )
    line = comparison(
        BENCHMARK,
        f"TER of {count} DART dev sources, ter_min_over_refs / GenerationEval's pyter3 loop",
        times["ours"],
        times["pyter3"],
        target=TARGET,
        sources=count,
        mean_ter=round(sum(ours) / count, 6),
        identical=True,
    )
    emit_summary(
        BENCHMARK,
        ratio=line["ratio"],
        target=TARGET,
        met=line["met"],
        speedup=round(1 / line["ratio"], 1),
        what="seconds of our WebNLG/DART TER / pyter3's (GenerationEval's loop) on the same DART text, equal values",
    )


if __name__ == "__main__":
    main()
