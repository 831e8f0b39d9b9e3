"""Every listed PEFT tuner through the harness (``method=peft_*``) against PEFT run directly (``get_peft_model`` on
the plain Hugging Face model, the same PEFT config) and against full fine-tuning: the train step's time (forward,
backward, AdamW) and its memory. Target: ours / PEFT <= 1.02 for every tuner, time and memory (the harness adds
at most 2%); ours / full is reported.

Fair by construction: one process, the same model weights and head, the same batch and seed; PEFT's model holds
the run's own tensors (``Method.peft_model``, the ``export --format peft`` path) and must give the same loss on
the batch before timing (else the tuner is skipped, saying so); the steps take turns, the order reversed every
other round (full, ours, PEFT, ..., PEFT, ours, full), and each ratio is the ratio of medians with the IQR of the
per-round paired ratios.

Memory, measured the same way for every variant in one process: on a GPU the allocator's peak over one step
(reset before it); on a CPU, where a process's high-water mark cannot be reset, the bytes one step holds: the
tensors autograd saves for backward (each storage once), the gradients and AdamW's two moments of what trains.

MiniLM-L6 (real weights), batch 8, 128 positions, each tuner's YAML settings; the timed rounds stop when the whole
run would pass 10 minutes (at least 3 rounds; about 25 steps a round); ``--quick``: tiny-bert, batch 2,
16 positions, the tiny settings, 2 rounds.

    python benchmarks/peft_tuners.py [--quick] [--rounds 8]
"""

from __future__ import annotations

import copy
import time
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
TOTAL_S = 600  # the whole run, on 2 quiet cores
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


def peft_direct(ours: torch.nn.Module, plain: torch.nn.Module, plugin: Any, cfg: Any) -> torch.nn.Module:
    """PEFT's own model (``get_peft_model``, sequence classification, the head as ``modules_to_save``) of the
    run's config on a copy of the plain model, holding ``ours``'s tensors (``Method.peft_model``)."""
    from adaptbench.harness.api.layout import Layout
    from adaptbench.harness.api.plugins import head_parameter_names

    heads = sorted({name.split(".")[0] for name in head_parameter_names(ours)})
    fields = {"task_type": "SEQ_CLS", "base_model_name_or_path": None, "modules_to_save": heads}
    return plugin.peft_model(ours, lambda: copy.deepcopy(plain), Layout.from_config(cfg.model.layout), fields)


def same_loss(
    ours: torch.nn.Module,
    our_ids: torch.Tensor,
    theirs: torch.nn.Module,
    ids: torch.Tensor,
    labels: torch.Tensor,
) -> str | None:
    """None when both models give the same loss on the batch (eval mode), else what differs."""
    losses = []
    for model, x in ((ours, our_ids), (theirs, ids)):
        model.eval()
        with torch.no_grad():
            losses.append(float(model(input_ids=x, attention_mask=torch.ones_like(x), labels=labels).loss))
    return None if abs(losses[0] - losses[1]) <= 1e-5 * max(1.0, abs(losses[1])) else f"losses {losses}"


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
    started = time.perf_counter()
    args = arguments(__doc__, rounds=8, quick_rounds=2)
    batch, seq = (2, 16) if args.quick else (8, 128)
    model_name = "tiny-bert" if args.quick else "minilm-l6"
    plain, ids, labels = classification_batch(model_name, batch, seq)
    vocab = plain.config.vocab_size

    full, _, _ = build_adapted(model_name, "full")
    steps, skipped = {"full": make_step(full, ids, labels)}, {}
    inputs = {"full": (full, ids)}
    for tuner in TUNERS:
        try:
            ours, plugin, cfg = build_adapted(model_name, tuner, QUICK.get(tuner, ()) if args.quick else ())
            theirs = peft_direct(ours, plain, plugin, cfg)
        except Exception as err:  # noqa: BLE001 -- a tuner this model does not take: say so, time the rest
            skipped[tuner] = f"{type(err).__name__}: {str(err).splitlines()[0]}"
            continue
        short = ids[:, : seq - plugin.cfg.n_virtual]  # the task's input when n positions are virtual tokens
        our_ids = method_rows(plugin, short, "classification", vocab, 101)
        if differs := same_loss(ours, our_ids, theirs, short, labels):
            skipped[tuner] = f"not the same function as PEFT's: {differs}"
            continue
        inputs[f"ours:{tuner}"], inputs[f"peft:{tuner}"] = (ours, our_ids), (theirs, short)
        steps[f"ours:{tuner}"] = make_step(ours, our_ids, labels)
        steps[f"peft:{tuner}"] = make_step(theirs, short, labels)
    one_round = time.perf_counter()
    memory = {name: step_memory(model, x, labels) for name, (model, x) in inputs.items()}
    one_round = time.perf_counter() - one_round  # every variant's step once: about one round
    note(f"{BENCHMARK}: {model_name}, b{batch} s{seq}, {args.rounds} rounds; skipped: {skipped or 'none'}")
    setting = {"model": model_name, "batch": batch, "seq": seq, "threads": threads()}
    budget = None if args.quick else max(0.0, TOTAL_S - (time.perf_counter() - started) - 2 * one_round)
    times = time_rounds(steps, args.rounds, warmup=1, budget_s=budget, alternate=True)
    lines = {}
    for tuner in (t for t in TUNERS if t not in skipped):
        ours, theirs = f"ours:{tuner}", f"peft:{tuner}"
        for other, target in ((theirs, TARGET), ("full", None)):
            against = other.split(":")[0]
            name = f"{tuner} train_step: ours/{against}"
            lines[name] = comparison(BENCHMARK, name, times[ours], times[other], target, **setting)
            name = f"{tuner} step memory: ours/{against}"
            lines[name] = comparison(
                BENCHMARK, name, [memory[ours]], [memory[other]], target, unit="bytes", **setting
            )
    for tuner, why in skipped.items():
        emit({"benchmark": BENCHMARK, "comparison": f"{tuner}: ours/peft", "skipped": why})
    targeted = {name: line for name, line in lines.items() if name.endswith("ours/peft")}
    emit_summary(
        BENCHMARK,
        ratio=max(line["ratio"] for line in targeted.values()),
        target=TARGET,
        met=all(line["met"] for line in targeted.values()) and not skipped,
        what="the largest ours/PEFT ratio of any tuner's train step time or memory (met: every one <= target)",
        others={name: line["ratio"] for name, line in targeted.items()},
        wall_s=round(time.perf_counter() - started, 1),
        **setting,
    )


if __name__ == "__main__":
    main()
