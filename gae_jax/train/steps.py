"""Training and evaluation steps, one factory per family.

Every training step has the signature ``step(state, batch, rng_key) -> (state, metrics)`` with
``batch: float32[B, H, W, C]``; its randomness is ``fold_in(rng_key, state.step)``, so a run is
a deterministic function of its seed, and resuming from a checkpoint replays the same keys.
Static configuration is bound by the factory; wrap the result in ``jax.jit`` once.

A step may take further arrays after the key, the same at every step of a run (the GAE's EM
step: the training set). They are arguments of the compiled step rather than constants closed
over by it, which would be copied into the program (188 MB for 60,000 28x28 images) and slow
its compilation; :func:`scan_steps` and :func:`skip_non_finite` pass them through.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from gae_jax import corruption as corruption_lib
from gae_jax import losses, models
from gae_jax.train import gae
from gae_jax.train.state import TrainState

StepFn = Callable[..., tuple[TrainState, dict]]  # (state, batch, rng_key, *inputs)


def _apply_train(model, params, batch_stats, x, key):
    """Runs the autoencoder in training mode; returns its output and updated batch statistics.

    ``key`` draws the codes of a Gaussian encoder and, through ``fold_in(key, 1)``, the noise
    of an encoder with pre-activation noise (:class:`gae_jax.models.MLPEncoder`)."""
    out, updates = model.apply(
        {"params": params, "batch_stats": batch_stats},
        x,
        train=True,
        rngs={"latent": key, models.NOISE_RNG: jax.random.fold_in(key, 1)},
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
        return _apply_gradients(state, tx, grads, batch_stats), metrics

    return step


def _apply_gradients(state: TrainState, tx, grads, batch_stats) -> TrainState:
    """One optimiser update of the autoencoder parameters; advances ``state.step``."""
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
    )


def all_finite(tree) -> jax.Array:
    """bool[]: every floating-point entry of every leaf of ``tree`` is finite."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in leaves]))


def skip_non_finite(step_fn: StepFn) -> StepFn:
    """Wraps a training step so that a non-finite update is rejected instead of applied.

    If any metric or any array of the new state (parameters, optimiser states, batch-norm
    statistics, the adversary's parameters) is NaN or Inf, the wrapped step returns the old
    state with only ``step`` advanced, so later steps see the batches and keys they would have
    seen anyway. The choice is a select inside the compiled step: no host round trip. Checking
    the new state rather than the gradients also catches an update that overflows from finite
    gradients, and it works for every family, whatever its number of optimisers.

    Metrics gain ``skipped``: float32[], 1.0 if this step's update was rejected, else 0.0.
    """

    def step(state: TrainState, batch: jax.Array, rng_key: jax.Array, *inputs: jax.Array):
        new_state, metrics = step_fn(state, batch, rng_key, *inputs)
        ok = all_finite((metrics, new_state))
        kept = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        skipped = jnp.logical_not(ok).astype(jnp.float32)
        return kept.replace(step=new_state.step), {**metrics, "skipped": skipped}

    return step


def scan_steps(step_fn: StepFn) -> StepFn:
    """Runs a training step over a stack of batches in one call, with ``lax.scan``.

    ``steps(state, batches: float32[K, B, H, W, C], rng_key, *inputs) -> (state, metrics)``
    equals K calls of ``step_fn`` (each step derives its keys from ``state.step`` as usual, and
    receives the same ``inputs``); every metric gains a leading axis of length K. One compiled
    call per K steps saves K - 1 dispatches and host round trips, and lets XLA overlap the end
    of one step with the start of the next.
    """

    def steps(state: TrainState, batches: jax.Array, rng_key: jax.Array, *inputs: jax.Array):
        return jax.lax.scan(lambda s, batch: step_fn(s, batch, rng_key, *inputs), state, batches)

    return steps


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


