"""In-tree adaptation methods. Importing this package registers every one of them (``harness.registry``)."""

from methods import adapters, baselines, compose, lora, prefix

__all__ = ["adapters", "baselines", "compose", "lora", "prefix"]
