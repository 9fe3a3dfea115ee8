"""How well a model's encodings match its prior: moments, discriminator accuracy, codes to plot.

For the adversarial families and the GAE, evaluation encodes a split three ways -- clean data,
corrupted data (denoising families) and, for the adversaries, the family's fake codes (what the
discriminator learns to tell from prior samples; for idaae, means of M encodings) -- and draws
as many prior samples. :func:`latent_metrics` compares the empirical moments with the prior's
exact ones (the prior samples' own error is the Monte-Carlo floor) and scores the discriminator;
:func:`latent_moments` collects the moments for a report and :func:`labelled_sets` the codes
for paper 001's Fig. 2 (histograms of encodings of clean and corrupted data against the prior).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from gae_jax import corruption as corruption_lib
from gae_jax import priors
from gae_jax.data import iterate_batches


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
      fake_codes: the family's fake codes (e.g. :func:`gae_jax.train.adversarial.make_fake_codes`),
        needed with ``discriminator``.

    Returns:
      ``latent_step(state, prior, batch, rng_key) -> dict`` of arrays with leading axis B:
      ``clean``, ``prior``, and if configured ``corrupted``, ``fake``, ``disc_real`` and
      ``disc_fake``. Jit it once; ``prior`` is a pytree argument.
    """

    def latent_step(state, prior: priors.Prior, batch: jax.Array, rng_key):
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
    latent_step, state, prior: priors.Prior, images, batch_size: int, rng_key
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


def labelled_sets(latents: Latents) -> dict[str, np.ndarray]:
    """Clean codes, corrupted codes and prior samples under the labels of paper 001 Fig. 2 (the
    sets :func:`gae_jax.plotting.encoding_histogram_figure` draws)."""
    labels = {"clean": "encoded data", "corrupted": "encoded corrupted data", "prior": "prior"}
    return {labels[name]: z for name, z in _sets(latents, with_fake=False).items()}


def latent_moments(latents: Latents, prior: priors.Prior, *, title: str) -> dict:
    """The prior's exact mean and covariance, the empirical mean, standard deviation and
    covariance of each set (fake codes included) and :func:`latent_metrics`, JSON-ready."""
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
    return report


__all__ = [
    "Latents",
    "collect_latents",
    "labelled_sets",
    "latent_metrics",
    "latent_moments",
    "make_latent_step",
    "moment_errors",
]
