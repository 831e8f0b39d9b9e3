"""Training step time, LoRA / full fine-tuning: GPT-2 medium from its config (random weights), batch 1, 128
tokens, AdamW, the two taking turns in one process. LoRA: r=4, alpha=32 on W_q and W_v (the paper's GPT-2
setting). Target: <= 0.45.

    python benchmarks/train_step_gpt2.py [--quick] [--rounds 8]
"""

from __future__ import annotations

import torch
from _common import arguments, build_adapted, comparison, emit, note, threads, time_rounds, train_step

BENCHMARK = "train_step_gpt2"
TARGET = 0.45


def main() -> None:
    args = arguments(__doc__, rounds=8, quick_rounds=3)
    model_name = "tiny-gpt2" if args.quick else "gpt2-medium"
    steps = {}
    for method, extra in (("full", ()), ("lora", ("method.r=4", "method.alpha=32"))):
        model, _, _ = build_adapted(model_name, method, ["model.pretrained=false", *extra], kind="generation")
        ids = torch.randint(0, model.config.vocab_size, (1, 128), generator=torch.Generator().manual_seed(0))
        steps[method] = train_step(model, ids, ids)
    note(f"{BENCHMARK}: {model_name}, b1 s128, {args.rounds} rounds")
    times = time_rounds(steps, args.rounds, warmup=1, budget_s=None if args.quick else 420)
    setting = {"model": model_name, "batch": 1, "seq": 128, "threads": threads()}
    line = comparison(BENCHMARK, "lora/full train step", times["lora"], times["full"], TARGET, **setting)
    emit(
        {
            "benchmark": BENCHMARK,
            "summary": True,
            "ratio": line["ratio"],
            "target": TARGET,
            "met": line["met"],
            "what": "LoRA / full step time",
            **setting,
        }
    )


if __name__ == "__main__":
    main()
