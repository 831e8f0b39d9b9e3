"""The GLUE tasks of the LoRA paper's Table 2: MNLI, SST-2, MRPC, CoLA, QNLI, QQP, RTE, STS-B.

Data comes either from the Hugging Face hub (``task.data_dir=null``: ``load_dataset("nyu-mll/glue", <config>)``,
needs internet or a filled cache) or from a folder of GLUE TSV files (``task.data_dir=<folder>``). Both give a
``datasets.DatasetDict`` with the hub's column names and label ids (the TSVs' string labels such as
``entailment`` are mapped to the hub's ids), so tokenisation and scoring are one code path.

TSV reading: tab-separated, ``csv.QUOTE_NONE`` (GLUE's sentences contain unbalanced quotes), columns found by
header name (``#1 String`` = ``sentence1``, ``gold_label``/``Quality``/``is_duplicate``/``score`` = ``label``,
...). CoLA's files have no header (source, label, mark, sentence). A file whose header is the hub's own
column names plus ``idx`` (a Hugging Face export, e.g. ``../shared/data/glue_rte``) is read with normal CSV
quoting, as pandas wrote it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from adaptbench.harness.api import ConfigError, bad_data, register_task
from adaptbench.tasks._classification import SequenceTask, read_data_text
from adaptbench.tasks.metrics.glue import GLUE_MAIN_METRIC, glue_metric

if TYPE_CHECKING:  # ``datasets`` loads (~0.75 s) only when a dataset is built, not to count parameters
    from datasets import Dataset, DatasetDict, Features

# The hub column a TSV header name stands for (header names are matched case-sensitively first, then lowercased).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "sentence": ("sentence",),
    "sentence1": ("sentence1", "#1 String"),
    "sentence2": ("sentence2", "#2 String"),
    "question": ("question",),
    "question1": ("question1",),
    "question2": ("question2",),
    "premise": ("premise", "sentence1"),
    "hypothesis": ("hypothesis", "sentence2"),
    "label": ("label", "gold_label", "Quality", "is_duplicate", "score"),
}


@dataclass
class GlueConfig:
    # null = Hugging Face datasets.load_dataset("nyu-mll/glue", <config>) (internet or cache); else a folder
    # holding the GLUE TSV files of this task (train.tsv + dev.tsv; MNLI: dev_matched.tsv + dev_mismatched.tsv)
    data_dir: str | None = None


def parse_tsv(path: Path, lines: list[str], quoting: int) -> list[list[str]]:
    """Tab-separated rows; a line the csv module refuses (a field over its size limit, ...) fails as one line
    naming the file and the line."""
    reader = csv.reader(lines, delimiter="\t", quoting=quoting)
    try:
        return list(reader)
    except csv.Error as err:
        raise bad_data(path, reader.line_num, str(err)) from None


class GlueTask(SequenceTask):
    """One GLUE task; subclasses set the hub config, columns, label names and file names."""

    Config = GlueConfig
    hub_config: ClassVar[str]
    # None: regression (float label)
    label_names: ClassVar[tuple[str, ...] | None] = ("negative", "positive")
    # split name -> TSV file name inside data_dir
    files: ClassVar[dict[str, str]] = {"train": "train.tsv", "validation": "dev.tsv"}
    # split name on the hub -> our split name (test splits are dropped)
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "validation": "validation"}
    # column positions for header-less files (CoLA): hub column -> index
    headerless_columns: ClassVar[dict[str, int] | None] = None

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the best epoch is chosen by the number the paper reports for the task
        cls.metric_for_best = GLUE_MAIN_METRIC[cls.hub_config]

    # ---------------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        if self.cfg.data_dir is not None:
            folder = Path(self.cfg.data_dir)
            expected = ", ".join(self.files.values())
            if not folder.is_dir():
                raise ConfigError(
                    f"task.data_dir={self.cfg.data_dir!r} is not a directory; expected a folder with the GLUE "
                    f"{self.name} files {expected} (or task.data_dir=null for the Hugging Face hub)"
                )
            missing = [f for f in self.files.values() if not (folder / f).is_file()]
            if missing:
                raise ConfigError(
                    f"task.data_dir={self.cfg.data_dir!r} lacks {', '.join(missing)}; expected the GLUE "
                    f"{self.name} files {expected}"
                )

    # ---------------------------------------------------------------------------------------- loading
    def features(self) -> Features:
        from datasets import ClassLabel, Features, Value

        columns: dict[str, Any] = {field: Value("string") for field in self.text_fields}
        columns["label"] = (
            Value("float32") if self.label_names is None else ClassLabel(names=list(self.label_names))
        )
        columns["idx"] = Value("int32")
        return Features(columns)

    def load(self) -> DatasetDict:
        from datasets import DatasetDict

        if self.cfg.data_dir is None:
            return self.load_hub()
        folder = Path(self.cfg.data_dir)
        return DatasetDict({split: self.read_tsv(folder / name) for split, name in self.files.items()})

    def load_hub(self) -> DatasetDict:
        from datasets import DatasetDict, load_dataset

        try:
            hub = load_dataset("nyu-mll/glue", self.hub_config)
        except Exception as err:  # noqa: BLE001 -- any failure here means: no hub access
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(
                f"task.data_dir=null: load_dataset('nyu-mll/glue', {self.hub_config!r}) failed ({first}); "
                f"set task.data_dir to a folder with the GLUE {self.name} files {', '.join(self.files.values())}"
            ) from None
        return DatasetDict({ours: hub[theirs] for theirs, ours in self.hub_splits.items()})

    def _label(self, value: str, path: Path, line: int) -> Any:
        value = value.strip()
        if self.label_names is None:
            try:
                return float(value)
            except ValueError:
                raise bad_data(path, line, f"score {value!r} is not a number") from None
        if value in self.label_names:
            return self.label_names.index(value)
        try:
            label = int(value)
        except ValueError:
            label = -1
        if not 0 <= label < len(self.label_names):
            raise bad_data(
                path,
                line,
                f"label {value!r} is not one of {', '.join(self.label_names)} or 0..{len(self.label_names) - 1}",
            )
        return label

    def read_tsv(self, path: Path) -> Dataset:
        """One GLUE TSV file as a Dataset with the hub's columns (text fields, ``label``, ``idx``)."""
        lines = read_data_text(path).splitlines()
        if not lines:
            raise bad_data(path, None, "empty file")
        wanted = (*self.text_fields, "label")
        if self.headerless_columns is not None:
            rows = parse_tsv(path, lines, csv.QUOTE_NONE)
            positions, first_line = self.headerless_columns, 1
        else:
            header = lines[0].split("\t")
            hf_export = "idx" in header and all(f in header for f in wanted)
            rows = parse_tsv(path, lines, csv.QUOTE_MINIMAL if hf_export else csv.QUOTE_NONE)
            header, rows = rows[0], rows[1:]
            positions = {}
            for field in wanted:
                found = next((header.index(a) for a in HEADER_ALIASES[field] if a in header), None)
                if found is None:
                    raise bad_data(
                        path,
                        1,
                        f"no column for {field!r} (looked for {', '.join(HEADER_ALIASES[field])}); "
                        f"header: {', '.join(header)}",
                    )
                positions[field] = found
            if (
                header[-1] == "score"
            ):  # STS-B: the score is the last field, also on rows with stray extra tabs
                positions["label"] = -1
            first_line = 2
        width = max(positions.values()) + 1
        columns: dict[str, list] = {field: [] for field in (*wanted, "idx")}
        bad: list[int] = []
        for n, row in enumerate(rows, start=first_line):
            if not row:
                continue
            if len(row) < width:
                bad.append(n)
                continue
            for field in self.text_fields:
                columns[field].append(row[positions[field]])
            columns["label"].append(self._label(row[positions["label"]], path, n))
            columns["idx"].append(len(columns["idx"]))
        if bad:
            raise bad_data(
                path,
                bad[0],
                f"fewer than {width} tab-separated fields ({len(bad)} such rows, lines {bad[:5]})",
            )
        if not columns["idx"]:
            raise bad_data(path, None, "no examples (only a header)" if first_line == 2 else "no examples")
        from datasets import Dataset

        return Dataset.from_dict(columns, features=self.features())

    # ---------------------------------------------------------------------------------------- scoring
    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """The GLUE metrics of this task plus ``main`` (the number the paper reports)."""
        return glue_metric(self.name, predictions, labels)


