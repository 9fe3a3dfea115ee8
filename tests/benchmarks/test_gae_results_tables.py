"""The GAE benchmarks' README tables in the results-file format (gae_jax.jobs.results): values
and their standard errors in separate columns, spread over seeds where there are several."""

import json
import math
import subprocess
import sys

from helpers import REPO

from benchmarks import paper004_binarized_ll
from gae_jax.jobs import results

# benchmarks.gae_batch_size defines absl flags of the same names as paper004_binarized_ll's
# (--workdir, --out), so it is imported in a process of its own.
_BATCH_SIZE_TABLES = """
import json, sys
from benchmarks import gae_batch_size as g
from gae_jax.jobs import results
runs = [dict(estimator=e, batch_size=64, steps=2400, seed=s, nll=n, se=se) for e, s, n, se in
        [("reweighted", 0, 145.0, 0.6), ("reweighted", 1, 147.0, 0.8),
         ("em", 0, 150.0, 0.5), ("em", 1, 150.5, 0.5)]]
gaps = {"batch, B=64": {"gap": 16.80584, "se": 0.13738},
        "em (K=16), B=64": {"gap": 0.0016, "se": 0.0001}}
assert [g.run_steps(38.4, 300, 4000, b) for b in (64, 512)] == [2400, 300]  # equal data
assert g.run_steps(0, 300, 4000, 64) == 300  # --epochs=0: --steps
accumulated = [dict(r, estimator="em", batch_size=b, steps=n, grad_accum_steps=k) for r, b, n, k in
               [(runs[2], 64, 4800, 8), (runs[3], 64, 4800, 8),
                (runs[0], 512, 600, 1), (runs[1], 512, 600, 1)]]
assert g.accumulation(512, [64, 512]) == {64: 8, 512: 1}
assert g.accumulation(0, [64, 512]) == {64: 1, 512: 1}
for bad in (-512, 100, 256):
    try:
        g.accumulation(bad, [64, 512])
    except ValueError as e:
        assert f"--update_size={bad} must be 0 or a multiple of every batch size" in str(e), e
    else:
        raise AssertionError(bad)
json.dump({"two_seeds": results.render_table(g.nll_table(runs, ["reweighted", "em"], [64])),
           "accumulated": results.render_table(g.nll_table(accumulated, ["em"], [64, 512])),
           "one_seed": results.render_table(g.nll_table(runs[::2], ["reweighted"], [64])),
           "gaps": results.render_table(g.gaps_table(gaps))}, sys.stdout)
"""


def test_batch_size_tables():
    out = subprocess.run(
        [sys.executable, "-c", _BATCH_SIZE_TABLES],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    tables = json.loads(out.stdout)
    header, row = tables["two_seeds"]
    assert header == ["trained with", "reweighted: full-n NLL", "s.e.", "em: full-n NLL", "s.e."]
    # mean ± sd over the two seeds; s.e. sqrt(0.6² + 0.8²) / 2 = 0.5
    assert row == [
        "B = 64, 2,400 steps",
        f"146.00 ± {math.sqrt(2):.2f}",
        "0.50",
        "150.25 ± 0.35",
        "0.35",
    ]
    assert tables["one_seed"][1] == ["B = 64, 2,400 steps", "145.00", "0.60"]  # one seed: no spread
    # equal updates: the accumulating row names its minibatches, every row counts updates;
    # two batch sizes over two seeds each: their difference with its s.e. over seeds,
    # 150.25 - 146 = 4.25 and sqrt(0.35² / 2 + 1.41² / 2) = sqrt(0.0625 + 1) = 1.03
    _, b64, b512, diff = tables["accumulated"]
    assert (b64[:2], b512[:2]) == (
        ["B = 64 x 8 accumulated, 600 updates", "150.25 ± 0.35"],
        ["B = 512, 600 updates", f"146.00 ± {math.sqrt(2):.2f}"],
    )
    assert diff == ["B = 64 minus B = 512 (s.e. over seeds)", "4.25", "1.03"]
    assert len(tables["two_seeds"]) == 2  # one batch size: no difference row
    _, batch, em = tables["gaps"]
    assert batch == ["batch, B=64", "16.806", "0.137"]
    assert em == ["em (K=16), B=64", "0.002", "0.000"]


def test_binarized_table():
    def estimate(mean, se):
        return {"mean": mean, "se": se}

    models = {
        "gae": dict(
            prior_sampled=estimate(-158.24, 1.93),
            importance_sampled=estimate(-213.63, 2.5),
            paper=paper004_binarized_ll.PAPER["gae"],
        ),
        "gae1": dict(
            prior_sampled=estimate(-150.0, 2.0),
            importance_sampled=estimate(-149.0, 1.0),
            paper=None,
        ),
    }
    _, gae, other = results.render_table(paper004_binarized_ll.results_table(models, "em"))
    assert gae == ["GAE (2 layers, `em`)", "-158.2", "1.9", "-213.6", "2.5", "-94.66 (4 layers)"]
    assert other == ["gae1", "-150.0", "2.0", "-149.0", "1.0", "–"]
