"""Chain-axis tiling (``config.sampler.chain_tile_size``): tiled runs give the same samples.

Every chain is computed from the same inputs by the same operations, tile or not; with
minibatch batch norm a tile holds whole statistics groups (``bn_tile_size``), and chains
normalised all together are never tiled. XLA:CPU may pick another dot kernel for another number
of rows (small dots are emitted inline), so tiny tiles of tiny networks agree to float rounding;
at the automatic tile size, on networks of the papers' widths, the samples are bitwise the same.
"""

import dataclasses
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_trees_equal, multidevice_env, tiny_config, tiny_model

from gae_jax import builders, hardware, samplers
from gae_jax import config as config_lib
from gae_jax.models import adapter, autoencoder_fns


def _assert_close(a, b):
    """Equal up to float rounding (a tiling that mixed up chains would be off by O(0.1))."""
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=0, atol=2e-6), a, b)


def _is_tiled(fn, *args) -> bool:
    """Whether ``fn``'s program loops over tiles (``lax.map`` is a scan)."""
    return "scan" in str(jax.make_jaxpr(fn)(*args)) or "while" in str(jax.make_jaxpr(fn)(*args))


@pytest.mark.parametrize("num_chains, tile, shards", [(50, 8, 1), (48, 5, 2)])
def test_map_chain_tiles_is_the_untiled_call(num_chains, tile, shards):
    w = jax.random.normal(jax.random.key(0), (6, 32))
    fn = lambda x: {"h": jnp.tanh(x @ w), "norm": jnp.linalg.norm(x @ w, axis=-1)}  # noqa: E731
    x = jax.random.normal(jax.random.key(1), (num_chains, 6))
    tiled = jax.jit(lambda x: adapter.map_chain_tiles(fn, x, tile, shards))
    assert _is_tiled(tiled, x)
    _assert_close(tiled(x), jax.jit(fn)(x))


def _sampler(**kwargs) -> config_lib.SamplerConfig:
    return dataclasses.replace(config_lib.SamplerConfig(), num_devices=1, **kwargs)


def _run(model, variables, sampler, z0, num_steps=4):
    """The latent chain through the one sampler path, recording codes and images."""
    fns = builders.sampler_fns(model, sampler)
    run = builders.run_chains(
        sampler,
        lambda v: samplers.latent_chain(fns.decode_mean, fns.sample_code, v),
        variables,
        z0,
        num_steps,
        (1, num_steps),
        lambda state, info: (state.z, state.x),
        jax.random.key(7),
        name="tiling",
    )
    return fns, (run.final, run.trace)


@pytest.mark.parametrize("mode", ["population", "minibatch"])
def test_mlp_chains_tiled_equal_untiled(mlp_model, mode):
    """The MLP has no batch norm: chains are independent in both modes, any tile gives the same
    samples, including one that leaves a padded last tile (40 = 3 x 13 + 1)."""
    model, variables = mlp_model
    z0 = jax.random.normal(jax.random.key(3), (40, model.latent_dim))
    untiled_fns, untiled = _run(model, variables, _sampler(batch_stats_mode=mode), z0)
    for tile in (13,):
        fns, tiled = _run(
            model, variables, _sampler(batch_stats_mode=mode, chain_tile_size=tile), z0
        )
        assert _is_tiled(fns.decode_mean, variables, z0)
        _assert_close(tiled, untiled)
    assert not _is_tiled(untiled_fns.decode_mean, variables, z0)  # 40 chains: auto is untiled


def test_minibatch_batch_norm_tiles_hold_whole_statistics_groups(dcgan_model):
    """Conv nets normalise with the statistics of each bn_tile_size group: tiles of two groups
    keep every group's statistics, so the samples agree to float rounding (XLA picks conv
    algorithms by batch size; mixing groups would move them by O(0.1)). Chains normalised all
    together are never tiled, and conv nets are not tiled automatically."""
    model, variables = dcgan_model
    z0 = jax.random.normal(jax.random.key(4), (16, model.latent_dim))
    groups = dict(batch_stats_mode="minibatch", bn_tile_size=4)
    auto_fns, untiled = _run(model, variables, _sampler(**groups), z0, num_steps=2)
    assert not _is_tiled(auto_fns.decode_mean, variables, z0)
    fns, tiled = _run(model, variables, _sampler(**groups, chain_tile_size=8), z0, num_steps=2)
    assert _is_tiled(fns.decode_mean, variables, z0)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), tiled, untiled)
    one_batch = _sampler(batch_stats_mode="minibatch", chain_tile_size=8)
    with pytest.raises(ValueError, match="bn_tile_size=None"):
        builders.sampler_fns(model, one_batch).decode_mean(variables, z0)


