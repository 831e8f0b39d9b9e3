"""Prefix methods: inserting virtual tokens, hand-written reference forwards, the real-activation init, DeBERTa's
ConvLayer, config errors, generation with a KV cache."""

from __future__ import annotations

import pytest
import torch
from _methods_util import batch, build, compose_cfg, method_batch

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.loading import load_method
from adaptbench.methods.virtual_tokens import insert_virtual_tokens, positions_left

V = 30522  # the tiny models' vocabulary


def test_insert_virtual_tokens_encoder() -> None:
    ex = {
        "input_ids": [101, 7, 8, 9, 102, 0],
        "attention_mask": [1, 1, 1, 1, 1, 0],
        "token_type_ids": [0, 0, 0, 1, 1, 1],
        "labels": 1,
        "prompt_end": 3,
    }
    out = insert_virtual_tokens(ex, 2, 1, V, prefix_at=1)
    assert out["input_ids"] == [101, V, V + 1, 7, 8, V + 2, 9, 102, 0]
    assert out["attention_mask"] == [1, 1, 1, 1, 1, 1, 1, 1, 0]  # padding stays masked
    assert out["token_type_ids"] == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert out["labels"] == 1 and out["prompt_end"] == 6
    assert ex["input_ids"] == [101, 7, 8, 9, 102, 0]  # input untouched


def test_insert_virtual_tokens_decoder_token_labels() -> None:
    ex = {
        "input_ids": [5, 6, 7, 8],
        "attention_mask": [1, 1, 1, 1],
        "labels": [-100, -100, 7, 8],
        "prompt_end": 2,
    }
    out = insert_virtual_tokens(ex, 1, 2, V, prefix_at=0)
    assert out["input_ids"] == [V, 5, 6, V + 1, V + 2, 7, 8]
    assert out["labels"] == [-100, -100, -100, -100, -100, 7, 8]
    assert out["attention_mask"] == [1] * 7 and out["prompt_end"] == 5
    assert insert_virtual_tokens(ex, 0, 0, V, 0) == ex
    with pytest.raises(ConfigError, match="method.infix_len=2 needs the task to provide prompt_end"):
        insert_virtual_tokens({"input_ids": [1, 2]}, 1, 2, V, 0)


def test_positions_left() -> None:
    assert positions_left(128, 8, 8) == 112
    assert positions_left(128, 0, 0) == 128
    with pytest.raises(
        ConfigError,
        match=r"prefix_len \+ method.infix_len = 100 \+ 28 = 128 virtual tokens but the maximum "
        r"sequence length is 128",
    ):
        positions_left(128, 100, 28)


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("prefix_embed", ("method.prefix_len=-3",), "method.prefix_len=-3 is not valid: must be >= 0"),
        ("prefix_layer", ("method.infix_len=-1",), "method.infix_len=-1 is not valid: must be >= 0"),
        (
            "prefix_layer",
            ("method.prefix_len=0", "method.infix_len=0"),
            "method.prefix_len=0 is not valid: prefix_len + infix_len must be >= 1",
        ),
        (
            "lora_pl",
            ("method.prefix_init=zeros",),
            "method.prefix_init='zeros' is not valid; choose one of: activations, random",
        ),
        (
            "lora_pe",  # a composition (plugin: compose) with a second prefix method added
            ("method.components=[lora,prefix_embed,prefix_layer]",),
            "at most one prefix method",
        ),
    ],
)
def test_config_errors_when_read(name: str, overrides: tuple, message: str) -> None:
    """Value checks run when the YAML node is read, before any model exists, in one line."""
    with pytest.raises(ConfigError) as err:
        load_method(compose_cfg("tiny-roberta", name, overrides).method)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_paper_defaults() -> None:
    """PreEmbed l_p=256, l_i=8 and PreLayer l_p=l_i=8 (Table 4); LoRA+PE/PL r=8, l_p=8, l_i=4 (Table 15)."""

    def lengths(name: str) -> list[tuple[int, int]]:
        method = load_method(compose_cfg("roberta-base", name).method)
        parts = getattr(method, "components", [method])
        return [(c.cfg.prefix_len, c.cfg.infix_len) for c in parts if hasattr(c.cfg, "prefix_len")]

    assert lengths("prefix_embed") == [(256, 8)]
    assert lengths("prefix_layer") == [(8, 8)]
    assert lengths("lora_pe") == lengths("lora_pl") == [(8, 4)]


def encoder_inputs() -> dict[str, torch.Tensor]:
    """Two encoder rows with l_p=2 after [CLS], l_i=1 at position 3 of the original; the second is padded."""
    rows = [
        insert_virtual_tokens({"input_ids": ids, "attention_mask": m, "prompt_end": 3}, 2, 1, V, 1)
        for ids, m in (([101, 7, 8, 9, 10, 102], [1] * 6), ([101, 11, 12, 13, 102, 0], [1] * 5 + [0]))
    ]
    return {k: torch.tensor([r[k] for r in rows]) for k in ("input_ids", "attention_mask")}


