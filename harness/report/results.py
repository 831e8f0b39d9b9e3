"""The results model: the records of a report's sources, read once, and the grid of each table layout over them,
built once. ``adaptbench table`` (and its ``--wandb`` summary run: tables, cell numbers, figures), ``adaptbench
plot``, the cost table, a sweep's ``multirun.md`` and the quickstart table all render from one ``Results``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.records.store import iter_records
from adaptbench.harness.report.cost import CostRow, build_cost_rows
from adaptbench.harness.report.grid import Row, build_rows
from adaptbench.harness.report.latency_table import iter_latency_records
from adaptbench.harness.report.layouts import TableLayout, split_by_layout


def run_records_under(dirs: Sequence[str]) -> list[Mapping[str, Any]]:
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


@dataclass
class Results:
    """Run records and latency records, and the table grids over them (each built on first use, then kept)."""

    runs: list[Mapping[str, Any]]
    latency: list[Mapping[str, Any]] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)  # the folders read (empty for records from W&B)
    _grids: dict[TableLayout, list[Row]] = field(default_factory=dict, repr=False)
    _cost: tuple[list[CostRow], dict[tuple[str, str], CostRow]] | None = field(default=None, repr=False)

    @classmethod
    def from_dirs(cls, dirs: Sequence[str], latency: bool = True) -> Results:
        runs = run_records_under(dirs)
        found = [r for folder in dirs for r in iter_latency_records(folder)] if latency else []
        return cls(runs, found, list(dirs))

    @classmethod
    def from_wandb(cls, source: str, filters: Sequence[str] | None) -> Results:
        from adaptbench.harness.report.wandb import wandb_records

        return cls(wandb_records(source, filters))

    def by_layout(self) -> list[tuple[TableLayout, list[Mapping[str, Any]]]]:
        """``--layout auto``: each record under the paper layout that has its task, the rest in one auto table."""
        return split_by_layout(self.runs)

    def selected(self, layout: TableLayout) -> list[Mapping[str, Any]]:
        return [r for r in self.runs if any(c.selects(r) for c in layout.columns)]

    def grid(self, layout: TableLayout, records: Sequence[Mapping[str, Any]] | None = None) -> list[Row]:
        """The layout's rows over ``records`` (default: the records it selects), built once per layout."""
        if layout not in self._grids:
            self._grids[layout] = build_rows(self.selected(layout) if records is None else records, layout)
        return self._grids[layout]

    def grids(self) -> list[tuple[TableLayout, list[Row]]]:
        """Every table of ``--layout auto`` as (layout, rows)."""
        return [(layout, self.grid(layout, records)) for layout, records in self.by_layout()]

    def cost(self) -> tuple[list[CostRow], dict[tuple[str, str], CostRow]]:
        """The cost rows (model × method × settings × task) and the full fine-tuning row of each model × task,
        built once (harness.report.cost)."""
        if self._cost is None:
            self._cost = build_cost_rows(self.runs)
        return self._cost
