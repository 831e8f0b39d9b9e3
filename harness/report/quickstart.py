"""Comparison tables over run records (the quickstart table; the paper tables build on the same rows)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def summary_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a comparison table shows for one run record."""
    best = record.get("best") or {}
    metrics = best.get("metrics", {})
    metric = record["metric_for_best"]
    return {
        "method": record["method"],
        "model": record["model"],
        "task": record["task"],
        "seed": record["seed"],
        "method_params": record["params"]["method_params"],
        "trainable_params": record["params"]["trainable_params"],
        "train_seconds": record["train"]["train_seconds"],
        "metric": metric,
        "score": metrics.get(metric),
        "best_epoch": best.get("epoch"),
        "majority_baseline": metrics.get("majority_baseline"),
    }


def comparison_table(records: Iterable[Mapping[str, Any]], title: str) -> Table:
    rows = [summary_row(r) for r in records]
    metrics = sorted({row["metric"] for row in rows})
    table = Table(title=title)
    score_header = f"dev {metrics[0]}" if len(metrics) == 1 else "dev score"
    for column in ("method", "|Θ| method", "trainable", "train s", score_header, "best epoch"):
        table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for row in rows:
        score = "-" if row["score"] is None else f"{row['score']:.4f}"
        table.add_row(
            row["method"],
            f"{row['method_params']:,}",
            f"{row['trainable_params']:,}",
            f"{row['train_seconds']:.1f}",
            score if len(metrics) == 1 else f"{row['metric']} {score}",
            "-" if row["best_epoch"] is None else f"{row['best_epoch']:g}",
        )
    table.caption = "|Θ|: parameters the method trains (the paper's count); trainable: with the task head"
    baselines = {row["majority_baseline"] for row in rows if row["majority_baseline"] is not None}
    if len(baselines) == 1:
        table.caption += f"\nmajority-class baseline on dev: accuracy {baselines.pop():.4f}"
    return table


def print_table(table: Table) -> None:
    Console().print(table)
