"""Whether a value fits a type hint (``trainer.extra_args`` against ``TrainingArguments``' field types), and
the requirement to print when it does not: the Trainer itself checks most of them only mid-run, or never."""

from __future__ import annotations

import enum
import math
import types
import typing
from typing import Any


def fits(value: Any, hint: Any) -> bool:
    """``value`` (plain YAML: None, bool, int, float, str, list, dict) against ``hint``; unknown hints fit."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or value in {member.value for member in hint}
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def describe(hint: Any) -> list[str]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return [text for option in typing.get_args(hint) for text in describe(option)]
    if origin is typing.Literal:
        return [f"one of {', '.join(map(repr, typing.get_args(hint)))}"]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return [f"one of {', '.join(repr(member.value) for member in hint)}"]
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a finite number"}
    names |= {str: "a string", list: "a list", tuple: "a list", dict: "a mapping"}
    return [names.get(origin or hint, str(hint))]


def requirement_unmet(value: Any, hint: Any) -> str | None:
    """``"must be an integer"`` (and the like) when ``value`` does not fit ``hint``, else None."""
    if fits(value, hint):
        return None
    return "must be " + " or ".join(dict.fromkeys(describe(hint)))
