import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gae_jax.evaluation import apply_in_batches, encode_dataset, mean_and_stderr


def test_mean_and_stderr():
    result = mean_and_stderr(np.array([1.0, 2.0, 3.0, 6.0]))
    assert result.mean == pytest.approx(3.0)
    assert result.stderr == pytest.approx(np.sqrt(14 / 3) / 2)  # sample var 14/3, n = 4
    with pytest.raises(ValueError, match="at least 2"):
        mean_and_stderr([1.0])


@pytest.mark.parametrize("batch_size", [1, 4, 7, 100])
def test_apply_in_batches_matches_one_call_for_pytree_outputs(batch_size):
    x = jax.random.normal(jax.random.key(0), (7, 3, 2))
    fn = lambda xb: (xb.sum(axis=(1, 2)), jnp.tanh(xb.reshape(xb.shape[0], -1)))
    got = apply_in_batches(fn, x, batch_size)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), got, fn(x))


def test_encode_dataset_returns_posterior_means():
    x = jnp.arange(24.0).reshape(6, 2, 2, 1)
    encode = lambda xb: (xb.reshape(xb.shape[0], -1)[:, :3], jnp.zeros((xb.shape[0], 3)))
    np.testing.assert_array_equal(encode_dataset(encode, x, batch_size=4), x.reshape(6, -1)[:, :3])
