"""forward: z = w·x + b, a = σ(z), for one example and for a batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrjax


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("batch", [None, 1, 7], ids=["one-example", "m=1", "m=7"])
def test_forward_matches_numpy(batch):
    rng = np.random.default_rng(0)
    n = 3
    w, b = rng.normal(size=n), 0.25
    x = rng.normal(size=(n,) if batch is None else (batch, n))
    params = lrjax.Params(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32))
    z, a = lrjax.forward(params, jnp.asarray(x, jnp.float32))
    z_ref = x @ w + b
    assert z.shape == z_ref.shape
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a, _sigmoid(z_ref), rtol=1e-5, atol=1e-7)


def test_lecture_two_features():
    """The lecture's graph: z = w1·x1 + w2·x2 + b."""
    params = lrjax.Params(jnp.array([2.0, -1.0]), jnp.array(0.5))
    z, a = lrjax.forward(params, jnp.array([1.0, 3.0]))
    assert float(z) == pytest.approx(2.0 * 1.0 - 1.0 * 3.0 + 0.5)
    assert float(a) == pytest.approx(_sigmoid(-0.5), rel=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_follows_inputs(dtype, x64):
    params = lrjax.Params(jnp.zeros(2, dtype), jnp.zeros((), dtype))
    z, a = lrjax.forward(params, jnp.ones((4, 2), dtype))
    assert z.dtype == a.dtype == jnp.dtype(dtype)


def test_forward_under_jit_and_vmap():
    params = lrjax.Params(jnp.array([1.0, -2.0]), jnp.array(0.1))
    X = jnp.arange(10.0, dtype=jnp.float32).reshape(5, 2) / 10
    z_batch, a_batch = jax.jit(lrjax.forward)(params, X)
    z_each, a_each = jax.vmap(lrjax.forward, in_axes=(None, 0))(params, X)
    np.testing.assert_allclose(z_batch, z_each, rtol=1e-6)
    np.testing.assert_allclose(a_batch, a_each, rtol=1e-6)
