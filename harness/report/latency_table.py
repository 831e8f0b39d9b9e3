"""``adaptbench table --layout latency``: latency records (``<dir>/latency/``) beside the paper's Table 1."""

from __future__ import annotations

import json
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from adaptbench.harness.records.schema import LATENCY_KIND, LatencyRecord, latency_noise
from adaptbench.harness.report.paper import (
    PAPER_METHOD_ALIASES,
    latency_rows,
    paper_method,
    paper_model,
)
from adaptbench.harness.report.text import TableText, fmt_params

log = logging.getLogger("adaptbench")

# --------------------------------------------------------------------------------------------- latency
# The row of the paper's Table 1 with the base model's latency (a merged LoRA is the base model).
BASE_PAPER_ROW = "Fine-Tune/LoRA"


BASE_ROW = "base (FT / merged LoRA)"


GPU_WORDS = ("nvidia", "cuda", "gpu", "tesla", "quadro", "geforce", "radeon", "instinct")


NOISE_NOTE = (
    "(k noise): k of the cell's points have an overhead within the spread (IQR) of their paired method/base "
    "ratios, or negative beyond it: noise, not overhead (more latency.trials, or an idle machine)"
)
CPU_NOTE = (
    "a CPU's overhead differs from a GPU's: at batch 1 a GPU forward pass is bound by kernel launches, so the "
    "adapters' extra sequential layers cost the most there (the paper's +20-30%); a CPU pays for arithmetic, "
    "which adapters barely add"
)


def iter_latency_records(root: str | Path) -> Iterable[LatencyRecord]:
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
        if not isinstance(data, dict) or data.get("kind") != LATENCY_KIND:
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


def forward_path_note(records: Sequence[Mapping[str, Any]]) -> str | None:
    """Which methods were timed merged into the base weights (the base model's own forward) and which as trained
    (record field ``merged``: whether merging changed the forward path; a method with nothing to fold, or
    ``latency.merged=false``, runs unmerged)."""
    paths: dict[bool, set[str]] = defaultdict(set)
    for record in records:
        if record.get("merged") is not None:
            paths[bool(record["merged"])].add(paper_method(record["method"]))
    parts = [
        f"{what}: {', '.join(sorted(paths[flag]))}"
        for flag, what in ((True, "merged into W"), (False, "unmerged"))
        if paths[flag]
    ]
    return "forward path: " + "; ".join(parts) if parts else None


def _latency_cell(runs: Sequence[Mapping[str, Any]], paper_row: dict[str, str] | None) -> str:
    if not runs:
        return "missing"
    ms = statistics.median(float(r["method_ms_median"]) for r in runs)
    overhead = statistics.median(float(r["overhead"]) for r in runs)
    noisy = sum(latency_noise(r) is not None for r in runs)
    flag = f" ({noisy} noise)" if noisy else ""  # see NOISE_NOTE
    return f"{ms:.1f} ms {overhead:+.1%} n={len(runs)}{flag}" + _paper_latency_text(paper_row, True)


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
    facets = [{"model": paper_model(model), "method": BASE_ROW}]
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
        facets.append({"model": paper_model(model), "method": paper_method(method)})
    notes = [
        f"measured on {device}" + (f", {threads} threads" if threads else "") + "; medians over repeats; "
        "% = overhead over the base model",
        "paper: GPT-2 medium on an NVIDIA Quadro RTX8000 GPU, mean of 100 trials (Table 1)",
    ]
    if not is_gpu(device):
        notes.append(CPU_NOTE)
    if any(latency_noise(r) is not None for r in records):
        notes.append(NOISE_NOTE)
    if forward := forward_path_note(records):
        notes.append(forward)
    return TableText(f"latency: {model} forward pass", headers, lines, notes, facets=facets)
