"""PEFT's tuners through the common runner (``methods/peft_tuner.py``): the same function as the built-in LoRA and
as PEFT's own ``PeftModel`` given the same tensors, |Θ| equal to PEFT's own count less the head, every listed
tuner trained through ``harness.run.job.run``, AdaLoRA's rank schedule called each step, one-line errors before
anything is built, and a CLI sweep beside the built-in LoRA in one table."""

from __future__ import annotations

import json
from pathlib import Path

import peft
import pytest
import torch
from _methods_util import METHOD_CASES, NOT_SUPPORTED, batch, build, logits, method_batch
from peft import get_peft_model
from peft.tuners.adalora import AdaLoraModel
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, set_seed

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import arch_config, build_model
from adaptbench.harness.api.plugins import adapt, head_parameter_names
from adaptbench.harness.cli import main
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.store import artifacts_dir
from adaptbench.harness.run.job import run
from adaptbench.methods.lora import LoRAModule
from adaptbench.methods.peft_tuner import tuner_layers
from conftest import run_cli

TUNERS = [
    "peft_lora", "peft_dora", "peft_ia3", "peft_prompt_tuning", "peft_vera", "peft_adalora", "peft_loha",
    "peft_lokr", "peft_oft", "peft_boft", "peft_fourierft", "peft_ln_tuning",
]  # fmt: skip
TINY_RUN = ["task=vader", "trainer=tiny", "trainer.max_steps=2", "trainer.max_train_samples=8"]
TINY_RUN += ["trainer.max_eval_samples=8"]
# two steps: AdaLoRA's budget schedule at step 0, its final masking at step 1 (total_step - tfinal)
SHORT_ADALORA = (
    "method.peft_config.tinit=0",
    "method.peft_config.tfinal=1",
    "method.peft_config.total_step=2",
)


def overrides_for(tuner: str) -> tuple[str, ...]:
    return SHORT_ADALORA if tuner == "peft_adalora" else METHOD_CASES[tuner]


# ------------------------------------------------------------------------------------------ same function
@pytest.mark.parametrize("model_name", ["tiny-bert", "tiny-roberta"])
def test_peft_lora_gives_the_builtin_loras_logits_given_the_same_tensors(model_name: str) -> None:
    ours, _, _, _ = build(model_name, "lora", seed=3)
    theirs, _, _, _ = build(model_name, "peft_lora", seed=3)
    wrappers = {path: m for path, m in ours.named_modules() if isinstance(m, LoRAModule)}
    layers = tuner_layers(theirs)
    assert set(wrappers) == set(layers) and len(layers) == 4  # q and v of 2 blocks
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for path, wrapper in wrappers.items():
            (branch,) = wrapper.lora.values()
            a, b = (
                torch.randn(branch.lora_A.shape, generator=g),
                torch.randn(branch.lora_B.shape, generator=g),
            )
            branch.lora_A.copy_(a)
            branch.lora_B.copy_(b)
            layers[path].lora_A["default"].weight.copy_(a)
            layers[path].lora_B["default"].weight.copy_(b)
    inputs = batch(ours)
    base, _, _, _ = build(model_name, None, seed=3)
    assert not torch.allclose(logits(base, inputs), logits(ours, inputs), atol=1e-3)  # B A is not zero
    assert torch.allclose(logits(ours, inputs), logits(theirs, inputs), atol=1e-5)


