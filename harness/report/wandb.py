"""``adaptbench table`` and W&B: a sweep's summary run (``--wandb``), and tables from W&B runs (``--from-wandb``).

* ``--wandb``: one W&B run (``job_type=summary``) holding the comparison tables as ``wandb.Table`` (the rendered
  table, and one row per table cell with plain numbers for W&B's own charts), the ``adaptbench plot`` figures as
  ``wandb.Image`` and the records folders as a ``run-records`` artifact.
* ``--from-wandb ENTITY/PROJECT``: the runs of a project read through ``wandb.Api`` and turned back into records
  (``record_from_wandb``), so the same tables come from W&B as from the JSON records. A local folder of offline
  runs (``<output_root>/wandb``) is read from its ``run-*.wandb`` files instead, with no server.

The W&B mapping itself (flat config, summary, and a run back to a record) is ``records.wandb``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import struct
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from adaptbench.harness.api.errors import ConfigError, bad_value
from adaptbench.harness.records.wandb import WandbRun, record_from_wandb
from adaptbench.harness.report.latency_table import iter_latency_records
from adaptbench.harness.report.results import Results
from adaptbench.harness.report.text import TableText

log = logging.getLogger("adaptbench")


SUMMARY_JOB_TYPE = "summary"


# ------------------------------------------------------------------------------------ offline run files
LOG_BLOCK = 32768  # a .wandb file is a LevelDB log: 32 KiB blocks of records, each with a 7-byte header


LOG_HEADER = struct.Struct("<IHB")  # checksum, length, type


FILE_HEADER = struct.Struct("<4sHB")  # ":W&B", magic, version


FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_run_records(path: Path) -> Iterator[Any]:
    """The ``wandb_internal_pb2.Record`` messages of an offline run file, in order.

    wandb 0.31 has no Python reader of its own (its ``DataStore`` went with the Python backend), so this reads
    the LevelDB log framing: records split over blocks as FIRST/MIDDLE/LAST chunks, trailing block bytes too
    short for a header skipped. Checksums are not verified; a truncated last record (a killed run) is dropped."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    if len(data) < FILE_HEADER.size or FILE_HEADER.unpack_from(data)[0] != b":W&B":
        raise bad_value("--from-wandb", str(path), "not a W&B run file (no :W&B header)")
    pos, pending = FILE_HEADER.size, b""
    while pos + LOG_HEADER.size <= len(data):
        left_in_block = LOG_BLOCK - pos % LOG_BLOCK
        if left_in_block < LOG_HEADER.size:
            pos += left_in_block
            continue
        _, length, kind = LOG_HEADER.unpack_from(data, pos)
        chunk = data[pos + LOG_HEADER.size : pos + LOG_HEADER.size + length]
        pos += LOG_HEADER.size + length
        if kind not in (FULL, FIRST, MIDDLE, LAST) or len(chunk) < length:
            return  # zeros past the last write, or a record cut off by a kill
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = Record()
            record.ParseFromString(pending)
            yield record


def _apply_change(target: dict[str, Any], change: Any) -> None:
    """Apply a config or summary record to ``target``: its ``update`` items (a ``key`` or ``nested_key`` path and
    a JSON value) are set, then its ``remove`` items (a path) deleted."""
    for item in change.update:
        node, key = _parent(target, item, create=True)
        node[key] = json.loads(item.value_json)
    for item in change.remove:
        node, key = _parent(target, item, create=False)
        node.pop(key, None)


def _parent(target: dict[str, Any], item: Any, create: bool) -> tuple[dict[str, Any], str]:
    """The dict that holds an item's path (created on the way when ``create``) and the path's last key."""
    *parents, key = list(item.nested_key) or [item.key]
    node = target
    for part in parents:
        node = node.setdefault(part, {}) if create else node.get(part, {})
    return node, key


