"""The main job: ``python -m experiments.main --workdir=DIR [--config=configs/quickstart.py]``.

Trains an AAE, a DAAE and an iDAAE on mnist5k, samples each with 10,000 latent Markov chains,
measures the samples at every recorded chain step and writes ``DIR/report.html`` (see
:mod:`gae_jax.jobs.main`). Rerunning resumes or skips finished training. Override any value with
``--config.section.key=value``, e.g. ``--config.sampler.num_chains=1000``.
"""

from absl import app, flags
from ml_collections import config_flags

from gae_jax.jobs import cluster, run_pipeline

_CONFIG = config_flags.DEFINE_config_file("config", "configs/quickstart.py", "Job config.")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for models and the report.", required=True
)

_CLUSTER = cluster.define_flags()


def main(argv):
    del argv
    cluster.start(_CLUSTER)  # first: joins the cluster before any device is used
    run_pipeline(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
