"""The measurement behind ``adaptbench latency`` (the command and its settings: ``harness/measure/latency.py``).

Both models are the architecture with random weights (latency does not depend on their values) in one process;
the adapted one is a copy of the base with the method applied (and merged, by default). Their forward passes
are timed interleaved, base, method, base, method..., so machine noise hits both alike; the record holds each
one's median and interquartile range and the ratio of the medians.
"""

from __future__ import annotations

import copy
import functools
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from transformers import PretrainedConfig

from adaptbench.harness.api.accounting import parameter_report
from adaptbench.harness.api.errors import bad_value
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method, plugin_name
from adaptbench.harness.api.models import arch_config, build_model, model_kind
from adaptbench.harness.api.plugins import Method, adapt, typed_config
from adaptbench.harness.api.registry import METHODS
from adaptbench.harness.config.tree import CONF_DIR
from adaptbench.harness.measure.latency import LatencySettings
from adaptbench.harness.records.hashing import config_hash, result_config
from adaptbench.harness.records.provenance import provenance
from adaptbench.harness.records.schema import LATENCY_KIND, LatencyRecord
from adaptbench.harness.records.store import check_path_name, write_json_atomic
from adaptbench.harness.run.plan import pick_device

# No adapter width is searched beyond this: a budget that needs more is not an adapter budget.
MAX_WIDTH = 1 << 20


def nearest_width(params_at: Callable[[int], int], target: int) -> int:
    """The width r >= 1 whose |Θ| = ``params_at(r)`` is nearest ``target`` (the smaller r on a tie), by
    bisection: |Θ| must grow with r."""
    if params_at(2) <= params_at(1):
        raise bad_value("latency.budget", target, "the method's |Θ| does not grow with method.r")
    high = 1
    while params_at(high) < target:
        if high >= MAX_WIDTH:
            raise bad_value("latency.budget", target, f"needs method.r > {MAX_WIDTH}")
        high *= 2
    low = max(high // 2, 1)  # params_at(low) < target <= params_at(high), unless high == 1
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if params_at(middle) < target else (low, middle)
    return min((low, high), key=lambda r: (abs(params_at(r) - target), r))


def plain_node(node: Mapping) -> dict:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)


def width_path(node: Mapping) -> tuple[str, ...] | None:
    """The keys under which the node keeps its width r (its plugin's ``width_key``); None if it has none."""
    path = tuple(METHODS.get(plugin_name(node)).width_key.split("."))
    inner: object = node
    for key in path:
        if not isinstance(inner, Mapping) or key not in inner:
            return None
        inner = inner[key]
    return path


def width_of(node: Mapping) -> int | None:
    path = width_path(node)
    if path is None:
        return None
    return functools.reduce(lambda inner, key: inner[key], path, node)


def with_width(node: dict, r: int, path: tuple[str, ...]) -> dict:
    """A copy of ``node`` with the value at ``path`` set to ``r``."""
    head, *rest = path
    return {**node, head: with_width(node[head], r, tuple(rest)) if rest else r}


def method_for_budget(method_node: Mapping, budget: int, arch: PretrainedConfig, layout: Layout) -> dict:
    """The method's node with its width r (where its plugin keeps it: ``Method.width_key``) set to the one whose formula |Θ| is
    nearest ``budget``."""
    node = plain_node(method_node)
    path = width_path(node)
    if path is None:
        widths = sorted(
            p.stem for p in (CONF_DIR / "method").glob("*.yaml") if width_path(plain_node(OmegaConf.load(p)))
        )
        raise bad_value(
            "latency.budget",
            budget,
            f"method={node['name']!r} has no width r to choose; budgets apply to: {', '.join(widths)}",
        )

    def params_at(r: int) -> int:
        return load_method(with_width(node, r, path)).formula_params(arch, layout)

    r = nearest_width(params_at, budget)
    print(f"latency.budget={budget:,} -> r={r} (|Θ| = {params_at(r):,})", file=sys.stderr)
    return with_width(node, r, path)


def random_inputs(
    method: Method, settings: LatencySettings, kind: str, arch: PretrainedConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (batch x seq) for the base model, and the same rows as the method sees them: changed by
    its ``example_transform`` (prefix methods insert their virtual-token positions, at the start and at the end of
    the row taken as the prompt)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, arch.vocab_size, (settings.batch, settings.seq), generator=generator)
    # Random ids have no [CLS] to keep in front; the transform reads nothing else from a tokenizer.
    no_cls = SimpleNamespace(cls_token_id=None)
    transform = method.example_transform(no_cls, kind, arch.vocab_size)
    if transform is None:
        method_ids = ids
    else:
        rows = [transform({"input_ids": row, "prompt_end": settings.seq}) for row in ids.tolist()]
        method_ids = torch.tensor([row["input_ids"] for row in rows])
    limit = getattr(arch, "max_position_embeddings", None)
    if limit is not None and method_ids.shape[1] > limit:
        raise bad_value(
            "latency.seq",
            settings.seq,
            f"with the method's {method_ids.shape[1] - settings.seq} virtual-token positions the input is "
            f"{method_ids.shape[1]} tokens; the model takes at most {limit}",
        )
    return ids, method_ids


def module_types(model: nn.Module) -> list[type]:
    return [type(m) for m in model.modules()]


