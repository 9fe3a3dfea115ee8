"""Training: the state, per-family step factories (``steps``, ``adversarial``) and the
config-free pieces of the loop (``loop``). The config-level loop, ``train_and_evaluate``, is the
training job: :func:`gae_jax.jobs.train_and_evaluate`."""

from gae_jax.train.state import TrainState, create_train_state, make_optimizer

__all__ = ["TrainState", "create_train_state", "make_optimizer"]
