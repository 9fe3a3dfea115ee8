"""Paper 001 Table III model 5 on the full MNIST (TFDS): iDAAE, sigma 0.5, M = 25, 10-D N(0, I)
prior."""

from configs import base, idaae25_mnist5k


def get_config():
    config = idaae25_mnist5k.get_config()
    config.data.name = "tfds:mnist"
    config.train.num_steps = base.epochs_to_steps(config, 100)
    return config
