"""WikiSQL's two metrics as its official ``evaluate.py`` (github.com/salesforce/WikiSQL) computes them.

A query is WikiSQL's logical form: the selected column ``sel``, the aggregation ``agg`` (an index into
:data:`AGG_OPS`) and conditions ``[column, operator, value]`` (operator an index into :data:`COND_OPS`). Its
text is the form ``lib/query.py``'s ``Query.__repr__`` prints: ``SELECT MAX col3 FROM table WHERE col1 = "x"
AND col2 > 5`` (string values in double quotes, numbers bare; no aggregation leaves the word out).

* Logical-form accuracy (``lf_accuracy``, the LoRA paper's "validation accuracy" in Tables 4-6): the same
  ``sel`` and ``agg`` and the same *set* of conditions, values compared as ``str(value).lower()``
  (``Query.__eq__`` with ``ordered=False``, the evaluator's default).
* Execution accuracy (``ex_accuracy``): gold and predicted queries run on the table in WikiSQL's sqlite file;
  correct when the result lists are equal (``lib/dbengine.py``: string values lowercased; a value for a
  ``real`` column that is not a number is read as one; a query that fails is wrong).

A generated text that does not parse is wrong under both metrics, never an error.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
COND_OPS = ("=", ">", "<", "OP")
WIKISQL_METRICS = ("lf_accuracy", "ex_accuracy")

Value = str | int | float


@dataclass(frozen=True)
class LogicalForm:
    """One WikiSQL query: ``sel``, ``agg`` and its conditions ``(column, operator, value)`` in order."""

    sel: int
    agg: int
    conds: tuple[tuple[int, int, Value], ...] = ()

    @classmethod
    def from_dict(cls, sql: Mapping[str, Any]) -> LogicalForm:
        """From the ``sql`` field of a WikiSQL ``*.jsonl`` line: ``{"sel", "agg", "conds": [[c, o, v], ...]}``."""
        return cls(int(sql["sel"]), int(sql["agg"]), tuple((int(c), int(o), v) for c, o, v in sql["conds"]))

    def matches(self, other: LogicalForm) -> bool:
        """``Query.__eq__`` (unordered): same sel and agg, same set of conditions, values lowercased as text."""

        def conds(form: LogicalForm) -> set[tuple[int, int, str]]:
            return {(c, o, str(v).lower()) for c, o, v in form.conds}

        return self.sel == other.sel and self.agg == other.agg and conds(self) == conds(other)


def render_sql(form: LogicalForm) -> str:
    """The query's text as ``Query.__repr__`` prints it (the aggregation's word left out when there is none;
    the double space that leaves in the official text is one space here)."""
    select = " ".join(part for part in ("SELECT", AGG_OPS[form.agg], f"col{form.sel}", "FROM table") if part)
    if not form.conds:
        return select
    conds = [f"col{c} {COND_OPS[o]} {_value_text(v)}" for c, o, v in form.conds]
    return f"{select} WHERE {' AND '.join(conds)}"


def _value_text(value: Value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


_SELECT = re.compile(
    r"SELECT\s+(?:(MAX|MIN|COUNT|SUM|AVG)\s+)?col\s*(\d+)\s+FROM\s+table(?:\s+WHERE\s+(.*))?", re.I | re.S
)
_COND_HEAD = re.compile(r"col\s*(\d+)\s*(=|>|<)\s*", re.I)
# A value ends where the next condition starts (" AND col<N> <op>") or at the end of the text.
_NEXT = r"(?=\s+AND\s+col\s*\d+\s*[=<>]|\s*$)"
_QUOTED = re.compile(r'"(.*?)"' + _NEXT, re.I | re.S)
_BARE = re.compile(r"(.*?)" + _NEXT, re.I | re.S)
_AND = re.compile(r"\s+AND\s+", re.I)


def parse_sql(text: str) -> LogicalForm | None:
    """The logical form of a generated query text, or None when it is not one (unparseable = wrong).

    Keywords are matched in any case and whitespace is collapsed (a tokenizer may lowercase or space the text);
    quoted values are stripped of surrounding spaces; a bare value is an int or float when it reads as one, else
    text."""
    head = _SELECT.fullmatch(" ".join(text.split()))
    if head is None:
        return None
    agg = AGG_OPS.index(head.group(1).upper()) if head.group(1) else 0
    conds: list[tuple[int, int, Value]] = []
    rest = head.group(3)
    while rest is not None:
        cond = _COND_HEAD.match(rest)
        if cond is None:
            return None
        tail = rest[cond.end() :]
        quoted = tail.startswith('"')
        value = (_QUOTED if quoted else _BARE).match(tail)
        if value is None or not value.group(1).strip():
            return None
        raw = value.group(1).strip()
        conds.append(
            (int(cond.group(1)), COND_OPS.index(cond.group(2)), raw if quoted else _number_or_text(raw))
        )
        after = tail[value.end() :]  # the lookahead left " AND col<N> ..." (or only spaces) in place
        separator = _AND.match(after)
        rest = after[separator.end() :] if separator else None
    return LogicalForm(int(head.group(2)), agg, tuple(conds))


def _number_or_text(raw: str) -> Value:
    for number in (int, float):
        try:
            return number(raw)
        except ValueError:
            continue
    return raw


# -------------------------------------------------------------------------------------------- execution
_NUMBER = re.compile(r"[-+]?\d*\.\d+|\d+")
_SCHEMA = re.compile(r"\((.+)\)", re.S)


class QueryFailed(Exception):
    """A query that cannot run on its table (a column it lacks, a value that is no number, ...)."""


def sqlite_table(table_id: str) -> str:
    """The table's name in WikiSQL's sqlite files: ``table_<id with - as _>``."""
    return table_id if table_id.startswith("table") else "table_{}".format(table_id.replace("-", "_"))


def as_real(value: str) -> float:
    """A condition value for a ``real`` column, as ``dbengine`` reads it: the number with its thousands commas
    dropped (babel's ``parse_decimal``, English), else the first number in the text."""
    try:
        return float(value.replace(",", ""))
    except ValueError:
        found = _NUMBER.findall(value)
        if not found:
            raise QueryFailed(f"no number in {value!r}") from None
        return float(found[0])


def execute(db: sqlite3.Connection, table_id: str, form: LogicalForm) -> list[Any]:
    """The result list of ``form`` on table ``table_id``, as ``DBEngine.execute(..., lower=True)`` builds and runs
    it (one bound parameter per column name: two conditions on one column share the last value, as there)."""
    table = sqlite_table(table_id)
    try:
        row = db.execute("SELECT sql FROM sqlite_master WHERE tbl_name = ?", (table,)).fetchone()
        if row is None:
            raise QueryFailed(f"no table {table}")
        schema = dict(part.split() for part in _SCHEMA.findall(row[0])[0].split(", "))
        select = f"col{form.sel}"
        if AGG_OPS[form.agg]:
            select = f"{AGG_OPS[form.agg]}({select})"
        where, params = [], {}
        for col, op, value in form.conds:
            if isinstance(value, str):
                value = value.lower()
            if schema.get(f"col{col}") == "real" and not isinstance(value, (int, float)):
                value = as_real(value)
            where.append(f"col{col} {COND_OPS[op]} :col{col}")
            params[f"col{col}"] = value
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [r[0] for r in db.execute(f"SELECT {select} AS result FROM {table} {clause}", params)]
    except (sqlite3.Error, ValueError, KeyError, IndexError) as err:
        raise QueryFailed(str(err)) from None


def score_wikisql(
    golds: Sequence[LogicalForm],
    hyps: Sequence[str],
    table_ids: Sequence[str] | None = None,
    db_path: str | Path | None = None,
) -> dict[str, float]:
    """``lf_accuracy`` of generated query texts against the gold logical forms and, with ``table_ids`` and
    WikiSQL's sqlite file ``db_path``, ``ex_accuracy`` (fractions, as the evaluator prints them)."""
    if len(golds) != len(hyps) or not hyps:
        raise ValueError(f"{len(hyps)} generated queries for {len(golds)} questions")
    preds = [parse_sql(h) for h in hyps]
    scores = {
        "lf_accuracy": sum(p is not None and p.matches(g) for p, g in zip(preds, golds, strict=True))
        / len(hyps)
    }
    if db_path is not None and table_ids is not None:
        with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
            right = [_same_result(db, t, g, p) for t, g, p in zip(table_ids, golds, preds, strict=True)]
        scores["ex_accuracy"] = sum(right) / len(hyps)
    return scores


def _same_result(db: sqlite3.Connection, table_id: str, gold: LogicalForm, pred: LogicalForm | None) -> bool:
    if pred is None:
        return False
    try:
        expected = execute(db, table_id, gold)
        return execute(db, table_id, pred) == expected
    except QueryFailed:
        return False
