"""The rate a search picked: among the complete seed-1 records of METHOD on TASK under SEARCH_ROOT whose method
settings include every KEY=VALUE given, the ``trainer.lr`` whose run scored best on the held-out training rows
(``records.schema.selection_value``: the ``selected_by`` metric, never dev). Prints the rate, or with ``--record``
the path of that seed-1 record (the same job as the final set's seed 1: copied there, it is not trained twice);
exits 1 (naming what it looked for) when the search has no such record.

    python results/claims_minilm/choose_rate.py [--record] SEARCH_ROOT METHOD TASK [KEY=VALUE ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from adaptbench.harness.records.schema import selection_value
from adaptbench.harness.records.store import iter_records


def chosen_record(root: str, method: str, task: str, wanted: dict[str, object]) -> dict | None:
    """The complete seed-1 record whose rate scored best on the held-out rows."""
    best: tuple[float, dict] | None = None
    for record in iter_records(root):
        settings = (record.get("config") or {}).get("method") or {}
        if (record.get("method"), record.get("task"), record.get("seed")) != (method, task, 1):
            continue
        if any(settings.get(key) != value for key, value in wanted.items()):
            continue
        value = selection_value(record)
        if value > float("-inf") and (best is None or value > best[0]):
            best = (value, record)
    return None if best is None else best[1]


def chosen_rate(root: str, method: str, task: str, wanted: dict[str, object]) -> float | None:
    record = chosen_record(root, method, task, wanted)
    return None if record is None else float(record["lr"])


def main(argv: list[str]) -> int:
    as_path = argv[:1] == ["--record"]
    root, method, task, *pairs = argv[1:] if as_path else argv
    wanted = {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in pairs)}
    record = chosen_record(root, method, task, wanted)
    if record is None:
        print(f"choose_rate: no complete seed-1 {method} {task} {pairs} record in {root}", file=sys.stderr)
        return 1
    if as_path:
        print(Path(root) / "records" / record["task"] / record["model"] / f"{record['run_name']}.json")
    else:
        print(float(record["lr"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
