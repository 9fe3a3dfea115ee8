"""Paper 004's KDE table on MNIST: GAE with 1- and 2-layer MLPs against a VAE and an AAE (all
1000-unit layers, z = 10; paper 004 gives neither its latent size nor its training length).

    python -m experiments.reproduce --config=configs/paper004_mnist.py --workdir=runs/paper004

``:small`` for CI, ``:full`` for the full MNIST with 100 epochs (configs/tables.py).
"""

from configs import aae_mnist5k, gae1_mnist5k, gae_mnist5k, tables, vae_mnist5k

MODELS = {"gae1": gae1_mnist5k, "gae2": gae_mnist5k, "vae": vae_mnist5k, "aae": aae_mnist5k}
# scale -> (epochs of every model, Parzen samples per model, reference-classifier steps).
SCALES = {"small": (0.25, 500, 100), "default": (30, 10_000, 1000), "full": (100, 10_000, 2000)}


def get_config(scale: str = "default"):
    config = tables.table_config(
        "paper004_mnist", scale, {name: m.get_config() for name, m in MODELS.items()}
    )
    epochs, num_samples, classifier_steps = SCALES[scale]
    r = config.reproduce
    r.epochs = {name: float(epochs) for name in MODELS}
    r.num_samples = num_samples
    r.classifier_steps = classifier_steps
    return config
