"""What each method costs beside full fine-tuning: ``adaptbench table --layout cost`` (and the cost section of
``--compare paper``), from the run records of a ``Results``.

One row per model × method (× the settings that differ, as in the score tables) × task: |Θ|, peak memory, train
samples/s and tokens/s, and the training seconds to the best evaluation, each the median over the row's complete
seeds and its ratio to full fine-tuning of the same model and task in the same records. Full fine-tuning is
recognised by its records, not by a method name: the runs that train every parameter of the model
(``params.trainable_params == params.total_params``); several such rows of one model × task pool their seeds.

Seconds to the best evaluation are ``train_seconds · best.step / steps``: records keep the total training time
and the step of each evaluation, not a clock per evaluation, so the time is prorated at the run's mean step time.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adaptbench.harness.report.data_table import DataTable
from adaptbench.harness.report.grid import differing_settings, row_key
from adaptbench.harness.report.paper import paper_method, paper_model, parse_count, read_csv
from adaptbench.harness.report.text import TableText, fmt_params

GIB = 1024**3


def seconds_to_best(record: Mapping[str, Any]) -> float | None:
    """Training seconds until the best evaluation's step (prorated: see the module docstring)."""
    train, best = record.get("train") or {}, record.get("best") or {}
    seconds, steps, step = train.get("train_seconds"), train.get("steps"), best.get("step")
    if seconds is None or not steps or step is None:
        return None
    return float(seconds) * min(float(step), float(steps)) / float(steps)


@dataclass(frozen=True)
class Quantity:
    """One cost column: its header, how a record gives it, how a value prints, and its CSV name."""

    key: str
    header: str
    of: Callable[[Mapping[str, Any]], float | None]
    text: Callable[[float], str]


