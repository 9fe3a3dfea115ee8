"""Paper 000's conv VAE on SVHN (cropped, resized to 64x64): 200-D code, Adam 2e-4."""

from configs import base


def get_config():
    return base.paper000_conv("tfds:svhn_cropped", "vae")
