"""The paper's GPT-3 tasks on open decoders: WikiSQL, SAMSum and GLUE (MNLI) as generation.

Data files are written here in the original formats (WikiSQL ``*.jsonl`` + ``*.tables.jsonl`` + sqlite ``*.db``;
SAMSum's JSON list; MNLI's GLUE TSVs); metric values are worked out by hand in the comments.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import adaptbench.tasks  # noqa: F401  (registers the tasks)
from adaptbench.harness.api.errors import ConfigError, DataError
from adaptbench.harness.api.models import load_tokenizer
from adaptbench.harness.api.registry import TASKS
from adaptbench.harness.config.tree import compose_run_config
from adaptbench.harness.config.validate import validate
from adaptbench.harness.run.job import run
from adaptbench.tasks.metrics.wikisql import LogicalForm, parse_sql, render_sql, score_wikisql

TINY_RUN = [
    "model=tiny-llama",
    "method=lora",
    "trainer=tiny",
    "trainer.max_steps=10",
    "trainer.max_seq_len=128",
]

# ------------------------------------------------------------------------------------------------ WikiSQL files
STATES = {
    "id": "1-1000181-1",
    "header": ["State/territory", "Text/background colour", "Format", "Current series"],
    "types": ["text", "text", "text", "text"],
    "rows": [
        ["Australian Capital Territory", "blue/white", "Yaa·nna", "YIL·00A"],
        ["South Australia", "black/white", "Snnn·nnn", "S000·AAA"],
        ["Victoria", "blue/white", "Snnn·nnn", "S000·AAA"],
    ],
}
SCORES = {
    "id": "2-2000-1",
    "header": ["Name", "Year", "Points"],
    "types": ["text", "real", "real"],
    "rows": [["Ann", 1998, 10], ["Bob", 1999, 20], ["Cy", 1999, 5]],
}
DEV = [  # (table, question, sql)
    (SCORES, "How many points did Ann score?", {"sel": 2, "agg": 0, "conds": [[0, 0, "Ann"]]}),
    (SCORES, "How many players in 1999?", {"sel": 0, "agg": 3, "conds": [[1, 0, 1999]]}),
    (SCORES, "Most points in 1999?", {"sel": 2, "agg": 1, "conds": [[1, 0, 1999]]}),
    (SCORES, "Who scored under 15 in 1999?", {"sel": 0, "agg": 0, "conds": [[2, 2, 15], [1, 0, 1999]]}),
    (
        STATES,
        "Current series of South Australia?",
        {"sel": 3, "agg": 0, "conds": [[0, 0, "South Australia"]]},
    ),
    (STATES, "Colour of Victoria?", {"sel": 1, "agg": 0, "conds": [[0, 0, "Victoria"]]}),
]
# One prediction per DEV question, with what WikiSQL's evaluator makes of it (logical form, execution):
PREDICTIONS = [
    ('SELECT col2 FROM table WHERE col0 = "Ann"', True, True),  # the gold text
    (
        'select count col0 from table where col1 = "1999"',
        True,
        True,
    ),  # "1999" == str(1999); real column: 1999.0
    ("SELECT MAX col2 FROM table WHERE col1 > 1998", False, True),  # other operator, same result [20.0]
    ("SELECT col0 FROM table WHERE col1 = 1999 AND col2 < 15", True, True),  # conditions in the other order
    ('SELECT col3 FROM table WHERE col0 = "South', False, False),  # unparseable
    ('SELECT col9 FROM table WHERE col0 = "Victoria"', False, False),  # no column 9: the query fails
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_wikisql_db(path: Path, tables: list[dict]) -> None:
    """A sqlite file laid out as WikiSQL's: table_<id>, columns col0.. typed text/real, text lowercased."""
    with sqlite3.connect(path) as db:
        for table in tables:
            name = "table_" + table["id"].replace("-", "_")
            columns = ", ".join(f"col{i} {t}" for i, t in enumerate(table["types"]))
            db.execute(f"CREATE TABLE {name} ({columns})")
            marks = ", ".join("?" * len(table["header"]))
            rows = [[v.lower() if isinstance(v, str) else v for v in row] for row in table["rows"]]
            db.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    db.close()


def question(table: dict, text: str, sql: dict) -> dict:
    return {"phase": 1, "table_id": table["id"], "question": text, "sql": sql}


@pytest.fixture
def wikisql_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "wikisql"
    folder.mkdir()
    rows = [question(*q) for q in DEV]
    for split in ("train", "dev"):
        write_jsonl(folder / f"{split}.jsonl", rows)
        write_jsonl(folder / f"{split}.tables.jsonl", [STATES, SCORES])
    write_wikisql_db(folder / "dev.db", [STATES, SCORES])
    return folder