def make_gae_step(
    model,
    tx: optax.GradientTransformation,
    *,
    reconstruction_loss: str = "bce",
    lambda1: float,
    lambda2: float,
    num_train: int | None = None,
) -> StepFn:
    """``gae`` (paper 004): one gradient step on the minibatch estimate of the mixture likelihood.

    Loss per example: -log[(1/n) p(x_i | z_i) + ((n - 1)/n) mean_{j != i} p(x_i | z_j)] with
    z_j ~ q(z|x_j) reparameterised for the B examples of the batch -- an estimate of the
    paper's -log (1/n) sum_{j <= n} p(x_i | z_j) over all n training codes whose expectation
    over minibatches (of the mixture itself) does not depend on B -- plus
    lambda1 sum mu^2 - lambda2 sum(1 + log s^2 - s^2); see :func:`gae_jax.losses.gae_loss`.
    Its log still carries a B-dependent Jensen gap, large for a trained GAE whose mixtures are
    carried by a few near neighbours (see :func:`gae_jax.losses.batch_mixture_nll`).

    Paper 004 fits the likelihood by EM with y (the mixture component) and z latent. The
    gradient of log sum_j w_j p(x_i|z_j) is sum_j r_ij grad log p(x_i|z_j) with the E-step
    responsibilities r_ij = softmax_j (log w_j + log p(x_i|z_j)), so this step is a generalised
    EM step (E-step over the minibatch's codes standing in for all n, one gradient M-step).

    Args:
      model: the Gaussian-encoder autoencoder.
      tx: its optimiser.
      reconstruction_loss: ``bce`` or ``mse``.
      lambda1, lambda2: regulariser weights.
      num_train: n, the number of training examples the batches are drawn from (distinct
        examples per batch, 2 <= B <= n). ``None`` is deprecated: it keeps the old
        batch-only mixture, whose own-code weight 1/B instead of 1/n makes the objective
        depend on the batch size.

    Metrics: ``loss``, ``mixture_nll``, ``regulariser`` and ``recon_loss`` (of each x under its
    own code, comparable with the other families).
    """
    if num_train is None:
        warnings.warn(
            "make_gae_step(num_train=None) uses the batch-only mixture, whose objective depends "
            "on the batch size; pass num_train=<number of training examples>",
            DeprecationWarning,
            stacklevel=2,
        )
    elif not isinstance(num_train, int) or isinstance(num_train, bool) or num_train < 2:
        raise ValueError(f"num_train must be the training set size, an int >= 2, got {num_train!r}")
    recon_fn = losses.reconstruction_loss(reconstruction_loss)

    def step(state: TrainState, batch: jax.Array, rng_key: jax.Array):
        k_latent = jax.random.fold_in(rng_key, state.step)

        def loss_fn(params):
            out, batch_stats = _apply_train(model, params, state.batch_stats, batch, k_latent)
            mean, log_var = out.posterior
            mixture = losses.mixture_nll(reconstruction_loss, out.logits, batch, num_train)
            reg = losses.gae_regulariser(mean, log_var, lambda1, lambda2)
            loss = (mixture + reg).mean()
            metrics = {
                "loss": loss,
                "mixture_nll": mixture.mean(),
                "regulariser": reg.mean(),
                "recon_loss": recon_fn(out.logits, batch).mean(),
            }
            return loss, (metrics, batch_stats)

        grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
        return _apply_gradients(state, tx, grads, batch_stats), metrics

    return step


