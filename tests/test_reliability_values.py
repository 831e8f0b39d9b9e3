"""Values accepted that can only fail later are refused at once: one validation pass (the Config dataclasses are
the schema: finite numbers, ranges, strict booleans, the model's own setting names and the Trainer's types)
before any model is built and before Hydra writes any folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import CONF_DIR, compose_run_config
from adaptbench.harness.run import job as runner
from adaptbench.harness.run.job import run
from conftest import run_cli

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.alpha=nan", r"^method\.alpha=nan is not valid: must be a finite number$"),
        ("trainer.weight_decay=nan", r"^trainer\.weight_decay=nan is not valid: must be a finite number$"),
        ("trainer.max_grad_norm=inf", r"^trainer\.max_grad_norm=inf is not valid: must be a finite number$"),
        ("method.dropout=-inf", r"^method\.dropout=-inf is not valid: must be a finite number$"),
        ("trainer.warmup_steps=-5", r"^trainer\.warmup_steps=-5 is not valid: must be >= 0$"),
        ("resume=maybe", r"^resume='maybe' is not valid: must be true or false$"),
        ("dry_run=2", r"^dry_run=2 is not valid: must be true or false$"),
        ("method.r=10000000", r"^method\.r=10000000 is not valid: .*at most 32 \(q: 32 x 32\)"),
        ("method.r=33", r"^method\.r=33 is not valid: "),
        ("trainer.batch_size=100000000000000000000", r"^trainer\.batch_size=10+ is not valid: must be <= "),
        ("trainer.grad_accum=100000000000", r"^trainer\.grad_accum=10+ is not valid: must be <= "),
        ("trainer.batch_size=17", r"^trainer\.batch_size=17 is not valid: .*trainer\.max_train_samples=16"),
        ("+model.arch.hiden_size=32", r"^model\.arch\.hiden_size is not a setting of model_type='bert'"),
        (
            "+trainer.extra_args.dataloader_num_workers=many",
            r"^trainer\.extra_args\.dataloader_num_workers='many' is not valid: must be an integer$",
        ),
        (
            "+trainer.extra_args.torch_compile=maybe",
            r"^trainer\.extra_args\.torch_compile='maybe' is not valid: must be true or false$",
        ),
        (
            "+trainer.extra_args.adam_beta1=nan",
            r"^trainer\.extra_args\.adam_beta1=nan is not valid: must be a finite number$",
        ),
        (f"output_root={CONF_DIR / 'out'}", r"^output_root=.* is not valid: .*inside the installed"),
    ],
)
def test_values_that_can_only_fail_later_are_refused_first(override, message, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "build", lambda job: pytest.fail("built a model for an invalid config"))
    overrides = [*TINY, f"output_root={tmp_path}", override]
    with pytest.raises(ConfigError, match=message):
        run(compose_run_config(overrides))


def test_settings_the_model_and_the_trainer_do_take_are_accepted(tmp_path, monkeypatch):
    """The checks know the real names: DeBERTa's code reads settings its config class does not declare."""
    from adaptbench.harness.run.plan import plan_job

    for overrides in (
        [*TINY, "method.r=32", "+model.arch.hidden_dropout_prob=0.2", "+trainer.extra_args.adam_beta1=0.8"],
        [*TINY, "model=tiny-deberta-v2", "+trainer.extra_args.dataloader_num_workers=0", "resume=false"],
        [*TINY, "+trainer.extra_args.torch_compile=false", "trainer.warmup_steps=0", "dry_run=true"],
    ):
        plan_job(compose_run_config([*overrides, f"output_root={tmp_path}"]))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("resume=maybe", "resume='maybe' is not valid"),
        ("trainer.weight_decay=nan", "trainer.weight_decay=nan is not valid"),
    ],
)
def test_the_cli_refuses_before_hydra_writes_anything(tmp_path, override, message):
    result = run_cli("run", *TINY, f"output_root={tmp_path / 'out'}", override, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"adaptbench: error: {message}")
    assert not (tmp_path / "out").exists()  # no hydra/ log folder either


def test_no_hydra_folder_at_the_root_or_in_the_package(tmp_path):
    root_hydra = Path("/hydra")
    if root_hydra.exists():
        pytest.skip(f"{root_hydra} exists already: cannot tell whether this run made it")
    empty = run_cli("run", *TINY, "output_root=", cwd=tmp_path)
    assert empty.returncode == 2 and empty.stderr.startswith("adaptbench: error: output_root='' is not valid")
    assert not root_hydra.exists()
    inside = run_cli("run", *TINY, f"output_root={CONF_DIR / 'records-here'}", cwd=tmp_path)
    assert inside.returncode == 2 and "inside the installed" in inside.stderr
    assert not (CONF_DIR / "records-here").exists()
