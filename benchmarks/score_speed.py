"""WebNLG/DART TER, ours / pyter3's, in the same run on the same text: GenerationEval's loop (``pyter.ter`` against
each of the 6 reference columns, the minimum per source) against ``ter_min_over_refs`` (pyter3's algorithm with
bit-parallel distances, each distinct reference once, references whose length bounds them out skipped), the two
taking turns. Text: the first sources of the DART dev set (../shared/data), each output its first reference
with every fifth word dropped and the first three moved to the end (deletions and a shift), processed as
``adaptbench score dart`` processes it (LoRA's decoding, nltk tokens). Every per-source TER must be equal, float
for float. Ratio = our seconds / pyter3's; target <= 0.1 (10x).

``--end-to-end``: the whole ``adaptbench score dart`` command on every DART dev source (the same degraded
outputs), each run a fresh process, against the same command as it was before (GenerationEval's pyter3 loop
patched in for ``ter_min_over_refs``, one METEOR jar with the whole paraphrase table, tokenised in-process:
:func:`before_score_webnlg_dart`), taking turns; both must print the same BLEU, METEOR and TER. Reports the ratio of wall
times (target <= 0.1) and of CPU times (user + system, the METEOR jar's included).

    python benchmarks/score_speed.py [--quick] [--rounds 2] [--sources 300] [--end-to-end]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def before_score_webnlg_dart(refs: list[list[str]], hyps: list[str], *, meteor=None) -> dict[str, float]:
    """``score_webnlg_dart`` as it was (2026-12-04, e096a00): one METEOR jar with the whole paraphrase table,
    started first so that it loads while the text is processed and tokenised in this process; then METEOR beside
    BLEU and TER. That is today's path for a scorer passed in, which this uses."""
    from adaptbench.tasks.metrics import nlg
    from adaptbench.tasks.metrics.coco import MeteorScorer

    if meteor is None:
        with MeteorScorer(1) as own:
            return nlg.score_webnlg_dart(refs, hyps, meteor=own)
    return nlg.score_webnlg_dart(refs, hyps, meteor=meteor)


# the score command in a fresh interpreter; PYTER3 first swaps the scoring as it was in, with GenerationEval's
# pyter3 loop for TER
SCORE_COMMAND = "import sys; from adaptbench.harness.cli import main; sys.exit(main(sys.argv[1:]))"
PYTER3 = (
    f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
    "from score_speed import before_score_webnlg_dart, pyter_min_over_refs; "
    "from adaptbench.tasks.metrics import nlg; import adaptbench.tasks.nlg as task_module; "
    "nlg.ter_min_over_refs = pyter_min_over_refs; task_module.score_webnlg_dart = before_score_webnlg_dart; "
)


def timed_command(code: str, hyps: Path) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the process and every process it waited for, the printed scores)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    argv = ["score", "dart", "--refs", str(DART_DEV), "--hyps", str(hyps)]
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"adaptbench score dart failed: {result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(result.stdout)


def end_to_end(rounds: int) -> None:
    """``adaptbench score dart`` on the whole dev set, ours and with pyter3's loop, alternately."""
    import adaptbench.tasks  # noqa: F401  (registers the tasks)
    from adaptbench.harness.api.registry import TASKS
    from adaptbench.tasks.metrics.coco import meteor_paraphrase_table
    from adaptbench.tasks.metrics.meteor_paraphrase import ParaphraseIndex, index_exists

    refs = TASKS.get("dart").from_config({"name": "dart"}).reference_groups(DART_DEV)
    # the paraphrase table's index is built once per installation (the first score after install pays for it)
    index_build_s = None
    if not index_exists(meteor_paraphrase_table()):
        start = time.perf_counter()
        ParaphraseIndex(meteor_paraphrase_table())
        index_build_s = round(time.perf_counter() - start, 1)
        note(f"{BENCHMARK}: METEOR paraphrase index built in {index_build_s} s (once per installation)")
    walls: dict[str, list[float]] = {"ours": [], "pyter3": []}
    cpus: dict[str, list[float]] = {"ours": [], "pyter3": []}
    printed: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="score-speed-") as tmp:
        hyps = Path(tmp) / "hyps.txt"
        hyps.write_text("".join(degraded(group[0]) + "\n" for group in refs), encoding="utf-8")
        for turn in range(rounds):
            for name, code in (("ours", SCORE_COMMAND), ("pyter3", PYTER3 + SCORE_COMMAND)):
                wall, cpu, printed[name] = timed_command(code, hyps)
                walls[name].append(wall)
                cpus[name].append(cpu)
                note(
                    f"{BENCHMARK}: round {turn + 1} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU {printed[name]}"
                )
            if printed["ours"] != printed["pyter3"]:
                raise SystemExit(f"scores differ: ours {printed['ours']}, pyter3's {printed['pyter3']}")
    setting = {
        "sources": len(refs),
        "scores": printed["ours"],
        "identical": True,
        "index_build_s": index_build_s,
    }
    wall = comparison(
        BENCHMARK,
        "score dart wall time, ours / pyter3's loop",
        walls["ours"],
        walls["pyter3"],
        TARGET,
        **setting,
    )
    cpu = comparison(BENCHMARK, "score dart CPU time, ours / pyter3's loop", cpus["ours"], cpus["pyter3"])
    emit_summary(
        BENCHMARK,
        mode="end_to_end",
        ratio=wall["ratio"],
        target=TARGET,
        met=wall["met"],
        cpu_ratio=cpu["ratio"],
        speedup=round(1 / wall["ratio"], 1),
        what="wall seconds of `adaptbench score dart` on the DART dev set / the same with pyter3's loop, equal scores",
    )


def main() -> None:
    def extra(parser) -> None:
        parser.add_argument("--sources", type=int, default=None, help="DART sources (300; quick 60)")
        parser.add_argument("--end-to-end", action="store_true", help="time the whole score command instead")

    args = arguments(__doc__, rounds=2, quick_rounds=1, extra=extra)
    if not DART_DEV.is_file():
        emit_summary(BENCHMARK, skipped=f"no DART data at {DART_DEV}")
        return
    if args.end_to_end:
        end_to_end(args.rounds)
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
