"""Your own data as a task, without code: ``text_classification`` and ``text_generation``.

Files are read by extension: ``.csv`` (comma-separated, a header row, standard CSV quoting), ``.tsv``
(tab-separated, a header row, no quoting: a field holds no tab or line break) and ``.jsonl`` (one JSON object
per line). Columns are named by ``task.text_fields`` / ``task.label_field`` or ``task.source_field`` /
``task.target_field``. Paths are relative to the working directory.

``text_classification`` decides its kind from the train file's label column the first time the harness asks
for it (config validation, before any model is built): labels that are all numbers, at least one of them not
an integer (``0.5``, ``3.0``), make a regression task; anything else (strings, integers) classes, numbered in
sorted order of the train file's labels (numerically when all are integers). ``task.label_kind`` overrides the
guess. Scores: accuracy and macro F1 (plus the majority-class baseline), or Pearson and Spearman.

Both read, instead of the files, the splits of ``task.dataset`` (``task.train_split``, ``task.eval_split``): a
folder written by ``datasets.save_to_disk`` or a hub dataset name, its rows checked as a JSONL file's are
(:class:`OwnDataSplits`).

``text_generation`` trains a causal LM on ``<source> <sep> <target> <eos>`` as the NLG tasks do (see
:mod:`adaptbench.tasks._generation`). A source may have several targets: repeated rows with the same source,
or a JSON list. Scores: sacrebleu's default corpus BLEU (0-100), ROUGE-1/2/L F-measure from ``rouge-score``
(with stemming, best over the references, averaged over sources; fractions) and, when java is on PATH,
METEOR 1.5 (fraction).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptbench.harness.api import ConfigError, bad_choice, bad_data, bad_value, register_task
from adaptbench.tasks._classification import SequenceTask
from adaptbench.tasks._generation import GenerationConfig, GenerationTask
from adaptbench.tasks.metrics.coco import meteor_score, require_java
from adaptbench.tasks.metrics.glue import accuracy, pearson_spearman
from adaptbench.tasks.metrics.mteval import ref_streams

if TYPE_CHECKING:  # ``datasets`` loads only when a dataset is built, not to count parameters
    from datasets import Dataset, DatasetDict

FORMATS = (".csv", ".jsonl", ".tsv")
LABEL_KINDS = ("auto", "classification", "regression")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

Row = tuple[int, dict[str, Any]]
"""One record of a data file: its line number (1-based, where it starts) and its fields by column name."""


# -------------------------------------------------------------------------------------------- reading files
def data_file(key: str, value: str | None, folder: str | None = None) -> Path:
    """The file named by ``task.<key>`` (inside ``folder`` when given), checked to exist and to have a readable
    extension."""
    if value is None:
        raise ConfigError(f"task.{key} is null: set it to a {', '.join(FORMATS)} file")
    path = Path(folder or ".") / value
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(
            f"task.{key}={value!r}: file type {path.suffix or '(none)'!r} is not valid; choose one of: "
            + ", ".join(FORMATS)
        )
    if not path.is_file():
        raise ConfigError(f"task.{key}={value!r}: no such file ({path})")
    return path


def _delimited_rows(path: Path, text: str) -> list[Row]:
    tsv = path.suffix.lower() == ".tsv"
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tsv else {}
    reader = csv.reader(io.StringIO(text, newline=""), **options)  # lines end at \n or \r only
    try:
        return _rows_of(reader, path)
    except csv.Error as err:  # a field over csv's size limit, a NUL byte, ...: bad data at the reader's line
        raise bad_data(path, reader.line_num, f"not valid {'TSV' if tsv else 'CSV'} ({err})") from None


def _rows_of(reader: Any, path: Path) -> list[Row]:
    header = next(reader, None)
    if not header:
        raise bad_data(path, None, "empty file: expected a header row and data rows")
    header = [name.strip() for name in header]
    rows: list[Row] = []
    start = reader.line_num + 1
    for fields in reader:
        if any(f.strip() for f in fields):
            if len(fields) != len(header):
                raise bad_data(path, start, f"{len(fields)} fields, the header has {len(header)}")
            rows.append((start, dict(zip(header, fields, strict=True))))
        start = reader.line_num + 1
    return rows


def _jsonl_rows(path: Path, text: str) -> list[Row]:
    rows: list[Row] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise bad_data(path, n, f"not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise bad_data(path, n, f"expected a JSON object, got {type(row).__name__}")
        rows.append((n, row))
    return rows


def dataset_rows(name: str, split: str, split_key: str) -> tuple[Path, list[Row]]:
    """The rows of one split of ``task.dataset``: a folder written by ``datasets.save_to_disk`` (read by
    ``datasets.load_from_disk``) or a hub name (``datasets.load_dataset``), with a where-label for errors
    (``<dataset>[<split>]``, row numbers from 1)."""
    import datasets

    try:
        if Path(name).is_dir():
            loaded = datasets.load_from_disk(name)
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise bad_choice(
                        f"task.{split_key} (a split of task.dataset={name!r})", split, list(loaded)
                    )
                loaded = loaded[split]
        else:
            loaded = datasets.load_dataset(name, split=split)
    except ConfigError:
        raise
    except (OSError, ValueError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"task.dataset={name!r} (split {split!r}) cannot be loaded: {reason}") from None
    rows = [(n, dict(row)) for n, row in enumerate(loaded, start=1)]
    if not rows:
        raise ConfigError(f"task.dataset={name!r}: split {split!r} has no rows")
    return Path(f"{name}[{split}]"), rows


def read_rows(path: Path) -> list[Row]:
    """The records of a CSV/TSV/JSONL file; an empty file is a DataError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise bad_data(path, None, f"not UTF-8 text (byte {err.start})") from None
    rows = _jsonl_rows(path, text) if path.suffix.lower() == ".jsonl" else _delimited_rows(path, text)
    if not rows:
        raise bad_data(path, None, "no data rows")
    return rows


