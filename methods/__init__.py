"""In-tree adaptation methods. Importing this package registers every one of them (``adaptbench.harness.api.registry``)."""

from adaptbench.methods import adapters, baselines, compose, lora, peft_tuner, prefix

__all__ = ["adapters", "baselines", "compose", "lora", "peft_tuner", "prefix"]
