"""Paper 004's GAE on mnist5k with 2-layer (2x1000) MLPs: Gaussian encoder, aggregate-posterior
prior (sampling: pick a training point y, draw z ~ q(z|y), decode)."""

from configs import models


def get_config():
    return models.get_config("gae,mnist5k")
