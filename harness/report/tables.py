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
``--layout params`` measures |Θ| of every method on one model (meta device, no records), and ``--layout cost``
tabulates what each method costs (|Θ|, peak memory, throughput, time to the best evaluation) as ratios to full
fine-tuning (harness.report.cost); ``--compare paper`` adds that cost section after the score tables.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from adaptbench.harness.api.errors import ConfigError, bad_choice
from adaptbench.harness.records.store import check_out_file
from adaptbench.harness.report.cost import cost_table
from adaptbench.harness.report.latency_table import iter_latency_records, latency_tables
from adaptbench.harness.report.layouts import (
    AGGREGATES,
    add_layout_dir_argument,
    add_layout_dirs,
    layout_choices,
    layouts,
)
from adaptbench.harness.report.params_table import params_table
from adaptbench.harness.report.render import FORMATS, render
from adaptbench.harness.report.results import Results
from adaptbench.harness.report.text import TableText, run_table

log = logging.getLogger("adaptbench")


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
        "--layout",
        default="auto",
        help="auto, latency, params, cost or a layout of conf/layout/ (glue, e2e, dart, webnlg, ...) (default: auto)",
    )
    add_layout_dir_argument(parser)
    parser.add_argument(
        "--format", default="md", dest="form", help=f"one of: {', '.join(FORMATS)} (default: md)"
    )
    parser.add_argument("--agg", default=None, help="median | mean (default: the paper's, per layout)")
    parser.add_argument("--compare", default=None, help="paper: the published numbers beside each cell")
    parser.add_argument("--model", default=None, help="the model of --layout params (or model=<name>)")
    parser.add_argument("--out", default=None, help="write the table to this file instead of printing it")
    add_wandb_arguments(parser)
    args = parser.parse_args(list(argv))
    for token in [d for d in args.dirs if d.startswith("model=")]:
        args.model = token.removeprefix("model=")
        args.dirs.remove(token)
    check_wandb_options(args)
    add_layout_dirs(args.layout_dir)
    args.dirs = args.dirs or ["outputs"]
    for name, value, choices in (
        ("--layout", args.layout, layout_choices()),
        ("--format", args.form, FORMATS),
        ("--agg", args.agg, AGGREGATES),
        ("--compare", args.compare, ("paper",)),
    ):
        if value is not None and value not in choices:
            raise bad_choice(name, value, choices)
    return args


def add_wandb_arguments(parser: argparse.ArgumentParser) -> None:
    """--wandb (log the tables to a summary run) and --from-wandb/--filter (read runs instead of records)."""
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


def check_wandb_options(args: argparse.Namespace) -> None:
    """--from-wandb replaces the DIRs of run records; --filter selects among its runs."""
    if args.filter and not args.from_wandb:
        raise ConfigError("--filter selects W&B runs: use it with --from-wandb ENTITY/PROJECT")
    if args.from_wandb and args.dirs:
        raise ConfigError(f"give either DIRs ({' '.join(args.dirs)}) or --from-wandb, not both")
    if args.from_wandb and args.layout in ("latency", "params"):
        raise ConfigError(f"--layout {args.layout} reads no run records: it cannot come --from-wandb")


def results_for(args: argparse.Namespace) -> Results:
    """The command's records, read once: from the DIRs, or the runs of --from-wandb (harness.report.wandb)."""
    if args.from_wandb:
        return Results.from_wandb(args.from_wandb, args.filter)
    if args.layout == "latency":
        return Results([], [r for folder in args.dirs for r in iter_latency_records(folder)], list(args.dirs))
    if args.layout == "params":
        return Results([])
    return Results.from_dirs(args.dirs, latency=False)


def tables_for(args: argparse.Namespace, results: Results) -> list[TableText]:
    if args.layout == "params":
        if not args.model:
            raise ConfigError("--layout params needs a model: --model <name> or model=<name>")
        return [params_table(args.model, args.compare == "paper")]
    if args.layout == "latency":
        if not results.latency:
            raise ConfigError(f"no latency records under {', '.join(args.dirs)} (looked in <DIR>/latency)")
        return latency_tables(results.latency)
    if not results.runs:
        raise ConfigError(f"no run records under {', '.join(args.dirs)} (looked in <DIR>/records)")
    compare = args.compare == "paper"
    if args.layout == "cost":
        return [cost_section(results, compare)]
    if args.layout == "auto":
        tables = [run_table(rows, layout, args.agg, compare) for layout, rows in results.grids()]
    else:
        layout = layouts()[args.layout]
        if not results.selected(layout):
            raise ConfigError(
                f"no records of --layout {args.layout}'s tasks ({', '.join({c.task for c in layout.columns})})"
            )
        tables = [run_table(results.grid(layout), layout, args.agg, compare)]
    return tables + ([cost_section(results, compare)] if compare else [])


def cost_section(results: Results, compare: bool) -> TableText:
    rows, reference = results.cost()
    if not rows:
        raise ConfigError("no complete run records: --layout cost tabulates finished runs only")
    return cost_table(rows, reference, results.runs, compare)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    results = results_for(args)
    tables = tables_for(args, results)
    text = "\n\n".join(render(table, args.form) for table in tables) + "\n"
    if args.out:
        try:
            check_out_file(Path(args.out)).write_text(text, encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"--out {args.out}: cannot write it ({err.strerror or err})") from None
        print(args.out)
    else:
        sys.stdout.write(text)
    if args.wandb:
        from adaptbench.harness.report.wandb import log_summary_run

        print(f"W&B summary run: {log_summary_run(args, tables, results)}", file=sys.stderr)
    return 0
