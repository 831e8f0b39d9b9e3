"""The NLG tasks of the LoRA paper (Tables 3, 13, 14): E2E NLG Challenge, WebNLG 2017 and DART, with GPT-2.

Input files (inside ``task.data_dir``; chosen by ``task.train_file`` / ``task.eval_file``):

* E2E: the official CSVs (``trainset.csv``, ``devset.csv``, ``testset_w_refs.csv``; columns ``mr,ref``) or the
  LoRA repository's ``MR || text`` lines (``train.txt``, ``valid.txt``, ``test.txt``). CSV meaning
  representations are rewritten into the LoRA layout (``name[Alimentum], familyFriendly[no]`` ->
  ``name : Alimentum | family friendly : no``), so both inputs give the model the same source text.
* WebNLG 2017: the LoRA repository's JSON (``{"entries": [{"1": {...}}, ...]}``): references are the
  lexicalisations marked ``good``, the source is the linearised ``modifiedtripleset``; ``task.categories``
  selects the seen (the 10 DBpedia categories of the training set), unseen (5 new ones) or all entries.
* DART: the v1.1.1 JSON (a list of ``{"tripleset", "annotations"}``).

Each reader here is the one reader of its dataset: training, evaluation and ``adaptbench score <task>`` (see
``GenerationTask.score_files``) group references by the sources it builds. Scores are the official ones
(:mod:`adaptbench.tasks.metrics.nlg`): E2E's five metrics (BLEU as a fraction) and WebNLG/DART's BLEU (0-100),
METEOR and TER.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptbench.harness.api import ConfigError, bad_choice, bad_data, register_task
from adaptbench.tasks._generation import (
    GenerationConfig,
    GenerationTask,
    read_source_text_lines,
    read_text,
)
from adaptbench.tasks.metrics.coco import MeteorScorer
from adaptbench.tasks.metrics.nlg import score_e2e, score_webnlg_dart

# E2E attribute names as the LoRA repository's data spells them.
E2E_KEYS = {
    "eatType": "Type",
    "priceRange": "price",
    "familyFriendly": "family friendly",
    "customerRating": "customer rating",
}

WEBNLG_SEEN = (
    "Airport",
    "Astronaut",
    "Building",
    "City",
    "ComicsCharacter",
    "Food",
    "Monument",
    "SportsTeam",
    "University",
    "WrittenWork",
)
"""WebNLG 2017's seen categories: the 10 DBpedia categories of its training set."""
WEBNLG_UNSEEN = ("Athlete", "Artist", "CelestialBody", "MeanOfTransportation", "Politician")
"""The 5 categories only in WebNLG 2017's test set."""


def e2e_lora_mr(mr: str) -> str:
    """An official E2E meaning representation in the LoRA repository's layout.

    ``name[Alimentum], priceRange[£20-25]`` -> ``name : Alimentum | price : £ 20 - 25``: attribute names as in
    LoRA's files, values with ``£`` and ``-`` split off as their tokenised files have them.
    """
    parts = []
    for key, value in re.findall(r"\s*([^\[\],]+?)\s*\[([^\]]*)\]", mr):
        value = " ".join(re.sub(r"([£\-])", r" \1 ", value).split())
        parts.append(f"{E2E_KEYS.get(key, key)} : {value}")
    if not parts:
        raise ConfigError(f"not an E2E meaning representation (attr[value], ...): {mr!r}")
    return " | ".join(parts)


