"""The README's tables equal their results files (docs/results/*.json), cell by cell.

A table is marked by an HTML comment on the line above it (blank lines allowed between):

    <!-- results: docs/results/quickstart.json#quickstart -->
    | model | chain | ... |

and each cell must read exactly as :func:`gae_jax.jobs.results.render_table` renders the file's
table ``quickstart`` (mean ± sd over the file's seeds, steps joined by arrows).
"""

import json
import os
import re
import subprocess
import sys

import pytest
from helpers import REPO

from gae_jax.jobs import results

MARKER = re.compile(r"<!--\s*results:\s*(\S+?)#(\S+)\s*-->")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def check_readme(text: str, root: str) -> tuple[int, list[str]]:
    """``(number of marked tables, problems)``: each problem names the README line, the results
    file and the cell that differs."""
    lines = text.splitlines()
    problems, marked = [], 0
    for number, line in enumerate(lines, start=1):
        match = MARKER.search(line)
        if not match:
            continue
        marked += 1
        path, name = match.groups()
        where = f"README line {number} ({path}#{name})"
        full = os.path.join(root, path)
        if not os.path.exists(full):
            problems.append(f"{where}: no results file {path}")
            continue
        with open(full) as f:
            tables = json.load(f)["tables"]
        if name not in tables:
            problems.append(f"{where}: the file has no table {name!r}, only {sorted(tables)}")
            continue
        expected = results.render_table(tables[name])
        i = number  # the 0-based index of the line after the marker
        while i < len(lines) and not lines[i].strip():
            i += 1
        table = []
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i].strip()):  # the rule line
                table.append((i + 1, _cells(lines[i])))
            i += 1
        if not table:
            problems.append(f"{where}: no table follows the marker")
            continue
        if len(table) != len(expected):
            problems.append(
                f"{where}: the README table has {len(table) - 1} rows, the file {len(expected) - 1}"
            )
        for (row_line, row), want in zip(table, expected, strict=False):
            if len(row) != len(want):
                problems.append(f"README line {row_line}: {len(row)} cells, the file {len(want)}")
                continue
            for column, (cell, value) in enumerate(zip(row, want, strict=True)):
                if cell != value:
                    problems.append(
                        f"README line {row_line}, column {column + 1}: {cell!r}, but {path} "
                        f"renders {value!r}"
                    )
    return marked, problems


def test_readme_tables_equal_their_results_files():
    with open(os.path.join(REPO, "README.md")) as f:
        marked, problems = check_readme(f.read(), REPO)
    assert marked > 0, "no README table is marked with its results file"
    assert problems == []


@pytest.fixture
def results_root(tmp_path):
    value = lambda mean, sd: {"mean": mean, "sd": sd, "n": 3}  # noqa: E731
    table = {
        "columns": ["model", "FD, steps 0 → 1"],
        "decimals": [None, 1],
        "rows": [["AAE", [value(31.74, 2.06), value(51.0, 10.44)]], ["real", [value(7.0, 0.1)]]],
    }
    (tmp_path / "docs" / "results").mkdir(parents=True)
    file = results.results_file(
        "t", {"main": table}, seeds=[0, 1, 2], start=results.run_start("cmd")
    )
    results.write_results(str(tmp_path / "docs" / "results" / "t.json"), file)
    return tmp_path


README = """Intro.

<!-- results: docs/results/t.json#main -->

| model | FD, steps 0 → 1 |
|---|---|
| AAE | 31.7 ± 2.1 → 51.0 ± 10.4 |
| real | 7.0 ± 0.1 |

Text after.
"""


