"""The rate a search picked: among the complete seed-1 records of METHOD on TASK under SEARCH_ROOT whose method
settings include every KEY=VALUE given, the ``trainer.lr`` whose run scored best on the held-out training rows
(``records.schema.selection_value``: the ``selected_by`` metric, never dev). Prints the rate, or with ``--record``
the path of that seed-1 record, then the rate, on one line (the record is the final set's seed-1 job: copied
there, it is not trained twice); exits 1 (naming what it looked for) when the search has no such record, or, with ``--rates A,B,C``, when any
of those rates has no complete record yet (a search that was stopped picks nothing).

    python results/claims_minilm/choose_rate.py [--record] [--rates A,B,C] SEARCH_ROOT METHOD TASK [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

from adaptbench.harness.records.schema import selection_value
from adaptbench.harness.records.store import iter_records


def searched(root: str, method: str, task: str, wanted: dict[str, object]) -> Iterator[dict]:
    """The complete seed-1 records of ``method`` on ``task`` with the ``wanted`` method settings."""
    for record in iter_records(root):
        settings = (record.get("config") or {}).get("method") or {}
        if (record.get("method"), record.get("task"), record.get("seed")) != (method, task, 1):
            continue
        if any(settings.get(key) != value for key, value in wanted.items()):
            continue
        if record.get("status") == "complete":
            yield record


def chosen_record(root: str, method: str, task: str, wanted: dict[str, object]) -> dict | None:
    """The complete seed-1 record whose rate scored best on the held-out rows."""
    best: tuple[float, dict] | None = None
    for record in searched(root, method, task, wanted):
        value = selection_value(record)
        if value > float("-inf") and (best is None or value > best[0]):
            best = (value, record)
    return None if best is None else best[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the rate a search picked on the held-out rows")
    parser.add_argument(
        "--record", action="store_true", help="print the chosen seed-1 record's path, then the rate"
    )
    parser.add_argument("--rates", help="A,B,C: every one of these rates must have a complete record")
    parser.add_argument("root")
    parser.add_argument("method")
    parser.add_argument("task")
    parser.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    root, method, task = args.root, args.method, args.task
    wanted = {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in args.pairs)}
    done = {float(record["lr"]) for record in searched(root, method, task, wanted)}
    rates = [float(rate) for rate in args.rates.split(",")] if args.rates else []
    missing = [rate for rate in rates if not any(abs(rate - lr) <= 1e-12 for lr in done)]
    if missing:
        print(
            f"choose_rate: {method} {task}: no complete seed-1 record yet at lr {missing} in {root}",
            file=sys.stderr,
        )
        return 1
    record = chosen_record(root, method, task, wanted)
    if record is None:
        print(
            f"choose_rate: no complete seed-1 {method} {task} {args.pairs} record in {root}", file=sys.stderr
        )
        return 1
    if args.record:
        path = Path(root) / "records" / record["task"] / record["model"] / f"{record['run_name']}.json"
        print(path, float(record["lr"]))
    else:
        print(float(record["lr"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
