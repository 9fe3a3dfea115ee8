"""Paper 000's conv DVAE on SVHN 64x64: corruption N(x, 0.25 I)."""

from configs import models


def get_config():
    return models.get_config("dvae,svhn")
