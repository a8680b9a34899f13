"""The hand-written backward pass against the lecture, jax.grad and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax.test_util import check_grads

import lrjax


def _lecture_grads(w, b, x, y):
    """The lecture's formulas for one example, in NumPy float64."""
    a = 1 / (1 + np.exp(-(x @ w + b)))
    da = -y / a + (1 - y) / (1 - a)
    dz = a - y
    return da, dz, x * dz, dz


def _params(w, b, dtype):
    return lrjax.Params(jnp.asarray(w, dtype), jnp.asarray(b, dtype))


@pytest.mark.parametrize("y", [0.0, 1.0], ids=["y=0", "y=1"])
@pytest.mark.parametrize("b", [-3.0, 0.0, 2.5], ids=["b<0", "b=0", "b>0"])
def test_one_example_matches_lecture(y, b, x64):
    x, w = np.array([1.5, -0.5]), np.array([0.3, 0.8])
    got = lrjax.backward(_params(w, b, jnp.float64), jnp.asarray(x), jnp.asarray(y))
    want = _lecture_grads(w, b, x, y)
    for name, g, r in zip(lrjax.Grads._fields, got, want, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-12, err_msg=name)
    assert got.da.shape == got.dz.shape == got.db.shape == ()
    assert got.dw.shape == (2,)


_finite = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)


@st.composite
def _problems(draw):
    # A few shapes (each one a compilation), many values: the values are what varies.
    m = draw(st.sampled_from((1, 2, 17, 40)))
    n = draw(st.sampled_from((1, 3, 8)))
    X = draw(hnp.arrays(np.float64, (m, n), elements=_finite))
    w = draw(hnp.arrays(np.float64, (n,), elements=_finite))
    b = draw(_finite)
    y = draw(hnp.arrays(np.int32, (m,), elements=st.integers(0, 1)))
    return X, w, b, y


