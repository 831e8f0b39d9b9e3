"""``adaptbench plot``: the paper's figures from run and latency records, as PNG and SVG.

- ``score_vs_params``: score against |Θ| on a log axis, one series per method, one panel per task (Figure 2);
- ``score_vs_memory``, ``score_vs_time``: score against the runs' peak memory and training time, where the
  records have them, with each panel's Pareto front (the points no other point beats on both: as cheap or
  cheaper and scoring as high or higher) as a dashed staircase, the best score reachable within each cost;
- ``latency_overhead``: forward-latency overhead against batch size, one panel per sequence length, one line per
  method (Figure 5), from latency records (``<dir>/latency/``);
- ``score_vs_rank``: score against the rank r, where records of one method differ in r (Table 6).

Scores are aggregated over seeds as ``adaptbench table`` does (median for GLUE and other classification tasks,
mean for NLG), in the paper's unit, with the spread over seeds as error bars. A figure the records cannot
support is skipped with one line saying why.
"""

from __future__ import annotations

import argparse
import math
import statistics
import textwrap
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first: no display needed)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator  # noqa: E402

from adaptbench.harness.api.errors import ConfigError  # noqa: E402
from adaptbench.harness.records.store import check_out_folder
from adaptbench.harness.report.grid import Row
from adaptbench.harness.report.layouts import Column, TableLayout, figure_column
from adaptbench.harness.report.paper import paper_method, paper_model  # noqa: E402
from adaptbench.harness.report.results import Results

FORMATS = ("png", "svg")
PANEL_SIZE = (4.2, 3.4)  # inches per panel
MIN_WIDTH = 6.4  # inches: room for the figure title above a single panel
YLABEL_WIDTH = 28  # characters a y-axis label line holds beside a 4.2-inch panel


class Skip(Exception):
    """The records do not support a figure; the message says why."""


def task_rows(results: Results) -> dict[str, tuple[str, list[Row], str]]:
    """Per panel (sorted): the y-axis label, the rows (model × method × differing settings) with a score, and
    how seeds are aggregated. A panel is a task's paper column (``layouts.figure_column``): MNLI as generation
    (Table 4's MNLI-m, a mean over seeds) is a panel apart from MNLI with a classification head (GLUE's, a
    median), so that a method's points never mix the two."""
    by_column: dict[Column, list[Mapping[str, Any]]] = defaultdict(list)
    aggs: dict[Column, str] = {}
    for record in results.runs:
        column, agg = figure_column(record)
        by_column[column].append(record)
        aggs[column] = agg
    result = {}
    for column, records in sorted(by_column.items(), key=lambda item: item[0].header):
        layout = TableLayout(column.header, (column,), aggs[column])
        rows = [
            r for r in results.grid(layout, records) if r.cells[column.header].value(layout.agg) is not None
        ]
        metric = column.metric
        unit = "" if column.scale == 1 else " (%)" if metric == "accuracy" else f" (×{column.scale:g})"
        result[column.header] = (f"dev {metric}{unit}, {layout.agg} over seeds", rows, layout.agg)
    return result


def series_label(row: Row, models: set[str]) -> str:
    name = paper_method(row.method)
    return f"{name} ({paper_model(row.model)})" if len(models) > 1 else name


def series_colours(labels: Sequence[str]) -> dict[str, Any]:
    """One colour per series label for the whole figure (matplotlib's cycle restarts in every panel, so a
    method present in only some panels changed colour from panel to panel)."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    palette = cycle if len(set(labels)) <= len(cycle) else list(plt.get_cmap("tab20").colors)
    return {label: palette[i % len(palette)] for i, label in enumerate(sorted(set(labels)))}


def set_ylabel(ax: Any, label: str) -> None:
    """A long y label wrapped onto lines, so that it stays in its panel's margin, clear of the next panel."""
    ax.set_ylabel(textwrap.fill(label, YLABEL_WIDTH))


def panels(count: int) -> tuple[Figure, list[Any]]:
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(max(PANEL_SIZE[0] * columns, MIN_WIDTH), PANEL_SIZE[1] * rows),
        squeeze=False,
        layout="constrained",  # spaces panels by their labels' real extent (tight_layout let them overlap)
    )
    flat = list(axes.flat)
    for unused in flat[count:]:
        unused.set_visible(False)
    return figure, flat[:count]


def plain_ticks(ax: Any, values: Sequence[float]) -> None:
    """Ticks at the measured values, written plainly (``16``, not ``2^4``), on a log axis."""
    ticks = sorted(set(values))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())


