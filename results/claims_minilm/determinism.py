"""The measured rerun spread: every claims run that was trained twice with the same config hash (seed 1 of a
search at the rate it picked, trained again among seeds 1-3 by run.sh; same frozen install, same thread count),
side by side. Prints a markdown table (one row a pair) and the largest difference; ``--check BOUND`` exits 1
when a pair differs by more than BOUND points (the README states the bound it was measured at).

    python results/claims_minilm/determinism.py results/claims_minilm [--check 0.0]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from adaptbench.harness.records.schema import Record
from adaptbench.harness.records.store import iter_records


def claim_roots(root: Path) -> Iterator[Path]:
    """``root`` and its claim folders: every folder under it with both ``records/`` and ``search/records``."""
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        if (folder / "records").is_dir() and (folder / "search" / "records").is_dir():
            yield folder


def score(record: Record) -> float:
    return 100 * float(record["best"]["metrics"][record["metric_for_best"]])


def pairs(root: Path) -> list[tuple[Record, Record]]:
    """(search run, its rerun) for every config hash present in both folders of a claim, complete both times."""
    found = []
    for folder in claim_roots(root):
        searched = {r["config_hash"]: r for r in iter_records(folder / "search") if r["status"] == "complete"}
        for rerun in iter_records(folder):
            first = searched.get(rerun["config_hash"])
            if first is not None and rerun["status"] == "complete":
                found.append((first, rerun))
    return found


def table(found: list[tuple[Record, Record]]) -> str:
    lines = [
        "| task | method | settings | metric | first | rerun | difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for first, rerun in sorted(found, key=lambda p: (p[0]["task"], p[0]["method"], p[0]["config_hash"])):
        settings = {k: v for k, v in (first["config"].get("method") or {}).items() if k not in ("name", "lr")}
        a, b = score(first), score(rerun)
        lines.append(
            f"| {first['task']} | {first['method']} | {settings} | {first['metric_for_best']} | {a:.2f} | {b:.2f} "
            f"| {b - a:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--check", type=float, help="fail when a pair differs by more than this many points")
    args = parser.parse_args(argv)
    found = pairs(args.root)
    worst = max((abs(score(b) - score(a)) for a, b in found), default=0.0)
    print(table(found) + f"\n{len(found)} pairs; largest difference {worst:.2f} points")
    return 1 if args.check is not None and worst > args.check else 0


if __name__ == "__main__":
    sys.exit(main())
