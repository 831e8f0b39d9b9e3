"""Start-up cost of the harness: wall time of ``adaptbench run --help``, ``adaptbench params`` (roberta-base and
deberta-v2-xxlarge, LoRA), each a fresh process, the commands taking turns (min and median of the rounds); and
one 1-step ``adaptbench run`` (MiniLM-L6, vader, LoRA) split into imports, config, data, model build, training
(the step), evaluation and record, the rest being the harness's own overhead. Targets: ``run --help`` <= 1.5 s,
``params`` <= 3 s (min of the rounds), overhead of a 1-step run <= 3 s beyond model build and the step.

The guarded target (the summary): ``params model=roberta-base method=lora`` against the same count written by
hand (:data:`HAND_COUNT`: transformers builds the model on the meta device, LoRA's r·(d_in + d_out) per adapted
matrix is added), both fresh processes taking turns, ratio of the medians <= 1.5. The absolute 3 s is what
importing torch and transformers alone takes on a slow machine; the ratio is what the harness adds.

    python benchmarks/startup.py [--quick] [--rounds 5]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, arguments, comparison, emit, emit_summary, median_iqr, note

BENCHMARK = "startup"
COMMANDS = {
    "run --help": (["run", "--help"], 1.5),
    "params roberta-base lora": (["params", "model=roberta-base", "method=lora"], 3.0),
    "params deberta-v2-xxlarge lora": (["params", "model=deberta-v2-xxlarge", "method=lora"], 3.0),
}
OVERHEAD_TARGET = 3.0
HAND_TARGET = 1.5
PARAMS = "params roberta-base lora"

# The count of ``adaptbench params model=roberta-base method=lora`` as a user writes it without the harness:
# RoBERTa-base (conf/model/roberta-base.yaml's arch) with a 2-label head on the meta device, plus LoRA r=8 on W_q
# and W_v of the 12 layers. Prints what ``params`` prints for total and trainable parameters.
HAND_COUNT = r"""
import json, torch
from transformers import AutoModelForSequenceClassification, RobertaConfig
arch = RobertaConfig(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                     num_labels=2)
with torch.device("meta"):
    model = AutoModelForSequenceClassification.from_config(arch)
lora = arch.num_hidden_layers * 2 * 8 * (768 + 768)
head = sum(p.numel() for n, p in model.named_parameters() if n.startswith("classifier."))
total = sum(p.numel() for p in model.parameters()) + lora
print(json.dumps({"total_params": total, "trainable_params": lora + head}))
"""

# The runner's steps, timed one by one in a fresh interpreter (``harness.run.job.execute`` without the lock and
# the log file); prepare_data and build_model are wrapped to split ``build`` into data and model.
PHASES = r"""
import json, sys, time
t0 = time.perf_counter(); marks = {}
def lap(name):
    global t0
    now = time.perf_counter(); marks[name] = marks.get(name, 0.0) + now - t0; t0 = now
from adaptbench.harness.run import job as runner
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.loggers import open_logger
from adaptbench.harness.records.store import write_json_atomic
lap("imports")
def timed(name, fn):
    def wrapper(*a, **k):
        lap("config/other")
        try:
            return fn(*a, **k)
        finally:
            lap(name)
    return wrapper
