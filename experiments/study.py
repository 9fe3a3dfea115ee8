"""The chain study: ``python -m experiments.study --config=configs/study_fashion.py --workdir=DIR``.

Trains VAE, DVAE, AAE, DAAE, iDAAE and GAE once per seed, runs every chain variant from prior
draws and measures FD, precision, recall, density and coverage per chain step; writes
``DIR/table.md``, ``DIR/study.png``, ``DIR/study.json`` and ``DIR/results.json`` (and
``--out``, e.g. ``docs/results/study_fashion.json``) after each seed (see
:mod:`gae_jax.jobs.study`). Rerunning skips finished stages.
"""

from absl import app, flags
from ml_collections import config_flags

from gae_jax.jobs.study import run_study

_CONFIG = config_flags.DEFINE_config_file("config", "configs/study_mnist5k.py", "Study config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for models and results.", required=True)
_OUT = flags.DEFINE_string("out", None, "Also write the results file here (docs/results/*.json).")


def main(argv):
    del argv
    run_study(_CONFIG.value, _WORKDIR.value, results_path=_OUT.value)


if __name__ == "__main__":
    app.run(main)
