"""Denoising AE on mnist5k: 2x1000 MLPs, z=10, sigma=0.5 (paper 001 MNIST setting)."""

from configs import base


def get_config():
    config = base.get_config()
    config.model.family = "dae"
    return config
