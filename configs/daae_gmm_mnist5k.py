"""Paper 001 Table III model 3 on mnist5k: DAAE, sigma 0.5, 2-D prior of 10 Gaussians (std 0.5)
on a circle of radius 4."""

from configs import base


def get_config():
    config = base.paper001_mnist("daae")
    config.model.latent_dim = 2
    config.model.prior = "gmm_ring"
    return config
