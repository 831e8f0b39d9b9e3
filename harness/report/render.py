"""Table text as Markdown, CSV, LaTeX or a rich terminal table.

CSV is the standard library's ``csv`` writer and the terminal table is rich's. Markdown and LaTeX are written
here, not with tabulate (or pandas, whose ``to_markdown`` is tabulate): tabulate pads every cell to its column's
width (every committed results table would change), leaves ``|`` unescaped in a Markdown cell (the ``|Θ|``
header would split its column) and leaves ``|Θ|``, ``±`` and ``Δ`` as text in LaTeX (a bare ``|`` prints as an
em dash); the row loops below are the whole of what it would replace.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import sys
from collections.abc import Sequence

from adaptbench.harness.report.text import TableText

FORMATS = ("md", "csv", "latex", "rich")


# --------------------------------------------------------------------------------------------- output
def render(table: TableText, form: str) -> str:
    """The table in ``form``, every cell, title and note escaped first (``printable``)."""
    return {"md": to_markdown, "csv": to_csv, "latex": to_latex, "rich": to_rich}[form](escaped(table))


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character as its escape (``\\x1b``): names and notes come from record
    files, and a terminal escape sequence in one would drive the terminal that prints the table."""
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def escaped(table: TableText) -> TableText:
    return dataclasses.replace(
        table,
        title=printable(table.title),
        headers=[printable(h) for h in table.headers],
        rows=[[printable(c) for c in row] for row in table.rows],
        notes=[printable(n) for n in table.notes],
    )


def to_markdown(table: TableText) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [f"**{table.title}**", "", line(table.headers), "|" + "---|" * len(table.headers)]
    out += [line(row) for row in table.rows]
    return "\n".join(out + ([""] + table.notes if table.notes else []))


def csv_value(value: object) -> object:
    """A CSV cell: a number unformatted (full precision: rounding is the reader's choice), None empty."""
    if value is None:
        return ""
    return value if isinstance(value, (int, float)) else printable(str(value))


def to_csv(table: TableText) -> str:
    """The cells only (the title and notes go to stderr, so the output stays one CSV table)."""
    for note in table.notes:
        print(f"# {note}", file=sys.stderr)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if table.data is not None:  # numbers as numbers: one quantity a column, an empty cell for none
        writer.writerow([printable(h) for h in table.data.headers])
        writer.writerows([csv_value(v) for v in row] for row in table.data.rows)
    else:
        writer.writerow(table.headers)
        writer.writerows(table.rows)
    return buffer.getvalue().rstrip("\n")


LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    # |Θ| as one math group: a bare "|" is an em dash in LaTeX's default (OT1) text font, not a bar
    "|Θ|": r"$|\Theta|$",
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "Θ": r"$\Theta$",
    "·": r"$\cdot$",
    "L̂": r"$\hat{L}$",
}


LATEX_SPECIAL = re.compile("|".join(re.escape(raw) for raw in sorted(LATEX_ESCAPES, key=len, reverse=True)))


def latex_escape(text: str) -> str:
    """One pass, longest match first: an escape's own braces and dollars are never escaped again (one replace
    after another turned ``\\`` into ``\textbackslash\\{\\}`` and ``|Θ|`` into ``|$\\Theta$|``)."""
    return LATEX_SPECIAL.sub(lambda m: LATEX_ESCAPES[m.group()], text)


def to_latex(table: TableText) -> str:
    out = [f"% {table.title}", r"\begin{tabular}{ll" + "r" * (len(table.headers) - 2) + "}", r"\toprule"]
    out.append(" & ".join(latex_escape(h) for h in table.headers) + r" \\")
    out.append(r"\midrule")
    out += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out + [f"% {latex_escape(n)}" for n in table.notes])


def to_rich(table: TableText) -> str:
    """A boxed table (cells as plain text: ``[paper 87.5]`` is not rich markup)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rich_table = Table(title=Text(table.title), caption=Text("\n".join(table.notes)) if table.notes else None)
    for header in table.headers:
        rich_table.add_column(Text(header), overflow="fold")
    for row in table.rows:
        rich_table.add_row(*(Text(cell) for cell in row))
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(rich_table)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]
