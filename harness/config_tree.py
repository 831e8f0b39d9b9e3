"""The Hydra config tree (``conf/``, installed as the package ``adaptbench.conf``): where it is, its groups and
their choices, run configs composed outside ``@hydra.main`` (quickstart, params), and the group choices of
command-line overrides checked before Hydra sees them, so a typo gets a one-line error.

Light on purpose: it imports no plugin code, so ``--help`` and choice errors are instant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from importlib.resources import files
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig

from adaptbench.harness.errors import ConfigError, bad_choice
from adaptbench.harness.registry import METHODS, TASKS

# A real folder for a regular or editable install (Hydra and the checks below read files from it).
CONF_DIR = Path(str(files("adaptbench.conf")))
GROUPS = ("method", "model", "task", "trainer", "logger", "experiment")

# Hydra flags followed by a value that is not an override.
FLAGS_WITH_VALUE = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "--info",
    "-i",
}


def group_options(group: str) -> list[str]:
    """The choices of a config group: its YAML files plus plugins registered without one (no plugin import)."""
    options = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
    if group in ("method", "task"):
        options |= (METHODS if group == "method" else TASKS).available()
    return sorted(options)


def register_plugin_configs() -> None:
    """Give every registered plugin without a YAML file a config node of its defaults, so a third-party
    plugin registered through an entry point is selectable as ``method=<name>`` with no file in conf/."""
    store = ConfigStore.instance()
    for group, registry in (("method", METHODS), ("task", TASKS)):
        have_yaml = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
        for name in sorted(registry.available() - have_yaml):
            config_class = registry.get(name).Config
            defaults = asdict(config_class()) if fields(config_class) else {}
            store.store(group=group, name=name, node={"name": name, **defaults})


def override_arguments(argv: Sequence[str]) -> list[str]:
    """The override tokens of a Hydra command line (flags and their values dropped)."""
    overrides, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = token in FLAGS_WITH_VALUE
        else:
            overrides.append(token)
    return overrides


def check_group_choices(argv: Sequence[str]) -> None:
    """Raise a one-line ConfigError for an unknown method/model/task/... choice, sweeps included."""
    try:
        parsed = OverridesParser.create().parse_overrides(override_arguments(argv))
    except HydraException as err:
        raise ConfigError(str(err).strip().splitlines()[0]) from None
    for override in parsed:
        group = override.key_or_group.lstrip("+~")
        if group not in GROUPS or override.is_delete():
            continue
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        options = group_options(group)
        for value in values:
            if value not in options:
                raise bad_choice(group, value, options)


def compose_run_config(overrides: Sequence[str]) -> DictConfig:
    """The run config for ``overrides`` (as ``adaptbench run`` would compose it, without Hydra's runtime)."""
    check_group_choices(overrides)
    register_plugin_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name="config", overrides=list(overrides))
