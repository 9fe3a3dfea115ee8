import functools

import jax
import jax.numpy as jnp
import numpy as np
from helpers import tiny_model

from gae_jax.corruption import make_corruption
from gae_jax.data import load_dataset
from gae_jax.evaluation import (
    corrupted_reconstruction_error,
    corrupted_reconstruction_errors,
)
from gae_jax.models import autoencoder_fns

IMAGES = load_dataset("digits", "test").images[:60]


def identity_encode(x):
    return x.reshape(x.shape[0], -1), None


def identity_decode(z):
    """Logits whose sigmoid is z (clipped into (0, 1)), so the autoencoder is the identity."""
    z = jnp.clip(z, 1e-6, 1 - 1e-6)
    return (jnp.log(z) - jnp.log1p(-z)).reshape(-1, 8, 8, 1)


def test_identity_autoencoder_reconstructs_uncorrupted_data_exactly():
    errors = corrupted_reconstruction_errors(
        jax.random.key(0), IMAGES, identity_encode, identity_decode, make_corruption("none")
    )
    assert errors.shape == (60,)
    np.testing.assert_allclose(errors, 0.0, atol=1e-9)


def test_error_is_measured_against_the_clean_images():
    shift = lambda key, x: x + 0.1  # deterministic "corruption"
    errors = corrupted_reconstruction_errors(
        jax.random.key(0), IMAGES, identity_encode, identity_decode, shift, batch_size=7
    )
    expected = np.mean(np.square(np.clip(IMAGES + 0.1, 1e-6, 1 - 1e-6) - IMAGES), axis=(1, 2, 3))
    np.testing.assert_allclose(errors, expected, rtol=1e-4, atol=1e-7)


def test_gaussian_corruption_mean_and_standard_error():
    key = jax.random.key(1)
    corruption = make_corruption("gaussian", 0.25)
    result = corrupted_reconstruction_error(
        key, IMAGES, identity_encode, identity_decode, corruption
    )
    errors = np.asarray(
        corrupted_reconstruction_errors(key, IMAGES, identity_encode, identity_decode, corruption),
        np.float64,
    )
    np.testing.assert_allclose(result.mean, errors.mean(), rtol=1e-6)
    np.testing.assert_allclose(result.stderr, errors.std(ddof=1) / np.sqrt(60), rtol=1e-6)
    # The identity passes the noise through, clipped to [0, 1]: less than sigma^2 per pixel.
    assert 0.01 < result.mean < 0.25**2
    stronger = corrupted_reconstruction_error(
        key, IMAGES, identity_encode, identity_decode, make_corruption("gaussian", 0.5)
    )
    assert stronger.mean > result.mean


def test_result_does_not_depend_on_the_batch_size():
    # Each example draws its corruption from its own key, so batching cannot change it.
    corruption = make_corruption("salt_and_pepper", 0.2)
    args = (jax.random.key(2), IMAGES, identity_encode, identity_decode, corruption)
    np.testing.assert_allclose(
        corrupted_reconstruction_errors(*args, batch_size=60),
        corrupted_reconstruction_errors(*args, batch_size=7),
        rtol=1e-6,
    )


def test_autoencoder_adapter_decodes_the_code_of_each_input():
    model = tiny_model()
    variables = model.init(jax.random.key(0), IMAGES[:2])
    fns = autoencoder_fns(model)
    encode = functools.partial(fns.encode, variables)
    decode = functools.partial(fns.decode_logits, variables)
    code = model.apply(variables, IMAGES, method=model.encode).mean
    logits = model.apply(variables, code, method=model.decode)
    expected = np.mean(np.square(jax.nn.sigmoid(logits) - IMAGES), axis=(1, 2, 3))
    clean = corrupted_reconstruction_errors(
        jax.random.key(3), IMAGES, encode, decode, make_corruption("none")
    )
    np.testing.assert_allclose(clean, expected, rtol=1e-5)
    noisy = corrupted_reconstruction_errors(
        jax.random.key(3), IMAGES, encode, decode, make_corruption("gaussian", 0.5)
    )
    assert not np.allclose(noisy, expected, rtol=1e-3)