def score_vs_params(results: Results) -> Figure:
    return score_vs_cost(
        results,
        lambda row: row.params,
        "trainable parameters |Θ| (log scale)",
        "Score vs trainable parameters (cf. the paper's Figure 2)",
        "no complete run record has a parameter count",
        log_x=True,
    )


# what a record's ``peak_memory_kind`` measured (harness.run.outcome)
MEMORY_KINDS = {"process_max_rss": "process peak RSS", "cuda_allocated": "peak CUDA allocation"}


def score_vs_memory(results: Results) -> Figure:
    kinds = sorted({MEMORY_KINDS.get(k, k) for rows in _all_rows(results) for _, k in rows.peak_memory})
    return score_vs_cost(
        results,
        lambda row: statistics.median(b for b, _ in row.peak_memory) / 2**30 if row.peak_memory else None,
        f"peak memory (GiB, {', '.join(kinds)}; median over seeds)",
        "Score vs peak memory of training",
        "no complete run record has its peak memory (peak_memory_bytes)",
        front=True,
    )


def score_vs_time(results: Results) -> Figure:
    return score_vs_cost(
        results,
        lambda row: statistics.median(row.train_seconds) if row.train_seconds else None,
        "training time (s, median over seeds)",
        "Score vs training time",
        "no complete run record has its training time (train.train_seconds)",
        front=True,
    )


def _all_rows(results: Results) -> list[Row]:
    return [row for _, rows, _ in task_rows(results).values() for row in rows]


def score_vs_cost(
    results: Results,
    x_of: Callable[[Row], float | None],
    xlabel: str,
    title: str,
    why_none: str,
    log_x: bool = False,
    front: bool = False,
) -> Figure:
    """Score against a row's cost ``x_of(row)`` (|Θ|, memory, time), one series per model × method, one panel
    per task that has a row with that cost; ``front``: each panel's :func:`pareto_front` over all its points."""
    tasks = task_rows(results)
    if not tasks:
        raise Skip("no complete run records with a score")
    panel_series = {task: _cost_series(rows, agg, task, x_of) for task, (_, rows, agg) in tasks.items()}
    panel_series = {task: series for task, series in panel_series.items() if series}
    if not panel_series:
        raise Skip(why_none)
    figure, axes = panels(len(panel_series))
    colours = series_colours([label for series in panel_series.values() for label in series])
    for ax, (task, series) in zip(axes, panel_series.items(), strict=True):
        for label, points in sorted(series.items()):
            xs, ys, errs = zip(*sorted(points), strict=True)
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label, color=colours[label])
        if front:
            points = [(x, y) for points in series.values() for x, y, _ in points]
            xs, ys = zip(*pareto_front(points, greater_is_better(results, task)), strict=True)
            ax.plot(
                xs, ys, drawstyle="steps-post", linestyle="--", color="black", label=PARETO_LABEL, zorder=1
            )
        if log_x:
            ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel(xlabel)
        set_ylabel(ax, tasks[task][0])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle(f"{title}\nbars: ±1 standard deviation over seeds")
    return figure


PARETO_LABEL = "Pareto front"


def pareto_front(points: Sequence[tuple[float, float]], higher: bool = True) -> list[tuple[float, float]]:
    """The non-dominated (cost, score) points, by rising cost: those that no other point matches or beats on both
    (a cost as low or lower and a score as good or better, one of them strictly; better is higher, or lower where
    ``higher`` is false). Equal points are kept once. Walking the points by rising cost (the better score first
    at equal cost), a point is on the front when it scores better than every cheaper one."""
    sign = 1 if higher else -1
    front: list[tuple[float, float]] = []
    for x, y in sorted(set(points), key=lambda p: (p[0], -sign * p[1])):
        if not front or sign * y > sign * front[-1][1]:
            front.append((x, y))
    return front


def greater_is_better(results: Results, panel: str) -> bool:
    """Whether a higher score is better in a panel (the records' ``greater_is_better``: a loss is not)."""
    return all(r.get("greater_is_better", True) for r in results.runs if figure_column(r)[0].header == panel)


def _cost_series(
    rows: Sequence[Row], agg: str, task: str, x_of: Callable[[Row], float | None]
) -> dict[str, list[tuple[float, float, float]]]:
    """Per model × method: (cost, score, spread) of each row with that cost."""
    models = {r.model for r in rows}
    series: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for row in rows:
        cell, x = row.cells[task], x_of(row)
        if x:
            series[series_label(row, models)].append((x, cell.value(agg), cell.spread or 0.0))
    return series


