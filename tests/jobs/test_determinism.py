"""Determinism: the same seed gives bitwise the same run, and sampling a restored checkpoint gives
bitwise the same samples. Related tests live elsewhere: resuming after SIGKILL equals the
uninterrupted run (tests/faults/test_sigkill.py), and chains sharded over devices equal unsharded
ones (tests/multidevice/test_sharded_chains.py)."""

import jax
import numpy as np
from helpers import tiny_config, trained_params

from gae_jax.jobs import sample_and_save, train_and_evaluate
from gae_jax.train.writer import read_metrics


def _leaves(workdir):
    return jax.tree.leaves(trained_params(workdir))


def test_same_seed_same_run_and_another_seed_another_run(tmp_path):
    for name, seed in (("first", 0), ("again", 0), ("other", 1)):
        config = tiny_config(num_steps=30, log_every=10, checkpoint_every=30)
        config.seed = seed
        train_and_evaluate(config, str(tmp_path / name))
    first, again, other = (_leaves(tmp_path / n) for n in ("first", "again", "other"))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert read_metrics(str(tmp_path / "first")) == read_metrics(str(tmp_path / "again"))
    assert not any(np.array_equal(a, c) for a, c in zip(first, other, strict=True))


def test_a_restored_checkpoint_gives_identical_samples(tmp_path):
    # Latent chains from prior draws, and slerp paths refined by them.
    sampler = dict(kernels=("latent",), num_chains=8, num_steps=3, record_steps=(0, 1, 3))
    sampler.update(grid_size=8, slerp_pairs=2, slerp_points=3, slerp_steps=1)
    config = tiny_config(num_steps=20, log_every=10, checkpoint_every=20, sampler=sampler)
    train_and_evaluate(config, str(tmp_path))
    first = sample_and_save(config, str(tmp_path))  # each call restores the checkpoint afresh
    with np.load(tmp_path / "samples" / "samples.npz") as f:
        expected = dict(f)
    # Restarting non-finite chains changes nothing when every chain stays finite.
    config.sampler.on_non_finite = "restart"
    again = sample_and_save(config, str(tmp_path))
    with np.load(tmp_path / "samples" / "samples.npz") as f:
        assert f.files == list(expected)
        for name in f.files:
            np.testing.assert_array_equal(f[name], expected[name], err_msg=name)
    for summary in (first, again):
        counts = {run: n["chains"] for run, n in summary["non_finite"].items()}
        assert counts == {"latent": 0, "interpolation": 0}
    assert (
        again["non_finite"]["latent"]["restarted"]
        and not first["non_finite"]["latent"]["restarted"]
    )
