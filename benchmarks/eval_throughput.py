"""E2E beam-10 decoding, our generation path / ``model.generate`` called directly on the same batch: the e2e
task's own ``generate`` (left-padded batches, its no-repeat-n-gram processor on the generated text, decoding to
strings) against one direct ``model.generate`` call per batch with the same beams, length penalty and new-token
limit (Hugging Face's ``no_repeat_ngram_size``), the two taking turns in one process. Prompts: the first unique
MRs of ../shared/data/e2e/devset.csv as the task tokenises them. Model: GPT-2 medium from its config (random
weights never stop early, so both decode ``max_new_tokens`` per beam). Ratio = our time / direct time; tokens/s
of both reported. Target: <= 1.05.

    python benchmarks/eval_throughput.py [--quick] [--rounds 5]
"""

from __future__ import annotations

import time

import torch
from _common import (
    SHARED_DATA,
    arguments,
    build_gpt2,
    comparison,
    compose,
    emit_summary,
    gpt2_name,
    note,
    time_rounds,
)

BENCHMARK = "eval_throughput"
TARGET = 1.05


def e2e_prompts(count: int, tokenizer) -> tuple[object, list[list[int]]]:
    """The e2e task plugin and the prompt ids of its first ``count`` unique sources (as ``evaluate`` builds)."""
    from adaptbench.harness.api.loading import load_task

    data_dir = SHARED_DATA / "e2e"  # no trainset.csv there: the dev set stands in for the unused train split
    cfg = compose(
        [
            "task=e2e",
            f"task.data_dir={data_dir}",
            "task.train_file=devset.csv",
            f"task.max_eval_sources={count}",
        ]
    )
    task = load_task(cfg.task)
    raw = task.load()
    data = task.preprocess({"validation": raw["validation"]}, tokenizer, 128)["validation"]
    prompts: dict[str, list[int]] = {}
    for source, ids, end in zip(data["source"], data["input_ids"], data["prompt_end"], strict=True):
        prompts.setdefault(source, list(ids[:end]))
    return task, list(prompts.values())


def main() -> None:
    args = arguments(__doc__, rounds=5, quick_rounds=2)
    from adaptbench.harness.api.models import load_tokenizer

    if not (SHARED_DATA / "e2e" / "devset.csv").is_file():
        emit_summary(BENCHMARK, skipped=f"no E2E data at {SHARED_DATA / 'e2e'}")
        return
    model_name = gpt2_name(args.quick)
    batch, new_tokens = (2, 8) if args.quick else (2, 16)
    model, _, _ = build_gpt2(args.quick, None)
    model.eval()
    # GPT-2 medium's own tokenizer is not stored offline: tiny-gpt2's (MiniLM's WordPiece) encodes the MRs
    tokenizer = load_tokenizer(compose(["model=tiny-gpt2"]).model)
    task, prompts = e2e_prompts(batch, tokenizer)
    task.cfg.max_new_tokens = new_tokens
    beams = task.cfg.num_beams
    pad = tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    generated: dict[str, int] = {}

    def ours() -> None:
        outputs = task.generate(model, tokenizer, prompts, batch, torch.device("cpu"))
        generated["ours"] = sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs)

    def direct() -> None:
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                num_beams=beams,
                length_penalty=task.cfg.length_penalty,
                early_stopping=True,
                max_new_tokens=new_tokens,
                no_repeat_ngram_size=task.cfg.no_repeat_ngram_size,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=pad,
            )
        generated["direct"] = int((out[:, width:] != pad).sum())

    note(
        f"{BENCHMARK}: {model_name}, {len(prompts)} MRs, beams {beams}, {new_tokens} new tokens, {args.rounds} rounds"
    )
    start = time.perf_counter()
    times = time_rounds(
        {"ours": ours, "direct": direct}, args.rounds, warmup=1, budget_s=None if args.quick else 480
    )
    note(f"{BENCHMARK}: {time.perf_counter() - start:.0f} s")
    new = len(prompts) * new_tokens  # tokens each path generates for the returned beams (no early stop)
    setting = {"model": model_name, "sources": len(prompts), "beams": beams, "max_new_tokens": new_tokens}
    line = comparison(
        BENCHMARK,
        "ours/direct generate time",
        times["ours"],
        times["direct"],
        TARGET,
        ours_tokens_per_s=round(new / sorted(times["ours"])[len(times["ours"]) // 2], 3),
        direct_tokens_per_s=round(new / sorted(times["direct"])[len(times["direct"]) // 2], 3),
        **setting,
    )
    emit_summary(
        BENCHMARK,
        ratio=line["ratio"],
        target=TARGET,
        met=line["met"],
        what="our beam-10 decoding time / direct model.generate (same batch)",
        **setting,
    )


if __name__ == "__main__":
    main()
