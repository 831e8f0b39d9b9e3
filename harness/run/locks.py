"""One process per job: a second run of the same job (same record) while the first is alive is refused.

The lock is ``fcntl.flock`` on a file in the job's artifacts folder. The kernel releases a flock when its
holder exits however it exits (kill -9 included), so a lock can never go stale and nothing has to guess whether
a pid is still alive; the pid written into the file is only there to name the holder in the message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class JobRunning(RuntimeError):
    """Another live process holds this job's lock."""


@contextmanager
def job_lock(path: Path) -> Iterator[None]:
    """Hold the lock file ``path`` for the block; JobRunning at once (no waiting) if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise JobRunning(f"already running (pid {holder}, lock {path})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