@register_task("mnli")
class Mnli(GlueTask):
    hub_config = "mnli"
    text_fields = ("premise", "hypothesis")
    label_names = ("entailment", "neutral", "contradiction")
    files = {
        "train": "train.tsv",
        "validation": "dev_matched.tsv",
        "validation_mismatched": "dev_mismatched.tsv",
    }
    hub_splits = {
        "train": "train",
        "validation_matched": "validation",
        "validation_mismatched": "validation_mismatched",
    }


@register_task("sst2")
class Sst2(GlueTask):
    hub_config = "sst2"
    text_fields = ("sentence",)
    label_names = ("negative", "positive")


@register_task("mrpc")
class Mrpc(GlueTask):
    hub_config = "mrpc"
    text_fields = ("sentence1", "sentence2")
    label_names = ("not_equivalent", "equivalent")


@register_task("cola")
class Cola(GlueTask):
    hub_config = "cola"
    text_fields = ("sentence",)
    label_names = ("unacceptable", "acceptable")
    # GLUE's CoLA TSVs have no header: source, label, original-label mark, sentence
    headerless_columns = {"label": 1, "sentence": 3}


@register_task("qnli")
class Qnli(GlueTask):
    hub_config = "qnli"
    text_fields = ("question", "sentence")
    label_names = ("entailment", "not_entailment")


@register_task("qqp")
class Qqp(GlueTask):
    hub_config = "qqp"
    text_fields = ("question1", "question2")
    label_names = ("not_duplicate", "duplicate")


@register_task("rte")
class Rte(GlueTask):
    hub_config = "rte"
    text_fields = ("sentence1", "sentence2")
    label_names = ("entailment", "not_entailment")


@register_task("stsb")
class Stsb(GlueTask):
    hub_config = "stsb"
    kind = "regression"
    text_fields = ("sentence1", "sentence2")
    label_names = None
