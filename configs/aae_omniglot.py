"""Paper 001's Omniglot AAE: MLPs of 3 (encoder), 6 (decoder), 2 (discriminator) x 1000, z=200."""

from configs import models


def get_config():
    return models.get_config("aae,omniglot")
