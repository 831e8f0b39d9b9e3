"""The common runner: build model -> apply method -> train -> evaluate -> measure -> write the record.

It talks to methods and tasks only through their plugin interfaces (``adaptbench.harness.api``) and never names
one. Each step is its own module of this package: ``plan`` (validated job), ``data``, ``training`` (Trainer),
``resume`` (checkpoints, finished records), ``outcome`` (the record).
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from adaptbench.harness.api.accounting import parameter_report
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.models import arch_config, build_model, load_tokenizer
from adaptbench.harness.api.node_keys import HARNESS_KEYS
from adaptbench.harness.api.plugins import adapt
from adaptbench.harness.records.schema import Record
from adaptbench.harness.run.console import close_job_log, job_log, say
from adaptbench.harness.run.data import prepare_data
from adaptbench.harness.run.heads import init_head_bias
from adaptbench.harness.run.locks import job_lock
from adaptbench.harness.run.loggers import is_main_rank, open_logger
from adaptbench.harness.run.outcome import (
    check_free_space,
    in_sweep,
    keep_result,
    make_record,
    note_refusal,
    one_line,
    publish,
    recover_result,
    reserve_result,
    summary,
    write_failure,
)
from adaptbench.harness.run.plan import (
    Built,
    Job,
    JobFailed,
    JobRefused,
    RecordNotWritten,
    check_writable,
    emulated_bf16_warning,
    job_label,
    pick_device,
    plan_job,
)
from adaptbench.harness.run.resume import already_done, finished_record
from adaptbench.harness.run.tensors import load_trainable
from adaptbench.harness.run.training import train

if TYPE_CHECKING:
    pass

log = logging.getLogger("adaptbench")


def build(job: Job) -> Built:
    """Tokenizer, data, model, method applied (and ``init_from`` tensors loaded), on the run's device."""
    cfg, plan = job.cfg, job.plan
    device = pick_device(cfg.device)
    if device.type == "cpu" and plan.trainer.precision == "fp16":
        raise ConfigError("trainer.precision='fp16' needs a GPU; on the CPU choose one of: bf16, fp32")
    if warning := emulated_bf16_warning(device, plan.trainer.precision):
        log.warning(warning)
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
    init_head_bias(model, data["train"], plan.settings.head_bias_init, plan.task.num_labels)
    counts = parameter_report(model, plan.method, arch, plan.layout)
    model.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return Built(model=model, tokenizer=tokenizer, data=data, counts=counts, device=device)


def execute(job: Job) -> Record:
    """Train the job and write its record: first into space reserved before training (``keep_result``), then
    moved to its path; the checkpoints go only once the record is there."""
    started = time.perf_counter()
    reserved = reserve_result(job) if is_main_rank() else None
    built = build(job)
    if is_main_rank():
        check_free_space(job, built.counts)
    logger = open_logger(job.cfg, job.artifacts.name, job.plan.trainer.lr, built.counts["method_params"])
    with logger:  # a failed job's W&B run is closed too, so the next job of a sweep never logs into it
        trained = train(job, built, logger)
        record = make_record(job, built, trained, time.perf_counter() - started)
        if trained.is_main_process and reserved is not None:
            publish(keep_result(reserved, record), job)
            log.info("record: %s", job.path)
            shutil.rmtree(trained.args.output_dir, ignore_errors=True)
        logger.finish(record, job.artifacts, [split for split in built.data if split != "train"])
    return record


def run(cfg: DictConfig) -> Record | dict:
    """Run one job and return its record (the existing one when ``resume`` finds it already done; with
    ``dry_run=true`` only what the job would do).

    Failures: in a single run an invalid config raises ConfigError before anything is built (the CLI prints
    one line, exit 2). Otherwise a job that fails writes a failure record and raises ``JobFailed``; a job
    whose lock another live process holds raises ``harness.run.locks.JobRunning``. In a sweep the CLI goes on
    to the next job and exits non-zero at the end."""
    try:
        job = plan_job(cfg)
    except ConfigError as err:
        if not in_sweep():
            raise
        raise JobRefused(note_refusal(err), str(err)) from err
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


def execute_logged(job: Job) -> Record:
    """``execute`` with the job's log in ``run.log``; a failure leaves a failure record (see ``run``)."""
    handler = job_log(job.artifacts / "run.log")
    try:
        return recover_result(job) or execute(job)
    except RecordNotWritten as err:  # the result is kept: the next run writes the record, untrained
        if not in_sweep():
            raise
        raise JobFailed(None, str(err)) from err
    except ConfigError as err:  # bad data or a setting found bad only now: one line, exit 2 alone, no record
        if not in_sweep():
            raise
        raise JobRefused(note_refusal(err), str(err)) from err
    except Exception as err:  # the traceback goes to a file; the CLI prints the one line
        raise JobFailed(write_failure(job.cfg, err, job.key), one_line(err)) from err
    finally:
        close_job_log(handler)


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
            k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k not in HARNESS_KEYS
        },
        "trainer": {k: v for k, v in asdict(job.plan.trainer).items() if k != "lr"},
        "task_config": {
            k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k != "name"
        },
        "record": str(job.path),
        "done": finished_record(job, set_aside_foreign=False) is not None,
    }
