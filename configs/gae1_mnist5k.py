"""Paper 004's GAE on mnist5k with 1-layer (1000-unit) MLPs."""

from configs import models


def get_config():
    return models.get_config("gae1,mnist5k")
