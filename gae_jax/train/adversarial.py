"""Training steps of the adversarial autoencoders ``aae``, ``daae`` and ``idaae`` (paper 001).

Each minibatch runs three updates in the order of paper 001's Algorithm 1, each its own pure
``(state, batch, rng_key) -> (state, metrics)`` function built by a factory:

1. reconstruction of clean x from C(x) (:func:`gae_jax.train.steps.make_reconstruction_step`;
   C is the identity for ``aae``), updating the encoder and decoder with ``state.opt_state``;
2. :func:`make_discriminator_step`: real = prior samples, fake = encodings, updating
   ``state.disc_params`` with ``state.disc_opt_state``;
3. :func:`make_generator_step`: the prior-matching loss on the encoder only, with
   ``state.gen_opt_state``: the non-saturating -log D(fake) (default) or paper 001's own
   saturating log(1 - D(fake)) (eq. 2, Alg. 1 line 18; ``Adversary.generator_loss``).

The fake code of x is the mean of M encodings of M independent corruptions of x
(:func:`make_fake_codes`; Algorithm 2). M = 1 gives the ``aae`` (identity corruption) and
``daae`` codes E(C(x)); M > 1 is the ``idaae``'s Monte-Carlo estimate of a draw from
q~(z|x) = integral q(z|x~) c(x~|x) dx~.

:func:`make_adversarial_step` chains the three. Only the reconstruction update advances
``state.step``, so the loop sees one step per minibatch; each phase gets its own key split from
``fold_in(rng_key, state.step)``, and derives its randomness from it the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gae_jax import corruption as corruption_lib
from gae_jax import losses, priors
from gae_jax.train import steps
from gae_jax.train.state import TrainState

# fake_codes(params, batch_stats, x, rng_key, train) -> (z: float32[B, D], batch_stats)
FakeCodesFn = Callable[..., tuple[jax.Array, dict]]


class Adversary(NamedTuple):
    """What the adversarial families add to an autoencoder (static; bound into the steps)."""

    discriminator: nn.Module  # z: float32[B, D] -> logits float32[B]
    prior: priors.Prior  # the target distribution of the codes
    disc_tx: optax.GradientTransformation  # optimiser of the discriminator
    gen_tx: optax.GradientTransformation  # optimiser of the encoder's prior-matching updates
    generator_loss: str = "non_saturating"  # a key of losses.GENERATOR_LOSSES


def init_adversary(
    rng_key: jax.Array, state: TrainState, adversary: Adversary, latent_dim: int
) -> TrainState:
    """Fills ``disc_params``, ``disc_opt_state`` and ``gen_opt_state`` of a fresh state."""
    disc_params = adversary.discriminator.init(
        {"params": rng_key}, jnp.zeros((2, latent_dim), jnp.float32), train=False
    )["params"]
    return state.replace(
        disc_params=disc_params,
        disc_opt_state=adversary.disc_tx.init(disc_params),
        gen_opt_state=adversary.gen_tx.init(state.params["encoder"]),
    )


def corrupt_copies(
    rng_key: jax.Array, corruption: corruption_lib.Corruption, x: jax.Array, num: int
) -> jax.Array:
    """``num`` independent corruptions of a batch: float32[B, ...] -> float32[num, B, ...]."""
    return jax.vmap(corruption, in_axes=(0, None))(jax.random.split(rng_key, num), x)


def make_fake_codes(
    model, corruption: corruption_lib.Corruption, num_samples: int = 1
) -> FakeCodesFn:
    """The codes the adversary sees as "fake": (1/M) sum_m E(C_m(x)), M = ``num_samples``.

    The M encodings are one vmapped encoder call (with batch norm, each copy is normalised with
    its own minibatch statistics, as M separate passes would be) and it is the encodings, not
    the corrupted inputs, that are averaged. Deterministic encoders only (their posterior mean).

    Returns:
      ``fake_codes(params, batch_stats, x, rng_key, train=True) -> (z, batch_stats)`` with
      x: float32[B, H, W, C] and z: float32[B, D]. With ``train=True`` batch norm uses minibatch
      statistics and the returned population statistics are updated (averaged over the M
      copies); with ``train=False`` they are used and returned unchanged.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples (M) must be >= 1, got {num_samples}")

    def encode(params, batch_stats, x_tilde, train):
        variables = {"params": params, "batch_stats": batch_stats}
        if not train:
            return model.apply(variables, x_tilde, train=False, method=model.encode).mean, {}
        posterior, updates = model.apply(
            variables, x_tilde, train=True, method=model.encode, mutable=["batch_stats"]
        )
        return posterior.mean, updates.get("batch_stats", {})

    def fake_codes(params, batch_stats, x, rng_key, train=True):
        x_tilde = corrupt_copies(rng_key, corruption, x, num_samples)  # [M, B, H, W, C]
        encode_one = functools.partial(encode, params, batch_stats, train=train)
        codes, stats = jax.vmap(encode_one)(x_tilde)  # [M, B, D]
        if train and stats:
            batch_stats = jax.tree.map(lambda s: s.mean(axis=0), stats)
        return codes.mean(axis=0), batch_stats

    return fake_codes


