"""Table layouts: which columns a table has (task, metric, scale, digits) and the paper CSV it compares with.

A layout is data: one YAML file in ``conf/layout/`` (or a folder given to ``adaptbench table --layout-dir``), so a
new task's table is a YAML file and no Python."""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from adaptbench.harness.api.errors import ConfigError, bad_choice
from adaptbench.harness.config.tree import CONF_DIR
from adaptbench.harness.report.paper import KeyedRows, SettingColumn

LAYOUT_FOLDER = "layout"  # conf/layout/<name>.yaml
# Layouts that are not a YAML file: one column per task (``auto``), latency records, |Θ| counts and each
# method's cost beside full fine-tuning.
BUILT_IN = ("auto", "latency", "params", "cost")
AGGREGATES = ("median", "mean")


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
        return all(task_cfg.get(key, _task_default(self.task, key)) == value for key, value in self.where)


@cache
def _task_default(task: str, key: str) -> Any:
    """``key``'s value in ``conf/task/<task>.yaml``: what a record made before the setting existed ran with (a
    WebNLG record without ``categories`` scored all categories; an MNLI record without ``form`` classified)."""
    from omegaconf import OmegaConf

    path = CONF_DIR / "task" / f"{task}.yaml"
    return OmegaConf.load(path).get(key) if path.is_file() else None


@dataclass(frozen=True)
class TableLayout:
    """A table's columns, how seeds aggregate (``agg``), and the paper's CSV it compares with."""

    name: str
    columns: tuple[Column, ...]
    agg: str
    paper_table: str | None = None
    average: bool = False  # Table 2's "Avg." column
    title: str = ""
    # the paper's model whose rows stand beside a model the paper lacks (Table 4's GPT-3 175B beside an open one)
    paper_model: str | None = None
    # how to read a paper CSV whose rows are settings of one method (Tables 5, 6): rows then match by settings
    paper_rows: KeyedRows | None = None


@dataclass
class SettingEntry:
    """The schema of one ``paper_rows.settings`` entry: the CSV column a run setting is read from."""

    column: str
    split: str | None = None
    names: dict[str, str] | None = None


@dataclass
class PaperRowsEntry:
    """The schema of a layout's ``paper_rows``: the paper's model and method of every row (the CSV has neither
    column), the run settings each row was published at, and (Table 6) the columns that are one setting's
    values."""

    model: str
    method: str
    settings: dict[str, SettingEntry]
    params: str | None = None
    unpivot_setting: str | None = None
    unpivot_columns: str | None = None
    unpivot_key: str | None = None


@dataclass
class LayoutFile:
    """The schema of a ``conf/layout/*.yaml`` file (validated by OmegaConf: unknown keys and wrong types fail)."""

    title: str
    columns: list[dict[str, Any]]
    aggregation: str = "median"
    paper_table: str | None = None
    average: bool = False
    paper_model: str | None = None
    paper_rows: PaperRowsEntry | None = None


@dataclass
class ColumnEntry:
    """The schema of one entry of a layout's ``columns``."""

    header: str
    task: str
    metric: str
    scale: float = 1.0
    paper_key: str | None = None
    where: dict[str, Any] | None = None
    digits: int = 1


def _typed(schema: type, node: Any, where: str) -> Any:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))
    except OmegaConfBaseException as err:
        raise ConfigError(f"{where}: {str(err).splitlines()[0]}") from None


def read_layout(path: Path) -> TableLayout:
    """One layout file, checked (one line naming the file and the bad key otherwise)."""
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.load(path)
    except Exception as err:  # YAML syntax, encoding, unreadable: one line naming the file
        raise ConfigError(
            f"{path}: not a readable layout ({type(err).__name__}: {str(err).splitlines()[0]})"
        ) from None
    spec = _typed(LayoutFile, node, str(path))
    if spec.aggregation not in AGGREGATES:
        raise bad_choice(f"{path}: aggregation", spec.aggregation, AGGREGATES)
    columns = []
    for i, entry in enumerate(spec.columns):
        c = _typed(ColumnEntry, entry, f"{path}: columns[{i}]")
        where = tuple((c.where or {}).items())
        columns.append(Column(c.header, c.task, c.metric, float(c.scale), c.paper_key, where, c.digits))
    if not columns:
        raise ConfigError(f"{path}: columns is empty; a layout needs at least one column")
    return TableLayout(
        path.stem,
        tuple(columns),
        spec.aggregation,
        spec.paper_table,
        spec.average,
        spec.title,
        spec.paper_model,
        keyed_rows(spec.paper_rows, path),
    )


def keyed_rows(entry: PaperRowsEntry | None, path: Path) -> KeyedRows | None:
    if entry is None:
        return None
    unpivot = (entry.unpivot_setting, entry.unpivot_columns, entry.unpivot_key)
    if any(unpivot) and not all(unpivot):
        raise ConfigError(
            f"{path}: paper_rows needs all of unpivot_setting, unpivot_columns, unpivot_key, or none of them"
        )
    settings = tuple(
        (name, SettingColumn(s.column, s.split, tuple((s.names or {}).items())))
        for name, s in entry.settings.items()
    )
    return KeyedRows(entry.model, entry.method, settings, entry.params, *unpivot)


