"""Bad input fails before any model is built, with one line naming the bad value and the valid choices."""

from __future__ import annotations

import pytest

from adaptbench.harness.config import validate
from adaptbench.harness.config_tree import compose_run_config
from adaptbench.harness.errors import ConfigError
from conftest import run_cli


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_unknown_method_lists_valid_methods():
    line = assert_one_line_error(
        run_cli("run", "method=lroa"), "method='lroa'", "lora", "bitfit", "adapter_h"
    )
    assert line.startswith("adaptbench: error:")


def test_unknown_choice_inside_a_sweep():
    assert_one_line_error(run_cli("run", "-m", "method=full,lroa", "seed=1,2"), "method='lroa'", "full")


def test_unknown_model_and_task():
    assert_one_line_error(run_cli("run", "model=gpt3"), "model='gpt3'", "roberta-base", "minilm-l6")
    assert_one_line_error(run_cli("params", "task=sst3"), "task='sst3'", "vader")


def test_bad_value_from_the_command_line(tmp_path):
    result = run_cli("run", "method=lora", "model=tiny-bert", "method.r=0", f"output_root={tmp_path}")
    assert_one_line_error(result, "method.r=0")
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("trainer.lr=-1", ("trainer.lr=-1", "> 0")),
        ("trainer.precision=fp8", ("trainer.precision='fp8'", "bf16", "fp32")),
        ("trainer.eval_every=soon", ("trainer.eval_every='soon'", "epoch")),
        ("trainer.batch_size=0", ("trainer.batch_size=0", "> 0")),
        ("device=tpu", ("device='tpu'", "cpu", "cuda")),
        ("method.targets=[q,x]", ("method.targets='x'", "ffn_in, ffn_out, k, o, q, v")),
        ("+method.rank=4", ("method.rank", "valid keys", "alpha")),
        ("method.r=four", ("method.r",)),
    ],
)
def test_bad_values_fail_validation(override: str, fragments: tuple[str, ...]):
    cfg = compose_run_config(["method=lora", "model=tiny-bert", override])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
