"""Shared base for data-to-text generation tasks (E2E, WebNLG, DART) with a causal LM.

Training example (one per (source, reference) pair), as the LoRA repository's ``gpt2_encode.py --add_bos
--add_eos`` builds it: ``<source> <sep> <reference> <eos>``, where ``<sep>`` is the tokenizer's bos token (GPT-2:
``<|endoftext|>``; tokenizers without one use eos). The loss is on the reference and eos only: ``labels`` are
-100 on the prompt (source + separator). ``prompt_end`` = the prompt's length, so a prefix method's infix sits
between the separator and the first generated token.

Evaluation decodes one hypothesis per unique source with beam search on the prompt ``input_ids[:prompt_end]`` of
the tokenised evaluation examples. Those already carry the method's virtual tokens (the method's
``example_transform`` moves ``prompt_end`` past the infix), so prefix methods decode with the very positions they
were trained with, and the task needs no knowledge of the method.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from adaptbench.harness.api import ConfigError, Task, bad_choice, bad_data, bad_value
from adaptbench.tasks.metrics.coco import require_java

if TYPE_CHECKING:  # ``datasets`` loads only when a dataset is built, not to count parameters; torch and
    # transformers only to train or decode (``adaptbench score`` imports this module and needs neither)
    import torch
    from datasets import DatasetDict
    from torch import nn
    from transformers import PreTrainedTokenizerBase

    from adaptbench.harness.api import EvalContext

TOKEN_FIELDS = ("input_ids", "attention_mask", "token_type_ids", "labels")


@dataclass
class DecodingConfig:
    """How evaluation decodes: beam search as in the paper's Appendix D (GPT-2 NLG) unless a task says otherwise."""

    num_beams: int = 10
    length_penalty: float = 0.9
    no_repeat_ngram_size: int = 4
    max_new_tokens: int = 64


LOSS_ON = ("answer", "all")


@dataclass
class PromptConfig:
    """A prompt format: what goes into the context, what separates it from the answer, where the loss is.

    ``context_template`` is a ``str.format`` template over the task's fields (null: the task's default).
    ``separator`` is text placed between context and answer; null means the tokenizer's bos token (eos
    without one), as the LoRA repository's GPT-2 NLG data (``gpt2_encode.py --add_bos``). The answer follows
    with a space in front unless the separator ends in whitespace. ``loss_on=answer`` computes the loss on the
    answer tokens (and eos) only, ``all`` on the context and separator too.
    """

    context_template: str | None = None
    separator: str | None = None
    loss_on: str = "answer"

    def __post_init__(self) -> None:
        if self.loss_on not in LOSS_ON:
            raise bad_choice("task.loss_on", self.loss_on, LOSS_ON)


@dataclass
class GenerationConfig(DecodingConfig):
    """Settings shared by the NLG tasks; subclasses give data and decoding defaults of their own."""

    # Folder holding train_file and eval_file (no hub fallback: the tasks read the files the LoRA paper used).
    data_dir: str | None = None
    train_file: str = "train.txt"
    eval_file: str = "valid.txt"
    # Decode only the first N unique sources of eval_file (null = all): decoding is the costly part.
    max_eval_sources: int | None = None


def check_decoding(cfg: DecodingConfig) -> None:
    """The decoding settings' ranges, as one-line errors."""
    for key in ("num_beams", "max_new_tokens"):
        if getattr(cfg, key) < 1:
            raise bad_value(f"task.{key}", getattr(cfg, key), "must be >= 1")
    if cfg.no_repeat_ngram_size < 0:
        raise bad_value("task.no_repeat_ngram_size", cfg.no_repeat_ngram_size, "must be >= 0 (0 = off)")


def template_fields(template: str) -> list[str]:
    """The field names a ``str.format`` template uses."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def check_template(template: str, fields: Sequence[str]) -> None:
    """A context template may name only the task's fields (``{premise}``, ``{question}``, ...)."""
    try:
        used = template_fields(template)
    except ValueError as err:
        raise bad_value("task.context_template", template, f"not a str.format template ({err})") from None
    unknown = [name for name in used if name not in fields]
    if unknown:
        raise bad_value(
            "task.context_template", template, f"{{{unknown[0]}}} is not a field; fields: {', '.join(fields)}"
        )


