"""Many models at once: K learning rates (or K data folds) trained in one program.

The K weight vectors form a matrix W (n, K), so a step is two matrix-matrix
products, Z = X·W and Xᵀ·dZ: X is read once per step for all K models.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lrjax import _native
from lrjax._fused import dz_and_loss
from lrjax._types import Params
from lrjax._validate import check_fit_inputs

METHODS = ("auto", "xla", "native")


def _xla_sums(X, y, W, b, weights):
    """(Xᵀ·dZ (n, K), Σ dZ (K,), Σ loss (K,)) as two XLA matrix products."""
    Z = X @ W + b[None, :]  # (m, K)
    dZ, losses = dz_and_loss(Z, y[:, None])
    if weights is not None:
        dZ, losses = dZ * weights, losses * weights
    gW = jax.lax.dot_general(X, dZ, (((0,), (0,)), ((), ())))  # Xᵀ·dZ: (n, K)
    return gW, jnp.sum(dZ, axis=0), jnp.sum(losses, axis=0)


@partial(jax.jit, static_argnames=("steps", "n_threads"))
def _fit_many(X, y, learning_rates, weights, init: Params, steps: int, n_threads: int):
    """The K-model loop; ``n_threads`` > 0 takes the sums from the native kernel."""
    W0, b0 = init.w.T, init.b  # (n, K), (K,)
    if weights is None:
        total = jnp.full(learning_rates.shape, X.shape[0], X.dtype)
    else:
        weights = weights.T  # (m, K)
        total = jnp.sum(weights, axis=0)

    def body(carry, _):
        W, b = carry
        if n_threads and weights is None and W.shape[1] == 1:
            # One model: fit's one-pass kernel, which many_sums would pad to 4 models.
            gw, gb, loss = _native.fused_sums(X, y, Params(W[:, 0], b[0]), n_threads=n_threads)
            gW, gb, loss = gw[:, None], gb[None], loss[None]
        elif n_threads:
            gW, gb, loss = _native.many_sums(X, y, W, b, weights, n_threads=n_threads)
        else:
            gW, gb, loss = _xla_sums(X, y, W, b, weights)
        W = W - learning_rates[None, :] * gW / total[None, :]
        b = b - learning_rates * gb / total
        return (W, b), loss / total

    (W, b), history = jax.lax.scan(body, (W0, b0), length=steps)
    return Params(W.T, b), history.T


def fit_many(
    X,
    y,
    *,
    learning_rates,
    steps: int,
    weights=None,
    init: Params | None = None,
    method: str = "auto",
) -> tuple[Params, jax.Array]:
    """Train K logistic regressions at once, e.g. a learning-rate sweep or K folds.

    Model k runs ``steps`` full-batch gradient-descent updates with learning
    rate ``learning_rates[k]`` on the cost Σᵢ weights[k, i]·L(aᵢ, yᵢ) / Σᵢ weights[k, i]
    (the plain mean cost when ``weights`` is None). With 0/1 weights, model k
    is :func:`lrjax.fit` on the rows where ``weights[k]`` is 1: pass fold masks
    to cross-validate in one program.

    Args:
        X: (m, n) features; y: (m,) labels in {0, 1}.
        learning_rates: (K,) positive learning rates, one per model.
        steps: number of updates, a positive int.
        weights: optional (K, m) non-negative example weights per model.
        init: optional ``Params(w: (K, n), b: (K,))``; zeros by default.
        method: where each step's two matrix products run; the results agree
            to rounding. ``"xla"``: XLA's products (any backend, differentiable).
            ``"native"``: CPU only, a C++ kernel compiled on first use (as
            ``lrjax.fit(method="native")``) that uses each block of X for both
            products while it is in cache, 1.2-4x faster than "xla" for
            K = 8 to 64 on the measured CPU (docs/performance.md); not
            differentiable. One model without weights takes ``fit``'s
            one-pass kernel instead (up to 7x faster than "xla").
            ``"auto"`` (default): "native" on CPU where it builds, else "xla".

    Returns:
        ``(params, history)``: ``Params(w: (K, n), b: (K,))`` and the (K, steps)
        cost of each model before each update.

    Raises:
        ValueError: on bad shapes or values, or an unknown method, with the fix
            in the message.
        lrjax.NativeUnavailable: ``method="native"`` where the kernel cannot be
            built, or with X on an accelerator (the message says why).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: pass one of {', '.join(map(repr, METHODS))}")
    lrs = np.asarray(learning_rates)
    if lrs.ndim != 1 or lrs.size == 0:
        raise ValueError(
            f"Expected learning_rates of shape (K,), got {lrs.shape}: "
            "pass a 1-D list such as learning_rates=[0.01, 0.1, 1.0]"
        )
    if not (np.issubdtype(lrs.dtype, np.number) and np.all(np.isfinite(lrs)) and np.all(lrs > 0)):
        raise ValueError(
            f"Expected positive finite learning_rates, got {lrs.tolist()[:5]}: "
            "pass values such as learning_rates=[0.01, 0.1, 1.0]"
        )
    X, y, _ = check_fit_inputs(X, y, float(lrs[0]), steps, None)
    (m, n), K = X.shape, lrs.size
    if weights is not None:
        weights = np.asarray(weights)
        if weights.shape != (K, m):
            fix = "pass weights.T" if weights.shape == (m, K) else "one row of m weights per model"
            raise ValueError(
                f"Expected weights of shape (K, m) = ({K}, {m}), got {weights.shape}: {fix}"
            )
        if not (np.all(np.isfinite(weights)) and np.all(weights >= 0)):
            raise ValueError("Expected finite non-negative weights: use 0/1 fold masks or counts")
        empty = np.flatnonzero(weights.sum(axis=1) <= 0)
        if empty.size:
            raise ValueError(
                f"Models {empty.tolist()[:5]} have all-zero weights: give each model some rows"
            )
        weights = jnp.asarray(weights, X.dtype)
    if init is None:
        init = Params(jnp.zeros((K, n), X.dtype), jnp.zeros(K, X.dtype))
    elif not isinstance(init, Params) or np.shape(init.w) != (K, n) or np.shape(init.b) != (K,):
        got = (np.shape(init.w), np.shape(init.b)) if isinstance(init, Params) else type(init)
        raise ValueError(
            f"Expected init = Params(w: (K, n) = ({K}, {n}), b: (K,) = ({K},)), got {got}: "
            "stack one Params per model, e.g. with jax.tree.map(lambda *p: jnp.stack(p), *inits)"
        )
    else:
        init = Params(jnp.asarray(init.w, X.dtype), jnp.asarray(init.b, X.dtype))
    if method == "auto":
        method = _auto_method(X)
    n_threads = _native.threads_for(X, instead="xla") if method == "native" else 0
    return _fit_many(X, y, jnp.asarray(lrs, X.dtype), weights, init, steps, n_threads)


def _auto_method(X: jax.Array) -> str:
    """The kernel ("native") on CPU where it builds, else "xla".

    K models make a step two matrix products, bound by arithmetic at every size;
    the kernel ran them 1.2-4x faster than XLA:CPU from 1 000 x 30 to 1 000 000 x 10
    and 100 000 x 1000 with K = 8 to 64 (docs/performance.md), so unlike ``fit``
    there is no size below which XLA wins by more than microseconds.
    """
    if jax.default_backend() == "cpu" and X.dtype.name in _native.MANY_TARGETS:
        return "native" if _native.available() else "xla"
    return "xla"
