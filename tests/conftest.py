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


def pytest_collection_modifyitems(config, items):
    """Tests marked ``bwrap`` need the grader's sandbox: without it they skip, saying why."""
    found = _bwrap.probe()
    if found.ok:
        return
    skip = pytest.mark.skip(reason=f"needs bubblewrap: {found.error}")
    for item in items:
        if item.get_closest_marker("bwrap") is not None:
            item.add_marker(skip)