runner.prepare_data = timed("data", runner.prepare_data)
runner.build_model = timed("model build", runner.build_model)
cfg = compose_run_config(sys.argv[1:])
job = runner.plan_job(cfg)
lap("config/other")
built = runner.build(job)
lap("config/other")
logger = open_logger(job.cfg, job.artifacts.name)
trained = runner.train(job, built, logger)
lap("train()")
record = runner.make_record(job, built, trained, 0.0)
write_json_atomic(job.path, record)
lap("record")
marks["training step"] = trained.train_seconds
marks["evaluation"] = trained.eval_seconds
print(json.dumps(marks))
"""


def cli() -> list[str]:
    script = Path(sys.executable).with_name("adaptbench")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "adaptbench.harness.cli"]


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds


def check_same_count() -> None:
    """The hand-written script counts what ``adaptbench params`` counts, or the ratio compares two things."""
    ours = json.loads(
        subprocess.run(
            [*cli(), *COMMANDS[PARAMS][0]], capture_output=True, text=True, cwd=REPO, check=True
        ).stdout
    )
    hand = json.loads(
        subprocess.run(
            [sys.executable, "-c", HAND_COUNT], capture_output=True, text=True, cwd=REPO, check=True
        ).stdout
    )
    if {k: ours[k] for k in hand} != hand:
        raise RuntimeError(f"the hand-written count {hand} differs from adaptbench params' {ours}")


def one_step_run(quick: bool) -> dict:
    model = "tiny-bert" if quick else "minilm-l6"
    with tempfile.TemporaryDirectory() as out:
        overrides = [
            f"model={model}",
            "task=vader",
            "method=lora",
            "trainer=tiny",
            "trainer.max_steps=1",
            "trainer.batch_size=16",
            "trainer.max_seq_len=128",
            "logger=none",
            f"output_root={out}",
        ]
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", PHASES, *overrides], capture_output=True, text=True, cwd=REPO, timeout=600
        )
        total = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"1-step run failed:\n{result.stderr[-2000:]}")
    marks = json.loads(result.stdout.strip().splitlines()[-1])
    trainer_setup = marks.pop("train()") - marks["training step"] - marks["evaluation"]
    phases = {"interpreter + imports": total - sum(marks.values()) + marks["imports"], **marks}
    phases.pop("imports")
    phases["trainer setup"] = trainer_setup
    phases = {k: round(v, 3) for k, v in phases.items()}
    overhead = total - marks["model build"] - marks["training step"] - marks["evaluation"]
    return {"model": model, "total_s": round(total, 3), "phases_s": phases, "overhead_s": round(overhead, 3)}


def main() -> None:
    args = arguments(__doc__, rounds=5, quick_rounds=1)
    check_same_count()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    hand: list[float] = []
    for turn in range(args.rounds):
        for name, (argv, _) in COMMANDS.items():
            times[name].append(wall([*cli(), *argv]))
            if name == PARAMS:
                hand.append(wall([sys.executable, "-c", HAND_COUNT]))
        note(f"{BENCHMARK}: round {turn + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()))
    met = {}
    for name, (_, target) in COMMANDS.items():
        median, iqr = median_iqr(times[name])
        best = min(times[name])
        met[name] = best <= target
        emit(
            {
                "benchmark": BENCHMARK,
                "comparison": name,
                "seconds": round(best, 3),
                "median_s": round(median, 3),
                "iqr_s": round(iqr, 3),
                "rounds": args.rounds,
                "target": target,
                "met": met[name],
            }
        )
    against_hand = comparison(
        BENCHMARK,
        f"{PARAMS} / the same count by hand",
        times[PARAMS],
        hand,
        target=HAND_TARGET,
        hand_min_s=round(min(hand), 3),
        params_min_s=round(min(times[PARAMS]), 3),
    )
    run = one_step_run(args.quick)
    met["1-step run overhead"] = run["overhead_s"] <= OVERHEAD_TARGET
    emit(
        {
            "benchmark": BENCHMARK,
            "comparison": "1-step run",
            "seconds": run["overhead_s"],
            "target": OVERHEAD_TARGET,
            "met": met["1-step run overhead"],
            **run,
        }
    )
    emit_summary(
        BENCHMARK,
        ratio=against_hand["ratio"],
        target=HAND_TARGET,
        met=against_hand["met"],
        what=(
            "`adaptbench params model=roberta-base method=lora` / the same count written by hand (transformers "
            "on the meta device), medians of fresh processes taking turns (targets_met: the absolute targets)"
        ),
        others={n: round(min(t), 3) for n, t in times.items()} | {"1-step run overhead": run["overhead_s"]},
        targets_met=met,
    )


if __name__ == "__main__":
    main()