def check_columns(path: Path, rows: list[Row], wanted: list[tuple[str, str]]) -> None:
    """Every row has the columns ``wanted`` ((config key, column name) pairs); else one line naming the key and
    the columns the file has."""
    for key, column in wanted:
        for n, row in rows:
            if column not in row:
                have = ", ".join(sorted(row)) or "(none)"
                where = f"{path}" if path.suffix.lower() != ".jsonl" else f"{path}:{n}"
                raise ConfigError(f"task.{key}={column!r} is not a column of {where}; columns: {have}")


def text_value(path: Path, line: int, column: str, value: Any) -> str:
    """A text field as a string (JSON numbers are written out); null, lists and objects are bad data."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise bad_data(path, line, f"{column!r} is {json.dumps(value)}, not a text")


# -------------------------------------------------------------------------------------------- either task
@dataclass
class DatasetSplitsConfig:
    # instead of the files: a datasets.save_to_disk folder or a hub dataset name, and its two splits
    dataset: str | None = None
    train_split: str = "train"
    eval_split: str = "validation"


class OwnDataSplits:
    """The train and eval rows of an own-data task, read once: from ``task.dataset``'s splits when it is set, else
    from ``task.train_file`` / ``task.eval_file`` (in ``data_folder()``); the same column checks either way (a
    dataset's rows are records as a JSONL file's are). Subclasses name their columns in ``columns``."""

    cfg: Any

    def columns(self) -> list[tuple[str, str]]:
        """(config key, column name) pairs every row must have."""
        raise NotImplementedError

    def data_folder(self) -> str | None:
        """The folder the file names are relative to (None: the working directory)."""
        return None

    def split_rows(self, key: str) -> tuple[Path, list[Row]]:
        """(where, for errors; rows) of ``train`` or ``eval``."""
        read: dict[str, tuple[Path, list[Row]]] = self.__dict__.setdefault("_split_rows", {})
        if key not in read:
            if self.cfg.dataset is not None:
                split_key = f"{key}_split"
                path, rows = dataset_rows(self.cfg.dataset, getattr(self.cfg, split_key), split_key)
            else:
                path = data_file(f"{key}_file", getattr(self.cfg, f"{key}_file"), self.data_folder())
                rows = read_rows(path)
            check_columns(path, rows, self.columns())
            read[key] = path, rows
        return read[key]


# -------------------------------------------------------------------------------------------- classification
def label_key(value: Any) -> int | float | str | None:
    """A label as a number when it is one (``"3"`` and ``3`` are the same class), else its stripped text;
    None for a missing or empty label, a list or an object."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for number in (int, float):
        try:
            parsed = number(text)
        except ValueError:
            continue
        return parsed if math.isfinite(parsed) else None
    return text


