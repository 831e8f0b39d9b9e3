"""The results model: records read once and arranged as rows (model x method x differing settings) of cells
(one per column, seeds aggregated). Tables, plots, W&B summary tables and the sweep summary render from it."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adaptbench.harness.api.node_keys import NAMING_KEYS
from adaptbench.harness.records.hashing import result_config
from adaptbench.harness.report.layouts import Column, TableLayout
from adaptbench.harness.report.paper import (
    paper_method,
)

# Method settings that never tell two rows apart (identity and bookkeeping keys of the method node).
# Config sections that place a run in the grid (row, column, seed) rather than set it.
CELL_KEYS = ("model", "task", "seed")


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
    # every result-changing setting of the row's runs (``run_settings``), not only those that tell rows apart:
    # what a settings-keyed paper table (Tables 5, 6) matches on
    all_settings: dict[str, Any] = field(default_factory=dict)
    # each complete run's cost, where its record has it (the figures' other x axes)
    peak_memory: list[tuple[int, str]] = field(default_factory=list)  # (bytes, peak_memory_kind)
    train_seconds: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return row_label(self.method, self.settings)

    @property
    def params(self) -> int | None:
        return int(statistics.median(self.method_params)) if self.method_params else None


def row_label(method: str, settings: Sequence[tuple[str, Any]]) -> str:
    """``LoRA (r=8)``: the method's paper name and the settings that tell its rows apart."""
    extra = " ".join(f"{key}={value}" for key, value in settings)
    return paper_method(method) + (f" ({extra})" if extra else "")


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


def build_rows(records: Sequence[Mapping[str, Any]], layout: TableLayout) -> list[Row]:
    """The layout's rows: every record of one of its columns lands in exactly one cell."""
    differing = differing_settings(records)
    rows: dict[tuple, Row] = {}
    for record in records:
        key = row_key(record, differing)
        row = rows.setdefault(
            key,
            Row(key[0], key[1], key[2], {c.header: Cell() for c in layout.columns}, [], run_settings(record)),
        )
        for column in layout.columns:
            if column.selects(record):
                _add_to_cell(row.cells[column.header], record, column)
        if record.get("status") == "complete":
            _add_costs(row, record)
    for row in rows.values():
        _count_missing(row)
    return sorted(rows.values(), key=lambda r: (r.model, r.method, str(r.settings)))


def _add_costs(row: Row, record: Mapping[str, Any]) -> None:
    if record.get("params"):
        row.method_params.append(int(record["params"]["method_params"]))
    if record.get("peak_memory_bytes"):
        row.peak_memory.append((int(record["peak_memory_bytes"]), str(record.get("peak_memory_kind") or "")))
    seconds = (record.get("train") or {}).get("train_seconds")
    if seconds:
        row.train_seconds.append(float(seconds))


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
