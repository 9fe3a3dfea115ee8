"""Paper 001 Table III model 2 on the full MNIST (TFDS): DAAE, sigma 0.5, 10-D N(0, I) prior."""

from configs import models


def get_config():
    return models.get_config("daae,mnist")
