"""The `score dart` speed quoted in README.md and benchmarks/README.md is the benchmark's record, not typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "benchmarks" / "results" / "score_dart_end_to_end.jsonl"


def record_lines() -> tuple[dict, dict, dict]:
    lines = [json.loads(line) for line in RECORD.read_text(encoding="utf-8").splitlines() if line.strip()]
    wall = next(line for line in lines if line.get("comparison", "").startswith("score dart wall time"))
    cpu = next(line for line in lines if line.get("comparison", "").startswith("score dart CPU time"))
    summary = next(line for line in lines if line.get("summary"))
    return wall, cpu, summary


def test_the_record_meets_the_target_with_identical_scores() -> None:
    wall, _, summary = record_lines()
    assert wall["identical"] and wall["sources"] == 2721
    assert summary["met"] and summary["ratio"] <= summary["target"] == 0.1
    assert summary["speedup"] == round(1 / summary["ratio"], 1) >= 10


def test_readmes_quote_the_record() -> None:
    wall, cpu, summary = record_lines()
    quoted = f"{summary['speedup']}x"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    bench = (REPO / "benchmarks" / "README.md").read_text(encoding="utf-8")
    assert f"{wall['numerator_s']:.1f} s" in readme and quoted in readme
    for number in (
        f"{wall['numerator_s']:.1f} s",
        f"{wall['denominator_s']:.1f} s",
        quoted,
        f"{cpu['ratio']}",
    ):
        assert number in bench, number
