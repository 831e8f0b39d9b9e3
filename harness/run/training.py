"""Training with ``transformers.Trainer``: its arguments, the evaluation-tracking callback, divergence and
the harness's own Trainer subclass (DDP/FSDP/DeepSpeed under ``torchrun``/``accelerate`` come from Trainer)."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainerState, TrainingArguments

from adaptbench.harness.api.evaluation import EvalContext
from adaptbench.harness.config.validate import RunPlan, TrainerConfig
from adaptbench.harness.records.store import write_json_atomic
from adaptbench.harness.run.console import is_verbose
from adaptbench.harness.run.plan import Built, Diverged, Job, job_label
from adaptbench.harness.run.progress import JobProgress, progress_seconds
from adaptbench.harness.run.resume import CHECKPOINTS_KEPT, resume_point
from adaptbench.harness.run.tensors import save_trainable

log = logging.getLogger("adaptbench")


class EvalTracker(TrainerCallback):
    """Evaluates every epoch (or every N steps, and always at the last step), keeps the history and the best
    evaluation (the paper reports each seed at its best epoch), and saves the trainable tensors at the best."""

    def __init__(
        self, evaluate: Any, plan: RunPlan, save_to: Path | None, logger: Any, state_file: Path
    ) -> None:
        self.evaluate = evaluate
        self.state_file = state_file
        self.every = plan.trainer.eval_every
        # the held-out selection split's metric when task.selection is on: the dev set is then only reported
        self.metric = plan.settings.best_metric(plan.task.metric_for_best)
        self.greater = plan.task.greater_is_better
        self.save_to = save_to
        self.logger = logger
        self.history: list[dict] = []
        self.best: dict | None = None
        # training seconds of the earlier segments of a resumed run, by the step each evaluation was made at
        self.train_seconds_at: dict[str, float] = {}
        self.earlier_seconds = 0.0
        self.segments = 1
        self.segment_start = time.perf_counter()
        self.segment_evals = 0
        self.last_step = -1

    def restore(self, up_to_step: int) -> str | None:
        """Take back the evaluations made up to a checkpoint's step (a resumed run continues after them), and
        the training time spent reaching it. Why not, when the evaluations file cannot be read (truncated,
        edited): the checkpoint's history is lost with it, so the run must not resume from it."""
        if self.state_file.is_file():
            try:
                saved = json.loads(self.state_file.read_text(encoding="utf-8"))
                history = [entry for entry in saved["history"] if entry["step"] <= up_to_step]
                seconds_at = {
                    step: float(s)
                    for step, s in saved.get("train_seconds_at", {}).items()
                    if int(step) <= up_to_step
                }
                segments = int(saved.get("segments", 1)) + 1
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
                return f"unreadable ({type(err).__name__}: {err})"
            self.history = history
            kept = [entry for entry in history if entry == saved.get("best")]
            self.best = kept[0] if kept else None
            self.train_seconds_at = seconds_at
            self.earlier_seconds = seconds_at.get(str(up_to_step), 0.0)
            self.segments = segments
        self.last_step = up_to_step
        return None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: Any, **kwargs: Any
    ) -> None:
        self.segment_start = time.perf_counter()
        self.segment_evals = 0

    def segment_eval_seconds(self) -> float:
        return sum(entry["eval_seconds"] for entry in self.history[len(self.history) - self.segment_evals :])

    def train_seconds(self) -> float:
        """Training time of the whole run so far: the earlier segments' and this one's, evaluation excluded."""
        elapsed = time.perf_counter() - self.segment_start
        return self.earlier_seconds + elapsed - self.segment_eval_seconds()

    def _run(self, state: TrainerState, model: Any) -> None:
        if self.last_step == state.global_step:
            return
        self.last_step = state.global_step
        if not getattr(state, "is_world_process_zero", True):
            wait_for_rank_zero()  # one process evaluates; the others wait for it
            return
        seconds_so_far = self.train_seconds()
        start = time.perf_counter()
        metrics = self.evaluate(model)
        entry = {
            "epoch": round(float(state.epoch or 0), 4),
            "step": state.global_step,
            "metrics": metrics,
            "eval_seconds": round(time.perf_counter() - start, 3),
        }
        self.history.append(entry)
        self.segment_evals += 1
        self.train_seconds_at[str(state.global_step)] = round(seconds_so_far, 3)
        self.logger.log(
            {f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}, state.global_step
        )
        if self.metric not in metrics:
            raise KeyError(f"task metric_for_best={self.metric!r} missing from its metrics {sorted(metrics)}")
        value = metrics[self.metric]
        best_value = None if self.best is None else self.best["metrics"][self.metric]
        if best_value is None or (value > best_value if self.greater else value < best_value):
            self.best = entry
            if self.save_to is not None:
                save_trainable(model, self.save_to)
        state_payload = {"history": self.history, "best": self.best}
        state_payload |= {"train_seconds_at": self.train_seconds_at, "segments": self.segments}
        write_json_atomic(self.state_file, state_payload)
        wait_for_rank_zero()

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
        if logs:  # each logging step's loss, lr and grad norm; not the Trainer's end-of-training throughput
            kept = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and k not in TRAINER_TOTALS}
            if kept:
                self.logger.log({f"train/{k}": v for k, v in kept.items()}, state.global_step)