def test_sql_text_is_query_repr_and_parses_back() -> None:
    form = LogicalForm(3, 1, ((1, 0, "South Australia"), (2, 1, 1998)))
    # lib/query.py's Query.__repr__: agg word, colN, quoted strings, bare numbers, " AND " between conditions
    assert render_sql(form) == 'SELECT MAX col3 FROM table WHERE col1 = "South Australia" AND col2 > 1998'
    assert render_sql(LogicalForm(0, 0)) == "SELECT col0 FROM table"
    assert parse_sql(render_sql(form)) == form
    assert parse_sql('SELECT COUNT col2 FROM table WHERE col1 = "a AND b" AND col3 < 2.5') == LogicalForm(
        2, 3, ((1, 0, "a AND b"), (3, 2, 2.5))
    )
    for junk in (
        "",
        "SELECT",
        "SELECT col1 FROM table WHERE",
        "SELECT col1 FROM table WHERE col2 ~ 3",
        "DROP",
    ):
        assert parse_sql(junk) is None


def test_wikisql_metrics_on_fixed_predictions(wikisql_dir: Path) -> None:
    golds = [LogicalForm.from_dict(sql) for _, _, sql in DEV]
    hyps = [text for text, _, _ in PREDICTIONS]
    tables = [table["id"] for table, _, _ in DEV]
    scores = score_wikisql(golds, hyps, tables, wikisql_dir / "dev.db")
    # by hand: logical forms 1, 2, 4 of 6 right; executions 1, 2, 3, 4
    assert scores == {"lf_accuracy": 3 / 6, "ex_accuracy": 4 / 6}
    assert [lf for _, lf, _ in PREDICTIONS].count(True) == 3
    assert score_wikisql(golds, hyps) == {"lf_accuracy": 0.5}  # no sqlite file: no execution accuracy


def test_wikisql_records_prompt_and_completion_only_labels(wikisql_dir: Path) -> None:
    task = TASKS.get("wikisql").from_config({"name": "wikisql", "data_dir": str(wikisql_dir)})
    task.validate()
    data = task.load()
    row = data["validation"][0]
    assert (
        row["source"]
        == "Table: col0: Name | col1: Year | col2: Points\nQuestion: How many points did Ann score?"
    )
    assert row["reference"] == 'SELECT col2 FROM table WHERE col0 = "Ann"'
    assert row["table_id"] == "2-2000-1" and len(data["validation"]) == len(DEV)
    tokenizer = load_tokenizer(compose_run_config(["model=tiny-llama"]).model)
    example = task.encode_pair(row["source"], row["reference"], tokenizer, 128)
    end = example["prompt_end"]
    context = tokenizer(row["source"], add_special_tokens=False)["input_ids"]
    separator = tokenizer("\nSQL:", add_special_tokens=False)["input_ids"]
    target = tokenizer(" " + row["reference"], add_special_tokens=False)["input_ids"]
    assert example["input_ids"] == context + separator + target + [tokenizer.eos_token_id]
    assert end == len(context + separator) and example["labels"] == [-100] * end + target + [102]
    everywhere = TASKS.get("wikisql").from_config(
        {"name": "wikisql", "data_dir": str(wikisql_dir), "loss_on": "all"}
    )
    assert (
        everywhere.encode_pair(row["source"], row["reference"], tokenizer, 128)["labels"]
        == example["input_ids"]
    )


def test_wikisql_bad_input(wikisql_dir: Path) -> None:
    (wikisql_dir / "dev.tables.jsonl").unlink()
    task = TASKS.get("wikisql").from_config({"name": "wikisql", "data_dir": str(wikisql_dir)})
    with pytest.raises(DataError, match=r"dev\.jsonl: no tables file dev\.tables\.jsonl beside it"):
        task.validate()
    write_jsonl(wikisql_dir / "dev.tables.jsonl", [SCORES])
    with pytest.raises(DataError, match=r"dev\.jsonl:5: table_id '1-1000181-1' is not in dev\.tables\.jsonl"):
        task.load()
    write_jsonl(wikisql_dir / "dev.jsonl", [question(*DEV[0]), {"table_id": "2-2000-1", "question": "q"}])
    with pytest.raises(DataError, match=r"dev\.jsonl:2: no field 'sql'"):
        task.load()
    with pytest.raises(ConfigError, match=r"\{table\} is not a field; fields: schema, question"):
        TASKS.get("wikisql").from_config({"name": "wikisql", "context_template": "{table}"}).validate()


