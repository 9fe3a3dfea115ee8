"""Paper 001's CelebA iDAAE: DCGAN-style conv nets, 200-D N(0, I), RMSprop 1e-4 momentum 0.1."""

from configs import base


def get_config():
    return base.paper001_celeba("idaae")
