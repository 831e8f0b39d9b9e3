"""What a user sees: quiet by default (one progress line per job, then results), everything with ``-v``.

The libraries the harness drives each print their own progress and INFO lines (transformers' load reports, a tqdm
bar per training step, datasets' ``Map`` bars); by default those are silenced and replaced by one line per job.
The full log of a job is always written to ``run.log`` in its artifacts folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from rich.console import Console

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
_verbose = False


def configure(verbose: bool) -> None:
    """Set the console's verbosity for this process (before the ML libraries are imported: they read the
    environment when they load). A variable the user set is kept."""
    global _verbose
    _verbose = verbose
    if not verbose:
        for name, value in QUIET_ENV.items():
            os.environ.setdefault(name, value)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def is_verbose() -> bool:
    return _verbose


def job_log(path: Path) -> logging.Handler:
    """Send the harness's log lines (INFO and up) to ``path`` for the duration of a job; remove the returned
    handler with ``close_job_log``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("adaptbench")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def close_job_log(handler: logging.Handler) -> None:
    logging.getLogger("adaptbench").removeHandler(handler)
    handler.close()


def say(message: str) -> None:
    """One line for the user (on stderr, so that stdout stays for machine-readable output), never wrapped: off a
    terminal rich would break it at 80 columns, and a log file's reader greps whole lines."""
    Console(stderr=True, highlight=False).print(message, soft_wrap=True)