def _train(key: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda record: (record.get("train") or {}).get(key)


QUANTITIES = (
    Quantity("params", "|Θ|", lambda r: (r.get("params") or {}).get("method_params"), fmt_params),
    Quantity(
        "peak_memory_gib", "peak memory", lambda r: _gib(r.get("peak_memory_bytes")), lambda v: f"{v:.3f} GiB"
    ),
    Quantity(
        "train_samples_per_s", "train samples/s", _train("train_samples_per_second"), lambda v: f"{v:.1f}"
    ),
    Quantity(
        "train_tokens_per_s", "train tokens/s", _train("train_tokens_per_second"), lambda v: f"{v:,.0f}"
    ),
    Quantity("seconds_to_best", "s to best eval", seconds_to_best, lambda v: f"{v:.1f}"),
)


def _gib(value: Any) -> float | None:
    return None if value is None else float(value) / GIB


def trains_everything(record: Mapping[str, Any]) -> bool:
    """Full fine-tuning, told by the record: every parameter of the model trains."""
    params = record.get("params") or {}
    total = params.get("total_params")
    return bool(total) and params.get("trainable_params") == total


@dataclass
class CostRow:
    """One model × method (× differing settings) × task: per quantity the values of its complete seeds."""

    model: str
    method: str
    settings: tuple[tuple[str, Any], ...]
    task: str
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    full: bool = False  # its runs train every parameter (the reference of the ratios)

    @property
    def label(self) -> str:
        extra = " ".join(f"{key}={value}" for key, value in self.settings)
        return paper_method(self.method) + (f" ({extra})" if extra else "")

    @property
    def n(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)

    def value(self, key: str) -> float | None:
        found = self.values.get(key) or []
        return statistics.median(found) if found else None


def build_cost_rows(
    records: Sequence[Mapping[str, Any]],
) -> tuple[list[CostRow], dict[tuple[str, str], CostRow]]:
    """The cost rows of the complete records (sorted by model, task, method) and, per model × task, the pooled
    full fine-tuning row the ratios divide by."""
    complete = [r for r in records if r.get("status") == "complete"]
    differing = differing_settings(complete)
    rows: dict[tuple, CostRow] = {}
    reference: dict[tuple[str, str], CostRow] = {}
    for record in complete:
        model, method, settings = row_key(record, differing)
        row = rows.setdefault(
            (model, method, settings, record["task"]), CostRow(model, method, settings, record["task"])
        )
        full = trains_everything(record)
        row.full = row.full or full
        targets = [row]
        if full:
            targets.append(
                reference.setdefault((model, record["task"]), CostRow(model, method, (), record["task"]))
            )
        for quantity in QUANTITIES:
            value = quantity.of(record)
            if value is not None:
                for target in targets:
                    target.values[quantity.key].append(float(value))
    ordered = sorted(rows.values(), key=lambda r: (r.model, r.task, not r.full, r.method, str(r.settings)))
    return ordered, reference


def ratio(row: CostRow, reference: CostRow | None, key: str) -> float | None:
    """``row``'s median over the reference's, None where either is missing (or the reference is 0)."""
    mine, theirs = row.value(key), reference.value(key) if reference else None
    return None if mine is None or not theirs else mine / theirs


def conditions(records: Sequence[Mapping[str, Any]]) -> str:
    """The device(s), precision(s) and peak-memory kind(s) the records ran with, for the caption."""

    def values(of: Callable[[Mapping[str, Any]], Any]) -> str:
        found = sorted({str(of(r)) for r in records if of(r) is not None})
        return ", ".join(found) or "unknown"

    device = values(lambda r: (r.get("provenance") or {}).get("device"))
    precision = values(lambda r: ((r.get("config") or {}).get("trainer") or {}).get("precision"))
    memory = values(lambda r: r.get("peak_memory_kind"))
    return f"device {device}, precision {precision}, peak memory = {memory}"


@dataclass(frozen=True)
class PaperCost:
    """Section 4.2's GPT-3 175B numbers (results/paper/section42_cost.csv), in the paper's units (GB)."""

    model: str
    method: str
    params_label: str
    peak_memory_gb: float
    throughput_ratio: float


def paper_costs() -> list[PaperCost]:
    return [
        PaperCost(
            row["model"],
            row["method"],
            row["trainable_params"],
            float(row["peak_memory_gb"]),
            float(row["train_throughput_ratio"]),
        )
        for row in read_csv("section42_cost")
    ]


def cost_lines(
    rows: Sequence[CostRow], reference: Mapping[tuple[str, str], CostRow]
) -> tuple[list[list[str]], list[list[Any]]]:
    """Text cells (``value ×ratio``) and plain numbers (value and ratio columns) of each row."""
    text, data = [], []
    for row in rows:
        ref = reference.get((row.model, row.task))
        line = [paper_model(row.model), row.label, row.task]
        numbers: list[Any] = [paper_model(row.model), row.label, row.task]
        for quantity in QUANTITIES:
            value, times = row.value(quantity.key), ratio(row, ref, quantity.key)
            cell = "-" if value is None else quantity.text(value)
            line.append(cell if times is None or value is None else f"{cell} ×{times:.3f}")
            numbers += [int(value) if quantity.key == "params" and value is not None else value, times]
        line.append(str(row.n))
        text.append(line)
        data.append([*numbers, row.n])
    return text, data


def paper_lines() -> tuple[list[list[str]], list[list[Any]]]:
    """Section 4.2's rows in the cost table's columns, text and numbers (what the paper does not give: ``-``,
    empty); its memory in its own unit, GB, as printed."""
    costs = paper_costs()
    full = next(c for c in costs if c.method == "FT")
    text, data = [], []
    for cost in costs:
        label = f"{cost.method} (paper §4.2)"
        memory = cost.peak_memory_gb / full.peak_memory_gb
        text.append(
            [cost.model, label, "-", cost.params_label, f"{cost.peak_memory_gb:,.0f} GB ×{memory:.3f}"]
            + [f"- ×{cost.throughput_ratio:.3f}", "-", "-", "-"]
        )
        params = parse_count(cost.params_label)
        data.append(
            [cost.model, label, None, params, params / parse_count(full.params_label)]
            + [
                cost.peak_memory_gb * 1e9 / GIB,
                memory,
                None,
                cost.throughput_ratio,
                None,
                None,
                None,
                None,
                None,
            ]
        )
    return text, data


def cost_table(
    rows: Sequence[CostRow],
    reference: Mapping[tuple[str, str], CostRow],
    records: Sequence[Mapping[str, Any]],
    compare: bool,
) -> TableText:
    """The cost table of ``Results.cost()``; with ``compare`` the paper's Section 4.2 rows follow."""
    headers = ["Model", "Method", "Task", *(q.header for q in QUANTITIES), "n"]
    text, data = cost_lines(rows, reference)
    complete = [r for r in records if r.get("status") == "complete"]
    title = (
        "Cost per method: median over seeds, ×: ratio to full fine-tuning of the same model and task "
        f"({conditions(complete)})"
    )
    notes = [
        "full fine-tuning: the runs that train every parameter; s to best eval: train_seconds · best step / steps"
    ]
    lacking = sorted({(paper_model(r.model), r.task) for r in rows if (r.model, r.task) not in reference})
    if lacking:
        pairs = ", ".join(f"{model} × {task}" for model, task in lacking)
        notes.append(f"no full fine-tuning run of {pairs} in these records: no ratios there")
    if compare:
        paper_text, paper_data = paper_lines()
        text, data = text + paper_text, data + paper_data
        notes.append(
            "paper §4.2: GPT-3 175B training VRAM 1.2 TB (FT) and 350 GB (LoRA), LoRA training 25% faster "
            "(its samples/s ratio); the paper gives no absolute throughput or time"
        )
    data_headers = ["model", "method", "task"]
    for quantity in QUANTITIES:
        data_headers += [quantity.key, f"{quantity.key} / full"]
    return TableText(title, headers, text, notes, DataTable([*data_headers, "n"], data))