@settings(max_examples=30, deadline=None)
@given(_problems())
def test_batch_matches_jax_grad_float64(problem):
    X, w, b, y = problem
    with jax.enable_x64(True):
        params = _params(w, b, jnp.float64)
        mine = lrjax.backward(params, jnp.asarray(X), jnp.asarray(y))
        auto = lrjax.autodiff_grads(params, jnp.asarray(X), jnp.asarray(y))
    scale = max(np.abs(auto.w).max(), abs(float(auto.b)), 1e-300)
    np.testing.assert_allclose(mine.dw, auto.w, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(mine.db, auto.b, rtol=1e-10, atol=1e-10 * scale)


@settings(max_examples=20, deadline=None)
@given(_problems())
def test_batch_matches_jax_grad_float32(problem):
    X, w, b, y = problem
    params = _params(w, b, jnp.float32)
    Xf = jnp.asarray(X, jnp.float32)
    mine = lrjax.backward(params, Xf, jnp.asarray(y))
    auto = lrjax.autodiff_grads(params, Xf, jnp.asarray(y))
    assert mine.dw.dtype == mine.db.dtype == jnp.float32
    scale = max(np.abs(auto.w).max(), abs(float(auto.b)))
    np.testing.assert_allclose(mine.dw, auto.w, rtol=1e-5, atol=1e-6 * scale + 1e-7)
    np.testing.assert_allclose(mine.db, auto.b, rtol=1e-5, atol=1e-6 * scale + 1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_check_gradients_reports_small_errors(dtype, x64):
    rng = np.random.default_rng(3)
    X = jnp.asarray(rng.normal(size=(30, 4)), dtype)
    y = jnp.asarray(rng.integers(0, 2, 30))
    params = _params(rng.normal(size=4), 0.2, dtype)
    report = lrjax.check_gradients(params, X, y)
    tol = 1e-9 if dtype == "float64" else 1e-4
    assert report.vs_autodiff <= tol
    assert report.vs_finite_differences <= max(tol, 1e-8)
    assert report.ok(tol=max(tol, 1e-8))
    assert "jax.grad" in str(report)


def test_gradient_error_measure_is_not_vacuous(x64):
    """The report's error measure flags a wrong gradient (here: the sign flipped)."""
    X = jnp.asarray(np.random.default_rng(4).normal(size=(10, 3)))
    y = jnp.asarray(np.arange(10) % 2)
    params = _params([0.1, 0.2, 0.3], 0.0, jnp.float64)
    auto = lrjax.autodiff_grads(params, X, y).w
    mine = lrjax.backward(params, X, y).dw
    assert lrjax._backward._rel_err(mine, auto) < 1e-12
    np.testing.assert_allclose(lrjax._backward._rel_err(-mine, auto), 2.0, rtol=1e-12)


@pytest.mark.parametrize("z", [-30.0, -5.0, -0.1, 0.0, 0.7, 5.0, 30.0])
@pytest.mark.parametrize("y", [0.0, 1.0], ids=["y=0", "y=1"])
def test_chain_rule_identity(z, y, x64):
    """dz = da · da/dz = da · a(1 - a), wherever da is representable."""
    params = _params([1.0], 0.0, jnp.float64)
    g = lrjax.backward(params, jnp.array([z]), jnp.asarray(y))
    # 1 - a written as σ(-z): computing it as 1 - a would cancel for large z
    a, one_minus_a = 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(z))
    np.testing.assert_allclose(g.dz, g.da * a * one_minus_a, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(g.da, -y / a + (1 - y) / one_minus_a, rtol=1e-9)


def test_one_example_vmapped_and_averaged_is_the_batch(x64):
    rng = np.random.default_rng(5)
    X = jnp.asarray(rng.normal(size=(25, 3)))
    y = jnp.asarray(rng.integers(0, 2, 25))
    params = _params(rng.normal(size=3), -0.4, jnp.float64)
    each = jax.vmap(lrjax.backward, in_axes=(None, 0, 0))(params, X, y)
    batch = lrjax.backward(params, X, y)
    np.testing.assert_allclose(each.da, batch.da, rtol=1e-13)
    np.testing.assert_allclose(each.dz, batch.dz, rtol=1e-13)
    np.testing.assert_allclose(each.dw.mean(axis=0), batch.dw, rtol=1e-12)
    np.testing.assert_allclose(each.db.mean(), batch.db, rtol=1e-12)


@pytest.mark.parametrize("z", [1e4, -1e4, 1e30, -1e30, 100.0, -100.0])
@pytest.mark.parametrize("y", [0.0, 1.0], ids=["y=0", "y=1"])
def test_extreme_logits_float32(z, y):
    """dz never goes through da: exact even where a rounds to 0 or 1."""
    params = _params([1.0], 0.0, jnp.float32)
    g = lrjax.backward(params, jnp.array([z], jnp.float32), jnp.float32(y))
    a = 1.0 if z > 0 else 0.0
    assert g.dz.dtype == jnp.float32
    np.testing.assert_allclose(g.dz, a - y, atol=1e-30)
    np.testing.assert_allclose(g.dw, [z * (a - y)], rtol=1e-6)
    confident_right = (z > 0) == (y == 1.0)
    if confident_right:
        # -y/a + (1-y)/(1-a) is about ∓1 here: representable, and exact from z
        np.testing.assert_allclose(g.da, -1.0 if y == 1 else 1.0, rtol=1e-6)
    else:
        assert np.isinf(g.da)  # the true value overflows float32


def test_composes_with_jit_vmap_grad():
    rng = np.random.default_rng(6)
    X = jnp.asarray(rng.normal(size=(12, 2)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 2, 12))
    params = _params([0.5, -0.5], 0.1, jnp.float32)
    plain = lrjax.backward(params, X, y)
    jitted = jax.jit(lrjax.backward)(params, X, y)
    for p, j in zip(plain, jitted, strict=True):
        np.testing.assert_allclose(p, j, rtol=1e-6)

    # grad of the hand-written db w.r.t. b is the curvature mean(a(1 - a))
    def db_of(b):
        return lrjax.backward(lrjax.Params(params.w, b), X, y).db

    a = jax.nn.sigmoid(X @ params.w + params.b)
    np.testing.assert_allclose(jax.grad(db_of)(params.b), jnp.mean(a * (1 - a)), rtol=1e-5)

    # vmap over several parameter vectors at once
    ws = jnp.stack([params.w, -params.w, 2 * params.w])
    many = jax.vmap(lambda w: lrjax.backward(lrjax.Params(w, params.b), X, y).dw)(ws)
    np.testing.assert_allclose(many[0], plain.dw, rtol=1e-6)


def test_check_grads_of_cost(x64):
    rng = np.random.default_rng(7)
    X = jnp.asarray(rng.normal(size=(8, 3)))
    y = jnp.asarray(rng.integers(0, 2, 8))
    params = _params(rng.normal(size=3), 0.3, jnp.float64)
    check_grads(lambda p: lrjax.cost(p, X, y), (params,), order=2, modes=["rev", "fwd"])
