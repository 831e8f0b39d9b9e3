"""In-tree task plugins. Importing this package registers them (see adaptbench.harness.api.registry)."""

from adaptbench.tasks import custom, glue, nlg, samsum, vader, wikisql  # noqa: F401
