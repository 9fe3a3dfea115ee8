"""Paper 000's conv DAAE on SVHN (cropped, resized to 64x64): 200-D code, Adam 2e-4, 20 epochs."""

from configs import models


def get_config():
    return models.get_config("daae,svhn")
