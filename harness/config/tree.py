"""The Hydra config tree (``conf/``, installed as the package ``adaptbench.conf``): where it is, its groups and
their choices, run configs composed outside ``@hydra.main`` (quickstart, params), and the group choices of
command-line overrides checked before Hydra sees them, so a typo gets a one-line error.

Light on purpose: it imports no plugin code, so ``--help`` and choice errors are instant."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, fields
from importlib.resources import files
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, ValueType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.api.errors import ConfigError, bad_choice
from adaptbench.harness.api.node_keys import NAMING_KEYS
from adaptbench.harness.api.registry import METHODS, TASKS

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
    "--shell-completion",
    "-sc",
    "-i",
}


def group_options(group: str) -> list[str]:
    """The choices of a config group: its YAML files plus third-party plugins registered without one (no plugin
    import)."""
    options = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
    if group in ("method", "task"):
        options |= (METHODS if group == "method" else TASKS).third_party()
    return sorted(options)


def register_plugin_configs() -> None:
    """Give every registered plugin without a YAML file a config node of its defaults, so a third-party
    plugin registered through an entry point is selectable as ``method=<name>`` with no file in conf/."""
    store = ConfigStore.instance()
    for group, registry in (("method", METHODS), ("task", TASKS)):
        have_yaml = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
        for name in sorted(registry.third_party() - have_yaml):
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


def parse_overrides(argv: Sequence[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(override_arguments(argv))
    except HydraException as err:
        raise ConfigError(str(err).strip().splitlines()[0]) from None


def override_values(override: Override) -> list[str]:
    """The values an override takes: several for a sweep (``a,b``), else one. An ``interval(a, b)`` (a search
    space for a sweeper such as Optuna's: no list of values) stands for its lower end."""
    if override.value_type == ValueType.INTERVAL_SWEEP:
        return [str(override.value().start)]
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    return [override.get_value_element_as_str()]


def check_group_choices(argv: Sequence[str]) -> None:
    """Raise a one-line ConfigError for an unknown method/model/task/... choice, sweeps included."""
    for override in parse_overrides(argv):
        group = override.key_or_group.lstrip("+~")
        if group not in GROUPS or override.is_delete():
            continue
        if group == "experiment" and not (override.is_add() or override.is_force_add()):
            # no default preset to override: Hydra would answer with a list of keys that contains experiment
            raise ConfigError(
                f"experiment is not in the default config; add the preset with +{override.input_line}"
            )
        options = group_options(group)
        for value in override_values(override):
            if value not in options:
                raise bad_choice(group, value, options)


def top_level_keys() -> list[str]:
    """The keys of ``conf/config.yaml`` and the config groups: what an override may name at the top level."""
    base = OmegaConf.load(CONF_DIR / "config.yaml")
    return sorted({str(k) for k in base if k != "defaults"} | set(GROUPS) | {"hydra"})


def check_new_keys(argv: Sequence[str]) -> None:
    """Refuse ``+foo=1`` at the top level: a key no part of the harness reads would still change the config hash.
    (``+method.x=…`` is allowed: the method's own Config checks it.)"""
    known = top_level_keys()
    for override in parse_overrides(argv):
        key = override.get_key_element()  # with its "+" / "++" / "~" prefix
        head = key.lstrip("+~").split("@")[0].split(".")[0].split("/")[0]
        if key.startswith("+") and head not in known:
            raise bad_choice("top-level key", head, known)


def _composition_error(err: Exception, overrides: Sequence[str]) -> ConfigError:
    """Hydra's multi-line composition errors as one line naming the key and the valid keys."""
    cause = err.__cause__
    full_key = getattr(cause, "full_key", None)
    if full_key:  # "method.rr": a key the selected YAML node does not have
        group, _, key = str(full_key).partition(".")
        try:
            node = compose_config(
                [o for o in overrides if not o.split("=")[0].lstrip("+~").startswith(f"{group}.")],
                with_choices=True,
            )
        except HydraException:
            node = None
        if node is not None and isinstance(node.get(group), DictConfig):
            valid = ", ".join(sorted(str(k) for k in node[group] if k not in NAMING_KEYS))
            # the group's chosen file (trainer nodes have no name key): what the user selected or defaulted to
            choice = node.hydra.runtime.choices.get(group) or node[group].get("name")
            return ConfigError(f"{full_key} is not a setting of {group}={choice!r}; valid keys: {valid}")
    first = str(err).strip().splitlines()[0]
    could_not = re.match(r"Could not override '([^']+)'", first)
    if could_not:
        return bad_choice("config key", could_not.group(1), top_level_keys())
    return ConfigError(first)


def compose_config(overrides: Sequence[str], with_choices: bool = False) -> DictConfig:
    """The composed config; ``with_choices`` keeps Hydra's own node (``hydra.runtime.choices``: the file chosen
    in each group)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=with_choices)


def compose_run_config(overrides: Sequence[str]) -> DictConfig:
    """The run config for ``overrides`` (as ``adaptbench run`` would compose it, without Hydra's runtime, a hub
    model's node filled from its config.json); every mistake in the overrides is a one-line ConfigError."""
    check_group_choices(overrides)
    check_new_keys(overrides)
    register_plugin_configs()
    try:
        cfg = compose_config(overrides)
    except HydraException as err:
        raise _composition_error(err, overrides) from None
    from adaptbench.harness.config.hub import fill_hub_model  # it imports this module

    fill_hub_model(cfg)  # model=hub: family and arch from the checkpoint's config.json
    return cfg


def check_run_overrides(argv: Sequence[str]) -> DictConfig:
    """Before Hydra runs a command line: compose the first job of a sweep (each swept value's first choice), so a
    typo in a key fails in one line, before any job starts; check each ``method.<key>`` against every method of
    the command line. Later jobs of a sweep are checked as they run. Returns the first job's config."""
    check_group_choices(argv)  # every swept choice, not only the first
    first_job: list[tuple[Override, str]] = []
    for override in parse_overrides(argv):
        if override.key_or_group.startswith("hydra"):
            continue
        key = override.get_key_element()
        line = (
            f"{key}={override_values(override)[0]}" if override.is_sweep_override() else override.input_line
        )
        first_job.append((override, line))
    methods = swept_methods(first_job, multirun="-m" in argv or "--multirun" in argv)
    if len(methods) > 1:  # before composing: a setting the first method lacks gets the hint to ++ too
        check_method_settings(first_job, methods)
    first = compose_run_config([line for _, line in first_job])
    if len(methods) < 2:
        check_method_settings(first_job, methods)
    return first


def swept_methods(first_job: list[tuple[Override, str]], multirun: bool) -> list[str]:
    """The methods a command line runs: its ``method=`` choices, else (a sweep) those of the sweep's own
    ``hydra.sweeper.params.method`` (a preset's: ``+experiment=table14_webnlg``), else none named."""
    for override, _ in first_job:
        if override.key_or_group == "method" and not override.is_delete():
            return list(dict.fromkeys(override_values(override)))
    if not multirun or not any(o.key_or_group.startswith("method.") for o, _ in first_job):
        return []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            lines = [line for _, line in first_job]
            params = compose(config_name="config", overrides=lines, return_hydra_config=True).hydra.sweeper
    except HydraException:  # a mistake in the first job: composing it (check_run_overrides) names it
        return []
    swept = OmegaConf.select(params, "params.method") if "params" in params else None
    return (
        [] if swept is None else list(dict.fromkeys(override_values(parse_overrides([f"method={swept}"])[0])))
    )


def method_settings_of(method: str | None, other_lines: list[str]) -> tuple[str, set[str]]:
    """A method's name and setting keys, as the first job composes them with ``method=<method>``."""
    lines = [*other_lines, *([f"method={method}"] if method else [])]
    try:
        node = compose_config(lines).method
    except HydraException as err:
        raise _composition_error(err, lines) from None
    return str(node.get("name")), {str(k) for k in node if k not in NAMING_KEYS}


def check_method_settings(first_job: list[tuple[Override, str]], methods: list[str]) -> None:
    """``method.<key>`` settings across the methods of a command line (``-m method=lora,bitfit method.r=4``).

    A plain ``method.<key>=…`` must be a setting of every method: for one that lacks it, one line pointing to
    ``++method.<key>=…``, which sets the key for the methods that take it and is dropped, with a note, for the
    others (``harness.config.validate.drop_settings_the_method_lacks``). A ``++method.<key>=…`` must be a setting of at
    least one of the methods, else it is a typo."""
    settings = [
        (override, override.key_or_group.split(".")[1])
        for override, _ in first_job
        if override.key_or_group.startswith("method.") and not override.is_delete()
    ]
    plain = (
        [(o, key) for o, key in settings if not (o.is_add() or o.is_force_add())] if len(methods) > 1 else []
    )
    forced = [(o, key) for o, key in settings if o.is_force_add()]
    if not plain and not forced:
        return
    others = [line for o, line in first_job if not o.key_or_group.startswith("method")]
    known = dict(method_settings_of(method, others) for method in (methods or [None]))
    for _, key in plain + forced:  # a key no method takes is a typo
        if not any(key in keys for keys in known.values()):
            valid = ", ".join(sorted(set().union(*known.values()))) or "(none)"
            whose = (
                f"method={next(iter(known))!r}"
                if len(known) == 1
                else f"any method of the sweep ({', '.join(known)})"
            )
            raise ConfigError(f"method.{key} is not a setting of {whose}; valid keys: {valid}")
    for override, key in plain:
        for name, keys in known.items():
            if key not in keys:
                raise ConfigError(
                    f"method.{key} is not a setting of method={name!r} (its settings: "
                    f"{', '.join(sorted(keys)) or 'none'}); to set it only for the methods that take it, "
                    f"write ++{override.input_line}"
                )


def sweep_safe_overrides(argv: Sequence[str]) -> list[str]:
    """The command line of a sweep with each plain ``<group>.<key>=…`` of a swept group as ``++<group>.<key>=…``.

    Hydra composes a sweep's base config (its own, before any job) without the swept values, so with the
    default choice of that group: ``-m task=sst2,mrpc task.data_dir=…`` fails there with "Key 'data_dir' is not
    in struct" (the default task, vader, has no data folder) though every job's task has the key. The first job
    has already been composed with the plain form (``check_run_overrides``: a typo still fails in one line), and
    a later job whose choice lacks the key is refused by its own Config check, so ``++`` only lets the base
    compose; each job's config, and so its hash, is the same as with the plain form."""
    if "-m" not in argv and "--multirun" not in argv:
        return list(argv)
    parsed = {o.input_line: o for o in parse_overrides(argv)}
    swept = {o.key_or_group for o in parsed.values() if o.key_or_group in GROUPS and o.is_sweep_override()}
    overrides = set(override_arguments(argv))
    rewritten = []
    for token in argv:
        override = parsed.get(token) if token in overrides else None
        plain = override is not None and not (
            override.is_add() or override.is_force_add() or override.is_delete()
        )
        if plain and "." in override.key_or_group and override.key_or_group.split(".")[0] in swept:
            token = f"++{token}"
        rewritten.append(token)
    return rewritten


def forced_method_settings(overrides: Sequence[str]) -> list[str]:
    """The method keys a command line force-adds (``++method.<key>=…``; the top-level key of a nested one)."""
    return [
        override.key_or_group.split(".")[1]
        for override in parse_overrides(overrides)
        if override.is_force_add() and override.key_or_group.startswith("method.")
    ]
