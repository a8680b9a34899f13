"""learning_rate="auto", Nesterov's momentum, tol and sample_weight in lrjax.fit."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import lrjax
from lrjax._solver import lipschitz

METHODS = ("scan", "transposed", "fused", "native")


def _problem(m=2000, n=6, *, seed=0, scale=None):
    """A seeded, overlapping two-class problem (the unpenalised optimum is finite)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    if scale is not None:
        X = X * scale
    w = np.linspace(1.0, -0.5, n) / (1 if scale is None else scale)
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ w + 0.3)))).astype(np.int32)
    return X, y


def _sklearn_optimum(X, y, sample_weight=None):
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own deprecations and convergence notes
        model.fit(X, y, sample_weight=sample_weight)
    return model.coef_[0], model.intercept_[0]


def _numpy_grad(X, y, w, b, s=None):
    s = np.ones(len(y)) if s is None else s
    dz = s * (1 / (1 + np.exp(-(X @ w + b))) - y)
    return X.T @ dz / s.sum(), dz.sum() / s.sum()


def _exact_l(X, s=None):
    """λ_max(X̃ᵀSX̃) / (4Σs) by NumPy's eigenvalues, X̃ = [X, 1]."""
    Xt = np.hstack([X, np.ones((len(X), 1))])
    S = np.ones(len(X)) if s is None else s
    return np.linalg.eigvalsh(Xt.T @ (S[:, None] * Xt))[-1] / (4 * S.sum())


def _opposite_features(m=400):
    """Two opposite centred features: the top eigenvector is orthogonal to (1, 1, 1)."""
    f = np.random.default_rng(2).normal(size=m)
    X = np.stack([f, -f], axis=1) * 3
    return X - X.mean(axis=0)


SPECTRA = {  # name: X, from a clear top eigenvalue to a cluster of them
    "scaled": lambda: _problem(500, 5, scale=np.array([1, 10, 0.1, 3, 1.0]))[0],
    "opposite": _opposite_features,
    "ill-conditioned": lambda: _problem(3000, 12, scale=10 ** np.linspace(-2, 2, 12))[0],
    "isotropic": lambda: _problem(20_000, 40, seed=5)[0],
}


