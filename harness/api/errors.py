"""User-facing errors: one line, naming the bad value and the valid choices."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """A bad configuration value. The CLI prints it as one line and exits 2, without a traceback."""


def bad_choice(key: str, value: object, choices: Iterable[str]) -> ConfigError:
    """The error for a value outside a fixed set of choices."""
    valid = ", ".join(sorted(choices))
    return ConfigError(f"{key}={value!r} is not valid; choose one of: {valid}")


def bad_value(key: str, value: object, requirement: str) -> ConfigError:
    """The error for a value that breaks a constraint (``requirement`` says what a good value looks like)."""
    return ConfigError(f"{key}={value!r} is not valid: {requirement}")


class DataError(ConfigError):
    """Bad input data: printed as one line ``<file>:<line>: <what is wrong>``, exit 2, like a ConfigError."""


def bad_data(path: object, line: int | None, problem: str) -> DataError:
    """The error for a data file that cannot be read: names the file, the line (1-based) when known, and what
    is wrong with it."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return DataError(f"{where}: {problem}")