@pytest.mark.parametrize(("model_name", "task_type"), [("tiny-bert", "SEQ_CLS"), ("tiny-gpt2", "CAUSAL_LM")])
def test_prompt_tuning_is_peft_models_prompt_tuning(model_name: str, task_type: str) -> None:
    """PEFT concatenates the prompt before the input in ``PeftModel.forward``; the harness inserts n virtual
    tokens there and looks them up in the same table: the same logits (on GPT-2 also PrefixEmbed's with l_i = 0)."""
    n = 3
    kind = "generation" if task_type == "CAUSAL_LM" else "classification"
    ours, method, _, _ = build(
        model_name, "peft_prompt_tuning", (f"method.peft_config.num_virtual_tokens={n}",), 3, kind
    )
    base, _, _, _ = build(model_name, None, seed=3, kind=kind)
    reference = get_peft_model(
        base, peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=n)
    ).eval()
    vectors = ours.base_model.virtual_tokens.embed
    with torch.no_grad():
        reference.prompt_encoder["default"].embedding.weight.copy_(vectors)
    plain = batch(ours)
    vocab = ours.get_input_embeddings().weight.shape[0]
    inserted = method_batch(method, plain, vocab, encoder=kind == "classification")
    assert (inserted["input_ids"][:, :n] >= vocab).all()  # before every token, [CLS] included, as PEFT does
    assert torch.allclose(logits(ours, inserted), logits(reference, plain), atol=1e-5)
    if kind == "generation":
        prefix, _, _, _ = build(
            model_name, "prefix_embed", (f"method.prefix_len={n}", "method.infix_len=0"), 3, kind
        )
        with torch.no_grad():
            prefix.base_model.virtual_tokens.embed.copy_(vectors)
        assert torch.allclose(logits(prefix, inserted), logits(ours, inserted), atol=1e-6)


# ------------------------------------------------------------------------------------------ |Θ| = PEFT's count
KV_FFN_OUT = (
    r".*\.(key|value)|.*layer\.\d+\.output\.dense"  # how a PEFT user names BERT's k, v and FFN output
)
FFN_OUT = r".*layer\.\d+\.output\.dense"
QV = ["query", "value"]


def reference_config(tuner: str, tiny: bool) -> peft.PeftConfig:
    """The YAML's tuner as a PEFT user writes it for BERT/RoBERTa (the tiny settings of _methods_util)."""
    shared = {"task_type": "SEQ_CLS"}
    return {
        "peft_lora": lambda: peft.LoraConfig(r=8, lora_alpha=8, target_modules=QV, **shared),
        "peft_dora": lambda: peft.LoraConfig(r=8, lora_alpha=8, use_dora=True, target_modules=QV, **shared),
        "peft_ia3": lambda: peft.IA3Config(target_modules=KV_FFN_OUT, feedforward_modules=FFN_OUT, **shared),
        "peft_prompt_tuning": lambda: peft.PromptTuningConfig(num_virtual_tokens=3 if tiny else 20, **shared),
        "peft_vera": lambda: peft.VeraConfig(r=8 if tiny else 256, target_modules=QV, **shared),
        "peft_adalora": lambda: peft.AdaLoraConfig(
            init_r=12,
            target_r=8,
            lora_alpha=8,
            total_step=1000,
            tinit=200,
            tfinal=200,
            target_modules=QV,
            **shared,
        ),
        "peft_loha": lambda: peft.LoHaConfig(r=8, alpha=8, target_modules=QV, **shared),
        "peft_lokr": lambda: peft.LoKrConfig(r=8, alpha=8, target_modules=QV, **shared),
        "peft_oft": lambda: peft.OFTConfig(
            r=0, oft_block_size=8 if tiny else 32, target_modules=QV, **shared
        ),
        "peft_boft": lambda: peft.BOFTConfig(boft_block_size=4, target_modules=QV, **shared),
        "peft_fourierft": lambda: peft.FourierFTConfig(
            n_frequency=64 if tiny else 1000, target_modules=QV, **shared
        ),
        "peft_ln_tuning": lambda: peft.LNTuningConfig(target_modules=r".*layer\.\d+\..*LayerNorm", **shared),
    }[tuner]()


def peft_count(model: torch.nn.Module, config: peft.PeftConfig) -> int:
    """PEFT's ``get_nb_trainable_parameters`` less the head (its trainable ``modules_to_save`` copy)."""
    wrapped = get_peft_model(model, config)
    trainable, _ = wrapped.get_nb_trainable_parameters()
    head = sum(p.numel() for n, p in wrapped.named_parameters() if p.requires_grad and "modules_to_save" in n)
    assert head > 0
    return trainable - head


