"""Results files: the numbers behind the README's tables, with their spread and provenance.

A job that produces a README table writes ``docs/results/<name>.json``::

    {
      "name": "quickstart",
      "command": "python -m experiments.seeds --config=... --seeds=0,1,2 ...",
      "git_commit": "01f9177...", "git_dirty": false,
      "machine": {"cpu_model": "...", "isa": "avx512", "cpu_count": 2, "platform": "...",
                  "jax": "0.4.x", "load_average_at_start": [...], "load_average": [...]},
      "started": "2026-11-30T12:41:10+00:00", "date": "2026-11-30T13:05:00+00:00",
      "seeds": [0, 1, 2],
      "tables": {
        "<table>": {
          "columns": ["model", "chain", "classifier FD (lower is better)", ...],
          "decimals": [null, null, 1, ...],
          "rows": [["AAE", "latent, eq. 1", [{"mean": 31.7, "sd": 2.1, "n": 3}, ...], ...]]
        }
      }
    }

A cell is either text (rendered as it is) or a list of values ``{"mean", "sd", "n"}`` (e.g. one
per chain step), rendered ``mean ± sd`` with the column's ``decimals`` (just ``mean`` when
``n`` is 1) and joined by `` → ``. :func:`render_table` is the one renderer: jobs write their
``table.md`` with it, and ``tests/test_readme_results.py`` checks every README table marked
``<!-- results: docs/results/<name>.json#<table> -->`` against it, cell by cell.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from gae_jax import hardware
from gae_jax import workdir as workdir_lib

ARROW = " → "
PLUS_MINUS = " ± "


def summarize(values: Sequence[float]) -> dict:
    """``{"mean", "sd", "n"}`` of one measure over seeds (sd: sample standard deviation, 0 for
    one seed); non-finite values are kept so they show up, not averaged away."""
    x = np.asarray(values, np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"need a non-empty sequence of values, got shape {x.shape}")
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    return {"mean": float(np.mean(x)), "sd": sd, "n": int(x.size)}


def render_value(value: dict, decimals: int) -> str:
    """``"mean ± sd"`` (``"mean"`` for one seed) with ``decimals`` digits after the point."""
    mean = f"{value['mean']:.{decimals}f}"
    if value["n"] <= 1:
        return mean
    return f"{mean}{PLUS_MINUS}{value['sd']:.{decimals}f}"


def render_cell(cell, decimals: int | None) -> str:
    """A table cell as the README shows it: text as it is, values joined by arrows."""
    if isinstance(cell, str):
        return cell
    if decimals is None:
        raise ValueError(f"a cell of values {cell!r} is in a column without decimals")
    return ARROW.join(render_value(v, decimals) for v in cell)


def render_table(table: dict) -> list[list[str]]:
    """Every row of a results file's table as rendered strings, the header first."""
    columns, decimals = table["columns"], table["decimals"]
    if len(columns) != len(decimals):
        raise ValueError(f"{len(columns)} columns but {len(decimals)} decimals")
    rows = [list(columns)]
    for row in table["rows"]:
        if len(row) != len(columns):
            raise ValueError(f"row {row[:1]} has {len(row)} cells for {len(columns)} columns")
        rows.append([render_cell(c, d) for c, d in zip(row, decimals, strict=True)])
    return rows


def markdown_table(table: dict) -> str:
    """The table as GitHub markdown, as it is pasted into the README."""
    header, *rows = render_table(table)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def command_line() -> str:
    """The command that started this process, as a results file records it:
    ``python -m MODULE ARGS`` for a module run with ``-m``, else ``python SCRIPT ARGS``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    head = ["python", "-m", spec.name] if spec is not None else ["python", sys.argv[0]]
    return shlex.join([*head, *sys.argv[1:]])


def machine_info() -> dict:
    """What the numbers were measured on: CPU model and ISA, core count, platform, JAX and its
    devices, and the load average now."""
    cpu = hardware.cpu_features()
    return {
        "cpu_model": cpu["cpu"],
        "isa": cpu["isa"],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "load_average": list(os.getloadavg()),
    }


def git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout this package runs from; ``(None, None)`` outside git.
    ``dirty``: uncommitted changes to the package, configs or entry points."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    git = ["git", "-C", root]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [*git, "status", "--porcelain", "--", "gae_jax", "configs", "experiments"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(status.strip())


class RunStart(NamedTuple):
    """What a results file records of its run's start (:func:`run_start`): a run that resumes
    work or spans commits is attributed to the code and load it started with."""

    command: str
    load_average: list[float]
    git_commit: str | None
    git_dirty: bool | None
    date: str


def run_start(command: str | None = None) -> RunStart:
    """Now, for :func:`results_file`: ``command`` (default :func:`command_line`), the load
    average, the git state and the time. Call it before the run's work begins."""
    commit, dirty = git_state()
    return RunStart(
        command=command_line() if command is None else command,
        load_average=list(os.getloadavg()),
        git_commit=commit,
        git_dirty=dirty,
        date=_now(),
    )


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def results_file(
    name: str, tables: dict[str, dict], *, seeds: Sequence[int], start: RunStart
) -> dict:
    """A results file's contents (see the module docstring) for ``tables``, measured by the run
    that began at ``start``. The code is the commit checked out at the start; if the checkout
    changed before the file is written, ``git_commit_at_write`` / ``git_dirty_at_write`` say so."""
    for table in tables.values():
        render_table(table)  # a malformed table fails here, not in the README test
    machine = machine_info()
    machine["load_average_at_start"] = start.load_average
    file = {
        "name": name,
        "command": start.command,
        "git_commit": start.git_commit,
        "git_dirty": start.git_dirty,
        "machine": machine,
        "started": start.date,
        "date": _now(),
        "seeds": list(seeds),
        "tables": tables,
    }
    commit, dirty = git_state()
    if (commit, dirty) != (start.git_commit, start.git_dirty):
        file.update(git_commit_at_write=commit, git_dirty_at_write=dirty)
    return file


def write_results(path: str, results: dict) -> None:
    """Writes a results file atomically, creating its directory."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    workdir_lib.write_json(path, results, indent=1)


__all__ = [
    "RunStart",
    "command_line",
    "git_state",
    "machine_info",
    "markdown_table",
    "render_cell",
    "render_table",
    "render_value",
    "run_start",
    "results_file",
    "summarize",
    "write_results",
]