_extra_dirs: list[Path] = []


def add_layout_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--layout-dir DIR`` option of every command that renders tables (``table``, ``report``)."""
    parser.add_argument(
        "--layout-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="also read the table layouts (YAML, as conf/layout/) in DIR; repeatable",
    )


def add_layout_dirs(dirs: Sequence[str | Path]) -> None:
    """Also read the layouts in ``dirs`` (``adaptbench table --layout-dir``); a name there replaces the packaged
    layout of that name."""
    for d in map(Path, dirs):
        if not d.is_dir():
            raise ConfigError(f"--layout-dir={str(d)!r} is not a directory of layout YAML files")
        _extra_dirs.append(d)
    _read_layouts.cache_clear()


@cache
def _read_layouts(dirs: tuple[Path, ...]) -> dict[str, TableLayout]:
    found: dict[str, TableLayout] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.yaml")):
            if path.stem in BUILT_IN:
                raise ConfigError(f"{path}: {path.stem!r} is a built-in layout; name the file otherwise")
            found[path.stem] = read_layout(path)
    return found


def layouts() -> dict[str, TableLayout]:
    """Every table layout by name: ``conf/layout/*.yaml`` and the ``--layout-dir`` folders."""
    return _read_layouts((CONF_DIR / LAYOUT_FOLDER, *_extra_dirs))


def layout_choices() -> tuple[str, ...]:
    return ("auto", *layouts(), "latency", "params", "cost")


def auto_layout(records: Sequence[Mapping[str, Any]]) -> TableLayout:
    """One column per task (sorted) with its ``metric_for_best``, unscaled, median over seeds."""
    metrics: dict[str, str] = {}
    for record in records:
        metrics.setdefault(record["task"], record.get("metric_for_best") or "main")
    columns = tuple(
        Column(f"{task} {metric}", task, metric, digits=4) for task, metric in sorted(metrics.items())
    )
    return TableLayout("auto", columns, "median", title="tasks without a paper table")


def layout_of_task(task: str) -> TableLayout | None:
    """The paper layout that has a column for ``task`` (None for tasks no paper table has)."""
    return next((lay for lay in layouts().values() if any(c.task == task for c in lay.columns)), None)


def column_of_record(record: Mapping[str, Any]) -> tuple[TableLayout, Column] | None:
    """The paper layout column that holds ``record`` (None for a task no paper table has). Several may: MNLI is in
    GLUE's Table 2 and, as generation, in Table 4; WikiSQL in Tables 4, 5, 6 and 15. The record's own task
    settings decide first (``task.form=generation``: Table 4's MNLI-m column), then the widest table (Table 4's
    five columns before Table 5's two), then the name."""
    task_cfg = (record.get("config") or {}).get("task") or {}

    def rank(found: tuple[TableLayout, Column]) -> tuple[bool, int, str]:
        layout, column = found
        explicit = bool(column.where) and all(task_cfg.get(k, object()) == v for k, v in column.where)
        return (not explicit, -len(layout.columns), layout.name)

    found = [(lay, c) for lay in layouts().values() for c in lay.columns if c.selects(record)]
    return min(found, key=rank) if found else None


def figure_column(record: Mapping[str, Any]) -> tuple[Column, str]:
    """The column a figure plots ``record`` in (its ``metric_for_best``, in the paper's unit where a paper layout
    holds it: ``column_of_record``) and how that layout aggregates seeds."""
    metric = record.get("metric_for_best") or "main"
    found = column_of_record(record)
    if found is None:
        return Column(record["task"], record["task"], metric, digits=4), "median"
    layout, paper = found
    same = [
        c for c in layout.columns if c.task == paper.task and c.metric == metric and c.where == paper.where
    ]
    if not same:  # a metric the paper's column does not print: as recorded
        return Column(record["task"], record["task"], metric, digits=4), layout.agg
    return Column(same[0].header, paper.task, metric, same[0].scale, where=paper.where), layout.agg


def in_table_units(task: str, scores: Mapping[str, float]) -> dict[str, float]:
    """Scores in the unit the task's tables print them (the paper's), by each metric's column ``scale``:
    ``adaptbench score`` then says BLEU 0-100 for E2E (a fraction in its records, as e2e-metrics writes it) and
    for WebNLG/DART (0-100 in theirs) alike, the numbers of ``adaptbench table``."""
    layout = layout_of_task(task)
    scale = {c.metric: c.scale for c in (layout.columns if layout else ()) if c.task == task}
    return {key: value * scale.get(key, 1.0) for key, value in scores.items()}


def split_by_layout(
    records: Sequence[Mapping[str, Any]],
) -> list[tuple[TableLayout, list[Mapping[str, Any]]]]:
    """``--layout auto``: each record goes to the paper layout that has its task, the rest to one auto table."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        found = column_of_record(record)
        groups[found[0].name if found else ""].append(record)
    return [
        (layouts()[name] if name else auto_layout(rs), rs)
        for name, rs in sorted(groups.items(), key=_auto_last)
    ]


def _auto_last(item: tuple[str, Any]) -> tuple[bool, str]:
    return (item[0] == "", item[0])
