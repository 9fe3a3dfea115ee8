"""The GAE's EM estimator (paper 004): E-step and bound by hand, the memory bank, independence of
the batch size, resuming the bank, and training on real digits."""

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import tiny_config, tiny_model

from gae_jax import config as config_lib
from gae_jax import data, losses, models
from gae_jax import workdir as workdir_lib
from gae_jax.evaluation import likelihood
from gae_jax.jobs import train_and_evaluate
from gae_jax.train import gae, loop, steps
from gae_jax.train import state as state_lib
from gae_jax.train.writer import read_metrics


def test_em_estep_and_bound_by_hand():
    # One example, n = 3 components with p(x | z_j) = (0.5, 0.3, 0.2).
    p = np.array([0.5, 0.3, 0.2])
    log_lik = jnp.log(jnp.asarray(p, jnp.float32))[None]
    exact = -math.log(p.sum() / 3)
    full = losses.em_estep(log_lik, 3)
    np.testing.assert_allclose(np.exp(full.log_resp), [p / p.sum()], rtol=1e-6)
    np.testing.assert_allclose(full.log_norm, [math.log(1.0)], atol=1e-6)
    # K = n: at the E-step's own likelihoods the bound is the mixture NLL itself.
    kept = jnp.take_along_axis(log_lik, full.index, axis=1)
    np.testing.assert_allclose(losses.em_mixture_nll(kept, full.log_resp, 3), [exact], rtol=1e-6)
    # K = 2 keeps components 0 and 1: the bound is -log((0.5 + 0.3) / 3), looser by log(1/0.8).
    top2 = losses.em_estep(log_lik, 2)
    assert sorted(np.asarray(top2.index[0]).tolist()) == [0, 1]
    kept = jnp.take_along_axis(log_lik, top2.index, axis=1)
    bound = losses.em_mixture_nll(kept, top2.log_resp, 3)
    np.testing.assert_allclose(bound, [-math.log(0.8 / 3)], rtol=1e-6)
    np.testing.assert_allclose(top2.log_norm - top2.log_norm_kept, [math.log(1 / 0.8)], rtol=1e-5)
    # Away from the E-step (other likelihoods, same responsibilities) it is a lower bound on the
    # log-likelihood, i.e. an upper bound on the NLL: r = (5/8, 3/8), p' = (0.4, 0.4).
    moved = jnp.log(jnp.array([[0.4, 0.4]]))
    r = np.array([5 / 8, 3 / 8])
    by_hand = -np.sum(r * (np.log([0.4, 0.4]) - math.log(3) - np.log(r)))
    np.testing.assert_allclose(losses.em_mixture_nll(moved, top2.log_resp, 3), [by_hand], rtol=1e-6)
    assert by_hand >= -math.log(0.8 / 3) - 1e-9
    with pytest.raises(ValueError, match="1..3"):
        losses.em_estep(log_lik, 4)


def test_sampled_bound_is_unbiased(key):
    k_lik, k_resp, k_pick = jax.random.split(key, 3)
    log_lik = jax.random.normal(k_lik, (3, 5))
    log_resp = jax.nn.log_softmax(2.0 * jax.random.normal(k_resp, (3, 5)))
    exact = losses.em_mixture_nll(log_lik, log_resp, 10)
    draws = 20_000
    picks = jax.random.categorical(k_pick, log_resp[:, None, :], shape=(3, draws))
    sampled = losses.em_sampled_mixture_nll(
        jnp.take_along_axis(log_lik, picks, 1), jnp.take_along_axis(log_resp, picks, 1), 10
    )
    terms = -(jnp.take_along_axis(log_lik - log_resp, picks, 1) - math.log(10))
    stderr = np.asarray(terms.std(axis=1)) / math.sqrt(draws)
    assert np.all(np.abs(np.asarray(sampled - exact)) < 4 * stderr)


def _near_deterministic_state(model, tx, num_train):
    """A random tiny GAE whose encoder's variance is ~e^-40: its codes are its means, so a fresh
    draw equals the bank's and the EM bound at the E-step is computable exactly."""
    state = state_lib.create_train_state(jax.random.key(1), model, tx, (8, 8, 1))
    params = jax.tree.map(lambda x: x, state.params)  # a copy to edit
    last = params["encoder"]["Dense_1"]  # outputs (mean, log_var), 2 + 2 columns
    last["kernel"] = last["kernel"].at[:, 2:].set(0.0)
    last["bias"] = last["bias"].at[2:].set(-40.0)
    return state.replace(params=params, gae_bank=gae.init_bank(num_train, (8, 8, 1)))


