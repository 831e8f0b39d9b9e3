"""The LoRA paper's published tables (``results/paper/*.csv``) and its names for models and methods (a
method's is the ``paper_label`` of its YAML).

``adaptbench table --compare paper`` puts these numbers beside measured ones. The CSVs print numbers as the
paper does (``.3`` for 0.3, ``0.35M`` for a parameter count, ``+2.2%``); this module turns them into floats and
keeps the printed parameter label, since the label is what a reader looks up in the paper.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

# results/paper in the checkout; package data (adaptbench.paper_tables) of an installed wheel
PAPER_DIR = Path(str(files("adaptbench.paper_tables")))

MODEL_NAMES = {
    "roberta-base": "RoBERTa-base",
    "roberta-large": "RoBERTa-large",
    "deberta-v2-xxlarge": "DeBERTa-XXL",
    "gpt2-medium": "GPT-2 M",
    "gpt2-large": "GPT-2 L",
    "gpt3-175b": "GPT-3 175B",
}
# Tables 13 and 14 (DART, WebNLG) spell two methods differently from Tables 2-4.
PAPER_METHOD_ALIASES = {"Fine-Tune": "FT", "Prefix": "PreLayer"}

# Printed |Θ| values that disagree with the paper's own formula (results/paper/README.md lists them):
# (paper model, paper method, printed label) -> (the formula's count, how it is computed).
KNOWN_MISPRINTS: dict[tuple[str, str, str], tuple[int, str]] = {
    ("GPT-2 M", "LoRA", "0.35M"): (
        393_216,
        "2·L̂·d·r = 2·48·1024·4 (L̂ = 48 matrices: W_q, W_v of 24 layers; r=4)",
    ),
    ("GPT-2 L", "LoRA", "0.77M"): (
        737_280,
        "2·L̂·d·r = 2·72·1280·4 (L̂ = 72 matrices: W_q, W_v of 36 layers; r=4)",
    ),
    ("GPT-2 M", "FT", "354.92M"): (354_823_168, "the GPT-2 medium architecture"),
    ("GPT-3 175B", "PreLayer", "20.2M"): (
        18_874_368,
        "the paper's PreLayer formula L·d_model·(l_p + l_i) = 96·12288·(8 + 8)",
    ),
    # Table 15: LoRA r_q = r_v = 8 (2·96·2·12288·8 = 37,748,736) plus the prefix part, as Table 4 counts it
    ("GPT-3 175B", "LoRA+PE", "37.8M"): (
        37_896_192,
        "LoRA r_q=r_v=8 (2·L̂·d·r = 2·192·12288·8) plus PrefixEmbed's (l_p + l_i)·d_model = (8 + 4)·12288",
    ),
    ("GPT-3 175B", "LoRA+PL", "52.8M"): (
        51_904_512,
        "LoRA r_q=r_v=8 (2·192·12288·8) plus PreLayer's L·d_model·(l_p + l_i) = 96·12288·(8 + 4)",
    ),
    ("RoBERTa-large", "AdapterP", "3.0M"): (3_171_840, "the AdapterP formula at r=64 (a rounded label)"),
    ("RoBERTa-large", "AdapterH", "6.0M"): (6_343_680, "the AdapterH formula at r=64 (a rounded label)"),
}


def paper_model(name: str) -> str:
    """The paper's name of a model (our name where the paper has none)."""
    return MODEL_NAMES.get(name, name)


@cache
def method_labels() -> dict[str, str]:
    """Method name -> the ``paper_label`` its YAML (conf/method/) sets, read without Hydra."""
    from omegaconf import OmegaConf

    from adaptbench.harness.config.tree import CONF_DIR

    labels = {}
    for path in sorted((CONF_DIR / "method").glob("*.yaml")):
        node = OmegaConf.load(path)
        if node.get("paper_label"):
            labels[str(node.get("name", path.stem))] = str(node.paper_label)
    return labels


def paper_method(name: str) -> str:
    """The paper's name of a method: its YAML's ``paper_label`` (our name where it has none)."""
    return method_labels().get(name, name)


def parse_number(text: str | None) -> float | None:
    """A number as the CSVs print it: ``.3``, ``1,449.4``, ``+2.2%`` (-> 2.2); empty -> None."""
    cleaned = (text or "").strip().replace(",", "").rstrip("%")
    return float(cleaned) if cleaned else None


def parse_count(label: str) -> float:
    """A printed parameter count (``0.35M``, ``175,255.8M``, ``11M``) as a number of parameters."""
    match = re.fullmatch(r"([\d.,]+)\s*([MB]?)", label.strip())
    if match is None:
        raise ValueError(f"not a parameter count: {label!r}")
    scale = {"": 1.0, "M": 1e6, "B": 1e9}[match.group(2)]
    return float(match.group(1).replace(",", "")) * scale


@dataclass(frozen=True)
class PaperRow:
    """One published row: its table, names as printed, the |Θ| label and the scores with their ± spread."""

    table: str
    model: str
    method: str
    marker: str
    params_label: str
    values: dict[str, float | None] = field(default_factory=dict)
    spreads: dict[str, float | None] = field(default_factory=dict)
    # the run settings the row was published at, for tables whose rows are settings of one method (Tables 5, 6)
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def params(self) -> float | None:
        return parse_count(self.params_label) if self.params_label else None

    @property
    def label(self) -> str:
        """The method as printed, with the settings of a settings-keyed row (``LoRA r=4 targets=q,v``)."""
        return f"{self.method}{self.marker}" + "".join(f" {k}={setting_text(v)}" for k, v in self.settings)

    @property
    def misprint(self) -> tuple[int, str] | None:
        """(formula count, how) when the printed |Θ| is one of the paper's known inconsistencies."""
        return KNOWN_MISPRINTS.get((self.model, self.method, self.params_label))


