"""``adaptbench table``: the paper's tables from run records, seeds aggregated, optionally beside the paper's.

Rows are model × method (× the settings that differ between records of that pair, e.g. ``r`` or
``trainer.lr``; see ``run_settings``); columns are tasks, in the paper's layout (Table 2 GLUE, Table 3 E2E, Tables
13/14 DART/WebNLG) or one column per task with its ``metric_for_best`` for tasks no paper table has.

A cell aggregates the ``best`` evaluation of each seed: the median for GLUE, as the paper does (its ``±`` is the
spread over seeds; here the sample standard deviation), the mean for NLG (the paper's NLG rows are means over 3
seeds). Every cell shows ``n``, the seeds it aggregates, and what it lacks, so that nothing is dropped silently:

- ``failed`` / ``diverged``: records with that status (a failure record has an ``error`` and no ``best``);
- ``missing``: seeds the row has elsewhere (in another column or with another status) but this cell has no
  record of, e.g. a sweep job that never finished; a cell with no record at all shows only ``missing``.

``--layout latency`` reads latency records (``<dir>/latency/``) instead of run records (``<dir>/records/``),
and ``--layout params`` measures |Θ| of every method on one model (meta device, no records).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hydra.errors import HydraException

from adaptbench.harness.api.errors import ConfigError, bad_choice
from adaptbench.harness.api.node_keys import NAMING_KEYS
from adaptbench.harness.records.hashing import result_config
from adaptbench.harness.records.store import iter_records
from adaptbench.harness.report.paper import (
    PAPER_METHOD_ALIASES,
    PaperRow,
    closest_row,
    latency_rows,
    paper_method,
    paper_model,
    read_paper_table,
)

log = logging.getLogger("adaptbench")

FORMATS = ("md", "csv", "latex", "rich")
AGGREGATES = ("median", "mean")
# Method settings that never tell two rows apart (identity and bookkeeping keys of the method node).
# Config sections that place a run in the grid (row, column, seed) rather than set it.
CELL_KEYS = ("model", "task", "seed")
AVERAGE_KEY = "avg_reported"
# Table 2's metric per GLUE task: MCC for CoLA, Pearson for STS-B, accuracy otherwise (MNLI matched). The same
# as tasks.metrics.glue.GLUE_MAIN_METRIC (a test holds them equal), kept here so that reading records imports
# no task code (torch, transformers).
TABLE2_METRIC = {"cola": "matthews_correlation", "stsb": "pearson"}  # Table 2's printed average


# --------------------------------------------------------------------------------------------- layouts
@dataclass(frozen=True)
class Column:
    """One score column: the records of ``task`` (and task settings ``where``), ``metric`` × ``scale`` in the
    paper's unit, and the column of the paper's CSV that holds the published number."""

    header: str
    task: str
    metric: str
    scale: float = 1.0
    paper_key: str | None = None
    where: tuple[tuple[str, Any], ...] = ()
    digits: int = 1

    def selects(self, record: Mapping[str, Any]) -> bool:
        if record["task"] != self.task:
            return False
        task_cfg = (record.get("config") or {}).get("task") or {}
        return all(task_cfg.get(key, default) == default for key, default in self.where)


@dataclass(frozen=True)
class Layout:
    name: str
    columns: tuple[Column, ...]
    agg: str
    paper_table: str | None = None
    average: bool = False  # Table 2's "Avg." column
    title: str = ""


def _glue_column(header: str, task: str) -> Column:
    return Column(header, task, TABLE2_METRIC.get(task, "accuracy"), 100.0, header.replace("-", ""))


def _webnlg_columns() -> tuple[Column, ...]:
    splits = (("U", "unseen"), ("S", "seen"), ("A", "all"))
    metrics = (("BLEU", "BLEU", 1), ("MET", "METEOR", 2), ("TER", "TER", 2))
    return tuple(
        Column(f"{short} {u}", "webnlg", metric, 1.0, f"{short}_{u}", (("categories", categories),), digits)
        for short, metric, digits in metrics
        for u, categories in splits
    )


LAYOUTS: dict[str, Layout] = {
    "glue": Layout(
        "glue",
        tuple(
            _glue_column(h, t)
            for h, t in (
                ("MNLI", "mnli"),
                ("SST-2", "sst2"),
                ("MRPC", "mrpc"),
                ("CoLA", "cola"),
                ("QNLI", "qnli"),
                ("QQP", "qqp"),
                ("RTE", "rte"),
                ("STS-B", "stsb"),
            )
        ),
        "median",
        "table2_glue",
        average=True,
        title="GLUE (the paper's Table 2)",
    ),
    # E2E's BLEU, METEOR and ROUGE-L are fractions in the records; the paper prints them × 100.
    "e2e": Layout(
        "e2e",
        (
            Column("BLEU", "e2e", "BLEU", 100.0, "BLEU"),
            Column("NIST", "e2e", "NIST", 1.0, "NIST", digits=2),
            Column("MET", "e2e", "METEOR", 100.0, "METEOR"),
            Column("ROUGE-L", "e2e", "ROUGE_L", 100.0, "ROUGE_L"),
            Column("CIDEr", "e2e", "CIDEr", 1.0, "CIDEr", digits=2),
        ),
        "mean",
        "table3_e2e",
        title="E2E (the paper's Table 3)",
    ),
    "dart": Layout(
        "dart",
        (
            Column("BLEU", "dart", "BLEU", 1.0, "BLEU"),
            Column("MET", "dart", "METEOR", 1.0, "METEOR", digits=2),
            Column("TER", "dart", "TER", 1.0, "TER", digits=2),
        ),
        "mean",
        "table13_dart",
        title="DART (the paper's Table 13)",
    ),
    "webnlg": Layout(
        "webnlg", _webnlg_columns(), "mean", "table14_webnlg", title="WebNLG (the paper's Table 14)"
    ),
}
LAYOUT_CHOICES = ("auto", *LAYOUTS, "latency", "params")


def auto_layout(records: Sequence[Mapping[str, Any]]) -> Layout:
    """One column per task (sorted) with its ``metric_for_best``, unscaled, median over seeds."""
    metrics: dict[str, str] = {}
    for record in records:
        metrics.setdefault(record["task"], record.get("metric_for_best") or "main")
    columns = tuple(
        Column(f"{task} {metric}", task, metric, digits=4) for task, metric in sorted(metrics.items())
    )
    return Layout("auto", columns, "median", title="tasks without a paper table")


def layout_of_task(task: str) -> Layout | None:
    """The paper layout that has a column for ``task`` (None for tasks no paper table has)."""
    return next((lay for lay in LAYOUTS.values() if any(c.task == task for c in lay.columns)), None)


def headline_column(task: str, metric: str) -> Column:
    """One column for all records of ``task`` scored by ``metric``, in the paper's unit where a paper layout
    has that task and metric (the figures' y axis)."""
    layout = layout_of_task(task)
    for column in layout.columns if layout else ():
        if column.task == task and column.metric == metric:
            return Column(
                task if column.where else column.header,
                task,
                metric,
                column.scale,
                digits=column.digits,
            )
    return Column(task, task, metric, digits=4)


def split_by_layout(records: Sequence[Mapping[str, Any]]) -> list[tuple[Layout, list[Mapping[str, Any]]]]:
    """``--layout auto``: each record goes to the paper layout that has its task, the rest to one auto table."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        layout = layout_of_task(record["task"])
        groups[layout.name if layout else ""].append(record)
    return [
        (LAYOUTS[name] if name else auto_layout(rs), rs)
        for name, rs in sorted(groups.items(), key=_auto_last)
    ]


def _auto_last(item: tuple[str, Any]) -> tuple[bool, str]:
    return (item[0] == "", item[0])


# --------------------------------------------------------------------------------------------- cells
@dataclass
class Cell:
    """The seeds of one row × column: scores of complete runs (paper unit) and the runs that gave none."""

    scores: dict[int, float] = field(default_factory=dict)
    # seed -> why it has no score: its status ("failed", "diverged") or "no <metric>"
    failed: dict[int, str] = field(default_factory=dict)
    missing: int = 0

    def value(self, agg: str) -> float | None:
        values = list(self.scores.values())
        if not values:
            return None
        return statistics.median(values) if agg == "median" else statistics.fmean(values)

    @property
    def spread(self) -> float | None:
        """The sample standard deviation over seeds (None below 2 seeds)."""
        values = list(self.scores.values())
        return statistics.stdev(values) if len(values) > 1 else None

    @property
    def n(self) -> int:
        return len(self.scores)

    def problems(self) -> str:
        """``1 failed, 2 missing``: what this cell lacks (empty when nothing)."""
        counts: dict[str, int] = defaultdict(int)
        for status in self.failed.values():
            counts[status] += 1
        if self.missing:
            counts["missing"] = self.missing
        return ", ".join(f"{count} {status}" for status, count in counts.items())


@dataclass
class Row:
    model: str
    method: str
    settings: tuple[tuple[str, Any], ...]
    cells: dict[str, Cell]
    method_params: list[int]

    @property
    def label(self) -> str:
        extra = " ".join(f"{key}={value}" for key, value in self.settings)
        return paper_method(self.method) + (f" ({extra})" if extra else "")

    @property
    def params(self) -> int | None:
        return int(statistics.median(self.method_params)) if self.method_params else None


def run_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """The result-changing settings of a run other than its cell (model, task, seed), flattened: the method's
    as ``r``, ``alpha``..., the others as ``trainer.lr``, ``init_from``... Rows of one model × method are told
    apart by those that differ, so runs with different settings are never aggregated as seeds."""
    flat: dict[str, Any] = {}
    for section, node in result_config(record.get("config") or {}).items():
        if section in CELL_KEYS:
            continue
        if not isinstance(node, dict):
            flat[section] = node
            continue
        for key, value in node.items():
            if section == "method" and key not in NAMING_KEYS:
                flat[key] = value
            elif section != "method":
                flat[f"{section}.{key}"] = value
    return flat


def _hashable(value: Any) -> Any:
    return (
        tuple(value) if isinstance(value, list) else json.dumps(value) if isinstance(value, dict) else value
    )


def row_key(record: Mapping[str, Any], differing: Mapping[tuple[str, str], Sequence[str]]) -> tuple:
    settings = run_settings(record)
    keys = differing.get((record["model"], record["method"]), ())
    return (record["model"], record["method"], tuple((k, _hashable(settings.get(k))) for k in keys))


def differing_settings(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Per model × method, the setting keys whose values differ between its records of one task (sorted). A
    setting that only changes from task to task (a preset's per-cell rate or sample size) does not split a row."""
    seen: dict[tuple[str, str, str], dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for record in records:
        for key, value in run_settings(record).items():
            seen[(record["model"], record["method"], record["task"])][key].add(_hashable(value))
    differing: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (model, method, _task), keys in seen.items():
        differing[(model, method)] |= {k for k, values in keys.items() if len(values) > 1}
    return {pair: sorted(keys) for pair, keys in differing.items()}


def score_of(record: Mapping[str, Any], column: Column) -> float | None:
    metrics = (record.get("best") or {}).get("metrics") or {}
    value = metrics.get(column.metric)
    return None if value is None else float(value) * column.scale


def build_rows(records: Sequence[Mapping[str, Any]], layout: Layout) -> list[Row]:
    """The layout's rows: every record of one of its columns lands in exactly one cell."""
    differing = differing_settings(records)
    rows: dict[tuple, Row] = {}
    for record in records:
        key = row_key(record, differing)
        row = rows.setdefault(
            key, Row(key[0], key[1], key[2], {c.header: Cell() for c in layout.columns}, [])
        )
        for column in layout.columns:
            if column.selects(record):
                _add_to_cell(row.cells[column.header], record, column)
        if record.get("status") == "complete" and record.get("params"):
            row.method_params.append(int(record["params"]["method_params"]))
    for row in rows.values():
        _count_missing(row)
    return sorted(rows.values(), key=lambda r: (r.model, r.method, str(r.settings)))


def _add_to_cell(cell: Cell, record: Mapping[str, Any], column: Column) -> None:
    seed, status = int(record["seed"]), record.get("status", "complete")
    score = score_of(record, column) if status == "complete" else None
    if score is not None:
        cell.scores[seed] = score
    else:
        cell.failed[seed] = status if status != "complete" else f"no {column.metric}"


def _count_missing(row: Row) -> None:
    """Seeds the row has in some cell but not in this one count as missing there."""
    row_seeds = set().union(*(set(c.scores) | set(c.failed) for c in row.cells.values()))
    for cell in row.cells.values():
        cell.missing = len(row_seeds - set(cell.scores) - set(cell.failed))


# --------------------------------------------------------------------------------------------- text
@dataclass
class TableText:
    """A table as text cells, ready for any output format."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


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


def average(row: Row, layout: Layout, agg: str) -> float | None:
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
        return paper.params_label
    count, how = paper.misprint
    return f"{paper.params_label} " + notes.mark(
        f"{paper.model} {paper.method}: the paper prints {paper.params_label}, but {how} has {count:,} "
        f"= {fmt_params(count)} parameters (results/paper/README.md)"
    )


def params_text(measured: int | None, paper: PaperRow | None, notes: Footnotes) -> str:
    """Measured |Θ|, and with ``--compare paper`` the printed one beside it."""
    text = fmt_params(measured)
    return text if paper is None else f"{text} [paper {paper_params_text(paper, notes)}]"


def published_rows(layout: Layout) -> list[PaperRow]:
    """The paper's rows of the layout's table (none for a layout the paper has no table for)."""
    if layout.paper_table is None:
        return []
    keys = [c.paper_key or c.header for c in layout.columns] + ([AVERAGE_KEY] if layout.average else [])
    return read_paper_table(layout.paper_table, keys)


def run_table(
    records: Sequence[Mapping[str, Any]], layout: Layout, agg: str | None, compare: bool
) -> TableText:
    """The layout's table over ``records``; with ``compare`` each cell also has the published number and the
    difference, and the paper's rows we have no records for follow, marked ``(paper)``."""
    agg = agg or layout.agg
    rows = build_rows(records, layout)
    published = published_rows(layout) if compare else []
    notes = Footnotes()
    headers = ["Model", "Method", "|Θ|", *(c.header for c in layout.columns)]
    headers += ["Avg."] if layout.average else []
    lines, matched = [], set()
    for row in rows:
        paper = closest_row(published, row.model, row.method, row.params) if published else None
        matched.add(id(paper))
        lines.append(measured_line(row, layout, agg, bool(published), paper, notes))
    lines += _published_only(published, matched, rows, layout, notes)
    title = f"{layout.title or layout.name}: {agg} over seeds (± = standard deviation over seeds, n = seeds)"
    table = TableText(title, headers, lines, notes.lines())
    if compare and not published:
        tasks = ", ".join(c.task for c in layout.columns)
        table.notes.append(f"the paper has no table for these tasks ({tasks})")
    return table


def measured_line(
    row: Row, layout: Layout, agg: str, compare: bool, paper: PaperRow | None, notes: Footnotes
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
    published: Sequence[PaperRow], matched: set[int], rows: Sequence[Row], layout: Layout, notes: Footnotes
) -> list[list[str]]:
    """The paper's rows no measured row matched, for the models we measured (all of them if the paper has none
    of our models)."""
    ours = {paper_model(r.model) for r in rows}
    models = ours & {p.model for p in published} or {p.model for p in published}
    lines = []
    for paper in published:
        if id(paper) in matched or paper.model not in models:
            continue
        line = [paper.model, f"{paper.method}{paper.marker} (paper)", paper_params_text(paper, notes)]
        line += [paper_cell(paper, c) for c in layout.columns]
        line += [fmt(_paper_average(paper), 1)] if layout.average else []
        lines.append(line)
    return lines


# --------------------------------------------------------------------------------------------- latency
# The row of the paper's Table 1 with the base model's latency (a merged LoRA is the base model).
BASE_PAPER_ROW = "Fine-Tune/LoRA"
BASE_ROW = "base (FT / merged LoRA)"
GPU_WORDS = ("nvidia", "cuda", "gpu", "tesla", "quadro", "geforce", "radeon", "instinct")
CPU_NOTE = (
    "a CPU's overhead differs from a GPU's: at batch 1 a GPU forward pass is bound by kernel launches, so the "
    "adapters' extra sequential layers cost the most there (the paper's +20-30%); a CPU pays for arithmetic, "
    "which adapters barely add"
)


def iter_latency_records(root: str | Path) -> Iterable[dict[str, Any]]:
    """Every latency record (``"kind": "latency"``) under ``<root>/latency``, or under ``root`` itself when it
    is neither an output root (has no ``records`` folder) nor has a ``latency`` one; other files are skipped
    with one warning line each, as ``iter_records`` does."""
    root = Path(root)
    if (root / "latency").is_dir():
        root = root / "latency"
    elif (root / "records").is_dir():
        return
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            log.warning("skipped: %s: not a readable latency record (%s: %s)", path, type(err).__name__, err)
            continue
        if not isinstance(data, dict) or data.get("kind") != "latency":
            log.warning('skipped: %s: not a latency record (no "kind": "latency")', path)
            continue
        yield data


def _setting(record: Mapping[str, Any]) -> tuple[int, int]:
    return int(record["batch"]), int(record["seq"])


def _paper_latency() -> dict[tuple[str, int, int], dict[str, str]]:
    return {(r["method"], int(r["batch_size"]), int(r["seq_len"])): r for r in latency_rows()}


def latency_paper_row(method: str) -> str:
    """The row of Table 1 that names the method's paper label (``Fine-Tune/LoRA`` for FT and for LoRA); empty
    for methods Table 1 does not have."""
    label = paper_method(method)
    for row in dict.fromkeys(r["method"] for r in latency_rows()):
        if label in {PAPER_METHOD_ALIASES.get(name, name) for name in row.split("/")}:
            return row
    return ""


def _paper_latency_text(paper: dict[str, str] | None, with_overhead: bool) -> str:
    if paper is None:
        return ""
    text = f" [paper {paper['latency_ms']} ms"
    return (
        text
        + (f" {paper['overhead_reported']}" if with_overhead and paper["overhead_reported"] else "")
        + "]"
    )


def latency_tables(records: Sequence[Mapping[str, Any]]) -> list[TableText]:
    """Table 1's layout per model × device × threads: rows per method, columns per batch/seq setting, cells the
    median forward time and the overhead over the base model, the paper's GPU numbers beside."""
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        groups[(record["model"], str(record["device"]), record.get("threads"))].append(record)
    return [_latency_table(key, rs) for key, rs in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def is_gpu(device: str) -> bool:
    """Whether a latency record's device name (the GPU's name or the CPU model) names a GPU."""
    return any(word in device.lower() for word in GPU_WORDS)


def _latency_cell(runs: Sequence[Mapping[str, Any]], paper_row: dict[str, str] | None) -> str:
    if not runs:
        return "missing"
    ms = statistics.median(float(r["method_ms_median"]) for r in runs)
    overhead = statistics.median(float(r["overhead"]) for r in runs)
    return f"{ms:.1f} ms {overhead:+.1%} n={len(runs)}" + _paper_latency_text(paper_row, True)


def _latency_table(key: tuple, records: Sequence[Mapping[str, Any]]) -> TableText:
    model, device, threads = key
    settings = sorted({_setting(r) for r in records}, reverse=True)  # the paper's order: largest batch first
    paper = _paper_latency()
    by_row: dict[tuple[str, Any], dict[tuple[int, int], list[Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    ranks: dict[str, set] = defaultdict(set)
    for record in records:
        ranks[record["method"]].add(record.get("r"))
    for record in records:
        r = record.get("r") if len(ranks[record["method"]]) > 1 else None
        by_row[(record["method"], r)][_setting(record)].append(record)
    headers = ["Method", "|Θ|", *(f"batch {b} / seq {s}" for b, s in settings)]
    base = [BASE_ROW, "-"]
    for setting in settings:
        times = [float(r["base_ms_median"]) for r in records if _setting(r) == setting]
        paper_base = paper.get((BASE_PAPER_ROW, *setting))
        base.append(f"{statistics.median(times):.1f} ms" + _paper_latency_text(paper_base, False))
    lines = [base]
    for (method, r), cells in sorted(by_row.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        params = [
            int(x["method_params"]) for rs in cells.values() for x in rs if x.get("method_params") is not None
        ]
        label = paper_method(method) + (f" (r={r})" if r is not None else "")
        line = [label, fmt_params(statistics.median(params) if params else None)]
        for setting in settings:
            line.append(
                _latency_cell(cells.get(setting, []), paper.get((latency_paper_row(method), *setting)))
            )
        lines.append(line)
    notes = [
        f"measured on {device}" + (f", {threads} threads" if threads else "") + "; medians over repeats; "
        "% = overhead over the base model",
        "paper: GPT-2 medium on an NVIDIA Quadro RTX8000 GPU, mean of 100 trials (Table 1)",
    ]
    if not is_gpu(device):
        notes.append(CPU_NOTE)
    return TableText(f"latency: {model} forward pass", headers, lines, notes)


# --------------------------------------------------------------------------------------------- params
# Model types whose paper tables count the causal LM (Tables 3 and 4); the others count a classifier (Table 2).
DECODER_MODEL_TYPES = ("gpt2", "llama")
PARAMS_PAPER_TABLES = ("table2_glue", "table3_e2e", "table4_gpt3")
# The presets (conf/experiment/) of the tables with a |Θ| column. Table 4's (GPT-3 175B, which cannot be run) lists
# its rows' method overrides under ``params_rows`` instead of sweeping methods.
PARAMS_PRESETS = ("table2_", "table3_", "table4_")


@cache
def _preset(name: str) -> dict[str, Any]:
    """A preset's YAML (conf/experiment/<name>.yaml) as a plain dict, read once."""
    from omegaconf import OmegaConf

    from adaptbench.harness.config.tree import CONF_DIR

    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "experiment" / f"{name}.yaml"))


def _preset_choices(name: str) -> dict[str, str]:
    """The group choices (model, method) a preset sets, its parent presets' included."""
    node = _preset(name)
    choices: dict[str, str] = {}
    for entry in node.get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_":
            choices = {**_preset_choices(entry), **choices}
        elif isinstance(entry, dict):
            choices.update({k.removeprefix("override /"): str(v) for k, v in entry.items()})
    methods = ((node.get("hydra") or {}).get("sweeper") or {}).get("params", {}).get("method")
    if methods:
        choices["methods"] = str(methods)
    return choices


def paper_variants(model: str) -> dict[str, list[list[str]]]:
    """Per method, the overrides of each of the paper's rows for ``model`` in the tables with a |Θ| column
    (Tables 2-4), from the presets of that model (conf/experiment/): the rows a preset lists under
    ``params_rows``, else one ``+experiment=<preset>`` per method it sweeps. Methods with none are counted at
    their YAML defaults."""
    from adaptbench.harness.config.tree import CONF_DIR

    variants: dict[str, list[list[str]]] = defaultdict(list)
    for path in sorted(
        p for prefix in PARAMS_PRESETS for p in (CONF_DIR / "experiment").glob(f"{prefix}*.yaml")
    ):
        choices = _preset_choices(path.stem)
        if choices.get("model") != model:
            continue
        rows = _preset(path.stem).get("params_rows")
        if rows:
            for method, overrides in rows.items():
                variants[method] += [[str(o) for o in row] for row in overrides]
            continue
        for method in choices.get("methods", choices.get("method", "")).split(","):
            variants[method.strip()].append([f"+experiment={path.stem}"])
    return variants


def params_table(model: str, compare: bool) -> TableText:
    """|Θ| of every method on ``model`` at the paper's settings, counted on the meta device."""
    import resource
    import time

    from adaptbench.harness.config.tree import group_options

    started = time.perf_counter()
    published = [row for stem in PARAMS_PAPER_TABLES for row in read_paper_table(stem)] if compare else []
    notes = Footnotes()
    lines = []
    variants = paper_variants(model)
    for method in group_options("method"):
        for overrides in variants.get(method) or [[]]:
            lines.append(_params_line(model, method, overrides, published, notes))
    seconds = time.perf_counter() - started
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    table = TableText(
        f"|Θ| on {paper_model(model)} ({model}), the paper's settings",
        ["Method", "settings", "|Θ| measured", "|Θ| formula", *(["|Θ| paper"] if compare else [])],
        lines,
        notes.lines()
        + [f"counted on the meta device (no weights) in {seconds:.1f} s, peak RSS {rss_gib:.2f} GiB"],
    )
    return table


def _params_line(
    model: str, method: str, overrides: Sequence[str], published: Sequence[PaperRow], notes: Footnotes
) -> list[str]:
    from adaptbench.harness.api.accounting import count_params
    from adaptbench.harness.config.tree import compose_run_config

    settings = (
        " ".join(o.removeprefix("method.").removeprefix("+experiment=") for o in overrides) or "YAML defaults"
    )
    try:
        cfg = compose_run_config([*overrides, f"model={model}", f"method={method}"])
        kind = "generation" if cfg.model.arch.model_type in DECODER_MODEL_TYPES else "classification"
        counts = count_params(cfg.model, cfg.method, kind)
    except (ConfigError, HydraException) as err:
        return [
            paper_method(method),
            settings,
            f"n/a: {str(err).splitlines()[0]}",
            "-",
            *(["-"] if published else []),
        ]
    line = [paper_method(method), settings, f"{counts['method_params']:,}", f"{counts['formula_params']:,}"]
    if published:
        paper = closest_row(published, model, method, counts["method_params"])
        line.append(
            params_text(None, paper, notes).removeprefix("- [paper ").removesuffix("]") if paper else "-"
        )
    return line


# --------------------------------------------------------------------------------------------- output
def render(table: TableText, form: str) -> str:
    return {"md": to_markdown, "csv": to_csv, "latex": to_latex, "rich": to_rich}[form](table)


def to_markdown(table: TableText) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [f"**{table.title}**", "", line(table.headers), "|" + "---|" * len(table.headers)]
    out += [line(row) for row in table.rows]
    return "\n".join(out + ([""] + table.notes if table.notes else []))


def to_csv(table: TableText) -> str:
    """The cells only (the title and notes go to stderr, so the output stays one CSV table)."""
    for note in table.notes:
        print(f"# {note}", file=sys.stderr)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.headers)
    writer.writerows(table.rows)
    return buffer.getvalue().rstrip("\n")


LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "Θ": r"$\Theta$",
    "·": r"$\cdot$",
    "L̂": r"$\hat{L}$",
}


def latex_escape(text: str) -> str:
    for raw, escaped in LATEX_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text


def to_latex(table: TableText) -> str:
    out = [f"% {table.title}", r"\begin{tabular}{ll" + "r" * (len(table.headers) - 2) + "}", r"\toprule"]
    out.append(" & ".join(latex_escape(h) for h in table.headers) + r" \\")
    out.append(r"\midrule")
    out += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out + [f"% {latex_escape(n)}" for n in table.notes])


def to_rich(table: TableText) -> str:
    """A boxed table (cells as plain text: ``[paper 87.5]`` is not rich markup)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rich_table = Table(title=Text(table.title), caption=Text("\n".join(table.notes)) if table.notes else None)
    for header in table.headers:
        rich_table.add_column(Text(header), overflow="fold")
    for row in table.rows:
        rich_table.add_row(*(Text(cell) for cell in row))
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(rich_table)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------- command
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="adaptbench table",
        description="The paper's tables from run records: seeds aggregated, n per cell, optionally beside the "
        "published numbers.",
    )
    parser.add_argument(
        "dirs", nargs="*", metavar="DIR", help="output roots or records folders (default: outputs)"
    )
    parser.add_argument(
        "--layout", default="auto", help=f"one of: {', '.join(LAYOUT_CHOICES)} (default: auto)"
    )
    parser.add_argument(
        "--format", default="md", dest="form", help=f"one of: {', '.join(FORMATS)} (default: md)"
    )
    parser.add_argument("--agg", default=None, help="median | mean (default: the paper's, per layout)")
    parser.add_argument("--compare", default=None, help="paper: the published numbers beside each cell")
    parser.add_argument("--model", default=None, help="the model of --layout params (or model=<name>)")
    parser.add_argument("--out", default=None, help="write the table to this file instead of printing it")
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also log the tables, figures and records to one W&B summary run ($WANDB_PROJECT, $WANDB_MODE)",
    )
    parser.add_argument(
        "--from-wandb",
        default=None,
        metavar="ENTITY/PROJECT",
        help="read the runs of a W&B project (wandb.Api) instead of records; or a folder of offline runs",
    )
    parser.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE",
        help="with --from-wandb: only runs whose config KEY has VALUE (method=lora, task=sst2, r=8); repeatable",
    )
    args = parser.parse_args(list(argv))
    for token in [d for d in args.dirs if d.startswith("model=")]:
        args.model = token.removeprefix("model=")
        args.dirs.remove(token)
    check_wandb_options(args)
    args.dirs = args.dirs or ["outputs"]
    for name, value, choices in (
        ("--layout", args.layout, LAYOUT_CHOICES),
        ("--format", args.form, FORMATS),
        ("--agg", args.agg, AGGREGATES),
        ("--compare", args.compare, ("paper",)),
    ):
        if value is not None and value not in choices:
            raise bad_choice(name, value, choices)
    return args


def check_wandb_options(args: argparse.Namespace) -> None:
    """--from-wandb replaces the DIRs of run records; --filter selects among its runs."""
    if args.filter and not args.from_wandb:
        raise ConfigError("--filter selects W&B runs: use it with --from-wandb ENTITY/PROJECT")
    if args.from_wandb and args.dirs:
        raise ConfigError(f"give either DIRs ({' '.join(args.dirs)}) or --from-wandb, not both")
    if args.from_wandb and args.layout in ("latency", "params"):
        raise ConfigError(f"--layout {args.layout} reads no run records: it cannot come --from-wandb")


def records_for(args: argparse.Namespace) -> list[Mapping[str, Any]]:
    """The run records of the command: from the DIRs, or the runs of --from-wandb (harness.wandb_tables)."""
    if args.from_wandb:
        from adaptbench.harness.report.wandb import wandb_records

        return wandb_records(args.from_wandb, args.filter)
    return load_run_records(args.dirs)


def load_run_records(dirs: Sequence[str]) -> list[Mapping[str, Any]]:
    """The run records under each directory (corrupt or foreign files: one warning line each). An output root
    with latency records and no ``records`` folder has no run records (its latency files are not read as
    broken run records)."""
    records = []
    for folder in map(Path, dirs):
        if not folder.is_dir():
            raise ConfigError(f"DIR={str(folder)!r} is not a directory; give output roots or records folders")
        if (folder / "latency").is_dir() and not (folder / "records").is_dir():
            continue
        records += iter_records(folder)
    return records


def tables_for(args: argparse.Namespace) -> list[TableText]:
    if args.layout == "params":
        if not args.model:
            raise ConfigError("--layout params needs a model: --model <name> or model=<name>")
        return [params_table(args.model, args.compare == "paper")]
    if args.layout == "latency":
        records = [r for folder in args.dirs for r in iter_latency_records(folder)]
        if not records:
            raise ConfigError(f"no latency records under {', '.join(args.dirs)} (looked in <DIR>/latency)")
        return latency_tables(records)
    records = records_for(args)
    if not records:
        raise ConfigError(f"no run records under {', '.join(args.dirs)} (looked in <DIR>/records)")
    compare = args.compare == "paper"
    if args.layout == "auto":
        return [run_table(rs, layout, args.agg, compare) for layout, rs in split_by_layout(records)]
    layout = LAYOUTS[args.layout]
    selected = [r for r in records if any(c.selects(r) for c in layout.columns)]
    if not selected:
        raise ConfigError(
            f"no records of --layout {args.layout}'s tasks ({', '.join({c.task for c in layout.columns})})"
        )
    return [run_table(selected, layout, args.agg, compare)]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    tables = tables_for(args)
    text = "\n\n".join(render(table, args.form) for table in tables) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(args.out)
    else:
        sys.stdout.write(text)
    if args.wandb:
        from adaptbench.harness.report.wandb import log_summary_run

        print(f"W&B summary run: {log_summary_run(args, tables)}", file=sys.stderr)
    return 0
