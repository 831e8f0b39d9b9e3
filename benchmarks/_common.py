"""What every benchmark shares: offline settings, the command line (``--quick``), models built and adapted the
harness's way, alternating timing, and the JSON line of one comparison.

Each comparison is timed alternately in one process (A, B, A, B...), so machine noise (other processes on a
shared machine) hits both alike; the line holds the median ratio and the interquartile range of the paired
ratios (B / A of the same round), the noise against which to read it. The statistics are the latency command's
(``adaptbench.harness.measure.timing.median_and_iqr``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED_DATA = REPO.parent / "shared" / "data"


def arguments(description: str, rounds: int, quick_rounds: int, extra: Callable | None = None) -> Any:
    """``--quick`` (a smoke run: tiny models or few rounds) and ``--rounds N`` (timed rounds after warm-up)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few rounds, small inputs)")
    parser.add_argument("--rounds", type=int, default=None, help=f"timed rounds (default {rounds})")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = quick_rounds if args.quick else rounds
    return args


def emit(line: Mapping[str, Any]) -> dict:
    """Print one JSON line (what run_all.py collects) and return it."""
    print(json.dumps(line, default=str), flush=True)
    return dict(line)


def emit_summary(benchmark: str, **fields: Any) -> dict:
    """A benchmark's summary line, the one ``run_all.py`` files under the benchmark's name (``ratio`` or
    ``seconds``, ``target``, ``met``, ``what``, and anything else worth keeping)."""
    return emit({"benchmark": benchmark, "summary": True, **fields})


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- models
def compose(overrides: Sequence[str]) -> Any:
    from adaptbench.harness.config.tree import compose_run_config

    return compose_run_config(list(overrides))


def build_adapted(
    model: str,
    method: str | None,
    overrides: Sequence[str] = (),
    kind: str = "classification",
    seed: int = 0,
    device: Any = "cpu",
) -> tuple[Any, Any, Any]:
    """(model, method plugin, run config): the model as the runner builds it (``harness.api.models.build_model``)
    with ``method`` applied (``harness.api.plugins.adapt``); ``method=None`` leaves it unadapted and untouched
    (every parameter trainable, as a plain Hugging Face model). A model from its config is built on ``device``
    (a GPU initialises GPT-2 medium at once, a CPU core in ~13 s)."""
    import torch

    from adaptbench.harness.api.layout import Layout
    from adaptbench.harness.api.loading import load_method
    from adaptbench.harness.api.models import build_model
    from adaptbench.harness.api.plugins import adapt

    cfg = compose([f"model={model}", f"method={method or 'full'}", *overrides])
    torch.manual_seed(seed)
    with torch.device(device):
        built = build_model(cfg.model, kind, 2, device=device)
        plugin = None
        if method is not None:
            plugin = load_method(cfg.method)
            plugin.validate(built.config, Layout.from_config(cfg.model.layout))
            adapt(built, plugin, Layout.from_config(cfg.model.layout))
    return built, plugin, cfg


# The LoRA paper's GPT-2 setting, shared by the GPT-2 benchmarks: GPT-2 medium built from its config (random
# weights: none are stored offline), batch 1 x 128 tokens, LoRA r=4, alpha=32 on W_q and W_v (the method's default
# targets); tiny-gpt2 under --quick.
GPT2_BATCH, GPT2_SEQ = 1, 128
GPT2_LORA = ("method.r=4", "method.alpha=32")


def classification_batch(model_name: str, batch: int, seq: int) -> tuple[Any, Any, Any]:
    """(the plain model, token ids, labels) of a seeded random classification batch for ``model_name``: ids above
    the special tokens, [CLS] (101) first, binary labels; the same batch for every variant a benchmark compares."""
    import torch

    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (batch,), generator=generator)
    plain, _, _ = build_adapted(model_name, None)
    ids = torch.randint(1000, plain.config.vocab_size, (batch, seq), generator=generator)
    ids[:, 0] = 101
    return plain, ids, labels


def gpt2_name(quick: bool) -> str:
    return "tiny-gpt2" if quick else "gpt2-medium"


def gpt2_setting(quick: bool) -> dict[str, Any]:
    """The model and input shape, for the JSON lines."""
    return {"model": gpt2_name(quick), "batch": GPT2_BATCH, "seq": GPT2_SEQ}


