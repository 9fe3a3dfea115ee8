"""Paper 001 Table III model 1 on the full MNIST (TFDS): AAE (no corruption), 10-D N(0, I) prior."""

from configs import aae_mnist5k, base


def get_config():
    config = aae_mnist5k.get_config()
    config.data.name = "tfds:mnist"
    config.train.num_steps = base.epochs_to_steps(config, 100)
    return config
