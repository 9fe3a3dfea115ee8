"""Shared pieces of the paper-table configs (``configs/paper00N_*.py``); not a config itself.

A table config is selected with a scale preset after a colon, e.g.
``--config=configs/paper001_mnist.py:small``:

* ``small``   -- mnist5k, a fraction of an epoch, few samples and layers of at most 128 units:
  the CI end-to-end test, which checks the pipeline rather than the numbers;
* ``default`` -- mnist5k with moderate training, the numbers in the README (minutes on 2 cores);
* ``full``    -- the full MNIST (``tfds:mnist``; or ``--config.data.name=idx:DIR``) with the
  papers' epochs and sample counts.
"""

import ml_collections

from configs import base, models
from gae_jax.config import SCALES


def table_config(protocol: str, scale: str, models: dict) -> ml_collections.ConfigDict:
    """The sections every table config has; ``models`` maps names to experiment configs."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r} after the config file's colon; valid: {SCALES}")
    defaults = base.get_config()
    config = ml_collections.ConfigDict()
    config.seed = defaults.seed
    # Shared by every model of the table (overrides the models' own data section).
    config.data = defaults.data
    if scale == "full":
        config.data.name = "tfds:mnist"
    config.models = ml_collections.ConfigDict(models)
    if scale == "small":  # compile time and the iDAAE's M encodings dominate tiny runs
        for model in config.models.values():
            for key in ("encoder_hidden", "decoder_hidden", "disc_hidden"):
                model.model[key] = tuple(min(width, 128) for width in model.model[key])
    config.reproduce = ml_collections.ConfigDict()
    config.reproduce.protocol = protocol
    config.reproduce.scale = scale
    return config


def same_epochs_table_config(
    protocol: str, scale: str, model_args: dict[str, str], scales: dict[str, tuple]
) -> ml_collections.ConfigDict:
    """A table whose models (``name -> configs/models.py`` argument) all train for the same
    epochs and are measured on generated samples: ``scales[scale]`` is (epochs of every model,
    samples per model, reference-classifier steps)."""
    config = table_config(
        protocol, scale, {name: models.get_config(arg) for name, arg in model_args.items()}
    )
    epochs, num_samples, classifier_steps = scales[scale]
    r = config.reproduce
    r.epochs = {name: float(epochs) for name in model_args}
    r.num_samples = num_samples
    r.classifier_steps = classifier_steps
    return config
