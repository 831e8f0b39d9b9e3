"""A model with no YAML of its own (``model=hub model.hf_name=<org/name or local folder>``): its family and
architecture are read from the checkpoint's ``config.json`` before validation, so any Llama, Qwen2, Mistral or
GPT-2 checkpoint runs by name.

The family is the ``conf/family/<model_type>.yaml`` of the checkpoint's ``model_type`` (a new family stays one
YAML file there); the architecture is ``config.json`` itself, less the bookkeeping keys that do not describe the
network. Both are written into the run's model node, so its record (and hash) says what was built, and a record
rebuilds (export, analyze) without the checkpoint's folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import CONF_DIR

# config.json keys that record how a checkpoint was saved, not the network: not part of ``arch`` (``architectures``
# is set by ``api.models.arch_config`` from the task's model class)
BOOKKEEPING_KEYS = frozenset(
    {"architectures", "transformers_version", "_name_or_path", "torch_dtype", "dtype", "auto_map",
     "quantization_config", "_attn_implementation_autoset"}
)  # fmt: skip
# families a model_type has no file for, with why (a family file maps each weight to one module or one contiguous
# output slice of a fused module)
UNSUPPORTED = {
    "gpt_neox": "its fused query_key_value interleaves q, k and v per head, which a family's contiguous "
    "slices (conf/family target 'slice') cannot express",
}
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
# conf/model/hub.yaml's name, replaced by the checkpoint's (``default_name``)
PLACEHOLDER_NAME = "hub"


def families() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "family").glob("*.yaml"))


def needs_filling(model: Any) -> bool:
    """A model node whose ``arch`` is null takes it (and its family) from the checkpoint (``conf/model/hub.yaml``);
    so does one whose ``arch`` holds only the user's ``+model.arch.<key>=…`` changes (no ``model_type``, no
    layout yet): those apply on top of config.json."""
    if not isinstance(model, DictConfig) or "arch" not in model or model.get("arch_source"):
        return False
    arch = model.get("arch")
    return arch is None or (model.get("layout") is None and "model_type" not in arch)


def checkpoint_location(model: DictConfig) -> str:
    location = model.get("path") or model.get("hf_name")
    if not location:
        raise ConfigError(
            "model=hub reads its architecture from a checkpoint: set model.hf_name=<org/name or local folder>"
        )
    from adaptbench.harness.api.models import resolve_location

    return resolve_location(str(location))


def read_config_json(location: str) -> dict:
    """The checkpoint's ``config.json``: from a local folder, else from the hub (or its local cache)."""
    folder = Path(location)
    if folder.is_dir():
        path = folder / "config.json"
        if not path.is_file():
            raise ConfigError(f"model.hf_name={location!r}: the folder holds no config.json")
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = Path(hf_hub_download(location, "config.json"))
        except (OSError, ValueError, EntryNotFoundError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(
                f"model.hf_name={location!r}: no config.json (not a local folder, and the hub gave none: {reason})"
            ) from None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise ConfigError(f"{path}: no 'model_type' field (it names the model's family)")
    return config


def family_node(model_type: str, where: str) -> DictConfig:
    """``conf/family/<model_type>.yaml``; a one-line error naming the families there when it has none."""
    path = CONF_DIR / "family" / f"{model_type}.yaml"
    if path.is_file():
        return OmegaConf.load(path)
    why = f" ({UNSUPPORTED[model_type]})" if model_type in UNSUPPORTED else ""
    raise ConfigError(
        f"{where}: model_type {model_type!r} has no family file in conf/family{why}; supported families: "
        f"{', '.join(families())} (a new family is one YAML file there)"
    )


def default_name(location: str) -> str:
    """A results-folder name from the checkpoint: its last path part (``Qwen/Qwen2-0.5B`` -> ``Qwen2-0.5B``)."""
    name = re.sub(r"[^A-Za-z0-9._+-]", "-", Path(location.rstrip("/")).name).lstrip(".-")
    return name or "hub"


def is_causal_lm(config: dict) -> bool:
    """Whether the checkpoint is a causal LM as saved: its ``architectures`` (when given) name an LM head."""
    classes = config.get("architectures") or []
    return not classes or any(str(c).endswith(CAUSAL_SUFFIXES) for c in classes)


def fill_hub_model(cfg: DictConfig) -> None:
    """Fill a hub model node (``needs_filling``) from its checkpoint's config.json, in place; refuse a checkpoint
    that is not a causal LM when the task generates text. Other model nodes are left as they are."""
    model = cfg.get("model")
    if not needs_filling(model):
        return
    location = checkpoint_location(model)
    config = read_config_json(location)
    layout = family_node(config["model_type"], f"model.hf_name={location!r}")
    check_generation(cfg, location, config, layout)
    arch = {k: v for k, v in config.items() if k not in BOOKKEEPING_KEYS}
    changes = OmegaConf.to_container(model.arch, resolve=True) if model.arch is not None else {}
    if changes:  # the user's keys, unlike config.json's own, are held to the model type's settings
        from adaptbench.harness.config.arch_keys import check_arch_keys

        check_arch_keys({"model_type": config["model_type"], **changes})
        arch.update(changes)
    with open_dict(model):
        model.arch = arch
        model.layout = layout
        # the arch is the checkpoint's own: transformers reads it (older keys included, e.g. Qwen2's rope_theta),
        # so validation does not hold it to today's config class as it does a user's +model.arch.<key>
        model.arch_source = "config.json"
        if model.get("name") in (None, PLACEHOLDER_NAME):
            model.name = default_name(location)


def check_generation(cfg: DictConfig, location: str, config: dict, layout: DictConfig) -> None:
    """A generation task needs a decoder family and a checkpoint saved with a causal LM head."""
    if not isinstance(cfg.get("task"), DictConfig) or "name" not in cfg.task:
        return
    from adaptbench.harness.api.loading import load_task

    if load_task(cfg.task).kind != "generation":
        return
    decoders = [f for f in families() if OmegaConf.load(CONF_DIR / "family" / f"{f}.yaml").get("decoder")]
    classes = ", ".join(config.get("architectures") or [])
    if not layout.get("decoder", False) or not is_causal_lm(config):
        saved = f" (saved as {classes})" if classes else ""
        raise ConfigError(
            f"model.hf_name={location!r} is not a causal LM{saved}, and task={cfg.task.name!r} generates text; "
            f"choose a decoder checkpoint (families: {', '.join(decoders)})"
        )
