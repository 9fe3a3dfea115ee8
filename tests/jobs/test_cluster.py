"""The entry points' persistent compilation cache: where it goes (the flag, the environment,
then one default directory per machine type). That an entry point really writes it is checked
by tests/faults/test_sigkill.py, whose killed run is started with ``--compilation_cache``."""

import os
import platform

from gae_jax import hardware
from gae_jax.jobs import cluster


def test_the_flag_names_the_cache_or_turns_it_off():
    env = {"JAX_COMPILATION_CACHE_DIR": "/from/env"}
    assert cluster.compilation_cache_dir("/from/flag", env) == "/from/flag"
    assert cluster.compilation_cache_dir("gs://bucket/xla", env) == "gs://bucket/xla"
    assert cluster.compilation_cache_dir("none", env) is None
    assert cluster.compilation_cache_dir("None", env) is None


def test_without_the_flag_jax_s_variable_then_one_directory_per_machine_type():
    assert cluster.compilation_cache_dir(None, {"JAX_COMPILATION_CACHE_DIR": "/e"}) == "/e"
    machine = f"{platform.machine()}-{hardware.cpu_features()['isa']}"
    assert cluster.compilation_cache_dir(None, {"XDG_CACHE_HOME": "/xdg"}) == os.path.join(
        "/xdg", "gae_jax", "xla", machine
    )
    home = os.path.join(os.path.expanduser("~"), ".cache", "gae_jax", "xla", machine)
    assert cluster.compilation_cache_dir(None, {}) == home
    # an empty variable counts as unset
    assert cluster.compilation_cache_dir(None, {"JAX_COMPILATION_CACHE_DIR": ""}) == home
