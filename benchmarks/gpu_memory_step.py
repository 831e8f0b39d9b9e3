"""Peak memory and step time of LoRA against full fine-tuning on GPT-2 medium (the paper's Section 4.2 claim:
LoRA cuts training memory, VRAM 1.2 TB -> 350 GB on GPT-3), with and without gradient checkpointing, for
``benchmarks/gpu_check.sh``.

Each variant runs alone (built, moved to the device, one warm-up step, then timed steps), so its peak is its own.
On CUDA the peak is the allocator's (``torch.cuda.max_memory_allocated``, reset after the warm-up's model move,
so weights + gradients + optimizer state + activations of a step) and every step ends with a synchronize; on the
CPU there is no allocator to ask and the memory fields are null (``train_memory.py`` measures peak RSS in
fresh processes there).

    python benchmarks/gpu_memory_step.py --device cuda --out benchmarks/results/gpu/memory_step.json
    python benchmarks/gpu_memory_step.py --quick --device cpu --out /tmp/memory_step.json   # tiny-gpt2
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import time
from pathlib import Path
from typing import Any

from _common import (
    GPT2_LORA,
    build_gpt2,
    emit,
    emit_summary,
    enable_checkpointing,
    gpt2_ids,
    gpt2_setting,
    median_iqr,
    train_step,
)

BENCHMARK = "gpu_memory_step"
VARIANTS = {
    "full": ("full", False),
    "lora": ("lora", False),
    "full+checkpointing": ("full", True),
    "lora+checkpointing": ("lora", True),
}


def measure(quick: bool, method: str, checkpointing: bool, device: Any, steps: int, precision: str) -> dict:
    import torch

    overrides = GPT2_LORA if method == "lora" else ()
    model, _, _ = build_gpt2(quick, method, overrides, device=device)
    if checkpointing:
        enable_checkpointing(model)
    model.to(device)
    ids = gpt2_ids(model.config.vocab_size).to(device)
    step = train_step(model, ids, ids)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with autocast:
        step()  # warm-up: optimizer state allocated, kernels chosen
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        with autocast:
            step()
        sync()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    median, iqr = median_iqr(times)
    del model, step
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"step_s_median": round(median, 5), "step_s_iqr": round(iqr, 5), "peak_bytes": peak}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny-gpt2 instead of GPT-2 medium")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps per variant (default 20, quick 3)"
    )
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    steps = args.steps or (3 if args.quick else 20)
    device = torch.device(args.device)
    results = {
        name: measure(args.quick, m, ckpt, device, steps, args.precision)
        for name, (m, ckpt) in VARIANTS.items()
    }
    for name, result in results.items():
        emit({"benchmark": BENCHMARK, "comparison": name, **result})

    def ratio(key: str, a: str, b: str) -> float | None:
        num, den = results[a][key], results[b][key]
        return round(num / den, 4) if num is not None and den else None

    summary = {
        **gpt2_setting(args.quick),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": args.precision,
        "steps": steps,
        "memory_kind": "cuda_max_memory_allocated" if device.type == "cuda" else None,
        "lora_over_full_peak_memory": ratio("peak_bytes", "lora", "full"),
        "lora_over_full_step_time": ratio("step_s_median", "lora", "full"),
        "checkpointing_peak_memory": {
            m: ratio("peak_bytes", f"{m}+checkpointing", m) for m in ("full", "lora")
        },
        "checkpointing_step_time": {
            m: ratio("step_s_median", f"{m}+checkpointing", m) for m in ("full", "lora")
        },
        "variants": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    emit_summary(
        BENCHMARK,
        ratio=summary["lora_over_full_peak_memory"],
        what="peak CUDA memory of a LoRA training step / full fine-tuning's (GPT-2 medium, batch 1 x 128)",
        **{k: v for k, v in summary.items() if k != "variants"},
    )


if __name__ == "__main__":
    main()
