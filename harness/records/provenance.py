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


def git_commit() -> str | None:
    """The commit of the checkout the harness runs from, with ``-dirty`` when it has local changes."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
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
