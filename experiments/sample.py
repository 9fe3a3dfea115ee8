"""Samples a trained model: ``python -m experiments.sample --config=configs/NAME.py --workdir=DIR``.

Restores the checkpoint in DIR (trained by ``experiments.train`` with the same config), runs
the chains of ``config.sampler`` and writes figures, ``samples.npz`` and
``sample_summary.json`` (wall times, diagnostics) under DIR/samples. Override any value with
``--config.sampler.key=value``, e.g. ``--config.sampler.num_chains=1024``.
"""

from absl import app, flags
from ml_collections import config_flags

from gae_jax.jobs import cluster, sample_and_save

_CONFIG = config_flags.DEFINE_config_file("config", "configs/dae_mnist5k.py", "Experiment config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of a trained model.", required=True)

_CLUSTER = cluster.define_flags()


def main(argv):
    del argv
    cluster.start(_CLUSTER)  # first: joins the cluster before any device is used
    sample_and_save(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
