"""VAE on mnist5k: 2x1000 MLPs, z=10, BCE + analytic KL."""

from configs import base


def get_config():
    config = base.get_config()
    config.model.family = "vae"
    config.model.corruption = "none"
    config.model.corruption_level = 0.0
    return config
