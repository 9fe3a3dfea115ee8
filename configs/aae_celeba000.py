"""Paper 000's conv AAE on CelebA (64x64): 200-D code, Adam 2e-4, 20 epochs, its adversary
(leaky ReLU, dropout); ``configs/aae_celeba.py`` is paper 001's."""

from configs import models


def get_config():
    return models.get_config("aae,celeba000")