def separator_ids(separator: str | None, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The separator's token ids: the bos token (eos without one) for null, else the text's tokens."""
    if separator is not None:
        return tokenizer(separator, add_special_tokens=False)["input_ids"]
    sep = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if sep is None:
        raise ConfigError("the tokenizer has neither a bos nor an eos token to separate source and text")
    return [sep]


def answer_text(separator: str | None, answer: str) -> str:
    """The answer as it follows the separator: after a space, unless the separator text ends in whitespace."""
    return answer if separator and separator[-1].isspace() else " " + answer


def encode_example(
    context: str,
    answer: str,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    separator: str | None = None,
    loss_on: str = "answer",
) -> dict:
    """One training example ``<context> <separator> <answer> <eos>``; labels are -100 on the prompt (context +
    separator) unless ``loss_on=all``. The context is cut so the prompt keeps at least one answer position
    within ``max_length``; ``prompt_end`` is the prompt's length."""
    sep = separator_ids(separator, tokenizer)
    if max_length < len(sep) + 2:
        raise ConfigError(f"max sequence length {max_length} leaves no room for source, separator and text")
    src = tokenizer(context, add_special_tokens=False)["input_ids"]
    ref = tokenizer(answer_text(separator, answer), add_special_tokens=False)["input_ids"]
    prompt = src[: max_length - len(sep) - 1] + sep
    completion = (ref + [tokenizer.eos_token_id])[: max_length - len(prompt)]
    ids = prompt + completion
    masked = list(prompt) if loss_on == "all" else [-100] * len(prompt)
    return {
        "input_ids": ids,
        "attention_mask": [1] * len(ids),
        "labels": masked + completion,
        "prompt_end": len(prompt),
    }


def generation_collator(tokenizer: PreTrainedTokenizerBase) -> Any:
    """Pads input_ids/attention_mask and labels (with -100); drops prompt_end and the text columns."""
    from transformers import DataCollatorForSeq2Seq

    pad = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)

    def collate(features: list[dict]) -> dict:
        return pad([{k: v for k, v in f.items() if k in TOKEN_FIELDS} for f in features])

    return collate


def generate(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    batch_size: int,
    device: torch.device,
    cfg: DecodingConfig,
) -> list[str]:
    """Beam-search outputs for token-id prompts (left-padded batches), decoded without special tokens."""
    import torch
    from tqdm.auto import tqdm
    from transformers import LogitsProcessorList

    from adaptbench.tasks._decoding import GeneratedNoRepeatNGram

    with torch.no_grad():
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        outputs: list[str] = []
        starts = range(0, len(prompts), max(1, batch_size))
        for start in tqdm(starts, desc="decoding", unit="batch", disable=len(starts) < 2, leave=False):
            chunk = prompts[start : start + batch_size]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in chunk], device=device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device)
            processors = LogitsProcessorList()
            if cfg.no_repeat_ngram_size > 0:
                processors.append(GeneratedNoRepeatNGram(cfg.no_repeat_ngram_size, width))
            generated = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                num_beams=cfg.num_beams,
                length_penalty=cfg.length_penalty,
                early_stopping=True,
                max_new_tokens=cfg.max_new_tokens,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=pad_id,
                logits_processor=processors,
            )
            for row in generated[:, width:].tolist():
                if tokenizer.eos_token_id in row:
                    row = row[: row.index(tokenizer.eos_token_id)]
                outputs.append(" ".join(tokenizer.decode(row, skip_special_tokens=True).split()))
        return outputs


def source_groups(pairs: list[tuple[str, str]]) -> tuple[list[str], list[list[str]]]:
    """Unique sources in first-appearance order and all references of each."""
    groups: dict[str, list[str]] = {}
    for source, ref in pairs:
        groups.setdefault(source, []).append(ref)
    return list(groups), list(groups.values())


