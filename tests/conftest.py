"""Shared fixtures. Tests run on the CPU, with one XLA compilation cache for the whole run;
multi-device tests start their own subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (see tests/multidevice/). Test modules in
every directory import ``helpers`` (tests/helpers.py: tiny configs and models)."""

import atexit
import os
import shutil
import sys
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One persistent XLA compilation cache for the run, shared by the pytest-xdist workers and every
# process the tests start (all inherit this environment): the many runs of the same tiny models
# load their compiled programs instead of compiling them again, which is most of their time. A
# fresh directory per run (removed at exit), so a run's time does not depend on earlier runs; a
# JAX_COMPILATION_CACHE_DIR set by the caller is used as it is.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _CACHE_DIR = tempfile.mkdtemp(prefix="gae_jax_tests_xla_cache_")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE_DIR
    atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

import jax  # noqa: E402
import pytest  # noqa: E402


def pytest_collection_modifyitems(items):
    """The longer end-to-end tests (``@pytest.mark.slow``) first, in their collected order:
    under pytest-xdist the short tests then fill both workers' ends, instead of one long test
    running alone at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config):
    """Under ``-n``, pytest-xdist's default ``--dist load`` becomes ``loadgroup`` (``load`` that
    sends the tests marked ``xdist_group("name")`` to one worker): a module's tests that share
    an expensive module-scoped fixture compute it once."""
    if getattr(config.option, "dist", None) == "load":  # the controller
        config.option.dist = "loadgroup"
    elif getattr(config, "workerinput", {}).get("loadgroup"):  # a worker (see below)
        config.option.loadgroup = True  # it tags the grouped tests for the controller


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Tells each xdist worker whether the controller groups (a worker sets its own
    ``loadgroup`` from the command line before the conftest's ``pytest_configure`` runs)."""
    node.workerinput["loadgroup"] = node.config.getvalue("dist") == "loadgroup"


@pytest.fixture
def key():
    return jax.random.key(0)