def read_e2e_pairs(path: Path) -> list[tuple[str, str]]:
    """(source, reference) pairs of an official E2E CSV (``*.csv``, columns ``mr,ref``) or a LoRA ``MR || text``
    file."""
    if path.suffix.lower() != ".csv":
        return read_source_text_lines(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        return _e2e_rows(reader, path)
    except csv.Error as err:  # a field over csv's size limit, a NUL byte, ...
        raise bad_data(path, reader.line_num, f"not valid CSV ({err})") from None


def _e2e_rows(reader: Any, path: Path) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for row in reader:
        if not row or (reader.line_num == 1 and [c.strip().lower() for c in row] == ["mr", "ref"]):
            continue
        if len(row) != 2:
            raise bad_data(path, reader.line_num, f"expected the two columns mr,ref, got {len(row)}")
        try:
            pairs.append((e2e_lora_mr(row[0]), row[1].strip()))
        except ConfigError as err:
            raise bad_data(path, reader.line_num, str(err)) from None
    return pairs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise bad_data(path, err.lineno, f"not valid JSON: {err.msg}") from None


def webnlg_source(triples: Sequence[dict]) -> str:
    """A WebNLG triple set as LoRA's ``format_converting_webnlg.py`` linearises it: ``subj : prop : obj | ...``."""
    return " | ".join(f"{t['subject']} : {t['property']} : {t['object']}" for t in triples)


def dart_source(tripleset: Sequence[Sequence[str]]) -> str:
    """A DART triple set as LoRA's ``format_converting_dart.py`` linearises it (relation lowercased)."""
    return " | ".join(f"{s} : {r.lower()} : {o}" for s, r, o in tripleset)


def read_webnlg_pairs(path: Path, categories: str = "all") -> list[tuple[str, str]]:
    """(source, reference) pairs of a WebNLG 2017 JSON file (LoRA layout), for ``categories`` all|seen|unseen:
    the lexicalisations marked ``good`` of each entry."""
    data = _read_json(path)
    if not isinstance(data, dict) or "entries" not in data:
        raise bad_data(path, None, "not the WebNLG JSON layout of the LoRA repository (no 'entries')")
    pairs = []
    for i, entry in enumerate(data["entries"], start=1):
        item = entry[str(i)]
        seen = item["category"] in WEBNLG_SEEN
        if categories == "seen" and not seen or categories == "unseen" and seen:
            continue
        source = webnlg_source(item["modifiedtripleset"])
        pairs.extend(
            (source, lex["lex"].strip()) for lex in item["lexicalisations"] if lex.get("comment") == "good"
        )
    return pairs


def read_dart_pairs(path: Path) -> list[tuple[str, str]]:
    """(source, reference) pairs of a DART JSON file: every annotation text of each triple set."""
    data = _read_json(path)
    if not isinstance(data, list) or not all(isinstance(x, dict) and "tripleset" in x for x in data):
        raise bad_data(path, None, "not the DART JSON layout (a list of {'tripleset', 'annotations'})")
    return [
        (dart_source(item["tripleset"]), ann["text"].strip()) for item in data for ann in item["annotations"]
    ]


@dataclass
class E2EConfig(GenerationConfig):
    # official CSVs (trainset.csv, devset.csv, testset_w_refs.csv) or LoRA's train.txt/valid.txt/test.txt
    train_file: str = "trainset.csv"
    eval_file: str = "devset.csv"
    length_penalty: float = 0.9


@dataclass
class WebNLGConfig(GenerationConfig):
    train_file: str = "train.json"
    eval_file: str = "dev.json"
    length_penalty: float = 0.8
    # evaluate on all | seen | unseen categories of eval_file (WebNLG 2017's; training uses all of train_file)
    categories: str = "all"


@dataclass
class DartConfig(GenerationConfig):
    train_file: str = "dart-v1.1.1-full-train.json"
    eval_file: str = "dart-v1.1.1-full-dev.json"
    length_penalty: float = 0.8


@register_task("e2e")
class E2E(GenerationTask):
    Config = E2EConfig
    file_hint = (
        "E2E files: the official trainset.csv/devset.csv/testset_w_refs.csv or LoRA's 'MR || text' *.txt"
    )
    data_suffixes = (".csv",)
    java_needed_by = "task=e2e's metrics METEOR 1.5 and the COCO PTB tokenizer"

    def read_pairs(self, path: Path, evaluation: bool) -> list[tuple[str, str]]:
        return read_e2e_pairs(path)

    def score(
        self, refs: list[list[str]], hyps: list[str], *, meteor: MeteorScorer | None = None
    ) -> dict[str, float]:
        """Pass an open ``meteor`` scorer to skip the METEOR jar's start-up."""
        return score_e2e(refs, hyps, meteor=meteor)


@register_task("webnlg")
class WebNLG(GenerationTask):
    Config = WebNLGConfig
    file_hint = "WebNLG 2017 JSON files in the LoRA repository's layout (train.json, dev.json, test.json)"
    data_suffixes = (".json",)
    java_needed_by = "task=webnlg's metric METEOR 1.5"

    def validate(self) -> None:
        if self.cfg.categories not in ("all", "seen", "unseen"):
            raise bad_choice("task.categories", self.cfg.categories, ("all", "seen", "unseen"))
        super().validate()

    def read_pairs(self, path: Path, evaluation: bool) -> list[tuple[str, str]]:
        return read_webnlg_pairs(path, self.cfg.categories if evaluation else "all")

    def score(
        self, refs: list[list[str]], hyps: list[str], *, meteor: MeteorScorer | None = None
    ) -> dict[str, float]:
        """Pass an open ``meteor`` scorer to skip the METEOR jar's start-up."""
        return score_webnlg_dart(refs, hyps, meteor=meteor)


@register_task("dart")
class Dart(GenerationTask):
    Config = DartConfig
    file_hint = (
        "DART v1.1.1 JSON files (dart-v1.1.1-full-train.json, dart-v1.1.1-full-dev.json, ...-test.json)"
    )
    data_suffixes = (".json",)
    java_needed_by = "task=dart's metric METEOR 1.5"

    def read_pairs(self, path: Path, evaluation: bool) -> list[tuple[str, str]]:
        return read_dart_pairs(path)

    def score(
        self, refs: list[list[str]], hyps: list[str], *, meteor: MeteorScorer | None = None
    ) -> dict[str, float]:
        """Pass an open ``meteor`` scorer to skip the METEOR jar's start-up."""
        return score_webnlg_dart(refs, hyps, meteor=meteor)