@pytest.mark.slow
def test_tiny_wikisql_run_scores_both_accuracies(wikisql_dir: Path, tmp_path: Path) -> None:
    cfg = compose_run_config(
        [
            *TINY_RUN,
            "task=wikisql",
            f"task.data_dir={wikisql_dir}",
            "task.max_new_tokens=12",
            f"output_root={tmp_path}",
        ]
    )
    record = run(cfg)
    metrics = record["best"]["metrics"]
    assert record["metric_for_best"] == "lf_accuracy" and record["status"] == "complete"
    assert 0 <= metrics["lf_accuracy"] <= 1 and 0 <= metrics["ex_accuracy"] <= 1
    assert metrics["num_sources"] == len(DEV)
    # the last evaluation's record is the evaluator's numbers on the queries it wrote
    [out] = (tmp_path / "artifacts" / "wikisql" / "tiny-llama").iterdir()
    last = len(record["history"])
    hyps = (out / f"validation_hypotheses_eval{last}.txt").read_text(encoding="utf-8").split("\n")[: len(DEV)]
    golds = [LogicalForm.from_dict(sql) for _, _, sql in DEV]
    rescored = score_wikisql(golds, hyps, [t["id"] for t, _, _ in DEV], wikisql_dir / "dev.db")
    assert {k: record["history"][-1]["metrics"][k] for k in rescored} == rescored


# ------------------------------------------------------------------------------------------------ SAMSum
DIALOGUES = [
    {
        "id": "13818513",
        "summary": "Amanda baked cookies and will bring Jerry some tomorrow.",
        "dialogue": "Amanda: I baked  cookies. Do you want some?\r\nJerry: Sure!\r\nAmanda: I'll bring you tomorrow :-)",
    },
    {
        "id": "13728867",
        "summary": "Olivia and Olivier are voting for liberals in this election.",
        "dialogue": "Olivia: Who are you voting for in this election? \r\nOliver: Liberals as always.\r\nOlivia: Me too!!",
    },
    {"id": "13681000", "summary": "Tim is running late.", "dialogue": "Tim: running late\nKim: ok"},
]


def write_samsum(folder: Path, records: list[dict]) -> None:
    folder.mkdir(exist_ok=True)
    for name in ("train.json", "val.json"):
        (folder / name).write_text(json.dumps(records, indent=2), encoding="utf-8")


def test_samsum_context_and_rouge_equal_rouge_score(tmp_path: Path) -> None:
    from rouge_score.rouge_scorer import RougeScorer

    write_samsum(tmp_path / "samsum", DIALOGUES)
    task = TASKS.get("samsum").from_config({"name": "samsum", "data_dir": str(tmp_path / "samsum")})
    task.validate()
    rows = task.load()["validation"]
    # the paper's context: utterances joined by "\n" (the file's "\r\n"), the separator "\n\n" after it
    assert (
        rows[0]["source"]
        == "Amanda: I baked  cookies. Do you want some?\nJerry: Sure!\nAmanda: I'll bring you tomorrow :-)"
    )
    assert task.prompt_format() == ("\n\n", "answer")
    hyps = ["Amanda will bring Jerry cookies tomorrow.", "Olivia votes liberal.", "Kim is late."]
    refs = [[r["summary"]] for r in DIALOGUES]
    scores = task.score(refs, hyps)
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    own = [scorer.score(ref[0], hyp) for ref, hyp in zip(refs, hyps, strict=True)]
    for name in ("rouge1", "rouge2", "rougeL"):
        assert scores[name] == pytest.approx(sum(s[name].fmeasure for s in own) / 3, abs=1e-12)
    # by hand, example 3: "Kim is late" vs "Tim is running late" (stemmed): 2 common unigrams, P 2/3, R 2/4
    assert own[2]["rouge1"].fmeasure == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))


def test_samsum_record_without_a_field(tmp_path: Path) -> None:
    broken = [DIALOGUES[0], {"id": "1", "dialogue": "A: hi"}]
    write_samsum(tmp_path / "samsum", broken)
    cfg = compose_run_config(["model=tiny-llama", "task=samsum", f"task.data_dir={tmp_path / 'samsum'}"])
    plan = validate(cfg)  # the config is fine; the data fails when read, before the runner builds a model
    line = json.dumps(broken, indent=2).splitlines().index("  {", 2) + 1
    with pytest.raises(DataError, match=rf"train\.json:{line}: no field 'summary'"):
        plan.task.load()


@pytest.mark.slow
def test_tiny_samsum_run_scores_rouge(tmp_path: Path) -> None:
    write_samsum(tmp_path / "samsum", DIALOGUES)
    cfg = compose_run_config(
        [
            *TINY_RUN,
            "task=samsum",
            f"task.data_dir={tmp_path / 'samsum'}",
            "task.num_beams=2",
            "task.max_new_tokens=8",
            f"output_root={tmp_path}",
        ]
    )
    record = run(cfg)
    metrics = record["best"]["metrics"]
    assert record["metric_for_best"] == "rougeL"
    assert all(0 <= metrics[m] <= 1 for m in ("rouge1", "rouge2", "rougeL")) and metrics["num_sources"] == 3


