"""Latent priors p(z): ``sample(rng_key, n) -> float32[n, D]`` and ``log_prob(z) -> float32[n]``.

* :class:`Normal` -- N(0, I) of any dimension (papers 000, 001).
* :class:`GMMRing` -- paper 001's 2-D mixture of equally weighted isotropic Gaussians whose means
  are evenly spaced on a circle (10 components, radius 4, std 0.5 there).
* :class:`AggregatePosterior` -- the aggregated posterior (1/n) sum_j q(z|x_j) of a stored set of
  encodings: the prior of the GAE (paper 004), and a way to sample any trained autoencoder
  (pick a training point y, draw z ~ q(z|y)).

Priors are Flax ``struct`` pytrees: hyper-parameters are static fields and stored encodings are
array leaves, so a prior can be closed over or passed as an argument to ``jit``/``vmap``/``grad``.
Each also exposes its exact ``mean()`` and ``covariance()``, against which encodings are compared.
:func:`make_prior` builds one from a config name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

PRIORS = ("normal", "gmm_ring", "aggregate")
_LOG_2PI = math.log(2.0 * math.pi)
# AggregatePosterior.log_prob materialises [chunk, n, D] differences; this bounds chunk * n * D.
_LOG_PROB_CHUNK_ELEMENTS = 1 << 24


class Normal(flax.struct.PyTreeNode):
    """The standard normal N(0, I) in ``latent_dim`` dimensions."""

    latent_dim: int = flax.struct.field(pytree_node=False)

    def sample(self, rng_key: jax.Array, n: int) -> jax.Array:
        """float32[n, latent_dim]."""
        return jax.random.normal(rng_key, (n, self.latent_dim))

    def log_prob(self, z: jax.Array) -> jax.Array:
        """z: float32[n, latent_dim] -> float32[n]."""
        return -0.5 * jnp.sum(jnp.square(z) + _LOG_2PI, axis=-1)

    def mean(self) -> jax.Array:
        return jnp.zeros((self.latent_dim,))

    def covariance(self) -> jax.Array:
        return jnp.eye(self.latent_dim)


class GMMRing(flax.struct.PyTreeNode):
    """Equal-weight mixture of N(c_k, std^2 I), k < num_components, with 2-D means
    c_k = radius * (cos 2 pi k / K, sin 2 pi k / K)."""

    num_components: int = flax.struct.field(pytree_node=False, default=10)
    radius: float = flax.struct.field(pytree_node=False, default=4.0)
    std: float = flax.struct.field(pytree_node=False, default=0.5)

    latent_dim = 2

    def centres(self) -> jax.Array:
        """float32[num_components, 2]."""
        angles = 2.0 * jnp.pi * jnp.arange(self.num_components) / self.num_components
        return self.radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)

    def sample(self, rng_key: jax.Array, n: int) -> jax.Array:
        """float32[n, 2]: a uniformly chosen component, then a Gaussian draw around its mean."""
        k_component, k_noise = jax.random.split(rng_key)
        component = jax.random.randint(k_component, (n,), 0, self.num_components)
        return self.centres()[component] + self.std * jax.random.normal(k_noise, (n, 2))

    def log_prob(self, z: jax.Array) -> jax.Array:
        """z: float32[n, 2] -> float32[n]."""
        sq_dist = jnp.sum(jnp.square(z[:, None, :] - self.centres()), axis=-1)  # [n, K]
        log_norm = math.log(self.num_components) + _LOG_2PI + 2.0 * math.log(self.std)
        return jax.nn.logsumexp(-0.5 * sq_dist / self.std**2, axis=-1) - log_norm

    def mean(self) -> jax.Array:
        return self.centres().mean(axis=0)

    def covariance(self) -> jax.Array:
        # Law of total covariance: within-component std^2 I plus the spread of the means.
        c = self.centres() - self.mean()
        return self.std**2 * jnp.eye(2) + c.T @ c / self.num_components


class AggregatePosterior(flax.struct.PyTreeNode):
    """(1/n) sum_j N(means_j, diag(exp(log_vars_j))), or the empirical distribution of ``means``
    when ``log_vars`` is None (a deterministic encoder: sampling then picks a stored code)."""

    means: jax.Array  # float32[n, D]
    log_vars: jax.Array | None = None  # float32[n, D] or None

    @property
    def latent_dim(self) -> int:
        return self.means.shape[-1]

    def sample(self, rng_key: jax.Array, n: int) -> jax.Array:
        """float32[n, D]: pick components j uniformly, then z ~ q(z|x_j)."""
        k_component, k_noise = jax.random.split(rng_key)
        j = jax.random.randint(k_component, (n,), 0, self.means.shape[0])
        if self.log_vars is None:
            return self.means[j]
        eps = jax.random.normal(k_noise, (n, self.latent_dim))
        return self.means[j] + jnp.exp(0.5 * self.log_vars[j]) * eps

    def log_prob(self, z: jax.Array) -> jax.Array:
        """z: float32[m, D] -> float32[m], by logsumexp over the n components.

        Evaluated in chunks of z so that memory stays bounded for large stored sets.
        """
        if self.log_vars is None:
            raise ValueError(
                "log_prob of an aggregate of point masses is undefined; build the aggregate from "
                "a Gaussian encoder (log_vars) to evaluate densities"
            )
        n, d = self.means.shape
        inv_var = jnp.exp(-self.log_vars)
        log_norm = -0.5 * jnp.sum(self.log_vars + _LOG_2PI, axis=-1) - math.log(n)  # [n]

        def one(zi):  # float32[D] -> float32[]
            quad = jnp.sum(jnp.square(zi - self.means) * inv_var, axis=-1)
            return jax.nn.logsumexp(log_norm - 0.5 * quad)

        chunk = max(1, min(z.shape[0], _LOG_PROB_CHUNK_ELEMENTS // (n * d)))
        return jax.lax.map(one, z, batch_size=chunk)

    def mean(self) -> jax.Array:
        return self.means.mean(axis=0)

    def covariance(self) -> jax.Array:
        # Law of total covariance: the average component covariance plus the spread of the means.
        c = self.means - self.mean()
        cov = c.T @ c / self.means.shape[0]
        if self.log_vars is not None:
            cov = cov + jnp.diag(jnp.exp(self.log_vars).mean(axis=0))
        return cov


Prior = Normal | GMMRing | AggregatePosterior


def make_prior(name: str, latent_dim: int, **params) -> Prior:
    """Builds a prior from its config name.

    Args:
      name: one of :data:`PRIORS`.
      latent_dim: D; ``gmm_ring`` needs 2 and ``aggregate`` must match ``means``.
      **params: ``gmm_ring``: ``num_components`` (10), ``radius`` (4.0), ``std`` (0.5).
        ``aggregate``: ``means`` float32[n, D] (required) and ``log_vars`` float32[n, D] or None.
        ``normal`` takes none.

    Returns:
      A :class:`Normal`, :class:`GMMRing` or :class:`AggregatePosterior`.
    """
    allowed = {
        "normal": set(),
        "gmm_ring": {"num_components", "radius", "std"},
        "aggregate": {"means", "log_vars"},
    }
    if name not in allowed:
        raise ValueError(f"prior must be one of {PRIORS}, got {name!r}")
    unknown = sorted(set(params) - allowed[name])
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for prior {name!r}; valid: {sorted(allowed[name])}"
        )
    if latent_dim <= 0:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    if name == "normal":
        return Normal(int(latent_dim))
    if name == "gmm_ring":
        if latent_dim != 2:
            raise ValueError(f"prior 'gmm_ring' is 2-D; latent_dim must be 2, got {latent_dim}")
        prior = GMMRing(
            int(params.get("num_components", 10)),
            float(params.get("radius", 4.0)),
            float(params.get("std", 0.5)),
        )
        if prior.num_components < 1 or prior.radius < 0 or prior.std <= 0:
            raise ValueError(
                f"gmm_ring needs num_components >= 1, radius >= 0 and std > 0, got "
                f"{prior.num_components}, {prior.radius}, {prior.std}"
            )
        return prior
    if "means" not in params:
        raise ValueError("prior 'aggregate' needs means: float32[n, latent_dim]")
    means = jnp.asarray(params["means"], jnp.float32)
    log_vars = params.get("log_vars")
    log_vars = None if log_vars is None else jnp.asarray(log_vars, jnp.float32)
    if means.ndim != 2 or means.shape[1] != latent_dim:
        raise ValueError(f"means must be [n, {latent_dim}], got shape {means.shape}")
    if log_vars is not None and log_vars.shape != means.shape:
        raise ValueError(f"log_vars shape {log_vars.shape} differs from means {means.shape}")
    return AggregatePosterior(means, log_vars)


def aggregate_posterior(
    encode_fn: Callable, images: jax.Array, batch_size: int = 500
) -> AggregatePosterior:
    """The aggregated posterior of an encoder over a set of images (paper 004's prior).

    Args:
      encode_fn: ``x: float32[B, H, W, C] -> Posterior`` (a NamedTuple ``(mean, log_var)``,
        ``log_var`` None for deterministic encoders), e.g. ``functools.partial(model.apply,
        variables, method=model.encode)`` -- evaluation mode, so rows are independent.
      images: float32[n, H, W, C], typically the training set.
      batch_size: images per encoder call; memory stays at one batch.

    Returns:
      An :class:`AggregatePosterior` with n components.
    """
    per_example = lambda x: jax.tree.map(lambda a: a[0], tuple(encode_fn(x[None])))
    mean, log_var = jax.lax.map(
        per_example, jnp.asarray(images), batch_size=min(batch_size, images.shape[0])
    )
    return AggregatePosterior(mean, log_var)
