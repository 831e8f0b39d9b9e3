"""``benchmarks/train_memory.py --quick`` (tiny-gpt2, 1 round): ours LoRA, full and PEFT's LoRA, each again with
gradient checkpointing (checked on in the model), every checkpointed variant as a ratio to full fine-tuning
without it, all from the same run."""

from __future__ import annotations

import math

from _benchmark_util import quick_benchmark

CHECKPOINTED = ("ours:lora+checkpointing", "ours:full+checkpointing", "peft:lora+checkpointing")


def test_quick_mode_reports_checkpointing_beside_peft() -> None:
    ratios, lines = quick_benchmark("train_memory.py", timeout=600)
    full = ratios["ours lora/full peak memory"]["denominator_bytes"]
    assert full > 0 and ratios["peft lora/full peak memory"]["denominator_bytes"] == full
    (summary,) = [line for line in lines if line.get("summary")]
    assert summary["model"] == "tiny-gpt2" and set(summary["checkpointing_ratios_to_full"]) == set(
        CHECKPOINTED
    )
    for variant in CHECKPOINTED:
        line = ratios[f"{variant} / ours:full peak memory"]
        assert line["denominator_bytes"] == full and line["rounds"] == 1  # against full without checkpointing
        assert math.isfinite(line["ratio"]) and line["ratio"] > 0
        assert line["ratio"] == round(line["numerator_bytes"] / full, 4)
        assert summary["checkpointing_ratios_to_full"][variant] == line["ratio"]
        assert summary["peaks_gib"][variant] == round(line["numerator_bytes"] / 2**30, 3)
