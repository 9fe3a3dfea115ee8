"""Denoising AE on mnist5k: 2x1000 MLPs, z=10, sigma=0.5 (paper 001 MNIST setting)."""

from configs import models


def get_config():
    return models.get_config("dae,mnist5k")
