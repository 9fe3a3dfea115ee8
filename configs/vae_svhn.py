"""Paper 000's conv VAE on SVHN (cropped, resized to 64x64): 200-D code, Adam 2e-4."""

from configs import models


def get_config():
    return models.get_config("vae,svhn")
