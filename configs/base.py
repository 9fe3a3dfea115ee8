"""Defaults every experiment config starts from: a denoising autoencoder on mnist5k.

Named configs import this and override what differs, e.g. ``configs/dae_mnist5k.py``.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist5k"
    config.data.tfds_data_dir = ml_collections.config_dict.placeholder(str)

    # Paper 001 MNIST models: 2x1000 MLPs, 10-D code, corruption N(x, 0.5^2 I).
    config.model = ml_collections.ConfigDict()
    config.model.family = "dae"
    config.model.latent_dim = 10
    config.model.architecture = "mlp"
    config.model.encoder_hidden = (1000, 1000)
    config.model.decoder_hidden = (1000, 1000)
    config.model.activation = "relu"
    config.model.conv_width = 64
    config.model.reconstruction_loss = "bce"
    config.model.kl_weight = 1.0
    config.model.corruption = "gaussian"
    config.model.corruption_level = 0.5

    # Adam 2e-4, beta1 0.5, batch 64 (papers 000 and 001).
    config.train = ml_collections.ConfigDict()
    config.train.num_steps = 3000
    config.train.batch_size = 64
    config.train.optimizer = "adam"
    config.train.learning_rate = 2e-4
    config.train.b1 = 0.5
    config.train.b2 = 0.999
    config.train.momentum = 0.0
    config.train.log_every = 100
    config.train.eval_every = 0  # 0 = once per epoch
    config.train.checkpoint_every = 1000
    config.train.keep_checkpoints = 3
    config.train.eval_batch_size = 500
    return config


def paper000_conv(data_name: str, family: str) -> ml_collections.ConfigDict:
    """Paper 000's DCGAN-style conv models on 64x64 images: 200-D code, Adam 2e-4, beta1 0.5,
    and for the denoising families the corruption N(x, 0.25 I), i.e. sigma = 0.5."""
    config = get_config()
    config.data.name = data_name
    config.model.family = family
    config.model.architecture = "dcgan"
    config.model.latent_dim = 200
    if family in ("ae", "vae", "aae"):
        config.model.corruption = "none"
        config.model.corruption_level = 0.0
    config.train.num_steps = 100_000
    config.train.checkpoint_every = 5000
    config.train.log_every = 200
    return config
