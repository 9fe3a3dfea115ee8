"""The papers' single-model experiment configs, one parameterised config (big_vision style):

    python -m experiments.train --config=configs/models.py:daae,mnist5k --workdir=DIR

The argument is ``VARIANT,DATA``:

* ``VARIANT`` -- a family of :data:`gae_jax.config.FAMILIES` or one of :data:`VARIANTS`
  (``daae_gmm``, ``idaae25``, ``gae1``);
* ``DATA`` -- ``mnist5k`` (embedded), ``mnist`` (TFDS, full MNIST), ``omniglot`` (28x28) or
  ``omniglot105`` (paper 001's 105x105 binary images, 19 train / 1 test per character),
  ``celeba`` (paper 001 for the adversarial families, paper 000 otherwise),
  ``celeba000`` (paper 000's models for every family: its AAE and DAAE), ``svhn``
  (paper 000, every family), or the full Fashion-MNIST at 28x28: ``fashion`` (the IDX files of Debian's
  ``dataset-fashion-mnist``) or ``fashion_tfds`` (``tfds:fashion_mnist``). The Fashion-MNIST
  configs train the MLP models of paper 001 (``VARIANT`` a family) or, with the ``_conv``
  suffix (``daae_conv``, ``idaae_conv``, ``vae_conv``, ``dvae_conv``), paper 000's DCGAN
  conv encoder and decoder at 28x28.

Plain and denoising AEs/VAEs on MNIST keep base.py's 3000 steps; the paper-000, paper-001 and
paper-004 models train for the papers' epochs. The adversarial models of paper 001's data sets
(MNIST, Omniglot, CelebA) have its discriminator: ReLU without dropout (Sec. IV-A); paper 000's
and the Fashion-MNIST ones keep the default leaky ReLU with dropout 0.2. ``configs/<variant>_<data>.py`` are shims of this.
"""

import ml_collections

from configs import base
from gae_jax.config import FAMILIES

# name -> (family, config.model overrides): the papers' models that are not just a family.
VARIANTS = {
    # Paper 001 Table III model 3: a 2-D prior of 10 Gaussians (std 0.5) on a circle of radius 4.
    "daae_gmm": ("daae", {"latent_dim": 2, "prior": "gmm_ring"}),
    # Paper 001 Table III model 5: M = 25 corruptions per image.
    "idaae25": ("idaae", {"integration_samples": 25}),
    # Paper 004: Gaussian encoder, aggregate-posterior prior (sample: pick a training point y,
    # draw z ~ q(z|y), decode), with 2- and 1-layer MLPs.
    "gae": ("gae", {"prior": "aggregate"}),
    "gae1": ("gae", {"prior": "aggregate", "encoder_hidden": (1000,), "decoder_hidden": (1000,)}),
}
DATA = (
    "mnist5k",
    "mnist",
    "omniglot",
    "omniglot105",
    "celeba",
    "celeba000",
    "svhn",
    "fashion",
    "fashion_tfds",
)
_TFDS = {
    "mnist": "tfds:mnist",
    "omniglot": "tfds:omniglot",
    "omniglot105": "tfds:omniglot105",
    "celeba": "tfds:celeb_a",
}
# Omniglot training images: 28x28 with TFDS's train split less 10%; paper 001's 105x105 binary
# images with 19 of the 20 drawings of each of the 1,623 characters.
_OMNIGLOT_TRAIN = {"omniglot": 17_352, "omniglot105": 1_623 * 19}
# Full Fashion-MNIST (60,000 + 10,000 28x28 grey images): Debian's package or TFDS.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FASHION = {"fashion": f"idx:{FASHION_MNIST_DIR}", "fashion_tfds": "tfds:fashion_mnist"}
# VARIANT suffix selecting paper 000's DCGAN conv networks (Fashion-MNIST configs only).
_CONV = "_conv"
# Fashion-MNIST trains on all 60,000 training images and validates on the 10,000 test images.
_FASHION_TRAIN = 60_000


