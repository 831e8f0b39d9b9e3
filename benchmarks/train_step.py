"""Training step time of every registered method / full fine-tuning: MiniLM-L6 (real weights), batch 16,
128 positions (prefix methods' virtual tokens included, as the runner's ``trainer.max_seq_len`` counts them),
AdamW, all methods taking turns in one process. Target: LoRA / full <= 0.70; every method reported.

    python benchmarks/train_step.py [--quick] [--rounds 20]
"""

from __future__ import annotations

import torch
from _common import (
    arguments,
    build_adapted,
    comparison,
    emit_summary,
    method_rows,
    note,
    threads,
    time_rounds,
    train_step,
)

BENCHMARK = "train_step"
TARGET = 0.70
# virtual tokens that fit 128 positions (prefix_embed's default 256 + 8 is for GPT-3's 2048); AdapterDrop
OVERRIDES = {
    "prefix_embed": ("method.prefix_len=8", "method.infix_len=8"),
    "adapter_d": ("method.drop=2",),  # MiniLM has 6 blocks: adapters in the top 4
}


def all_methods() -> list[str]:
    from adaptbench.harness.config.tree import group_options

    return list(group_options("method"))


def main() -> None:
    args = arguments(__doc__, rounds=20, quick_rounds=3)
    batch, seq = (4, 32) if args.quick else (16, 128)
    model_name = "tiny-bert" if args.quick else "minilm-l6"
    methods = ["full", "lora"] if args.quick else all_methods()
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (batch,), generator=generator)
    steps = {}
    for method in methods:
        model, plugin, _ = build_adapted(model_name, method, OVERRIDES.get(method, ()))
        vocab = model.config.vocab_size
        ids = torch.randint(1000, vocab, (batch, plugin.input_length(seq)), generator=generator)
        ids[:, 0] = 101  # [CLS]: prefix methods insert after it
        steps[method] = train_step(model, method_rows(plugin, ids, "classification", vocab, 101), labels)
    note(f"{BENCHMARK}: {model_name}, {len(methods)} methods, b{batch} s{seq}, {args.rounds} rounds")
    times = time_rounds(steps, args.rounds, warmup=2, budget_s=None if args.quick else 540)
    setting = {"model": model_name, "batch": batch, "seq": seq, "threads": threads()}
    ratios = {}
    for method in methods:
        if method != "full":
            target = TARGET if method == "lora" else None
            ratios[method] = comparison(
                BENCHMARK, f"{method}/full", times[method], times["full"], target, **setting
            )
    emit_summary(
        BENCHMARK,
        ratio=ratios["lora"]["ratio"],
        target=TARGET,
        met=ratios["lora"]["ratio"] <= TARGET,
        what="LoRA / full step time",
        others={m: r["ratio"] for m, r in ratios.items()},
        **setting,
    )


if __name__ == "__main__":
    main()