def frozen_copy(model_name: str, adapted: torch.nn.Module) -> torch.nn.Module:
    """The same backbone and head without the method's hooks (the adapted model's weights, its extra tensors
    ignored)."""
    reference, _, _, _ = build(model_name, kind="classification")
    reference.load_state_dict(adapted.state_dict(), strict=False)
    return reference


@pytest.mark.parametrize("model_name", ["tiny-roberta", "tiny-deberta-v2", "tiny-bert", "tiny-gpt2"])
def test_prefix_embed_equals_reference(model_name: str) -> None:
    """PrefixEmbed = the frozen model fed word embeddings in which the virtual tokens' rows are the trainable
    vectors."""
    model, _, layout, _ = build(
        model_name, "prefix_embed", ("method.prefix_len=2", "method.infix_len=1"), kind="classification"
    )
    vectors = model.base_model.virtual_tokens.embed
    reference = frozen_copy(model_name, model)
    inputs = encoder_inputs()
    ids, mask = inputs["input_ids"], inputs["input_ids"] >= V
    with torch.no_grad():
        vectors.add_(torch.randn_like(vectors))  # a trained state, far from any real embedding
        embeds = layout.embedding(reference)(ids.masked_fill(mask, 0))
        embeds[mask] = vectors[(ids - V)[mask]]
        expected = reference.base_model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"])
        got = model.base_model(**inputs)
    real = inputs["attention_mask"].bool()
    assert torch.allclose(got.last_hidden_state[real], expected.last_hidden_state[real], atol=1e-5)


def test_prefix_layer_equals_reference() -> None:
    """PrefixLayer on RoBERTa = the blocks run by hand, the hidden state at the virtual tokens replaced by the
    trainable vectors before each block; the last block's output there is computed."""
    model, _, _, _ = build(
        "tiny-roberta", "prefix_layer", ("method.prefix_len=2", "method.infix_len=1"), kind="classification"
    )
    states = model.base_model.virtual_tokens.layer_states
    assert states.shape == (2, 3, 32)  # L x (l_p + l_i) x d
    reference = frozen_copy("tiny-roberta", model).roberta
    inputs = encoder_inputs()
    ids, mask = inputs["input_ids"], inputs["input_ids"] >= V
    index = (ids - V).clamp(min=0)
    additive_mask = (1.0 - inputs["attention_mask"][:, None, None, :].float()) * torch.finfo(
        torch.float32
    ).min
    with torch.no_grad():
        h = reference.embeddings(input_ids=ids.masked_fill(mask, 5))  # 5: any real id; replaced below
        for i, block in enumerate(reference.encoder.layer):
            h = torch.where(mask.unsqueeze(-1), states[i][index], h)
            h = block(h, attention_mask=additive_mask)
            h = h[0] if isinstance(h, tuple) else h
        got = model.roberta(**inputs).last_hidden_state
    real = inputs["attention_mask"].bool()
    assert torch.allclose(got[real], h[real], atol=1e-5)
    assert not torch.allclose(got[mask], states[-1][index[mask]])  # the last output is computed


@pytest.mark.parametrize(
    "model_name", ["tiny-roberta", "tiny-gpt2", "tiny-deberta-v2", "tiny-deberta-v2-conv"]
)
def test_prefix_layer_never_reads_the_frozen_embedding(model_name: str) -> None:
    """With PrefixLayer nothing may see the frozen embedding at the virtual tokens: changing it changes no output.
    DeBERTa-v2-XXL's ConvLayer (tiny-deberta-v2-conv) convolves the state entering block 0 and read it there
    before the fix."""
    model, _, layout, _ = build(
        model_name, "prefix_layer", ("method.prefix_len=2", "method.infix_len=1"), kind="classification"
    )
    inputs = {**encoder_inputs(), "attention_mask": torch.ones(2, 9, dtype=torch.long)}
    mask = inputs["input_ids"] >= V

    def perturb(module, args, out) -> torch.Tensor:
        return out + 10.0 * mask.unsqueeze(-1) * torch.randn_like(out)

    with torch.no_grad():
        before = model(**inputs).logits
        handle = layout.embedding(model).register_forward_hook(perturb)
        after = model(**inputs).logits
        handle.remove()
    assert torch.allclose(before, after, atol=1e-6)


def real_block_inputs(model: torch.nn.Module, layout, inputs: dict) -> list[torch.Tensor]:
    """The hidden states entering each block at the real (attended) positions of ``inputs``."""
    seen = []
    handles = [
        block.register_forward_pre_hook(
            lambda m, a, k: seen.append(a[0] if a else k["hidden_states"]), with_kwargs=True
        )
        for block in layout.block_list(model)
    ]
    with torch.no_grad():
        model(**inputs)
    for handle in handles:
        handle.remove()
    real = inputs["attention_mask"].bool()
    return [h[real] for h in seen]


