"""Paper 001 Table III model 2 on the full MNIST (TFDS): DAAE, sigma 0.5, 10-D N(0, I) prior."""

from configs import base, daae_mnist5k


def get_config():
    config = daae_mnist5k.get_config()
    config.data.name = "tfds:mnist"
    config.train.num_steps = base.epochs_to_steps(config, 100)
    return config
