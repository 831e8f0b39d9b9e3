"""In-tree task plugins. Importing this package registers them (see harness.registry)."""

from tasks import vader  # noqa: F401