def rms(t: torch.Tensor) -> float:
    return float(t.detach().pow(2).mean().sqrt())


def is_row_of(vectors: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """For each vector: is it exactly one of the table's rows?"""
    return (vectors.detach()[:, None, :] == table[None]).all(dim=-1).any(dim=-1)


@pytest.mark.parametrize("model_name", ["minilm-l6", "tiny-roberta", "tiny-gpt2", "tiny-deberta-v2-conv"])
def test_prefix_layer_init_has_the_scale_of_real_hidden_states(model_name: str) -> None:
    """``activations`` (the default): each block's vectors have the RMS of the hidden states real inputs bring
    to that block (within a factor 2; pretrained MiniLM: 0.9-1.0x); ``random``: N(0, 0.02²), far smaller
    (MiniLM: 23-31x)."""
    overrides = ("method.prefix_len=8", "method.infix_len=4")
    model, _, layout, _ = build(model_name, "prefix_layer", overrides, kind="classification")
    # ids from 1000 on: BERT's first thousand are [unused] and special tokens, not words
    words = torch.randint(1000, 20000, (4, 12), generator=torch.Generator().manual_seed(3))
    real = real_block_inputs(model, layout, {"input_ids": words, "attention_mask": torch.ones_like(words)})
    states = model.base_model.virtual_tokens.layer_states
    for i, h in enumerate(real):
        assert 0.5 < rms(states[i]) / rms(h) < 2, f"block {i}: {rms(states[i]):.3f} vs real {rms(h):.3f}"
    random_model, _, _, _ = build(
        model_name, "prefix_layer", (*overrides, "method.prefix_init=random"), kind="classification"
    )
    random_states = random_model.base_model.virtual_tokens.layer_states
    assert abs(rms(random_states) - 0.02) < 0.004
    if model_name != "tiny-gpt2":  # post-LayerNorm states have RMS ~1: random vectors are ~50x too small
        assert all(rms(random_states[i]) < rms(h) / 10 for i, h in enumerate(real))


def test_prefix_embed_init_is_real_word_embeddings() -> None:
    model, _, layout, _ = build("tiny-bert", "prefix_embed", ("method.prefix_len=6", "method.infix_len=2"))
    vectors, table = model.base_model.virtual_tokens.embed, layout.embedding(model).weight
    assert is_row_of(vectors, table).all()
    random_model, _, _, _ = build(
        "tiny-bert", "prefix_embed", ("method.prefix_len=6", "method.prefix_init=random")
    )
    random_vectors = random_model.base_model.virtual_tokens.embed.detach()
    assert not is_row_of(random_vectors, table).any()
    assert abs(rms(random_vectors) - 0.02) < 0.005


@pytest.mark.parametrize("method_name", ["prefix_layer", "prefix_embed", "lora_pl"])
def test_generation_with_kv_cache(method_name: str) -> None:
    model, method, _, _ = build("tiny-gpt2", method_name, ("method.prefix_len=2", "method.infix_len=1"))
    with torch.no_grad():
        for p in model.base_model.virtual_tokens.parameters():
            p.add_(torch.randn_like(p))
    ex = insert_virtual_tokens(
        {"input_ids": [5, 6, 7, 8], "attention_mask": [1] * 4, "prompt_end": 4}, 2, 1, V, 0
    )
    ids = torch.tensor([ex["input_ids"][: ex["prompt_end"]]])
    kw = {"max_new_tokens": 4, "do_sample": False, "attention_mask": torch.ones_like(ids), "pad_token_id": 0}
    cached = model.generate(ids, use_cache=True, **kw)
    uncached = model.generate(ids, use_cache=False, **kw)
    assert cached.shape == (1, ids.shape[1] + 4)
    assert torch.equal(cached, uncached)
    assert bool((cached[0, ids.shape[1] :] < V).all())


def test_lora_pe_batch_through_example_transform() -> None:
    """The composed method inserts its virtual tokens through ``example_transform`` like the runner does."""
    model, method, _, _ = build("tiny-roberta", "lora_pe", ("method.prefix_len=2", "method.infix_len=1"))
    inputs = method_batch(method, batch(model, n=2, length=6), V, encoder=True)
    assert inputs["input_ids"].shape == (2, 9)
    assert inputs["input_ids"][0, 1:3].tolist() == [V, V + 1] and inputs["input_ids"][0, 5] == V + 2


def test_ids_beyond_the_virtual_tokens_fail() -> None:
    model, _, _, _ = build("tiny-roberta", "prefix_embed", ("method.prefix_len=2", "method.infix_len=0"))
    with pytest.raises(ValueError, match="beyond the vocabulary"):
        model(input_ids=torch.tensor([[101, V + 2, 7]]))
