"""``adaptbench export``: a trained LoRA or PEFT-tuner run as a PEFT adapter or a merged model, with the run's own
logits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from _export_util import export, fake_record, fake_run, harness_model, logits, run_config, train
from _methods_util import batch, method_batch
from _methods_util import logits as method_logits
from peft import PeftModel, get_peft_model_state_dict
from safetensors.torch import load_file
from scipy.stats import pearsonr
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, set_seed

from adaptbench.harness.api.evaluation import EvalContext, predict_logits
from adaptbench.harness.api.layout import Layout
from adaptbench.harness.api.loading import load_method
from adaptbench.harness.api.models import build_model, load_tokenizer, weights_location
from adaptbench.harness.api.plugins import adapt
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.config.validate import validate
from adaptbench.harness.records.store import artifacts_dir, record_path, write_json_atomic
from adaptbench.harness.run.data import prepare_data
from adaptbench.harness.run.tensors import save_trainable
from adaptbench.methods.lora import LoRAModule
from adaptbench.tasks import custom

MINILM = [
    "model=minilm-l6",
    "method=lora",
    "method.targets=[q,v,ffn_out]",
    "task=vader_rating",
    "trainer=tiny",
]


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tmp_path_factory.mktemp("minilm"), MINILM)


@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-gpt2, LoRA on q and v (slices of the fused c_attn), a causal LM on a JSONL written here."""
    root = tmp_path_factory.mktemp("gpt2")
    rows = [{"source": f"name : x{i} | food : thai", "target": f"x{i} serves thai food."} for i in range(8)]
    data = root / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    overrides = ["model=tiny-gpt2", "method=lora", "task=text_generation", "trainer=tiny", "task.num_beams=2"]
    overrides += [f"task.train_file={data}", f"task.eval_file={data}", "task.max_new_tokens=6"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(custom, "java_available", lambda: False)  # METEOR is not what this file tests
        return train(root, overrides)


def test_peft_adapter_loads_with_peft_and_gives_the_run_logits(
    minilm_run: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "adapter"
    assert export(minilm_run, "peft", out, capsys)[0] == 0
    config = json.loads((out / "adapter_config.json").read_text())
    method = run_config(minilm_run).method
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (
        method.r,
        method.alpha,
        method.dropout,
    )
    # the adapter points at the hub name, not at the venv folder the packaged weights were loaded from
    cfg = run_config(minilm_run)
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2" == cfg.model.hf_name
    # the user's way: that base model (here its offline copy), then PEFT
    base = AutoModelForSequenceClassification.from_pretrained(weights_location(cfg.model), num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(weights_location(cfg.model))
    untrained = logits(base, tokenizer)
    peft_model = PeftModel.from_pretrained(base, out).eval()
    expected = logits(harness_model(minilm_run), tokenizer)
    assert not torch.allclose(untrained, expected, atol=1e-3)
    assert torch.allclose(logits(peft_model, tokenizer), expected, atol=1e-5)
    # exactly the tensors PEFT itself saves for this adapter: 6 blocks x (q, v, ffn_out) x (A, B) + the head
    saved = load_file(str(out / "adapter_model.safetensors"))
    assert set(saved) == set(get_peft_model_state_dict(peft_model))
    assert len(saved) == 6 * 3 * 2 + 2
    # BERT's ffn_out path "output.dense" would also select "attention.output.dense": full paths instead
    assert "bert.encoder.layer.5.output.dense" in config["target_modules"]
    assert "bert.encoder.layer.5.attention.output.dense" not in config["target_modules"]


def test_merged_model_is_the_trained_model(minilm_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "merged"
    assert export(minilm_run, "merged", out, capsys)[0] == 0
    merged = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert not any(isinstance(m, LoRAModule) for m in merged.modules())
    assert torch.allclose(logits(merged, tokenizer), logits(harness_model(minilm_run), tokenizer), atol=1e-5)
    # and it scores what the run recorded at its best evaluation (Pearson on the same dev split)
    cfg = run_config(minilm_run)
    plan = validate(cfg)
    data = prepare_data(plan, tokenizer, merged.config.vocab_size, cfg.seed)["validation"]
    predictions, labels = predict_logits(
        merged, data, EvalContext(16, torch.device("cpu"), plan.task.collator(tokenizer))
    )
    recorded = json.loads(minilm_run.read_text())["best"]["metrics"]["pearson"]
    assert pearsonr(predictions[:, 0], labels)[0] == pytest.approx(recorded, abs=1e-5)


def test_gpt2_fused_slices_are_refused_for_peft_and_merged_works(
    gpt2_run: Path, tmp_path: Path, capsys
) -> None:
    code, err = export(gpt2_run, "peft", tmp_path / "adapter", capsys)
    assert code == 2 and err.count("\n") == 1
    assert "LoRA on slices q, v of a fused matrix (attn.c_attn) has no exact PEFT equivalent" in err
    assert "use --format merged" in err and not (tmp_path / "adapter").exists()

    out = tmp_path / "merged"
    assert export(gpt2_run, "merged", out, capsys)[0] == 0
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(merged).__name__ == "GPT2LMHeadModel"
    assert torch.allclose(logits(merged, tokenizer), logits(harness_model(gpt2_run), tokenizer), atol=1e-5)


def test_gpt2_whole_conv1d_matrices_export_to_peft(tmp_path: Path, capsys) -> None:
    """LoRA on GPT-2's unsliced Conv1D matrices (o, ffn_in) is PEFT's fan_in_fan_out LoRA: same logits."""
    cfg = compose_run_config(
        [
            "model=tiny-gpt2",
            "method=lora",
            "method.targets=[o,ffn_in]",
            "task=text_generation",
            f"output_root={tmp_path}",
        ]
    )
    set_seed(cfg.seed)
    model = build_model(cfg.model, "generation", 2)
    adapt(model, load_method(cfg.method), Layout.from_config(cfg.model.layout))
    with torch.no_grad():  # B starts at zero: give the update a value, as training would
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(std=0.5)
    path = record_path(cfg, "0" * 64)
    save_trainable(model, artifacts_dir(path) / "trainable.safetensors")
    write_json_atomic(path, fake_record(cfg))
    assert export(path, "peft", tmp_path / "adapter", capsys)[0] == 0
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["fan_in_fan_out"] is True and config["target_modules"] == ["attn.c_proj", "mlp.c_fc"]
    assert config["base_model_name_or_path"] is None and config["modules_to_save"] is None
    set_seed(cfg.seed)
    base = build_model(cfg.model, "generation", 2)
    tokenizer = load_tokenizer(cfg.model)
    untrained = logits(base, tokenizer)
    peft_model = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    assert not torch.allclose(untrained, logits(model.eval(), tokenizer), atol=1e-3)
    assert torch.allclose(logits(peft_model, tokenizer), logits(model, tokenizer), atol=1e-5)


@pytest.mark.parametrize(
    ("method", "overrides"),
    [
        ("peft_ia3", ()),
        ("peft_dora", ()),
        ("peft_vera", ("method.peft_config.r=8",)),
        ("peft_ln_tuning", ()),
        ("peft_prompt_tuning", ("method.peft_config.num_virtual_tokens=3",)),
    ],
)
def test_a_peft_tuner_exports_with_peft_save_and_loads_with_the_run_logits(
    method: str, overrides: tuple[str, ...], tmp_path: Path, capsys
) -> None:
    """PEFT's own ``save_pretrained`` of the run's tuner: ``PeftModel.from_pretrained`` on the base gives the
    logits of the harness's model (which, for prompt tuning, sees its n virtual tokens inserted)."""
    record, ours = fake_run(tmp_path, ["model=tiny-bert", f"method={method}", *overrides])
    out = tmp_path / "adapter"
    assert export(record, "peft", out, capsys)[0] == 0
    config = json.loads((out / "adapter_config.json").read_text())
    cfg = run_config(record)
    assert config["peft_type"] == load_method(cfg.method).cfg.peft_type and config["task_type"] == "SEQ_CLS"
    assert config["base_model_name_or_path"] is None  # random weights: no base to point at
    saved = load_file(str(out / "adapter_model.safetensors"))
    assert any(name.endswith(".classifier.weight") for name in saved)  # the head, PEFT's modules_to_save

    set_seed(cfg.seed)
    base = build_model(cfg.model, "classification", 2)
    plain = batch(base)  # padded: the second row ends in two pad positions
    untrained = method_logits(base, plain)
    theirs = PeftModel.from_pretrained(base, out).eval()
    assert set(saved) == set(get_peft_model_state_dict(theirs))
    vocab = base.config.vocab_size
    expected = method_logits(ours, method_batch(load_method(cfg.method), plain, vocab, encoder=True))
    assert not torch.allclose(untrained, expected, atol=1e-3)
    assert torch.allclose(method_logits(theirs, plain), expected, atol=1e-5)


def test_prompt_tuning_does_not_export_merged(tmp_path: Path, capsys) -> None:
    record, _ = fake_run(tmp_path, ["model=tiny-bert", "method=peft_prompt_tuning"])
    code, err = export(record, "merged", tmp_path / "merged", capsys)
    assert code == 2 and err.count("\n") == 1
    assert "method='peft_prompt_tuning' does not fold into the base weights" in err and "--format peft" in err
    assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize(
    ("method", "fmt", "changes", "trainable", "message"),
    [
        (
            "bitfit",
            "peft",
            {},
            True,
            r"method='bitfit' is not valid for --format peft; choose one of: lora, peft",
        ),
        (
            "lora_pe",
            "peft",
            {},
            True,
            r"method='lora_pe' is not valid for --format peft; choose one of: lora, peft",
        ),
        (
            "lora_pe",
            "merged",
            {},
            True,
            r"method='lora_pe' is not valid for --format merged; choose one of: bitfit,",
        ),
        (
            "lora",
            "merged",
            {"status": "failed", "error": "loss is nan"},
            True,
            r"a failed run \(loss is nan\)",
        ),
        (
            "lora",
            "merged",
            {},
            False,
            r"no .*trainable.safetensors: .* rerun it with trainer.save_trainable=true",
        ),
    ],
)
def test_what_cannot_be_exported(
    tmp_path: Path, capsys, method: str, fmt: str, changes: dict, trainable: bool, message: str
) -> None:
    cfg = compose_run_config(["model=tiny-bert", f"method={method}", f"output_root={tmp_path}"])
    path = record_path(cfg, "0" * 64)
    write_json_atomic(path, fake_record(cfg, **changes))
    if trainable:
        (artifacts_dir(path)).mkdir(parents=True)
        (artifacts_dir(path) / "trainable.safetensors").write_bytes(b"")
    code, err = export(path, fmt, tmp_path / "out", capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"adaptbench: error: {path}: ")
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()
