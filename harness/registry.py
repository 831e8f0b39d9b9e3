"""Plugin registries for methods and tasks.

In-tree plugins use the ``@register_method`` / ``@register_task`` decorators. Every plugin, in-tree or
third-party, is discovered through the entry-point groups ``adaptbench.methods`` and ``adaptbench.tasks``:
an entry point may name a module (importing it runs its decorators) or a plugin class (registered under the
entry point's name). The in-tree packages are themselves listed in pyproject.toml, so there is one mechanism.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from harness.errors import bad_choice

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Name -> plugin class, filled by decorators and entry points."""

    def __init__(self, kind: str, group: str, builtin_module: str) -> None:
        self.kind = kind
        self.group = group
        self.builtin_module = builtin_module
        self._plugins: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(cls: T) -> T:
            existing = self._plugins.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice: {existing} and {cls}")
            cls.name = name
            self._plugins[name] = cls
            return cls

        return decorator

    def discover(self) -> None:
        """Import the in-tree plugins and every installed entry point of this registry's group (once)."""
        if self._discovered:
            return
        self._discovered = True
        importlib.import_module(self.builtin_module)
        for ep in entry_points(group=self.group):
            loaded = ep.load()
            if isinstance(loaded, type) and ep.name not in self._plugins:
                self.register(ep.name)(loaded)

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._plugins)

    def get(self, name: str) -> T:
        self.discover()
        if name not in self._plugins:
            raise bad_choice(self.kind, name, self._plugins)
        return self._plugins[name]


METHODS: Registry = Registry("method", "adaptbench.methods", "methods")
TASKS: Registry = Registry("task", "adaptbench.tasks", "tasks")

register_method = METHODS.register
register_task = TASKS.register
