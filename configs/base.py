"""Defaults every experiment config starts from: a denoising autoencoder on mnist5k (paper 001's
MNIST setting: 2x1000 MLPs, 10-D code, sigma 0.5, Adam 2e-4, beta1 0.5, batch 64).

The values are the dataclass defaults of :mod:`gae_jax.config`, the one place they are written
(with what each field means); configs import this and override what differs, e.g.
``configs/models.py``.
"""

import ml_collections

from gae_jax import config as config_lib

# Training-set sizes after the validation hold-out (gae_jax.data), to express epochs in steps.
_TRAIN_EXAMPLES = {
    "mnist5k": 4_000,
    "tfds:mnist": 54_000,
    "tfds:omniglot": 17_352,
    "tfds:celeb_a": 162_770,
    # svhn_cropped has no validation split: TFDS's train[:90%] of its 73,257 training images.
    "tfds:svhn_cropped": 65_931,
}


def get_config() -> ml_collections.ConfigDict:
    return config_lib.default_config()


def epochs_to_steps(config: ml_collections.ConfigDict, epochs: int) -> int:
    """Steps in ``epochs`` passes over the training set (the last partial batch is dropped)."""
    return epochs * (_TRAIN_EXAMPLES[config.data.name] // config.train.batch_size)
