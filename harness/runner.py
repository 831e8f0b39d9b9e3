"""The common runner: build model -> apply method -> train -> evaluate -> measure -> write the record.

It talks to methods and tasks only through their plugin interfaces (adaptbench.harness.plugins) and never names one.
Training is ``transformers.Trainer``, so DDP/FSDP/DeepSpeed under ``torchrun``/``accelerate`` come from there.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import DatasetDict
from omegaconf import DictConfig, OmegaConf
from transformers import Trainer, TrainerCallback, TrainerState, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from adaptbench.harness.accounting import parameter_report
from adaptbench.harness.checkpoint import load_trainable, save_trainable
from adaptbench.harness.config import RunPlan, TrainerConfig, validate
from adaptbench.harness.errors import ConfigError
from adaptbench.harness.evaluation import EvalContext
from adaptbench.harness.loggers import open_logger
from adaptbench.harness.models import arch_config, build_model, load_tokenizer
from adaptbench.harness.plugins import adapt
from adaptbench.harness.records import (
    RECORD_VERSION,
    Record,
    TrainStats,
    artifacts_dir,
    config_hash,
    provenance,
    read_record,
    record_path,
    write_json_atomic,
)

log = logging.getLogger("adaptbench")


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no CUDA device is available; use device=cpu or device=auto")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def prepare_data(plan: RunPlan, tokenizer: Any, vocab_size: int, seed: int) -> DatasetDict:
    """Load, subsample and tokenise the task's splits; then let the method change each example (prefix
    methods insert their positions)."""
    trainer = plan.trainer
    raw = plan.task.load()
    if trainer.max_train_samples and len(raw["train"]) > trainer.max_train_samples:
        raw["train"] = raw["train"].shuffle(seed=seed).select(range(trainer.max_train_samples))
    if trainer.max_eval_samples:
        for split in raw:
            if split != "train" and len(raw[split]) > trainer.max_eval_samples:
                raw[split] = raw[split].select(range(trainer.max_eval_samples))
    data = plan.task.preprocess(raw, tokenizer, plan.method.input_length(trainer.max_seq_len))
    transform = plan.method.example_transform(tokenizer, plan.task.kind, vocab_size)
    return data if transform is None else data.map(transform)


class EvalTracker(TrainerCallback):
    """Evaluates every epoch (or every N steps, and always at the last step), keeps the history and the best
    evaluation (the paper reports each seed at its best epoch), and saves the trainable tensors at the best."""

    def __init__(
        self, evaluate: Any, plan: RunPlan, save_to: Path | None, logger: Any, state_file: Path
    ) -> None:
        self.evaluate = evaluate
        self.state_file = state_file
        self.every = plan.trainer.eval_every
        self.metric = plan.task.metric_for_best
        self.greater = plan.task.greater_is_better
        self.save_to = save_to
        self.logger = logger
        self.history: list[dict] = []
        self.best: dict | None = None

    def restore(self, up_to_step: int) -> None:
        """Take back the evaluations made up to a checkpoint's step (a resumed run continues after them)."""
        if self.state_file.is_file():
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.history = [entry for entry in saved["history"] if entry["step"] <= up_to_step]
            kept = [entry for entry in self.history if entry == saved["best"]]
            self.best = kept[0] if kept else None

    def _run(self, state: TrainerState, model: Any) -> None:
        if self.history and self.history[-1]["step"] == state.global_step:
            return
        start = time.perf_counter()
        metrics = self.evaluate(model)
        entry = {
            "epoch": round(float(state.epoch or 0), 4),
            "step": state.global_step,
            "metrics": metrics,
            "eval_seconds": round(time.perf_counter() - start, 3),
        }
        self.history.append(entry)
        self.logger.log(
            {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}, state.global_step
        )
        if self.metric not in metrics:
            raise KeyError(f"task metric_for_best={self.metric!r} missing from its metrics {sorted(metrics)}")
        value = metrics[self.metric]
        best_value = None if self.best is None else self.best["metrics"][self.metric]
        if best_value is None or (value > best_value if self.greater else value < best_value):
            self.best = entry
            if self.save_to is not None and getattr(state, "is_world_process_zero", True):
                save_trainable(model, self.save_to)
        if getattr(state, "is_world_process_zero", True):
            write_json_atomic(self.state_file, {"history": self.history, "best": self.best})

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        if isinstance(self.every, int) and state.global_step % self.every == 0:
            self._run(state, model)

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        if self.every == "epoch":
            self._run(state, model)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        self._run(state, model)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: Any,
        logs: dict | None = None,
        **kwargs: Any,
    ) -> None:
        if logs:
            self.logger.log(
                {f"train/{k}": v for k, v in logs.items() if isinstance(v, (int, float))}, state.global_step
            )


