"""End to end: the small variant of every paper table trains its models on mnist5k, measures them
and writes complete tables; a rerun restores the models instead of retraining them."""

import json
import math
import os

import pytest

from configs import paper001_mnist, paper002_mnist, paper004_mnist
from gae_jax.config import ConfigError
from gae_jax.config import validate_table as validate
from gae_jax.jobs import results
from gae_jax.jobs.reproduce import paper001, paper002, paper004, reproduce, tables


def run(config_module, workdir):
    out = workdir / "docs" / "tables.json"
    entries = reproduce(config_module.get_config("small"), str(workdir), results_path=str(out))
    for name in ("table.md", "table.csv", "results.json"):
        assert os.path.isfile(workdir / name), name
    # The results file holds table.md's tables, as the README test renders them.
    markdown = (workdir / "table.md").read_text()
    file = json.loads(out.read_text())
    assert list(file["tables"]) == [
        tables.table_key(t) for t in dict.fromkeys(e.table for e in entries)
    ]
    for table in file["tables"].values():
        assert f"#### {table['title']}\n\n{results.markdown_table(table)}" in markdown
    # The CSV holds exactly the returned numbers; every measured number is finite.
    assert [e[:7] for e in tables.read_csv(workdir / "table.csv")] == [e[:7] for e in entries]
    for e in entries:
        assert math.isfinite(e.value) and (e.stderr is None or math.isfinite(e.stderr)), e
    for e in entries:
        assert f"| {e.row} |" in markdown
    return {(e.table, e.row, e.measure): e for e in entries}


def assert_grid(cells, table, rows, measures, reference_measures=()):
    """Every row has every measure, the real-data reference row (if ``reference_measures``) has
    those, and nothing else is in the table."""
    present = {(r, m) for (t, r, m) in cells if t == table}
    expected = {(r, m) for r in rows for m in measures}
    if reference_measures:
        reference = next(r for r, _ in present if r.startswith("Real training images"))
        expected |= {(reference, m) for m in reference_measures}
    assert present == expected


@pytest.mark.slow
def test_paper001_tables(tmp_path):
    cells = run(paper001_mnist, tmp_path)
    labels = [row.label for row in paper001.PAPER.values()]
    assert_grid(cells, paper001.TABLE_IV, labels, ["MSE"])
    steps = ["x^0", "x^5", "FD x^0", "FD x^5", "class TV x^0", "class TV x^5"]
    assert_grid(cells, paper001.TABLE_V, labels, steps, ["x^0", "FD x^0", "class TV x^0"])
    pca_row = "PCA (10 components) + SVM"
    assert_grid(cells, paper001.TABLE_VI, [*labels, pca_row], ["accuracy"])
    # The paper's numbers sit beside ours, in the paper's units.
    assert cells[paper001.TABLE_IV, "AAE", "MSE"].paper == 0.017
    assert cells[paper001.TABLE_V, "DAAE", "x^5"].paper == 444
    assert cells[paper001.TABLE_V, "AAE", "x^5"].paper is None
    assert cells[paper001.TABLE_VI, pca_row, "accuracy"].paper == 94.73
    for (table, _, measure), e in cells.items():
        if table == paper001.TABLE_IV:
            assert 0 < e.value < 0.25  # per-pixel MSE of [0, 1] images, untrained ~0.1
        if measure.startswith("class TV"):
            assert 0 <= e.value <= 1
        if table == paper001.TABLE_VI:
            assert 10 < e.value <= 100  # percent, above chance even after 16 steps
    assert cells[paper001.TABLE_VI, pca_row, "accuracy"].value > 85  # PCA + SVM on 4000 digits
    for name in paper001.PAPER:
        assert os.path.isfile(tmp_path / f"samples_{name}.png")
    assert os.path.isfile(tmp_path / "parzen_vs_step.png")


@pytest.mark.slow
def test_paper002_table(tmp_path):
    cells = run(paper002_mnist, tmp_path)
    title = next(t for t, _, _ in cells if t.startswith("Table I"))
    labels = [row.label for row in paper002.PAPER.values()]
    bounds = [paper002.LOWER_LABEL, paper002.UPPER_LABEL]
    accuracy = lambda row: cells[title, row, "accuracy"].value
    for row in [*labels, *bounds, paper002.TRUTH_LABEL]:
        assert 0 <= accuracy(row) <= 1
    for paper in paper002.PAPER.values():
        assert cells[title, paper.label, "epochs"].paper == paper.epochs
    assert cells[title, paper002.LOWER_LABEL, "accuracy"].paper == 0.925
    # Real data teaches a classifier more than labelled noise; the ground truth is well trained.
    assert accuracy(paper002.UPPER_LABEL) > accuracy(paper002.LOWER_LABEL)
    assert accuracy(paper002.TRUTH_LABEL) > 0.8
    curve = next(t for t, _, _ in cells if t != title)
    counts = paper002_mnist.get_config("small").reproduce.sample_counts
    assert_grid(
        cells,
        curve,
        [paper002.LOWER_LABEL, *labels, paper002.UPPER_LABEL],
        [f"n = {n}" for n in counts],
    )
    assert os.path.isfile(tmp_path / "accuracy_vs_samples.png")


@pytest.mark.slow
def test_paper004_table_and_rerun_restores(tmp_path):
    cells = run(paper004_mnist, tmp_path)
    labels = [label for label, _ in paper004.PAPER.values()]
    measures = ["log-likelihood", "FD", "class TV"]
    assert_grid(cells, paper004.TABLE, labels, measures, measures)
    assert cells[paper004.TABLE, "GAE (2 layers)", "log-likelihood"].paper == 460.73

    # A second run restores every model (no training step, the training records unchanged)
    # and measures exactly the same.
    records = {name: (tmp_path / name / "summary.json").read_bytes() for name in paper004.PAPER}
    again = run(paper004_mnist, tmp_path)
    assert {k: e.value for k, e in again.items()} == {k: e.value for k, e in cells.items()}
    for name in paper004.PAPER:
        assert (tmp_path / name / "summary.json").read_bytes() == records[name]


@pytest.mark.parametrize(
    "override, match",
    [
        (lambda c: c.reproduce.update(protocol="paper003"), "protocol"),
        (lambda c: c.reproduce.epochs.__delitem__("aae"), "one per model"),
        (lambda c: c.reproduce.epochs.update(gae1=0.0), "epochs.gae1"),
        (lambda c: c.reproduce.update(num_samples=0), "num_samples"),
        (lambda c: c.models.vae.model.update(family="nope"), "config.models.vae"),
    ],
)
def test_bad_table_configs_fail_before_training(override, match):
    config = paper004_mnist.get_config("small")
    override(config)
    with pytest.raises(ConfigError, match=match):
        validate(config)


def test_results_tables_are_named_by_title_and_refuse_clashes():
    entry = lambda table, row, value: tables.Entry(table, row, "MSE", value, 0.01, 0.02, fmt=".2f")
    named = tables.results_tables(
        [entry("Table IV: reconstruction MSE", "AAE", 0.5), entry("KDE (Parzen) LL", "VAE", 1.0)]
    )
    assert list(named) == ["table_iv", "kde_parzen_ll"]
    assert named["table_iv"]["rows"] == [["AAE", "0.50 ± 0.01", "0.02"]]
    assert results.render_table(named["table_iv"])[0] == ["", "MSE (ours)", "MSE (paper)"]
    with pytest.raises(ValueError, match="share the key 'table_iv'"):
        tables.results_tables([entry("Table IV: one", "A", 1.0), entry("Table IV: two", "B", 2.0)])
