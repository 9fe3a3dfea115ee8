"""Plain autoencoder on mnist5k: 2x1000 MLPs, z=10."""

from configs import models


def get_config():
    return models.get_config("ae,mnist5k")
