"""``adaptbench params`` over a sweep: one JSON line per combination, counted in one process, each equal to the
single command's count; a bad combination fails in one line before anything is counted."""

from __future__ import annotations

import json

import pytest

from adaptbench.harness.cli import main


def params_output(capsys: pytest.CaptureFixture[str], *overrides: str) -> str:
    assert main(["params", *overrides]) == 0
    return capsys.readouterr().out


def test_a_swept_command_prints_one_line_per_combination_equal_to_single_commands(capsys) -> None:
    lines = params_output(capsys, "model=tiny-bert,tiny-gpt2", "method=lora,bitfit").splitlines()
    swept = [json.loads(line) for line in lines]
    assert [(c["model"], c["method"]) for c in swept] == [
        ("tiny-bert", "lora"), ("tiny-bert", "bitfit"), ("tiny-gpt2", "lora"), ("tiny-gpt2", "bitfit"),
    ]  # fmt: skip
    for counts in swept:
        single = json.loads(params_output(capsys, f"model={counts['model']}", f"method={counts['method']}"))
        assert counts == single
        if counts["method"] == "lora":  # r = 8 on W_q, W_v of 2 layers of width 32: A (8 x 32) + B (32 x 8)
            assert counts["method_params"] == 2 * 2 * (2 * 32 * 8)


def test_a_bad_combination_fails_in_one_line_before_any_is_counted(capsys) -> None:
    assert main(["params", "model=tiny-bert", "method=lora,bitfit", "method.r=4"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # lora's line is not printed before bitfit's combination fails
    (line,) = captured.err.splitlines()
    assert "method.r is not a setting of method='bitfit'" in line and "valid keys: lr" in line
