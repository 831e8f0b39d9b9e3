"""``method=linear_probe``: the frozen model's reference row. Nothing but the task head trains, and with
``pooling=mean`` the head reads the attention-masked mean of the last block's outputs (computed here by hand from an
unhooked copy of the same model)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from test_selection_and_heads import tiny, write_sst2

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.run.job import build, run
from adaptbench.harness.run.plan import plan_job


def test_probe_trains_the_head_only(tmp_path: Path) -> None:
    data = write_sst2(tmp_path / "sst2", 16, 8)
    cfg = compose_run_config(tiny("sst2", data, tmp_path, method="linear_probe"))
    built = build(plan_job(cfg))
    trainable = {n for n, p in built.model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    record = run(compose_run_config(tiny("sst2", data, tmp_path, method="linear_probe")))
    assert record["params"]["method_params"] == 0 and record["status"] == "complete"


def test_mean_pooling_feeds_the_masked_mean_to_the_head(tmp_path: Path) -> None:
    data = write_sst2(tmp_path / "sst2", 16, 8)
    overrides = tiny("sst2", data, tmp_path, "method.pooling=mean", method="linear_probe")
    model = build(plan_job(compose_run_config(overrides))).model.eval()
    plain = copy.deepcopy(model)
    plain._forward_pre_hooks.clear()
    plain.bert.encoder.layer[-1]._forward_hooks.clear()
    ids = torch.tensor([[101, 2000, 2001, 2002, 102], [101, 2003, 102, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        hidden = plain(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
        means = torch.stack([hidden[0, :5].mean(0), hidden[1, :3].mean(0)])  # the padded positions left out
        expected = plain.classifier(plain.bert.pooler.activation(plain.bert.pooler.dense(means)))
        got = model(input_ids=ids, attention_mask=mask).logits
        as_head = plain(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, as_head, atol=1e-3)  # pooling=head would read [CLS]


def test_mean_pooling_is_refused_on_a_decoder(tmp_path: Path) -> None:
    data = write_sst2(tmp_path / "sst2", 16, 8)
    overrides = tiny("sst2", data, tmp_path, "method.pooling=mean", method="linear_probe", model="tiny-gpt2")
    with pytest.raises(ConfigError, match=r"method.pooling='mean'.*decoder"):
        plan_job(compose_run_config(overrides))
