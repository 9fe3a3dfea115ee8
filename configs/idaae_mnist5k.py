"""Paper 001 Table III model 4 on mnist5k: iDAAE, sigma 0.5, M = 5, 10-D N(0, I) prior."""

from configs import base


def get_config():
    config = base.paper001_mnist("idaae")
    config.model.integration_samples = 5
    return config
