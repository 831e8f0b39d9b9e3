"""Records on disk: where a run's record and files live, atomic writes, reading records back."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.records.schema import REQUIRED_KEYS, Record, RecordError, finite, schema_problem

log = logging.getLogger("adaptbench")


STALE_SUFFIX = ".stale.json"
"""A record moved aside because its content is not its job's (see ``run.resume``): never read as a result."""

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
"""What a method, model or task name may look like: it becomes a folder or file name under ``output_root``."""
MAX_NAME = 100  # file systems take 255 bytes a name; a record's is ``<method>-s<seed>-<hash12>.stale.json``


def check_path_name(key: str, value: object) -> str:
    """``value`` if it is safe as one path component (no ``/``, no ``..``, no leading dot), else ConfigError."""
    name = str(value)
    if len(name) > MAX_NAME:
        raise ConfigError(
            f"{key}={name[:40]!r}... is not valid: {len(name)} characters; a name of the results' folders and "
            f"files has at most {MAX_NAME}"
        )
    if not SAFE_NAME.fullmatch(name):
        raise ConfigError(
            f"{key}={name!r} is not valid: it names a folder of the results; use letters, digits and . _ + - "
            "(no '/', no leading '.')"
        )
    return name


def check_out_file(path: Path) -> Path:
    """A command's ``--out`` file: its folder is made; a folder in its place is a one-line error."""
    if path.is_dir():
        raise ConfigError(f"--out {path}: it is a folder, not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {path}: cannot make its folder ({err.strerror or err})") from None
    return path


def check_out_folder(path: Path) -> Path:
    """A command's ``--out`` folder, made here; a file in its place is a one-line error."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: it is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {path}: cannot make it ({err.strerror or err})") from None
    return path


def record_path(cfg: DictConfig, key: str) -> Path:
    """``<output_root>/records/<task>/<model>/<method>-s<seed>-<hash12>.json`` (its files: ``artifacts_dir``)."""
    method = check_path_name("method.name", cfg.method.name)
    task = check_path_name("task.name", cfg.task.name)
    model = check_path_name("model.name", cfg.model.name)
    return Path(cfg.output_root) / "records" / task / model / f"{method}-s{int(cfg.seed)}-{key[:12]}.json"


def artifacts_dir(record: Path) -> Path:
    """The folder of a run's files (best trainable tensors, checkpoints, generated text): the record's path with
    ``records`` replaced by ``artifacts`` and without ``.json``, kept apart so ``records/`` holds only records."""
    root, task, model = record.parents[2].parent, record.parent.parent.name, record.parent.name
    return root / "artifacts" / task / model / record.stem


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_prefix(path: Path) -> str:
    """Temp files name their writer (``.<file>.<host>-<pid>.``) so a later write can tell a dead writer's."""
    return f".{path.name}.{socket.gethostname()}-{os.getpid()}."


def clean_stale_temps(folder: Path) -> None:
    """Remove temp files of writers on this host that died before renaming them (a kill -9 mid-write)."""
    host = socket.gethostname()
    for tmp in folder.glob(".*.tmp"):
        writer = re.search(r"-(\d+)\.[^.]+\.tmp$", tmp.name)
        pid = int(writer.group(1)) if writer else None
        if pid is not None and f".{host}-{pid}." in tmp.name and not _pid_alive(pid):
            tmp.unlink(missing_ok=True)


def atomic_file(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A temp file beside ``path`` for an atomic write, readable as the user's umask allows (mkstemp alone
    makes it 0600, which hides results in a shared folder); stale temps of dead writers are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=suffix)
    os.chmod(tmp, 0o666 & ~current_umask())
    return fd, tmp


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    """A record as the file holds it: strict JSON (non-finite numbers as null), indented, one final newline."""
    text = json.dumps(finite(payload), indent=2, sort_keys=False, default=str, allow_nan=False)
    return (text + "\n").encode("utf-8")


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers never see half a file, and a kill
    mid-write leaves the previous one whole."""
    fd, tmp = atomic_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """A record (or any JSON file of a run) written atomically; strict JSON: non-finite numbers become null."""
    write_bytes_atomic(path, json_bytes(payload))


def read_record(path: str | Path) -> Record:
    """A record file, checked to be one (RecordError naming the file otherwise)."""
    try:
        # records are strict JSON (written with allow_nan=False): NaN or Infinity marks a foreign file
        data = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (
        OSError,
        UnicodeDecodeError,
        ValueError,
        RecursionError,
    ) as err:  # ValueError: JSONDecodeError too
        raise RecordError(f"{path}: not a readable record ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(data, dict) or not REQUIRED_KEYS <= data.keys():
        missing = sorted(REQUIRED_KEYS - data.keys()) if isinstance(data, dict) else ["(not a JSON object)"]
        raise RecordError(f"{path}: not an adaptbench record (missing {', '.join(missing)})")
    if problem := schema_problem(data):
        raise RecordError(f"{path}: not an adaptbench record ({problem})")
    return data  # type: ignore[return-value]


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not strict JSON")


def iter_records(root: str | Path) -> Iterator[Record]:
    """Every record under ``<root>/records`` (or under ``root`` itself if it has no ``records`` folder); files
    that are not records (corrupt, truncated, foreign JSON) are skipped with one warning line each."""
    base = Path(root) / "records"
    base = base if base.is_dir() else Path(root)
    for path in sorted(base.rglob("*.json")):
        if path.name.endswith(STALE_SUFFIX):
            continue
        try:
            yield read_record(path)
        except RecordError as err:
            log.warning("skipped: %s", err)
