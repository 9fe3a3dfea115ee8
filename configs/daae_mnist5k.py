"""Paper 001 Table III model 2 on mnist5k: DAAE, sigma 0.5, 10-D N(0, I) prior."""

from configs import base


def get_config():
    return base.paper001_mnist("daae")
