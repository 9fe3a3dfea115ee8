"""Paper 001 Table III model 5 on the full MNIST (TFDS): iDAAE, sigma 0.5, M = 25, 10-D N(0, I)
prior."""

from configs import models


def get_config():
    return models.get_config("idaae25,mnist")
