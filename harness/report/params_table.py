"""``adaptbench table --layout params``: |Θ| of every method on one model at the paper's settings (meta device)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from typing import Any

from hydra.errors import HydraException

from adaptbench.harness.api.errors import ConfigError
from adaptbench.harness.report.paper import (
    PaperRow,
    closest_row,
    paper_method,
    paper_model,
    read_paper_table,
)
from adaptbench.harness.report.text import Footnotes, TableText, params_text

# --------------------------------------------------------------------------------------------- params


PARAMS_PAPER_TABLES = ("table2_glue", "table3_e2e", "table4_gpt3")


# The presets (conf/experiment/) of the tables with a |Θ| column. Table 4's (GPT-3 175B, which cannot be run) lists
# its rows' method overrides under ``params_rows`` instead of sweeping methods.
PARAMS_PRESETS = ("table2_", "table3_", "table4_")


@cache
def _preset(name: str) -> dict[str, Any]:
    """A preset's YAML (conf/experiment/<name>.yaml) as a plain dict, read once."""
    from omegaconf import OmegaConf

    from adaptbench.harness.config.tree import CONF_DIR

    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "experiment" / f"{name}.yaml"))


def _preset_choices(name: str) -> dict[str, str]:
    """The group choices (model, method) a preset sets, its parent presets' included."""
    node = _preset(name)
    choices: dict[str, str] = {}
    for entry in node.get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_":
            choices = {**_preset_choices(entry), **choices}
        elif isinstance(entry, dict):
            choices.update({k.removeprefix("override /"): str(v) for k, v in entry.items()})
    methods = ((node.get("hydra") or {}).get("sweeper") or {}).get("params", {}).get("method")
    if methods:
        choices["methods"] = str(methods)
    return choices


def paper_variants(model: str) -> dict[str, list[list[str]]]:
    """Per method, the overrides of each of the paper's rows for ``model`` in the tables with a |Θ| column
    (Tables 2-4), from the presets of that model (conf/experiment/): the rows a preset lists under
    ``params_rows``, else one ``+experiment=<preset>`` per method it sweeps. Methods with none are counted at
    their YAML defaults."""
    from adaptbench.harness.config.tree import CONF_DIR

    variants: dict[str, list[list[str]]] = defaultdict(list)
    for path in sorted(
        p for prefix in PARAMS_PRESETS for p in (CONF_DIR / "experiment").glob(f"{prefix}*.yaml")
    ):
        choices = _preset_choices(path.stem)
        if choices.get("model") != model:
            continue
        rows = _preset(path.stem).get("params_rows")
        if rows:
            for method, overrides in rows.items():
                variants[method] += [[str(o) for o in row] for row in overrides]
            continue
        for method in choices.get("methods", choices.get("method", "")).split(","):
            variants[method.strip()].append([f"+experiment={path.stem}"])
    return variants


def params_table(model: str, compare: bool) -> TableText:
    """|Θ| of every method on ``model`` at the paper's settings, counted on the meta device."""
    import resource
    import time

    from adaptbench.harness.config.tree import group_options

    started = time.perf_counter()
    published = [row for stem in PARAMS_PAPER_TABLES for row in read_paper_table(stem)] if compare else []
    notes = Footnotes()
    lines = []
    variants = paper_variants(model)
    for method in group_options("method"):
        for overrides in variants.get(method) or [[]]:
            lines.append(_params_line(model, method, overrides, published, notes))
    seconds = time.perf_counter() - started
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    table = TableText(
        f"|Θ| on {paper_model(model)} ({model}), the paper's settings",
        ["Method", "settings", "|Θ| measured", "|Θ| formula", *(["|Θ| paper"] if compare else [])],
        lines,
        notes.lines()
        + [f"counted on the meta device (no weights) in {seconds:.1f} s, peak RSS {rss_gib:.2f} GiB"],
    )
    return table


def _params_line(
    model: str, method: str, overrides: Sequence[str], published: Sequence[PaperRow], notes: Footnotes
) -> list[str]:
    from adaptbench.harness.api.accounting import count_params
    from adaptbench.harness.api.models import model_kind
    from adaptbench.harness.config.tree import compose_run_config

    settings = (
        " ".join(o.removeprefix("method.").removeprefix("+experiment=") for o in overrides) or "YAML defaults"
    )
    try:
        cfg = compose_run_config([*overrides, f"model={model}", f"method={method}"])
        # decoders count the causal LM (Tables 3 and 4), encoders a classifier (Table 2)
        counts = count_params(cfg.model, cfg.method, model_kind(cfg.model))
    except (ConfigError, HydraException) as err:
        return [
            paper_method(method),
            settings,
            f"n/a: {str(err).splitlines()[0]}",
            "-",
            *(["-"] if published else []),
        ]
    line = [paper_method(method), settings, f"{counts['method_params']:,}", f"{counts['formula_params']:,}"]
    if published:
        paper = closest_row(published, model, method, counts["method_params"])
        line.append(
            params_text(None, paper, notes).removeprefix("- [paper ").removesuffix("]") if paper else "-"
        )
    return line
