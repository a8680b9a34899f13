"""fit_many: K models in one program equal K separate fits."""

import jax.numpy as jnp
import numpy as np
import pytest
from _reference import synthetic_data

import lrjax
from lrjax import _native

METHODS = [
    "xla",
    pytest.param(
        "native",
        marks=pytest.mark.skipif(not _native.available(), reason="native kernel unavailable"),
    ),
]
TOL = {"float64": dict(rtol=1e-10, atol=1e-13), "float32": dict(rtol=1e-5, atol=1e-6)}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_learning_rate_sweep_equals_separate_fits(dtype, method, x64):
    X, y = synthetic_data(400, 5)
    X = jnp.asarray(X, dtype)
    rates = [0.01, 0.1, 0.5, 1.0, 3.0]
    params, history = lrjax.fit_many(X, y, learning_rates=rates, steps=30, method=method)
    assert params.w.shape == (5, 5) and params.b.shape == (5,) and history.shape == (5, 30)
    assert params.w.dtype == history.dtype == jnp.dtype(dtype)
    for k, lr in enumerate(rates):
        one, one_history = lrjax.fit(X, y, learning_rate=lr, steps=30, method="scan")
        np.testing.assert_allclose(params.w[k], one.w, **TOL[dtype])
        np.testing.assert_allclose(params.b[k], one.b, **TOL[dtype])
        np.testing.assert_allclose(history[k], one_history, **TOL[dtype])


@pytest.mark.parametrize("method", METHODS)
def test_fold_masks_train_on_their_rows_only(method, x64):
    """0/1 weights: model k is fit on the rows where weights[k] == 1 (k-fold CV)."""
    X, y = synthetic_data(300, 5)
    folds = np.arange(300) % 3
    weights = np.stack([folds != k for k in range(3)]).astype(np.float64)  # train on 2/3
    params, history = lrjax.fit_many(
        X, y, learning_rates=[0.5, 0.5, 0.5], steps=20, weights=weights, method=method
    )
    for k in range(3):
        rows = folds != k
        one, one_history = lrjax.fit(X[rows], y[rows], learning_rate=0.5, steps=20)
        np.testing.assert_allclose(params.w[k], one.w, rtol=1e-10)
        np.testing.assert_allclose(params.b[k], one.b, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(history[k], one_history, rtol=1e-10)


def test_init_per_model(x64):
    X, y = synthetic_data(100, 3)
    inits = [lrjax.Params(jnp.full(3, 0.1 * k), jnp.asarray(-0.2 * k)) for k in range(4)]
    stacked = lrjax.Params(jnp.stack([p.w for p in inits]), jnp.stack([p.b for p in inits]))
    params, _ = lrjax.fit_many(X, y, learning_rates=[0.3] * 4, steps=10, init=stacked)
    for k, init in enumerate(inits):
        one, _ = lrjax.fit(X, y, learning_rate=0.3, steps=10, init=init)
        np.testing.assert_allclose(params.w[k], one.w, rtol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(learning_rates=0.1), r"learning_rates of shape \(K,\), got \(\)"),
        (dict(learning_rates=[[0.1, 0.2]]), r"pass a 1-D list"),
        (dict(learning_rates=[0.1, -1.0]), r"positive finite learning_rates"),
        (dict(learning_rates=[0.1, 0.2], weights=np.ones((10, 2))), r"pass weights.T"),
        (dict(learning_rates=[0.1], weights=-np.ones((1, 10))), r"non-negative"),
        (dict(learning_rates=[0.1, 0.2], weights=np.eye(2, 10) * 0), r"Models \[0, 1\]"),
        (
            dict(learning_rates=[0.1, 0.2], init=lrjax.Params(jnp.zeros(2), jnp.zeros(()))),
            r"Expected init = Params\(w: \(K, n\) = \(2, 2\)",
        ),
        (dict(learning_rates=[0.1], steps=0), r"steps > 0"),
        (dict(learning_rates=[0.1], method="gpu"), r"Unknown method 'gpu': pass one of 'auto'"),
    ],
    ids=[
        "scalar-rates",
        "2d-rates",
        "negative-rate",
        "weights-T",
        "neg-weights",
        "empty",
        "init",
        "steps",
        "method",
    ],
)
def test_errors_name_the_fix(kwargs, message):
    X, y = np.zeros((10, 2), np.float32), np.zeros(10)
    kwargs = {"steps": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        lrjax.fit_many(X, y, **kwargs)