def make_discriminator_step(adversary: Adversary, fake_codes: FakeCodesFn) -> steps.StepFn:
    """One update of the discriminator on ``discriminator_loss(D(z_real), D(z_fake))``.

    z_real ~ prior and z_fake = ``fake_codes(x)`` (a constant here: only ``disc_params``
    receive gradients). Leaves ``state.step`` unchanged: it is one phase of a training step.
    Metrics: ``disc_loss`` and ``disc_acc``, the training-batch accuracy with dropout on.
    """
    disc, disc_tx, prior = adversary.discriminator, adversary.disc_tx, adversary.prior

    def step(state: TrainState, batch: jax.Array, rng_key: jax.Array):
        k_fake, k_prior, k_dropout = jax.random.split(jax.random.fold_in(rng_key, state.step), 3)
        z_fake, batch_stats = fake_codes(state.params, state.batch_stats, batch, k_fake)
        z_real = prior.sample(k_prior, batch.shape[0])
        n = batch.shape[0]

        def loss_fn(disc_params):
            logits = disc.apply(
                {"params": disc_params},
                jnp.concatenate([z_real, z_fake]),
                train=True,
                rngs={"dropout": k_dropout},
            )
            real, fake = logits[:n], logits[n:]
            loss = losses.discriminator_loss(real, fake).mean()
            acc = 0.5 * (jnp.mean(real > 0) + jnp.mean(fake < 0))
            return loss, {"disc_loss": loss, "disc_acc": acc}

        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.disc_params)
        updates, disc_opt_state = disc_tx.update(grads, state.disc_opt_state, state.disc_params)
        new_state = state.replace(
            disc_params=optax.apply_updates(state.disc_params, updates),
            disc_opt_state=disc_opt_state,
            batch_stats=batch_stats,
        )
        return new_state, metrics

    return step


def make_generator_step(adversary: Adversary, fake_codes: FakeCodesFn) -> steps.StepFn:
    """One prior-matching update of the encoder on the adversary's ``generator_loss`` of
    ``D(fake_codes(x))`` (:data:`gae_jax.losses.GENERATOR_LOSSES`).

    Only ``params["encoder"]`` changes (the decoder takes no part; the discriminator is held
    fixed), with ``state.gen_opt_state``. Leaves ``state.step`` unchanged. Metric: ``gen_loss``.
    """
    disc, gen_tx = adversary.discriminator, adversary.gen_tx
    if adversary.generator_loss not in losses.GENERATOR_LOSSES:
        raise ValueError(
            f"generator_loss must be one of {tuple(losses.GENERATOR_LOSSES)}, "
            f"got {adversary.generator_loss!r}"
        )
    gen_loss_fn = losses.GENERATOR_LOSSES[adversary.generator_loss]

    def step(state: TrainState, batch: jax.Array, rng_key: jax.Array):
        k_fake, k_dropout = jax.random.split(jax.random.fold_in(rng_key, state.step))

        def loss_fn(encoder_params):
            params = {**state.params, "encoder": encoder_params}
            z_fake, batch_stats = fake_codes(params, state.batch_stats, batch, k_fake)
            logits = disc.apply(
                {"params": state.disc_params}, z_fake, train=True, rngs={"dropout": k_dropout}
            )
            loss = gen_loss_fn(logits).mean()
            return loss, ({"gen_loss": loss}, batch_stats)

        encoder_params = state.params["encoder"]
        grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(encoder_params)
        updates, gen_opt_state = gen_tx.update(grads, state.gen_opt_state, encoder_params)
        params = {**state.params, "encoder": optax.apply_updates(encoder_params, updates)}
        new_state = state.replace(
            params=params, batch_stats=batch_stats, gen_opt_state=gen_opt_state
        )
        return new_state, metrics

    return step


def make_adversarial_step(
    model,
    tx: optax.GradientTransformation,
    adversary: Adversary,
    *,
    reconstruction_loss: str = "bce",
    corruption: corruption_lib.Corruption = corruption_lib.identity,
    integration_samples: int = 1,
) -> steps.StepFn:
    """The per-minibatch step of ``aae`` / ``daae`` / ``idaae``: reconstruction, discriminator,
    then generator update (paper 001 Alg. 1), advancing ``state.step`` by one.

    Args:
      model: a deterministic :class:`~gae_jax.models.Autoencoder`.
      tx: the autoencoder's optimiser (reconstruction phase, ``state.opt_state``).
      adversary: discriminator, prior and the two adversarial optimisers.
      reconstruction_loss: ``bce`` or ``mse``.
      corruption: C(x~|x); the identity for ``aae``.
      integration_samples: M encodings averaged per fake code; 1 except for ``idaae``.

    Returns:
      ``step(state, batch, rng_key) -> (state, metrics)``; metrics hold ``recon_loss``,
      ``loss`` (= recon_loss), ``disc_loss``, ``disc_acc`` and ``gen_loss``.
    """
    recon_step = steps.make_reconstruction_step(
        model, tx, reconstruction_loss=reconstruction_loss, corruption=corruption
    )
    fake_codes = make_fake_codes(model, corruption, integration_samples)
    disc_step = make_discriminator_step(adversary, fake_codes)
    gen_step = make_generator_step(adversary, fake_codes)

    def step(state: TrainState, batch: jax.Array, rng_key: jax.Array):
        k_recon, k_disc, k_gen = jax.random.split(jax.random.fold_in(rng_key, state.step), 3)
        state, recon_metrics = recon_step(state, batch, k_recon)
        state, disc_metrics = disc_step(state, batch, k_disc)
        state, gen_metrics = gen_step(state, batch, k_gen)
        return state, {**recon_metrics, **disc_metrics, **gen_metrics}

    return step