def score_vs_rank(results: Results) -> Figure:
    tasks = {
        task: entry for task, entry in task_rows(results).items() if _rank_series(entry[1], entry[2], task)
    }
    if not tasks:
        raise Skip("no method has records at more than one r (sweep method.r to plot it)")
    figure, axes = panels(len(tasks))
    panel_series = {task: _rank_series(rows, agg, task) for task, (_, rows, agg) in tasks.items()}
    colours = series_colours([label for series in panel_series.values() for label in series])
    for ax, (task, (ylabel, _, _)) in zip(axes, tasks.items(), strict=True):
        for label, points in sorted(panel_series[task].items()):
            xs, ys, errs = zip(*sorted(points), strict=True)
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label, color=colours[label])
        ax.set_xscale("log", base=2)
        plain_ticks(ax, [p[0] for points in panel_series[task].values() for p in points])
        ax.set_title(task)
        ax.set_xlabel("rank r (log scale)")
        set_ylabel(ax, ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle("Score vs rank r (cf. the paper's Table 6)\nbars: ±1 standard deviation over seeds")
    return figure


def _rank_series(rows: Sequence[Row], agg: str, task: str) -> dict[str, list[tuple[float, float, float]]]:
    """Per model × method (and other differing settings): (r, score, spread), where r takes 2+ values."""
    models = {r.model for r in rows}
    series: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for row in rows:
        settings = dict(row.settings)
        if settings.get("r") is None:
            continue
        others = " ".join(f"{k}={v}" for k, v in row.settings if k != "r")
        label = series_label(row, models) + (f" {others}" if others else "")
        cell = row.cells[task]
        series[label].append((float(settings["r"]), cell.value(agg), cell.spread or 0.0))
    return {label: points for label, points in series.items() if len({p[0] for p in points}) > 1}


def latency_overhead(results: Results) -> Figure:
    latency = results.latency
    if not latency:
        raise Skip("no latency records (adaptbench latency writes them to <output_root>/latency/)")
    by_seq: dict[int, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for record in latency:
        by_seq[int(record["seq"])][record["method"]].append(
            (int(record["batch"]), 100 * float(record["overhead"]))
        )
    devices = sorted({str(r["device"]) for r in latency})
    models = sorted({paper_model(r["model"]) for r in latency})
    figure, axes = panels(len(by_seq))
    colours = series_colours([paper_method(method) for methods in by_seq.values() for method in methods])
    for ax, (seq, methods) in zip(axes, sorted(by_seq.items()), strict=True):
        for method, points in sorted(methods.items()):
            xs, ys = zip(*sorted(points), strict=True)
            label = paper_method(method)
            ax.plot(xs, ys, marker="o", label=label, color=colours[label])
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xscale("log", base=2)
        plain_ticks(ax, [batch for points in methods.values() for batch, _ in points])
        ax.set_title(f"sequence length {seq}")
        ax.set_xlabel("batch size (log scale)")
        ax.set_ylabel("latency overhead (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle(
        f"Forward latency overhead over the base model, {', '.join(models)} on {', '.join(devices)} (cf. the paper's Figure 5)"
    )
    return figure


FIGURES: dict[str, Callable[[Results], Figure]] = {
    "score_vs_params": score_vs_params,
    "score_vs_memory": score_vs_memory,
    "score_vs_time": score_vs_time,
    "latency_overhead": latency_overhead,
    "score_vs_rank": score_vs_rank,
}


def save(figure: Figure, out: Path, name: str) -> list[Path]:
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    paths = [out / f"{name}.{form}" for form in FORMATS]
    for path in paths:
        figure.savefig(path, dpi=150)
    plt.close(figure)
    return paths


def plot_all(results: Results, out: Path) -> list[Path]:
    """Every figure the records support, written under ``out``; one line per figure skipped."""
    check_out_folder(out)
    written = []
    for name, make in FIGURES.items():
        try:
            figure = make(results)
        except Skip as why:
            print(f"skipped {name}: {why}")
            continue
        written += save(figure, out, name)
    return written


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="adaptbench plot", description=__doc__.splitlines()[0])
    parser.add_argument(
        "dirs", nargs="*", metavar="DIR", help="output roots or records folders (default: outputs)"
    )
    parser.add_argument("--out", required=True, help="folder for the figures (PNG and SVG)")
    args = parser.parse_args(list(argv))
    written = plot_all(Results.from_dirs(args.dirs or ["outputs"]), Path(args.out))
    for path in written:
        print(path)
    if not written:
        raise ConfigError(f"no figure: the records under {', '.join(args.dirs or ['outputs'])} support none")
    return 0
