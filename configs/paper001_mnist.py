"""Paper 001 Tables IV, V and VI on MNIST: AAE, DAAE, DAAE with the 2-D 10-GMM ring prior, and
iDAAE with M = 5 and M = 25 (Table III's models: 2x1000 MLPs, z = 10, sigma 0.5, Adam 2e-4).

    python -m experiments.reproduce --config=configs/paper001_mnist.py --workdir=runs/paper001

``:small`` for CI, ``:full`` for the full MNIST with the paper's 100 epochs (configs/tables.py).
"""

from configs import tables

# name -> configs/models.py argument
MODELS = {
    "aae": "aae,mnist5k",
    "daae": "daae,mnist5k",
    "daae_gmm": "daae_gmm,mnist5k",
    "idaae5": "idaae,mnist5k",
    "idaae25": "idaae25,mnist5k",
}
# scale -> (epochs of every model, Parzen samples per model, reference-classifier steps).
# default: 10 epochs of mnist5k (620 steps) keeps the table near 10 minutes on 2 CPU cores, most
# of it the iDAAE with M = 25, whose every step encodes 25 corruptions of each image.
SCALES = {"small": (0.25, 500, 100), "default": (10, 10_000, 1000), "full": (100, 10_000, 2000)}


def get_config(scale: str = "default"):
    config = tables.same_epochs_table_config("paper001_mnist", scale, MODELS, SCALES)
    config.reproduce.chain_steps = 5  # Table V: x^(0) and x^(5)
    config.reproduce.pca_components = 10  # as many as the 10-D codes
    return config
