"""WikiSQL (Zhong et al. 2017): natural-language question + table header -> SQL, as the LoRA paper ran it on GPT-3
(Tables 4, 5, 6 and 15).

Data: the original files in ``task.data_dir`` -- ``{split}.jsonl`` (one question a line: ``table_id``,
``question``, ``sql`` = ``{"sel", "agg", "conds"}``) beside its ``{split}.tables.jsonl`` (one table a line:
``id``, ``header``, ...) and, optionally, WikiSQL's sqlite file ``{split}.db`` for execution accuracy -- or the
hub dataset ``task.hub_dataset`` with ``task.data_dir=null`` (its rows carry the table; no sqlite file, so
logical-form accuracy only).

Prompt (Appendix C: "context x = {table schema, query}, target y = {SQL}"): the header as ``col0: name | col1:
name ...`` and the question, filled into ``task.context_template``; the target is the gold logical form's text
as WikiSQL's ``Query.__repr__`` prints it (``SELECT COUNT col2 FROM table WHERE col0 = "x"``); the loss on the
target only. Metrics: :mod:`adaptbench.tasks.metrics.wikisql` (``lf_accuracy``, the paper's number, and
``ex_accuracy`` when ``{eval split}.db`` is there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptbench.harness.api import bad_data, register_task
from adaptbench.tasks._generation import PromptedGenerationConfig, PromptedGenerationTask
from adaptbench.tasks.custom import read_rows
from adaptbench.tasks.metrics.wikisql import (
    AGG_OPS,
    COND_OPS,
    LogicalForm,
    parse_sql,
    render_sql,
    score_wikisql,
)

QUESTION_FIELDS = ("table_id", "question", "sql")
SQL_FIELDS = ("sel", "agg", "conds")


def companion(path: Path, suffix: str) -> Path:
    """WikiSQL's file beside ``dev.jsonl`` with the same split name: ``dev.tables.jsonl``, ``dev.db``."""
    return path.with_name(path.name.removesuffix(".jsonl") + suffix)


def schema_text(header: list[str]) -> str:
    """A table's header as the context shows it: each column with the index its SQL uses."""
    return " | ".join(f"col{i}: {name}" for i, name in enumerate(header))


def read_headers(path: Path) -> dict[str, list[str]]:
    """Table id -> header of a ``*.tables.jsonl`` file."""
    headers = {}
    for line, table in read_rows(path):
        for name in ("id", "header"):
            if name not in table:
                raise bad_data(path, line, f"no field {name!r} (a WikiSQL table has id, header, types, rows)")
        if not isinstance(table["header"], list) or not all(isinstance(h, str) for h in table["header"]):
            raise bad_data(path, line, "field 'header' is not a list of column names")
        headers[str(table["id"])] = table["header"]
    return headers


def gold_form(where: Path | str, line: int | None, sql: Any, width: int) -> LogicalForm:
    """The ``sql`` field of a question as a logical form, checked against its table's ``width`` columns."""
    if not isinstance(sql, dict) or any(name not in sql for name in SQL_FIELDS):
        raise bad_data(where, line, f"field 'sql' is not {{{', '.join(SQL_FIELDS)}}}: {json.dumps(sql)}")
    try:
        form = LogicalForm.from_dict(sql)
    except (TypeError, ValueError):
        raise bad_data(where, line, f"field 'sql' is not a WikiSQL logical form: {json.dumps(sql)}") from None
    columns = [form.sel, *(c for c, _, _ in form.conds)]
    if not all(0 <= c < width for c in columns) or not 0 <= form.agg < len(AGG_OPS):
        raise bad_data(
            where, line, f"field 'sql' names a column or aggregation the table lacks: {json.dumps(sql)}"
        )
    if not all(0 <= o < len(COND_OPS) - 1 for _, o, _ in form.conds):  # "OP" is a placeholder, never data
        raise bad_data(where, line, f"field 'sql' has an operator outside =, >, <: {json.dumps(sql)}")
    return form


@dataclass
class WikiSQLConfig(PromptedGenerationConfig):
    train_file: str = "train.jsonl"
    eval_file: str = "dev.jsonl"
    hub_dataset: str | None = "Salesforce/wikisql"
    context_template: str | None = "Table: {schema}\nQuestion: {question}"
    separator: str | None = "\nSQL:"
    num_beams: int = 1
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    max_new_tokens: int = 96


