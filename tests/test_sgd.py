"""fit_sgd: deterministic for a key, the plain mini-batch update, convergence."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _reference import synthetic_data

import lrjax


def _numpy_sgd(X, y, lr, batch_size, epochs, key):
    """The mini-batch update in NumPy, using the same shuffles (jax.random.permutation)."""
    m = len(y)
    w, b, history = np.zeros(X.shape[1]), 0.0, []
    for e in range(epochs):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, e), m))
        for j in range(m // batch_size):
            idx = order[j * batch_size : (j + 1) * batch_size]
            xb, yb = X[idx], y[idx]
            z = xb @ w + b
            history.append(np.mean(np.logaddexp(0, z) - yb * z))
            dz = 1 / (1 + np.exp(-z)) - yb
            w, b = w - lr * xb.T @ dz / batch_size, b - lr * dz.mean()
    return w, b, np.array(history)


def test_matches_the_numpy_minibatch_loop(x64):
    X, y = synthetic_data(203, 4)
    key = jax.random.key(7)
    params, history = lrjax.fit_sgd(X, y, learning_rate=0.2, batch_size=16, epochs=3, key=key)
    w, b, hist = _numpy_sgd(X, y, 0.2, 16, 3, key)
    assert history.shape == (3 * (203 // 16),)
    np.testing.assert_allclose(params.w, w, rtol=1e-10)
    np.testing.assert_allclose(params.b, b, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(history, hist, rtol=1e-10)


def test_same_key_same_result_other_key_other_result():
    X, y = synthetic_data(203, 4)
    X = jnp.asarray(X, jnp.float32)
    run = lambda k: lrjax.fit_sgd(X, y, learning_rate=0.1, batch_size=8, epochs=2, key=k)  # noqa: E731
    a, b, c = run(jax.random.key(0)), run(jax.random.key(0)), run(jax.random.key(1))
    np.testing.assert_array_equal(a[0].w, b[0].w)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0].w, c[0].w)
    # a legacy uint32 PRNGKey is accepted too
    legacy = lrjax.fit_sgd(
        X, y, learning_rate=0.1, batch_size=8, epochs=2, key=jax.random.PRNGKey(0)
    )
    assert legacy[0].w.shape == (4,)


def test_steps_counts_updates():
    X, y = synthetic_data(203, 4)
    key = jax.random.key(3)
    by_epochs = lrjax.fit_sgd(X, y, learning_rate=0.1, batch_size=50, epochs=2, key=key)
    by_steps = lrjax.fit_sgd(X, y, learning_rate=0.1, batch_size=50, steps=8, key=key)
    np.testing.assert_array_equal(by_epochs[0].w, by_steps[0].w)  # 203 // 50 = 4 per epoch
    partial = lrjax.fit_sgd(X, y, learning_rate=0.1, batch_size=50, steps=6, key=key)
    assert partial[1].shape == (6,)
    np.testing.assert_array_equal(partial[1], by_steps[1][:6])


def test_full_batch_sgd_is_gradient_descent(x64):
    """batch_size = m: every update sees all rows (shuffled), i.e. lrjax.fit."""
    X, y = synthetic_data(203, 4)
    sgd, sgd_history = lrjax.fit_sgd(
        X, y, learning_rate=0.5, batch_size=203, steps=30, key=jax.random.key(0)
    )
    gd, gd_history = lrjax.fit(X, y, learning_rate=0.5, steps=30)
    np.testing.assert_allclose(sgd.w, gd.w, rtol=1e-11)
    np.testing.assert_allclose(sgd_history, gd_history, rtol=1e-12)


def test_converges_near_the_full_batch_cost_on_embedded_data():
    """100 epochs of batches of 32 get within 0.005 of 2000 full-batch steps (20x the reads)."""
    data = lrjax.load_breast_cancer()
    X = lrjax.standardize(jnp.asarray(data.X, jnp.float32))
    y = jnp.asarray(data.y)
    gd, _ = lrjax.fit(X, y, learning_rate=0.5, steps=2000)
    sgd, _ = lrjax.fit_sgd(
        X, y, learning_rate=0.5, batch_size=32, epochs=100, key=jax.random.key(0)
    )
    full, reached = float(lrjax.cost(gd, X, y)), float(lrjax.cost(sgd, X, y))
    assert reached < full + 0.005, (reached, full)
    assert float(lrjax.accuracy(sgd, X, y)) > 0.97


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(), r"exactly one of epochs or steps"),
        (dict(epochs=1, steps=1), r"exactly one of epochs or steps"),
        (dict(epochs=0), r"epochs > 0"),
        (dict(steps=2.5), r"steps to be a positive int"),
        (dict(epochs=1, batch_size=11), r"batch_size <= m = 10, got 11: pass batch_size=10"),
        (dict(epochs=1, batch_size=0), r"batch_size to be a positive int"),
        (dict(epochs=1, key=0), r"pass key=jax.random.key\(0\)"),
        (dict(epochs=1, learning_rate=-1.0), r"learning_rate > 0"),
    ],
    ids=[
        "neither",
        "both",
        "zero-epochs",
        "float-steps",
        "big-batch",
        "zero-batch",
        "int-key",
        "lr",
    ],
)
def test_errors_name_the_fix(kwargs, message):
    X, y = np.zeros((10, 2), np.float32), np.zeros(10)
    kwargs = {"learning_rate": 0.1, "batch_size": 4, "key": jax.random.key(0), **kwargs}
    with pytest.raises(ValueError, match=message):
        lrjax.fit_sgd(X, y, **kwargs)
