"""Tables inside a results README, generated from its records: no number in a README is typed by hand.

A README marks each generated part with ``<!-- generated: <name> -->`` ... ``<!-- end generated: <name> -->``;
``python -m adaptbench.harness.report.readme <results dir> [--check]`` rewrites every such part from the
records under ``<results dir>`` (or, with ``--check``, exits 1 naming the parts that differ). Parts:

- ``table``: the GLUE layout's measured rows (method, |Θ|, one column per task that has records), median over
  seeds ± standard deviation, then the majority class's dev accuracy of each accuracy column.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from adaptbench.harness.records.store import iter_records
from adaptbench.harness.report.grid import build_rows
from adaptbench.harness.report.layouts import TableLayout, layouts
from adaptbench.harness.report.text import cell_text, fmt_params

BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.S
)


def measured_table(records: Sequence[Mapping[str, Any]], layout: TableLayout) -> str:
    """The layout's measured rows as markdown, restricted to the columns that have records."""
    tasks = {record["task"] for record in records}
    columns = [column for column in layout.columns if column.task in tasks]
    lines = [
        "| Method | \\|Θ\\| | " + " | ".join(c.header for c in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for row in build_rows(records, layout):
        cells = [cell_text(row.cells[c.header], c, layout.agg) for c in columns]
        lines.append(f"| {row.label} | {fmt_params(row.params)} | " + " | ".join(cells) + " |")
    majority = majority_line(records, [c for c in columns if c.metric == "accuracy"], layout)
    return "\n".join(lines) + ("\n\n" + majority if majority else "") + "\n"


def majority_line(records: Sequence[Mapping[str, Any]], columns: Sequence[Any], layout: TableLayout) -> str:
    """``Majority class (dev accuracy): SST-2 50.9, ...``: what every run recorded as its dev set's majority
    class (one value per task: the dev set is the same for every run)."""
    parts = []
    for column in columns:
        seen = {
            round(float(r["best"]["metrics"]["majority_baseline"]) * column.scale, 6)
            for r in records
            if r["task"] == column.task
            and "majority_baseline" in ((r.get("best") or {}).get("metrics") or {})
        }
        if len(seen) == 1:
            parts.append(f"{column.header} {seen.pop():.{column.digits}f}")
    return "Majority class (dev accuracy): " + ", ".join(parts) + "." if parts else ""


GENERATORS: dict[str, Callable[[Sequence[Mapping[str, Any]]], str]] = {
    "table": lambda records: measured_table(records, layouts()["glue"]),
}


def generated_parts(text: str, records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """Each marked part of ``text``: (as written, as the records give it)."""
    parts = {}
    for match in BLOCK.finditer(text):
        name = match.group("name")
        if name not in GENERATORS:
            raise ValueError(f"unknown generated part {name!r}; known: {', '.join(GENERATORS)}")
        parts[name] = (match.group("body"), GENERATORS[name](records))
    return parts


def regenerate(text: str, records: Sequence[Mapping[str, Any]]) -> str:
    """``text`` with every marked part rewritten from ``records``."""
    return BLOCK.sub(lambda m: m.group(1) + GENERATORS[m.group("name")](records) + m.group(4), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adaptbench.harness.report.readme", description=__doc__)
    parser.add_argument("results", type=Path, help="a results folder (its records/ and README.md)")
    parser.add_argument("--readme", type=Path, help="the README to fill (default: <results>/README.md)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a part is stale")
    args = parser.parse_args(argv)
    readme = args.readme or args.results / "README.md"
    text, records = readme.read_text(encoding="utf-8"), list(iter_records(args.results))
    stale = [name for name, (old, new) in generated_parts(text, records).items() if old != new]
    if args.check:
        for name in stale:
            print(f"{readme}: generated part {name!r} differs from its records", file=sys.stderr)
        return 1 if stale else 0
    readme.write_text(regenerate(text, records), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
