"""The large-X paths of fit: same results as the plain formulas, whatever the layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _reference import numpy_gd as _numpy_gd
from _reference import synthetic_data as _data

import lrjax
from lrjax import _fused, _native, _train
from lrjax._loss import loss_from_logits

# float64 agrees with NumPy to rounding; float32 to its precision over 40 steps.
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-5)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("method", ["scan", "transposed", "fused", "sharded", "native", "auto"])
def test_every_method_matches_numpy(method, dtype, x64):
    X, y = _data(1003, 7)  # 1003 rows: the blocks need padding
    params, history = lrjax.fit(
        jnp.asarray(X, dtype), jnp.asarray(y), learning_rate=0.5, steps=40, method=method
    )
    w, b, hist = _numpy_gd(X, y, 0.5, 40)
    assert params.w.dtype == params.b.dtype == history.dtype == jnp.dtype(dtype)
    assert history.shape == (40,)
    np.testing.assert_allclose(params.w, w, **TOL[dtype])
    np.testing.assert_allclose(params.b, b, **TOL[dtype])
    np.testing.assert_allclose(history, hist, **TOL[dtype])


@pytest.mark.parametrize("rows", [8, 64, 1008], ids=["rows8", "rows64", "one-block"])
def test_fused_blocks_of_any_size_agree(rows, x64):
    """Many small blocks (with a padded last block) give the plain sums."""
    X, y = _data(1003, 5, seed=1)
    init = lrjax.Params(jnp.linspace(-0.3, 0.3, 5), jnp.asarray(0.2))
    params, history = _fused.fit_fused(jnp.asarray(X), jnp.asarray(y, X.dtype), 0.7, init, 25, rows)
    plain, plain_history = lrjax.fit(X, y, learning_rate=0.7, steps=25, init=init, method="scan")
    np.testing.assert_allclose(params.w, plain.w, rtol=1e-11)
    np.testing.assert_allclose(params.b, plain.b, rtol=1e-11)
    np.testing.assert_allclose(history, plain_history, rtol=1e-12)


def test_block_sums_are_the_gradient_and_cost(x64):
    X, y = _data(300, 4, seed=2)
    params = lrjax.Params(jnp.array([0.5, -1.0, 0.25, 2.0]), jnp.asarray(-0.5))
    blocks = _fused.to_blocks(jnp.asarray(X), jnp.asarray(y, X.dtype), 64)
    assert blocks[0].shape == (5, 4, 64)  # 300 rows -> 5 blocks of 64, 20 padded
    assert float(blocks[2].sum()) == 300
    gw, gb, total = _fused.block_sums(*blocks, params)
    grads = lrjax.backward(params, jnp.asarray(X), jnp.asarray(y))
    np.testing.assert_allclose(gw / 300, grads.dw, rtol=1e-12)
    np.testing.assert_allclose(gb / 300, grads.db, rtol=1e-12)
    np.testing.assert_allclose(total / 300, lrjax.cost(params, X, y), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dz_and_loss_are_the_core_formulas(dtype, x64):
    """One exp and one log1p give the backward's dz and the stable loss, even at |z| = 1e4."""
    z = jnp.asarray(np.concatenate([np.linspace(-40, 40, 161), [-1e4, 1e4, 0.0]]), dtype)
    for label in (0, 1):
        y = jnp.full(z.shape, label, dtype)
        dz, loss = _fused.dz_and_loss(z, y)
        core = lrjax.backward(lrjax.Params(jnp.ones(1, dtype), jnp.zeros((), dtype)), z[:, None], y)
        rtol = 1e-6 if dtype == "float32" else 1e-14
        np.testing.assert_allclose(dz, core.dz, rtol=rtol, atol=0)
        np.testing.assert_allclose(loss, loss_from_logits(z, y), rtol=rtol, atol=0)
        assert dz.dtype == loss.dtype == jnp.dtype(dtype)


def test_confident_answers_keep_dz_accuracy():
    z = jnp.array([30.0, -30.0, 0.0], jnp.float32)
    y = jnp.array([1.0, 0.0, 1.0], jnp.float32)
    dz, loss = _fused.dz_and_loss(z, y)
    np.testing.assert_allclose(dz, [-np.exp(-30), np.exp(-30), -0.5], rtol=1e-6)
    np.testing.assert_allclose(loss, [np.exp(-30), np.exp(-30), np.log(2)], rtol=1e-6)


def test_auto_picks_the_layout_by_size():
    small = jnp.zeros((100, 10), jnp.float32)
    large = jax.ShapeDtypeStruct((20_000, 64), jnp.float32)  # 5 MiB > LARGE_BYTES
    assert _train._auto_method(small) == "scan"
    xla = "transposed" if len(jax.devices()) == 1 else "sharded"
    assert _train._auto_method(large) == ("native" if _native.available() else xla)


def test_auto_on_a_large_problem_matches_scan():
    X, y = _data(20_000, 64, seed=3)  # 5 MiB in float32: the large path
    X = jnp.asarray(X, jnp.float32)
    auto, auto_history = lrjax.fit(X, y, learning_rate=1.0, steps=5)
    plain, plain_history = lrjax.fit(X, y, learning_rate=1.0, steps=5, method="scan")
    np.testing.assert_allclose(auto.w, plain.w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(auto_history, plain_history, rtol=1e-6)


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match=r"Unknown method 'blocked': pass one of 'auto', 'scan'"):
        lrjax.fit(np.zeros((3, 2)), np.zeros(3), learning_rate=0.1, steps=1, method="blocked")


def test_large_paths_trace_under_jit():
    """learning_rate may be traced, as for the scan path (vmap over rates)."""
    X, y = _data(200, 3)
    X = jnp.asarray(X, jnp.float32)
    for method in ["transposed", "fused"]:
        fn = jax.jit(lambda lr, m=method: lrjax.fit(X, y, learning_rate=lr, steps=3, method=m)[1])
        np.testing.assert_allclose(
            fn(0.1), lrjax.fit(X, y, learning_rate=0.1, steps=3, method="scan")[1], rtol=1e-6
        )
