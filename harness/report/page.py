"""``adaptbench report DIR --out report.html``: one self-contained results page (no server, no network).

Every table ``adaptbench table`` prints for the directory (``--layout auto``, and the latency tables where it has
latency records) with the paper's numbers beside ours, one row per run record, and every ``adaptbench plot``
figure the records support, inline as SVG. Rows sort by a click on a header and filter by model, method and
task (a few lines of inline JavaScript). Everything renders from one ``Results`` (harness.report.results).
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from adaptbench.harness.api.errors import ConfigError, bad_choice
from adaptbench.harness.records.store import check_out_file
from adaptbench.harness.report.data_table import DataTable
from adaptbench.harness.report.grid import differing_settings, row_key, row_label, score_of
from adaptbench.harness.report.latency_table import latency_tables
from adaptbench.harness.report.layouts import (
    AGGREGATES,
    TableLayout,
    add_layout_dir_argument,
    add_layout_dirs,
    figure_column,
)
from adaptbench.harness.report.paper import paper_method, paper_model
from adaptbench.harness.report.render import printable
from adaptbench.harness.report.results import Results
from adaptbench.harness.report.text import TableText, fmt, fmt_params, run_table

FACETS = ("model", "method", "task")  # what the page's selects filter by


# --------------------------------------------------------------------------------------------- tables
def runs_table(results: Results) -> TableText:
    """One row per run record: its cell, seed and status, its score in the paper's unit, its costs."""
    headers = [
        "Model",
        "Method",
        "Task",
        "Seed",
        "Status",
        "Score",
        "Metric",
        "|Θ|",
        "Memory (GiB)",
        "Time (s)",
    ]
    lines, data, facets = [], [], []
    differing = differing_settings(results.runs)  # the settings that label a row of the tables, as there
    for record in sorted(results.runs, key=_record_order):
        metric = record.get("metric_for_best") or "main"
        column, _ = figure_column(record)
        score = score_of(record, column) if record.get("status", "complete") == "complete" else None
        params = (record.get("params") or {}).get("method_params")
        memory = record.get("peak_memory_bytes")
        memory = memory / 2**30 if memory else None
        seconds = (record.get("train") or {}).get("train_seconds")
        method = row_label(record["method"], row_key(record, differing)[2])
        values = [paper_model(record["model"]), method, record["task"], record["seed"]]
        values += [record.get("status", "complete"), score, metric, params, memory, seconds]
        data.append(values)
        lines.append(
            [*map(str, values[:5]), fmt(score, column.digits), metric, fmt_params(params)]
            + [fmt(memory, 2), fmt(seconds, 1)]
        )
        facets.append({"model": values[0], "method": paper_method(record["method"]), "task": record["task"]})
    title = "Run records: one row per run (score: the best evaluation, in the paper's unit)"
    return TableText(title, headers, lines, data=DataTable(headers, data), facets=facets)


def _record_order(record: Mapping[str, Any]) -> tuple:
    return (record["task"], record["model"], record["method"], str(record.get("config")), record["seed"])


@dataclass
class PageTable:
    """A table as the page shows it: its text cells, a sort value per cell, the task of each column."""

    table: TableText
    tasks: dict[str, str]  # column header -> its task (the task filter hides the other columns)


def page_tables(results: Results, agg: str | None, compare: bool) -> list[PageTable]:
    tables = [
        PageTable(run_table(rows, layout, agg, compare), _column_tasks(layout))
        for layout, rows in results.grids()
    ]
    tables += [PageTable(table, {}) for table in latency_tables(results.latency)]
    return tables + ([PageTable(runs_table(results), {})] if results.runs else [])


def _column_tasks(layout: TableLayout) -> dict[str, str]:
    return {column.header: column.task for column in layout.columns}


# ----------------------------------------------------------------------------------------- page model
# The text table's leading-number columns and the DataTable columns that hold their numbers (``run_table``
# and ``data_table`` name a task column alike).
DATA_COLUMNS = {"Model": "model", "Method": "method", "|Θ|": "params"}
LEADING_NUMBER = re.compile(r"^([+-]?[\d,]*\.?\d+)(M?)")


def sort_value(text: str) -> float | str | None:
    """The number a formatted cell starts with (``0.08M``, ``9,216``, ``12.3 ms +5.0%``), for a table that has no
    ``DataTable`` (the latency tables); the text itself where it starts with none; None for a missing cell."""
    if text in ("-", "missing") or text.startswith("n=0"):
        return None
    match = LEADING_NUMBER.match(text)
    if not match:
        return text
    return float(match.group(1).replace(",", "")) * (1e6 if match.group(2) else 1)


def data_value(data: DataTable, row: Sequence[Any], header: str) -> Any:
    """A cell's number in ``data``: ours, or the paper's on a paper-only row (ours empty there)."""
    name = header if header in data.headers else DATA_COLUMNS.get(header, header)
    if name not in data.headers:
        return None
    value = row[data.headers.index(name)]
    paper = "paper_params" if name == "params" else f"{name} paper"
    if value is None and paper in data.headers:
        value = row[data.headers.index(paper)]
    return value


def page_cell(text: str, sort: Any) -> dict[str, Any]:
    """The cell's text, with ``[paper ...]`` (``--compare paper``) apart so the page can show it smaller; no
    ``[paper -]`` (the paper has no such row: on a model the paper lacks, every cell would say so)."""
    ours, bracket, ref = text.partition(" [paper ")
    ref = f"[paper {ref}" if bracket and ref != "-]" else ""
    return {"text": printable(ours), "ref": printable(ref), "sort": sort}


