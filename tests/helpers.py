"""What many tests share: tiny configs and models, the repository root, IDX files, workdir reads.

Importable as ``helpers`` from every test directory (tests/conftest.py puts tests/ on sys.path)
and from the multi-device workers (:func:`multidevice_env` puts ``tests/`` on their PYTHONPATH).
"""

import gzip
import os
import socket
import struct
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from configs import base
from gae_jax import config as config_lib
from gae_jax import models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The fast schedule of the training tests (tests/jobs/test_train.py, tests/faults/, ...): seconds
# per run on digits, and tuned with them, so change it only together with their assertions.
FAST_TRAIN = {
    "num_steps": 60,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "b1": 0.9,
    "log_every": 20,
    "checkpoint_every": 20,
    "eval_batch_size": 64,
}


def override(section: ml_collections.ConfigDict, values: Mapping[str, Any] | None) -> None:
    """Sets ``section[name] = value`` for each item (a ConfigDict refuses unknown names)."""
    for name, value in (values or {}).items():
        section[name] = value


def tiny_config(
    family: str = "dae",
    *,
    latent_dim: int = 4,
    hidden: tuple[int, ...] = (64,),
    disc_hidden: tuple[int, ...] | None = None,
    noise_free: bool | None = None,
    schedule: Mapping[str, Any] | None = FAST_TRAIN,
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    sampler: Mapping[str, Any] | None = None,
    mesh: Mapping[str, Any] | None = None,
    **train_fields: Any,
) -> ml_collections.ConfigDict:
    """An experiment config on ``digits`` with tiny MLPs (``hidden`` for encoder and decoder).

    ``noise_free`` (default: for families that are not denoising) sets the corruption to none.
    ``schedule`` is the training section to start from (``None``: the dataclass defaults);
    ``model``, ``train``, ``sampler`` and ``mesh`` override single fields of their section, in
    that order, and further keywords are fields of ``config.train``, e.g.
    ``tiny_config("ae", num_steps=20, checkpoint_every=10)``.
    """
    config = base.get_config()
    config.data.name = "digits"
    m = config.model
    m.family = family
    m.latent_dim = latent_dim
    m.encoder_hidden = m.decoder_hidden = hidden
    if disc_hidden is not None:
        m.disc_hidden = disc_hidden
    if noise_free is None:
        noise_free = not config_lib.FAMILIES[family].denoising
    if noise_free:
        m.corruption, m.corruption_level = "none", 0.0
    override(config.model, model)
    override(config.train, {**(schedule or {}), **(train or {}), **train_fields})
    override(config.sampler, sampler)
    override(config.mesh, mesh)
    return config


def tiny_job_config() -> ml_collections.ConfigDict:
    """The main job's config (``configs/quickstart.py``) on digits with two tiny models (the
    plain latent chain and the denoising one) and seconds per stage."""
    from configs import quickstart

    config = quickstart.get_config()
    config.data.name = "digits"
    del config.models["daae"]
    for name in config.models:
        tiny = dict(encoder_hidden=(32,), decoder_hidden=(32,), disc_hidden=(32,))
        override(config.models[name].model, dict(latent_dim=4, integration_samples=2, **tiny))
        override(
            config.models[name].train,
            dict(
                num_steps=20,
                batch_size=32,
                log_every=10,
                eval_every=20,
                checkpoint_every=20,
                eval_batch_size=180,
            ),
        )
    s = dict(num_chains=300, num_steps=4, record_steps=(0, 1, 4), grid_size=16)
    override(config.sampler, dict(s, slerp_pairs=2, slerp_points=4, slerp_steps=2))
    e = dict(classifier_hidden=(32,), classifier_steps=100, overview_samples=4)
    override(config.evaluation, e)
    return config


def config_from_flags(flags: Sequence[str]) -> ml_collections.ConfigDict:
    """The config an entry point builds from ``--config=FILE`` and ``--config.KEY=VALUE`` flags
    (the same absl parsing, in this process); a relative FILE is taken from :data:`REPO`."""
    from absl import flags as absl_flags
    from ml_collections import config_flags

    argv = ["test"]
    for flag in flags:
        if flag.startswith("--config="):
            flag = "--config=" + os.path.join(REPO, flag.removeprefix("--config="))
        argv.append(flag)
    values = absl_flags.FlagValues()
    config_flags.DEFINE_config_file("config", flag_values=values, sys_argv=argv)
    values(argv)
    return values.config


