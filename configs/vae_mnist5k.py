"""VAE on mnist5k: 2x1000 MLPs, z=10, BCE + analytic KL."""

from configs import models


def get_config():
    return models.get_config("vae,mnist5k")
