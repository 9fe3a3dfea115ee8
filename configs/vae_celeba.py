"""Paper 000's conv VAE on CelebA 64x64: DCGAN nets, 200-D code, Adam 2e-4, beta1 0.5."""

from configs import models


def get_config():
    return models.get_config("vae,celeba")