def training_arguments(
    trainer: TrainerConfig, out_dir: Path, seed: int, device: torch.device
) -> TrainingArguments:
    steps = (
        {"max_steps": trainer.max_steps} if trainer.max_steps > 0 else {"num_train_epochs": trainer.epochs}
    )
    warmup = (
        {"warmup_steps": trainer.warmup_steps}
        if trainer.warmup_steps > 0
        else {"warmup_steps": trainer.warmup_ratio}
    )
    return TrainingArguments(
        output_dir=str(out_dir),
        learning_rate=trainer.lr,
        per_device_train_batch_size=trainer.batch_size,
        per_device_eval_batch_size=trainer.eval_batch_size,
        gradient_accumulation_steps=trainer.grad_accum,
        weight_decay=trainer.weight_decay,
        max_grad_norm=trainer.max_grad_norm,
        lr_scheduler_type=trainer.lr_scheduler,
        optim="adamw_torch",
        fp16=trainer.precision == "fp16",
        bf16=trainer.precision == "bf16",
        eval_strategy="no",
        # checkpoints follow the evaluation cadence, so a resumed run's evaluation history matches its weights
        save_strategy=("epoch" if trainer.eval_every == "epoch" else "steps") if trainer.checkpoint else "no",
        save_steps=trainer.eval_every if isinstance(trainer.eval_every, int) else 500,
        save_total_limit=1,
        save_only_model=False,
        logging_strategy="steps",
        logging_steps=max(1, min(50, trainer.max_steps if trainer.max_steps > 0 else 50)),
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=device.type == "cpu",
        disable_tqdm=False,
        **steps,
        **warmup,
        **dict(trainer.extra_args),
    )


def peak_memory(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {
            "peak_memory_bytes": torch.cuda.max_memory_allocated(device),
            "peak_memory_kind": "cuda_allocated",
        }
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_memory_bytes": rss_kib * 1024, "peak_memory_kind": "process_max_rss"}


@dataclass
class Job:
    """One run's validated plan and where its results go."""

    cfg: DictConfig
    plan: RunPlan
    key: str
    path: Path

    @property
    def artifacts(self) -> Path:
        return artifacts_dir(self.path)


@dataclass
class Built:
    """What ``build`` makes: the adapted model on its device and the tokenised data."""

    model: Any
    tokenizer: Any
    data: DatasetDict
    counts: dict
    device: torch.device


@dataclass
class Trained:
    tracker: EvalTracker
    output: Any
    args: TrainingArguments
    train_seconds: float
    eval_seconds: float
    resumed_from: str | None
    is_main_process: bool


def plan_job(cfg: DictConfig) -> Job:
    """Validate the config (before any model is built) and place its record."""
    plan = validate(cfg)
    key = config_hash(cfg)
    return Job(cfg=cfg, plan=plan, key=key, path=record_path(cfg, key))


def describe(job: Job) -> dict:
    """What ``dry_run=true`` prints for a job: its cell and the hyperparameters it would train with."""
    cfg = job.cfg
    return {
        "method": str(cfg.method.name),
        "model": str(cfg.model.name),
        "task": str(cfg.task.name),
        "seed": int(cfg.seed),
        "lr": job.plan.trainer.lr,
        "lr_source": job.plan.lr_source,
        "method_config": {
            k: v
            for k, v in OmegaConf.to_container(cfg.method, resolve=True).items()
            if k not in ("name", "plugin", "lr")
        },
        "trainer": {k: v for k, v in asdict(job.plan.trainer).items() if k != "lr"},
        "task_config": {
            k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k != "name"
        },
        "record": str(job.path),
        "done": job.path.exists(),
    }


def build(job: Job) -> Built:
    """Tokenizer, data, model, method applied (and ``init_from`` tensors loaded), on the run's device."""
    cfg, plan = job.cfg, job.plan
    device = pick_device(cfg.device)
    if device.type == "cpu" and plan.trainer.precision == "fp16":
        raise ConfigError("trainer.precision='fp16' needs a GPU; on the CPU choose one of: bf16, fp32")
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    arch = arch_config(cfg.model, plan.task.kind, plan.task.num_labels)
    data = prepare_data(plan, tokenizer, arch.vocab_size, cfg.seed)
    model = build_model(cfg.model, plan.task.kind, plan.task.num_labels)
    adapt(model, plan.method, plan.layout)
    if plan.init_from is not None:
        load_trainable(model, plan.init_from, include_head=False)
    counts = parameter_report(model, plan.method, arch, plan.layout)
    model.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return Built(model=model, tokenizer=tokenizer, data=data, counts=counts, device=device)


def resume_point(job: Job, output_dir: Path) -> str | None:
    """The checkpoint to continue from (``trainer.checkpoint=true``), or None after clearing stale ones."""
    if not output_dir.is_dir():
        return None
    if job.cfg.get("resume", True) and job.plan.trainer.checkpoint:
        return get_last_checkpoint(str(output_dir))
    shutil.rmtree(
        output_dir, ignore_errors=True
    )  # a fresh start: an earlier attempt's checkpoints are not ours
    return None


def train(job: Job, built: Built, logger: Any) -> Trained:
    """``transformers.Trainer`` with the evaluation callback; evaluation time kept out of training time."""
    plan, artifacts = job.plan, job.artifacts
    ctx = EvalContext(
        plan.trainer.eval_batch_size, built.device, plan.task.collator(built.tokenizer), str(artifacts)
    )
    eval_splits = DatasetDict({name: split for name, split in built.data.items() if name != "train"})
    tracker = EvalTracker(
        lambda m: plan.task.evaluate(m, built.tokenizer, eval_splits, ctx),
        plan,
        artifacts / "trainable.safetensors" if plan.trainer.save_trainable else None,
        logger,
        artifacts / "evaluations.json",
    )
    args = training_arguments(plan.trainer, artifacts / "checkpoints", job.cfg.seed, built.device)
    trainer = Trainer(
        model=built.model,
        args=args,
        train_dataset=built.data["train"],
        data_collator=ctx.collator,
        callbacks=[tracker],
    )
    last = resume_point(job, Path(args.output_dir))
    if last is not None:
        log.info("resuming from %s", last)
        tracker.restore(TrainerState.load_from_json(str(Path(last) / "trainer_state.json")).global_step)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=last)
    trainer.accelerator.wait_for_everyone()
    eval_seconds = sum(entry["eval_seconds"] for entry in tracker.history)
    return Trained(
        tracker=tracker,
        output=output,
        args=args,
        train_seconds=time.perf_counter() - start - eval_seconds,
        eval_seconds=eval_seconds,
        resumed_from=last,
        is_main_process=trainer.is_world_process_zero(),
    )