def read_offline_run(path: Path) -> WandbRun:
    """An offline run's name, config, summary, exit state and artifacts, from its ``run-<id>.wandb`` file."""
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    name, state, job_type, group, artifacts = path.stem, "running", None, None, []
    for record in read_run_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            name = run.display_name or run.run_id
            job_type, group = run.job_type or None, run.run_group or None
            _apply_change(config, run.config)
        elif kind == "config":
            _apply_change(config, record.config)
        elif kind == "summary":
            _apply_change(summary, record.summary)
        elif kind == "exit":
            state = "finished" if record.exit.exit_code == 0 else "crashed"
        elif kind == "artifact":
            artifacts.append(record.artifact)
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    return WandbRun(name, state, config, summary, job_type, group, path.parent, artifacts)


def offline_run_files(folder: Path) -> list[Path]:
    """The run files under ``folder`` (an output root, its ``wandb`` folder or one run's folder), each once
    (``latest-run`` is a link to one of them)."""
    found = {p.resolve() for p in folder.rglob("run-*.wandb") if "latest-run" not in p.parts}
    return sorted(found)


def parse_filters(filters: Sequence[str] | None) -> dict[str, Any]:
    """``--filter key=value`` (repeatable): config keys of the runs and the values they must have (numbers
    and true/false as such)."""
    parsed: dict[str, Any] = {}
    for text in filters or ():
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise bad_value("--filter", text, "give key=value, e.g. method=lora or r=8")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def matches(run: WandbRun, filters: Mapping[str, Any]) -> bool:
    return all(run.config.get(key) == value for key, value in filters.items())


def api_runs(path: str, filters: Mapping[str, Any]) -> Iterator[WandbRun]:
    """The runs of ``ENTITY/PROJECT`` on the W&B server (``wandb.Api``), the filters applied by the server."""
    import wandb

    server_filters = {f"config.{k}": v for k, v in filters.items()} or None
    try:
        runs = wandb.Api().runs(path, filters=server_filters, lazy=False)  # config and summary in one query
        for run in runs:
            yield WandbRun(
                name=run.name,
                state=run.state,
                config=dict(run.config),
                summary=dict(run.summary_metrics),
                job_type=run.job_type,
                group=run.group,
            )
    except (wandb.errors.Error, ValueError, OSError) as err:
        raise ConfigError(f"--from-wandb {path}: cannot read its runs from W&B ({err})") from None


def wandb_runs(source: str, filters: Mapping[str, Any]) -> Iterator[WandbRun]:
    """The runs of ``source``: a local folder of offline runs, else ``ENTITY/PROJECT`` on the server."""
    folder = Path(source)
    if folder.is_dir():
        files = offline_run_files(folder)
        if not files:
            raise bad_value("--from-wandb", source, "the folder holds no W&B run files (run-*.wandb)")
        yield from (run for run in map(read_offline_run, files) if matches(run, filters))
        return
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        raise bad_value("--from-wandb", source, "give ENTITY/PROJECT, or a folder of offline runs")
    yield from (run for run in api_runs(source, filters) if matches(run, filters))


def wandb_records(source: str, filters: Sequence[str] | None) -> list[dict[str, Any]]:
    """The records of the adaptbench runs in ``source`` (summary runs left out; other runs: one warning line)."""
    wanted = parse_filters(filters)
    records = []
    for run in wandb_runs(source, wanted):
        record = record_from_wandb(run)
        if record is not None:
            records.append(record)
        elif run.job_type != SUMMARY_JOB_TYPE:
            log.warning("skipped: W&B run %r (%s): not a finished adaptbench run", run.name, run.state)
    if not records:
        where = f" with {' '.join(filters)}" if filters else ""
        raise ConfigError(f"--from-wandb {source}: no finished adaptbench runs{where}")
    return records


