"""Paper 001's CelebA iDAAE: DCGAN-style conv nets, 200-D N(0, I), RMSprop 1e-4
momentum 0.1 for the discriminator, Adam 1e-4 for the autoencoder, ReLU discriminator without
dropout."""

from configs import models


def get_config():
    return models.get_config("idaae,celeba")
