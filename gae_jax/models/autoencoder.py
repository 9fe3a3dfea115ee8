"""The ``Autoencoder``: an encoder network, a decoder network and a posterior family.

* ``posterior="deterministic"`` (AE, DAE, AAE, ...): the code is the encoder output.
* ``posterior="gaussian"`` (VAE, DVAE, GAE, ...): the encoder emits a mean and a log-variance
  of a diagonal Gaussian q(z|x); a code is drawn by reparameterisation with the ``latent`` RNG.

Batch-norm statistics (conv networks) live in the ``batch_stats`` collection. Call with
``train=True`` and ``mutable=["batch_stats"]`` to normalise with minibatch statistics (training,
and paper 000's sampling), or ``train=False`` to use the population statistics.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

POSTERIORS = ("deterministic", "gaussian")


class Posterior(NamedTuple):
    """q(z|x). ``log_var`` is None for a deterministic encoder (a point mass at ``mean``)."""

    mean: jax.Array  # float32[B, D]
    log_var: jax.Array | None  # float32[B, D] or None

    def sample(self, key: jax.Array) -> jax.Array:
        """A reparameterised draw z = mean + exp(log_var / 2) * eps; the mean if deterministic."""
        if self.log_var is None:
            return self.mean
        eps = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + jnp.exp(0.5 * self.log_var) * eps


class Reconstruction(NamedTuple):
    logits: jax.Array  # float32[B, H, W, C], decoder output before the sigmoid
    posterior: Posterior
    z: jax.Array  # float32[B, D], the code that was decoded


class Autoencoder(nn.Module):
    """Pairs an encoder (``x -> features[B, out_dim]``) with a decoder (``z -> logits``).

    The encoder must have been built with ``out_dim = latent_dim`` for a deterministic posterior
    and ``2 * latent_dim`` for a Gaussian one (:func:`gae_jax.models.build_autoencoder` does this).
    """

    encoder: nn.Module
    decoder: nn.Module
    latent_dim: int
    posterior: str = "deterministic"

    def encode(self, x: jax.Array, train: bool = False) -> Posterior:
        """x: float32[B, H, W, C] -> Posterior with float32[B, latent_dim] fields."""
        h = self.encoder(x, train=train)
        if self.posterior == "gaussian":
            mean, log_var = jnp.split(h, 2, axis=-1)
            return Posterior(mean, log_var)
        return Posterior(h, None)

    def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
        """z: float32[B, latent_dim] -> logits float32[B, H, W, C]."""
        return self.decoder(z, train=train)

    def __call__(self, x: jax.Array, train: bool = False, sample: bool = True) -> Reconstruction:
        """Encodes ``x``, draws a code (needs the ``latent`` RNG for a Gaussian posterior with
        ``sample=True``; otherwise decodes the mean) and decodes it."""
        posterior = self.encode(x, train=train)
        if sample and posterior.log_var is not None:
            z = posterior.sample(self.make_rng("latent"))
        else:
            z = posterior.mean
        return Reconstruction(self.decode(z, train=train), posterior, z)
