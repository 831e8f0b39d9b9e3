"""Every listed PEFT tuner through the harness (``method=peft_*``) against PEFT run directly (``get_peft_model`` on
the plain Hugging Face model, the same PEFT config), on the same model and batch, taking turns in one process:
the train step's time (forward, backward, AdamW) and its memory, each as ours / PEFT's. Target: <= 1.02.

Memory, measured the same way for both in one process: on a GPU the allocator's peak over one step (reset before
it); on a CPU, where a process's high-water mark cannot be reset, the bytes one step holds: the tensors autograd
saves for backward (each storage once), the gradients and AdamW's two moments of what trains.

MiniLM-L6 (real weights), batch 16, 128 positions, each tuner's YAML settings; ``--quick``: tiny-bert, batch 2,
16 positions, the tiny settings, 2 rounds.

    python benchmarks/peft_tuners.py [--quick] [--rounds 8]
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from _common import (
    arguments,
    build_adapted,
    classification_batch,
    comparison,
    emit,
    emit_summary,
    method_rows,
    note,
    threads,
    time_rounds,
)
from _common import train_step as make_step

BENCHMARK = "peft_tuners"
TARGET = 1.02
TUNERS = (
    "peft_lora", "peft_dora", "peft_ia3", "peft_prompt_tuning", "peft_vera", "peft_adalora", "peft_loha",
    "peft_lokr", "peft_oft", "peft_boft", "peft_fourierft", "peft_ln_tuning",
)  # fmt: skip
# tiny-bert (width 32) cannot take the YAML's widths: the settings the tests use there
QUICK = {
    "peft_prompt_tuning": ("method.peft_config.num_virtual_tokens=3",),
    "peft_vera": ("method.peft_config.r=8",),
    "peft_oft": ("method.peft_config.oft_block_size=8",),
    "peft_fourierft": ("method.peft_config.n_frequency=64",),
}


def peft_direct(plain: torch.nn.Module, plugin: Any, cfg: Any) -> torch.nn.Module:
    """PEFT's own model of the run's config on a copy of the plain model (sequence classification)."""
    from peft import get_peft_model

    from adaptbench.harness.api.layout import Layout

    base = copy.deepcopy(plain)
    config = plugin.peft_config(base, Layout.from_config(cfg.model.layout), task_type="SEQ_CLS")
    return get_peft_model(base, config)


def step_memory(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> float:
    """Bytes of one training step (see the module docstring: the allocator's peak on a GPU, held bytes on a CPU)."""
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    mask = torch.ones_like(ids)
    if ids.is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        model.zero_grad(set_to_none=True)
        return float(torch.cuda.max_memory_allocated() - start + 2 * trainable)
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    model.zero_grad(set_to_none=True)
    return float(sum(saved.values()) + 3 * trainable)  # gradients + AdamW's exp_avg, exp_avg_sq


def main() -> None:
    args = arguments(__doc__, rounds=8, quick_rounds=2)
    batch, seq = (2, 16) if args.quick else (16, 128)
    model_name = "tiny-bert" if args.quick else "minilm-l6"
    plain, ids, labels = classification_batch(model_name, batch, seq)
    vocab = plain.config.vocab_size

    steps, memory, skipped = {}, {}, {}
    for tuner in TUNERS:
        try:
            ours, plugin, cfg = build_adapted(model_name, tuner, QUICK.get(tuner, ()) if args.quick else ())
            theirs = peft_direct(plain, plugin, cfg)
        except Exception as err:  # noqa: BLE001 -- a tuner this model does not take: say so, time the rest
            skipped[tuner] = f"{type(err).__name__}: {str(err).splitlines()[0]}"
            continue
        n = plugin.cfg.n_virtual
        short = ids[:, : seq - n]  # the task's input when n positions are virtual tokens
        our_ids = method_rows(plugin, short, "classification", vocab, 101)
        steps[f"ours:{tuner}"] = make_step(ours, our_ids, labels)
        steps[f"peft:{tuner}"] = make_step(theirs, short, labels)
        memory[tuner] = (step_memory(ours, our_ids, labels), step_memory(theirs, short, labels))
    note(f"{BENCHMARK}: {model_name}, b{batch} s{seq}, {args.rounds} rounds; skipped: {skipped or 'none'}")
    setting = {"model": model_name, "batch": batch, "seq": seq, "threads": threads()}
    times = time_rounds(
        steps, args.rounds, warmup=1 if args.quick else 2, budget_s=None if args.quick else 600
    )
    lines = {}
    for tuner, (our_bytes, their_bytes) in memory.items():
        name = f"{tuner} train_step: ours/peft"
        lines[name] = comparison(
            BENCHMARK, name, times[f"ours:{tuner}"], times[f"peft:{tuner}"], TARGET, **setting
        )
        name = f"{tuner} step memory: ours/peft"
        lines[name] = comparison(BENCHMARK, name, [our_bytes], [their_bytes], TARGET, unit="bytes", **setting)
    for tuner, why in skipped.items():
        emit({"benchmark": BENCHMARK, "comparison": f"{tuner}: ours/peft", "skipped": why})
    ratios = {name: line["ratio"] for name, line in lines.items()}
    emit_summary(
        BENCHMARK,
        ratio=max(ratios.values()),
        target=TARGET,
        met=all(line["met"] for line in lines.values()),
        what="the largest ours/PEFT ratio of any tuner's train step time or memory (met: every one <= target)",
        others=ratios,
        **setting,
    )


if __name__ == "__main__":
    main()
