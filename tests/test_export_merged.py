"""``adaptbench export --format merged`` of methods that train in place: a full fine-tuning or BitFit run is a plain
transformers model (full FT: the trained model itself; BitFit: the base with the trained biases and head) with
the run's logits; methods that add modules (adapters, prefixes) are refused with one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from _export_util import base_model, export, fake_record, fake_run, harness_model, logits, run_config, train
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from adaptbench.harness.api.loading import merged_methods
from adaptbench.harness.api.plugins import head_parameter_names
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.records.store import artifacts_dir, record_path, write_json_atomic

WORDS = {"pos": ["great", "lovely", "superb", "fun"], "neg": ["awful", "dull", "bad", "boring"]}


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Overrides for text_classification on a CSV of 16 reviews whose adjective gives the label away."""
    path = tmp_path_factory.mktemp("reviews") / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(16):
            label = ("pos", "neg")[i % 2]
            writer.writerow([f"the film was {WORDS[label][i // 2 % 4]}", label])
    return ["task=text_classification", f"task.train_file={path}", f"task.eval_file={path}"]


def trained(root: Path, method: str, reviews: list[str]) -> Path:
    return train(root, ["model=tiny-bert", f"method={method}", "trainer=tiny", "trainer.lr=1e-2", *reviews])


def load_merged(record: Path, out: Path, capsys: pytest.CaptureFixture) -> torch.nn.Module:
    code, err = export(record, "merged", out, capsys)
    assert code == 0, err
    return AutoModelForSequenceClassification.from_pretrained(out).eval()


def test_full_fine_tuning_exports_as_the_trained_model(tmp_path: Path, reviews: list[str], capsys) -> None:
    record = trained(tmp_path / "runs", "full", reviews)
    merged = load_merged(record, tmp_path / "merged", capsys)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    ours = harness_model(record)
    base = base_model(run_config(record))
    # training moved it; the export holds what it trained
    assert not torch.allclose(logits(base, tokenizer), logits(ours, tokenizer), atol=1e-3)
    assert torch.allclose(logits(merged, tokenizer), logits(ours, tokenizer), atol=1e-5)
    # every tensor is the trained one, the backbone's weight matrices included
    trained_state = ours.state_dict()
    assert set(merged.state_dict()) == set(trained_state)
    assert all(torch.equal(t, trained_state[name]) for name, t in merged.state_dict().items())
    query = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(trained_state[query], base.state_dict()[query])


def test_bitfit_exports_as_the_base_with_the_trained_biases(
    tmp_path: Path, reviews: list[str], capsys
) -> None:
    record = trained(tmp_path / "runs", "bitfit", reviews)
    merged = load_merged(record, tmp_path / "merged", capsys)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    ours = harness_model(record)
    assert torch.allclose(logits(merged, tokenizer), logits(ours, tokenizer), atol=1e-5)
    base = base_model(run_config(record)).state_dict()
    heads = head_parameter_names(ours)
    changed = {name for name, t in merged.state_dict().items() if not torch.equal(t, base[name])}
    # what moved: biases and the head, nothing else; and most biases did move
    assert changed and all(name.endswith(".bias") or name in heads for name in changed)
    assert heads <= changed
    biases = [name for name in base if name.endswith(".bias") and name not in heads]
    assert len(changed & set(biases)) > len(biases) // 2


@pytest.mark.parametrize(
    ("model", "method"), [("tiny-gpt2", "full"), ("tiny-gpt2", "bitfit"), ("tiny-llama", "full")]
)
def test_a_causal_lm_trained_in_place_exports_with_its_logits(
    tmp_path: Path, model: str, method: str, capsys
) -> None:
    """GPT-2 ties its output embedding to the input one (full FT trains both as one); Llama's is its own (and
    Llama has no biases for BitFit)."""
    record, ours = fake_run(tmp_path, [f"model={model}", f"method={method}", "task=text_generation"])
    code, err = export(record, "merged", tmp_path / "merged", capsys)
    assert code == 0, err
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    base = base_model(run_config(record))
    assert not torch.allclose(logits(base, tokenizer), logits(ours, tokenizer), atol=1e-3)
    assert torch.allclose(logits(merged, tokenizer), logits(ours, tokenizer), atol=1e-5)


@pytest.mark.parametrize(
    ("method", "overrides"),
    [("adapter_h", ()), ("prefix_embed", ()), ("linear_probe", ("method.pooling=mean",))],
)
def test_methods_that_add_to_the_base_architecture_are_refused(
    tmp_path: Path, method: str, overrides: tuple[str, ...], capsys
) -> None:
    """Adapters and prefixes add modules; the mean-pooling probe adds a hook: no plain model holds them."""
    cfg = compose_run_config(["model=tiny-bert", f"method={method}", *overrides, f"output_root={tmp_path}"])
    path = record_path(cfg, "0" * 64)
    write_json_atomic(path, fake_record(cfg))
    artifacts_dir(path).mkdir(parents=True)
    (artifacts_dir(path) / "trainable.safetensors").write_bytes(b"")  # refused before it is read
    code, err = export(path, "merged", tmp_path / "out", capsys)
    assert code == 2 and err.count("\n") == 1
    assert err == (
        f"adaptbench: error: {path}: method={method!r} is not valid for --format merged; choose one of: "
        f"{', '.join(merged_methods())} (the others add modules or hooks the base architecture lacks)\n"
    )
    assert {"bitfit", "full", "fttop2", "lora"} <= set(merged_methods())
    assert {"adapter_h", "prefix_embed", "compose"}.isdisjoint(merged_methods())
    assert not (tmp_path / "out").exists()
