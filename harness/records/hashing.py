"""A run's identity: the config that changes its result, and the hash of it that names its record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from omegaconf import DictConfig, OmegaConf

from adaptbench.harness.api.node_keys import LABEL_KEYS

# Config keys that do not change a run's result (where it writes, how it logs, how fast it evaluates).
NON_RESULT_KEYS = ("output_root", "resume", "logger", "device", "hydra")
NON_RESULT_TRAINER_KEYS = ("eval_batch_size", "save_trainable", "checkpoint")
# Facts of the model family (conf/family) that follow from its architecture, which is hashed already: how a
# model is built without a task and which inputs are refused. Not hashed, so records made before the family
# files stated them keep their hashes.
ARCHITECTURE_FACT_KEYS = ("decoder", "absolute_positions", "positions_after_padding")


# Settings added after records existed, hashed only when they differ from the value every earlier record ran
# with, so those records keep their hashes: no gradient checkpointing, the logging interval min(50, max_steps),
# a regression head starting at zero, the best epoch picked on the dev set (no held-out selection).
UNHASHED_DEFAULTS: dict[tuple[str, str], object] = {
    ("trainer", "gradient_checkpointing"): False,
    ("trainer", "logging_steps"): None,
    ("task", "head_bias_init"): "zero",
    ("task", "selection"): None,
    # own-data tasks read from a dataset by name (task.dataset) rather than files: unset, records hash as before
    ("task", "dataset"): None,
    ("task", "train_split"): "train",
    ("task", "eval_split"): "validation",
}


def result_config(cfg: DictConfig | Mapping) -> dict:
    """The resolved config minus the keys that do not change the result."""
    plain = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    plain = {k: v for k, v in plain.items() if k not in NON_RESULT_KEYS}
    if "dry_run" in plain:
        # A dry run names (and finds) the record its real run writes: hashed at its default rather than dropped,
        # since every existing record's hash was taken with "dry_run": false in it.
        plain["dry_run"] = False
    for section, dropped in (("trainer", NON_RESULT_TRAINER_KEYS), ("method", LABEL_KEYS)):
        if isinstance(plain.get(section), dict):
            plain[section] = {k: v for k, v in plain[section].items() if k not in dropped}
    for (section, key), default in UNHASHED_DEFAULTS.items():
        node = plain.get(section)
        if (
            isinstance(node, dict)
            and key in node
            and node[key] == default
            and type(node[key]) is type(default)
        ):
            del node[key]
    model = plain.get("model")
    if isinstance(model, dict) and isinstance(model.get("layout"), dict):
        layout = {k: v for k, v in model["layout"].items() if k not in ARCHITECTURE_FACT_KEYS}
        plain["model"] = {**model, "layout": layout}
    return plain


def config_hash(cfg: DictConfig | Mapping, upstream: str | None = None) -> str:
    """A stable hash (sha256 of canonical JSON) of the result-changing config; ``upstream`` identifies the tensors
    the run starts from (``init_from``), so rerunning the upstream run makes this a new job."""
    result = result_config(cfg)
    if upstream is not None:
        result["init_from_hash"] = upstream
    canonical = json.dumps(result, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
