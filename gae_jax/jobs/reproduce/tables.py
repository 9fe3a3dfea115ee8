"""Result tables: one :class:`Entry` per number, rendered as Markdown (wide) and CSV (long).

Every number we measure is stored next to the paper's number for the same cell, when the paper
reports one, so the comparison is in the output itself rather than left to the reader.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from typing import NamedTuple

from etils import epath

from gae_jax.jobs import results

CSV_COLUMNS = ("table", "row", "measure", "value", "stderr", "paper", "paper_stderr")


class Entry(NamedTuple):
    """One cell of a results table: our number, its standard error and the paper's."""

    table: str  # title of the table, e.g. "Table IV: reconstruction MSE of corrupted test data"
    row: str  # e.g. the model, "iDAAE (M = 5)"
    measure: str  # the column, e.g. "Parzen LL x^5"
    value: float
    stderr: float | None = None
    paper: float | None = None  # None: the paper does not report this cell
    paper_stderr: float | None = None
    fmt: str = ".4g"  # Markdown format of value, stderr and paper


def _cell(value: float, stderr: float | None, fmt: str) -> str:
    text = format(value, fmt)
    if stderr is not None:
        text += f" ± {format(stderr, fmt)}"
    return text


def _ordered(items) -> list:
    return list(dict.fromkeys(items))


def table_key(title: str) -> str:
    """A table's name in results files and README markers: up to three words of the title
    before any colon, e.g. ``"table_iv"`` for "Table IV: reconstruction MSE ..."."""
    return "_".join(re.findall(r"[a-z0-9]+", title.split(":")[0].lower())[:3])


def results_tables(entries: Sequence[Entry]) -> dict[str, dict]:
    """One results-file table (:mod:`gae_jax.jobs.results`, text cells) per distinct
    ``Entry.table``, in order of first appearance, keyed by :func:`table_key`, with its
    ``title``.

    Rows are the entries' ``row`` values and, for each measure, an "ours" column and (if the
    paper reports any cell of that measure) a "paper" column; "–" marks cells without a number.
    """
    out = {}
    for title in _ordered(e.table for e in entries):
        key = table_key(title)
        if key in out:
            raise ValueError(f"tables {out[key]['title']!r} and {title!r} share the key {key!r}")
        cells = {(e.row, e.measure): e for e in entries if e.table == title}
        measures = _ordered(m for _, m in cells)
        with_paper = {m for (_, m), e in cells.items() if e.paper is not None}
        columns = [""]
        for m in measures:
            columns += [f"{m} (ours)", f"{m} (paper)"] if m in with_paper else [m]
        rows = []
        for r in _ordered(r for r, _ in cells):
            row = [r]
            for m in measures:
                e = cells.get((r, m))
                row.append("–" if e is None else _cell(e.value, e.stderr, e.fmt))
                if m in with_paper:
                    has_paper = e is not None and e.paper is not None
                    row.append(_cell(e.paper, e.paper_stderr, e.fmt) if has_paper else "–")
            rows.append(row)
        out[key] = {
            "title": title,
            "columns": columns,
            "decimals": [None] * len(columns),
            "rows": rows,
        }
    return out


def markdown(entries: Sequence[Entry]) -> str:
    """The tables of :func:`results_tables` as Markdown, each under a ``####`` heading."""
    blocks = [
        f"#### {t['title']}\n\n{results.markdown_table(t)}"
        for t in results_tables(entries).values()
    ]
    return "\n".join(blocks)


def write_csv(path: str, entries: Sequence[Entry]) -> None:
    """Long format, one entry per line, columns :data:`CSV_COLUMNS` (empty: no number)."""
    with epath.Path(path).open("w") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for e in entries:
            numbers = (e.value, e.stderr, e.paper, e.paper_stderr)
            writer.writerow(
                [e.table, e.row, e.measure] + ["" if v is None else repr(float(v)) for v in numbers]
            )


def read_csv(path: str) -> list[Entry]:
    """The entries written by :func:`write_csv` (with the default Markdown format)."""
    with epath.Path(path).open() as f:
        rows = list(csv.DictReader(f))
    number = lambda s: None if s == "" else float(s)
    return [
        Entry(r["table"], r["row"], r["measure"], *(number(r[k]) for k in CSV_COLUMNS[3:]))
        for r in rows
    ]