@cache
def read_csv(stem: str) -> tuple[dict[str, str], ...]:
    with (PAPER_DIR / f"{stem}.csv").open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def read_paper_table(stem: str, value_columns: Sequence[str] = ()) -> list[PaperRow]:
    """The rows of ``results/paper/<stem>.csv`` with the given score columns (and their ``_pm`` spreads)."""
    rows = []
    for raw in read_csv(stem):
        method = raw["method"]
        rows.append(
            PaperRow(
                table=stem,
                model=raw["model"],
                method=PAPER_METHOD_ALIASES.get(method, method),
                marker=raw.get("marker") or "",
                params_label=raw["trainable_params"],
                values={c: parse_number(raw.get(c)) for c in value_columns},
                spreads={c: parse_number(raw.get(f"{c}_pm")) for c in value_columns},
            )
        )
    return rows


def closest_row(rows: Iterable[PaperRow], model: str, method: str, params: float | None) -> PaperRow | None:
    """The published row of ``model`` × ``method`` (our names) whose |Θ| is nearest ``params`` (by ratio);
    the paper has several rows for some methods (AdapterH at 0.8M and 6.0M). Ties prefer the LoRA authors'
    own runs (no marker)."""
    candidates = [r for r in rows if r.model == paper_model(model) and r.method == paper_method(method)]
    if not candidates:
        return None

    def distance(row: PaperRow) -> tuple[float, bool]:
        ratio = abs(math.log(max(row.params, 1.0) / max(params, 1.0))) if params else 0.0
        return (round(ratio, 3), bool(row.marker))

    return min(candidates, key=distance)


def setting_text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def number_or_text(text: str) -> Any:
    """A CSV setting as its run value: ``4`` -> 4, ``0.5`` -> 0.5, anything else as it is."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class SettingColumn:
    """A run setting read from one CSV column: ``Wq,Wv`` with ``split: ","`` and ``names: {Wq: q, Wv: v}`` is
    the run's ``targets`` (q, v); ``4`` is ``r`` = 4."""

    column: str
    split: str | None = None
    names: tuple[tuple[str, str], ...] = ()

    def read(self, text: str) -> Any:
        names = dict(self.names)
        if self.split is not None:
            return tuple(names.get(part.strip(), part.strip()) for part in text.split(self.split))
        return number_or_text(names.get(text.strip(), text.strip()))


@dataclass(frozen=True)
class KeyedRows:
    """How to read a published table whose rows are settings of one method, not model x method rows with a |Θ|
    column (Table 5: a row per weight type with its rank; Table 6: a row per dataset x weight type, a column per
    rank). ``settings`` read run settings from columns; ``unpivot_columns`` (a regex, one group) turns each
    matching column into a row with ``unpivot_setting`` = the group, the score's key being the row's
    ``unpivot_key`` column (Table 6: ``r=8`` -> r = 8, the score under key ``WikiSQL`` or ``MultiNLI``)."""

    model: str
    method: str
    settings: tuple[tuple[str, SettingColumn], ...]
    params: str | None = None
    unpivot_setting: str | None = None
    unpivot_columns: str | None = None
    unpivot_key: str | None = None


def read_keyed_table(stem: str, spec: KeyedRows, value_columns: Sequence[str] = ()) -> list[PaperRow]:
    """The rows of ``results/paper/<stem>.csv`` read as ``spec`` says, one PaperRow per published setting."""
    if spec.unpivot_setting is None:
        return [
            PaperRow(
                table=stem,
                model=spec.model,
                method=spec.method,
                marker="",
                params_label=raw.get(spec.params, "") if spec.params else "",
                values={c: parse_number(raw.get(c)) for c in value_columns},
                settings=tuple((name, col.read(raw[col.column])) for name, col in spec.settings),
            )
            for raw in read_csv(stem)
        ]
    pattern = re.compile(spec.unpivot_columns or "")
    merged: dict[tuple, dict[str, float | None]] = {}
    for raw in read_csv(stem):
        base = tuple((name, col.read(raw[col.column])) for name, col in spec.settings)
        for column, text in raw.items():
            match = pattern.fullmatch(column)
            if match:
                settings = (*base, (spec.unpivot_setting, number_or_text(match.group(1))))
                merged.setdefault(settings, {})[raw[spec.unpivot_key or ""]] = parse_number(text)
    return [
        PaperRow(
            stem, spec.model, spec.method, "", "", {c: values.get(c) for c in value_columns}, {}, settings
        )
        for settings, values in merged.items()
    ]


def keyed_row(rows: Iterable[PaperRow], method: str, settings: dict[str, Any]) -> PaperRow | None:
    """The published row of ``method`` (our name) whose every setting equals the run's (lists as tuples)."""

    def same(ours: Any, theirs: Any) -> bool:
        return (tuple(ours) if isinstance(ours, list) else ours) == theirs

    return next(
        (
            r
            for r in rows
            if r.method == paper_method(method) and all(same(settings.get(k), v) for k, v in r.settings)
        ),
        None,
    )


def latency_rows() -> list[dict[str, str]]:
    """Table 1 (GPT-2 medium forward latency on an NVIDIA Quadro RTX8000), as printed."""
    return list(read_csv("table1_latency"))
