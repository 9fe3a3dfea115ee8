"""Paper 001 Table III model 3 on the full MNIST (TFDS): DAAE, sigma 0.5, 2-D prior of 10
Gaussians (std 0.5) on a circle of radius 4."""

from configs import models


def get_config():
    return models.get_config("daae_gmm,mnist")
