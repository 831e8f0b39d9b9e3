"""Plugins from outside the repo: a package that declares an ``adaptbench.methods`` entry point is found,
selectable as ``method=<name>`` without a YAML file in conf/, and trains through the common runner."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.registry import METHODS, Registry
from conftest import run_cli

PLUGIN = '''
from dataclasses import dataclass

from adaptbench.harness.api.plugins import Method


@dataclass
class LayerNormOnlyConfig:
    include_embeddings: bool = False


class LayerNormOnly(Method):
    """Trains only the LayerNorms of every block."""

    Config = LayerNormOnlyConfig

    def apply(self, model, layout):
        for block in layout.block_list(model):
            for path in layout.layernorms:
                block.get_submodule(path).requires_grad_(True)

    def formula_params(self, arch, layout):
        return arch.num_hidden_layers * len(layout.layernorms) * 2 * arch.hidden_size
'''


def install_plugin_package(site: Path) -> None:
    """What ``pip install`` of a third-party package leaves on sys.path: the module and its dist-info."""
    (site / "layernorm_plugin.py").write_text(PLUGIN)
    info = site / "layernorm_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: layernorm-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [adaptbench.methods]
            layernorm_only = layernorm_plugin:LayerNormOnly
            """
        )
    )


def test_entry_point_plugin_trains_through_the_runner(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_plugin_package(site)
    out = tmp_path / "out"
    result = run_cli(
        "run",
        "method=layernorm_only",
        "model=tiny-bert",
        "task=vader",
        "trainer=tiny",
        f"output_root={out}",
        env={"PYTHONPATH": str(site)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [path] = list((out / "records").rglob("*.json"))
    record = json.loads(path.read_text())
    assert record["method"] == "layernorm_only"
    # tiny-bert: 2 blocks x 2 LayerNorms x (weight + bias) x hidden 32
    assert record["params"]["method_params"] == record["params"]["formula_params"] == 2 * 2 * 2 * 32
    assert record["train"]["steps"] == 4


def test_plugin_absent_without_the_package():
    assert "layernorm_only" not in METHODS.names()
    with pytest.raises(ConfigError, match="layernorm_only.*choose one of: .*lora"):
        METHODS.get("layernorm_only")


def test_decorator_registration_and_duplicates():
    registry = Registry("widget", "adaptbench.widgets-test")

    @registry.register("spinner")
    class Spinner:
        pass

    assert registry.get("spinner") is Spinner and Spinner.name == "spinner"
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("spinner")(type("Other", (), {}))
