"""Trains a model: ``python -m experiments.train --config=configs/NAME.py --workdir=DIR``.

Checkpoints into DIR and resumes from the latest checkpoint there. Override any config value
with ``--config.section.key=value``, e.g. ``--config.train.num_steps=500``.
"""

from absl import app, flags
from ml_collections import config_flags

from gae_jax.jobs import cluster, train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", "configs/dae_mnist5k.py", "Experiment config.")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints and metrics.", required=True
)

_CLUSTER = cluster.define_flags()


def main(argv):
    del argv
    cluster.start(_CLUSTER)  # first: joins the cluster before any device is used
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