# ------------------------------------------------------------------------------ text files of any dataset


def read_text(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"file not found: {path}")
    return path.read_text(encoding="utf-8-sig")


def text_lines(text: str) -> list[str]:
    """Split at "\n" only (as iterating over a file does; ``str.splitlines`` would also split at U+2028, form
    feeds etc. inside a generated text), without the empty string after a final newline."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def is_source_text_file(path: Path) -> bool:
    """Whether the first non-empty line of ``path`` has the ``source || text`` separator."""
    first = next((line for line in text_lines(read_text(path)) if line.strip()), "")
    return "||" in first


def read_source_text_lines(path: Path) -> list[tuple[str, str]]:
    """(source, text) pairs of ``source || text`` lines (the LoRA repository's E2E layout); blank lines skipped."""
    pairs = []
    for number, line in enumerate(text_lines(read_text(path)), start=1):
        if not line.strip():
            continue
        source, sep, text = line.partition("||")
        if not sep:
            raise bad_data(path, number, "no 'source || text' separator")
        pairs.append((source.strip(), text.strip()))
    return pairs


def read_blank_line_groups(path: Path) -> list[list[str]]:
    """e2e-metrics' multi-reference text: references of one source on consecutive lines, an empty line between
    sources."""
    groups: list[list[str]] = [[]]
    for line in text_lines(read_text(path)):
        if line.strip():
            groups[-1].append(line.strip())
        elif groups[-1]:
            groups.append([])
    return [group for group in groups if group]


def read_reference_folder(path: Path) -> list[list[str]]:
    """GenerationEval's references: files ``reference0``, ``reference1``, ... in ``path``, line i of each a
    reference of source i (empty where a source has fewer)."""
    files = sorted(path.glob("reference*"), key=lambda f: (len(f.name), f.name))
    if not files:
        raise bad_data(path, None, "folder has no reference0, reference1, ... files")
    columns = [text_lines(read_text(f)) for f in files]
    for f, column in zip(files, columns, strict=True):
        if len(column) != len(columns[0]):
            raise bad_data(f, None, f"{len(column)} lines, but {files[0].name} has {len(columns[0])}")
    return [[c[i].strip() for c in columns if c[i].strip()] for i in range(len(columns[0]))]


def read_hyps(path: Path) -> list[str]:
    """System outputs, one per line, whitespace stripped; empty lines are empty outputs, but the final newline
    ends the last line (it starts no extra output)."""
    return [line.strip() for line in text_lines(read_text(path))]


class GenerationTask(Task):
    """A data-to-text task: subclasses implement ``read_pairs`` (file -> (source, reference) pairs), ``score``,
    ``file_hint`` (what data_dir should hold) and ``data_suffixes`` (the suffixes of its own data files);
    ``java_needed_by`` names the metrics that cannot run without java, if any."""

    kind = "generation"
    metric_for_best = "BLEU"
    Config = GenerationConfig
    file_hint: ClassVar[str] = ""
    data_suffixes: ClassVar[tuple[str, ...]] = ()
    java_needed_by: ClassVar[str] = ""

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self._evaluations = 0  # numbers the hypothesis files of successive evaluations

    # ---------------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        self.check_data_files()
        self.check_settings()

    def check_data_files(self) -> None:
        cfg = self.cfg
        if cfg.data_dir is None:
            raise ConfigError(
                f"task.data_dir is null: set it to a folder with {self.file_hint} "
                f"(task.train_file={cfg.train_file!r}, task.eval_file={cfg.eval_file!r})"
            )
        folder = Path(cfg.data_dir)
        if not folder.is_dir():
            raise ConfigError(
                f"task.data_dir={cfg.data_dir!r} is not a directory; expected a folder with {self.file_hint}"
            )
        for key in ("train_file", "eval_file"):
            name = getattr(cfg, key)
            if not (folder / name).is_file():
                raise ConfigError(
                    f"task.{key}={name!r} not found in task.data_dir={cfg.data_dir!r}; expected {self.file_hint}"
                )

    def check_settings(self) -> None:
        cfg = self.cfg
        check_decoding(cfg)
        if cfg.max_eval_sources is not None and cfg.max_eval_sources < 1:
            raise bad_value("task.max_eval_sources", cfg.max_eval_sources, "must be >= 1 or null (all)")
        if self.java_needed_by:
            require_java(self.java_needed_by)  # now, not at the first evaluation after training

    # ---------------------------------------------------------------------------------------- data
    def read_pairs(self, path: Path, evaluation: bool) -> list[tuple[str, str]]:
        """(source, reference) pairs of one data file, one per reference (``evaluation``: it is eval_file)."""
        raise NotImplementedError

    def read_records(self, path: Path, evaluation: bool) -> list[dict[str, Any]]:
        """The examples of one data file as dataset rows: ``source``, ``reference`` and whatever else the task's
        scoring reads (WikiSQL: the table and the gold query)."""
        return [{"source": s, "reference": r} for s, r in self.read_pairs(path, evaluation)]

    def load(self) -> DatasetDict:
        folder = Path(self.cfg.data_dir)
        train = self.read_records(folder / self.cfg.train_file, evaluation=False)
        evaluation = self.read_records(folder / self.cfg.eval_file, evaluation=True)
        return self.splits(train, evaluation)

    def splits(self, train: list[dict[str, Any]], evaluation: list[dict[str, Any]]) -> DatasetDict:
        """``train`` and ``validation`` datasets of the rows read (the first ``max_eval_sources`` sources kept)."""
        from datasets import Dataset, DatasetDict

        if self.cfg.max_eval_sources is not None:
            keep = set(list(dict.fromkeys(r["source"] for r in evaluation))[: self.cfg.max_eval_sources])
            evaluation = [row for row in evaluation if row["source"] in keep]
        for name, rows in (("train_file", train), ("eval_file", evaluation)):
            if not rows:
                raise ConfigError(
                    f"task.{name}={getattr(self.cfg, name)!r}: no (source, reference) pairs read"
                )
        return DatasetDict({"train": Dataset.from_list(train), "validation": Dataset.from_list(evaluation)})

    # The prompt format: subclasses with a PromptConfig read it from their settings.
    def prompt_format(self) -> tuple[str | None, str]:
        """(separator, loss_on) of the training examples: the bos token, loss on the answer only."""
        return None, "answer"

    @staticmethod
    def separator_id(tokenizer: PreTrainedTokenizerBase) -> int:
        return separator_ids(None, tokenizer)[0]

    def encode_pair(
        self, source: str, reference: str, tokenizer: PreTrainedTokenizerBase, max_length: int
    ) -> dict:
        """One training example; the prompt keeps at least one completion position within ``max_length``."""
        separator, loss_on = self.prompt_format()
        return encode_example(source, reference, tokenizer, max_length, separator, loss_on)

    def preprocess(self, raw: Any, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Any:
        """Tokenised splits; evaluation splits keep ``source`` and ``reference`` for grouping and scoring."""
        from datasets import DatasetDict

        def encode(batch: dict) -> dict:
            rows = [
                self.encode_pair(s, r, tokenizer, max_length)
                for s, r in zip(batch["source"], batch["reference"], strict=True)
            ]
            return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}

        out = {}
        for split, dataset in raw.items():
            remove = dataset.column_names if split == "train" else []
            out[split] = dataset.map(encode, batched=True, remove_columns=remove)
        return DatasetDict(out)

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        return generation_collator(tokenizer)

    # ---------------------------------------------------------------------------------------- decoding
    def generate(
        self,
        model: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        prompts: list[list[int]],
        batch_size: int,
        device: torch.device,
    ) -> list[str]:
        """Beam-search outputs for token-id prompts with this task's decoding settings."""
        return generate(model, tokenizer, prompts, batch_size, device, self.cfg)

    # ---------------------------------------------------------------------------------------- scoring
    def score(self, refs: list[list[str]], hyps: list[str]) -> dict[str, float]:
        """The task's metrics of ``hyps[i]`` against ``refs[i]`` (all references of source i)."""
        raise NotImplementedError

    def score_decoded(
        self, dataset: Any, sources: list[str], refs: list[list[str]], hyps: list[str]
    ) -> dict[str, float]:
        """The scores of one evaluation split's outputs; ``dataset`` holds the rows' other columns for tasks
        whose metric needs more than the references (WikiSQL's execution accuracy)."""
        return self.score(refs, hyps)

    def reference_groups(self, path: Path) -> list[list[str]]:
        """The references of a file, grouped by source in first-appearance order. Accepted: the task's own
        data files (``data_suffixes``, read by ``read_pairs``), ``source || text`` lines, GenerationEval's
        folder of ``reference0``, ``reference1``, ... files, and e2e-metrics' plain text (references of one
        source on consecutive lines, an empty line between sources)."""
        if path.is_dir():
            return read_reference_folder(path)
        if path.suffix.lower() in self.data_suffixes:
            return source_groups(self.read_pairs(path, evaluation=True))[1]
        if is_source_text_file(path):
            return source_groups(read_source_text_lines(path))[1]
        return read_blank_line_groups(path)

    def scoring_inputs(self, refs_path: Path, hyps_path: Path) -> tuple[list[list[str]], list[str]]:
        """What ``adaptbench score`` compares: the reference groups of ``refs_path`` (see
        :meth:`reference_groups`) and the hypotheses of ``hyps_path``, one line per source in the order the
        sources first appear there."""
        refs = self.reference_groups(refs_path)
        hyps = read_hyps(hyps_path)
        while len(hyps) > len(refs) and not hyps[-1]:
            hyps.pop()  # blank lines at the end of the file, not empty outputs
        if len(hyps) != len(refs):
            problem = f"{len(hyps)} hypotheses (one per line) for {len(refs)} unique sources in {refs_path}"
            raise bad_data(hyps_path, None, problem)
        return refs, hyps

    @classmethod
    def score_files(
        cls, refs_path: str | os.PathLike[str], hyps_path: str | os.PathLike[str]
    ) -> dict[str, float]:
        """``adaptbench score <task>``: the task's metrics of a hypothesis file against a reference file."""
        if cls.java_needed_by:
            require_java(cls.java_needed_by)
        task = cls(cls.Config())
        return task.score(*task.scoring_inputs(Path(refs_path), Path(hyps_path)))

    def evaluate(
        self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, data: Any, ctx: EvalContext
    ) -> dict:
        """Decode each unique source once, score against all its references; ``validation`` unprefixed."""
        self._evaluations += 1
        was_training = model.training
        model.eval()
        result: dict[str, float] = {}
        try:
            for split, dataset in data.items():
                prompts: dict[str, list[int]] = {}
                refs: dict[str, list[str]] = {}
                for source, reference, ids, end in zip(
                    dataset["source"],
                    dataset["reference"],
                    dataset["input_ids"],
                    dataset["prompt_end"],
                    strict=True,
                ):
                    prompts.setdefault(source, list(ids[:end]))
                    refs.setdefault(source, []).append(reference)
                sources = list(prompts)  # load() already kept only the first max_eval_sources
                hyps = self.generate(
                    model, tokenizer, [prompts[s] for s in sources], ctx.batch_size, ctx.device
                )
                groups = [refs[s] for s in sources]
                self.write_outputs(ctx, split, sources, groups, hyps)
                prefix = "" if split == "validation" else f"{split}_"
                scores = self.score_decoded(dataset, sources, groups, hyps)
                result.update({prefix + k: v for k, v in scores.items()})
                result[prefix + "num_sources"] = float(len(sources))
        finally:
            model.train(was_training)
        return result

    def write_outputs(
        self, ctx: EvalContext, split: str, sources: list[str], refs: list[list[str]], hyps: list[str]
    ) -> None:
        """``<output_dir>/<split>_hypotheses_eval<k>.txt`` (one line per source, k = 1, 2, ... per evaluation)
        and, once, ``<split>_references.txt`` (references of one source on consecutive lines, sources separated
        by an empty line: the e2e-metrics multi-reference layout) and ``<split>_sources.txt``."""
        if not ctx.output_dir:
            return
        out = Path(ctx.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{split}_hypotheses_eval{self._evaluations}.txt").write_text(
            "".join(h.replace("\n", " ") + "\n" for h in hyps), encoding="utf-8"
        )
        ref_file = out / f"{split}_references.txt"
        if not ref_file.exists():
            ref_file.write_text(
                "\n".join("".join(r + "\n" for r in group) for group in refs), encoding="utf-8"
            )
            (out / f"{split}_sources.txt").write_text("".join(s + "\n" for s in sources), encoding="utf-8")


def __getattr__(name: str) -> Any:
    """``GeneratedNoRepeatNGram`` lives in :mod:`adaptbench.tasks._decoding` (it subclasses a transformers class,
    so defining it imports transformers); still importable from here, loaded when first asked for."""
    if name == "GeneratedNoRepeatNGram":
        from adaptbench.tasks._decoding import GeneratedNoRepeatNGram

        return GeneratedNoRepeatNGram
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------ prompted tasks (GPT-3 datasets)


@dataclass
class PromptedGenerationConfig(GenerationConfig, PromptConfig):
    """A generation task with a prompt format of its own, read from its original files or the hub."""

    # null: read the hub dataset hub_dataset (internet or cache) instead of files
    data_dir: str | None = None
    hub_dataset: str | None = None


class PromptedGenerationTask(GenerationTask):
    """A task of the paper's GPT-3 experiments (WikiSQL, SAMSum): examples from the original files in
    ``task.data_dir`` or from the hub dataset ``task.hub_dataset`` (``data_dir=null``), the same rows either way;
    the context built by ``task.context_template`` over ``fields``; ``task.separator`` and ``task.loss_on`` shape
    the training examples (:class:`PromptConfig`).

    Subclasses implement ``read_records`` (one original file) and ``hub_records`` (one hub split), and name in
    ``hub_splits`` the hub split that stands for each original file name."""

    Config = PromptedGenerationConfig
    fields: ClassVar[tuple[str, ...]] = ()
    hub_splits: ClassVar[dict[str, str]] = {}

    def validate(self) -> None:
        check_template(self.cfg.context_template or "", self.fields)
        if self.cfg.data_dir is not None:
            self.check_data_files()
        elif not self.cfg.hub_dataset:
            raise ConfigError(
                f"task.data_dir and task.hub_dataset are null: set task.data_dir to a folder with "
                f"{self.file_hint}, or task.hub_dataset to a hub dataset name"
            )
        else:
            for key in ("train_file", "eval_file"):
                name = getattr(self.cfg, key)
                if name not in self.hub_splits:
                    raise bad_choice(f"task.{key} (with task.hub_dataset)", name, self.hub_splits)
        self.check_settings()

    def prompt_format(self) -> tuple[str | None, str]:
        return self.cfg.separator, self.cfg.loss_on

    def context(self, values: dict[str, str]) -> str:
        """The context of one example: ``task.context_template`` filled with its fields."""
        return self.cfg.context_template.format_map(values)

    def hub_records(self, rows: Any, split: str) -> list[dict[str, Any]]:
        """The rows of one hub split as ``read_records`` gives them for the original file."""
        raise NotImplementedError

    def load(self) -> DatasetDict:
        if self.cfg.data_dir is not None:
            return super().load()
        from datasets import load_dataset

        name = self.cfg.hub_dataset
        try:
            hub = load_dataset(name)
        except Exception as err:  # noqa: BLE001 -- any failure here means: no hub access or no such dataset
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(
                f"task.hub_dataset={name!r}: load_dataset failed ({first}); set task.data_dir to a folder "
                f"with {self.file_hint}"
            ) from None
        train, evaluation = (
            self.hub_records(
                hub[self.hub_splits[getattr(self.cfg, key)]], self.hub_splits[getattr(self.cfg, key)]
            )
            for key in ("train_file", "eval_file")
        )
        return self.splits(train, evaluation)
