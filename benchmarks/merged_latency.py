"""Forward latency of merged LoRA / the unadapted base: GPT-2 medium built from its config (random weights),
batch 1, 128 tokens, |Θ| = 11M (the LoRA paper's Table 1 column). One point of ``adaptbench latency``: the
measurement is ``adaptbench.harness.measure.timing.measure`` itself (base and merged model taking turns in one
process; its record goes to a temporary folder, the JSON line holds what matters). Target: <= 1.01 (a merged
model is the base architecture).

    python benchmarks/merged_latency.py [--quick] [--rounds 20]
"""

from __future__ import annotations

import tempfile

from _common import GPT2_BATCH, GPT2_SEQ, arguments, emit, emit_summary, gpt2_setting, note

BENCHMARK = "merged_latency"
TARGET = 1.01


def main() -> None:
    args = arguments(__doc__, rounds=20, quick_rounds=5)
    from adaptbench.harness.measure.latency import compose_latency_config
    from adaptbench.harness.measure.timing import measure

    setting = gpt2_setting(args.quick)
    overrides = [
        f"model={setting['model']}",
        "method=lora",
        f"latency.budget={'null' if args.quick else '11M'}",
        f"latency.batch={GPT2_BATCH}",
        f"latency.seq={GPT2_SEQ}",
        f"latency.trials={args.rounds}",
        "latency.warmup=2",
        "latency.merged=true",
        "device=cpu",
    ]
    note(f"{BENCHMARK}: {' '.join(overrides)}")
    with tempfile.TemporaryDirectory() as out:
        record = measure(compose_latency_config([*overrides, f"output_root={out}"]))
    ratio = record["ratio"]
    keys = (
        "ratio",
        "ratio_iqr",
        "base_ms_median",
        "method_ms_median",
        "trials",
        "r",
        "method_params",
        "threads",
    )
    line = {"benchmark": BENCHMARK, "comparison": "merged lora/base forward", **{k: record[k] for k in keys}}
    emit({**line, **setting, "merged": record["merged"]})
    emit_summary(
        BENCHMARK,
        ratio=ratio,
        target=TARGET,
        met=ratio <= TARGET,
        what="merged LoRA / base forward latency",
        model=setting["model"],
        threads=record["threads"],
    )


if __name__ == "__main__":
    main()