def test_bank_is_the_full_mixture_when_fresh_and_em_does_not_depend_on_batch_size():
    """At a fixed model the mean over random minibatches of the EM step's loss (K = n, all
    components) is the exact full-n mixture NLL at B = 4 and at B = 16. (The minibatch mixtures'
    B-dependent Jensen gap is tested in tests/test_losses.py.)"""
    images = jnp.asarray(data.load_dataset("digits", "train").images[:32])
    n = len(images)
    model, tx = tiny_model(latent_dim=2), optax.adam(1e-3)
    state = _near_deterministic_state(model, tx, n)
    fns = models.autoencoder_fns(model)
    variables = models.model_variables(state)
    # The bank, fresh, scores every training image exactly as the full-n mixture does.
    bank = gae.refresh_bank(model, variables, images, jax.random.key(5), chunk_size=7)
    log_lik = likelihood.code_log_likelihood_matrix(
        jax.random.key(5),
        images,
        images,
        lambda x: fns.encode(variables, x),
        lambda z: fns.decode_logits(variables, z),
    )
    np.testing.assert_allclose(
        -losses.pairwise_reconstruction_loss("bce", bank.logits, images), log_lik, rtol=1e-5
    )
    exact = np.asarray(losses.full_mixture_nll(log_lik), np.float64)

    # Zero regularisers, so the loss is the mixture term alone.
    em = jax.jit(
        steps.make_gae_em_step(
            model,
            tx,
            num_train=n,
            lambda1=0.0,
            lambda2=0.0,
            num_components=n,
            num_samples=0,
        )
    )
    rng = np.random.default_rng(0)
    for b in (4, 16):
        gaps = []
        for r in range(10):
            index = rng.permutation(n)[:b]
            _, metrics = em(state, images[index], jax.random.key(r), images)
            np.testing.assert_allclose(metrics["estep_nll"], exact[index].mean(), rtol=1e-4)
            gaps.append(float(metrics["loss"]) - exact[index].mean())
        assert abs(np.mean(gaps)) < 1e-3, (b, np.mean(gaps))


def _constant_bytes(lowered) -> int:
    """Bytes of the array constants (``dense<"0x...">`` literals) in a lowered program."""
    return sum(len(h) // 2 for h in re.findall(r'dense<"0x([0-9A-F]+)">', lowered.as_text()))


def test_em_step_takes_the_training_set_as_an_argument_not_a_constant():
    """The compiled EM step's program does not grow with n: the training set reaches it as an
    argument (through the training loop's ``jit_train_steps``, as in a run), not as a constant;
    a closure over it (the control) adds n x 64 floats of constant to the program text."""
    records = data.open_source("digits", "train").images  # uint8[1437, 8, 8, 1], scale 16
    model, tx = tiny_model(latent_dim=2), optax.adam(1e-3)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    batches, key = jnp.asarray(records[None, :4]), jax.random.key(0)  # K=1 batch of B=4
    sizes, closed = {}, {}
    for n in (16, 1024):
        state = _near_deterministic_state(model, tx, n)
        step_fn = steps.make_gae_em_step(
            model, tx, num_train=n, lambda1=0.1, lambda2=0.1, num_components=4
        )
        train_steps = loop.jit_train_steps(
            data.with_float_images(step_fn, 16.0), mesh, inputs=(data.to_float(records[:n], 16.0),)
        )
        sizes[n] = _constant_bytes(train_steps.lower(state, batches, key))
        images = jnp.asarray(data.to_float(records[:n], 16.0))

        def closure(state, batch, key, step_fn=step_fn, images=images):
            return step_fn(state, batch, key, images)

        closed[n] = _constant_bytes(jax.jit(closure).lower(state, batches[0], key))
    assert closed[1024] - closed[16] == (1024 - 16) * 64 * 4, closed  # the control: float32s
    assert sizes[1024] == sizes[16] < 4096, sizes  # a few small tables (uint8 -> float32)
    # The step takes float32 images, not records.
    with pytest.raises(ValueError, match=r"train_images must be float32\[1024, 8, 8, 1\]"):
        jax.jit(step_fn).lower(state, batches[0], key, records[:1024])


def _em_config(num_steps, checkpoint_every):
    return tiny_config(
        "gae",
        latent_dim=2,
        hidden=(32,),
        model=dict(prior="aggregate", gae_estimator="em", gae_em_components=8, gae_estep_every=8),
        num_steps=num_steps,
        checkpoint_every=checkpoint_every,
        log_every=10,
    )


def test_em_training_resumes_bitwise_and_lowers_the_loss(tmp_path):
    """Resuming at step 20 (bank refreshed at step 16, so it comes from the checkpoint) gives
    the uninterrupted run's parameters and bank bit for bit; the loss goes down on real digits."""
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train_and_evaluate(_em_config(40, 20), straight)
    train_and_evaluate(_em_config(20, 20), resumed)
    train_and_evaluate(_em_config(40, 20), resumed)
    states = [workdir_lib.load_trained(d)[2] for d in (straight, resumed)]
    assert states[0].gae_bank.logits.shape == (1437, 8, 8, 1)
    for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    rows = read_metrics(straight, "train")
    assert rows[-1]["estep_nll"] < rows[0]["estep_nll"] - 3.0, rows
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["topk_gap"] >= 0.0


def test_em_options_are_validated():
    with pytest.raises(config_lib.ConfigError, match="gae_estimator='nope'"):
        config_lib.validate(tiny_config("gae", model=dict(prior="aggregate", gae_estimator="nope")))
    with pytest.raises(config_lib.ConfigError, match="gae_em_components=0"):
        config_lib.validate(tiny_config("gae", model=dict(prior="aggregate", gae_em_components=0)))
    cfg = config_lib.validate(_em_config(10, 10))
    too_many = dataclasses.replace(cfg.model, gae_em_components=2000)
    with pytest.raises(config_lib.ConfigError, match="exceeds the 1437 training"):
        config_lib.check_against_data(
            dataclasses.replace(cfg, model=too_many), (8, 8, 1), num_train=1437
        )
