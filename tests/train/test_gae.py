"""GAE (paper 004): the mixture-likelihood loss by hand, its EM reading, training and sampling."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_config, tiny_model

from gae_jax import builders, data, losses, priors
from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train.writer import read_metrics


@pytest.mark.parametrize("name", ["bce", "mse"])
def test_pairwise_reconstruction_loss_matches_per_example_loss(key, name):
    k_logits, k_x = jax.random.split(key)
    logits = 3.0 * jax.random.normal(k_logits, (4, 3, 3, 1))
    x = jax.random.uniform(k_x, (5, 3, 3, 1))
    pairwise = losses.pairwise_reconstruction_loss(name, logits, x)
    assert pairwise.shape == (5, 4)
    recon = losses.reconstruction_loss(name)
    for i in range(5):
        for j in range(4):
            direct = recon(logits[j : j + 1], x[i : i + 1])[0]
            np.testing.assert_allclose(pairwise[i, j], direct, rtol=1e-5, atol=1e-5)


def test_gae_loss_by_hand():
    # Two one-pixel images x = (1, 0) decoded from their codes as logits (0, 2), 1-D codes.
    x = jnp.array([1.0, 0.0]).reshape(2, 1, 1, 1)
    logits = jnp.array([0.0, 2.0]).reshape(2, 1, 1, 1)
    mean = jnp.array([[1.0], [0.0]])
    log_var = jnp.array([[0.0], [math.log(0.25)]])
    s2 = 1 / (1 + math.exp(-2.0))  # sigmoid(2)
    # p(x_i | z_j): x_1 = 1 has probabilities (0.5, s2), x_2 = 0 has (0.5, 1 - s2).
    mixture = [-math.log((0.5 + s2) / 2), -math.log((0.5 + 1 - s2) / 2)]
    np.testing.assert_allclose(losses.mixture_nll("bce", logits, x), mixture, rtol=1e-6)
    # lambda1 sum mu^2 - lambda2 sum (1 + log s^2 - s^2) with lambda1 = 0.3, lambda2 = 0.2.
    reg = [0.3 * 1.0 - 0.2 * (1 + 0 - 1), 0.0 - 0.2 * (1 + math.log(0.25) - 0.25)]
    np.testing.assert_allclose(losses.gae_regulariser(mean, log_var, 0.3, 0.2), reg, rtol=1e-6)
    total = losses.gae_loss("bce", logits, x, mean, log_var, lambda1=0.3, lambda2=0.2)
    np.testing.assert_allclose(total, np.add(mixture, reg), rtol=1e-6)
    # With one example the mixture is that example's own reconstruction loss.
    np.testing.assert_allclose(
        losses.mixture_nll("bce", logits[:1], x[:1]), losses.bernoulli_nll(logits[:1], x[:1])
    )


def test_mixture_gradient_is_the_em_gradient(key):
    """d/dlogits of -log sum_j p(x_i|z_j) equals the responsibility-weighted gradient of the
    complete-data losses (Fisher's identity): one gradient step is a generalised EM step."""
    k_logits, k_x = jax.random.split(key)
    logits = jax.random.normal(k_logits, (6, 10))
    x = jax.random.uniform(k_x, (6, 10))
    direct = jax.grad(lambda lg: losses.mixture_nll("bce", lg, x).sum())(logits)
    resp = jax.nn.softmax(-losses.pairwise_reconstruction_loss("bce", logits, x), axis=-1)
    em = jax.grad(
        lambda lg: jnp.sum(
            jax.lax.stop_gradient(resp) * losses.pairwise_reconstruction_loss("bce", lg, x)
        )
    )(logits)
    np.testing.assert_allclose(direct, em, rtol=1e-5, atol=1e-6)


def _config(steps: int):
    return tiny_config(
        "gae",
        latent_dim=2,
        schedule=None,
        model=dict(prior="aggregate"),
        learning_rate=1e-3,
        num_steps=steps,
        log_every=100,
        checkpoint_every=steps,
    )


def test_gae_trains_and_samples_from_its_aggregate_posterior(tmp_path):
    workdir = str(tmp_path / "gae")
    summary = train_and_evaluate(_config(600), workdir)
    train_rows = read_metrics(workdir, "train")
    assert {"mixture_nll", "regulariser", "recon_loss"} <= set(train_rows[-1])
    # The untrained model's test row (step 0) is the baseline: ~64 ln 2 nats for 8x8 digits.
    assert summary["test"]["bce"] < 0.7 * read_metrics(workdir, "test")[0]["bce"]
    # Test codes are compared with the aggregate of the training codes.
    assert {"clean_mean_err", "clean_cov_err"} <= set(summary["test"])
    assert summary["test"]["clean_cov_err"] < 0.5
    assert (tmp_path / "gae" / workdir_lib.HISTOGRAM_FILE).exists()

    cfg, model, state = workdir_lib.load_trained(workdir)
    assert cfg.model.posterior == "gaussian"
    train_images = data.load_dataset("digits", "train").images
    prior = builders.build_prior(cfg.model, model=model, state=state, images=train_images)
    assert isinstance(prior, priors.AggregatePosterior)
    assert prior.means.shape == (len(train_images), 2)
    # Sampling: pick a training point y, z ~ q(z|y), decode.
    z = prior.sample(jax.random.key(0), 16)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    samples = jax.nn.sigmoid(model.apply(variables, z, method=model.decode))
    assert samples.shape == (16, 8, 8, 1)
    assert np.isfinite(prior.log_prob(z)).all()


def test_gae_config_is_gaussian_and_needs_the_aggregate_prior():
    cfg = config_lib.validate(_config(10))
    assert cfg.model.posterior == "gaussian" and not cfg.model.is_denoising


def _tiny_gae_step(num_train):
    import optax

    from gae_jax.train import state as state_lib
    from gae_jax.train import steps

    model = tiny_model(latent_dim=2)
    tx = optax.adam(1e-3)
    state = state_lib.create_train_state(jax.random.key(1), model, tx, (8, 8, 1))
    step = steps.make_gae_step(model, tx, lambda1=0.5, lambda2=0.5, num_train=num_train)
    return model, state, step


def test_gae_step_weights_the_mixture_by_the_training_set_size():
    model, state, step = _tiny_gae_step(num_train=100)
    batch = jax.random.uniform(jax.random.key(2), (8, 8, 8, 1))
    rng_key = jax.random.key(3)
    _, metrics = jax.jit(step)(state, batch, rng_key)
    # The same forward pass by hand: the step's key is fold_in(rng_key, state.step).
    out, _ = model.apply(
        {"params": state.params, "batch_stats": state.batch_stats},
        batch,
        train=True,
        rngs={"latent": jax.random.fold_in(rng_key, state.step)},
        mutable=["batch_stats"],
    )
    expected = losses.mixture_nll("bce", out.logits, batch, num_train=100).mean()
    np.testing.assert_allclose(metrics["mixture_nll"], expected, rtol=1e-5)
    old = losses.mixture_nll("bce", out.logits, batch).mean()
    assert abs(float(metrics["mixture_nll"]) - float(old)) > 1e-2  # the weighting matters


def test_gae_step_num_train_is_checked():
    with pytest.warns(DeprecationWarning, match="num_train"):
        _tiny_gae_step(num_train=None)
    for bad in (0, 1, 2.5, True, "100"):
        with pytest.raises(ValueError, match="num_train"):
            _tiny_gae_step(num_train=bad)
    _, state, step = _tiny_gae_step(num_train=4)
    with pytest.raises(ValueError, match="num_train >= 8"):
        step(state, jnp.zeros((8, 8, 8, 1)), jax.random.key(0))