# ------------------------------------------------------------------------------------------------ MNLI as generation
MNLI_COLUMNS = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
]
PAIRS = [
    ("The cat sat on the mat.", "A cat is sitting.", "entailment"),
    ("The cat sat on the mat.", "The mat is red.", "neutral"),
    ("The cat sat on the mat.", "No cat is there.", "contradiction"),
    ("He bought bread.", "He bought food.", "entailment"),
]


def write_mnli(folder: Path) -> None:
    """GLUE's MNLI TSVs: train.tsv (label1, gold_label), dev_*.tsv (label1..label5, gold_label)."""
    folder.mkdir()

    def row(i: int, pair: tuple[str, str, str], labels: int) -> str:
        premise, hypothesis, label = pair
        fields = [
            str(i),
            str(100 + i),
            f"{100 + i}e",
            "fiction",
            "( x )",
            "( y )",
            "(ROOT x)",
            "(ROOT y)",
            premise,
            hypothesis,
            *[label] * labels,
            label,
        ]
        return "\t".join(fields)

    train_header = [*MNLI_COLUMNS, "label1", "gold_label"]
    dev_header = [*MNLI_COLUMNS, *(f"label{k}" for k in range(1, 6)), "gold_label"]
    (folder / "train.tsv").write_text(
        "\n".join(["\t".join(train_header), *(row(i, p, 1) for i, p in enumerate(PAIRS))]) + "\n"
    )
    for name in ("dev_matched.tsv", "dev_mismatched.tsv"):
        (folder / name).write_text(
            "\n".join(["\t".join(dev_header), *(row(i, p, 5) for i, p in enumerate(PAIRS))]) + "\n"
        )


def test_mnli_generation_form_examples_and_exact_match(tmp_path: Path) -> None:
    write_mnli(tmp_path / "mnli")
    cfg = compose_run_config(
        ["model=tiny-llama", "task=mnli", "task.form=generation", f"task.data_dir={tmp_path / 'mnli'}"]
    )
    plan = validate(cfg)
    task = plan.task
    assert task.kind == "generation" and task.metric_for_best == "accuracy"
    raw = task.load()
    assert set(raw) == {"train", "validation", "validation_mismatched"} and raw["validation"]["label"] == [
        0,
        1,
        2,
        0,
    ]
    tokenizer = load_tokenizer(cfg.model)
    data = task.preprocess(raw, tokenizer, 64)
    example = data["validation"][2]
    end = example["prompt_end"]
    word = tokenizer(" contradiction", add_special_tokens=False)["input_ids"]
    assert example["labels"] == [-100] * end + word + [tokenizer.eos_token_id]  # loss on the label word only
    assert example["label"] == 2 and "label" not in data["train"].column_names
    # exact match: the generated text is a label word (spaces aside) or wrong
    assert task.label_ids(["entailment", " neutral ", "Contradiction", "entailment neutral"]).tolist() == [
        0,
        1,
        -1,
        -1,
    ]
    assert (
        task.metrics(task.label_ids(["entailment", "neutral", "neutral", "maybe"]), [0, 1, 2, 0])["accuracy"]
        == 0.5
    )
    classification = validate(compose_run_config(["model=tiny-llama", "task=mnli"])).task
    assert classification.kind == "classification" and classification.num_labels == 3
    with pytest.raises(ConfigError, match=r"task.form='generation' is not valid: task=stsb is a regression"):
        validate(compose_run_config(["model=tiny-llama", "task=stsb", "+task.form=generation"]))
    with pytest.raises(
        ConfigError, match=r"task.form='gen' is not valid; choose one of: classification, generation"
    ):
        validate(compose_run_config(["model=tiny-llama", "task=mnli", "task.form=gen"]))


@pytest.mark.slow
def test_tiny_mnli_generation_run_scores_accuracy(tmp_path: Path) -> None:
    write_mnli(tmp_path / "mnli")
    cfg = compose_run_config(
        [
            *TINY_RUN,
            "task=mnli",
            "task.form=generation",
            f"task.data_dir={tmp_path / 'mnli'}",
            f"output_root={tmp_path}",
        ]
    )
    record = run(cfg)
    metrics = record["best"]["metrics"]
    assert record["metric_for_best"] == "accuracy"
    assert metrics["accuracy"] in (0.0, 0.25, 0.5, 0.75, 1.0) and metrics["majority_baseline"] == 0.5
    assert metrics["validation_mismatched_accuracy"] in (0.0, 0.25, 0.5, 0.75, 1.0)
