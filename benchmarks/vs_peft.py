"""Our methods' step time / PEFT's on the same model, targets, r, alpha and batch: MiniLM-L6 (real weights),
batch 16, 128 positions, AdamW; training steps and forward passes, every variant taking turns in one process.
Target: each ratio <= 1.02.

- ``lora``: method=lora (r=8, alpha=8, q and v) vs ``peft.LoraConfig(r=8, lora_alpha=8, query/value)``.
- ``prefix_embed``: 16 trainable input positions (prefix_len=16, infix_len=0) vs PEFT prompt tuning with 16
  virtual tokens (the same computation: 16 trained embeddings in front of the input; ours after [CLS]).
- ``prefix_layer``: ours (16 positions whose hidden state is trained in every block) vs PEFT prefix tuning
  (16 trained key/value positions in every block): not the same method, the nearest PEFT has; reported only.
- ``full``: method=full vs the plain Hugging Face model with every parameter trainable.

    python benchmarks/vs_peft.py [--quick] [--rounds 12]
"""

from __future__ import annotations

import copy

import torch
from _common import (
    arguments,
    build_adapted,
    classification_batch,
    comparison,
    emit,
    emit_summary,
    forward_only,
    method_rows,
    note,
    threads,
    time_rounds,
    train_step,
)

BENCHMARK = "vs_peft"
TARGET = 1.02
VIRTUAL = 16
PREFIX = ("method.prefix_len=16", "method.infix_len=0")


def peft_model(base: torch.nn.Module, kind: str, cfg) -> torch.nn.Module:
    """PEFT's counterpart of our ``kind`` on a copy of ``base`` (sequence classification: the head trains)."""
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model

    from adaptbench.harness.api.layout import Layout

    layout = Layout.from_config(cfg.model.layout)
    if kind == "lora":
        # the same modules our layout names for q and v (BERT: attention.self.query / .value)
        names = sorted({layout.target(t).path.split(".")[-1] for t in cfg.method.targets})
        config = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=cfg.method.r,
            lora_alpha=cfg.method.alpha,
            lora_dropout=0.0,
            target_modules=names,
        )
    elif kind == "prefix_embed":
        config = PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=VIRTUAL)
    else:
        config = PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=VIRTUAL)
    return get_peft_model(copy.deepcopy(base), config)


def main() -> None:
    args = arguments(__doc__, rounds=12, quick_rounds=3)
    batch, seq = (4, 32) if args.quick else (16, 128)
    model_name = "tiny-bert" if args.quick else "minilm-l6"
    plain, ids, labels = classification_batch(model_name, batch, seq)
    vocab = plain.config.vocab_size
    short = ids[:, : seq - VIRTUAL]  # the task's input when 16 of the 128 positions are virtual tokens

    steps, forwards, skipped = {}, {}, {}
    for kind in ("lora", "prefix_embed", "prefix_layer", "full"):
        ours, plugin, cfg = build_adapted(model_name, kind, PREFIX if kind.startswith("prefix") else ())
        our_ids = method_rows(
            plugin, short if kind.startswith("prefix") else ids, "classification", vocab, 101
        )
        try:
            theirs = copy.deepcopy(plain) if kind == "full" else peft_model(plain, kind, cfg)
            their_ids = ids if kind in ("lora", "full") else short
            forward_only(theirs, their_ids)()  # PEFT may refuse this model only at its first forward
        except Exception as err:  # noqa: BLE001 -- a PEFT variant this model does not support: say so
            skipped[kind] = f"{type(err).__name__}: {err}"
            continue
        steps[f"ours:{kind}"] = train_step(ours, our_ids, labels)
        steps[f"peft:{kind}"] = train_step(theirs, their_ids, labels)
        if kind != "full":
            forwards[f"ours:{kind}"] = forward_only(ours, our_ids)
            forwards[f"peft:{kind}"] = forward_only(theirs, their_ids)
    note(f"{BENCHMARK}: {model_name}, b{batch} s{seq}, {args.rounds} rounds; skipped: {skipped or 'none'}")
    setting = {"model": model_name, "batch": batch, "seq": seq, "threads": threads()}
    budget = None if args.quick else 420
    step_times = time_rounds(steps, args.rounds, warmup=2, budget_s=budget)
    forward_times = time_rounds(forwards, args.rounds, warmup=2, budget_s=None if args.quick else 120)
    lines = {}
    for phase, times in (("train_step", step_times), ("forward", forward_times)):
        for kind in ("lora", "prefix_embed", "prefix_layer", "full"):
            if f"ours:{kind}" in times:
                target = None if kind == "prefix_layer" else TARGET
                name = f"{kind} {phase}: ours/peft"
                lines[name] = comparison(
                    BENCHMARK, name, times[f"ours:{kind}"], times[f"peft:{kind}"], target, **setting
                )
    for kind, why in skipped.items():
        emit({"benchmark": BENCHMARK, "comparison": f"{kind}: ours/peft", "skipped": why})
    headline = lines["lora train_step: ours/peft"]["ratio"]
    emit_summary(
        BENCHMARK,
        ratio=headline,
        target=TARGET,
        met=all(line.get("met", True) for line in lines.values()),
        what="our LoRA / PEFT LoRA train step (met: every compared ratio <= target)",
        others={name: line["ratio"] for name, line in lines.items()},
        **setting,
    )


if __name__ == "__main__":
    main()
