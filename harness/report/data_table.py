"""A results grid as numbers, for CSV: each column one quantity, each cell a number or empty.

The text table packs a cell as ``93.12 ±0.21 n=3 (1 failed) [paper 94.8, Δ -1.68]``; a spreadsheet or pandas wants
the median, the spread, the seed count and the paper's number as columns of their own, unrounded."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adaptbench.harness.report.grid import Row
from adaptbench.harness.report.layouts import TableLayout
from adaptbench.harness.report.matching import match_rows
from adaptbench.harness.report.paper import PaperRow, paper_model

AVERAGE_KEY = "avg_reported"  # the paper CSVs' average column


@dataclass
class DataTable:
    """Column names and rows of plain values (int, float, str, None for an empty cell)."""

    headers: list[str]
    rows: list[list[Any]]


def data_headers(layout: TableLayout, compare: bool) -> list[str]:
    headers = ["model", "method", "params"] + (["paper_params"] if compare else [])
    for column in layout.columns:
        headers += [column.header, f"{column.header} sd", f"{column.header} n", f"{column.header} failed"]
        headers += [f"{column.header} paper"] if compare else []
    if layout.average:
        headers += ["Avg."] + (["Avg. paper"] if compare else [])
    return headers


def measured_values(
    row: Row, layout: TableLayout, agg: str, paper: PaperRow | None, compare: bool
) -> list[Any]:
    line: list[Any] = [paper_model(row.model), row.label, row.params]
    line += [paper.params if paper else None] if compare else []
    values = []
    for column in layout.columns:
        cell = row.cells[column.header]
        values.append(cell.value(agg))
        line += [values[-1], cell.spread, cell.n, len(cell.failed) + cell.missing]
        line += [paper.values.get(column.paper_key or "") if paper else None] if compare else []
    if layout.average:
        line.append(None if any(v is None for v in values) else statistics.fmean(values))
        line += [paper.values.get(AVERAGE_KEY) if paper else None] if compare else []
    return line


def published_values(paper: PaperRow, layout: TableLayout) -> list[Any]:
    """A paper row we have no runs for: its numbers in the ``paper`` columns, ours empty."""
    line: list[Any] = [paper.model, f"{paper.label} (paper)", None, paper.params]
    for column in layout.columns:
        line += [
            None,
            paper.spreads.get(column.paper_key or ""),
            0,
            0,
            paper.values.get(column.paper_key or ""),
        ]
    if layout.average:
        line += [None, paper.values.get(AVERAGE_KEY)]
    return line


def data_table(
    rows: Sequence[Row], layout: TableLayout, agg: str, published: Sequence[PaperRow], compare: bool
) -> DataTable:
    """The numbers of ``run_table``'s table, rows in the same order (measured rows, then the paper's rows no
    measured row matched, for the models measured)."""
    matches = match_rows(rows, layout, published)
    lines = [
        measured_values(row, layout, agg, paper, compare)
        for row, paper in zip(rows, matches.papers, strict=True)
    ]
    matched = matches.matched
    ours = {paper_model(r.model) for r in rows}
    models = ours & {p.model for p in published} or {p.model for p in published}
    lines += [published_values(p, layout) for p in published if id(p) not in matched and p.model in models]
    return DataTable(data_headers(layout, compare), lines)