def make_record(job: Job, built: Built, trained: Trained, wall_seconds: float) -> Record:
    cfg, plan, output = job.cfg, job.plan, trained.output
    samples_seen = (
        output.global_step * plan.trainer.batch_size * plan.trainer.grad_accum * trained.args.world_size
    )
    seconds = trained.train_seconds
    device = built.device
    return Record(
        record_version=RECORD_VERSION,
        status="complete",
        config_hash=job.key,
        run_name=job.artifacts.name,
        method=str(cfg.method.name),
        model=str(cfg.model.name),
        task=str(cfg.task.name),
        seed=int(cfg.seed),
        metric_for_best=plan.task.metric_for_best,
        best=trained.tracker.best,
        history=trained.tracker.history,
        params=built.counts,
        train=TrainStats(
            steps=output.global_step,
            train_loss=output.training_loss,
            train_seconds=round(seconds, 3),
            eval_seconds=round(trained.eval_seconds, 3),
            train_samples_per_second=round(samples_seen / seconds, 3) if seconds > 0 else None,
            train_examples=len(built.data["train"]),
        ),
        lr=plan.trainer.lr,
        lr_source=plan.lr_source,
        resumed_from=trained.resumed_from,
        wall_seconds=round(wall_seconds, 3),
        **peak_memory(device),
        provenance=provenance(
            str(device) if device.type == "cpu" else torch.cuda.get_device_name(device), cfg.seed
        ),
        config=OmegaConf.to_container(cfg, resolve=True),
    )


def run(cfg: DictConfig) -> Record | dict:
    """Run one job and return its record (the existing one when ``resume`` finds it already done; with
    ``dry_run=true`` only what the job would do)."""
    job = plan_job(cfg)
    if cfg.get("dry_run", False):
        return describe(job)
    if cfg.get("resume", True) and job.path.exists():
        log.info("already done, skipping (resume=true): %s", job.path)
        return read_record(job.path)
    started = time.perf_counter()
    built = build(job)
    logger = open_logger(cfg, job.artifacts.name)
    trained = train(job, built, logger)
    record = make_record(job, built, trained, time.perf_counter() - started)
    if trained.is_main_process:
        write_json_atomic(job.path, record)
        log.info("record: %s", job.path)
        shutil.rmtree(
            trained.args.output_dir, ignore_errors=True
        )  # the record is written: checkpoints can go
    logger.finish({"best/" + k: v for k, v in (trained.tracker.best or {}).get("metrics", {}).items()})
    return record