def get_config(arg: str = "dae,mnist5k") -> ml_collections.ConfigDict:
    variant, _, data = arg.partition(",")
    conv = variant.endswith(_CONV) and data in _FASHION
    variant = variant.removesuffix(_CONV) if conv else variant
    family, overrides = VARIANTS.get(variant, (variant, {}))
    if family not in FAMILIES or data not in DATA:
        raise ValueError(
            f"configs/models.py:{arg}; valid: VARIANT,DATA with VARIANT in "
            f"{[*FAMILIES, *VARIANTS]} (with DATA in {tuple(_FASHION)} also "
            f"VARIANT{_CONV}) and DATA in {DATA}"
        )
    spec = FAMILIES[family]
    config = base.get_config()
    config.model.family = family
    if not spec.denoising:
        config.model.corruption = "none"
        config.model.corruption_level = 0.0
    config.model.update(overrides)
    if data in _FASHION:
        _fashion_mnist(config, _FASHION[data], conv)
    elif data in ("celeba", "celeba000", "svhn"):
        _paper000_conv(config, "tfds:svhn_cropped" if data == "svhn" else "tfds:celeb_a")
        if spec.adversarial and data == "celeba":
            _paper001_celeba(config, spec.denoising)
            _paper001_discriminator(config)
    else:
        config.data.name = _TFDS.get(data, "mnist5k")
        if data in _OMNIGLOT_TRAIN:
            _paper001_omniglot(config, _OMNIGLOT_TRAIN[data])
        elif spec.adversarial or family == "gae":  # paper 001 Table III, paper 004: 100 epochs
            config.train.num_steps = base.epochs_to_steps(config, 100)
        if spec.adversarial:
            _paper001_discriminator(config)
    return config


def _paper000_conv(config: ml_collections.ConfigDict, data_name: str) -> None:
    """Paper 000's DCGAN-style conv models on 64x64 images (Sec. 5): 200-D code, Adam 2e-4,
    beta1 0.5, 20 epochs of the training split, and for the denoising families the corruption
    N(x, 0.25 I), i.e. sigma = 0.5; its adversary is base.py's (leaky ReLU, dropout)."""
    config.data.name = data_name
    config.model.architecture = "dcgan"
    config.model.latent_dim = 200
    config.train.num_steps = base.epochs_to_steps(config, 20)
    config.train.checkpoint_every = 5000
    config.train.log_every = 200


def _fashion_mnist(config: ml_collections.ConfigDict, data_name: str, conv: bool) -> None:
    """Full Fashion-MNIST: 10 epochs of batch 64 over all 60,000 training images, validated on
    the 10,000 test images (``data.validation="test"``), logged every 100 steps and
    checkpointed every 1000. ``conv``: paper 000's DCGAN encoder and decoder at 28x28 (two
    stride-2 stages), 64 filters, a 32-D code; else paper 001's 2x1000 MLPs, 10-D code."""
    config.data.name = data_name
    config.data.validation = "test"
    config.train.num_steps = 10 * (_FASHION_TRAIN // config.train.batch_size)
    config.train.checkpoint_every = 1000
    config.train.log_every = 100
    if conv:
        config.model.architecture = "dcgan"
        config.model.latent_dim = 32


def _paper001_omniglot(config: ml_collections.ConfigDict, num_train: int) -> None:
    """Paper 001's Omniglot models: decoder, encoder and discriminator MLPs of 6, 3 and 2 layers
    of 1000 units, 200-D N(0, I) prior, sigma 0.5, M = 5, Adam 1e-5, batch 64, 1000 epochs of
    ``num_train`` images."""
    config.model.latent_dim = 200
    config.model.encoder_hidden = (1000,) * 3
    config.model.decoder_hidden = (1000,) * 6
    config.model.disc_hidden = (1000,) * 2
    config.train.learning_rate = 1e-5
    config.train.num_steps = 1000 * (num_train // config.train.batch_size)
    config.train.checkpoint_every = 5000


def _paper001_discriminator(config: ml_collections.ConfigDict) -> None:
    """Paper 001 Sec. IV-A's adversary: "intermediate layers of the network have ReLU activation
    functions", and no dropout is mentioned."""
    config.model.disc_activation = "relu"
    config.model.disc_dropout = 0.0


def _paper001_celeba(config: ml_collections.ConfigDict, denoising: bool) -> None:
    """Paper 001's CelebA models (Sec. IV-C): paper 000's conv encoder and decoder, a 3-layer
    MLP discriminator (1000-1000-1), 200-D N(0, I) prior, "RMSprop with learning rate 1e-4 and
    momentum 0.1 for training the discriminator" (the autoencoder and the encoder's
    prior-matching updates: Adam at the same rate, the paper's other optimiser), batch 64, 100
    epochs; sigma 0.25 and M = 5 (its Fig. 5 iDAAE) for the denoising families."""
    if denoising:
        config.model.corruption_level = 0.25
    config.train.disc_optimizer = "rmsprop"
    config.train.learning_rate = 1e-4
    config.train.momentum = 0.1
    config.train.num_steps = base.epochs_to_steps(config, 100)
