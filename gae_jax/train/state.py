"""Training state: a pytree of arrays only (optimisers and models are bound in step factories)."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import optax

from gae_jax.types import ArrayTree


class TrainState(flax.struct.PyTreeNode):
    """Everything a checkpoint must hold to resume training exactly."""

    step: jax.Array  # int32[], number of completed training steps
    params: ArrayTree  # autoencoder parameters
    batch_stats: ArrayTree  # batch-norm population statistics ({} for MLPs)
    opt_state: optax.OptState  # optimiser state of the autoencoder parameters
    # Adversarial families only (None otherwise, so the other families' checkpoints keep their
    # layout): the discriminator's parameters and optimiser state, and the optimiser state of
    # the prior-matching (generator) updates of params["encoder"].
    disc_params: ArrayTree | None = None
    disc_opt_state: optax.OptState | None = None
    gen_opt_state: optax.OptState | None = None
    # The GAE's EM estimator only (gae_jax.train.gae.GaeBank; None otherwise): the decoded
    # codes of all n training examples that its E-step scores each batch against.
    gae_bank: ArrayTree | None = None


def create_train_state(
    rng_key: jax.Array, model, tx: optax.GradientTransformation, image_shape
) -> TrainState:
    """Initialises parameters from a dummy batch of shape ``[2, *image_shape]``."""
    k_params, k_latent = jax.random.split(rng_key)
    dummy = jnp.zeros((2, *image_shape), jnp.float32)
    variables = model.init({"params": k_params, "latent": k_latent}, dummy, train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
    )


def make_optimizer(name: str, learning_rate: float, *, b1=0.9, b2=0.999, momentum=0.0):
    """``adam`` (betas b1, b2), ``rmsprop`` (with momentum; paper 001 CelebA) or ``sgd``."""
    if name == "adam":
        return optax.adam(learning_rate, b1=b1, b2=b2)
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, momentum=momentum or None)
    if name == "sgd":
        return optax.sgd(learning_rate, momentum=momentum or None)
    raise ValueError(f"optimizer must be 'adam', 'rmsprop' or 'sgd', got {name!r}")
