"""Denoising VAE (Im et al.; paper 001 Sec. I-D) on mnist5k: KL of q(z|x~), sigma=0.5."""

from configs import base


def get_config():
    config = base.get_config()
    config.model.family = "dvae"
    return config
