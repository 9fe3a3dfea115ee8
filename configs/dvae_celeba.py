"""Paper 000's conv DVAE on CelebA 64x64: corruption N(x, 0.25 I), i.e. sigma=0.5."""

from configs import models


def get_config():
    return models.get_config("dvae,celeba")
