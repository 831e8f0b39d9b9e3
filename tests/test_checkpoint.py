"""save_trainable/load_trainable: only trainable tensors are written, and they restore the trained model."""

from __future__ import annotations

import pytest
import torch
from _methods_util import batch, build, logits, method_batch
from safetensors.torch import load_file

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.run.tensors import load_trainable, save_trainable

V = 30522
ARGS = ("method.r=2", "method.prefix_len=2", "method.infix_len=1")


@pytest.mark.parametrize(
    ("model_name", "method_name"),
    [("tiny-roberta", "lora_pe"), ("tiny-gpt2", "lora_pl"), ("tiny-deberta-v2", "adapter_h")],
)
def test_round_trip(tmp_path, model_name: str, method_name: str) -> None:
    args = ARGS if method_name.startswith("lora") else ("method.r=2",)
    model, method, _, _ = build(model_name, method_name, args, seed=11, kind="classification")
    x = method_batch(method, batch(None), V, encoder=True)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(**x, labels=torch.tensor([0, 1])).loss.backward()
        opt.step()
    model.eval()
    method.merge(model)  # merge for inference, then back: the adapted weights survive the round trip
    trained = logits(model, x)
    method.unmerge(model)
    assert torch.allclose(logits(model, x), trained, atol=1e-5)
    path = tmp_path / "trainable.safetensors"
    save_trainable(model, path)

    saved = load_file(str(path))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(saved) == trainable
    assert sum(t.numel() for t in saved.values()) < sum(p.numel() for p in model.parameters()) / 10

    fresh, _, _, _ = build(model_name, method_name, args, seed=11, kind="classification")
    assert not torch.allclose(logits(fresh, x), trained, atol=1e-4)
    load_trainable(fresh, path)
    assert torch.allclose(logits(fresh, x), trained, atol=1e-5)


def test_mismatch_is_a_clear_error(tmp_path) -> None:
    model, _, _, _ = build("tiny-roberta", "lora", ("method.r=2",))
    path = tmp_path / "lora.safetensors"
    save_trainable(model, path)
    other, _, _, _ = build("tiny-roberta", "lora", ("method.r=2", "method.targets=[q]"))
    with pytest.raises(ConfigError, match=r"does not fit.*unexpected .*value\.lora\.v\.lora_A"):
        load_trainable(other, path)
    bigger, _, _, _ = build("tiny-roberta", "lora", ("method.r=4",))
    with pytest.raises(ConfigError, match=r"has shape \(2, 32\), the model \(4, 32\)"):
        load_trainable(bigger, path)
    with pytest.raises(ConfigError, match="missing"):
        load_trainable(build("tiny-roberta", "bitfit")[0], path)