def make_gae_em_step(
    model,
    tx: optax.GradientTransformation,
    *,
    num_train: int,
    reconstruction_loss: str = "bce",
    lambda1: float,
    lambda2: float,
    num_components: int,
    num_samples: int = 1,
    estep_every: int = 0,
) -> StepFn:
    """``gae`` (paper 004) fitted by EM over all n training codes, with a memory bank.

    Every ``estep_every`` steps (0: once per epoch, n // B steps) the step refreshes
    ``state.gae_bank`` (:func:`gae_jax.train.gae.refresh_bank`: one code z_j ~ q(z|x_j) per
    training example, decoded with the current parameters). Each step then runs

    * the E-step for its batch against the bank: log p(x_i | z_j) for all n components, the top
      K kept with their responsibilities (:func:`gae_jax.losses.em_estep`);
    * an M-step: one gradient step on the EM bound (:func:`gae_jax.losses.em_mixture_nll`) with
      fresh codes z_j ~ q(z|x_j) of the components' images through the encoder, plus
      lambda1 sum mu^2 - lambda2 sum(1 + log s^2 - s^2) of the batch's own codes.
      ``num_samples`` M >= 1 draws M of the K components per example by responsibility (an
      unbiased estimate of the bound and its gradient, M decodings per example);
      ``num_samples=0`` sums all K (K decodings per example).

    Each example's loss involves only its own components, so the minibatch mean estimates the
    mean over all n examples without bias whatever B; with K = n the bound is the exact
    mixture log-likelihood at the E-step's parameters and codes. The batch must hold B
    distinct training examples; the bank's rows follow ``train_images``.

    The returned ``step(state, batch, rng_key, train_images)`` takes the training set
    (float32[n, H, W, C], component j is row j) as an argument, the same at every step, so the
    compiled step does not hold a copy of it (see the module docstring).

    Args:
      model: the Gaussian-encoder autoencoder.
      tx: its optimiser.
      num_train: n, the number of training examples (rows of ``train_images``), >= 1.
      reconstruction_loss: ``bce`` or ``mse``.
      lambda1, lambda2: regulariser weights.
      num_components: K, 1 <= K <= n, components kept per example by the E-step.
      num_samples: M, components drawn per example in the M-step (0: all K, weighted).
      estep_every: steps between bank refreshes, >= 0 (0: n // B, once per epoch).

    Metrics: ``loss``, ``mixture_nll`` (the negated bound, an upper bound on the mixture NLL),
    ``estep_nll`` (the exact full-n mixture NLL of the batch at the bank's parameters and
    codes), ``topk_gap`` (nats of the mixture outside the top K at the E-step),
    ``regulariser`` and ``recon_loss`` (each x under its own code).
    """
    n = num_train
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"num_train must be the training set size, an int >= 1, got {n!r}")
    if not isinstance(num_components, int) or not 1 <= num_components <= n:
        raise ValueError(f"num_components must be an int in 1..{n} (n), got {num_components!r}")
    if not isinstance(num_samples, int) or num_samples < 0:
        raise ValueError(f"num_samples must be an int >= 0 (0: all K), got {num_samples!r}")
    if not isinstance(estep_every, int) or estep_every < 0:
        raise ValueError(
            f"estep_every must be an int >= 0 (0: once per epoch), got {estep_every!r}"
        )
    recon_fn = losses.reconstruction_loss(reconstruction_loss)

    def step(state: TrainState, batch: jax.Array, rng_key: jax.Array, train_images: jax.Array):
        b, shape = batch.shape[0], batch.shape[1:]
        if train_images.shape != (n, *shape) or train_images.dtype != jnp.float32:
            raise ValueError(
                f"train_images must be float32{[n, *shape]} (num_train={n} images shaped like "
                f"the batch), got {train_images.dtype}{list(train_images.shape)}"
            )
        if state.gae_bank is None or state.gae_bank.logits.shape != (n, *shape):
            got = None if state.gae_bank is None else state.gae_bank.logits.shape
            raise ValueError(
                f"the EM step needs state.gae_bank of shape {(n, *shape)} (builders.init_state "
                f"adds it for model.gae_estimator='em'), got {got}"
            )
        every = estep_every or max(n // b, 1)
        k_bank, k_pick, k_latent = jax.random.split(jax.random.fold_in(rng_key, state.step), 3)
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        bank = jax.lax.cond(
            state.step % every == 0,
            lambda: gae.refresh_bank(model, variables, train_images, k_bank),
            lambda: state.gae_bank,
        )
        log_lik_all = -losses.pairwise_reconstruction_loss(reconstruction_loss, bank.logits, batch)
        estep = losses.em_estep(log_lik_all, num_components)
        index, log_resp = estep.index, estep.log_resp
        if num_samples:
            picks = jax.random.categorical(k_pick, log_resp[:, None, :], shape=(b, num_samples))
            index = jnp.take_along_axis(index, picks, axis=1)
            log_resp = jnp.take_along_axis(log_resp, picks, axis=1)
        m = index.shape[1]
        inputs = jnp.concatenate([batch, train_images[index.reshape(-1)]])  # own, components

        def loss_fn(params):
            out, batch_stats = _apply_train(model, params, state.batch_stats, inputs, k_latent)
            mean, log_var = out.posterior.mean[:b], out.posterior.log_var[:b]
            log_lik = -recon_fn(out.logits[b:], jnp.repeat(batch, m, axis=0)).reshape(b, m)
            if num_samples:
                mixture = losses.em_sampled_mixture_nll(log_lik, log_resp, n)
            else:
                mixture = losses.em_mixture_nll(log_lik, log_resp, n)
            reg = losses.gae_regulariser(mean, log_var, lambda1, lambda2)
            loss = (mixture + reg).mean()
            metrics = {
                "loss": loss,
                "mixture_nll": mixture.mean(),
                "estep_nll": jnp.log(n) - estep.log_norm.mean(),
                "topk_gap": (estep.log_norm - estep.log_norm_kept).mean(),
                "regulariser": reg.mean(),
                "recon_loss": recon_fn(out.logits[:b], batch).mean(),
            }
            return loss, (metrics, batch_stats)

        grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
        new_state = _apply_gradients(state, tx, grads, batch_stats)
        return new_state.replace(gae_bank=bank), metrics

    return step


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
