"""Where a record came from: code commit, package versions, machine."""

from __future__ import annotations

import platform
import socket
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("adaptbench", "torch", "transformers", "datasets", "accelerate", "hydra-core", "peft", "wandb")


#: Written next to the installed package by results/freeze.sh: the commit a frozen (non-editable) install was built from.
BUILD_COMMIT_FILE = "BUILD_COMMIT"


def git_commit(package_dir: Path | None = None) -> str | None:
    """The commit of the code that runs, with ``-dirty`` when it had local changes.

    A frozen install (a wheel in its own venv, results/freeze.sh) carries the commit it was built from in
    ``BUILD_COMMIT``; asking git there would name whatever the surrounding checkout holds when the record is
    written, not the code that ran. An installed copy without that file says nothing (None). Only a source
    checkout (``harness/`` beside ``pyproject.toml``: an editable install) asks git.
    """
    harness_dir = package_dir or Path(__file__).resolve().parents[1]
    stamp = harness_dir / BUILD_COMMIT_FILE
    if stamp.is_file():
        return stamp.read_text().strip() or None
    if not (harness_dir.parent / "pyproject.toml").is_file():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(harness_dir), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(harness_dir), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(device: str, seed: int) -> dict[str, Any]:
    return {
        "packages": package_versions(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "device": device,
        "host": socket.gethostname(),
        "seed": seed,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
