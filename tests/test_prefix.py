"""Prefix methods: inserting reserved ids, their embeddings/activations, masks, generation with a KV cache."""

from __future__ import annotations

import pytest
import torch
from _methods_util import build

from adaptbench.harness.errors import ConfigError
from adaptbench.harness.reserved import insert_reserved, usable_length

V = 30522  # the tiny models' vocabulary


def test_insert_reserved_encoder() -> None:
    ex = {
        "input_ids": [101, 7, 8, 9, 102, 0],
        "attention_mask": [1, 1, 1, 1, 1, 0],
        "token_type_ids": [0, 0, 0, 1, 1, 1],
        "labels": 1,
        "prompt_end": 3,
    }
    out = insert_reserved(ex, 2, 1, V, prefix_at=1)
    assert out["input_ids"] == [101, V, V + 1, 7, 8, V + 2, 9, 102, 0]
    assert out["attention_mask"] == [1, 1, 1, 1, 1, 1, 1, 1, 0]  # padding stays masked
    assert out["token_type_ids"] == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert out["labels"] == 1 and out["prompt_end"] == 6
    assert ex["input_ids"] == [101, 7, 8, 9, 102, 0]  # input untouched


def test_insert_reserved_decoder_token_labels() -> None:
    ex = {
        "input_ids": [5, 6, 7, 8],
        "attention_mask": [1, 1, 1, 1],
        "labels": [-100, -100, 7, 8],
        "prompt_end": 2,
    }
    out = insert_reserved(ex, 1, 2, V, prefix_at=0)
    assert out["input_ids"] == [V, 5, 6, V + 1, V + 2, 7, 8]
    assert out["labels"] == [-100, -100, -100, -100, -100, 7, 8]
    assert out["attention_mask"] == [1] * 7 and out["prompt_end"] == 5
    assert insert_reserved(ex, 0, 0, V, 0) == ex
    with pytest.raises(ConfigError, match="infix_len=2 needs the task to provide prompt_end"):
        insert_reserved({"input_ids": [1, 2]}, 1, 2, V, 0)


def test_usable_length() -> None:
    assert usable_length(128, 8, 8) == 112
    assert usable_length(128, 0, 0) == 128
    with pytest.raises(
        ConfigError,
        match=r"prefix_len \+ infix_len = 100 \+ 28 = 128 positions but the maximum "
        r"sequence length is 128.*need prefix_len \+ infix_len < 128",
    ):
        usable_length(128, 100, 28)
    with pytest.raises(ConfigError, match="must be >= 0"):
        usable_length(128, -1, 0)


def encoder_inputs() -> dict[str, torch.Tensor]:
    rows = [
        insert_reserved({"input_ids": ids, "attention_mask": m, "prompt_end": 3}, 2, 1, V, 1)
        for ids, m in (([101, 7, 8, 9, 10, 102], [1] * 6), ([101, 11, 12, 13, 102, 0], [1] * 5 + [0]))
    ]
    return {k: torch.tensor([r[k] for r in rows]) for k in ("input_ids", "attention_mask")}


@pytest.mark.parametrize("model_name", ["tiny-roberta", "tiny-deberta-v2", "tiny-bert", "tiny-gpt2"])
def test_prefix_embed_lookup_and_attention(model_name: str) -> None:
    model, _, layout, _ = build(
        model_name, "prefix_embed", ("method.prefix_len=2", "method.infix_len=1"), kind="classification"
    )
    rp = model.base_model.reserved_positions
    inputs = encoder_inputs()
    seen = {}

    def keep(module, args, out) -> None:
        seen.setdefault("emb", out)

    layout.embedding(model).register_forward_hook(keep)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    emb = seen["emb"]
    mask = inputs["input_ids"] >= V
    assert torch.equal(emb[mask], rp.embed[(inputs["input_ids"] - V)[mask]])
    # the reserved tokens are attended to: changing their vectors changes the output at real positions
    with torch.no_grad():
        rp.embed.add_(torch.randn_like(rp.embed))
        out2 = model(**inputs, output_hidden_states=True)
    real = ~mask & inputs["attention_mask"].bool()
    assert (out.hidden_states[-1][real] - out2.hidden_states[-1][real]).abs().max() > 1e-4
    # padding is still masked: a different id at the padded position changes nothing at real positions
    other = {**inputs, "input_ids": inputs["input_ids"].clone()}
    other["input_ids"][1, -1] = 555
    with torch.no_grad():
        out3 = model(**other, output_hidden_states=True)
    assert torch.allclose(out2.hidden_states[-1][1, :-1], out3.hidden_states[-1][1, :-1], atol=1e-5)


@pytest.mark.parametrize("model_name", ["tiny-roberta", "tiny-deberta-v2", "tiny-gpt2"])
def test_prefix_layer_replaces_block_inputs(model_name: str) -> None:
    model, _, layout, _ = build(
        model_name, "prefix_layer", ("method.prefix_len=2", "method.infix_len=1"), kind="classification"
    )
    rp = model.base_model.reserved_positions
    inputs = encoder_inputs()
    ins, outs = [], []
    for block in layout.block_list(model):  # registered after the method's hooks: sees the replaced input
        block.register_forward_pre_hook(
            lambda m, a, k: ins.append(a[0] if a else k["hidden_states"]), with_kwargs=True
        )
        block.register_forward_hook(lambda m, a, o: outs.append(o[0] if isinstance(o, tuple) else o))
    with torch.no_grad():
        model(**inputs)
    mask = inputs["input_ids"] >= V
    rid = (inputs["input_ids"] - V)[mask]
    assert rp.layer_states.shape == (2, 3, 32)
    for i, h in enumerate(ins):
        assert torch.equal(h[mask], rp.layer_states[i][rid])
    assert not torch.allclose(outs[-1][mask], rp.layer_states[-1][rid])  # last output is computed
    assert not torch.equal(ins[0][~mask], torch.zeros_like(ins[0][~mask]))


@pytest.mark.parametrize("method_name", ["prefix_layer", "prefix_embed", "lora_pl"])
def test_generation_with_kv_cache(method_name: str) -> None:
    model, method, _, _ = build("tiny-gpt2", method_name, ("method.prefix_len=2", "method.infix_len=1"))
    with torch.no_grad():
        for p in model.base_model.reserved_positions.parameters():
            p.add_(torch.randn_like(p))
    ex = insert_reserved({"input_ids": [5, 6, 7, 8], "attention_mask": [1] * 4, "prompt_end": 4}, 2, 1, V, 0)
    ids = torch.tensor([ex["input_ids"][: ex["prompt_end"]]])
    kw = {"max_new_tokens": 4, "do_sample": False, "attention_mask": torch.ones_like(ids), "pad_token_id": 0}
    cached = model.generate(ids, use_cache=True, **kw)
    uncached = model.generate(ids, use_cache=False, **kw)
    assert cached.shape == (1, ids.shape[1] + 4)
    assert torch.equal(cached, uncached)
    assert bool((cached[0, ids.shape[1] :] < V).all())


def test_ids_beyond_reserved_fail() -> None:
    model, _, _, _ = build("tiny-roberta", "prefix_embed", ("method.prefix_len=2", "method.infix_len=0"))
    with pytest.raises(ValueError, match="beyond the vocabulary"):
        model(input_ids=torch.tensor([[101, V + 2, 7]]))
