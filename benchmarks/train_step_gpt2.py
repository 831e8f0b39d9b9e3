"""Training step time, LoRA / full fine-tuning: GPT-2 medium from its config (random weights), batch 1, 128
tokens, AdamW, the two taking turns in one process. LoRA: r=4, alpha=32 on W_q and W_v (the paper's GPT-2
setting). Target: <= 0.45.

    python benchmarks/train_step_gpt2.py [--quick] [--rounds 8]
"""

from __future__ import annotations

from _common import (
    GPT2_LORA,
    arguments,
    build_gpt2,
    comparison,
    emit_summary,
    gpt2_ids,
    gpt2_setting,
    note,
    threads,
    time_rounds,
    train_step,
)

BENCHMARK = "train_step_gpt2"
TARGET = 0.45


def main() -> None:
    args = arguments(__doc__, rounds=8, quick_rounds=3)
    setting = gpt2_setting(args.quick)
    steps = {}
    for method, extra in (("full", ()), ("lora", GPT2_LORA)):
        model, _, _ = build_gpt2(args.quick, method, extra)
        ids = gpt2_ids(model.config.vocab_size)
        steps[method] = train_step(model, ids, ids)  # causal LM: the labels are the input
    note(f"{BENCHMARK}: {setting}, {args.rounds} rounds")
    times = time_rounds(steps, args.rounds, warmup=1, budget_s=None if args.quick else 420)
    setting["threads"] = threads()
    line = comparison(BENCHMARK, "lora/full train step", times["lora"], times["full"], TARGET, **setting)
    emit_summary(
        BENCHMARK,
        ratio=line["ratio"],
        target=TARGET,
        met=line["met"],
        what="LoRA / full step time",
        **setting,
    )


if __name__ == "__main__":
    main()
