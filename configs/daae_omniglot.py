"""Paper 001's Omniglot DAAE: MLPs of 3 (encoder), 6 (decoder), 2 (discriminator) x 1000, z=200."""

from configs import base


def get_config():
    return base.paper001_omniglot("daae")
