"""Paper 004's KDE table on MNIST: GAE with 1- and 2-layer MLPs against a VAE and an AAE (all
1000-unit layers, z = 10; paper 004 gives neither its latent size nor its training length).

    python -m experiments.reproduce --config=configs/paper004_mnist.py --workdir=runs/paper004

``:small`` for CI, ``:full`` for the full MNIST with 100 epochs (configs/tables.py).
"""

from configs import tables

# name -> configs/models.py argument
MODELS = {"gae1": "gae1,mnist5k", "gae2": "gae,mnist5k", "vae": "vae,mnist5k", "aae": "aae,mnist5k"}
# scale -> (epochs of every model, Parzen samples per model, reference-classifier steps).
SCALES = {"small": (0.25, 500, 100), "default": (30, 10_000, 1000), "full": (100, 10_000, 2000)}


def get_config(scale: str = "default"):
    return tables.same_epochs_table_config("paper004_mnist", scale, MODELS, SCALES)
