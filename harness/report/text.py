"""A results grid as table text: cells formatted, the paper's numbers beside, footnotes, the average column."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from adaptbench.harness.report.data_table import AVERAGE_KEY, DataTable, data_table
from adaptbench.harness.report.grid import Cell, Row
from adaptbench.harness.report.layouts import Column, TableLayout
from adaptbench.harness.report.matching import match_rows
from adaptbench.harness.report.paper import (
    PaperRow,
    paper_method,
    paper_model,
    read_keyed_table,
    read_paper_table,
)


# --------------------------------------------------------------------------------------------- text
@dataclass
class TableText:
    """A table as text cells, ready for any output format."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    # the same table as numbers, one quantity a column (what CSV writes); None: CSV writes the text cells
    data: DataTable | None = None
    # per row: its model and method by the paper's names, ``source`` "paper" for a published row (the results
    # page's filters); empty where a table has none
    facets: list[dict[str, str]] = field(default_factory=list)


def fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_params(count: float | None) -> str:
    """|Θ| as the paper prints it, in millions (``0.39M``, ``125.00M``); exact below 10,000."""
    if count is None:
        return "-"
    return f"{count:,.0f}" if count < 10_000 else f"{count / 1e6:,.2f}M"


def cell_text(cell: Cell, column: Column, agg: str) -> str:
    value = cell.value(agg)
    if value is None:
        return f"n=0 ({cell.problems()})" if cell.failed else "missing"
    spread = cell.spread
    text = fmt(value, column.digits) + (f" ±{spread:.{column.digits}f}" if spread is not None else "")
    text += f" n={cell.n}"
    problems = cell.problems()
    return f"{text} ({problems})" if problems else text


def paper_cell(row: PaperRow, column: Column) -> str:
    value = row.values.get(column.paper_key or "")
    spread = row.spreads.get(column.paper_key or "")
    return fmt(value, column.digits) + (f" ±{spread:.{column.digits}f}" if spread is not None else "")


def compared(measured: float | None, published: float | None, digits: int) -> str:
    if published is None:
        return " [paper -]"
    if measured is None:
        return f" [paper {published:.{digits}f}]"
    return f" [paper {published:.{digits}f}, Δ {measured - published:+.{digits}f}]"


def average(row: Row, layout: TableLayout, agg: str) -> float | None:
    values = [row.cells[c.header].value(agg) for c in layout.columns]
    return None if any(v is None for v in values) else statistics.fmean(values)  # type: ignore[arg-type]


