"""Paper 000's conv DAAE on CelebA (64x64): 200-D code, Adam 2e-4, 20 epochs, its adversary
(leaky ReLU, dropout); ``configs/daae_celeba.py`` is paper 001's."""

from configs import models


def get_config():
    return models.get_config("daae,celeba000")
