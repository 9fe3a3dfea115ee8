"""Fault injection, requests larger than the machine: refused before anything is compiled or
the workdir touched, naming the key, the estimate, what the machine has and what fits; the
estimates are lower bounds of what the compiled programs use, so nothing that fits is refused."""

import functools

import jax
import jax.numpy as jnp
import pytest
from helpers import snapshot, tiny_config

from gae_jax import builders, data, resources
from gae_jax import config as config_lib
from gae_jax.jobs import sample_and_save, train_and_evaluate
from gae_jax.train import steps

_REFUSED = (
    r"config\.{key}={value} needs at least [\d.]+ [KMGT]iB for .*, but the host memory \(CPU\) "
    r"has [\d.]+ [KMGT]iB free; lower config\.{key} to at most [\d,]+"
)


@pytest.fixture
def no_compiling(monkeypatch):
    """Fails the test if anything is compiled (jit, or the one sampler path)."""

    def refuse(*args, **kwargs):
        raise AssertionError("compiled before the memory check")

    monkeypatch.setattr(jax, "jit", refuse)
    monkeypatch.setattr(builders, "run_chains", refuse)


@pytest.mark.parametrize(
    "section, key, value",
    [("sampler", "num_chains", 10**9), ("train", "eval_batch_size", 10**9)],
)
def test_training_that_cannot_fit_is_refused_before_the_workdir_exists(
    tmp_path, no_compiling, section, key, value
):
    config = tiny_config(num_steps=20)
    config[section][key] = value
    with pytest.raises(
        config_lib.ConfigError,
        match=_REFUSED.format(key=f"{section}.{key}", value=f"{value:,}"),
    ):
        train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_sampling_chains_that_cannot_fit_are_refused_and_nothing_changes(run_copy, no_compiling):
    before = snapshot(run_copy)
    config = tiny_config(num_steps=20, log_every=10, checkpoint_every=10)
    config.sampler.num_chains = 1_000_000_000
    with pytest.raises(config_lib.ConfigError, match=r"lower config\.sampler\.num_chains to at"):
        sample_and_save(config, str(run_copy))
    assert snapshot(run_copy) == before


def test_the_advice_is_the_largest_value_that_fits():
    demand = resources.Demand("sampler.num_chains", 1000, "chains", 100, 10, 0, 2)
    available = resources.Available(host=8_000, device=None, device_name="host (CPU)")
    with pytest.raises(config_lib.ConfigError, match=r"needs at least 11.8 KiB .* at most 658$"):
        resources.check([demand], available)
    resources.check(
        [resources.Demand("sampler.num_chains", 658, "chains", 100, 10, 0, 2)], available
    )


def test_accelerators_are_checked_per_device_share_and_the_host_for_the_copies():
    gpu = resources.Available(host=10**9, device=4_000, device_name="GPU H100")
    split = resources.Demand("sampler.num_chains", 1000, "chains", 0, 10, shards=4)
    resources.check([split], gpu)  # 10 kB over 4 devices: 2.5 kB each
    with pytest.raises(config_lib.ConfigError, match=r"memory per GPU H100 device \(2 sharing"):
        resources.check([resources.Demand("k", 1000, "x", 0, 10, shards=2)], gpu)
    copies = resources.Demand("k", 10**9, "x", 0, 0, host_per_unit=8)
    with pytest.raises(config_lib.ConfigError, match=r"host memory \(for the copies brought back"):
        resources.check([copies], gpu)


def test_a_default_sized_config_is_not_refused():
    cfg = config_lib.validate(config_lib.default_config())
    model = builders.build_model(cfg.model, (28, 28, 1))
    init = functools.partial(
        builders.init_state, cfg, model, builders.build_optimizer(cfg.train), (28, 28, 1)
    )
    resources.check_training(cfg, (28, 28, 1), model, jax.eval_shape(init))


def test_the_estimates_are_lower_bounds_of_the_compiled_programs():
    """The evaluation and training estimates stay below XLA's own accounting (arguments,
    outputs and temporaries) of the programs they stand for: a refusal is certain."""
    cfg = config_lib.validate(tiny_config(num_steps=20, eval_batch_size=256))
    image_shape = data.load_dataset("digits", "test").image_shape
    model = builders.build_model(cfg.model, image_shape)
    tx = builders.build_optimizer(cfg.train)
    init = functools.partial(builders.init_state, cfg, model, tx, image_shape)
    state = init()
    train_demand, eval_demand = resources.training_demands(
        cfg, image_shape, model, jax.eval_shape(init)
    )

    def used(compiled) -> int:
        m = compiled.memory_analysis()
        return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes

    key = jax.random.key(0)
    eval_step = steps.make_eval_step(model, corruption=builders.model_corruption(cfg.model))
    batch = jnp.zeros((cfg.train.eval_batch_size, *image_shape))
    compiled = jax.jit(eval_step).lower(state, batch, key).compile()
    assert eval_demand.device_bytes <= used(compiled)

    step = builders.build_train_step(cfg.model, model, tx, None, num_train=1000)
    batch = jnp.zeros((cfg.train.batch_size, *image_shape))
    compiled = jax.jit(step).lower(state, batch, key).compile()
    # The host stack of a dispatch is not part of the program.
    per_batch = train_demand.device_bytes - train_demand.host_bytes
    assert per_batch <= used(compiled)
    assert train_demand.device_fixed >= resources._tree_bytes(state)  # state and gradients
