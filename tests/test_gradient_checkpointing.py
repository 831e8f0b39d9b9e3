"""``trainer.gradient_checkpointing=true``: transformers' own checkpointing, recorded, hashed when on, and the
same training (loss, gradients) as without it -- including for methods whose modules sit inside frozen layers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers.modeling_utils as modeling_utils
from _methods_util import METHOD_CASES, batch, build, method_batch

from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.hashing import config_hash, result_config
from adaptbench.harness.run.job import run
from adaptbench.harness.run.training import training_arguments

TINY = ["model=tiny-bert", "task=vader", "trainer=tiny", "method=lora", "trainer.save_trainable=false"]


def run_record(root: Path, *overrides: str) -> dict:
    run(compose_run_config([*TINY, f"output_root={root}", *overrides]))
    [path] = sorted((root / "records").rglob("*.json"))
    return json.loads(path.read_text())


def test_tiny_run_records_it_hashes_it_and_trains_the_same(tmp_path: Path, monkeypatch) -> None:
    calls = []
    checkpoint = modeling_utils.checkpoint

    def counting(*args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return checkpoint(*args, **kwargs)

    off = run_record(tmp_path / "off")
    assert not calls
    monkeypatch.setattr(modeling_utils, "checkpoint", counting)
    on = run_record(tmp_path / "on", "trainer.gradient_checkpointing=true")
    # every layer of every forward went through torch's checkpoint, the non-reentrant kind
    assert calls and set(calls) == {False}
    assert on["config"]["trainer"]["gradient_checkpointing"] is True
    assert off["config"]["trainer"]["gradient_checkpointing"] is False
    assert on["config_hash"] != off["config_hash"]
    assert on["train"]["train_loss"] == pytest.approx(off["train"]["train_loss"], rel=1e-5)
    for a, b in zip(on["history"], off["history"], strict=True):
        assert a["metrics"] == pytest.approx(b["metrics"], rel=1e-5, abs=1e-6)


def test_off_keeps_the_hash_of_records_written_before_the_setting_existed() -> None:
    cfg = compose_run_config(TINY)
    assert cfg.trainer.gradient_checkpointing is False
    before = result_config(cfg)
    assert "gradient_checkpointing" not in before["trainer"]
    on = compose_run_config([*TINY, "trainer.gradient_checkpointing=true"])
    assert result_config(on)["trainer"]["gradient_checkpointing"] is True
    assert config_hash(on) != config_hash(cfg)


def test_training_arguments_turn_it_on(tmp_path: Path) -> None:
    cfg = compose_run_config([*TINY, "trainer.gradient_checkpointing=true", "trainer.lr=1e-3"])
    from adaptbench.harness.config.validate import validate_trainer

    args = training_arguments(validate_trainer(cfg.trainer), tmp_path, 0, torch.device("cpu"))
    assert args.gradient_checkpointing is True
    cfg.trainer.gradient_checkpointing = False
    args = training_arguments(validate_trainer(cfg.trainer), tmp_path, 0, torch.device("cpu"))
    assert args.gradient_checkpointing is False


@pytest.mark.parametrize("method", ["lora", "adapter_h", "prefix_layer", "bitfit"])
def test_method_gradients_unchanged_by_checkpointing(method: str) -> None:
    """The method's tensors get the same gradients with checkpointing as without: with frozen embeddings the
    checkpointed layers' inputs need ``requires_grad`` (transformers' ``enable_input_require_grads``, which
    the Trainer's call turns on), or the modules inside them get none."""
    grads = []
    for checkpointed in (False, True):
        model, meth, _, _ = build("tiny-bert", method, METHOD_CASES[method])
        assert not model.get_input_embeddings().weight.requires_grad
        model.train()
        if checkpointed:  # what the Trainer calls (the older name before transformers renamed it)
            enable = (
                getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
            )
            enable()
        torch.manual_seed(0)  # the same dropout masks in both passes
        inputs = method_batch(meth, batch(model), model.config.vocab_size, encoder=True)
        model(**inputs, labels=torch.tensor([0, 1])).loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    plain, checkpointed = grads
    method_grads = [n for n in plain if "classifier" not in n]
    assert method_grads
    for name in plain:
        assert checkpointed[name] is not None, f"{name}: no gradient under checkpointing"
        assert torch.allclose(checkpointed[name], plain[name], atol=1e-6), name
