"""Paper 001 Tables IV, V and VI on MNIST: AAE, DAAE, DAAE with the 2-D 10-GMM ring prior, and
iDAAE with M = 5 and M = 25 (Table III's models: 2x1000 MLPs, z = 10, sigma 0.5, Adam 2e-4).

    python -m experiments.reproduce --config=configs/paper001_mnist.py --workdir=runs/paper001

``:small`` for CI, ``:full`` for the full MNIST with the paper's 100 epochs (configs/tables.py).
"""

from configs import (
    aae_mnist5k,
    daae_gmm_mnist5k,
    daae_mnist5k,
    idaae25_mnist5k,
    idaae_mnist5k,
    tables,
)

MODELS = {
    "aae": aae_mnist5k,
    "daae": daae_mnist5k,
    "daae_gmm": daae_gmm_mnist5k,
    "idaae5": idaae_mnist5k,
    "idaae25": idaae25_mnist5k,
}
# scale -> (epochs of every model, Parzen samples per model, reference-classifier steps).
# default: 10 epochs of mnist5k (620 steps) keeps the table near 10 minutes on 2 CPU cores, most
# of it the iDAAE with M = 25, whose every step encodes 25 corruptions of each image.
SCALES = {"small": (0.25, 500, 100), "default": (10, 10_000, 1000), "full": (100, 10_000, 2000)}


def get_config(scale: str = "default"):
    config = tables.table_config(
        "paper001_mnist", scale, {name: m.get_config() for name, m in MODELS.items()}
    )
    epochs, num_samples, classifier_steps = SCALES[scale]
    r = config.reproduce
    r.epochs = {name: float(epochs) for name in MODELS}
    r.num_samples = num_samples
    r.chain_steps = 5  # Table V: x^(0) and x^(5)
    r.classifier_steps = classifier_steps
    r.pca_components = 10  # as many as the 10-D codes
    return config
