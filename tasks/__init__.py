"""In-tree task plugins. Importing this package registers them (see harness.registry)."""

from tasks import glue, nlg, vader  # noqa: F401
