"""Bad input fails before any model is built, with one line naming the bad value and the valid choices."""

from __future__ import annotations

import pytest

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.config.validate import validate
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


@pytest.mark.parametrize("command", ["run", "params"])
def test_typo_in_a_nested_key_lists_the_valid_keys(command: str):
    line = assert_one_line_error(run_cli(command, "method=lora", "model=tiny-bert", "method.rr=4"))
    assert line.startswith(
        "adaptbench: error: method.rr is not a setting of method='lora'; valid keys: alpha,"
    )
    assert "targets" in line


def test_an_unknown_top_level_key_is_refused(tmp_path):
    """``+foo=1`` would be read by nothing yet change the config hash (a silent duplicate of every record)."""
    result = run_cli("run", "model=tiny-bert", "+foo=1", f"output_root={tmp_path}")
    assert_one_line_error(result, "top-level key='foo'", "method", "trainer")
    assert not (tmp_path / "records").exists()


def test_a_typo_in_a_top_level_key_of_params_is_one_line():
    assert_one_line_error(run_cli("params", "methd=lora"), "config key='methd'", "method")


def test_a_typo_in_an_override_of_quickstart_is_one_line(capsys):
    """In process (the subprocess path is the same ``main`` as ``params`` above): one line, exit 2, no runs."""
    from adaptbench.harness.cli import main

    assert main(["quickstart", "methd=lora"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("adaptbench: error: config key='methd' is not valid; choose one of: ")
    assert "method, model" in line


def test_no_arguments_prints_usage_and_exits_2():
    result = run_cli()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: adaptbench <command>")


def test_help_into_a_closed_pipe_is_quiet():
    """``adaptbench --help | head -1``: the reader leaves early; no BrokenPipeError traceback."""
    import subprocess

    from conftest import CLI

    shell = subprocess.run(
        " ".join(CLI) + " run --help | head -1", shell=True, capture_output=True, text=True, timeout=120
    )
    assert shell.stdout.startswith("usage: adaptbench run")
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr


def test_shell_completion_through_the_run_subcommand():
    """Hydra's completion script calls back ``adaptbench -sc query=bash`` with the line typed after ``run``."""
    line = "adaptbench run method=lo"
    result = run_cli("-sc", "query=bash", env={"COMP_LINE": line, "COMP_POINT": str(len(line))})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["method=lora", "method=lora_pe", "method=lora_pl"]


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    import signal
    import subprocess
    import time

    from conftest import CLI, REPO

    proc = subprocess.Popen(
        [*CLI, "run", "model=tiny-bert", "trainer=tiny", "trainer.max_steps=2000", f"output_root={tmp_path}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started from a background shell inherits SIGINT ignored, and Python keeps an ignored SIGINT
        # ignored: the child gets the default back, so that Ctrl-C reaches it as it does at a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 240
    while not list(tmp_path.rglob("run.log")) and time.time() < deadline:  # the job has started
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "adaptbench: interrupted"
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("records/**/*.json"))  # no partial record
