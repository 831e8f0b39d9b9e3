"""Run every benchmark (each in its own process, one after another), print their JSON lines, and write
benchmarks/results/latest.json: per benchmark its summary (``ratio`` or ``seconds``, target, met), every
comparison line, how long it took and when; plus the date and the machine. ``--quick`` passes on to each script
(a smoke run, written to latest-quick.json); ``--only a,b`` runs some and updates their entries in the report
(each entry names its own date and machine, with the load average when it started).

    python benchmarks/run_all.py [--quick] [--only train_step,startup]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "train_step",
    "vs_peft",
    "peft_tuners",
    "merged_latency",
    "adapter_latency",
    "train_memory",
    "train_step_gpt2",
    "startup",
    "params_speed",
    "eval_throughput",
    "score_speed",
)
TIMEOUT_S = 1200


def run_one(name: str, quick: bool) -> dict:
    """Run ``benchmarks/<name>.py``; its JSON lines, echoed as they come."""
    command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
    start = time.perf_counter()
    lines: list[dict] = []
    with subprocess.Popen(
        command, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as p:
        try:
            stdout, stderr = p.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
            stderr += f"\ntimed out after {TIMEOUT_S} s"
    for text in stdout.splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if line.get("benchmark") == name:
                print(text, flush=True)
                lines.append(line)
    summary = next((line for line in lines if line.get("summary")), None)
    result = {
        "seconds_taken": round(time.perf_counter() - start, 1),
        "lines": [x for x in lines if x is not summary],
    }
    if p.returncode != 0 or summary is None:
        result["error"] = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {p.returncode}"
        print(json.dumps({"benchmark": name, "error": result["error"]}), flush=True)
    else:
        result |= {k: v for k, v in summary.items() if k not in ("benchmark", "summary")}
    return result


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def machine() -> dict:
    import torch

    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").is_file()
        else ""
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average_at_start": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated benchmark names")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from: {', '.join(BENCHMARKS)}")
    out = HERE / "results" / ("latest-quick.json" if args.quick else "latest.json")
    report = {"date": now(), "quick": args.quick, "machine": machine(), "benchmarks": {}}
    if args.only and out.is_file():
        # a partial run updates only its benchmarks: the report's own date and machine stay those of the last full
        # run, and each entry says when and on what (load included) it was measured
        report = json.loads(out.read_text(encoding="utf-8"))
    for name in chosen:
        at_start = machine()
        report["benchmarks"][name] = run_one(name, args.quick) | {"date": now(), "machine": at_start}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    failed = [n for n, r in report["benchmarks"].items() if "error" in r]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
