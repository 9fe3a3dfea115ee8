"""The chain study on the full Fashion-MNIST (``python -m experiments.study``):

    python -m experiments.study --config=configs/study_fashion.py --workdir=DIR

VAE, DVAE, AAE, DAAE, iDAAE (M = 5) and GAE, paper 001's 2x1000 MLPs with a 10-D code
(``configs/models.py:FAMILY,fashion``), trained on all 60,000 training images (validated on the
test split) for ``study.epochs`` epochs, three seeds each; then every chain variant (decoder mean
or sampled x, population or minibatch batch norm, corruption sigma 0.25 or 0.5) runs 5,000
chains of 20 steps from prior draws, measured at steps 0, 1, 2, 5, 10 and 20 against the 10,000
test images. ``configs/study_fashion.py:conv`` adds paper 000's DCGAN conv DAAE (batch norm, so
the batch-norm modes differ; slow on CPU).

Three epochs: the MLP DAAE's validation BCE falls 252.2 -> 247.1 -> 243.8 over epochs 1-3 and
then stops falling (epochs 4-10 average 241.8 with no trend; docs/results/fashion_mnist.json),
so later epochs would add under 1% and the study's cost.

Cost: training 6 models x 3 seeds x 3 epochs x 937 steps = 50,600 steps; the MLP DAAE trains at
about 7 steps/s on 2 idle AVX2 cores (the VAEs faster, the iDAAE slower), so about 2 h; chains
and measures (4 distinct variants per MLP model, 5,000 chains x 20 steps each) add a few
minutes per model. Each seed's pass (about 45 minutes) writes its results when it ends.
"""

import ml_collections

from configs import base, models
from gae_jax import config as config_lib

FAMILIES = ("vae", "dvae", "aae", "daae", "idaae", "gae")


def study_config(data: str, names: tuple[str, ...], epochs: float) -> ml_collections.ConfigDict:
    """A study config of the models ``configs/models.py:NAME,DATA`` for each of ``names``,
    each trained for ``epochs`` epochs, with the study's defaults
    (:class:`gae_jax.config.StudyConfig`) and the paper-000 chain steps."""
    defaults = base.get_config()
    config = ml_collections.ConfigDict()
    config.seed = defaults.seed
    config.models = ml_collections.ConfigDict()
    for name in names:
        paper = models.get_config(f"{name},{data}")
        config.data = paper.data  # the same for every model
        config.models[name] = ml_collections.ConfigDict(
            {"model": paper.model, "train": paper.train}
        )
    config.sampler = defaults.sampler
    config.sampler.kernels = ("latent",)
    config.sampler.num_steps = 20
    config.sampler.record_steps = (0, 1, 2, 5, 10, 20)
    config.evaluation = config_lib.section_defaults(config_lib.EvaluationConfig)
    config.study = config_lib.section_defaults(config_lib.StudyConfig)
    config.study.epochs = {name: float(epochs) for name in names}
    return config


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    names = FAMILIES + (("daae_conv",) if arg == "conv" else ())
    if arg not in ("", "conv"):
        raise ValueError(f"configs/study_fashion.py:{arg}; valid: no argument, or 'conv'")
    config = study_config("fashion", names, epochs=3)
    config.data.validation = "test"  # train on all 60,000 images
    for name in names:
        config.models[name].train.checkpoint_every = 500
    config.sampler.num_chains = 5000
    config.evaluation.classifier_steps = 3000  # about 6 epochs of batch 128
    return config