def build_gpt2(
    quick: bool, method: str | None, overrides: Sequence[str] = (), device: Any = "cpu"
) -> tuple[Any, Any, Any]:
    """``build_adapted`` of GPT-2 medium (tiny-gpt2 under ``quick``) from its config, as a causal LM."""
    return build_adapted(
        gpt2_name(quick), method, ["model.pretrained=false", *overrides], kind="generation", device=device
    )


def gpt2_ids(vocab_size: int) -> Any:
    """A fixed GPT2_BATCH x GPT2_SEQ batch of token ids, the same in every process and run."""
    import torch

    return torch.randint(0, vocab_size, (GPT2_BATCH, GPT2_SEQ), generator=torch.Generator().manual_seed(0))


def method_rows(plugin: Any, ids: Any, kind: str, vocab_size: int, cls_token_id: int | None) -> Any:
    """``ids`` (batch x seq) as ``plugin`` sees them: each row through its ``example_transform`` (prefix
    methods insert their positions), as the runner maps it over the data."""
    from types import SimpleNamespace

    import torch

    transform = plugin.example_transform(SimpleNamespace(cls_token_id=cls_token_id), kind, vocab_size)
    if transform is None:
        return ids
    rows = [transform({"input_ids": row, "prompt_end": len(row)}) for row in ids.tolist()]
    return torch.tensor([row["input_ids"] for row in rows])


def train_step(model: Any, ids: Any, labels: Any, lr: float = 1e-4) -> Callable[[], None]:
    """One optimizer step (forward, backward, AdamW as the runner's ``adamw_torch``) on a fixed batch."""
    import torch

    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    mask = torch.ones_like(ids)

    def step() -> None:
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def enable_checkpointing(model: Any) -> None:
    """Gradient checkpointing as ``trainer.gradient_checkpointing=true`` turns it on (the Trainer's call:
    ``activation_checkpointing_enable`` where transformers has it, else ``gradient_checkpointing_enable``; both
    checkpoint with ``use_reentrant=False``)."""
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def forward_only(model: Any, ids: Any) -> Callable[[], None]:
    import torch

    mask = torch.ones_like(ids)

    def forward() -> None:
        with torch.inference_mode():
            model.eval()
            model(input_ids=ids, attention_mask=mask)

    return forward


# ---------------------------------------------------------------------------------------------- timing
def time_rounds(
    runs: Mapping[str, Callable[[], Any]],
    rounds: int,
    warmup: int = 1,
    budget_s: float | None = None,
    alternate: bool = False,
) -> dict[str, list[float]]:
    """Seconds of each callable, ``rounds`` times, taking turns (A, B, C, A, B, C...) after ``warmup`` untimed
    turns. With ``budget_s``, stops after the round that passes it (at least 3 timed rounds). ``alternate``
    reverses the order every other round (A, B, C, C, B, A...), so no callable always runs after the same one."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    started = time.perf_counter()
    for turn in range(warmup + rounds):
        order = list(runs.items())
        for name, run in reversed(order) if alternate and turn % 2 else order:
            start = time.perf_counter()
            run()
            if turn >= warmup:
                times[name].append(time.perf_counter() - start)
        timed = turn + 1 - warmup
        if budget_s is not None and timed >= 3 and time.perf_counter() - started > budget_s:
            note(f"time budget {budget_s:.0f} s reached after {timed} timed rounds")
            break
    return times


def median_iqr(values: Sequence[float]) -> tuple[float, float]:
    from adaptbench.harness.measure.timing import median_and_iqr

    return median_and_iqr(values)


def comparison(
    benchmark: str,
    name: str,
    numerator: Sequence[float],
    denominator: Sequence[float],
    target: float | None = None,
    unit: str = "s",
    **extra: Any,
) -> dict:
    """One comparison's JSON line: ratio of the medians (numerator / denominator), IQR of the paired ratios,
    both medians (in ``unit``: seconds unless told), and whether the ratio meets ``target`` (<=) when one is set."""
    num_median, _ = median_iqr(numerator)
    den_median, _ = median_iqr(denominator)
    _, ratio_iqr = median_iqr([n / d for n, d in zip(numerator, denominator, strict=True)])
    ratio = num_median / den_median
    line = {
        "benchmark": benchmark,
        "comparison": name,
        "ratio": round(ratio, 4),
        "ratio_iqr": round(ratio_iqr, 4),
        f"numerator_{unit}": round(num_median, 5),
        f"denominator_{unit}": round(den_median, 5),
        "rounds": len(numerator),
        **extra,
    }
    if target is not None:
        line |= {"target": target, "met": ratio <= target}
    return emit(line)


def threads() -> int:
    import torch

    return torch.get_num_threads()
