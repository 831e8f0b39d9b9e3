"""A record names the commit of the code that ran: a source checkout's HEAD, a frozen install's stamp, or nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from adaptbench.harness.records.provenance import BUILD_COMMIT_FILE, git_commit


def _repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository holding a ``harness/`` folder; returns that folder and HEAD."""
    harness = tmp_path / "repo" / "harness"
    harness.mkdir(parents=True)
    (harness / "x.py").write_text("x = 1\n")
    git = ["git", "-C", str(harness.parent), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return harness, head


def test_source_checkout_names_head_and_dirty(tmp_path: Path) -> None:
    harness, head = _repo(tmp_path)
    (harness.parent / "pyproject.toml").write_text("[project]\n")
    # pyproject.toml is untracked: untracked files do not make the checkout dirty
    assert git_commit(harness) == head
    (harness / "x.py").write_text("x = 2\n")
    assert git_commit(harness) == head + "-dirty"


def test_installed_copy_inside_a_checkout_does_not_borrow_its_head(tmp_path: Path) -> None:
    """A venv inside the repository (the sweeps' frozen installs) must not report the repository's HEAD."""
    harness, head = _repo(tmp_path)
    installed = harness.parent / ".sweep-venv" / "site-packages" / "adaptbench" / "harness"
    installed.mkdir(parents=True)
    assert git_commit(installed) is None
    (installed / BUILD_COMMIT_FILE).write_text("0123abcd-dirty\n")
    assert git_commit(installed) == "0123abcd-dirty"
    assert head != "0123abcd"
