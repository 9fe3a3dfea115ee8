"""Paper 001 Table III model 3 on the full MNIST (TFDS): DAAE, sigma 0.5, 2-D prior of 10
Gaussians (std 0.5) on a circle of radius 4."""

from configs import base, daae_gmm_mnist5k


def get_config():
    config = daae_gmm_mnist5k.get_config()
    config.data.name = "tfds:mnist"
    config.train.num_steps = base.epochs_to_steps(config, 100)
    return config
