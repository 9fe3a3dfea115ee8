"""Paper-faithful configs (issue 16): paper 001's discriminator and CelebA optimisers, paper
000's 20-epoch conv models (AAE and DAAE included) on CelebA and SVHN, VAE slerp endpoints."""

import importlib

import jax
import numpy as np
import pytest
from helpers import tiny_autoencoder

from configs import base, models, quickstart
from gae_jax import config as config_lib
from gae_jax import models as models_lib
from gae_jax.jobs.sample import slerp_endpoints

PAPER001 = [
    f"{family},{data}"
    for family in ("aae", "daae", "idaae")
    for data in ("mnist5k", "mnist", "omniglot", "omniglot105", "celeba")
] + ["daae_gmm,mnist5k", "idaae25,mnist"]
PAPER000 = [
    f"{family},{data}"
    for family in ("vae", "dvae", "aae", "daae")
    for data in ("celeba000", "svhn")
]


@pytest.mark.parametrize("arg", PAPER001)
def test_paper001_adversaries_are_relu_without_dropout(arg):
    cfg = config_lib.validate(models.get_config(arg))
    assert (cfg.model.disc_activation, cfg.model.disc_dropout) == ("relu", 0.0)


@pytest.mark.parametrize("arg", ["aae,celeba000", "daae,svhn", "daae,fashion"])
def test_other_adversaries_keep_the_default_leaky_relu_and_dropout(arg):
    cfg = config_lib.validate(models.get_config(arg))
    assert (cfg.model.disc_activation, cfg.model.disc_dropout) == ("leaky_relu", 0.2)


def test_quickstart_keeps_the_adversary_its_numbers_were_measured_with():
    experiments, _ = config_lib.validate_job(quickstart.get_config())
    for cfg in experiments.values():
        assert (cfg.model.disc_activation, cfg.model.disc_dropout) == ("leaky_relu", 0.2)


@pytest.mark.parametrize("family", ["aae", "daae", "idaae"])
def test_paper001_celeba_uses_rmsprop_for_the_discriminator_only(family):
    t = config_lib.validate(models.get_config(f"{family},celeba")).train
    assert (t.optimizer, t.disc_optimizer, t.gen_optimizer) == ("adam", "rmsprop", None)
    assert (t.learning_rate, t.momentum) == (1e-4, 0.1)
    assert t.num_steps == 100 * (162_770 // 64)


@pytest.mark.parametrize("arg", PAPER000)
def test_paper000_conv_models_train_20_epochs_with_adam(arg):
    cfg = config_lib.validate(models.get_config(arg))
    num_train = {"tfds:celeb_a": 162_770, "tfds:svhn_cropped": 65_931}[cfg.data.name]
    assert cfg.train.num_steps == 20 * (num_train // 64)
    assert cfg.model.architecture == "dcgan" and cfg.model.latent_dim == 200
    assert (cfg.train.optimizer, cfg.train.learning_rate, cfg.train.b1) == ("adam", 2e-4, 0.5)
    assert cfg.train.disc_optimizer is None
    if cfg.model.is_denoising:  # C = N(x, 0.25 I)
        assert (cfg.model.corruption, cfg.model.corruption_level) == ("gaussian", 0.5)


def test_svhn_training_size_is_tfds_train_90_percent():
    assert base._TRAIN_EXAMPLES["tfds:svhn_cropped"] == round(0.9 * 73_257)


@pytest.mark.parametrize(
    "module, arg",
    [
        ("aae_svhn", "aae,svhn"),
        ("daae_svhn", "daae,svhn"),
        ("aae_celeba000", "aae,celeba000"),
        ("daae_celeba000", "daae,celeba000"),
    ],
)
def test_paper000_adversarial_shims(module, arg):
    config = importlib.import_module(f"configs.{module}").get_config()
    assert config.to_dict() == models.get_config(arg).to_dict()
    assert config.model.family == arg.split(",")[0]


def test_vae_slerp_endpoints_are_posterior_means():
    model, variables = tiny_autoencoder("mlp", "gaussian")
    fns = models_lib.autoencoder_fns(model)
    x = jax.random.uniform(jax.random.key(0), (6, 8, 8, 1))
    posterior = fns.encode(variables, x)
    assert posterior.log_var is not None  # a VAE: a draw would differ from the mean
    np.testing.assert_allclose(slerp_endpoints(fns, variables, x), posterior.mean, rtol=1e-6)
