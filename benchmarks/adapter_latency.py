"""Forward latency of every adapter method at the LoRA paper's budgets (|Θ| = 0.5M and 11M: the adapter width
r chosen by ``adaptbench latency``'s budget search) and of the prefix methods at their paper settings, each /
the unadapted base: GPT-2 medium from its config (random weights). Reported beside the paper's GPU overheads
(Table 1, batch 1, 128 tokens, 11M: AdapterL +20.7 %, AdapterH +30.3 %; batch 16, 256 tokens: +2.2 %/+3.5 %).

The base model is built once; each group of methods takes turns with it in one process (base, m1, m2, ...,
base, m1, ...) through the latency command's own pieces (``harness.measure.timing``: budget search, inputs
with the prefix positions, interleaved timing, summary). On a CPU only batch 1 x 128 tokens runs by default
(one batch-16 x 256-token forward of GPT-2 medium takes minutes on 2 cores); ``--shapes 1x128,16x256`` asks for
both, as a GPU run does by default.

    python benchmarks/adapter_latency.py [--quick] [--rounds 5] [--shapes 1x128,16x256]
"""

from __future__ import annotations

import copy
import gc

import torch
from _common import arguments, emit, emit_summary, note

BENCHMARK = "adapter_latency"
ADAPTERS = ("adapter_l", "adapter_h", "adapter_p", "adapter_d")
PREFIXES = ("prefix_embed", "prefix_layer")
BUDGETS = ("0.5M", "11M")
# tiny-gpt2 (--quick): 2 blocks (AdapterDrop drops 1, not the default 8), 256 positions
QUICK_OVERRIDES = {"adapter_d": ["method.drop=1"], "prefix_embed": ["method.prefix_len=8"]}
# LoRA paper Table 1 (GPT-2 medium, V100): overhead over the base model at (batch, seq, |Θ|)
PAPER = {
    (1, 128): {"adapter_l": 0.207, "adapter_h": 0.303},
    (16, 256): {"adapter_l": 0.022, "adapter_h": 0.035},
}


def shape_option(parser) -> None:
    parser.add_argument("--shapes", default=None, help="batch x seq points, e.g. 1x128,16x256")


def adapted_copy(base, node: dict, budget: str | None, arch, layout, kind: str):
    """(copy of base with the method applied, the method plugin, its node with the budget's r)."""
    from adaptbench.harness.api.loading import load_method
    from adaptbench.harness.api.plugins import adapt
    from adaptbench.harness.measure.latency import parse_budget
    from adaptbench.harness.measure.timing import method_for_budget, plain_node

    node = plain_node(node) if budget is None else method_for_budget(node, parse_budget(budget), arch, layout)
    method = load_method(node)
    method.validate(arch, layout)
    model = copy.deepcopy(base)
    adapt(model, method, layout)
    method.merge(model)
    return model.eval(), method, node


def measure_group(base, group: list[tuple[str, str | None]], shape, args, model_name: str) -> list[dict]:
    """One interleaved timing of the base and each (method, budget) of ``group`` at ``shape``."""
    from adaptbench.harness.api.layout import Layout
    from adaptbench.harness.api.models import arch_config, model_kind
    from adaptbench.harness.config.tree import compose_config
    from adaptbench.harness.measure.latency import LatencySettings
    from adaptbench.harness.measure.timing import random_inputs, summarise, time_interleaved

    batch, seq = shape
    settings = LatencySettings(batch=batch, seq=seq, trials=args.rounds, warmup=1)
    runs, info = {}, {}
    for method_name, budget in group:
        extra = QUICK_OVERRIDES.get(method_name, []) if args.quick else []
        cfg = compose_config([f"model={model_name}", f"method={method_name}", *extra])
        kind = model_kind(cfg.model)
        arch, layout = arch_config(cfg.model, kind), Layout.from_config(cfg.model.layout)
        model, method, node = adapted_copy(base, cfg.method, budget, arch, layout, kind)
        base_ids, method_ids = random_inputs(method, settings, kind, arch, seed=0)
        label = f"{method_name}@{budget or 'default'}"
        runs.setdefault("base", (base, base_ids))
        runs[label] = (model, method_ids)
        trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
        info[label] = {
            "method": method_name,
            "budget": budget,
            "r": node.get("r"),
            "input_len": method_ids.shape[1],
            "trainable_params": trained,
        }
    note(f"{BENCHMARK}: b{batch} s{seq}: base + {', '.join(info)} x {args.rounds} rounds")
    times = time_interleaved(runs, args.rounds, 1, torch.device("cpu"))
    lines = []
    for label, details in info.items():
        summary = summarise(times["base"], times[label])
        paper = PAPER.get(shape, {}).get(details["method"]) if details["budget"] == "11M" else None
        lines.append(
            emit(
                {
                    "benchmark": BENCHMARK,
                    "comparison": f"{label} b{batch} s{seq}: method/base",
                    "ratio": summary["ratio"],
                    "ratio_iqr": summary["ratio_iqr"],
                    "overhead": summary["overhead"],
                    "paper_gpu_overhead": paper,
                    "base_ms": summary["base_ms_median"],
                    "method_ms": summary["method_ms_median"],
                    "rounds": args.rounds,
                    "batch": batch,
                    "seq": seq,
                    "model": model_name,
                    **details,
                }
            )
        )
    for label in info:
        del runs[label]
    gc.collect()
    return lines


def main() -> None:
    args = arguments(__doc__, rounds=5, quick_rounds=2, extra=shape_option)
    from adaptbench.harness.api.models import build_model, model_kind
    from adaptbench.harness.config.tree import compose_config

    model_name = "tiny-gpt2" if args.quick else "gpt2-medium"
    default = "1x128,16x256" if torch.cuda.is_available() else "1x128"
    shapes = [tuple(int(v) for v in s.split("x")) for s in (args.shapes or default).split(",")]
    cfg = compose_config([f"model={model_name}", "model.pretrained=false"])
    torch.manual_seed(0)
    base = build_model(cfg.model, model_kind(cfg.model), 2).eval()
    budgets = (None,) if args.quick else BUDGETS  # tiny-gpt2 cannot hold 11M in adapters
    groups = [[(m, b) for m in ADAPTERS] for b in budgets] + [[(m, None) for m in PREFIXES]]
    lines = []
    for shape in shapes:
        for group in groups:
            lines += measure_group(base, group, shape, args, model_name)
    overheads = {line["comparison"]: line["overhead"] for line in lines}
    headline = next(
        (line for line in lines if line["method"] == "adapter_h" and line["budget"] == "11M"), lines[0]
    )
    emit_summary(
        BENCHMARK,
        ratio=headline["ratio"],
        target=None,
        met=None,
        what=f"{headline['comparison']} (reported beside the paper's GPU overheads)",
        others=overheads,
        model=model_name,
    )


if __name__ == "__main__":
    main()