@register_task("wikisql")
class WikiSQL(PromptedGenerationTask):
    Config = WikiSQLConfig
    metric_for_best = "lf_accuracy"
    file_hint = "WikiSQL's train.jsonl, dev.jsonl, test.jsonl, each beside its *.tables.jsonl (and *.db)"
    data_suffixes = (".jsonl",)
    fields = ("schema", "question")
    hub_splits = {"train.jsonl": "train", "dev.jsonl": "validation", "test.jsonl": "test"}

    def check_data_files(self) -> None:
        super().check_data_files()
        for key in ("train_file", "eval_file"):
            path = Path(self.cfg.data_dir) / getattr(self.cfg, key)
            tables = companion(path, ".tables.jsonl")
            if not tables.is_file():
                raise bad_data(
                    path, None, f"no tables file {tables.name} beside it (its questions name tables)"
                )

    def record(
        self, where: Path | str, line: int | None, question: str, header: list[str], table_id: str, sql: Any
    ) -> dict[str, Any]:
        form = gold_form(where, line, sql, len(header))
        values = {"schema": schema_text(header), "question": " ".join(question.split())}
        return {
            "source": self.context(values),
            "reference": render_sql(form),
            "table_id": table_id,
            "sql": json.dumps({"sel": form.sel, "agg": form.agg, "conds": [list(c) for c in form.conds]}),
        }

    def read_records(self, path: Path, evaluation: bool) -> list[dict[str, Any]]:
        tables = companion(path, ".tables.jsonl")
        headers = read_headers(tables)
        records = []
        for line, item in read_rows(path):
            for name in QUESTION_FIELDS:
                if name not in item:
                    raise bad_data(
                        path, line, f"no field {name!r} (a WikiSQL question has {', '.join(QUESTION_FIELDS)})"
                    )
            table_id = str(item["table_id"])
            if table_id not in headers:
                raise bad_data(path, line, f"table_id {table_id!r} is not in {tables.name}")
            if not isinstance(item["question"], str):
                raise bad_data(path, line, f"field 'question' is {json.dumps(item['question'])}, not a text")
            records.append(
                self.record(path, line, item["question"], headers[table_id], table_id, item["sql"])
            )
        return records

    def read_pairs(self, path: Path, evaluation: bool) -> list[tuple[str, str]]:
        return [(r["source"], r["reference"]) for r in self.read_records(path, evaluation)]

    def hub_records(self, rows: Any, split: str) -> list[dict[str, Any]]:
        """Hub rows (``Salesforce/wikisql``): the table inline, conditions as three parallel lists."""
        where = f"{self.cfg.hub_dataset}[{split}]"
        records = []
        for i, row in enumerate(rows, start=1):
            sql, conds = row["sql"], row["sql"]["conds"]
            triples = zip(conds["column_index"], conds["operator_index"], conds["condition"], strict=True)
            gold = {"sel": sql["sel"], "agg": sql["agg"], "conds": [list(t) for t in triples]}
            table = row["table"]
            records.append(self.record(where, i, row["question"], table["header"], table["id"], gold))
        return records

    def db_path(self) -> Path | None:
        """WikiSQL's sqlite file of the evaluation split, when it is there (execution accuracy)."""
        if self.cfg.data_dir is None:
            return None
        db = companion(Path(self.cfg.data_dir) / self.cfg.eval_file, ".db")
        return db if db.is_file() else None

    def score_decoded(
        self, dataset: Any, sources: list[str], refs: list[list[str]], hyps: list[str]
    ) -> dict[str, float]:
        first: dict[str, tuple[str, str]] = {}
        for source, table_id, sql in zip(dataset["source"], dataset["table_id"], dataset["sql"], strict=True):
            first.setdefault(source, (table_id, sql))
        golds = [LogicalForm.from_dict(json.loads(first[s][1])) for s in sources]
        return score_wikisql(golds, hyps, [first[s][0] for s in sources], self.db_path())

    def score(self, refs: list[list[str]], hyps: list[str]) -> dict[str, float]:
        """Logical-form accuracy against reference query texts (``adaptbench score wikisql``)."""
        golds = [parse_sql(group[0]) for group in refs]
        if any(g is None for g in golds):
            bad = next(group[0] for group, g in zip(refs, golds, strict=True) if g is None)
            raise bad_data("references", None, f"not a WikiSQL query text: {bad!r}")
        return score_wikisql(golds, hyps)