@dataclass
class Footnotes:
    """Numbered footnotes, one per distinct text."""

    texts: list[str] = field(default_factory=list)

    def mark(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"

    def lines(self) -> list[str]:
        return [f"[{i}] {text}" for i, text in enumerate(self.texts, 1)]


def paper_params_text(paper: PaperRow, notes: Footnotes) -> str:
    """The printed |Θ|, with a footnote where the paper contradicts its own formula."""
    if paper.misprint is None:
        return paper.params_label or "-"  # Table 6 prints no |Θ|
    count, how = paper.misprint
    return f"{paper.params_label} " + notes.mark(
        f"{paper.model} {paper.method}: the paper prints {paper.params_label}, but {how} has {count:,} "
        f"= {fmt_params(count)} parameters (results/paper/README.md)"
    )


def params_text(measured: int | None, paper: PaperRow | None, notes: Footnotes) -> str:
    """Measured |Θ|, and with ``--compare paper`` the printed one beside it."""
    text = fmt_params(measured)
    return text if paper is None else f"{text} [paper {paper_params_text(paper, notes)}]"


def published_rows(layout: TableLayout) -> list[PaperRow]:
    """The paper's rows of the layout's table (none for a layout the paper has no table for)."""
    if layout.paper_table is None:
        return []
    keys = [c.paper_key or c.header for c in layout.columns] + ([AVERAGE_KEY] if layout.average else [])
    if layout.paper_rows is not None:
        return read_keyed_table(layout.paper_table, layout.paper_rows, keys)
    return read_paper_table(layout.paper_table, keys)


def run_table(rows: Sequence[Row], layout: TableLayout, agg: str | None, compare: bool) -> TableText:
    """The layout's table over its ``rows`` (``Results.grid``); with ``compare`` each cell also has the published number and the
    difference, and the paper's rows we have no records for follow, marked ``(paper)``."""
    agg = agg or layout.agg
    published = published_rows(layout) if compare else []
    notes = Footnotes()
    headers = ["Model", "Method", "|Θ|", *(c.header for c in layout.columns)]
    headers += ["Avg."] if layout.average else []
    matches = match_rows(rows, layout, published)
    lines = [
        measured_line(row, layout, agg, bool(published), paper, notes)
        for row, paper in zip(rows, matches.papers, strict=True)
    ]
    matched, stood_in = matches.matched, matches.stood_in
    facets = [
        {"model": paper_model(r.model), "method": paper_method(r.method), "source": "ours"} for r in rows
    ]
    for paper, line in _published_only(published, matched, rows, layout, notes):
        lines.append(line)
        facets.append({"model": paper.model, "method": paper.method, "source": "paper"})
    title = f"{layout.title or layout.name}: {agg} over seeds (± = standard deviation over seeds, n = seeds)"
    if stood_in:
        title += f"; published numbers: {layout.paper_model}, ours: {', '.join(sorted(stood_in))}"
    data = data_table(rows, layout, agg, published, compare)
    table = TableText(title, headers, lines, notes.lines(), data, facets)
    if stood_in:
        how = "in order of |Θ|"
        if (keyed := layout.paper_rows) is not None:
            keys = [k for k, _ in keyed.settings] + ([keyed.unpivot_setting] if keyed.unpivot_setting else [])
            how = f"by their settings ({', '.join(keys)})"
        table.notes.append(
            f"[paper ...] is {layout.paper_model}'s published number; the paper has no rows of "
            f"{', '.join(sorted(stood_in))}: each method's rows are matched to {layout.paper_model}'s {how}"
        )
    if compare and not published:
        tasks = ", ".join(c.task for c in layout.columns)
        table.notes.append(f"the paper has no table for these tasks ({tasks})")
    return table


def measured_line(
    row: Row, layout: TableLayout, agg: str, compare: bool, paper: PaperRow | None, notes: Footnotes
) -> list[str]:
    """A measured row's cells; with ``compare``, each beside the number of ``paper``, the closest published row
    (``[paper -]`` where there is none)."""
    line = [paper_model(row.model), row.label, params_text(row.params, paper, notes)]
    for column in layout.columns:
        cell = row.cells[column.header]
        text = cell_text(cell, column, agg)
        if compare:
            published = paper.values.get(column.paper_key or "") if paper else None
            text += compared(cell.value(agg), published, column.digits)
        line.append(text)
    if layout.average:
        mean = average(row, layout, agg)
        line.append(fmt(mean, 1) + (compared(mean, _paper_average(paper), 1) if compare else ""))
    return line


def _paper_average(paper: PaperRow | None) -> float | None:
    return None if paper is None else paper.values.get(AVERAGE_KEY)


def _published_only(
    published: Sequence[PaperRow],
    matched: set[int],
    rows: Sequence[Row],
    layout: TableLayout,
    notes: Footnotes,
) -> list[tuple[PaperRow, list[str]]]:
    """The paper's rows no measured row matched, for the models we measured (all of them if the paper has none
    of our models), each with its cells."""
    ours = {paper_model(r.model) for r in rows}
    models = ours & {p.model for p in published} or {p.model for p in published}
    lines = []
    for paper in published:
        if id(paper) in matched or paper.model not in models:
            continue
        line = [paper.model, f"{paper.label} (paper)", paper_params_text(paper, notes)]
        line += [paper_cell(paper, c) for c in layout.columns]
        line += [fmt(_paper_average(paper), 1)] if layout.average else []
        lines.append((paper, line))
    return lines
