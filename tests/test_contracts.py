"""Contracts every plugin keeps, parametrised over the registries: a plugin added without a case here fails CI.

Methods: counted |Θ| = formula, merge then unmerge gives back the same weights, merging keeps the function, and
no change at init for the methods that claim it. Tasks: load → preprocess → collate → evaluate on a few rows
returns the task's ``metric_for_best``. Config files: every method/task YAML is valid for its plugin's Config.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from _methods_util import METHOD_CASES, NOT_SUPPORTED, REFUSAL, batch, build, logits, method_batch
from omegaconf import OmegaConf

from adaptbench.harness.api.accounting import parameter_report
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.evaluation import EvalContext
from adaptbench.harness.api.loading import load_method, load_task
from adaptbench.harness.api.models import arch_config, build_model, load_tokenizer
from adaptbench.harness.api.registry import METHODS, TASKS, PluginError, Registry
from adaptbench.harness.config.tree import CONF_DIR, compose_run_config
from conftest import SHARED_DATA, run_cli

# Methods whose adapted model computes exactly the base model's function before training (zero-initialised B or
# adapter up-projection, or nothing added); prefix methods insert positions, so they change it by design.
IDENTITY_AT_INIT = {"full", "fttop2", "bitfit", "adapter_h", "adapter_l", "adapter_p", "adapter_d", "lora"}
# PEFT's tuners whose default init leaves the function unchanged (B = 0, λ_b = 0, unit scalings, identity
# rotations, a copy of the LayerNorm); prompt tuning inserts positions and FourierFT starts from random spectra
IDENTITY_AT_INIT |= {"peft", "peft_lora", "peft_dora", "peft_ia3", "peft_vera", "peft_adalora", "peft_loha"}
IDENTITY_AT_INIT |= {"peft_lokr", "peft_oft", "peft_boft", "peft_ln_tuning", "linear_probe"}
# Reference methods that train nothing of the model (only the task head): |Θ| = 0
NOTHING_TRAINED = {"linear_probe"}


def test_method_case_table_lists_every_registered_method() -> None:
    """Every method a user can choose (a YAML in conf/method) has a case, and every registered plugin class is
    reached by one (``compose`` through ``lora_pe``/``lora_pl``)."""
    yaml = {p.stem: OmegaConf.load(p) for p in (CONF_DIR / "method").glob("*.yaml")}
    assert set(METHOD_CASES) == set(yaml)
    assert set(METHODS.names()) <= {node.get("plugin") or node.name for node in yaml.values()}


@pytest.mark.parametrize("model_name", ["tiny-roberta", "tiny-gpt2"])
@pytest.mark.parametrize("method_name", sorted(METHOD_CASES))
def test_method_contract(model_name: str, method_name: str) -> None:
    overrides = METHOD_CASES[method_name]
    if model_name in NOT_SUPPORTED.get(method_name, ()):
        with pytest.raises(ConfigError, match=REFUSAL.get(method_name, "cannot adapt model type")):
            build(model_name, method_name, overrides, seed=3)
        return
    model, method, layout, cfg = build(model_name, method_name, overrides, seed=3)
    kind = "generation" if model_name == "tiny-gpt2" else "classification"
    counts = parameter_report(model, method, arch_config(cfg.model, kind, 2), layout)
    assert counts["method_params"] == counts["formula_params"] >= (method_name not in NOTHING_TRAINED)

    vocab = model.get_input_embeddings().weight.shape[0]
    inputs = method_batch(method, batch(model), vocab, encoder=kind == "classification")
    if method_name in IDENTITY_AT_INIT:
        base, _, _, _ = build(model_name, None, seed=3)
        assert torch.allclose(logits(base, inputs), logits(model, inputs), atol=1e-6)

    with torch.no_grad():  # move every trainable tensor away from its init, so merging has something to fold
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    before_logits = logits(model, inputs)
    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    method.merge(model)
    assert torch.allclose(logits(model, inputs), before_logits, atol=1e-5)
    method.unmerge(model)
    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert torch.allclose(after[name], value, atol=1e-6), name


# Task name -> (settings of its YAML node for a few rows, the shared data folder it reads or None).
TASK_CASES: dict[str, tuple[dict, str | None]] = {
    "vader": ({}, None),
    "vader_rating": ({}, None),
    "sst2": ({}, "glue_sst2"),
    "mrpc": ({}, "glue_mrpc"),
    "cola": ({}, "glue_cola"),
    "stsb": ({}, "glue_stsb"),
    "rte": ({}, "glue_rte"),
    "mnli": ({}, "glue_mnli"),  # not in ../shared/data: hub only, skipped here
    "qnli": ({}, "glue_qnli"),
    "qqp": ({}, "glue_qqp"),
    "e2e": (
        {"train_file": "devset.csv", "eval_file": "devset.csv", "num_beams": 2, "max_new_tokens": 4},
        "e2e",
    ),
    "webnlg": (
        {"train_file": "dev.json", "eval_file": "dev.json", "num_beams": 2, "max_new_tokens": 4},
        "webnlg_challenge_2017",
    ),
    "dart": (
        {
            "train_file": "dart-v1.1.1-full-dev.json",
            "eval_file": "dart-v1.1.1-full-dev.json",
            "num_beams": 2,
            "max_new_tokens": 4,
        },
        "dart",
    ),
    # not in ../shared/data (skipped here): tests/test_tasks_gpt3.py writes both in their original formats
    "wikisql": ({"max_new_tokens": 4}, "wikisql"),
    "samsum": ({"num_beams": 2, "max_new_tokens": 4}, "samsum"),
    # users' own files: here the shared SST-2 TSV and E2E CSV, named by path (data_dir = the shared folder)
    "text_classification": (
        {"train_file": "{data}/dev.tsv", "eval_file": "{data}/dev.tsv", "text_fields": ["sentence"]},
        "glue_sst2",
    ),
    "text_generation": (
        {
            "train_file": "devset.csv",
            "eval_file": "devset.csv",
            "source_field": "mr",
            "target_field": "ref",
            "num_beams": 2,
            "max_new_tokens": 4,
        },
        "e2e",
    ),
}


def test_task_case_table_lists_every_registered_task() -> None:
    assert set(TASK_CASES) == set(TASKS.names())


@pytest.mark.parametrize("task_name", sorted(TASK_CASES))
def test_task_contract(task_name: str, tmp_path: Path) -> None:
    settings, folder = TASK_CASES[task_name]
    node = {**OmegaConf.to_container(OmegaConf.load(CONF_DIR / "task" / f"{task_name}.yaml")), **settings}
    if folder is not None:
        if not (SHARED_DATA / folder).is_dir():
            pytest.skip(
                f"no local data for {task_name}: {SHARED_DATA / folder} (hub download needs internet)"
            )
        data = str(SHARED_DATA / folder)
        node = {k: v.format(data=data) if isinstance(v, str) else v for k, v in node.items()}
        if "data_dir" in node:
            node["data_dir"] = data
    task = load_task(node)
    task.validate()
    raw = task.load()
    for split in raw:
        raw[split] = raw[split].select(range(min(6, len(raw[split]))))
    model_name = "tiny-gpt2" if task.kind == "generation" else "tiny-bert"
    model_cfg = compose_run_config([f"model={model_name}"]).model
    tokenizer = load_tokenizer(model_cfg)
    data = task.preprocess(raw, tokenizer, 32)
    collator = task.collator(tokenizer)
    batch_ = collator([data["train"][i] for i in range(2)])
    assert batch_["input_ids"].shape[0] == 2
    model = build_model(model_cfg, task.kind, task.num_labels)
    ctx = EvalContext(4, torch.device("cpu"), collator, str(tmp_path))
    metrics = task.evaluate(model, tokenizer, {k: v for k, v in data.items() if k != "train"}, ctx)
    assert isinstance(metrics[task.metric_for_best], float)


@pytest.mark.parametrize("path", sorted((CONF_DIR / "method").glob("*.yaml")), ids=lambda p: p.stem)
def test_method_yaml_is_valid_for_its_plugin(path: Path) -> None:
    load_method(OmegaConf.load(path))  # unknown keys or wrong types raise a ConfigError


@pytest.mark.parametrize("path", sorted((CONF_DIR / "task").glob("*.yaml")), ids=lambda p: p.stem)
def test_task_yaml_is_valid_for_its_plugin(path: Path) -> None:
    load_task(OmegaConf.load(path))


def test_a_method_without_formula_params_is_refused_at_registration() -> None:
    from adaptbench.harness.api.plugins import Method

    registry = Registry(
        "method",
        "adaptbench.methods-test",
        base="adaptbench.harness.api.plugins:Method",
    )

    class Incomplete(Method):
        def apply(self, model, layout) -> None:  # noqa: ANN001
            pass

    with pytest.raises(PluginError) as err:
        registry.register("incomplete")(Incomplete)
    assert str(err.value) == "method 'incomplete': Incomplete does not implement formula_params"
    with pytest.raises(PluginError, match="is not a subclass of Method"):
        registry.register("widget")(type("Widget", (), {}))


def test_a_broken_entry_point_is_one_line(tmp_path: Path) -> None:
    """A third-party package whose plugin module fails to import: one line naming the entry point, exit 2."""
    site = tmp_path / "site"
    (site / "broken_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    (site / "broken_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n"
    )
    (site / "broken_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        textwrap.dedent("""\
            [adaptbench.methods]
            broken = broken_plugin:Broken
            """)
    )
    result = run_cli("params", "method=broken", "model=tiny-bert", env={"PYTHONPATH": str(site)})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "adaptbench: error: method entry point 'broken' = 'broken_plugin:Broken' failed to import: RuntimeError: boom"
    )
