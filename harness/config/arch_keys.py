"""The settings a ``model.arch`` block may hold: those of its ``model_type``'s transformers config class, and
those its modeling code reads (DeBERTa-v2 reads ``share_att_key`` and others its config class never declares).
A name outside both is a typo that changes nothing but the config hash (``+model.arch.hiden_size=64``)."""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf
from transformers import CONFIG_MAPPING

from adaptbench.harness.api.errors import ConfigError, bad_choice

READ_BY_CODE = re.compile(r"config\.(\w+)|getattr\(\s*\w*config\w*\s*,\s*[\"'](\w+)[\"']")


@functools.cache
def arch_keys(model_type: str) -> frozenset[str]:
    config_class = CONFIG_MAPPING[model_type]
    keys = set(vars(config_class())) | set(getattr(config_class, "attribute_map", {}))
    keys |= set(inspect.signature(config_class.__init__).parameters)
    try:
        modeling = importlib.import_module(config_class.__module__.replace(".configuration_", ".modeling_"))
        keys |= {a or b for a, b in READ_BY_CODE.findall(inspect.getsource(modeling))}
    except (ImportError, OSError, TypeError):  # no modeling module beside it: the config class's keys only
        pass
    return frozenset(keys - {"self", "kwargs"})


def check_arch_keys(arch: Mapping[str, Any] | None) -> None:
    """Refuse a key under ``model.arch`` that its model type neither declares nor reads."""
    if arch is None:
        return
    plain = OmegaConf.to_container(arch, resolve=True) if not isinstance(arch, dict) else dict(arch)
    model_type = plain.get("model_type")
    if model_type not in CONFIG_MAPPING:
        raise bad_choice("model.arch.model_type", model_type, sorted(CONFIG_MAPPING.keys()))
    known = arch_keys(str(model_type))
    for key in plain:
        if key != "model_type" and key not in known:
            close = sorted(k for k in known if not k.startswith("_") and k[:3] == str(key)[:3])[:8]
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise ConfigError(f"model.arch.{key} is not a setting of model_type={model_type!r}{hint}")
