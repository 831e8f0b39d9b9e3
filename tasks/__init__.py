"""In-tree task plugins. Importing this package registers them (see adaptbench.harness.registry)."""

from adaptbench.tasks import custom, glue, nlg, vader  # noqa: F401
