"""Paper 004's GAE on mnist5k with 2-layer (2x1000) MLPs: Gaussian encoder, aggregate-posterior
prior (sampling: pick a training point y, draw z ~ q(z|y), decode)."""

from configs import base


def get_config():
    config = base.get_config()
    config.model.family = "gae"
    config.model.prior = "aggregate"
    config.model.corruption = "none"
    config.model.corruption_level = 0.0
    config.train.num_steps = base.epochs_to_steps(config, 100)
    return config