@pytest.mark.parametrize("method", ["scan", "native"], ids=["xla", "native"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("spectrum", SPECTRA)
def test_auto_rate_is_one_over_l_reached_from_below(spectrum, weighted, method, x64):
    """1/α is NumPy's L, from above, to within Lanczos's 1 %."""
    if method == "native" and not lrjax._native.available():
        pytest.skip("the native kernel does not build here")
    X = SPECTRA[spectrum]()
    s = np.random.default_rng(1).integers(0, 4, len(X)).astype(np.float64) if weighted else None
    want = _exact_l(X, s)
    got = 1 / float(lrjax.auto_learning_rate(X, sample_weight=s, method=method))
    assert want * (1 - 1e-9) <= got <= want * 1.02


@pytest.mark.parametrize("spectrum", SPECTRA)
def test_lanczos_converges_to_the_top_eigenvalue_with_a_tight_rtol(spectrum, x64):
    X = jnp.asarray(SPECTRA[spectrum]())
    n = X.shape[1]

    def product(v):
        u = X @ v[:n] + v[n]
        return jnp.concatenate([u @ X, jnp.sum(u)[None]])

    got = lipschitz(product, n + 1, X.dtype, X.shape[0], steps=n + 1, rtol=1e-12)
    np.testing.assert_allclose(float(got), _exact_l(np.asarray(X)), rtol=1e-9)


def test_auto_rate_is_the_same_from_both_kernels(x64):
    if not lrjax._native.available():
        pytest.skip("the native kernel does not build here")
    X = _problem(3000, 7, scale=np.arange(1.0, 8.0))[0]
    native = lrjax.auto_learning_rate(X, method="native")
    np.testing.assert_allclose(native, lrjax.auto_learning_rate(X, method="scan"), rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("momentum", [None, "nesterov"], ids=["plain", "nesterov"])
def test_auto_reaches_scikit_learns_optimum(method, momentum, x64):
    X, y = _problem(scale=np.array([5, 5, 1, 1, 0.2, 1.0]))
    w_opt, b_opt = _sklearn_optimum(X, y)
    if method == "native" and not lrjax._native.available():
        pytest.skip("the native kernel does not build here")
    params, history = lrjax.fit(X, y, learning_rate="auto", steps=50_000, momentum=momentum,
                                tol=1e-10, method=method)  # fmt: skip
    assert 0 < len(history) < 50_000
    np.testing.assert_allclose(params.w, w_opt, atol=1e-4, rtol=0)
    np.testing.assert_allclose(float(params.b), b_opt, atol=1e-4)


def test_nesterov_needs_far_fewer_steps_than_plain_descent(x64):
    X, y = _problem(scale=np.array([5, 5, 1, 1, 0.2, 1.0]))
    _, h_plain = lrjax.fit(X, y, learning_rate="auto", steps=50_000, tol=1e-8)
    _, h_nest = lrjax.fit(X, y, learning_rate="auto", steps=50_000, tol=1e-8, momentum="nesterov")
    assert len(h_nest) * 3 < len(h_plain)


@pytest.mark.parametrize("momentum", [None, "nesterov"], ids=["plain", "nesterov"])
def test_tol_stops_at_a_small_gradient_and_history_is_the_steps_taken(momentum, x64):
    X, y = _problem()
    params, history = lrjax.fit(X, y, learning_rate="auto", steps=10_000, tol=1e-6,
                                momentum=momentum)  # fmt: skip
    assert history.shape[0] < 10_000 and np.all(np.isfinite(history))
    gw, gb = _numpy_grad(X, y, np.asarray(params.w), float(params.b))
    assert max(np.abs(gw).max(), abs(gb)) < 1e-5  # the step after a gradient of at most 1e-6
    _, short = lrjax.fit(X, y, learning_rate="auto", steps=5, tol=1e-12, momentum=momentum)
    assert short.shape == (5,)  # the limit comes first


def test_auto_plain_without_tol_is_the_lecture_update_with_alpha_one_over_l(x64):
    X, y = _problem(300, 3)
    alpha = float(lrjax.auto_learning_rate(X))
    a, ha = lrjax.fit(X, y, learning_rate="auto", steps=30)
    b, hb = lrjax.fit(X, y, learning_rate=alpha, steps=30)
    np.testing.assert_allclose(a.w, b.w, rtol=1e-12)
    np.testing.assert_allclose(ha, hb, rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_integer_weights_equal_repeated_examples(method, x64):
    if method == "native" and not lrjax._native.available():
        pytest.skip("the native kernel does not build here")
    X, y = _problem(400, 4, seed=3)
    s = np.random.default_rng(4).integers(0, 4, len(y))
    rep = np.repeat(np.arange(len(y)), s)
    kw = {"learning_rate": 0.5, "steps": 40, "method": method, "momentum": "nesterov"}
    weighted, hw = lrjax.fit(X, y, sample_weight=s.astype(np.float64), **kw)
    repeated, hr = lrjax.fit(X[rep], y[rep], **kw)
    np.testing.assert_allclose(weighted.w, repeated.w, rtol=1e-10)
    np.testing.assert_allclose(hw, hr, rtol=1e-10)
    gw, _ = _numpy_grad(X, y, np.zeros(4), 0.0, s)
    np.testing.assert_allclose(gw, _numpy_grad(X[rep], y[rep], np.zeros(4), 0.0)[0], rtol=1e-12)


def test_unit_weights_change_nothing(x64):
    X, y = _problem(300, 3)
    plain, h1 = lrjax.fit(X, y, learning_rate=0.4, steps=25, method="scan")
    ones, h2 = lrjax.fit(X, y, learning_rate=0.4, steps=25, method="scan",
                         sample_weight=np.ones(len(y)))  # fmt: skip
    np.testing.assert_allclose(ones.w, plain.w, rtol=1e-12)
    np.testing.assert_allclose(h2, h1, rtol=1e-12)


def test_dtype_follows_the_inputs():
    X, y = _problem(200, 3)
    params, history = lrjax.fit(jnp.asarray(X, jnp.float32), y, learning_rate="auto", steps=20,
                                momentum="nesterov", tol=1e-4)  # fmt: skip
    assert params.w.dtype == history.dtype == jnp.float32
    assert lrjax.auto_learning_rate(jnp.asarray(X, jnp.float32)).dtype == jnp.float32


def test_without_tol_fit_composes_with_jit():
    X, y = map(jnp.asarray, _problem(200, 3))
    X = X.astype(jnp.float32)

    @jax.jit
    def train(X, y):
        return lrjax.fit(X, y, learning_rate="auto", steps=10, momentum="nesterov")

    params, history = train(X, y)
    eager, _ = lrjax.fit(X, y, learning_rate="auto", steps=10, momentum="nesterov")
    np.testing.assert_allclose(params.w, eager.w, rtol=1e-5)
    assert history.shape == (10,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": "fast"}, "positive number or 'auto'"),
        ({"momentum": "heavy-ball"}, "momentum='nesterov'"),
        ({"tol": 0.0}, r"Expected tol > 0"),
        ({"tol": -1e-3}, r"Expected tol > 0"),
        ({"sample_weight": np.ones((50, 1))}, r"\(50,\), got \(50, 1\): pass sample_weight.ravel"),
        ({"sample_weight": np.ones(49)}, "one weight per example"),
        ({"sample_weight": -np.ones(50)}, "finite and >= 0"),
        ({"sample_weight": np.zeros(50)}, "positive sum"),
        ({"method": "sharded", "momentum": "nesterov"}, "has no momentum, tol or sample_weight"),
    ],
    ids=[
        "lr-word",
        "momentum",
        "tol-zero",
        "tol-negative",
        "weights-column",
        "weights-short",
        "weights-negative",
        "weights-zero",
        "sharded",
    ],
)
def test_bad_solver_options_name_the_fix(kwargs, match):
    X, y = _problem(50, 2)
    kw = {"learning_rate": 0.1, "steps": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        lrjax.fit(X.astype(np.float32), y, **kw)


@pytest.mark.parametrize("z", [1e4, 1e6], ids=["1e4", "1e6"])
def test_auto_survives_extreme_logits(z, x64):
    """Separable data scaled so the first step's logits are huge: finite, and falling."""
    X = np.array([[z], [-z], [2 * z], [-2 * z]])
    y = np.array([1, 0, 1, 0])
    params, history = lrjax.fit(X, y, learning_rate="auto", steps=50, momentum="nesterov")
    assert np.all(np.isfinite(history)) and np.all(np.isfinite(np.asarray(params.w)))
    assert history[-1] <= history[0]
