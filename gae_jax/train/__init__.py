"""Training: state, per-family step factories and the ``train_and_evaluate`` loop."""

from gae_jax.train.loop import (
    build_adversary,
    build_model,
    build_prior,
    build_train_step,
    load_trained,
    train_and_evaluate,
)
from gae_jax.train.state import TrainState, create_train_state, make_optimizer

__all__ = [
    "TrainState",
    "build_adversary",
    "build_model",
    "build_prior",
    "build_train_step",
    "create_train_state",
    "load_trained",
    "make_optimizer",
    "train_and_evaluate",
]
