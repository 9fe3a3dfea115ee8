"""Denoising VAE (Im et al.; paper 001 Sec. I-D) on mnist5k: KL of q(z|x~), sigma=0.5."""

from configs import models


def get_config():
    return models.get_config("dvae,mnist5k")