def test_automatic_tile_rule(monkeypatch):
    small = hardware.AUTO_TILE_MIN_CHAINS - 1
    assert hardware.auto_chain_tile_size(small) == 0
    assert hardware.auto_chain_tile_size(hardware.AUTO_TILE_MIN_CHAINS) == hardware.AUTO_TILE_CHAINS
    # With statistics groups, the automatic tile is a whole number of them.
    monkeypatch.setattr(hardware, "AUTO_TILE_CHAINS", 1000)
    many = 300 * (hardware.AUTO_TILE_MIN_CHAINS // 100)  # whole groups of 300
    assert adapter._tile_size(0, many, 300, coupled=True) == 900
    assert adapter._tile_size(0, many + 1, 300, coupled=True) == 0  # groups straddle shards
    assert adapter._tile_size(0, many, None, coupled=False, dense=False) == 0  # conv nets
    assert adapter._tile_size(0, many, None, coupled=True) == 0
    assert adapter._tile_size(None, many, None, coupled=False) == 0
    with pytest.raises(ValueError, match="multiple of bn_tile_size=300"):
        adapter._tile_size(500, many, 300, coupled=True)


def test_auto_tiling_is_bitwise_at_the_papers_widths():
    """A 784-512-512 MLP (the main job's) over AUTO_TILE_MIN_CHAINS + 3 chains: the automatic
    rule tiles them (the last tile padded), and encodings and decodings are bitwise the
    untiled ones."""
    model = tiny_model(image_shape=(28, 28, 1), latent_dim=10, hidden=(512, 512))
    keys = {"params": jax.random.key(0), "latent": jax.random.key(1)}
    variables = {"params": jax.jit(model.init)(keys, jnp.zeros((1, 28, 28, 1)))["params"]}
    n = hardware.AUTO_TILE_MIN_CHAINS + 3
    z = jax.random.normal(jax.random.key(5), (n, model.latent_dim))
    auto, untiled = autoencoder_fns(model, chain_tile_size=0), autoencoder_fns(model)
    assert _is_tiled(auto.decode_mean, variables, z)
    x = jax.jit(untiled.decode_mean)(variables, z)
    assert_trees_equal(jax.jit(auto.decode_mean)(variables, z), x)
    assert_trees_equal(jax.jit(auto.encode)(variables, x), jax.jit(untiled.encode)(variables, x))


@pytest.mark.parametrize(
    "values, match",
    [
        (dict(chain_tile_size=-1), "chain_tile_size=-1 must be >= 0"),
        (dict(bn_tile_size=4, chain_tile_size=6), "multiple of bn_tile_size=4"),
    ],
)
def test_config_refuses_bad_tiles(values, match):
    config = tiny_config()
    config.sampler.update(num_chains=24, **values)
    with pytest.raises(config_lib.ConfigError, match=match):
        config_lib.validate(config)


_SHARDED = """
import jax, numpy as np
from helpers import tiny_autoencoder
from gae_jax import models, parallel, samplers
model, variables = tiny_autoencoder()
mesh = parallel.make_mesh(2)
z0 = jax.random.normal(jax.random.key(3), (2 * 21, model.latent_dim))
def run(tile):
    fns = models.autoencoder_fns(model, chain_tile_size=tile, num_shards=2)
    def f(key, variables, z0):
        kernel = samplers.latent_chain(fns.decode_mean, fns.sample_code, variables)
        return samplers.sample_chains(key, kernel, kernel.init(z0), 3)[0]
    args = (parallel.replicate(jax.random.key(1), mesh), parallel.replicate(variables, mesh),
            parallel.shard_leading_axis(z0, mesh))
    out = jax.jit(f)(*args)
    assert len(out.z.sharding.device_set) == 2, out.z.sharding
    return jax.tree.map(np.asarray, out)
untiled, tiled = run(None), run(4)
for a, b in zip(jax.tree.leaves(untiled), jax.tree.leaves(tiled)):
    np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)
print("ok")
"""


def test_tiles_per_device_shard_are_exact():
    """Two devices, 21 chains each, tiles of 4 (the last padded): the untiled run's samples."""
    out = subprocess.run(
        [sys.executable, "-c", _SHARDED],
        env=multidevice_env(2),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