def build_pair(
    cfg: DictConfig,
    method: Method,
    kind: str,
    arch: PretrainedConfig,
    layout: Layout,
    merge: bool,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, nn.Module, dict, bool]:
    """The base model, a copy with the method applied (merged when asked), the copy's parameter counts, and
    whether merging changed its forward path (only a method that folds into the base weights does).

    Both are built on ``device``: random initialisation of GPT-2 medium takes ~13 s of one CPU core and no
    time on a GPU, and a sweep of Table 1's 90 points builds 90 pairs."""
    torch.manual_seed(cfg.seed)
    with torch.device(device):
        base = build_model(cfg.model, kind, num_labels=2, device=device)
        adapted = copy.deepcopy(base)
        adapt(adapted, method, layout)
    counts = parameter_report(adapted, method, arch, layout)
    unmerged = module_types(adapted)
    if merge:
        method.merge(adapted)
    return base.eval(), adapted.eval(), counts, module_types(adapted) != unmerged


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model (``model name`` in /proc/cpuinfo where there is one)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "cpu"


@torch.inference_mode()
def time_interleaved(
    runs: Mapping[str, tuple[nn.Module, torch.Tensor]], trials: int, warmup: int, device: torch.device
) -> dict[str, list[float]]:
    """Milliseconds of each model's forward pass on its input, ``trials`` times, the models taking turns
    (after ``warmup`` untimed turns). On a GPU the clock stops only once the device has finished."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times: dict[str, list[float]] = {name: [] for name in runs}
    for turn in range(warmup + trials):
        for name, (model, ids) in runs.items():
            sync()
            start = time.perf_counter()
            model(input_ids=ids)
            sync()
            if turn >= warmup:
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def median_and_iqr(values: Sequence[float]) -> tuple[float, float]:
    q1, median, q3 = torch.tensor(values, dtype=torch.float64).quantile(
        torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    )
    return float(median), float(q3 - q1)


def summarise(base_ms: Sequence[float], method_ms: Sequence[float]) -> dict[str, float]:
    """Medians and IQRs of both, the ratio of the medians, its overhead (ratio - 1), and the IQR of the trials'
    paired ratios (method / base of the same turn): the noise against which to read the overhead."""
    base_median, base_iqr = median_and_iqr(base_ms)
    method_median, method_iqr = median_and_iqr(method_ms)
    ratio = method_median / base_median
    _, ratio_iqr = median_and_iqr([m / b for m, b in zip(method_ms, base_ms, strict=True)])
    return {
        "base_ms_median": round(base_median, 4),
        "method_ms_median": round(method_median, 4),
        "base_iqr_ms": round(base_iqr, 4),
        "method_iqr_ms": round(method_iqr, 4),
        "ratio": round(ratio, 4),
        "ratio_iqr": round(ratio_iqr, 4),
        "overhead": round(ratio - 1, 4),
    }


def latency_path(cfg: DictConfig, settings: LatencySettings, key: str) -> Path:
    """``<output_root>/latency/<model>/<method>-b<batch>-s<seq>-<hash12>.json``."""
    method, model = latency_names(cfg)
    name = f"{method}-b{settings.batch}-s{settings.seq}-{key[:12]}.json"
    return Path(cfg.output_root) / "latency" / model / name


def latency_names(cfg: DictConfig) -> tuple[str, str]:
    """The method and model names, each checked to be one path component (as ``adaptbench run`` checks them)."""
    return check_path_name("method.name", cfg.method.name), check_path_name("model.name", cfg.model.name)


def latency_method(
    cfg: DictConfig, settings: LatencySettings
) -> tuple[str, PretrainedConfig, Layout, DictConfig, Method]:
    """(model kind, architecture, layout, method node, method) of a point, the method at the width its |Θ|
    budget chose (if any), validated against the model."""
    kind = model_kind(cfg.model)
    arch = arch_config(cfg.model, kind)
    layout = Layout.from_config(cfg.model.layout)
    budget = settings.budget_params
    method_node = cfg.method if budget is None else method_for_budget(cfg.method, budget, arch, layout)
    method = load_method(method_node)
    method.validate(arch, layout)
    return kind, arch, layout, method_node, method


def measure(cfg: DictConfig) -> LatencyRecord:
    """Measure one point (method x model x batch x seq), write its record and return it.

    ``config_hash`` covers the result-changing config plus the device and thread count: the same point measured
    on other hardware is another record."""
    settings: LatencySettings = typed_config(LatencySettings, cfg.latency, "latency")
    latency_names(cfg)  # before anything is built
    kind, arch, layout, method_node, method = latency_method(cfg, settings)
    budget = settings.budget_params
    device = pick_device(cfg.device)
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    base_ids, method_ids = random_inputs(method, settings, kind, arch, cfg.seed)

    base, adapted, counts, merged = build_pair(cfg, method, kind, arch, layout, settings.merged, device)
    runs = {
        "base": (base.to(device), base_ids.to(device)),
        "method": (adapted.to(device), method_ids.to(device)),
    }
    times = time_interleaved(runs, settings.trials, settings.warmup, device)

    name = device_name(device)
    plain = {**result_config(cfg), "method": plain_node(method_node)}  # with the r a budget chose
    key = config_hash({**plain, "measured_on": {"device": name, "threads": torch.get_num_threads()}})
    record = LatencyRecord(
        kind=LATENCY_KIND,
        model=str(cfg.model.name),
        method=str(cfg.method.name),
        task_kind=kind,
        batch=settings.batch,
        seq=settings.seq,
        input_len=int(method_ids.shape[1]),
        trials=settings.trials,
        warmup=settings.warmup,
        device=name,
        threads=torch.get_num_threads(),
        budget=budget,
        r=width_of(method_node),
        method_params=counts["method_params"],
        formula_params=counts["formula_params"],
        merged=merged,
        **summarise(times["base"], times["method"]),
        config=plain,
        config_hash=key,
        provenance=provenance(name, cfg.seed),
    )
    write_json_atomic(latency_path(cfg, settings, key), record)
    return record
