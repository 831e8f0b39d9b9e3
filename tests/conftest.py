"""Shared test settings: everything offline, tiny models, and the real data beside the repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CLI = [sys.executable, "-m", "adaptbench.harness.cli"]


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (real GLUE/E2E/WebNLG/DART files); skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present: {SHARED_DATA} (the ../shared folder beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def whole_table_meteor() -> Iterator:
    """One METEOR jar with its whole paraphrase table (~10 s to start) for every test that compares against it or
    passes it in; skips where there is no java."""
    if shutil.which("java") is None:
        pytest.skip("METEOR needs java")
    from adaptbench.tasks.metrics.coco import MeteorScorer

    with MeteorScorer() as scorer:
        yield scorer


def run_cli(
    *args: str, cwd: Path = REPO, env: dict | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """``adaptbench <args>`` in a subprocess, as a user would run it."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
