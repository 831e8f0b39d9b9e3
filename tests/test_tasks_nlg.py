"""NLG tasks (E2E, WebNLG, DART): reading, completion-only labels, decoding with prefix positions, tiny runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from datasets import DatasetDict

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.api.models import build_model, load_tokenizer
from adaptbench.harness.api.plugins import adapt
from adaptbench.harness.api.registry import TASKS
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.config.validate import validate
from adaptbench.harness.run.data import prepare_data
from adaptbench.harness.run.job import run
from adaptbench.tasks._generation import GeneratedNoRepeatNGram
from adaptbench.tasks.metrics.nlg import E2E_METRICS, WEBNLG_DART_METRICS
from adaptbench.tasks.nlg import WEBNLG_SEEN, read_e2e_pairs, read_webnlg_pairs

E2E_SMOKE = [
    "model=tiny-gpt2",
    "task=e2e",
    "task.train_file=devset.csv",
    "task.max_eval_sources=4",
    "task.num_beams=2",
    "task.max_new_tokens=8",
    "trainer=tiny",
    "trainer.max_seq_len=64",
]


def make(name: str, **cfg: object):
    return TASKS.get(name).from_config({"name": name, **cfg})


def test_e2e_csv_and_lora_txt_give_the_same_sources(shared_data: Path) -> None:
    csv_pairs = read_e2e_pairs(shared_data / "e2e" / "devset.csv")
    txt_pairs = read_e2e_pairs(shared_data / "e2e_lora" / "valid.txt")
    assert len(csv_pairs) == len(txt_pairs) == 4672
    assert [s for s, _ in csv_pairs] == [s for s, _ in txt_pairs]
    assert csv_pairs[0] == (
        "name : Alimentum | area : city centre | family friendly : no",
        "There is a place in the city centre, Alimentum, that is not family-friendly.",
    )
    # the scorer (adaptbench score) groups the same pairs: 547 MRs, all references
    refs = make("e2e").reference_groups(shared_data / "e2e" / "devset.csv")
    assert len(refs) == 547 and len({s for s, _ in csv_pairs}) == 547
    assert sum(map(len, refs)) == 4672


def test_completion_only_labels(shared_data: Path) -> None:
    tokenizer = load_tokenizer(compose_run_config(["model=tiny-gpt2"]).model)
    task = make("e2e", data_dir=str(shared_data / "e2e"), train_file="devset.csv")
    raw = task.load()
    raw = DatasetDict({k: v.select(range(20)) for k, v in raw.items()})
    data = task.preprocess(raw, tokenizer, 128)
    assert set(data["train"].column_names) == {"input_ids", "attention_mask", "labels", "prompt_end"}
    assert {"source", "reference"} <= set(data["validation"].column_names)
    sep = task.separator_id(tokenizer)
    for ex, source, ref in zip(data["train"], raw["train"]["source"], raw["train"]["reference"], strict=True):
        src = tokenizer(source, add_special_tokens=False)["input_ids"]
        completion = tokenizer(" " + ref, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        end = ex["prompt_end"]
        assert end == len(src) + 1 and ex["input_ids"][:end] == src + [sep]
        assert ex["labels"][:end] == [-100] * end  # exactly the prompt is masked
        assert ex["labels"][end:] == ex["input_ids"][end:] == completion
        assert -100 not in ex["labels"][end:]
    # truncation keeps the separator and at least one completion token
    short = task.encode_pair("a b c d e f g h i j k l", "the text", tokenizer, 6)
    assert len(short["input_ids"]) == 6 and short["prompt_end"] == 5 and short["labels"][:5] == [-100] * 5
    # the collator pads labels with -100 and drops prompt_end and the text columns
    batch = task.collator(tokenizer)([data["validation"][0], data["validation"][5]])
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    n0 = len(data["validation"][0]["input_ids"])
    n5 = len(data["validation"][5]["input_ids"])
    shorter, longer = (0, 1) if n0 < n5 else (1, 0)
    if n0 != n5:
        assert (batch["labels"][shorter, min(n0, n5) :] == -100).all()
        assert (batch["attention_mask"][shorter, min(n0, n5) :] == 0).all()
        assert (batch["attention_mask"][longer] == 1).all()


def test_webnlg_seen_unseen_add_up(shared_data: Path) -> None:
    path = shared_data / "webnlg_challenge_2017" / "dev.json"
    everything = read_webnlg_pairs(path, "all")
    seen = read_webnlg_pairs(path, "seen")
    unseen = read_webnlg_pairs(path, "unseen")
    assert len(seen) + len(unseen) == len(everything) > 0
    assert set(seen) | set(unseen) == set(everything)
    assert len(unseen) == 0  # the 2017 dev set holds only the training set's (seen) categories
    assert len(WEBNLG_SEEN) == 10
    # the scorer (adaptbench score) groups the same sources and references
    refs = make("webnlg").reference_groups(path)
    assert len({s for s, _ in everything}) == len(refs) and len(everything) == sum(map(len, refs))
    dart_refs = make("dart").reference_groups(shared_data / "dart" / "dart-v1.1.1-full-dev.json")
    dart = make("dart", data_dir=str(shared_data / "dart"), train_file="dart-v1.1.1-full-dev.json")
    dart.validate()
    assert len(set(dart.load()["validation"]["source"])) == len(dart_refs) <= 2768


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="task.data_dir is null"):
        make("e2e").validate()
    with pytest.raises(ConfigError, match=r"task.train_file='trainset.csv' not found"):
        make("e2e", data_dir=str(tmp_path)).validate()
    with pytest.raises(
        ConfigError, match="task.categories='new' is not valid; choose one of: all, seen, unseen"
    ):
        make("webnlg", data_dir=str(tmp_path), categories="new").validate()
    defaults = {
        name: (make(name).cfg.num_beams, make(name).cfg.length_penalty, make(name).cfg.no_repeat_ngram_size)
        for name in ("e2e", "webnlg", "dart")
    }
    assert defaults == {"e2e": (10, 0.9, 4), "webnlg": (10, 0.8, 4), "dart": (10, 0.8, 4)}
    assert all(TASKS.get(n).metric_for_best == "BLEU" and TASKS.get(n).kind == "generation" for n in defaults)


def test_no_repeat_ngram_counts_generated_tokens_only() -> None:
    proc = GeneratedNoRepeatNGram(3, prompt_len=4)
    # prompt 7 8 9 99999 (a virtual token id beyond the logits); generated 1 2 5 1 2 -> "1 2 5" seen, ban 5 next
    ids = torch.tensor([[7, 8, 9, 99999, 1, 2, 5, 1, 2]])
    scores = proc(ids, torch.zeros(1, 10))
    assert scores[0, 5] == -float("inf") and torch.isfinite(scores[0, :5]).all()
    # the prompt's n-grams (7 8 9) are not banned; nothing breaks on ids beyond the vocabulary
    scores = proc(torch.tensor([[7, 8, 9, 99999, 7, 8]]), torch.zeros(1, 10))
    assert torch.isfinite(scores).all()


def prefix_plan(shared_data: Path, method: str, tmp_path: Path):
    cfg = compose_run_config(
        [*E2E_SMOKE, f"method={method}", f"task.data_dir={shared_data / 'e2e'}", f"output_root={tmp_path}"]
    )
    return cfg, validate(cfg)


def test_batched_decoding_with_prefix_positions(shared_data: Path, tmp_path: Path) -> None:
    """Evaluation prompts carry the prefix (at 0) and the infix (at the end of the prompt); left-padded
    batched beam search gives what one-at-a-time decoding gives."""
    cfg, plan = prefix_plan(shared_data, "prefix_layer", tmp_path)
    l_p, l_i = plan.method.cfg.prefix_len, plan.method.cfg.infix_len
    assert l_p > 0 and l_i > 0
    tokenizer = load_tokenizer(cfg.model)
    model = build_model(cfg.model, "generation", 1)
    vocab = model.config.vocab_size
    data = prepare_data(plan, tokenizer, vocab, 1)
    sep = plan.task.separator_id(tokenizer)
    prompts = []
    for ex in data["validation"].select(range(8)):
        prompt = ex["input_ids"][: ex["prompt_end"]]
        assert prompt[:l_p] == [vocab + j for j in range(l_p)]
        assert prompt[-l_i - 1 :] == [sep] + [vocab + l_p + j for j in range(l_i)]
        assert ex["labels"][: ex["prompt_end"]] == [-100] * ex["prompt_end"]
        prompts.append(prompt)
    prompts.append(prompts[0][: l_p + 3] + prompts[0][-l_i - 1 :])  # a shorter prompt: real left padding
    torch.manual_seed(0)
    adapt(model, plan.method, plan.layout)
    model.eval()
    task = plan.task
    batched = task.generate(model, tokenizer, prompts, batch_size=len(prompts), device=torch.device("cpu"))
    single = [
        task.generate(model, tokenizer, [p], batch_size=1, device=torch.device("cpu"))[0] for p in prompts
    ]
    assert batched == single
    assert any(batched)  # a random model still emits something before eos somewhere


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "prefix_layer"])
def test_tiny_e2e_run_decodes_and_scores(shared_data: Path, tmp_path: Path, method: str) -> None:
    cfg = compose_run_config(
        [*E2E_SMOKE, f"method={method}", f"task.data_dir={shared_data / 'e2e'}", f"output_root={tmp_path}"]
    )
    record = run(cfg)
    metrics = record["best"]["metrics"]
    assert set(E2E_METRICS) <= set(metrics) and record["metric_for_best"] == "BLEU"
    assert all(metrics[m] >= 0 for m in E2E_METRICS)
    # trainer=tiny keeps 16 evaluation rows: the first MRs with their references
    assert 1 <= metrics["num_sources"] <= 4
    [out_dir] = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_dir() and p.name.startswith(method)]
    hyps = (out_dir / "validation_hypotheses_eval1.txt").read_text().splitlines()
    sources = (out_dir / "validation_sources.txt").read_text().splitlines()
    assert len(hyps) == len(sources) == metrics["num_sources"]
    assert all(len(h.split()) <= 8 * 3 for h in hyps)  # max_new_tokens=8 word pieces


@pytest.mark.slow
def test_tiny_webnlg_run_scores_bleu_meteor_ter(shared_data: Path, tmp_path: Path) -> None:
    cfg = compose_run_config(
        [
            "model=tiny-gpt2",
            "method=lora",
            "task=webnlg",
            f"task.data_dir={shared_data / 'webnlg_challenge_2017'}",
            "task.train_file=dev.json",
            "task.categories=seen",
            "task.max_eval_sources=3",
            "task.num_beams=2",
            "task.max_new_tokens=6",
            "trainer=tiny",
            "trainer.max_seq_len=64",
            f"output_root={tmp_path}",
        ]
    )
    metrics = run(cfg)["best"]["metrics"]
    assert set(WEBNLG_DART_METRICS) <= set(metrics) and metrics["num_sources"] <= 3


@pytest.mark.slow
def test_e2e_score_path_rewards_a_reference(shared_data: Path) -> None:
    """The task's scorer gives high scores to a reference used as the hypothesis (and the five metrics)."""
    task = make("e2e", data_dir=str(shared_data / "e2e"), train_file="devset.csv")
    refs = task.reference_groups(shared_data / "e2e" / "devset.csv")[:20]
    scores = task.score(refs, [group[0] for group in refs])
    assert set(scores) == set(E2E_METRICS)
    assert scores["BLEU"] > 0.5 and scores["ROUGE_L"] > 0.5 and scores["CIDEr"] > 1.0
    worse = task.score(refs, ["a place"] * len(refs))
    assert all(worse[m] < scores[m] for m in E2E_METRICS)
