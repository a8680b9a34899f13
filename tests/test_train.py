"""step, fit, predict and accuracy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import lrjax


def _numpy_gd(X, y, lr, steps):
    """The lecture's update, averaged over m, written out in NumPy."""
    w, b = np.zeros(X.shape[1]), 0.0
    history = []
    for _ in range(steps):
        z = X @ w + b
        a = 1 / (1 + np.exp(-z))
        history.append(np.mean(np.logaddexp(0, z) - y * z))
        dz = a - y
        w, b = w - lr * X.T @ dz / len(y), b - lr * dz.mean()
    return w, b, np.array(history)


def _separable_ish(m=300, n=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    w_true = np.linspace(1.0, -1.0, n)
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ w_true + 0.5)))).astype(np.int32)
    return X, y


def test_step_is_the_lecture_update():
    params = lrjax.Params(jnp.array([1.0, 2.0]), jnp.array(0.5))
    grads = lrjax.Grads(da=jnp.array(0.0), dz=jnp.array(0.0), dw=jnp.array([0.5, -1.0]), db=0.25)
    new = lrjax.step(params, grads, 0.1)
    np.testing.assert_allclose(new.w, [0.95, 2.1], rtol=1e-6)
    np.testing.assert_allclose(new.b, 0.475, rtol=1e-6)
    # autodiff gradients (a Params) are accepted too
    same = lrjax.step(params, lrjax.Params(grads.dw, jnp.array(0.25)), 0.1)
    np.testing.assert_allclose(same.w, new.w)


@pytest.mark.parametrize("steps", [1, 5, 50])
def test_fit_matches_numpy_loop(steps, x64):
    X, y = _separable_ish()
    params, history = lrjax.fit(jnp.asarray(X), jnp.asarray(y), learning_rate=0.3, steps=steps)
    w, b, hist = _numpy_gd(X, y, 0.3, steps)
    assert history.shape == (steps,)
    np.testing.assert_allclose(params.w, w, rtol=1e-10)
    np.testing.assert_allclose(params.b, b, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(history, hist, rtol=1e-10)
    np.testing.assert_allclose(history[0], np.log(2), rtol=1e-12)  # zeros: a = 1/2


def test_fit_from_init_continues_training(x64):
    X, y = map(jnp.asarray, _separable_ish())
    once, _ = lrjax.fit(X, y, learning_rate=0.3, steps=20)
    half, _ = lrjax.fit(X, y, learning_rate=0.3, steps=10)
    twice, _ = lrjax.fit(X, y, learning_rate=0.3, steps=10, init=half)
    np.testing.assert_allclose(twice.w, once.w, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_dtype_follows_inputs(dtype, x64):
    X, y = _separable_ish(m=50)
    params, history = lrjax.fit(jnp.asarray(X, dtype), jnp.asarray(y), learning_rate=0.1, steps=3)
    assert params.w.dtype == params.b.dtype == history.dtype == jnp.dtype(dtype)


def test_fit_matches_scikit_learn_maximum_likelihood(x64):
    """Unpenalised logistic regression has one optimum; gradient descent reaches it."""
    X, y = _separable_ish(m=400, n=3, seed=1)
    params, history = lrjax.fit(jnp.asarray(X), jnp.asarray(y), learning_rate=1.0, steps=3000)
    sk = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(params.w, sk.coef_[0], rtol=1e-6)
    np.testing.assert_allclose(params.b, sk.intercept_[0], rtol=1e-6)
    assert np.all(np.diff(np.asarray(history)) <= 1e-15)  # the cost never goes up


def test_fit_loss_decreases_float32_on_embedded_data():
    data = lrjax.load_breast_cancer()
    X = lrjax.standardize(jnp.asarray(data.X, jnp.float32))
    params, history = lrjax.fit(X, jnp.asarray(data.y), learning_rate=0.5, steps=500)
    assert history[0] == pytest.approx(np.log(2), rel=1e-6)
    assert float(history[-1]) < 0.1
    assert float(lrjax.accuracy(params, X, jnp.asarray(data.y))) > 0.97


def test_fit_vmaps_over_learning_rates(x64):
    X, y = map(jnp.asarray, _separable_ish(m=100))
    rates = jnp.array([0.01, 0.1, 1.0])

    def final_cost(lr):
        return lrjax.fit(X, y, learning_rate=lr, steps=30)[1][-1]

    # learning_rate may be traced: the Python value checks skip under vmap
    many = jax.vmap(final_cost)(rates)
    one = [final_cost(float(r)) for r in rates]
    np.testing.assert_allclose(many, one, rtol=1e-10)
    assert many[0] > many[1] > many[2]


def test_predict_and_accuracy():
    params = lrjax.Params(jnp.array([1.0, -1.0]), jnp.array(0.0))
    X = jnp.array([[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]])
    labels = lrjax.predict(params, X)
    np.testing.assert_array_equal(labels, [1, 0, 1])  # z = 0 counts as a = 0.5 -> 1
    assert labels.dtype == jnp.int32
    assert float(lrjax.accuracy(params, X, jnp.array([1, 1, 1]))) == pytest.approx(2 / 3)
    assert int(lrjax.predict(params, jnp.array([3.0, 0.0]))) == 1
