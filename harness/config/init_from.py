"""``init_from``: the tensors a run starts from, checked before any model is built."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from adaptbench.harness.api.errors import ConfigError, bad_data, bad_value
from adaptbench.harness.records.files import safetensors_problem
from adaptbench.harness.records.schema import RecordError
from adaptbench.harness.records.store import artifacts_dir, read_record


@dataclass(frozen=True)
class InitSource:
    """The tensors a run starts from (``init_from``) and what identifies them: the upstream record's
    ``config_hash``, or the sha256 of a bare tensors file. It joins the downstream run's config hash, so a
    rerun upstream run makes the downstream one a new job."""

    path: Path
    key: str


def init_source(location: object, model: str, method: str) -> InitSource:
    """Check ``init_from``: a complete run record of the same model and method whose run saved its trainable
    tensors (``trainer.save_trainable``), or a ``trainable.safetensors`` file; the tensors must be whole."""
    text = "" if location is None else str(location).strip()
    if not text:
        raise bad_value("init_from", location, "give a run record (.json) or a trainable.safetensors file")
    path = Path(text)
    if not path.exists():
        raise bad_value("init_from", text, "no such file")
    if path.suffix == ".json":
        key = _check_upstream_record(path, model, method)
        path = artifacts_dir(path) / "trainable.safetensors"
        if not path.is_file():
            raise ConfigError(
                f"init_from={text!r}: no trainable.safetensors there (give a record of a run made with "
                "trainer.save_trainable=true, or the file itself)"
            )
    elif (record := record_of_artifact(path)) is not None:
        if not record.is_file():
            raise bad_value("init_from", text, f"its run has no record ({record}): it never finished")
        key = _check_upstream_record(record, model, method)
    else:
        key = hashlib.sha256(path.read_bytes()).hexdigest()
    problem = safetensors_problem(path)
    if problem:
        raise bad_data(path, None, problem)
    return InitSource(path=path, key=key)


def record_of_artifact(path: Path) -> Path | None:
    """The record of the run whose artifacts folder holds ``path`` (inverse of ``records.artifacts_dir``), or None
    for a file outside an adaptbench output folder."""
    parents = path.resolve().parents
    if len(parents) < 5 or parents[3].name != "artifacts":
        return None
    run, model, task = parents[0].name, parents[1].name, parents[2].name
    return parents[4] / "records" / task / model / f"{run}.json"


def _check_upstream_record(path: Path, model: str, method: str) -> str:
    try:
        record = read_record(path)
    except RecordError as err:
        raise ConfigError(f"init_from: {err}") from None
    if record["status"] != "complete":
        raise bad_value("init_from", str(path), f"its run is {record['status']}, not complete")
    if record["model"] != model:
        raise bad_value(
            "init_from", str(path), f"its run trained model={record['model']!r}, this one {model!r}"
        )
    if record["method"] != method:
        raise bad_value(
            "init_from", str(path), f"its run trained method={record['method']!r}, this one {method!r}"
        )
    return record["config_hash"]