def params_command(capsys: pytest.CaptureFixture[str], *overrides: str) -> dict:
    assert main(["params", *overrides]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("tuner", TUNERS)
def test_params_equal_peft_count_on_tiny_bert(tuner: str, capsys: pytest.CaptureFixture[str]) -> None:
    ours = params_command(capsys, "model=tiny-bert", f"method={tuner}", *METHOD_CASES[tuner])
    cfg = compose_run_config(["model=tiny-bert"])
    model = AutoModelForSequenceClassification.from_config(arch_config(cfg.model, "classification", 2))
    assert ours["method_params"] == ours["formula_params"] == peft_count(model, reference_config(tuner, True))


@pytest.mark.parametrize("tuner", [t for t in TUNERS if t != "peft_adalora"])
def test_params_on_roberta_base_equal_peft_count(tuner: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``adaptbench params model=roberta-base method=<tuner>``. PEFT counted on the meta device (AdaLoRA is
    left to the CPU test above: built on meta, PEFT's own AdaLoRA layers count their frozen ``ranknum`` too)."""
    ours = params_command(capsys, "model=roberta-base", f"method={tuner}")
    cfg = compose_run_config(["model=roberta-base"])
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(arch_config(cfg.model, "classification", 2))
    assert (
        ours["method_params"] == ours["formula_params"] == peft_count(model, reference_config(tuner, False))
    )
    if tuner == "peft_ia3":  # 12 blocks x (k 768 + v 768 + the FFN's inner 3072)
        assert ours["method_params"] == 12 * (768 + 768 + 3072)


# ------------------------------------------------------------------------------------------ training
def initial_trainable(cfg) -> dict[str, torch.Tensor]:  # noqa: ANN001
    """The run's adapted model before its first step, rebuilt as the runner builds it (same seed)."""
    layout = Layout.from_config(cfg.model.layout)
    set_seed(int(cfg.seed))
    model = build_model(cfg.model, "classification", 2)
    adapt(model, load_method(cfg.method), layout)
    heads = head_parameter_names(model)
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad and n not in heads}


@pytest.mark.parametrize("model_name", ["tiny-bert", "tiny-gpt2"])
@pytest.mark.parametrize("tuner", TUNERS)
def test_every_tuner_trains_through_the_runner(tuner: str, model_name: str, tmp_path: Path) -> None:
    overrides = [f"model={model_name}", f"method={tuner}", *overrides_for(tuner), *TINY_RUN]
    cfg = compose_run_config([*overrides, f"output_root={tmp_path}", "trainer.save_trainable=true"])
    if model_name in NOT_SUPPORTED.get(tuner, ()):
        with pytest.raises(ConfigError) as err:  # one line, before any model is built or anything trained
            run(cfg)
        line = str(err.value)
        assert "\n" not in line and "cannot adapt model type 'gpt2'" in line
        assert f"peft_type={tuner.removeprefix('peft_').upper()}" in line and "Linear" in line
        assert not (tmp_path / "records").exists()
        return
    record = run(cfg)
    assert record["status"] == "complete" and record["train"]["steps"] == 2
    params = record["params"]
    assert params["method_params"] == params["formula_params"] > 0 and params["head_params"] > 0
    (record_file,) = (tmp_path / "records").rglob("*.json")
    trained = load_file(str(artifacts_dir(record_file) / "trainable.safetensors"))
    before = initial_trainable(cfg)
    assert set(before) <= set(trained) and sum(t.numel() for t in before.values()) == params["method_params"]
    changed = [n for n, t in before.items() if not torch.equal(t, trained[n])]
    assert changed, f"{tuner} on {model_name}: no method tensor changed in 2 steps"


def test_adalora_rank_schedule_runs_after_every_optimizer_step(tmp_path: Path, monkeypatch) -> None:
    steps: list[int] = []
    original = AdaLoraModel.update_and_allocate

    def spy(self, global_step: int) -> None:  # noqa: ANN001
        assert any(p.grad is not None for n, p in self.model.named_parameters() if "lora_E" in n)
        steps.append(global_step)
        original(self, global_step)

    monkeypatch.setattr(AdaLoraModel, "update_and_allocate", spy)
    cfg = compose_run_config(
        ["model=tiny-bert", "method=peft_adalora", *SHORT_ADALORA, *TINY_RUN, f"output_root={tmp_path}"]
    )
    run(cfg)
    assert steps == [0, 1]  # the Trainer's step before its increment, as in PEFT's own training loop


# ------------------------------------------------------------------------------------------ bad input
def test_an_unknown_peft_key_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "model=tiny-bert", "method=peft_ia3", "+method.peft_config.rank=4"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("adaptbench: error: method.peft_config.rank is not a field of PEFT's IA3Config")
    valid = line.split("valid keys: ")[1].split(", ")
    assert {"feedforward_modules", "init_ia3_weights", "fan_in_fan_out"} <= set(valid)
    assert "target_modules" not in valid and "task_type" not in valid  # the harness's


def test_a_setting_the_harness_owns_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["params", "model=tiny-bert", "method=peft_lora", "+method.peft_config.target_modules=[query]"])
        == 2
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert "method.peft_config.target_modules is set by the harness" in line


def test_peft_value_checks_run_before_any_model_is_built(capsys: pytest.CaptureFixture[str]) -> None:
    """AdaLoRA needs tinit < total_step - tfinal: PEFT's own check, as one line."""
    assert (
        main(["params", "model=tiny-bert", "method=peft_adalora", "method.peft_config.total_step=100"]) == 2
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("adaptbench: error: method.peft_config for PEFT ADALORA:") and "tinit" in line


def test_an_unknown_peft_type_names_the_supported_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "model=tiny-bert", "method=peft", "method.peft_type=PREFIX_TUNING"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "method.peft_type" in line and "PREFIX_TUNING" in line
    assert all(t in line for t in ("LORA", "IA3", "VERA", "PROMPT_TUNING", "LN_TUNING"))


def test_the_generic_plugin_takes_any_tuner(capsys: pytest.CaptureFixture[str]) -> None:
    generic = params_command(
        capsys,
        "model=tiny-bert",
        "method=peft",
        "method.peft_type=IA3",
        "method.targets=[k,v,ffn_out]",
        "+method.peft_config.feedforward_modules=[ffn_out]",
    )  # fmt: skip  (a key the YAML's peft_config lacks is added with "+", as any new key under Hydra)
    assert (
        generic["method_params"]
        == params_command(capsys, "model=tiny-bert", "method=peft_ia3")["method_params"]
    )


# ------------------------------------------------------------------------------------------ sweep and table
def test_a_sweep_beside_lora_writes_four_records_and_one_table(tmp_path: Path) -> None:
    result = run_cli(
        "run", "-m", "method=lora,peft_lora,peft_dora,peft_ia3", "model=tiny-bert", *TINY_RUN,
        f"output_root={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "records").rglob("*.json"))]
    assert sorted(r["method"] for r in records) == ["lora", "peft_dora", "peft_ia3", "peft_lora"]
    assert all(r["status"] == "complete" and r["params"]["method_params"] > 0 for r in records)
    table = run_cli("table", str(tmp_path))
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("| Model | Method |") == 1  # one table
    rows = {
        cells[2]: cells[3]  # method label -> |Θ|
        for line in table.stdout.splitlines()
        if line.startswith("| tiny-bert") and (cells := [c.strip() for c in line.split("|")])
    }
    assert set(rows) == {"LoRA", "LoRA (PEFT)", "DoRA (PEFT)", "IA3 (PEFT)"}, table.stdout
    assert rows["LoRA"] == rows["LoRA (PEFT)"] == "2,048"  # r = 8 on q, v of 2 blocks of width 32


def test_a_killed_vera_run_resumes_from_its_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """VeRA's shared random projections are not in the Trainer's checkpoint (safetensors refuses one tensor under
    several names); PEFT regenerates them from their seed, so the resumed run ends where an uninterrupted one
    ends."""
    from adaptbench.harness.run.training import EvalTracker

    overrides = ["model=tiny-bert", "method=peft_vera", "method.peft_config.r=8", *TINY_RUN]
    overrides += ["trainer.max_steps=4", "trainer.eval_every=2", "trainer.checkpoint=true"]
    whole = run(compose_run_config([*overrides, f"output_root={tmp_path / 'whole'}"]))
    original = EvalTracker.on_step_end

    def crash_at_step_3(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN003
        original(self, args, state, control, model=model, **kwargs)
        if state.global_step == 3:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(EvalTracker, "on_step_end", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        run(compose_run_config([*overrides, f"output_root={tmp_path / 'killed'}"]))
    monkeypatch.setattr(EvalTracker, "on_step_end", original)
    resumed = run(compose_run_config([*overrides, f"output_root={tmp_path / 'killed'}"]))
    assert resumed["resumed_from"].endswith("checkpoint-2")
    assert [h["step"] for h in resumed["history"]] == [2, 4]
    for before, after in zip(whole["history"], resumed["history"], strict=True):
        assert after["metrics"] == pytest.approx(before["metrics"], rel=1e-5)


# ------------------------------------------------------------------------------------------ the generic plugin
@pytest.mark.parametrize("peft_type", ["TINYLORA", "UNILORA"])
def test_a_tensor_shared_across_layers_counts_once(
    peft_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """TinyLoRA and UniLoRA share one trained tensor across every adapted layer: |Θ| and the formula (PEFT's
    injected tensors) count it once, as PEFT does."""
    ours = params_command(capsys, "model=tiny-bert", "method=peft", f"method.peft_type={peft_type}")
    cfg = compose_run_config(["model=tiny-bert"])
    model = AutoModelForSequenceClassification.from_config(arch_config(cfg.model, "classification", 2))
    config = peft.PEFT_TYPE_TO_CONFIG_MAPPING[peft_type](target_modules=QV, task_type="SEQ_CLS")
    assert ours["method_params"] == ours["formula_params"] == peft_count(model, config)


def test_a_tuner_that_initialises_from_the_weights_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """AdaMSS decomposes W when it is injected: the meta build of the check before building has no values."""
    assert main(["params", "model=tiny-bert", "method=peft", "method.peft_type=ADAMSS"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("adaptbench: error:")]
    assert "method.peft_type=ADAMSS cannot adapt model type 'bert'" in line
    assert "initialises from the weights' values" in line


def test_trainable_tokens_is_not_a_layout_tuner(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "model=tiny-gpt2", "method=peft", "method.peft_type=TRAINABLE_TOKENS"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "method.peft_type='TRAINABLE_TOKENS' is not valid" in line and "LORA" in line


def test_init_from_starts_a_peft_tuner_from_another_runs_tensors(tmp_path: Path, monkeypatch) -> None:
    """``init_from``: the second run's VeRA vectors start where the first run's ended (its head is new)."""
    from adaptbench.harness.run.training import EvalTracker

    overrides = ["model=tiny-bert", "method=peft_vera", "method.peft_config.r=8", *TINY_RUN]
    first = compose_run_config([*overrides, f"output_root={tmp_path / 'a'}", "trainer.save_trainable=true"])
    run(first)
    (record,) = (tmp_path / "a" / "records").rglob("*.json")
    trained = load_file(str(artifacts_dir(record) / "trainable.safetensors"))
    at_start: dict[str, torch.Tensor] = {}
    original = EvalTracker.on_train_begin

    def spy(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN003
        heads = head_parameter_names(model)
        at_start.update(
            {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad and n not in heads}
        )
        return original(self, args, state, control, model=model, **kwargs)

    monkeypatch.setattr(EvalTracker, "on_train_begin", spy)
    run(compose_run_config([*overrides, f"output_root={tmp_path / 'b'}", f"init_from={record}", "seed=7"]))
    assert at_start and set(at_start) <= set(trained)
    assert all(torch.equal(t, trained[n]) for n, t in at_start.items())
    initial = initial_trainable(first)  # and not where a fresh VeRA starts
    assert any(not torch.equal(t, initial[n]) for n, t in at_start.items())
