"""Peak memory of training, LoRA / full fine-tuning: GPT-2 medium from its config (random weights), batch 1,
128 tokens, AdamW, 2 steps (the optimizer state exists from the first). Each variant runs in a fresh process
(peak memory is a process's high-water mark), the variants alternately: ours LoRA, ours full, PEFT LoRA, and
again. On a CPU the peak is the process's max RSS, as the run records' ``peak_memory_bytes``; on a GPU, the
allocator's peak. Target: ours LoRA / full <= PEFT's LoRA / full measured in the same run.

With gradient checkpointing (``trainer.gradient_checkpointing=true``: transformers' own, enabled as the Trainer
enables it) the same three run again, and every variant is also reported as a ratio to full fine-tuning
without checkpointing, in the same run.

LoRA: r=4, alpha=32 on W_q and W_v (the paper's GPT-2 setting). PEFT cannot adapt one slice of GPT-2's fused
``c_attn`` (q|k|v), so its LoRA is on the whole ``c_attn`` with the same r: the same parameter count
(r·(1024 + 3072) = 2 slices x r·(1024 + 1024)).

    python benchmarks/train_memory.py [--quick] [--rounds 2]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

from _common import GPT2_LORA, arguments, comparison, emit_summary, enable_checkpointing, gpt2_setting, note

BENCHMARK = "train_memory"
CHECKPOINTING = "+checkpointing"
VARIANTS = tuple(
    f"{variant}{suffix}"
    for suffix in ("", CHECKPOINTING)
    for variant in ("ours:lora", "ours:full", "peft:lora")
)


def child_option(parser) -> None:
    parser.add_argument("--child", choices=VARIANTS, help=argparse_hidden())


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


def peak_bytes() -> int:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_child(variant: str, quick: bool) -> None:
    """Build, train 2 steps, print the peak (and the RSS before training, for reference)."""
    import torch
    from _common import build_gpt2, gpt2_ids, train_step

    side, method = variant.removesuffix(CHECKPOINTING).split(":")
    checkpointing = variant.endswith(CHECKPOINTING)
    if side == "ours":
        model, _, _ = build_gpt2(quick, method, GPT2_LORA if method == "lora" else ())
        if checkpointing:
            enable_checkpointing(model)
        plain = model
    else:
        from peft import LoraConfig, TaskType, get_peft_model

        plain, _, _ = build_gpt2(quick, None)
        if checkpointing:
            enable_checkpointing(plain)  # on the transformers model PEFT then wraps
        config = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=4,
            lora_alpha=32,
            lora_dropout=0.0,
            target_modules=["c_attn"],
            fan_in_fan_out=True,
        )
        model = get_peft_model(plain, config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    ids = gpt2_ids(model.config.vocab_size).to(device)
    before = peak_bytes()
    step = train_step(model, ids, ids)  # causal LM: the labels are the input
    step()
    step()
    record = {"variant": variant, "peak_bytes": peak_bytes(), "peak_before_training": before}
    print(json.dumps(record | {"checkpointing": plain.is_gradient_checkpointing}))


def measure(variant: str, quick: bool) -> dict:
    command = [sys.executable, __file__, "--child", variant, *(["--quick"] if quick else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    args = arguments(__doc__, rounds=2, quick_rounds=1, extra=child_option)
    if args.child:
        run_child(args.child, args.quick)
        return
    peaks: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for turn in range(args.rounds):
        for variant in VARIANTS:
            measured = measure(variant, args.quick)
            if measured["checkpointing"] != variant.endswith(CHECKPOINTING):
                raise RuntimeError(
                    f"{variant}: gradient checkpointing is {measured['checkpointing']} in the model"
                )
            peaks[variant].append(measured["peak_bytes"])
            note(f"{BENCHMARK}: round {turn + 1} {variant}: {peaks[variant][-1] / 2**30:.2f} GiB")
    setting = gpt2_setting(args.quick) | {"unit": "bytes"}
    theirs = comparison(
        BENCHMARK, "peft lora/full peak memory", peaks["peft:lora"], peaks["ours:full"], **setting
    )
    ours = comparison(
        BENCHMARK,
        "ours lora/full peak memory",
        peaks["ours:lora"],
        peaks["ours:full"],
        theirs["ratio"],
        **setting,
    )
    # with checkpointing, each against full fine-tuning without it (the memory checkpointing saves)
    checkpointed = {
        variant: comparison(
            BENCHMARK,
            f"{variant} / ours:full peak memory",
            peaks[variant],
            peaks["ours:full"],
            **setting,
        )["ratio"]
        for variant in VARIANTS
        if variant.endswith(CHECKPOINTING)
    }
    emit_summary(
        BENCHMARK,
        ratio=ours["ratio"],
        target=theirs["ratio"],
        met=ours["met"],
        what="peak memory LoRA / full (target: PEFT's ratio in the same run)",
        checkpointing_ratios_to_full=checkpointed,
        peaks_gib={v: round(sorted(p)[len(p) // 2] / 2**30, 3) for v, p in peaks.items()},
        model=setting["model"],
    )


if __name__ == "__main__":
    main()
