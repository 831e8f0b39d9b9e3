"""``adaptbench params`` for DeBERTa-v2-xxlarge (1.5B parameters, built on the meta device) x all 12 methods:
the wall time of one swept command (``adaptbench params model=... method=a,b,...``: one process, one JSON line
per method) and, beside it, of the 12 single commands (fresh processes), with the largest peak RSS. Targets:
<= 30 s for the 12 counts, peak RSS <= 1.5 GiB.

    python benchmarks/params_speed.py [--quick] [--rounds 1]
"""

from __future__ import annotations

import os
import subprocess
import time

from _common import REPO, arguments, emit, emit_summary, note
from startup import cli

BENCHMARK = "params_speed"
TARGET_S, TARGET_GIB = 30.0, 1.5


def methods() -> list[str]:
    from adaptbench.harness.config.tree import group_options

    return list(group_options("method"))


def run_measured(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024


def main() -> None:
    args = arguments(__doc__, rounds=1, quick_rounds=1)
    model = "tiny-deberta-v2" if args.quick else "deberta-v2-xxlarge"
    chosen = ["lora", "bitfit"] if args.quick else methods()
    totals, peaks, in_process = [], [], []
    for _ in range(args.rounds):
        seconds = []
        for method in chosen:
            took, peak = run_measured([*cli(), "params", f"model={model}", f"method={method}"])
            seconds.append(took)
            peaks.append(peak)
            note(f"{BENCHMARK}: {method}: {took:.2f} s, {peak / 2**30:.2f} GiB")
        totals.append(sum(seconds))
        took, peak = run_measured([*cli(), "params", f"model={model}", f"method={','.join(chosen)}"])
        in_process.append(took)
        peaks.append(peak)
        note(f"{BENCHMARK}: one swept command: {took:.2f} s, {peak / 2**30:.2f} GiB")
    total, one_command = min(totals), min(in_process)
    peak_gib = max(peaks) / 2**30
    met = one_command <= TARGET_S and peak_gib <= TARGET_GIB
    emit(
        {
            "benchmark": BENCHMARK,
            "comparison": f"adaptbench params over {len(chosen)} methods: one swept command",
            "seconds": round(one_command, 3),
            "peak_rss_gib": round(peak_gib, 3),
            "single_commands_s": round(total, 3),
            "per_single_command_s": round(total / len(chosen), 3),
            "model": model,
            "methods": chosen,
            "target_s": TARGET_S,
            "target_gib": TARGET_GIB,
            "met": met,
        }
    )
    emit_summary(
        BENCHMARK,
        seconds=round(one_command, 3),
        target=TARGET_S,
        met=met,
        what=f"wall time of adaptbench params over {len(chosen)} methods, one swept command (peak RSS "
        "<= 1.5 GiB)",
        peak_rss_gib=round(peak_gib, 3),
        single_commands_s=round(total, 3),
    )


if __name__ == "__main__":
    main()