def test_checker_accepts_the_rendered_table(results_root):
    assert check_readme(README, str(results_root)) == (1, [])
    with open(results_root / "docs" / "results" / "t.json") as f:
        rendered = results.markdown_table(json.load(f)["tables"]["main"])
    assert rendered in README


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ("31.7 ± 2.1", "31.8 ± 2.1", r"line 7, column 2: .*31\.8.*renders '31\.7"),
        ("± 10.4", "± 10", "line 7, column 2"),
        ("| real | 7.0 ± 0.1 |\n", "", "1 rows, the file 2"),
        ("| AAE |", "| DAAE |", "line 7, column 1"),
        ("t.json#main", "t.json#other", "no table 'other'"),
        ("t.json#", "u.json#", "no results file"),
        ("\n| model |", "\nSome text.\n| model |", "no table follows"),
    ],
)
def test_checker_fails_when_a_cell_drifts(results_root, old, new, problem):
    assert old in README
    marked, problems = check_readme(README.replace(old, new), str(results_root))
    assert marked == 1 and problems
    assert re.search(problem, problems[0]), problems


def test_render_value_and_summarize():
    assert results.render_value(results.summarize([1.0, 2.0, 3.0]), 2) == "2.00 ± 1.00"
    assert results.render_value(results.summarize([4.25]), 1) == "4.2"  # one seed: no spread
    with pytest.raises(ValueError, match="without decimals"):
        results.render_table({"columns": ["a"], "decimals": [None], "rows": [[[{"mean": 1}]]]})


def test_seeds_table_spreads_each_measure_over_seeds():
    from gae_jax.jobs import seeds

    def summary(offset):
        metrics = {key: [offset + 1.0, offset + 2.0, offset + 3.0] for key, _, _ in seeds.MEASURES}
        return {
            "models": {"aae": {"chain": "latent (eq. 1)", "steps": [0, 1, 10], "metrics": metrics}},
            "real_data": {key: offset for key, _, _ in seeds.MEASURES},
        }

    table = seeds.seeds_table([summary(0.0), summary(2.0), summary(4.0)], steps=(0, 10))
    header, aae, real = results.render_table(table)
    assert header[:2] == ["model", "chain"] and header[2].endswith("steps 0 → 10")
    assert aae[:2] == ["aae", "latent (eq. 1)"]
    assert aae[3] == "3.0 ± 2.0 → 5.0 ± 2.0"  # classifier FD: 1 decimal
    assert real[2] == "2 ± 2"  # Parzen LL: no decimals
    with pytest.raises(ValueError, match=r"not \[5\]"):
        seeds.seeds_table([summary(0.0)], steps=(0, 5))


def test_command_line_names_the_module_run_with_dash_m(tmp_path):
    # A results file records the command that made it, so a reader can rerun it.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "job.py").write_text(
        "from gae_jax.jobs import results\nprint(results.command_line())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), REPO])}
    run = lambda *cmd: subprocess.run(  # noqa: E731
        [sys.executable, *cmd], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert run("-m", "pkg.job", "--workdir=a b", "--seeds=0,1") == (
        "python -m pkg.job '--workdir=a b' --seeds=0,1"
    )
    script = str(package / "job.py")
    assert run(script, "--x=1") == f"python {script} --x=1"


def test_a_results_file_records_the_code_its_run_started_with():
    table = {"columns": ["model"], "decimals": [None], "rows": [["AAE"]]}
    now = results.run_start("cmd")
    file = results.results_file("t", {"main": table}, seeds=[0], start=now)
    assert (file["command"], file["git_commit"]) == ("cmd", now.git_commit)
    assert file["machine"]["load_average_at_start"] == now.load_average
    assert "git_commit_at_write" not in file  # the checkout did not change
    # A run that started at another commit is attributed to it, and the file says what changed.
    earlier = now._replace(git_commit="0" * 40, git_dirty=False)
    file = results.results_file("t", {"main": table}, seeds=[0], start=earlier)
    assert file["git_commit"] == "0" * 40 and file["git_dirty"] is False
    assert (file["git_commit_at_write"], file["git_dirty_at_write"]) == (
        now.git_commit,
        now.git_dirty,
    )
