"""Paper 001 Table III model 4 on the full MNIST (TFDS): iDAAE, sigma 0.5, M = 5, 10-D N(0, I)
prior."""

from configs import models


def get_config():
    return models.get_config("idaae,mnist")
