"""Shared test configuration: strict JAX numerics for every test.

Strict dtype promotion and rank promotion errors make any silent float64
upcast or implicit broadcast in lrjax fail loudly here. Tests that need float64
enter ``jax.enable_x64(True)`` themselves, so the default (float32) is what
the rest of the suite sees, as users do.
"""

import jax
import pytest

from grader.secure import _bwrap

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test with 64-bit floats enabled (and restore afterwards)."""
    with jax.enable_x64(True):
        yield


# The files that run the grader's sandboxes, nbgrader, Jupyter or a browser, or that
# look for the machine's sandbox processes (a leftover check would count another test's
# sandbox): under ``make test`` (pytest-xdist, two workers) they run one after the other
# on one worker. Every other file is a scope of its own, so that its module fixtures are
# made once, and runs beside them on the other worker.
SERIAL = frozenset({
    "test_add_exercise", "test_attacks", "test_bad_input", "test_browser", "test_course",
    "test_exchange", "test_grader_cli", "test_hooks", "test_mathjax", "test_packaging",
    "test_dask", "test_record", "test_sandbox", "test_zygote",
})  # fmt: skip


def _scope(nodeid: str) -> str:
    """The xdist scope of a test: ``"serial"`` for the files in SERIAL, else its file."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    return "serial" if module in SERIAL else module


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduling by scope (whole files to a worker), with SERIAL's files
    as one scope."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduler(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return Scheduler(config, log)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``bwrap`` need the grader's sandbox: without it they skip, saying why."""
    found = _bwrap.probe()
    if found.ok:
        return
    skip = pytest.mark.skip(reason=f"needs bubblewrap: {found.error}")
    for item in items:
        if item.get_closest_marker("bwrap") is not None:
            item.add_marker(skip)
