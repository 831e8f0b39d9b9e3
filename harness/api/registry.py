"""Plugin registries for methods and tasks, lazy so that start-up imports no plugin code.

In-tree plugins use the ``@register_method`` / ``@register_task`` decorators. Every plugin, in-tree or
third-party, is discovered through the entry-point groups ``adaptbench.methods`` and ``adaptbench.tasks``:
an entry point may name a module (importing it runs its decorators) or a plugin class (registered under the
entry point's name). The in-tree packages are themselves listed in pyproject.toml, so there is one mechanism.

Names are known without importing anything (the config files, and ``third_party``: the names of class entry
points); plugin code, with its torch and metric stacks, is imported by ``get``, when a
plugin is chosen. A registered class must be a subclass of the registry's base class with every abstract
method implemented, or registration fails with one line naming what is missing.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from adaptbench.harness.api.errors import ConfigError, bad_choice


class PluginError(ConfigError):
    """A plugin that cannot be registered or imported (one line naming it and what is wrong)."""


class Registry:
    """Name -> plugin class, filled by decorators and entry points."""

    def __init__(self, kind: str, group: str, base: str | None = None) -> None:
        self.kind = kind
        self.group = group
        # "module:Class" of the base class (imported only when a plugin is registered: it pulls in torch)
        self.base = base
        self._plugins: dict[str, type] = {}
        self._discovered = False

    def _base_class(self) -> type | None:
        if self.base is None:
            return None
        module, _, name = self.base.partition(":")
        return getattr(importlib.import_module(module), name)

    def check(self, name: str, cls: Any) -> None:
        """Refuse what is not a complete plugin class: a forgotten hook fails here, not an epoch later."""
        base = self._base_class()
        if base is None:
            return
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"{self.kind} {name!r}: {cls!r} is not a subclass of {base.__name__}")
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if inspect.isabstract(cls) and missing:
            raise PluginError(f"{self.kind} {name!r}: {cls.__name__} does not implement {', '.join(missing)}")

    def register(self, name: str) -> Callable[[type], type]:
        def decorator(cls: type) -> type:
            existing = self._plugins.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice: {existing} and {cls}")
            self.check(name, cls)
            cls.name = name
            self._plugins[name] = cls
            return cls

        return decorator

    def _entry_points(self) -> list[EntryPoint]:
        return list(entry_points(group=self.group))

    @property
    def builtin_module(self) -> str:
        """The in-tree plugins' package: the entry point named ``builtin`` of this group (pyproject.toml), so the
        harness itself names no plugin package."""
        if not hasattr(self, "_builtin"):
            found = [ep.value for ep in self._entry_points() if ep.name == BUILTIN_ENTRY_POINT]
            if not found:
                raise PluginError(
                    f"no {self.group!r} entry point named {BUILTIN_ENTRY_POINT!r}: adaptbench is not installed "
                    "(pip install -e .)"
                )
            self._builtin = found[0].split(":")[0]
        return self._builtin

    def _load(self, ep: EntryPoint) -> None:
        try:
            loaded = ep.load()
        except PluginError:
            raise
        except (
            Exception
        ) as err:  # a broken third-party package must not take the harness down with a traceback
            raise PluginError(
                f"{self.kind} entry point {ep.name!r} = {ep.value!r} failed to import: {type(err).__name__}: {err}"
            ) from None
        if isinstance(loaded, type) and ep.name not in self._plugins:
            self.register(ep.name)(loaded)

    def discover(self) -> None:
        """Import the in-tree plugins and every installed entry point of this registry's group (once)."""
        if self._discovered:
            return
        self._discovered = True
        importlib.import_module(self.builtin_module)
        for ep in self._entry_points():
            if ep.value.split(":")[0] != self.builtin_module:
                self._load(ep)

    def third_party(self) -> set[str]:
        """Names from other packages, known without importing them. Built-in plugins are chosen through their
        YAML files (``compose``, say, is the class behind ``lora_pe``/``lora_pl``, not a choice of its own)."""
        registered = {
            name for name, cls in self._plugins.items() if not cls.__module__.startswith(self.builtin_module)
        }
        return registered | {ep.name for ep in self._entry_points() if ep.attr}

    def names(self) -> list[str]:
        """Every plugin's name (imports them all)."""
        self.discover()
        return sorted(self._plugins)

    def get(self, name: str) -> type:
        if name not in self._plugins:
            importlib.import_module(self.builtin_module)
        if name not in self._plugins:
            for ep in self._entry_points():
                if ep.name == name and ep.attr:
                    self._load(ep)
        if name not in self._plugins:
            self.discover()
        if name not in self._plugins:
            raise bad_choice(self.kind, name, self._plugins)
        return self._plugins[name]


BUILTIN_ENTRY_POINT = "builtin"
METHODS = Registry("method", "adaptbench.methods", base="adaptbench.harness.api.plugins:Method")
TASKS = Registry("task", "adaptbench.tasks", base="adaptbench.harness.api.plugins:Task")

register_method = METHODS.register
register_task = TASKS.register