@dataclass
class TextClassificationConfig(DatasetSplitsConfig):
    # CSV, TSV or JSONL files (by extension), paths relative to the working directory
    train_file: str | None = None
    eval_file: str | None = None
    # one column (a text) or two (a text pair, e.g. premise and hypothesis)
    text_fields: list[str] = field(default_factory=lambda: ["text"])
    label_field: str = "label"
    # auto: regression when the train labels are numbers and one is not an integer, else classification
    label_kind: str = "auto"

    def __post_init__(self) -> None:
        if not 1 <= len(self.text_fields) <= 2:
            raise bad_value("task.text_fields", self.text_fields, "name one column (a text) or two (a pair)")
        if self.label_field in self.text_fields:
            raise bad_value("task.label_field", self.label_field, "must not be one of task.text_fields")
        if self.label_kind not in LABEL_KINDS:
            raise bad_choice("task.label_kind", self.label_kind, LABEL_KINDS)


@dataclass(frozen=True)
class Labels:
    """What the train file's label column says: the kind and, for classes, their names in id order."""

    kind: str
    classes: tuple[Any, ...] = ()

    def class_id(self, key: int | float | str | None) -> int | None:
        """The id of a label (a ``label_key``), None when the train file has no such label."""
        name = key if key is None or isinstance(self.classes[0], int) else str(key)
        return self.classes.index(name) if name in self.classes else None


def infer_labels(path: Path, rows: list[Row], column: str, forced: str) -> Labels:
    keys = []
    for n, row in rows:
        key = label_key(row[column])
        if key is None:
            raise bad_data(path, n, f"label {json.dumps(row[column])} in {column!r} is empty or not a label")
        keys.append(key)
    numbers = all(isinstance(k, (int, float)) for k in keys)
    kind = forced
    if forced == "auto":
        kind = "regression" if numbers and any(isinstance(k, float) for k in keys) else "classification"
    if kind == "regression":
        if not numbers:
            n, value = next(
                (n, row[column]) for (n, row), k in zip(rows, keys, strict=True) if isinstance(k, str)
            )
            raise bad_data(path, n, f"label {value!r} is not a number (task.label_kind=regression)")
        return Labels("regression")
    integers = all(isinstance(k, int) for k in keys)
    classes = tuple(sorted(set(keys)) if integers else sorted({str(k) for k in keys}))
    if len(classes) < 2:
        raise bad_data(path, None, f"one label ({classes[0]!r}) in column {column!r}: a classifier needs two")
    return Labels("classification", classes)


@register_task("text_classification")
class TextClassification(OwnDataSplits, SequenceTask):
    """Classification or regression of one text or a text pair, read from your CSV/TSV/JSONL files."""

    Config = TextClassificationConfig

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.text_fields = tuple(cfg.text_fields)
        self.label_field = cfg.label_field

    def validate(self) -> None:
        if self.cfg.dataset is None:
            data_file("eval_file", self.cfg.eval_file)
        _ = self.labels  # reads the train file's label column: bad labels fail here, before any model

    @property
    def train_rows(self) -> list[Row]:
        return self.split_rows("train")[1]

    @cached_property
    def labels(self) -> Labels:
        path, rows = self.split_rows("train")
        return infer_labels(path, rows, self.label_field, self.cfg.label_kind)

    @property
    def kind(self) -> str:  # type: ignore[override]  # read off the data, not fixed per class
        return self.labels.kind

    @property
    def num_labels(self) -> int:
        return 1 if self.kind == "regression" else len(self.labels.classes)

    @property
    def metric_for_best(self) -> str:  # type: ignore[override]
        return "pearson" if self.kind == "regression" else "accuracy"

    def columns(self) -> list[tuple[str, str]]:
        return [*(("text_fields", name) for name in self.text_fields), ("label_field", self.label_field)]

    def label_id(self, path: Path, line: int, value: Any) -> int | float:
        key = label_key(value)
        if self.kind == "regression":
            if not isinstance(key, (int, float)):
                raise bad_data(path, line, f"label {json.dumps(value)} is not a number")
            return float(key)
        class_id = self.labels.class_id(key)
        if class_id is None:
            shown = ", ".join(map(str, self.labels.classes))
            raise bad_data(
                path, line, f"label {json.dumps(value)} is not one of the train file's labels: {shown}"
            )
        return class_id

    def dataset(self, path: Path, rows: list[Row]) -> Dataset:
        columns: dict[str, list] = {name: [] for name in (*self.text_fields, self.label_field)}
        for n, row in rows:
            for name in self.text_fields:
                columns[name].append(text_value(path, n, name, row[name]))
            columns[self.label_field].append(self.label_id(path, n, row[self.label_field]))
        from datasets import Dataset

        return Dataset.from_dict(columns)

    def load(self) -> DatasetDict:
        from datasets import DatasetDict

        train = self.dataset(*self.split_rows("train"))
        return DatasetDict({"train": train, "validation": self.dataset(*self.split_rows("eval"))})

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        if self.kind == "regression":
            return pearson_spearman(predictions, labels)
        from sklearn.metrics import f1_score

        macro = f1_score(labels, predictions, average="macro", zero_division=0.0)
        return {**accuracy(predictions, labels), "f1_macro": float(macro)}