def tiny_model(
    architecture: str = "mlp",
    posterior: str = "gaussian",
    image_shape: tuple[int, int, int] = (8, 8, 1),
    latent_dim: int = 3,
    hidden: tuple[int, ...] = (16,),
    **kwargs: Any,
) -> models.Autoencoder:
    """An untrained tiny :class:`Autoencoder` (``kwargs``: more of ``build_autoencoder``'s)."""
    return models.build_autoencoder(
        architecture=architecture,
        image_shape=image_shape,
        latent_dim=latent_dim,
        posterior=posterior,
        encoder_hidden=hidden,
        decoder_hidden=hidden,
        **kwargs,
    )


def tiny_autoencoder(architecture="mlp", posterior="gaussian", image_shape=(8, 8, 1), seed=0):
    """A tiny untrained Autoencoder and its ``{'params', 'batch_stats'}`` variables."""
    model = tiny_model(architecture, posterior, image_shape, conv_width=4)
    k_params, k_latent = jax.random.split(jax.random.key(seed))
    variables = jax.jit(lambda keys, x: model.init(keys, x, train=False))(
        {"params": k_params, "latent": k_latent}, jnp.zeros((2, *image_shape))
    )
    return model, {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


def trained_params(workdir):
    """The parameters of the latest checkpoint in ``workdir``."""
    from gae_jax.workdir import load_trained

    return load_trained(str(workdir))[2].params


def assert_trees_equal(a, b):
    """Bitwise-equal leaves, in the same tree structure."""
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def snapshot(root) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to show that a failed run changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in Path(root).rglob("*") if p.is_file()}


def assert_gaussian_matches(z, mean, cov, num_se=4.5):
    """Sample mean and covariance of independent rows ``z`` against N(mean, cov).

    Standard errors: Var(mean_i) = cov_ii / n and Var(cov_ij) ~= (cov_ii cov_jj + cov_ij^2) / n.
    """
    z = np.asarray(z, np.float64)
    n = z.shape[0]
    mean_se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(z.mean(0) - mean) < num_se * mean_se), (z.mean(0), mean)
    cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(z.T) - cov) < num_se * cov_se), (np.cov(z.T), cov)


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` as an IDX file (uint8)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dir(root, n_train=12, n_test=6, gz=True, size=28):
    """The four MNIST IDX files of random images and labels in ``root``; returns the arrays."""
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, (n_train,)),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, (n_test,)),
    }
    for stem, arr in files.items():
        payload = idx_bytes(arr)
        if gz:
            with gzip.open(root / (stem + ".gz"), "wb") as f:
                f.write(payload)
        else:
            (root / stem).write_bytes(payload)
    return files


def multidevice_env(devices: int) -> dict[str, str]:
    """The environment of a worker process with ``devices`` forced CPU devices that imports the
    package, ``configs`` and these helpers."""
    return dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests")]),
    )


def free_port() -> int:
    """A TCP port on localhost that is free now (for a test cluster's coordinator)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_process(cmd: list[str], devices: int) -> subprocess.Popen:
    """Starts ``cmd`` from the repository root with ``devices`` forced CPU devices; its stdout
    and stderr are one text stream."""
    return subprocess.Popen(
        cmd,
        env=multidevice_env(devices),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# The tiny DAE of ``configs/dae_mnist5k.py`` on digits, as flags of the real entry points (the
# tests that launch ``python -m experiments.train`` add their schedule to these).
TINY_TRAIN_FLAGS = [
    "--config=configs/dae_mnist5k.py",
    "--config.data.name=digits",
    "--config.model.latent_dim=4",
    "--config.model.encoder_hidden=(32,)",
    "--config.model.decoder_hidden=(32,)",
    "--config.train.batch_size=32",
]
