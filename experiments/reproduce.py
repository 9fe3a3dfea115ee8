"""Reproduces a paper's table: ``python -m experiments.reproduce --config=configs/TABLE.py --workdir=DIR``.

Trains (or restores) the table's models into DIR/<model> and writes ``table.md``, ``table.csv``,
``results.json`` and figures into DIR, each number next to the paper's; ``--out=PATH`` also writes
the tables as a results file (``docs/results/paper00N.json``, which the README's tables match).
Pick a scale preset with a colon (``--config=configs/paper001_mnist.py:small``, ``:default``,
``:full``) and override any value with ``--config.section.key=value``, e.g.
``--config.data.name=idx:/path/to/mnist``.
"""

from absl import app, flags
from ml_collections import config_flags

from gae_jax.jobs import cluster, reproduce

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/paper001_mnist.py", "Table config (configs/paper00N_*.py[:scale])."
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for the models and the tables.", required=True
)
_OUT = flags.DEFINE_string(
    "out", None, "Also write the tables as a results file here (docs/results/*.json)."
)
_CLUSTER = cluster.define_flags()


def main(argv):
    del argv
    cluster.start(_CLUSTER)  # first: joins the cluster before any device is used
    reproduce(_CONFIG.value, _WORKDIR.value, results_path=_OUT.value)


if __name__ == "__main__":
    app.run(main)
