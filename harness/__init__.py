"""adaptbench harness: config, runner, registries, records. Methods live in `methods/`, tasks in `tasks/`."""

__version__ = "0.1.0"
