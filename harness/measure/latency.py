"""``adaptbench latency``: forward latency of an adapted model against the unadapted base model (the LoRA
paper's Table 1 and Figure 5), one record per point of a Hydra sweep (conf/latency.yaml).

    adaptbench latency model=gpt2-medium method=adapter_h latency.batch=1 latency.seq=128 latency.budget=11M
    adaptbench latency -m method=lora,adapter_h latency.batch=1,16 latency.seq=128,256 method.r=4,64

This module is the command and its settings, light on purpose (bad arguments fail in a second, without
torch); the measurement is ``adaptbench.harness.measure.timing``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig

from adaptbench.harness.api.errors import ConfigError, bad_value
from adaptbench.harness.api.node_keys import NAMING_KEYS
from adaptbench.harness.config.hub import fill_hub_model
from adaptbench.harness.config.tree import (
    CONF_DIR,
    GROUPS,
    check_group_choices,
    override_values,
    parse_overrides,
    register_plugin_configs,
)
from adaptbench.harness.records.schema import latency_noise
from adaptbench.harness.records.store import check_path_name

# Config groups of conf/latency.yaml, and presets (+experiment=table1_latency); a run's task, trainer and logger
# play no part in a forward pass.
LATENCY_GROUPS = ("method", "model", "experiment")
BUDGET_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9}
BUDGET_PATTERN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([KMB]?)", re.IGNORECASE)
BUDGET_HELP = "a parameter count such as 500000, 0.5M or 11M"


def parse_budget(value: object) -> int:
    """A |Θ| budget as a number of parameters: ``500000``, ``0.5M``, ``11M``, ``1.5K``, ``2B``."""
    match = BUDGET_PATTERN.fullmatch(str(value).strip())
    if match is None:
        raise bad_value("latency.budget", value, BUDGET_HELP)
    count = round(float(match.group(1)) * BUDGET_UNITS[match.group(2).upper()])
    if count < 1:
        raise bad_value("latency.budget", value, BUDGET_HELP)
    return count


@dataclass
class LatencySettings:
    """The ``latency`` node of conf/latency.yaml, checked where it is read."""

    batch: int = 1
    seq: int = 128
    trials: int = 100
    warmup: int = 5
    budget: Any = None
    merged: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        for key in ("batch", "seq", "trials"):
            if getattr(self, key) < 1:
                raise bad_value(f"latency.{key}", getattr(self, key), "must be >= 1")
        if self.warmup < 0:
            raise bad_value("latency.warmup", self.warmup, "must be >= 0")
        if self.threads is not None and self.threads < 1:
            raise bad_value("latency.threads", self.threads, "must be >= 1 or null (torch's default)")
        if self.budget is not None:
            parse_budget(self.budget)

    @property
    def budget_params(self) -> int | None:
        return None if self.budget is None else parse_budget(self.budget)


def check_overrides(argv: Sequence[str]) -> None:
    """One-line errors before Hydra composes anything: bad method/model choices, groups this command does not
    have (task, trainer, ...), and unreadable budgets (every value of a sweep)."""
    check_group_choices(argv)
    for override in parse_overrides(argv):
        key = override.key_or_group.lstrip("+~")
        if key in GROUPS and key not in LATENCY_GROUPS:
            raise ConfigError(
                f"{key}= is not a setting of adaptbench latency; it takes {'=, '.join(LATENCY_GROUPS)}= "
                "and latency.* (see conf/latency.yaml)"
            )
        if key == "latency.budget" and not override.is_delete():
            for value in override_values(override):
                if value != "null":
                    parse_budget(value)


def compose_latency_config(overrides: Sequence[str]) -> DictConfig:
    """The config of one latency point (as ``adaptbench latency`` composes it, without Hydra's runtime)."""
    check_overrides(overrides)
    register_plugin_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(config_name="latency", overrides=list(overrides))
    fill_hub_model(cfg)  # model=hub: family and arch from the checkpoint's config.json
    return cfg


def check_first_job(argv: Sequence[str]) -> None:
    """Compose the first job of the command line (each swept key's first value), so that a key typo
    (``latency.batc=1``, ``method.rr=4``) fails in one line naming the valid keys, before any job starts."""
    first_job = [
        f"{o.get_key_element()}={override_values(o)[0]}" if o.is_sweep_override() else o.input_line
        for o in parse_overrides(argv)
        if not o.get_key_element().lstrip("+~").startswith("hydra")
    ]
    try:
        first = compose_latency_config(first_job)
    except HydraException as err:
        first_line = str(err).strip().splitlines()[0]
        unknown = re.match(r"Could not override '(\w+)\.([^']+)'", first_line)
        if unknown is None:
            raise ConfigError(first_line) from None
        group = unknown.group(1)
        others = [o for o in first_job if not o.lstrip("+~").startswith(f"{group}.")]
        node = compose_latency_config(others).get(group)
        if not isinstance(node, DictConfig):
            raise ConfigError(first_line) from None
        valid = ", ".join(sorted(str(k) for k in node if k not in NAMING_KEYS))
        raise ConfigError(
            f"{group}.{unknown.group(2)} is not a setting of {group}; valid keys: {valid}"
        ) from None
    for group in ("method", "model"):  # names that become paths: checked before Hydra makes its folder
        check_path_name(f"{group}.name", first[group].name)


def main(argv: Sequence[str]) -> int:
    import hydra

    check_overrides(argv)  # every swept value
    check_first_job(argv)
    register_plugin_configs()

    @hydra.main(config_path=str(CONF_DIR), config_name="latency", version_base=None)
    def hydra_job(cfg: DictConfig) -> None:
        from adaptbench.harness.measure.timing import measure  # here: argument errors need no torch

        try:
            fill_hub_model(cfg)
            record = measure(cfg)
        except ConfigError as err:
            print(f"adaptbench: error: {err}", file=sys.stderr)
            sys.exit(2)
        print(json.dumps(record, default=str), flush=True)
        if (noise := latency_noise(record)) is not None:  # more trials, or a quieter machine
            print(
                f"adaptbench: warning: {record['method']} batch {record['batch']} seq {record['seq']}: "
                f"{noise}; raise latency.trials or measure on an idle machine",
                file=sys.stderr,
            )

    sys.argv = ["adaptbench latency", *argv]
    hydra_job()
    return 0
