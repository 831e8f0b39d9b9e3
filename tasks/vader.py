"""The offline quickstart task: polarity (and mean rating) of the VADER sentiment lexicon's entries.

``vader_lexicon.txt`` ships inside the PyPI package ``vaderSentiment`` (MIT): 7,519 words and emoticons,
each with the mean of 10 human ratings on [-4, 4]. ``vader`` classifies polarity (mean > 0 vs < 0,
dropping the neutral band |mean| < ``neutral_band``); ``vader_rating`` regresses the mean rating.
The train/dev split is fixed by ``split_seed``, independent of the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptbench.harness.api import ConfigError, bad_data, bad_value, register_task
from adaptbench.tasks._classification import SequenceTask, read_data_text
from adaptbench.tasks.metrics.glue import accuracy, pearson_spearman

if TYPE_CHECKING:  # ``datasets`` loads only when a dataset is built, not to count parameters
    from datasets import DatasetDict


@dataclass
class VaderConfig:
    # null = the lexicon inside the installed vaderSentiment package
    lexicon: str | None = None
    dev_fraction: float = 0.2
    split_seed: int = 0
    neutral_band: float = 0.5


def read_lexicon(path: str | None) -> list[tuple[str, float]]:
    """(token, mean rating) for every line of a VADER lexicon file."""
    from adaptbench.harness.api import resolve_location  # its module imports torch: not at the task's import

    lexicon = Path(path or resolve_location("pkg:vaderSentiment/vader_lexicon.txt"))
    if not lexicon.is_file():
        raise ConfigError(f"task.lexicon={str(lexicon)!r} is not a file")
    rows = []
    for n, line in enumerate(read_data_text(lexicon).splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) >= 2:
            try:
                rows.append((fields[0], float(fields[1])))
            except ValueError:
                raise bad_data(lexicon, n, f"rating {fields[1]!r} is not a number") from None
    if not rows:
        raise bad_data(lexicon, None, "no entries (expected lines: token<TAB>mean rating)")
    return rows


class _VaderBase(SequenceTask):
    Config = VaderConfig
    text_fields = ("sentence",)

    def validate(self) -> None:
        if not 0 < self.cfg.dev_fraction < 1:
            raise bad_value("task.dev_fraction", self.cfg.dev_fraction, "must be between 0 and 1")
        if self.cfg.neutral_band < 0:
            raise bad_value("task.neutral_band", self.cfg.neutral_band, "must be >= 0")

    def rows(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def load(self) -> DatasetDict:
        from datasets import Dataset, DatasetDict

        rows = self.rows()
        order = np.random.default_rng(self.cfg.split_seed).permutation(len(rows))
        n_dev = int(round(len(rows) * self.cfg.dev_fraction))
        split = {"validation": order[:n_dev], "train": order[n_dev:]}
        return DatasetDict(
            {
                name: Dataset.from_dict(
                    {"sentence": [rows[i][0] for i in idx], "label": [rows[i][1] for i in idx]}
                )
                for name, idx in split.items()
            }
        )


@register_task("vader")
class VaderPolarity(_VaderBase):
    kind = "classification"
    metric_for_best = "accuracy"

    def rows(self) -> list[tuple[str, Any]]:
        band = self.cfg.neutral_band
        return [(token, int(mean > 0)) for token, mean in read_lexicon(self.cfg.lexicon) if abs(mean) >= band]

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return accuracy(predictions, labels)


@register_task("vader_rating")
class VaderRating(_VaderBase):
    kind = "regression"
    metric_for_best = "pearson"

    def rows(self) -> list[tuple[str, Any]]:
        return read_lexicon(self.cfg.lexicon)

    def metrics(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return pearson_spearman(predictions, labels)
