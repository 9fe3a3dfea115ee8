"""Paper 004's GAE on mnist5k with 1-layer (1000-unit) MLPs."""

from configs import gae_mnist5k


def get_config():
    config = gae_mnist5k.get_config()
    config.model.encoder_hidden = (1000,)
    config.model.decoder_hidden = (1000,)
    return config
