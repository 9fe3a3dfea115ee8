"""Our kernels have blackjax's ``SamplingAlgorithm`` shape, so blackjax's tooling runs them."""

import blackjax
import blackjax.util
import jax
import jax.numpy as jnp
import numpy as np
from helpers import assert_gaussian_matches
from scipy import linalg

from gae_jax.samplers import latent_chain


def test_blackjax_runs_our_latent_chain_to_its_analytic_stationary_law(linear_model):
    # The linear-Gaussian latent chain is AR(1): z' = M z + m + xi, xi ~ N(0, S), with the
    # stationary law N((I - M)^-1 m, Sigma), Sigma = M Sigma M^T + S (see test_latent.py).
    variables, decode_fn, encode_fn = linear_model
    v = jax.tree.map(lambda a: np.asarray(a, np.float64), variables)
    m_mat, m_vec = v["A"] @ v["W"], v["A"] @ v["c"] + v["b"]
    mu = np.linalg.solve(np.eye(3) - m_mat, m_vec)
    cov = linalg.solve_discrete_lyapunov(m_mat, v["L"] @ v["L"].T)

    kernel = latent_chain(decode_fn, encode_fn, variables)
    algorithm = blackjax.base.SamplingAlgorithm(init=kernel.init, step=kernel.step)
    final, z_trace = blackjax.util.run_inference_algorithm(
        jax.random.key(0),
        algorithm,
        num_steps=40,
        initial_state=kernel.init(jnp.full((4000, 3), 5.0)),
        transform=lambda state, info: state.z,
    )
    assert z_trace.shape == (40, 4000, 3)
    np.testing.assert_array_equal(z_trace[-1], final.z)
    assert_gaussian_matches(final.z, mu, cov)


def test_blackjax_driver_and_a_python_loop_take_the_same_steps(linear_model):
    variables, decode_fn, encode_fn = linear_model
    kernel = latent_chain(decode_fn, encode_fn, variables)
    state = kernel.init(jnp.zeros((8, 3)))
    final, _ = blackjax.util.run_inference_algorithm(
        jax.random.key(1), kernel, num_steps=5, initial_state=state
    )
    for step_key in jax.random.split(jax.random.key(1), 5):
        state, _ = kernel.step(step_key, state)
    np.testing.assert_allclose(final.z, state.z, rtol=1e-6, atol=1e-6)
