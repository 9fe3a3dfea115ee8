"""How well a model's encodings match its prior: moments, discriminator accuracy, histograms.

For the adversarial families and the GAE, evaluation encodes a split three ways -- clean data,
corrupted data (denoising families) and, for the adversaries, the family's fake codes (what the
discriminator learns to tell from prior samples; for idaae, means of M encodings) -- and draws
as many prior samples. :func:`latent_metrics` compares the empirical moments with the prior's
exact ones (the prior samples' own error is the Monte-Carlo floor) and scores the discriminator;
:func:`write_latent_report` draws paper 001's Fig. 2 (histograms of encodings of clean and
corrupted data against the prior) and writes the moments as JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from gae_jax import corruption as corruption_lib
from gae_jax import priors
from gae_jax.data import iterate_batches
from gae_jax.train.state import TrainState

HISTOGRAM_FILE = "encodings_hist.png"
MOMENTS_FILE = "encodings_moments.json"


class Latents(NamedTuple):
    """Codes of one split (host arrays), N = number of examples."""

    clean: np.ndarray  # float32[N, D], codes of x (a draw from q(z|x) for Gaussian encoders)
    corrupted: np.ndarray | None  # float32[N, D], codes of C(x); None if not denoising
    prior: np.ndarray  # float32[N, D], prior samples
    fake: np.ndarray | None  # float32[N, D], the adversary's fake codes; None without adversary
    disc_real: np.ndarray | None  # bool[N], D calls a prior sample real; None without adversary
    disc_fake: np.ndarray | None  # bool[N], D calls a fake code fake; None without adversary


def make_latent_step(
    model,
    *,
    corruption: corruption_lib.Corruption | None = None,
    discriminator=None,
    fake_codes: Callable | None = None,
):
    """Per-batch encodings in evaluation mode (batch norm with population statistics).

    Args:
      model: the :class:`~gae_jax.models.Autoencoder`.
      corruption: C(x~|x) for denoising families, else None (no ``corrupted`` codes).
      discriminator: the adversary's module, or None.
      fake_codes: the family's fake codes (:func:`gae_jax.train.adversarial.make_fake_codes`),
        needed with ``discriminator``.

    Returns:
      ``latent_step(state, prior, batch, rng_key) -> dict`` of arrays with leading axis B:
      ``clean``, ``prior``, and if configured ``corrupted``, ``fake``, ``disc_real`` and
      ``disc_fake``. Jit it once; ``prior`` is a pytree argument.
    """

    def latent_step(state: TrainState, prior: priors.Prior, batch: jax.Array, rng_key):
        k_clean, k_corrupt, k_code, k_prior, k_fake = jax.random.split(rng_key, 5)
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        encode = lambda x, key: model.apply(variables, x, method=model.encode).sample(key)
        out = {"clean": encode(batch, k_clean), "prior": prior.sample(k_prior, batch.shape[0])}
        if corruption is not None:
            out["corrupted"] = encode(corruption(k_corrupt, batch), k_code)
        if discriminator is not None:
            fake, _ = fake_codes(state.params, state.batch_stats, batch, k_fake, train=False)
            disc = lambda z: discriminator.apply({"params": state.disc_params}, z)
            out["fake"] = fake
            out["disc_real"] = disc(out["prior"]) > 0
            out["disc_fake"] = disc(fake) < 0
        return out

    return latent_step


def collect_latents(
    latent_step, state: TrainState, prior: priors.Prior, images, batch_size: int, rng_key
) -> Latents:
    """Runs a (jitted) ``latent_step`` over all of ``images`` (float32[N, H, W, C])."""
    parts: dict[str, list[np.ndarray]] = {}
    for i, (batch, valid) in enumerate(iterate_batches(images, batch_size)):
        out = latent_step(state, prior, batch, jax.random.fold_in(rng_key, i))
        for name, value in out.items():
            parts.setdefault(name, []).append(np.asarray(value)[:valid])
    joined = {name: np.concatenate(values) for name, values in parts.items()}
    return Latents(**{field: joined.get(field) for field in Latents._fields})


def moment_errors(codes: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """How far the empirical moments of ``codes`` are from a distribution's.

    Args:
      codes: float32[N, D].
      mean: float32[D], the reference mean.
      cov: float32[D, D], the reference covariance.

    Returns:
      ``(mean_err, cov_err)``: the root-mean-square over dimensions of the mean difference,
      and the Frobenius norm of the covariance difference relative to that of ``cov``.
      For N samples of N(0, I_D) they are about sqrt(1/N) and sqrt((D + 1)/N).
    """
    codes = np.asarray(codes, np.float64)
    emp_cov = np.atleast_2d(np.cov(codes, rowvar=False))
    mean_err = np.sqrt(np.mean(np.square(codes.mean(axis=0) - mean)))
    cov_err = np.linalg.norm(emp_cov - cov) / np.linalg.norm(cov)
    return float(mean_err), float(cov_err)


def _sets(latents: Latents, *, with_fake: bool = True) -> dict[str, np.ndarray]:
    named = {"clean": latents.clean, "corrupted": latents.corrupted, "prior": latents.prior}
    if with_fake:
        named["fake"] = latents.fake
    return {name: z for name, z in named.items() if z is not None}


def latent_metrics(latents: Latents, prior: priors.Prior) -> dict[str, float]:
    """``{clean,corrupted,fake,prior}_{mean,cov}_err`` (see :func:`moment_errors`; ``prior_*``
    is the Monte-Carlo floor of as many exact prior samples) and, with an adversary, ``disc_acc``
    (balanced accuracy over prior samples and fake codes), ``disc_acc_real``, ``disc_acc_fake``.
    """
    mean, cov = np.asarray(prior.mean()), np.asarray(prior.covariance())
    metrics = {}
    for name, z in _sets(latents).items():
        metrics[f"{name}_mean_err"], metrics[f"{name}_cov_err"] = moment_errors(z, mean, cov)
    if latents.disc_real is not None:
        metrics["disc_acc_real"] = float(latents.disc_real.mean())
        metrics["disc_acc_fake"] = float(latents.disc_fake.mean())
        metrics["disc_acc"] = 0.5 * (metrics["disc_acc_real"] + metrics["disc_acc_fake"])
    return metrics


def write_latent_report(
    workdir: str, latents: Latents, prior: priors.Prior, *, title: str, max_dims: int = 4
) -> dict:
    """Writes :data:`HISTOGRAM_FILE` and :data:`MOMENTS_FILE` into ``workdir``.

    The figure has one panel per latent dimension (the first ``max_dims``) overlaying the
    density histograms of clean encodings, corrupted encodings and prior samples (paper 001
    Fig. 2). The JSON holds the prior's exact mean and covariance, the empirical mean, standard
    deviation and covariance of each set (and of the fake codes), and :func:`latent_metrics`.
    Returns the JSON.
    """
    from matplotlib.figure import Figure  # Agg canvas; never touches the global backend

    sets = _sets(latents, with_fake=False)
    labels = {"clean": "encoded data", "corrupted": "encoded corrupted data", "prior": "prior"}
    dims = min(latents.clean.shape[1], max_dims)
    # A 2-D code also gets a scatter plot: marginals hide the modes of e.g. the GMM ring.
    scatter = latents.clean.shape[1] == 2
    fig = Figure(figsize=(3.2 * (dims + scatter), 3.0), layout="constrained")
    axes = fig.subplots(1, dims + scatter, squeeze=False)[0]
    for k, ax in enumerate(axes[:dims]):
        column = np.concatenate([z[:, k] for z in sets.values()])
        num_bins = int(np.clip(np.sqrt(latents.clean.shape[0]), 10, 60))  # ~sqrt(N) per set
        bins = np.linspace(*np.percentile(column, [0.5, 99.5]), num_bins + 1)
        for name, z in sets.items():
            ax.hist(z[:, k], bins=bins, density=True, histtype="step", lw=1.5, label=labels[name])
        ax.set_title(f"z[{k}]")
    if scatter:
        for name, z in sets.items():
            axes[-1].scatter(z[:, 0], z[:, 1], s=2, alpha=0.5, label=labels[name])
        axes[-1].set_title("z[0] vs z[1]")
    axes[0].legend(fontsize="small")
    fig.suptitle(title)
    fig.savefig(os.path.join(workdir, HISTOGRAM_FILE), dpi=100)

    mean, cov = np.asarray(prior.mean()), np.asarray(prior.covariance())
    report = {
        "title": title,
        "num_examples": int(latents.clean.shape[0]),
        "latent_dim": int(latents.clean.shape[1]),
        "prior_exact": {"mean": mean.tolist(), "covariance": cov.tolist()},
        "metrics": latent_metrics(latents, prior),
    }
    for name, z in _sets(latents).items():
        report[name] = {
            "mean": z.mean(axis=0).tolist(),
            "std": z.std(axis=0, ddof=1).tolist(),
            "covariance": np.atleast_2d(np.cov(z, rowvar=False)).tolist(),
        }
    with open(os.path.join(workdir, MOMENTS_FILE), "w") as f:
        json.dump(report, f, indent=1)
    return report