# ------------------------------------------------------------------------------------ summary run
def slug(text: str) -> str:
    """A W&B key or artifact name from a title: letters, digits, ``_``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "table"


def table_key(table: TableText) -> str:
    """``table/glue`` for "GLUE (the paper's Table 2): ...", ``table/latency_minilm_l6`` ..."""
    head = table.title.split(":")[0] if ": " in table.title else table.title
    head = re.sub(r"\(.*?\)", "", head)
    return f"table/{slug(head)}"


def cell_rows(results: Results) -> tuple[list[str], list[list[Any]]]:
    """One row per table cell, with plain numbers (W&B draws its charts from these): layout, model, method,
    row label, |Θ|, task, metric, value (paper unit, aggregated over seeds), spread and number of seeds."""
    columns = ["layout", "model", "method", "row", "params", "task", "metric", "value", "spread", "n"]
    data = []
    for layout, rows in results.grids():
        for row in rows:
            for column in layout.columns:
                cell = row.cells[column.header]
                value = cell.value(layout.agg)
                data.append(
                    [layout.name, row.model, row.method, row.label, row.params, column.header]
                    + [column.metric, value, cell.spread, cell.n]
                )
    return columns, data


def plot_images(results: Results, out: Path) -> dict[str, Any]:
    """The ``adaptbench plot`` figures the records support, drawn in ``out`` (which must outlive the logging:
    W&B copies the files when they are logged), as ``wandb.Image`` by key ``plots/<name>``."""
    import wandb

    from adaptbench.harness.report.plots import plot_all

    with contextlib.redirect_stdout(sys.stderr):  # its "skipped <figure>" lines: stdout holds the table
        paths = plot_all(results, out)
    return {f"plots/{p.stem}": wandb.Image(str(p), caption=p.stem) for p in paths if p.suffix == ".png"}


def records_artifact(dirs: Sequence[str], name: str) -> Any:
    """The records folders (``<DIR>/records``, or DIR itself) as one W&B artifact of type ``run-records``."""
    import wandb

    artifact = wandb.Artifact(name, type="run-records", description="adaptbench run records (JSON)")
    for index, folder in enumerate(map(Path, dirs)):
        records = folder / "records" if (folder / "records").is_dir() else folder
        artifact.add_dir(str(records), name=None if len(dirs) == 1 else f"{index}-{folder.name}")
    return artifact


def log_summary_run(args: argparse.Namespace, tables: Sequence[TableText], results: Results) -> str:
    """One W&B run of ``job_type=summary`` with the tables, the cell numbers, the figures and (for records
    read from folders) the records artifact; its files go under the first DIR. Returns the run's folder."""
    import wandb

    from_dirs = not args.from_wandb and args.layout not in ("params", "latency")
    root = Path(args.dirs[0]) if args.dirs and not args.from_wandb else Path(".")
    name = f"summary-{slug(args.from_wandb or root.resolve().name)}"
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT") or "adaptbench",
        entity=os.environ.get("WANDB_ENTITY"),
        mode=os.environ.get("WANDB_MODE") or "offline",
        job_type=SUMMARY_JOB_TYPE,
        name=name,
        tags=[SUMMARY_JOB_TYPE],
        config={"sources": args.from_wandb or list(args.dirs), "layout": args.layout},
        dir=str(root),
        reinit="finish_previous",
    )
    try:
        logged: dict[str, Any] = {table_key(t): wandb.Table(columns=t.headers, data=t.rows) for t in tables}
        if args.layout not in ("params", "latency"):
            columns, data = cell_rows(results)
            logged["cells"] = wandb.Table(columns=columns, data=data)
        with tempfile.TemporaryDirectory() as figures:
            if from_dirs:
                if not results.latency:  # the tables read no latency records: the figures may need them
                    results.latency = [r for folder in args.dirs for r in iter_latency_records(folder)]
                logged |= plot_images(results, Path(figures))
            run.log(logged)
        if from_dirs:
            run.log_artifact(records_artifact(args.dirs, f"records-{slug(root.resolve().name)}"))
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    wandb.teardown()  # wandb-core finishes writing the run file after finish() returns: wait for it here
    return str(Path(run.dir).parent)
