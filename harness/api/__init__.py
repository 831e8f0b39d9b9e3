"""Everything a method or task plugin may import, from one place: ``from adaptbench.harness.api import Method``.

The names load lazily (PEP 562 ``__getattr__``): importing ``adaptbench.harness.api.errors`` for a CLI error
must not pull in torch, which ``plugins`` and ``models`` need.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module of this package that defines it
EXPORTS = {
    "ConfigError": "errors",
    "DataError": "errors",
    "bad_choice": "errors",
    "bad_data": "errors",
    "bad_value": "errors",
    "EvalContext": "evaluation",
    "predict_logits": "evaluation",
    "Layout": "layout",
    "Target": "layout",
    "set_submodule": "layout",
    "HARNESS_KEYS": "node_keys",
    "NAMING_KEYS": "node_keys",
    "Method": "plugins",
    "LowRankUpdate": "plugins",
    "Task": "plugins",
    "NoConfig": "plugins",
    "adapt": "plugins",
    "head_parameter_names": "plugins",
    "METHODS": "registry",
    "TASKS": "registry",
    "PluginError": "registry",
    "register_method": "registry",
    "register_task": "registry",
    "load_method": "loading",
    "load_task": "loading",
    "arch_config": "models",
    "build_model": "models",
    "load_tokenizer": "models",
    "model_kind": "models",
    "resolve_location": "models",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    module = EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
