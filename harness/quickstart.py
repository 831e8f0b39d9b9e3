"""``adaptbench quickstart``: the runs listed in ``conf/quickstart.yaml``, then a comparison table."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import OmegaConf

from adaptbench.harness.config.tree import CONF_DIR, compose_run_config
from adaptbench.harness.report.quickstart import comparison_table, print_table
from adaptbench.harness.run.job import run


def quickstart(extra_overrides: Sequence[str] = ()) -> list[dict]:
    plan = OmegaConf.load(CONF_DIR / "quickstart.yaml")
    records = []
    for run_overrides in plan.runs:
        overrides = [*plan.common, *run_overrides, *extra_overrides]
        records.append(run(compose_run_config(overrides)))
    first = records[0]
    print_table(
        comparison_table(records, f"adaptbench quickstart: {first['model']} on {first['task']} (dev)")
    )
    return records