# The Trainer's own end-of-training figures: the record's (and so the W&B summary's) train_* numbers replace
# them (its samples/s counts the epochs it planned, not the samples seen), so a run shows one of each.
TRAINER_TOTALS = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}
)


def wait_for_rank_zero() -> None:
    """A barrier under torchrun (all ranks meet here); nothing in a single process."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


class HarnessTrainer(Trainer):
    """``Trainer`` that stops at the first non-finite training loss (a diverged run) instead of training on NaN
    weights and recording the result as complete.

    ``token_level_loss=False`` (classification, regression: the loss is a mean over the batch) tells the Trainer
    that the model does not normalise its loss by ``num_items_in_batch``. The Trainer infers the opposite from
    the ``**kwargs`` of the model's ``forward`` and then multiplies the loss by the number of processes (and
    skips the division by ``grad_accum``), which doubled ``train_loss`` and the gradients on 2 ranks."""

    def __init__(self, *args: Any, token_level_loss: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = self.model_accepts_loss_kwargs and token_level_loss

    def training_step(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        loss = super().training_step(*args, **kwargs)
        if not math.isfinite(float(loss)):
            raise Diverged(self.state.global_step + 1)
        return loss


def checkpointing_argument(enabled: bool) -> dict[str, bool]:
    """``trainer.gradient_checkpointing`` as TrainingArguments takes it: ``activation_checkpointing`` where
    transformers has that name (``gradient_checkpointing`` is its deprecated alias there, and warns), else
    ``gradient_checkpointing``. Either way the Trainer checkpoints with ``use_reentrant=False`` and calls
    ``enable_input_require_grads``, so gradients reach a method's modules inside frozen layers."""
    names = {f.name for f in fields(TrainingArguments)}
    name = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {name: enabled}


def logging_interval(trainer: TrainerConfig) -> int:
    """``trainer.logging_steps``, else the interval runs have always logged at: min(50, max_steps), 50 by epochs."""
    if trainer.logging_steps is not None:
        return int(trainer.logging_steps)
    return max(1, min(50, trainer.max_steps if trainer.max_steps > 0 else 50))


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
        **checkpointing_argument(trainer.gradient_checkpointing),
        eval_strategy="no",
        # checkpoints follow the evaluation cadence, so a resumed run's evaluation history matches its weights
        save_strategy=("epoch" if trainer.eval_every == "epoch" else "steps") if trainer.checkpoint else "no",
        save_steps=trainer.eval_every if isinstance(trainer.eval_every, int) else 500,
        save_total_limit=CHECKPOINTS_KEPT,
        save_only_model=False,
        logging_strategy="steps",
        logging_steps=logging_interval(trainer),
        logging_nan_inf_filter=False,  # a diverged run's loss is reported as it is
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=device.type == "cpu",
        disable_tqdm=not is_verbose(),  # quiet: harness.run.progress.JobProgress shows one line per job
        **steps,
        **warmup,
        # the attention-mask tokens of every batch, kept in the Trainer's state (and its checkpoints): the
        # record's train_tokens_per_second
        **{"include_num_input_tokens_seen": "non_padding", **dict(trainer.extra_args)},
    )


