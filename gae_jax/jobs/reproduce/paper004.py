"""Paper 004 (Generative Auto Encoder) on MNIST: the KDE (Parzen) test log-likelihood table.

Protocol: 10^4 samples per model, each the decoder mean of a code from the model's prior -- for
the GAE its aggregate posterior (pick a training image y, draw z ~ q(z|y)), for the VAE and AAE
N(0, I). A Parzen window on the samples, with its bandwidth chosen on the validation split (the
usual protocol; the paper does not say), scores the test split.
"""

from __future__ import annotations

import numpy as np

from gae_jax import builders, evaluation, parallel, plotting, samplers
from gae_jax import data as data_lib
from gae_jax.jobs.reproduce.common import (
    Context,
    Result,
    Trained,
    chain_images,
    real_data_metrics,
    real_reference,
    rng,
)
from gae_jax.jobs.reproduce.common import save_output as _save
from gae_jax.jobs.reproduce.tables import Entry

TITLE = "Paper 004 (GAE): MNIST KDE table"
TABLE = "KDE (Parzen) test log-likelihood of generated samples (nats, mean ± s.e.)"

# Paper 004's table, MNIST column: label and test log-likelihood.
PAPER = {
    "gae1": ("GAE (1 layer)", 456.71),
    "gae2": ("GAE (2 layers)", 460.73),
    "vae": ("VAE", 296.77),
    "aae": ("AAE", 340.0),
}


def prior_samples(rng_key, trained: Trained, train: data_lib.Dataset, num_samples: int):
    """float32[num_samples, D] codes from the model's prior (aggregate posterior for the GAE)."""
    m = trained.cfg.model
    prior = None
    if m.prior != "normal":
        prior = builders.build_prior(
            m, model=trained.model, state=trained.state, images=train.images
        )
    return samplers.starts.prior_samples(rng_key, num_samples, m.latent_dim, prior)


def evaluate(ctx: Context) -> Result:
    """Samples and scores every model; writes ``samples_*.png``."""
    reference = real_reference(ctx)
    entries, details = [], {}

    def add_row(label, metrics, paper=None):
        ll, se = metrics["parzen_ll"][0], metrics["parzen_stderr"][0]
        entries.append(Entry(TABLE, label, "log-likelihood", ll, se, paper, fmt=".1f"))
        entries.append(Entry(TABLE, label, "FD", metrics["frechet"][0], fmt=".1f"))
        entries.append(Entry(TABLE, label, "class TV", metrics["class_tv"][0], fmt=".2f"))
        return {k: np.asarray(v)[0].tolist() for k, v in metrics.items()}

    for name, trained in ctx.models.items():
        label, paper = PAPER.get(name, (name, None))
        z = prior_samples(
            rng(ctx.seed, name, "prior"), trained, ctx.data.train, ctx.table.num_samples
        )
        images = chain_images(rng(ctx.seed, name, "decode"), trained, z, 0)
        metrics = evaluation.per_step_metrics(images, reference, mesh=parallel.make_mesh())
        _save(
            f"{ctx.workdir}/samples_{name}.png",
            plotting.save_grid,
            images[0, :64],
            f"{label}: samples",
        )
        details[name] = {
            "label": label,
            "epochs": trained.epochs,
            "train_seconds": trained.train_seconds,
            **add_row(label, metrics, paper),
        }
    label, metrics = real_data_metrics(ctx.data, reference, ctx.table.num_samples)
    details["real_data"] = {"label": label, **add_row(label, metrics)}
    settings = (
        f"Samples per model: {ctx.table.num_samples} (paper: 10^4); paper 004 does not give its "
        "training length or latent size.\n\n"
    )
    return Result(entries, details, settings + NOTES)


NOTES = """\
Protocol: samples are decoder means of prior codes (GAE: aggregate posterior, i.e. a random
training image's q(z|y); VAE, AAE: N(0, I)); the Parzen bandwidth is chosen on the validation
split among 10 log-spaced values in [0.1, 1]. FD and class TV as in paper 001's Table V. The
paper's VAE (Kingma & Welling) and AAE (Makhzani et al.) numbers are quoted from those papers'
full-MNIST models, not trained by paper 004; its GAN (300) and GMMN+AE (282) rows have no
counterpart here.
"""
