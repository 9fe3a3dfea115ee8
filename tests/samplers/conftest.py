"""Small models for the sampler tests: analytic linear-Gaussian autoencoders and tiny Flax ones
(:func:`helpers.tiny_autoencoder`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_autoencoder


def linear_gaussian(num_pixels=5, latent_dim=3, contraction=0.7, seed=0):
    """A random linear autoencoder whose latent chain z' = A(Wz + c) + b + L eps is AR(1).

    Returns ``(variables, decode_fn, encode_fn)``; ``A W`` has spectral norm ``contraction`` so
    the chain forgets its start geometrically, and ``L L^T = S`` is q(z|x)'s covariance.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(num_pixels, latent_dim))
    a = rng.normal(size=(latent_dim, num_pixels))
    a *= contraction / np.linalg.norm(a @ w, 2)
    l_chol = np.tril(rng.normal(size=(latent_dim, latent_dim))) * 0.5
    np.fill_diagonal(l_chol, np.abs(np.diag(l_chol)) + 0.3)
    variables = {
        "W": w,
        "c": rng.normal(size=num_pixels),
        "A": a,
        "b": rng.normal(size=latent_dim),
        "L": l_chol,
    }
    variables = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), variables)

    def decode_fn(v, z):
        return z @ v["W"].T + v["c"]

    def encode_fn(keys, v, x):
        eps = jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(keys)
        return x @ v["A"].T + v["b"] + eps @ v["L"].T

    return variables, decode_fn, encode_fn


@pytest.fixture
def linear_model():
    """``(variables, decode_fn, encode_fn)`` of :func:`linear_gaussian` with its defaults."""
    return linear_gaussian()


@pytest.fixture(scope="session")
def mlp_model():
    """A tiny Gaussian-posterior MLP autoencoder on 8x8 images: ``(model, variables)``."""
    return tiny_autoencoder()


@pytest.fixture(scope="session")
def dcgan_model():
    """A tiny deterministic DCGAN autoencoder (batch norm) on 28x28 images."""
    return tiny_autoencoder("dcgan", "deterministic", image_shape=(28, 28, 1))