def stop_progress(trainer: Trainer) -> None:
    """End the job's progress line also when training stopped by an exception (no ``on_train_end`` then)."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, JobProgress):
            callback.on_train_end(trainer.args, trainer.state, trainer.control)


def evaluation_tracker(job: Job, built: Built, logger: Any) -> tuple[EvalTracker, EvalContext]:
    """The callback that evaluates the job after each epoch (or ``eval_every`` steps) and keeps the best."""
    from datasets import DatasetDict

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
    return tracker, ctx


def make_trainer(job: Job, built: Built, tracker: EvalTracker, ctx: EvalContext) -> HarnessTrainer:
    args = training_arguments(job.plan.trainer, job.artifacts / "checkpoints", job.cfg.seed, built.device)
    callbacks: list[TrainerCallback] = [tracker, *job.plan.method.training_callbacks(built.model)]
    if not is_verbose():
        callbacks.append(JobProgress(job_label(job.cfg), progress_seconds(job.cfg)))
    trainer = HarnessTrainer(
        token_level_loss=job.plan.task.kind == "generation",
        model=built.model,
        args=args,
        train_dataset=built.data["train"],
        data_collator=ctx.collator,
        callbacks=callbacks,
    )
    if (
        not is_verbose()
    ):  # with tqdm off, the Trainer prints every log dict instead: JobProgress shows the loss
        trainer.remove_callback(PrinterCallback)
    return trainer


def train(job: Job, built: Built, logger: Any) -> Trained:
    """``transformers.Trainer`` with the evaluation callback; evaluation time kept out of training time; a
    non-finite loss stops training (a diverged run)."""
    tracker, ctx = evaluation_tracker(job, built, logger)
    trainer = make_trainer(job, built, tracker, ctx)
    args = trainer.args
    last = resume_point(job, Path(args.output_dir))
    step = TrainerState.load_from_json(f"{last}/trainer_state.json").global_step if last else 0
    if last is not None and (problem := tracker.restore(step)) is not None:
        log.warning("%s: %s; passed over with its checkpoints, starting afresh", tracker.state_file, problem)
        shutil.rmtree(args.output_dir, ignore_errors=True)
        last = None
    diverged_at = None
    try:
        output = trainer.train(resume_from_checkpoint=last)
        steps, loss = output.global_step, output.training_loss
    except Diverged as err:
        log.warning("%s: diverged, %s", job_label(job.cfg), err)
        diverged_at, steps, loss = err.step, err.step, float("nan")
    finally:
        stop_progress(trainer)
    trainer.accelerator.wait_for_everyone()
    return Trained(
        tracker=tracker,
        args=args,
        steps=steps,
        train_loss=loss,
        train_seconds=tracker.train_seconds(),
        eval_seconds=tracker.segment_eval_seconds(),
        resumed_from=last,
        is_main_process=trainer.is_world_process_zero(),
        tokens_seen=int(trainer.state.num_input_tokens_seen or 0),
        diverged_at_step=diverged_at,
    )


@dataclass
class Trained:
    tracker: EvalTracker
    args: TrainingArguments
    steps: int
    train_loss: float | None
    train_seconds: float
    eval_seconds: float
    resumed_from: str | None
    is_main_process: bool
    # non-padding input tokens of every training batch, all processes and earlier segments included
    tokens_seen: int = 0
    diverged_at_step: int | None = None
