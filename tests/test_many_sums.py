"""fit_many's native kernel (native/many_sums.cc): the same sums as NumPy for K models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _reference import synthetic_data

import lrjax
from lrjax import _native

pytestmark = pytest.mark.skipif(
    not _native.available(), reason=f"native kernel unavailable: {_native._load()}"
)

TOL = {"float64": dict(rtol=1e-11, atol=1e-12), "float32": dict(rtol=2e-5, atol=1e-5)}


def numpy_many_sums(X, y, W, b, V=None):
    """(Xᵀ·dZ, ΣdZ, ΣL) per model in float64, from the lecture's formulas (L from the logits)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)[:, None]
    Z = X @ np.asarray(W, np.float64) + np.asarray(b, np.float64)
    dZ = np.exp(-np.logaddexp(0, -Z)) - y  # σ(Z) without overflow
    L = np.logaddexp(0, Z) - y * Z
    if V is not None:
        dZ, L = dZ * V, L * V
    return X.T @ dZ, dZ.sum(0), L.sum(0)


def native_many_sums(X, y, W, b, V=None, n_threads=2):
    dtype = X.dtype
    fn = jax.jit(lambda *a: _native.many_sums(*a, n_threads=n_threads))
    cast = [None if a is None else jnp.asarray(a, dtype) for a in (y, W, b, V)]
    return tuple(np.asarray(v) for v in fn(jnp.asarray(X), *cast))


