"""loss (the lecture's, from probabilities) and cost (the mean, from logits)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax


def _numpy_loss(a, y):
    return -(y * np.log(a) + (1 - y) * np.log(1 - a))


@pytest.mark.parametrize(
    "a,y",
    [(0.9, 1.0), (0.9, 0.0), (0.1, 1.0), (0.5, 0.0), (1e-6, 0.0), (1 - 1e-6, 1.0)],
    ids=["right-confident", "wrong-confident", "wrong", "unsure", "tiny-a-y0", "a-near-1-y1"],
)
def test_loss_matches_lecture_formula(a, y, x64):
    got = lrjax.loss(jnp.asarray(a), jnp.asarray(y))
    np.testing.assert_allclose(got, _numpy_loss(a, y), rtol=1e-12)


def test_loss_of_certain_right_answer_is_zero():
    assert float(lrjax.loss(jnp.float32(1.0), jnp.float32(1.0))) == 0.0
    assert float(lrjax.loss(jnp.float32(0.0), jnp.float32(0.0))) == 0.0


@pytest.mark.parametrize("m,n", [(1, 1), (20, 3), (200, 30)], ids=str)
def test_cost_is_mean_of_lecture_loss(m, n, x64):
    rng = np.random.default_rng(m + n)
    X, w, y = rng.normal(size=(m, n)), rng.normal(size=n), rng.integers(0, 2, m)
    params = lrjax.Params(jnp.asarray(w), jnp.asarray(0.3))
    a = 1 / (1 + np.exp(-(X @ w + 0.3)))
    got = lrjax.cost(params, jnp.asarray(X), jnp.asarray(y))
    np.testing.assert_allclose(got, np.mean(_numpy_loss(a, y)), rtol=1e-12)


def test_cost_equals_optax():
    rng = np.random.default_rng(1)
    X = jnp.asarray(rng.normal(size=(50, 4)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 2, 50), jnp.float32)
    params = lrjax.Params(jnp.asarray(rng.normal(size=4) * 3, jnp.float32), jnp.float32(-0.5))
    z, _ = lrjax.forward(params, X)
    want = optax.sigmoid_binary_cross_entropy(z, y).mean()
    np.testing.assert_allclose(lrjax.cost(params, X, y), want, rtol=1e-6)


@pytest.mark.parametrize("z", [1e4, -1e4, 1e6, -1e6, 3e38, -3e38, 20.0, -20.0, 88.0, -104.0])
@pytest.mark.parametrize("y", [0.0, 1.0], ids=["y=0", "y=1"])
def test_cost_extreme_logits_float32(z, y):
    """Finite and accurate for every finite z in float32.

    L = softplus(-z) if y = 1, else softplus(z).
    """
    params = lrjax.Params(jnp.array([1.0], jnp.float32), jnp.float32(0.0))
    got = lrjax.cost(params, jnp.array([z], jnp.float32), jnp.float32(y))
    assert got.dtype == jnp.float32
    s = -z if y == 1.0 else z  # the loss is softplus(s) = log(1 + e^s)
    want = s + np.log1p(np.exp(-s)) if s > 0 else np.log1p(np.exp(s))
    assert np.isfinite(got)
    # XLA on CPU flushes subnormals to zero: below float32's smallest normal, 0 is right
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=np.finfo(np.float32).tiny)


def test_cost_gradient_is_finite_at_extreme_logits():
    params = lrjax.Params(jnp.array([1.0], jnp.float32), jnp.float32(0.0))
    for z in (1e4, -1e4):
        for y in (0.0, 1.0):
            g = jax.grad(lrjax.cost)(params, jnp.array([z], jnp.float32), jnp.float32(y))
            assert np.all(np.isfinite(g.w)) and np.isfinite(g.b)