# -------------------------------------------------------------------------------------------- generation
def corpus_bleu(refs: list[list[str]], hyps: list[str]) -> float:
    """sacrebleu's default corpus BLEU (13a tokens, case-sensitive, exp smoothing), 0-100: the number its
    command line prints, with every reference of a source."""
    from sacrebleu.metrics import BLEU

    return float(BLEU().corpus_score(hyps, ref_streams(refs)).score)


def rouge_f(refs: list[list[str]], hyps: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measure from ``rouge-score`` with stemming (as Hugging Face's summarization examples
    report it): per source the best over its references, then the mean over sources. Its tokenizer keeps
    ASCII letters and digits only."""
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    per_source = [scorer.score_multi(group, hyp) for group, hyp in zip(refs, hyps, strict=True)]
    return {name: float(np.mean([s[name].fmeasure for s in per_source])) for name in ROUGE_TYPES}


def java_available() -> bool:
    try:
        require_java()
    except ConfigError:
        return False
    return True


@dataclass
class TextGenerationConfig(DatasetSplitsConfig, GenerationConfig):
    # folder the file names are relative to (default: the working directory)
    data_dir: str | None = "."
    # JSONL, CSV or TSV files (by extension)
    train_file: str | None = None
    eval_file: str | None = None
    source_field: str = "source"
    # a text, or in JSONL a list of texts (several references); repeated sources also add references
    target_field: str = "target"
    length_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.source_field == self.target_field:
            raise bad_value("task.target_field", self.target_field, "must differ from task.source_field")


@register_task("text_generation")
class TextGeneration(OwnDataSplits, GenerationTask):
    """Source -> target text generation with a causal LM, read from your JSONL/CSV/TSV files or a dataset."""

    Config = TextGenerationConfig
    file_hint = "your train and eval files (JSONL, CSV or TSV)"

    def validate(self) -> None:
        for key in ("train", "eval"):
            self.split_rows(key)  # files or dataset splits read, columns checked: before any model
        try:
            import rouge_score  # noqa: F401  (scores every evaluation: fail now, not after training)
        except ImportError:
            raise ConfigError(
                "task=text_generation scores ROUGE with rouge-score: pip install rouge-score"
            ) from None
        self.check_settings()  # the data checks of GenerationTask.validate are split_rows' here

    def data_folder(self) -> str | None:
        return self.cfg.data_dir

    def columns(self) -> list[tuple[str, str]]:
        return [("source_field", self.cfg.source_field), ("target_field", self.cfg.target_field)]

    def load(self) -> DatasetDict:
        train, evaluation = (
            [{"source": s, "reference": r} for s, r in self.pairs(*self.split_rows(key))]
            for key in ("train", "eval")
        )
        return self.splits(train, evaluation)

    def read_pairs(self, path: Path, evaluation: bool) -> list[tuple[str, str]]:
        rows = read_rows(path)
        check_columns(path, rows, self.columns())
        return self.pairs(path, rows)

    def pairs(self, path: Path, rows: list[Row]) -> list[tuple[str, str]]:
        """(source, target) pairs of checked rows, one per target."""
        source_field, target_field = self.cfg.source_field, self.cfg.target_field
        pairs = []
        for n, row in rows:
            source = text_value(path, n, source_field, row[source_field])
            value = row[target_field]
            targets = value if isinstance(value, list) else [value]
            texts = [text_value(path, n, target_field, t) for t in targets]
            if not source.strip() or not texts or not all(t.strip() for t in texts):
                raise bad_data(path, n, f"empty {source_field!r} or {target_field!r}")
            pairs.extend((source, text) for text in texts)
        return pairs

    def score(self, refs: list[list[str]], hyps: list[str]) -> dict[str, float]:
        scores = {"BLEU": corpus_bleu(refs, hyps), **rouge_f(refs, hyps)}
        if java_available():
            scores["METEOR"] = meteor_score(refs, hyps)
        return scores
