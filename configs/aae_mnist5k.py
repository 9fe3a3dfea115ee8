"""Paper 001 Table III model 1 on mnist5k: AAE (no corruption), 10-D N(0, I) prior."""

from configs import models


def get_config():
    return models.get_config("aae,mnist5k")
