"""The common runner: build model -> apply method -> train -> evaluate -> measure -> write the record.

It talks to methods and tasks only through their plugin interfaces (adaptbench.harness.api.plugins) and never names one.
Training is ``transformers.Trainer``, so DDP/FSDP/DeepSpeed under ``torchrun``/``accelerate`` come from there.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import shutil
import time
import traceback
import zipfile
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainerState, TrainingArguments, set_seed

from adaptbench.harness.accounting import parameter_report
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.evaluation import EvalContext
from adaptbench.harness.api.models import arch_config, build_model, load_tokenizer
from adaptbench.harness.api.plugins import adapt
from adaptbench.harness.checkpoint import load_trainable, safetensors_problem, save_trainable
from adaptbench.harness.config import RunPlan, TrainerConfig, validate
from adaptbench.harness.config_tree import parse_overrides
from adaptbench.harness.console import close_job_log, is_verbose, job_log, say
from adaptbench.harness.locking import job_lock
from adaptbench.harness.loggers import is_main_rank, open_logger
from adaptbench.harness.progress import JobProgress
from adaptbench.harness.records import (
    RECORD_VERSION,
    Record,
    RecordError,
    TrainStats,
    artifacts_dir,
    config_hash,
    is_complete,
    provenance,
    read_record,
    record_path,
    write_json_atomic,
)

if TYPE_CHECKING:
    from datasets import DatasetDict

log = logging.getLogger("adaptbench")
CHECKPOINTS_KEPT = 2  # the newest may be cut short by a kill during its save: the one before it is whole


class JobFailed(RuntimeError):
    """A job that did not finish; its failure record (``status: failed``) is at ``record_path`` (None when the
    config could not even name its record)."""

    def __init__(self, record_path: Path | None, message: str) -> None:
        super().__init__(message)
        self.record_path = record_path
        self.message = message


class Diverged(RuntimeError):
    """The training loss stopped being finite at ``step``."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training loss is not finite at step {step}")
        self.step = step


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
        # training seconds of the earlier segments of a resumed run, by the step each evaluation was made at
        self.train_seconds_at: dict[str, float] = {}
        self.earlier_seconds = 0.0
        self.segments = 1
        self.segment_start = time.perf_counter()
        self.segment_evals = 0
        self.last_step = -1

    def restore(self, up_to_step: int) -> None:
        """Take back the evaluations made up to a checkpoint's step (a resumed run continues after them), and
        the training time spent reaching it."""
        if self.state_file.is_file():
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.history = [entry for entry in saved["history"] if entry["step"] <= up_to_step]
            kept = [entry for entry in self.history if entry == saved["best"]]
            self.best = kept[0] if kept else None
            self.train_seconds_at = {
                step: s for step, s in saved.get("train_seconds_at", {}).items() if int(step) <= up_to_step
            }
            self.earlier_seconds = self.train_seconds_at.get(str(up_to_step), 0.0)
            self.segments = saved.get("segments", 1) + 1
        self.last_step = up_to_step

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
        if logs:
            self.logger.log(
                {f"train/{k}": v for k, v in logs.items() if isinstance(v, (int, float))}, state.global_step
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
        logging_steps=max(1, min(50, trainer.max_steps if trainer.max_steps > 0 else 50)),
        logging_nan_inf_filter=False,  # a diverged run's loss is reported as it is
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=device.type == "cpu",
        disable_tqdm=not is_verbose(),  # quiet: harness.progress.JobProgress shows one line per job
        **steps,
        **warmup,
        # the attention-mask tokens of every batch, kept in the Trainer's state (and its checkpoints): the
        # record's train_tokens_per_second
        **{"include_num_input_tokens_seen": "non_padding", **dict(trainer.extra_args)},
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


def job_label(cfg: DictConfig) -> str:
    """``lora (r=64) · minilm-l6 · sst2 · seed 1``: with the method settings the command line gives, so that the
    jobs of a sweep over them (``method.r=8,64``) are told apart on the console."""
    settings = ", ".join(f"{key}={value}" for key, value in command_line_method_settings(cfg))
    method = f"{cfg.method.name} ({settings})" if settings else cfg.method.name
    return f"{method} · {cfg.model.name} · {cfg.task.name} · seed {cfg.seed}"


def command_line_method_settings(cfg: DictConfig) -> list[tuple[str, Any]]:
    """The ``method.<key>`` overrides of the running Hydra job, with the values this job's method took (a
    ``++method.<key>`` the method does not take is dropped from its config, and from here)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    settings = []
    for override in parse_overrides(HydraConfig.get().overrides.task):
        group, _, key = override.key_or_group.partition(".")
        value = OmegaConf.select(cfg.method, key) if group == "method" and key else None
        if value is not None:
            settings.append((key, value))
    return settings


def plan_job(cfg: DictConfig) -> Job:
    """Validate the config (before any model is built) and place its record."""
    plan = validate(cfg)
    key = config_hash(cfg, upstream=plan.init_from.key if plan.init_from else None)
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
        "done": finished_record(job) is not None,
    }


def finished_record(job: Job) -> Record | None:
    """The job's record if it holds a finished result; None for no record, a failed attempt (retried) or an
    unreadable file (treated as missing, with one warning line naming it)."""
    if not job.path.exists():
        return None
    try:
        record = read_record(job.path)
    except RecordError as err:
        log.warning("%s; running the job again", err)
        return None
    return record if is_complete(record) else None


def check_writable(job: Job) -> None:
    """Write and remove a small file where the record and the artifacts go, before any training: a read-only
    folder or a full disk fails now, in one line, not after the compute is spent."""
    for folder in (job.path.parent, job.artifacts):
        probe = folder / f".write-probe-{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with probe.open("wb") as handle:
                handle.write(b"\0" * 65536)
                handle.flush()
                os.fsync(handle.fileno())
            probe.unlink()
        except OSError as err:
            probe.unlink(missing_ok=True)
            raise ConfigError(
                f"output_root={str(job.cfg.output_root)!r}: cannot write in {folder} ({err.strerror or err})"
            ) from None


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
    if getattr(arch, "type_vocab_size", None) == 1 and "token_type_ids" in data["train"].column_names:
        # one segment type (RoBERTa-style): a BERT-style tokenizer's second-segment ids would index past it
        data = data.remove_columns("token_type_ids")
    model = build_model(cfg.model, plan.task.kind, plan.task.num_labels)
    adapt(model, plan.method, plan.layout)
    if plan.init_from is not None:
        load_trainable(model, plan.init_from.path, include_head=False)
    counts = parameter_report(model, plan.method, arch, plan.layout)
    model.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return Built(model=model, tokenizer=tokenizer, data=data, counts=counts, device=device)


def checkpoint_problem(folder: Path) -> str | None:
    """Why a Trainer checkpoint cannot be resumed from (cut short by a kill during its save, a truncated
    file), or None. The Trainer writes ``trainer_state.json`` last, so a checkpoint without it is incomplete;
    weights are checked by their safetensors header, torch files by their zip directory (written at the end)."""
    state = folder / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "incomplete (no readable trainer_state.json)"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        return "incomplete (no model weights)"
    for path in weights:
        if problem := safetensors_problem(path):
            return f"{path.name}: {problem}"
    if not (folder / "optimizer.pt").is_file():
        return "incomplete (no optimizer.pt)"
    for path in sorted(folder.glob("*.pt")) + sorted(folder.glob("*.pth")):
        try:
            with zipfile.ZipFile(path):
                pass
        except (OSError, zipfile.BadZipFile):
            return f"{path.name}: truncated or not a torch file"
    return None


def checkpoints_newest_first(output_dir: Path) -> list[Path]:
    found = [p for p in output_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True)


def resume_point(job: Job, output_dir: Path) -> str | None:
    """The newest whole checkpoint of this job to continue from, whatever ``trainer.checkpoint`` says now (an
    earlier attempt's checkpoints are never thrown away while the job has no record), or None. Broken ones are
    removed, each with one line. ``resume=false`` starts afresh and removes them."""
    if not output_dir.is_dir():
        return None
    if not job.cfg.get("resume", True):
        shutil.rmtree(output_dir, ignore_errors=True)
        log.warning("resume=false: removed the earlier attempt's checkpoints in %s", output_dir)
        return None
    for checkpoint in checkpoints_newest_first(output_dir):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            say(f"{job_label(job.cfg)}: resuming from {checkpoint}")
            return str(checkpoint)
        log.warning("%s: %s; removed, trying the one before", checkpoint, problem)
        shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def stop_progress(trainer: Trainer) -> None:
    """End the job's progress line also when training stopped by an exception (no ``on_train_end`` then)."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, JobProgress):
            callback.on_train_end(trainer.args, trainer.state, trainer.control)


def train(job: Job, built: Built, logger: Any) -> Trained:
    """``transformers.Trainer`` with the evaluation callback; evaluation time kept out of training time; a
    non-finite loss stops training (a diverged run)."""
    plan, artifacts = job.plan, job.artifacts
    ctx = EvalContext(
        plan.trainer.eval_batch_size, built.device, plan.task.collator(built.tokenizer), str(artifacts)
    )
    from datasets import DatasetDict

    eval_splits = DatasetDict({name: split for name, split in built.data.items() if name != "train"})
    tracker = EvalTracker(
        lambda m: plan.task.evaluate(m, built.tokenizer, eval_splits, ctx),
        plan,
        artifacts / "trainable.safetensors" if plan.trainer.save_trainable else None,
        logger,
        artifacts / "evaluations.json",
    )
    args = training_arguments(plan.trainer, artifacts / "checkpoints", job.cfg.seed, built.device)
    callbacks: list[TrainerCallback] = [tracker]
    if not is_verbose():
        callbacks.append(JobProgress(job_label(job.cfg)))
    trainer = HarnessTrainer(
        token_level_loss=plan.task.kind == "generation",
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
    last = resume_point(job, Path(args.output_dir))
    if last is not None:
        tracker.restore(TrainerState.load_from_json(str(Path(last) / "trainer_state.json")).global_step)
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


def per_second(amount: float, seconds: float) -> float | None:
    return round(amount / seconds, 3) if seconds > 0 else None


def eval_split_size(data: DatasetDict) -> tuple[int, int]:
    """Rows and input tokens of the evaluation splits (what one evaluation feeds the model; rows are tokenised
    unpadded, so every ``input_ids`` position is a real token)."""
    import pyarrow.compute as pc

    rows = tokens = 0
    for name, split in data.items():
        if name == "train":
            continue
        rows += len(split)
        if len(split) and "input_ids" in split.column_names:
            lengths = pc.list_value_length(split.data.table.column("input_ids"))
            tokens += int(pc.sum(lengths).as_py() or 0)
    return rows, tokens


def throughput(built: Built, trained: Trained, samples_seen: int) -> dict[str, float | None]:
    """Samples and tokens per second of training (non-padding tokens the Trainer counted) and of evaluation
    (every evaluation of the history over the evaluation splits, against their summed time)."""
    evaluations = len(trained.tracker.history)
    eval_seconds = sum(entry["eval_seconds"] for entry in trained.tracker.history)
    eval_rows, eval_tokens = eval_split_size(built.data)
    return {
        "train_samples_per_second": per_second(samples_seen, trained.train_seconds),
        "train_tokens_per_second": per_second(trained.tokens_seen, trained.train_seconds),
        "eval_samples_per_second": per_second(evaluations * eval_rows, eval_seconds),
        "eval_tokens_per_second": per_second(evaluations * eval_tokens, eval_seconds),
    }


def make_record(job: Job, built: Built, trained: Trained, wall_seconds: float) -> Record:
    cfg, plan = job.cfg, job.plan
    samples_seen = trained.steps * plan.trainer.batch_size * plan.trainer.grad_accum * trained.args.world_size
    seconds = trained.train_seconds
    device = built.device
    record = Record(
        record_version=RECORD_VERSION,
        status="complete" if trained.diverged_at_step is None else "diverged",
        config_hash=job.key,
        run_name=job.artifacts.name,
        method=str(cfg.method.name),
        model=str(cfg.model.name),
        task=str(cfg.task.name),
        seed=int(cfg.seed),
        metric_for_best=plan.task.metric_for_best,
        greater_is_better=plan.task.greater_is_better,
        best=trained.tracker.best,
        history=trained.tracker.history,
        params=built.counts,
        train=TrainStats(
            steps=trained.steps,
            train_loss=trained.train_loss,
            train_seconds=round(seconds, 3),
            eval_seconds=round(sum(entry["eval_seconds"] for entry in trained.tracker.history), 3),
            train_examples=len(built.data["train"]),
            segments=trained.tracker.segments,
            **throughput(built, trained, samples_seen),
        ),
        lr=plan.trainer.lr,
        lr_source=plan.lr_source,
        resumed_from=trained.resumed_from,
        init_from_hash=plan.init_from.key if plan.init_from else None,
        wall_seconds=round(wall_seconds, 3),
        **peak_memory(device),
        provenance=provenance(
            str(device) if device.type == "cpu" else torch.cuda.get_device_name(device), cfg.seed
        ),
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    if trained.diverged_at_step is not None:
        record["diverged_at_step"] = trained.diverged_at_step
    return record


def in_sweep() -> bool:
    """Whether this job is one of a Hydra multirun (where one bad job must not stop the others)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def one_line(err: BaseException) -> str:
    """An error as one line: a ConfigError's own message, else the exception's type and first line."""
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(err, ConfigError) else f"{type(err).__name__}: {first}".rstrip(": ")


def write_failure(cfg: DictConfig, err: BaseException, key: str | None = None) -> Path | None:
    """Write a failure record (``status: failed``, the one-line error, the traceback's file) where the job's
    record goes; None when the config cannot even name that place. Resume retries a failed job."""
    try:
        key = key or config_hash(cfg)
        path = record_path(cfg, key)
    except Exception:  # noqa: BLE001 -- a config too broken to place a record: the error is still raised
        return None
    trace = artifacts_dir(path) / "traceback.txt"
    trace.parent.mkdir(parents=True, exist_ok=True)
    trace.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
    record = Record(
        record_version=RECORD_VERSION,
        status="failed",
        config_hash=key,
        run_name=path.stem,
        method=str(cfg.method.name),
        model=str(cfg.model.name),
        task=str(cfg.task.name),
        seed=int(cfg.seed),
        error=one_line(err),
        traceback=str(trace),
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    write_json_atomic(path, record)
    return path


def execute(job: Job) -> Record:
    """Train the job and write its record; the checkpoints go only once the record is written."""
    started = time.perf_counter()
    built = build(job)
    logger = open_logger(job.cfg, job.artifacts.name, job.plan.trainer.lr, built.counts["method_params"])
    with logger:  # a failed job's W&B run is closed too, so the next job of a sweep never logs into it
        trained = train(job, built, logger)
        record = make_record(job, built, trained, time.perf_counter() - started)
        if trained.is_main_process:
            write_json_atomic(job.path, record)
            log.info("record: %s", job.path)
            shutil.rmtree(trained.args.output_dir, ignore_errors=True)
        logger.finish(record)
    return record


def run(cfg: DictConfig) -> Record | dict:
    """Run one job and return its record (the existing one when ``resume`` finds it already done; with
    ``dry_run=true`` only what the job would do).

    Failures: in a single run an invalid config raises ConfigError before anything is built (the CLI prints
    one line, exit 2). Otherwise a job that fails writes a failure record and raises ``JobFailed``; a job
    whose lock another live process holds raises ``harness.locking.JobRunning``. In a sweep the CLI goes on
    to the next job and exits non-zero at the end."""
    try:
        job = plan_job(cfg)
    except ConfigError as err:
        if not in_sweep():
            raise
        raise JobFailed(write_failure(cfg, err), str(err)) from err
    if cfg.get("dry_run", False):
        return describe(job)
    if (done := already_done(job)) is not None:
        return done
    check_writable(job)
    with job_lock(job.artifacts / "job.lock") if is_main_rank() else nullcontext():
        if (done := already_done(job)) is not None:  # finished by another process since the check above
            return done
        record = execute_logged(job)
    if is_main_rank():
        say(f"{job_label(cfg)}: {summary(record)}")
    return record


def already_done(job: Job) -> Record | None:
    """The job's finished record when ``resume`` is on and one exists."""
    if not job.cfg.get("resume", True) or (done := finished_record(job)) is None:
        return None
    log.info("already done, skipping (resume=true): %s", job.path)
    return done


def execute_logged(job: Job) -> Record:
    """``execute`` with the job's log in ``run.log``; a failure leaves a failure record (see ``run``)."""
    handler = job_log(job.artifacts / "run.log")
    try:
        return execute(job)
    except ConfigError as err:  # bad data or a setting found bad only now: still one line, exit 2 alone
        path = write_failure(job.cfg, err, job.key)
        if not in_sweep():
            raise
        raise JobFailed(path, str(err)) from err
    except Exception as err:  # the traceback goes to a file; the CLI prints the one line
        raise JobFailed(write_failure(job.cfg, err, job.key), one_line(err)) from err
    finally:
        close_job_log(handler)


def summary(record: Record) -> str:
    """One line on a finished job: its selection metric at the best evaluation, steps and time."""
    metric = record["metric_for_best"]
    best = (record.get("best") or {}).get("metrics", {})
    value = best.get(metric)
    shown = "-" if value is None else f"{value:.4f}"
    train = record["train"]
    return f"{metric} {shown}, {train['steps']} steps in {train['train_seconds']:.0f} s"
