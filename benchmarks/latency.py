"""Forward latency of adapted models, side by side in one process (the LoRA paper's Table 1 setting).

Each variant is the same architecture with random weights (built from its config; no download). Trials are
interleaved across variants so machine noise hits all alike; the result is the median per variant and its
ratio to the unadapted model. Merged LoRA should be 1.00x: it *is* the base architecture.

    python benchmarks/latency.py --model gpt2-medium --batch 1 --seq 128 --trials 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from adaptbench.harness.config_tree import compose_run_config
from adaptbench.harness.layout import Layout
from adaptbench.harness.models import build_model
from adaptbench.harness.plugin_loading import load_method
from adaptbench.harness.plugins import adapt

# (label, method overrides or None for the unadapted model, merge after adapting)
VARIANTS = [
    ("base", None, False),
    ("lora_merged", ["method=lora", "method.r=4"], True),
    ("lora_unmerged", ["method=lora", "method.r=4"], False),
    ("adapter_l", ["method=adapter_l", "method.r=4"], False),
    ("adapter_h", ["method=adapter_h", "method.r=4"], False),
]


def build_variant(model: str, overrides: list[str] | None, merge: bool) -> torch.nn.Module:
    cfg = compose_run_config([f"model={model}", "model.pretrained=false", "task=e2e", *(overrides or [])])
    torch.manual_seed(0)
    net = build_model(cfg.model, "generation", 2)
    if overrides is not None:
        method = load_method(cfg.method)
        adapt(net, method, Layout.from_config(cfg.model.layout))
        if merge:
            method.merge(net)
    return net.eval()


@torch.no_grad()
def measure(models: dict[str, torch.nn.Module], batch: int, seq: int, trials: int) -> dict[str, list[float]]:
    vocab = next(iter(models.values())).config.vocab_size
    ids = torch.randint(0, vocab, (batch, seq))
    times: dict[str, list[float]] = {name: [] for name in models}
    for net in models.values():  # warm-up
        net(input_ids=ids)
    for _ in range(trials):
        for name, net in models.items():
            start = time.perf_counter()
            net(input_ids=ids)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2-medium")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    models = {label: build_variant(args.model, overrides, merge) for label, overrides, merge in VARIANTS}
    times = measure(models, args.batch, args.seq, args.trials)
    base = statistics.median(times["base"])
    result = {
        "model": args.model,
        "batch": args.batch,
        "seq": args.seq,
        "trials": args.trials,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "median_ms": {k: round(statistics.median(v), 2) for k, v in times.items()},
        "ratio_to_base": {k: round(statistics.median(v) / base, 3) for k, v in times.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
