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

from adaptbench.harness.api import ConfigError, bad_choice, bad_data, bad_value, register_task
from adaptbench.tasks._classification import SequenceTask, read_data_text
from adaptbench.tasks._generation import (
    DecodingConfig,
    PromptConfig,
    check_decoding,
    check_template,
    encode_example,
    generate,
    generation_collator,
)
from adaptbench.tasks.metrics.glue import GLUE_MAIN_METRIC, glue_metric

if TYPE_CHECKING:  # ``datasets`` loads (~0.75 s) only when a dataset is built, not to count parameters; torch
    # and transformers only to train or evaluate
    from datasets import Dataset, DatasetDict, Features
    from torch import nn
    from transformers import PreTrainedTokenizerBase

    from adaptbench.harness.api import EvalContext

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


FORMS = ("classification", "generation")


@dataclass
class GlueConfig(PromptConfig, DecodingConfig):
    # null = Hugging Face datasets.load_dataset("nyu-mll/glue", <config>) (internet or cache); else a folder
    # holding the GLUE TSV files of this task (train.tsv + dev.tsv; MNLI: dev_matched.tsv + dev_mismatched.tsv)
    data_dir: str | None = None
    # classification: a classification head on the encoder/decoder; generation: a causal LM generates the
    # label word (the label's name, e.g. "entailment") after the prompt, as the paper ran GPT-3; accuracy is
    # exact match of the generated word. The prompt settings below are read in the generation form only.
    form: str = "classification"
    separator: str | None = "\nanswer:"
    num_beams: int = 1
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    max_new_tokens: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.form not in FORMS:
            raise bad_choice("task.form", self.form, FORMS)


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

    @property
    def kind(self) -> str:  # type: ignore[override]  # the form setting decides
        return "generation" if self.cfg.form == "generation" else "classification"

    @property
    def generative(self) -> bool:
        return self.cfg.form == "generation"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the best epoch is chosen by the number the paper reports for the task
        cls.metric_for_best = GLUE_MAIN_METRIC[cls.hub_config]

    # ---------------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        if self.generative:
            if self.label_names is None:
                raise bad_value(
                    "task.form", "generation", f"task={self.name} is a regression (a score, no label word)"
                )
            check_template(self.context_template(), self.text_fields)
            check_decoding(self.cfg)
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

    # ---------------------------------------------------------------------------------------- generation form
    def context_template(self) -> str:
        """``task.context_template``, or by default each text field on a line and the label words asked for."""
        if self.cfg.context_template is not None:
            return self.cfg.context_template
        words = ", ".join(self.label_names or ())
        return "\n".join(f"{{{field}}}" for field in self.text_fields) + f"\n{words}?"

    def preprocess(self, raw: Any, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Any:
        """Classification: the encoder's input. Generation: ``<context> <separator> <label word> <eos>``, the
        loss on the label word; evaluation splits keep ``label``."""
        if not self.generative:
            return super().preprocess(raw, tokenizer, max_length)
        from datasets import DatasetDict

        template, cfg = self.context_template(), self.cfg

        def encode(batch: dict) -> dict:
            rows = [
                encode_example(
                    template.format_map({f: batch[f][i] for f in self.text_fields}),
                    self.label_names[label],
                    tokenizer,
                    max_length,
                    cfg.separator,
                    cfg.loss_on,
                )
                for i, label in enumerate(batch["label"])
            ]
            return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}

        out = {}
        for split, dataset in raw.items():
            drop = [c for c in dataset.column_names if split == "train" or c != "label"]
            out[split] = dataset.map(encode, batched=True, remove_columns=drop)
        return DatasetDict(out)

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        return generation_collator(tokenizer) if self.generative else super().collator(tokenizer)

    def label_ids(self, words: list[str]) -> np.ndarray:
        """The label id of each generated text: the label whose word it is exactly (surrounding spaces
        aside), else -1 (wrong under every metric)."""
        names = list(self.label_names or ())
        return np.array([names.index(w.strip()) if w.strip() in names else -1 for w in words])

    def evaluate(
        self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, data: Any, ctx: EvalContext
    ) -> dict:
        """Generation form: the label word decoded after each prompt, scored by the task's GLUE metrics (its
        accuracy is exact match); classification form: the head's argmax."""
        if not self.generative:
            return super().evaluate(model, tokenizer, data, ctx)
        was_training = model.training
        model.eval()
        result: dict[str, float] = {}
        try:
            for split, dataset in data.items():
                prompts = [
                    ids[:end] for ids, end in zip(dataset["input_ids"], dataset["prompt_end"], strict=True)
                ]
                words = generate(model, tokenizer, prompts, ctx.batch_size, ctx.device, self.cfg)
                labels = np.array(dataset["label"])
                metrics = self.metrics(self.label_ids(words), labels)
                metrics["majority_baseline"] = float(np.bincount(labels).max() / len(labels))
                prefix = "" if split == "validation" else f"{split}_"
                result.update({prefix + k: v for k, v in metrics.items()})
        finally:
            model.train(was_training)
        return result

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