def models(n, K, seed=0):
    """K different weight columns (n, K) and biases (K,), of a size that keeps z moderate."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, K)) / np.sqrt(n), rng.normal(size=K) * 0.5


# m: one row, rows not a multiple of the 8-row tile or of a block, and up to
# the 16 chunks the rows are cut into (64 rows a chunk at least). n: below, at
# and above the 8-feature tile (edges of 1-7 features). K: the 4-, 8- and
# 16-wide tiles of float32 (2, 4, 8 in float64), padded or not.
CASES = [
    (1, 1, 1),
    (3, 5, 2),
    (131, 7, 5),
    (200, 8, 16),
    (517, 13, 17),
    (1000, 100, 64),
    (4001, 30, 70),
    (70_001, 20, 9),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[f"{m}x{n}-K{K}" for m, n, K in CASES])
def test_sums_match_numpy(case, dtype, weighted, x64):
    m, n, K = case
    X, y = synthetic_data(m, n, seed=m + n + K)
    X = X.astype(dtype)
    W, b = models(n, K, seed=K)
    V = np.random.default_rng(m).integers(0, 3, size=(m, K)).astype(dtype) if weighted else None
    G, gb, total = native_many_sums(X, y, W.astype(dtype), b.astype(dtype), V)
    ref_G, ref_gb, ref_total = numpy_many_sums(X, y, W.astype(dtype), b.astype(dtype), V)
    assert G.dtype == gb.dtype == total.dtype == np.dtype(dtype)
    assert G.shape == (n, K) and gb.shape == total.shape == (K,)
    scale = np.abs(X).sum(0).max() * (2 if weighted else 1)  # sums of m terms
    np.testing.assert_allclose(G / scale, ref_G / scale, **TOL[dtype])
    np.testing.assert_allclose(gb / m, ref_gb / m, **TOL[dtype])
    np.testing.assert_allclose(total / m, ref_total / m, **TOL[dtype])


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES[:6], ids=[f"{m}x{n}-K{K}" for m, n, K in CASES[:6]])
def test_linear_sums_are_products_with_the_weighted_gram_matrix(case, dtype, weighted, x64):
    """linear=True: [G; gb] = X̃ᵀVX̃·[W; b] and loss = Σ V·Z² per model; y unread."""
    m, n, K = case
    X = synthetic_data(m, n, seed=m + n + K)[0].astype(dtype)
    W, b = (a.astype(dtype) for a in models(n, K, seed=K))
    V = np.random.default_rng(m).integers(0, 3, size=(m, K)).astype(dtype) if weighted else None
    fn = jax.jit(lambda *a: _native.many_sums(*a, n_threads=2, linear=True))
    cast = [None if a is None else jnp.asarray(a) for a in (W, b, V)]
    G, gb, total = (np.asarray(a) for a in fn(jnp.asarray(X), jnp.full((m,), np.nan, dtype), *cast))
    Xt = np.hstack([X.astype(np.float64), np.ones((m, 1))])
    Z = Xt @ np.vstack([W, b[None]]).astype(np.float64)
    VZ = Z if V is None else V * Z
    scale = np.abs(Xt).sum(0).max() * max(np.abs(Z).max(), 1) * (1 if V is None else 2)
    np.testing.assert_allclose(np.vstack([G, gb[None]]) / scale, Xt.T @ VZ / scale, **TOL[dtype])
    np.testing.assert_allclose(total / scale, np.sum(VZ * Z, 0) / scale, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_loss_is_exact_for_any_logit(dtype, x64):
    """One example, K models: each loss is one softplus, checked element by element.

    The float32 kernel computes log1p(e), e = exp(-|s|), by its own series; this
    covers s from -1e5 to 1e5, so e runs over all of (0, 1].
    """
    z = np.concatenate([np.linspace(-30, 30, 241), [-1e5, -1e4, -88.0, 88.0, 1e4, 1e5]])
    X = np.ones((1, 1), dtype)
    for label in (0, 1):
        G, gb, total = native_many_sums(X, np.array([label]), z[None, :].astype(dtype), 0 * z)
        _, ref_gb, ref_total = numpy_many_sums(X, np.array([label]), z[None, :], 0 * z)
        assert np.all(np.isfinite(total)) and np.all(np.isfinite(G))
        # 2 ulp of the loss, plus the rounding of z itself in float32 (|z| up to 1e5)
        z_err = np.abs(z) * np.finfo(dtype).eps
        ulp = np.finfo(dtype).eps
        assert np.all(np.abs(total - ref_total) <= 2 * ulp * ref_total + z_err + 1e-300)
        np.testing.assert_allclose(gb, ref_gb, rtol=2 * ulp, atol=ulp / 2)
        np.testing.assert_array_equal(G[0], gb)  # x = 1: Xᵀ·dz is dz


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_do_not_change_the_result(dtype, x64):
    """Partial sums per chunk (16 of them), added in chunk order: bit-identical for any threads."""
    X, y = synthetic_data(300_001, 6, seed=3)
    W, b = models(6, 12)
    runs = [
        native_many_sums(X.astype(dtype), y, W.astype(dtype), b.astype(dtype), n_threads=t)
        for t in (1, 2, 3, 8)
    ]
    for run in runs[1:]:
        for got, first in zip(run, runs[0], strict=True):
            np.testing.assert_array_equal(got, first)


@pytest.mark.parametrize("weighted", [False, True], ids=["rates", "folds"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_many_native_equals_xla(dtype, weighted, x64):
    """The whole training loop: the kernel's sums give XLA's trajectories."""
    X, y = synthetic_data(2003, 21, seed=1)
    X = jnp.asarray(X, dtype)
    K = 11
    rates = np.geomspace(0.01, 3.0, K)
    weights = (np.arange(2003)[None, :] % K != np.arange(K)[:, None]) if weighted else None
    runs = {
        method: lrjax.fit_many(X, y, learning_rates=rates, steps=25, weights=weights, method=method)
        for method in ("xla", "native")
    }
    tol = TOL[dtype]
    (native, native_h), (xla, xla_h) = runs["native"], runs["xla"]
    np.testing.assert_allclose(native.w, xla.w, **tol)
    np.testing.assert_allclose(native.b, xla.b, **tol)
    np.testing.assert_allclose(native_h, xla_h, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_model_takes_fits_kernel(dtype, x64):
    """K = 1 without weights calls fit's one-pass kernel, and gives fit's result."""
    from lrjax import _many

    X, y = synthetic_data(5003, 17, seed=4)
    X = jnp.asarray(X, dtype)
    one, history = lrjax.fit_many(X, y, learning_rates=[0.7], steps=30, method="native")
    fit, fit_history = lrjax.fit(X, y, learning_rate=0.7, steps=30, method="native")
    tight = {"float64": dict(rtol=1e-14, atol=1e-15), "float32": dict(rtol=1e-6, atol=1e-7)}
    np.testing.assert_allclose(one.w[0], fit.w, **tight[dtype])
    np.testing.assert_allclose(one.b[0], fit.b, **tight[dtype])
    np.testing.assert_allclose(history[0], fit_history, **tight[dtype])
    init = lrjax.Params(jnp.zeros((1, 17), dtype), jnp.zeros(1, dtype))
    rates = jnp.asarray([0.7], dtype)
    for weights, target in (
        (None, _native.TARGETS),
        (jnp.ones((1, 5003), dtype), _native.MANY_TARGETS),
    ):
        program = _many._fit_many.lower(X, y, rates, weights, init, steps=3, n_threads=2).as_text()
        assert target[dtype] in program
    # with weights it stays on the K-model kernel, and still agrees with XLA
    weights = np.arange(5003)[None, :] % 3 != 0
    runs = [
        lrjax.fit_many(X, y, learning_rates=[0.7], steps=30, weights=weights, method=method)
        for method in ("native", "xla")
    ]
    np.testing.assert_allclose(runs[0][0].w, runs[1][0].w, **TOL[dtype])
    np.testing.assert_allclose(runs[0][1], runs[1][1], **TOL[dtype])


def test_auto_takes_the_kernel_on_cpu():
    from lrjax import _many

    X = jnp.zeros((10, 3), jnp.float32)
    assert _many._auto_method(X) == ("native" if jax.default_backend() == "cpu" else "xla")
    assert _many._auto_method(X.astype(jnp.bfloat16)) == "xla"  # the kernel has no bfloat16


def test_native_names_the_dtype_fix():
    X = jnp.ones((10, 2), jnp.bfloat16)
    with pytest.raises(ValueError, match=r"float32 and float64, got X of dtype bfloat16: pass"):
        lrjax.fit_many(X, jnp.zeros(10), learning_rates=[0.1], steps=2, method="native")


def test_equal_losses_sum_without_drift():
    """Zero weights: every loss is log 2. Summed in float32 they drift by up to m·2⁻²⁴."""
    X, y = synthetic_data(50_000, 20, seed=2)
    _, history = lrjax.fit_many(
        jnp.asarray(X, jnp.float32), y, learning_rates=[0.1, 1.0], steps=1, method="native"
    )
    np.testing.assert_allclose(history, np.log(2.0), rtol=2 * np.finfo(np.float32).eps)
