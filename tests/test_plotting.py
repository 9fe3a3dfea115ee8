"""Figures: the encoding histograms of the training and main jobs."""

import matplotlib.figure
import numpy as np
import pytest

from gae_jax.plotting import encoding_histogram_figure


def test_encoding_histogram_figure(tmp_path):
    rng = np.random.default_rng(7)
    sets = {
        "encoded data": rng.normal(1.0, 0.5, size=(300, 10)),
        "prior": rng.normal(size=(900, 10)),
    }
    fig = encoding_histogram_figure(sets, title="q(z) vs p(z)")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 4  # the first 4 of 10 dimensions by default
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["encoded data", "prior"]
    fig.savefig(tmp_path / "hist.png")
    assert (tmp_path / "hist.png").stat().st_size > 0
    assert len(encoding_histogram_figure(sets, dims=[2, 5, 9]).axes) == 3
    with pytest.raises(ValueError, match="same D"):
        encoding_histogram_figure({"a": sets["prior"], "b": sets["prior"][:, :3]})
