"""A small chain study (``configs/study_fashion.py``'s, shrunk) on ``mnist5k``:

    python -m experiments.study --config=configs/study_mnist5k.py --workdir=DIR

The same six families with 2x256 MLPs, 10 epochs of the 4,000 training digits, three seeds,
every chain variant with 1,000 chains, measured against the 500 test digits. Its time is mostly
XLA compilation (each chain run compiles once): about 20 minutes on 2 idle cores, estimated
from one seed at a quarter epoch (about 10 CPU-minutes, on a machine at load average 25).
``--config.study.seeds=0`` takes a third of that.
"""

import ml_collections

from configs import study_fashion


def get_config() -> ml_collections.ConfigDict:
    config = study_fashion.study_config("mnist5k", study_fashion.FAMILIES, epochs=10)
    for section in config.models.values():
        m = section.model
        m.encoder_hidden = m.decoder_hidden = m.disc_hidden = (256, 256)
        section.train.eval_every = 310
        section.train.checkpoint_every = 310
    config.sampler.num_chains = 1000
    config.evaluation.classifier_steps = 1000
    return config
