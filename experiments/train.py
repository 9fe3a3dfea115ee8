"""Trains a model: ``python -m experiments.train --config=configs/NAME.py --workdir=DIR``.

Checkpoints into DIR and resumes from the latest checkpoint there. Override any config value
with ``--config.section.key=value``, e.g. ``--config.train.num_steps=500``. A resume keeps the
settings the run started with (seed, data, model, batch size, optimizer, learning rates) unless
``--allow_config_change`` is passed; the change is then recorded in ``DIR/run_history.jsonl``.
Errors the user can fix (a bad or unknown config key, a workdir in use or unusable, a config
that does not fit in memory, a full disk) end the run with one line and exit status 1.
"""

import gc
import sys

from absl import app, flags
from ml_collections import config_flags

from gae_jax import checkpoint
from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import cluster, train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file("config", "configs/dae_mnist5k.py", "Experiment config.")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints and metrics.", required=True
)

_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    "allow_config_change",
    False,
    "Resume with settings other than those the run started with (seed, data, model, batch size, "
    "optimizer, learning rates); the change and its step go to DIR/run_history.jsonl.",
)

_CLUSTER = cluster.define_flags()

# Errors with a message that says what to do: shown as one line, without a traceback.
_USER_ERRORS = (config_lib.ConfigError, workdir_lib.WorkdirError, checkpoint.CheckpointError)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as e:  # an unknown --config.KEY fails inside absl
        sys.exit(f"error: {config_lib.unknown_override(argv) or e}")


def main(argv):
    del argv
    cluster.start(_CLUSTER)  # first: joins the cluster before any device is used
    try:
        train_and_evaluate(
            _CONFIG.value, _WORKDIR.value, allow_config_change=_ALLOW_CONFIG_CHANGE.value
        )
    except _USER_ERRORS as e:
        gc.collect()  # orbax's failed futures log now, so that this line is the last one
        sys.exit(f"error: {type(e).__name__}: {e}")


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
