"""Training and evaluation steps, one factory per family.

Every training step has the signature ``step(state, batch, rng_key) -> (state, metrics)`` with
``batch: float32[B, H, W, C]``; its randomness is ``fold_in(rng_key, state.step)``, so a run is
a deterministic function of its seed, and resuming from a checkpoint replays the same keys.
Static configuration is bound by the factory; wrap the result in ``jax.jit`` once.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from gae_jax import corruption as corruption_lib
from gae_jax import losses
from gae_jax.train.state import TrainState

StepFn = Callable[[TrainState, jax.Array, jax.Array], tuple[TrainState, dict]]


def _apply_train(model, params, batch_stats, x, key):
    """Runs the autoencoder in training mode; returns its output and updated batch statistics."""
    out, updates = model.apply(
        {"params": params, "batch_stats": batch_stats},
        x,
        train=True,
        rngs={"latent": key},
        mutable=["batch_stats"],
    )
    return out, updates.get("batch_stats", batch_stats)


def make_reconstruction_step(
    model,
    tx: optax.GradientTransformation,
    *,
    reconstruction_loss: str = "bce",
    corruption: corruption_lib.Corruption = corruption_lib.identity,
    kl_weight: float = 0.0,
) -> StepFn:
    """One optimiser step on ``recon(d(z), x) + kl_weight * KL(q(z|x~) || N(0, I))``.

    This is the step of the ``ae`` (identity corruption, no KL), ``dae`` (corruption, no KL),
    ``vae`` (KL) and ``dvae`` (corruption and KL; paper 001 Sec. I-D) families, and the
    reconstruction phase of the adversarial families. The target is always the clean ``x``.
    """
    recon_fn = losses.reconstruction_loss(reconstruction_loss)

    def step(state: TrainState, batch: jax.Array, rng_key: jax.Array):
        k_corrupt, k_latent = jax.random.split(jax.random.fold_in(rng_key, state.step))
        x_tilde = corruption(k_corrupt, batch)

        def loss_fn(params):
            out, batch_stats = _apply_train(model, params, state.batch_stats, x_tilde, k_latent)
            recon = recon_fn(out.logits, batch)
            metrics = {"recon_loss": recon.mean()}
            loss = recon.mean()
            if kl_weight > 0:
                kl = losses.gaussian_kl(out.posterior.mean, out.posterior.log_var)
                metrics["kl"] = kl.mean()
                loss = loss + kl_weight * kl.mean()
            metrics["loss"] = loss
            return loss, (metrics, batch_stats)

        grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
        )
        return new_state, metrics

    return step


def make_ae_step(model, tx, *, reconstruction_loss="bce", corruption=corruption_lib.identity):
    """``ae`` / ``dae``: deterministic encoder, reconstruction of clean x from C(x)."""
    return make_reconstruction_step(
        model, tx, reconstruction_loss=reconstruction_loss, corruption=corruption
    )


def make_vae_step(
    model, tx, *, reconstruction_loss="bce", corruption=corruption_lib.identity, kl_weight=1.0
):
    """``vae`` / ``dvae``: negative ELBO with the analytic Gaussian KL."""
    if kl_weight <= 0:
        raise ValueError(f"a VAE step needs kl_weight > 0, got {kl_weight}")
    return make_reconstruction_step(
        model,
        tx,
        reconstruction_loss=reconstruction_loss,
        corruption=corruption,
        kl_weight=kl_weight,
    )


def make_eval_step(model, *, corruption: corruption_lib.Corruption = corruption_lib.identity):
    """Per-example evaluation with population batch-norm statistics.

    Returns ``eval_step(state, batch, rng_key) -> dict of float32[B]``: ``bce`` (summed over
    pixels), ``mse`` (per-pixel mean) and, for Gaussian encoders, ``kl`` and ``neg_elbo``.
    Reconstructions decode the posterior mean of the (optionally corrupted) input.
    """

    def eval_step(state: TrainState, batch: jax.Array, rng_key: jax.Array):
        x_tilde = corruption(rng_key, batch)
        out = model.apply(
            {"params": state.params, "batch_stats": state.batch_stats},
            x_tilde,
            train=False,
            sample=False,
        )
        metrics = {
            "bce": losses.bernoulli_nll(out.logits, batch),
            "mse": losses.mean_squared_error(out.logits, batch),
        }
        if out.posterior.log_var is not None:
            metrics["kl"] = losses.gaussian_kl(out.posterior.mean, out.posterior.log_var)
            metrics["neg_elbo"] = metrics["bce"] + metrics["kl"]
        return metrics

    return eval_step


def evaluate(eval_step, state: TrainState, images, batch_size: int, rng_key) -> dict[str, float]:
    """Means of ``eval_step``'s per-example metrics over all of ``images`` (padded last batch)."""
    from gae_jax.data import iterate_batches

    totals: dict[str, float] = {}
    count = 0
    for i, (batch, valid) in enumerate(iterate_batches(images, batch_size)):
        metrics = eval_step(state, jnp.asarray(batch), jax.random.fold_in(rng_key, i))
        for name, values in metrics.items():
            totals[name] = totals.get(name, 0.0) + float(jnp.sum(values[:valid]))
        count += valid
    return {name: total / count for name, total in totals.items()}
