"""SAMSum dialogue summarisation (Gliwa et al. 2019), as the LoRA paper ran it on GPT-3 (Table 4).

Data: the original ``train.json`` / ``val.json`` / ``test.json`` (a JSON list of ``{"id", "dialogue",
"summary"}``; utterances separated by ``\\r\\n`` or ``\\n``) in ``task.data_dir``, or the hub dataset
``task.hub_dataset`` (same fields) with ``task.data_dir=null``. The paper's prompt (Appendix C): the utterances
joined by ``\\n``, then ``\\n\\n``, then the summary; the loss on the summary only.

Scores: ROUGE-1/2/L F-measure from ``rouge-score`` with stemming (:func:`adaptbench.tasks.custom.rouge_f`), as
fractions; the paper prints them x100 (R1 53.8, R2 29.8, RL 45.9 for GPT-3 LoRA).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptbench.harness.api import ConfigError, bad_data, register_task
from adaptbench.tasks._generation import PromptedGenerationConfig, PromptedGenerationTask, read_text
from adaptbench.tasks.custom import ROUGE_TYPES, Row, rouge_f

FIELDS = ("id", "dialogue", "summary")


def json_list_rows(path: Path) -> list[Row]:
    """The objects of a JSON list file, each with the line it starts on (for one-line errors)."""
    text = read_text(path)
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:].startswith("["):
        raise bad_data(path, text.count("\n", 0, pos) + 1, "not a JSON list of {id, dialogue, summary}")
    pos += 1
    rows: list[Row] = []
    while True:
        pos += len(text[pos:]) - len(text[pos:].lstrip(" \t\r\n,"))
        if pos >= len(text) or text[pos] == "]":
            break
        line = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise bad_data(path, err.lineno, f"not valid JSON: {err.msg}") from None
        if not isinstance(item, dict):
            raise bad_data(path, line, f"expected a JSON object, got {type(item).__name__}")
        rows.append((line, item))
    return rows


def dialogue_context(dialogue: str) -> str:
    """The paper's context: the utterances joined by a newline (the files use ``\\r\\n``; blank lines dropped)."""
    return "\n".join(line.strip() for line in dialogue.splitlines() if line.strip())


@dataclass
class SamsumConfig(PromptedGenerationConfig):
    train_file: str = "train.json"
    # the paper's 819 examples are test.json (the hub's "test")
    eval_file: str = "val.json"
    hub_dataset: str | None = "Samsung/samsum"
    context_template: str | None = "{dialogue}"
    separator: str | None = "\n\n"
    num_beams: int = 4
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    max_new_tokens: int = 128


@register_task("samsum")
class Samsum(PromptedGenerationTask):
    Config = SamsumConfig
    metric_for_best = "rougeL"
    file_hint = "SAMSum's train.json, val.json and test.json (lists of {id, dialogue, summary})"
    data_suffixes = (".json",)
    fields = ("dialogue", "id")
    hub_splits = {"train.json": "train", "val.json": "validation", "test.json": "test"}

    def validate(self) -> None:
        super().validate()
        try:
            import rouge_score  # noqa: F401  (scores every evaluation: fail now, not after training)
        except ImportError:
            raise ConfigError("task=samsum scores ROUGE with rouge-score: pip install rouge-score") from None

    def record(self, where: Path | str, line: int | None, item: dict[str, Any]) -> dict[str, Any]:
        for name in FIELDS:
            if name not in item:
                raise bad_data(where, line, f"no field {name!r} (a SAMSum record has {', '.join(FIELDS)})")
        for name in ("dialogue", "summary"):
            if not isinstance(item[name], str):
                raise bad_data(where, line, f"field {name!r} is {json.dumps(item[name])}, not a text")
        values = {"dialogue": dialogue_context(item["dialogue"]), "id": str(item["id"])}
        return {"source": self.context(values), "reference": " ".join(item["summary"].split())}

    def read_records(self, path: Path, evaluation: bool) -> list[dict[str, Any]]:
        return [self.record(path, line, item) for line, item in json_list_rows(path)]

    def read_pairs(self, path: Path, evaluation: bool) -> list[tuple[str, str]]:
        return [(r["source"], r["reference"]) for r in self.read_records(path, evaluation)]

    def hub_records(self, rows: Any, split: str) -> list[dict[str, Any]]:
        where = f"{self.cfg.hub_dataset}[{split}]"
        return [self.record(where, i, dict(item)) for i, item in enumerate(rows, start=1)]

    def score(self, refs: list[list[str]], hyps: list[str]) -> dict[str, float]:
        scores = rouge_f(refs, hyps)
        return {name: scores[name] for name in ROUGE_TYPES}
