"""Which published row stands beside each measured row of a table (``--compare paper``), one rule for the text
table and its CSV numbers.

- A settings-keyed table (the layout's ``paper_rows``: Tables 5 and 6, rows that are settings of one method):
  the published row whose settings (targets, r) equal the run's.
- Otherwise the published row of the same model and method nearest in |Θ|; for a model the paper lacks, the
  layout's ``paper_model`` rows of that method, paired in order of |Θ| (``stand_in_row``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from adaptbench.harness.report.grid import Row
from adaptbench.harness.report.layouts import TableLayout
from adaptbench.harness.report.paper import PaperRow, closest_row, keyed_row, paper_method, paper_model


@dataclass
class Matches:
    """Each measured row's published row (None where the paper has none), and the models that stood in."""

    papers: list[PaperRow | None] = field(default_factory=list)
    stood_in: set[str] = field(default_factory=set)

    @property
    def matched(self) -> set[int]:
        return {id(p) for p in self.papers if p is not None}


def match_rows(rows: Sequence[Row], layout: TableLayout, published: Sequence[PaperRow]) -> Matches:
    matches = Matches()
    for row in rows:
        paper = None
        if published and layout.paper_rows is not None:
            paper = keyed_row(published, row.method, row.all_settings)
            if layout.paper_model and paper_model(row.model) != layout.paper_model:
                matches.stood_in.add(paper_model(row.model))
        elif published:
            paper = closest_row(published, row.model, row.method, row.params)
            if paper is None and layout.paper_model:
                paper = stand_in_row(published, row, rows, layout.paper_model)
                matches.stood_in.add(paper_model(row.model))
        matches.papers.append(paper)
    return matches


def stand_in_row(published: Sequence[PaperRow], row: Row, rows: Sequence[Row], model: str) -> PaperRow | None:
    """For a model the paper lacks, the published row of the paper's ``model`` and the same method: our rows of
    that model and method and the paper's, each in order of |Θ|, are paired in that order (the |Θ| of a small
    model never comes near GPT-3's, so the nearest count would pair every size with the smallest row)."""
    theirs = sorted(
        (p for p in published if p.model == model and p.method == paper_method(row.method)),
        key=lambda p: p.params or 0.0,
    )
    ours = sorted(
        (r for r in rows if (r.model, r.method) == (row.model, row.method)), key=lambda r: r.params or 0
    )
    if not theirs:
        return None
    place = next(i for i, r in enumerate(ours) if r is row)
    return theirs[min(place, len(theirs) - 1)]