def page_rows(page_table: PageTable) -> list[dict[str, Any]]:
    table = page_table.table
    rows = []
    for i, line in enumerate(table.rows):
        facets = table.facets[i] if i < len(table.facets) else {}
        data_row = table.data.rows[i] if table.data is not None else None
        cells = []
        for header, text in zip(table.headers, line, strict=True):
            value = data_value(table.data, data_row, header) if data_row is not None else sort_value(text)
            cells.append(page_cell(text, value))
        rows.append(
            {
                "facets": {k: printable(v) for k, v in facets.items() if k != "source"},
                "source": facets.get("source", "ours"),
                "cells": cells,
            }
        )
    return rows


def page_table_model(index: int, page_table: PageTable) -> dict[str, Any]:
    table = page_table.table
    return {
        "id": f"table-{index}",
        "title": printable(table.title),
        "short": printable(table.title.split(":")[0]),
        "headers": [{"text": printable(h), "task": page_table.tasks.get(h)} for h in table.headers],
        "rows": page_rows(page_table),
        "notes": [printable(n) for n in table.notes],
    }


def filter_values(tables: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Each facet's values over every table's rows (tasks also from the columns)."""
    values: dict[str, set[str]] = {facet: set() for facet in FACETS}
    for table in tables:
        for row in table["rows"]:
            for facet, value in row["facets"].items():
                values.setdefault(facet, set()).add(value)
        values["task"] |= {h["task"] for h in table["headers"] if h["task"]}
    return {facet: sorted(found) for facet, found in values.items() if found}


# --------------------------------------------------------------------------------------------- figures
def figures(results: Results) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    """Every ``adaptbench plot`` figure the records support, as inline SVG; (name, why) of those skipped."""
    import matplotlib
    import matplotlib.pyplot as plt

    from adaptbench.harness.report.plots import FIGURES, Skip

    drawn, skipped = [], []
    for name, make in FIGURES.items():
        try:
            figure = make(results)
        except Skip as why:
            skipped.append((name, str(why)))
            continue
        buffer = io.StringIO()
        # text as SVG text (searchable, a fraction of the size of glyph paths); no date: the same records give
        # the same page
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        plt.close(figure)
        drawn.append({"name": name, "svg": inline_svg(buffer.getvalue())})
    return drawn, skipped


def inline_svg(svg: str) -> str:
    """A matplotlib SVG file as an element of the page: without its XML prolog, DOCTYPE and RDF metadata (the
    DTD and RDF vocabulary URLs are declarations, never fetched, but the page names no URL at all)."""
    svg = svg[svg.index("<svg") :]
    return re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)


# --------------------------------------------------------------------------------------------- page
def check_has_records(results: Results) -> None:
    if not results.runs and not results.latency:
        where = ", ".join(results.dirs) or "the source"
        raise ConfigError(
            f"no run or latency records under {where} (looked in <DIR>/records and <DIR>/latency)"
        )


def render_page(results: Results, agg: str | None = None, compare: bool = True) -> str:
    """The page's HTML: every table and figure of ``results``."""
    from jinja2 import Environment
    from markupsafe import Markup

    check_has_records(results)
    tables = [page_table_model(i, t) for i, t in enumerate(page_tables(results, agg, compare), 1)]
    drawn, skipped = figures(results)
    for figure in drawn:
        figure["svg"] = Markup(figure["svg"])  # matplotlib's SVG, its text escaped by matplotlib
    statuses: dict[str, int] = {}
    for record in results.runs:
        statuses[record.get("status", "complete")] = statuses.get(record.get("status", "complete"), 0) + 1
    summary = (
        f"{len(results.runs)} run records ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})"
    )
    summary += f", {len(results.latency)} latency records" if results.latency else ""
    summary += " from " + ", ".join(results.dirs) if results.dirs else ""
    template = resources.files("adaptbench.harness.report").joinpath("page.html").read_text(encoding="utf-8")
    environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(template).render(
        title=printable("adaptbench results: " + (", ".join(results.dirs) or "records")),
        summary=printable(summary),
        filters=filter_values(tables),
        tables=tables,
        figures=drawn,
        skipped=skipped,
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="adaptbench report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "dirs", nargs="*", metavar="DIR", help="output roots or records folders (default: outputs)"
    )
    parser.add_argument("--out", required=True, help="the HTML file to write")
    parser.add_argument(
        "--compare",
        default="paper",
        help="paper (the published numbers beside ours) or none (default: paper)",
    )
    parser.add_argument("--agg", default=None, help="median | mean (default: the paper's, per layout)")
    add_layout_dir_argument(parser)
    args = parser.parse_args(list(argv))
    for name, value, choices in (
        ("--compare", args.compare, ("paper", "none")),
        ("--agg", args.agg, AGGREGATES),
    ):
        if value is not None and value not in choices:
            raise bad_choice(name, value, choices)
    add_layout_dirs(args.layout_dir)
    args.dirs = args.dirs or ["outputs"]
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    results = Results.from_dirs(args.dirs)
    check_has_records(results)
    out = check_out_file(Path(args.out))
    html = render_page(results, args.agg, args.compare == "paper")
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"--out {args.out}: cannot write it ({err.strerror or err})") from None
    print(out)
    return 0
