"""Gradient descent: one update step, the jit-compiled training loop, predictions."""

from functools import partial

import jax
import jax.numpy as jnp

from lrjax import _fused, _native, _parallel, _solver, _sums
from lrjax._forward import logits
from lrjax._types import Grads, Params
from lrjax._validate import (
    check_fit_inputs,
    check_matrix,
    check_options,
    check_params,
    check_weights,
    check_x,
    check_y,
)


def step(params: Params, grads: Grads | Params, learning_rate) -> Params:
    """One gradient-descent update: w -= α·dw, b -= α·db.

    Args:
        params: the current ``Params(w: (n,), b: ())``.
        grads: ``Grads`` from :func:`lrjax.backward` or ``Params`` from
            :func:`lrjax.autodiff_grads`.
        learning_rate: α, a positive scalar (may be traced, e.g. under vmap).

    Returns:
        The updated ``Params``, in the dtype of ``params``.
    """
    dw, db = (grads.dw, grads.db) if isinstance(grads, Grads) else (grads.w, grads.b)
    lr = jnp.asarray(learning_rate).astype(params.w.dtype)
    return Params(w=params.w - lr * dw, b=params.b - lr * db)


def _cost_and_grads(params: Params, X: jax.Array, y: jax.Array):
    """The cost and (dw, db) of the lecture, with one exp and one log1p per example."""
    dz, loss = _fused.dz_and_loss(logits(params, X), y)
    m = X.shape[0]
    return jnp.mean(loss), Params(w=(dz @ X) / m, b=jnp.mean(dz))


@partial(jax.jit, static_argnames="steps")
def _fit(X, y, learning_rate, init, steps):
    def body(params, _):
        c, g = _cost_and_grads(params, X, y)
        return step(params, g, learning_rate), c

    return jax.lax.scan(body, init, length=steps)


@partial(jax.jit, static_argnames=("method", "steps", "momentum", "rows", "n_threads"))
def _fit_solver(X, y, weights, learning_rate, init, tol, *, method, steps, momentum, rows,
                n_threads):  # fmt: skip
    grads = _sums.gradient(method, X, y, weights, rows, n_threads)
    return _solver.descend(grads, init, learning_rate, steps=steps, momentum=momentum, tol=tol)


@partial(jax.jit, static_argnames="n_threads")
def _auto_rate(X, weights, *, n_threads: int):
    total = X.shape[0] if weights is None else jnp.sum(weights)
    product = _sums.product(X, weights, n_threads)
    return 1 / _solver.lipschitz(product, X.shape[1] + 1, X.dtype, total)


def auto_learning_rate(
    X: jax.Array, *, sample_weight: jax.Array | None = None, method: str = "auto"
) -> jax.Array:
    """The step ``learning_rate="auto"`` takes: α = 1/L, L a bound on the cost's curvature.

    L = λ_max(X̃ᵀ S X̃) / (4 Σs) with X̃ = [X, 1] and S the example weights: the
    Hessian of the (weighted) mean cost is at most that, since σ(z)(1 − σ(z)) ≤ 1/4.
    λ_max comes from Lanczos iteration (power iteration that keeps its iterates), each
    product one pass over X: the native kernel's where ``fit`` would use it (dz = z in
    place of σ(z) − y), else XLA's products. It stops once the top estimate is known to
    within 1 % and takes its upper end (``lrjax._solver.top_eigenvalue``).

    Args:
        X: (m, n) features.
        sample_weight: (m,) example weights ≥ 0, or None.
        method: the ``method`` of :func:`fit` whose kernel to use (its default
            chooses as ``fit`` does).

    Returns:
        α, a positive scalar in X's dtype.

    Raises:
        ValueError: on a bad X, bad weights or an unknown method.
        lrjax.NativeUnavailable: ``method="native"`` where the kernel cannot be used.
    """
    _check_method(method)
    X = check_matrix(X)
    weights = check_weights(sample_weight, X)
    return _auto_rate(X, weights, n_threads=_threads(X, method))


def _check_method(method) -> None:
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: pass one of {', '.join(map(repr, METHODS))}")


def _threads(X, method: str) -> int:
    """The native kernels' threads where ``method`` (or the one "auto" picks) is "native",
    else 0 (XLA)."""
    method = _auto_method(X) if method == "auto" else method
    return _native.threads_for(X, instead="scan") if method == "native" else 0


def fit(
    X: jax.Array,
    y: jax.Array,
    *,
    learning_rate: float | str,
    steps: int,
    init: Params | None = None,
    method: str = "auto",
    momentum: str | None = None,
    tol: float | None = None,
    sample_weight: jax.Array | None = None,
) -> tuple[Params, jax.Array]:
    """Full-batch gradient descent with the hand-written gradients.

    The whole loop is one XLA program (``lax.scan`` inside ``jit``), compiled
    once per (shape, dtype, steps). Every method computes the same formulas;
    they differ only in how X is laid out and read (docs/performance.md):

    * ``"scan"``: X as given, ``X @ w`` and ``dz @ X`` per step. Best while X
      fits in cache, where the per-step overhead dominates.
    * ``"transposed"``: X copied once to Xᵀ (n, m); both products then stream
      memory at full speed on XLA:CPU.
    * ``"fused"``: Xᵀ in cache-sized row blocks, one pass per step. One XLA
      loop runs on one core, so on one device it is slower than "transposed";
      :func:`lrjax.fit_sharded` runs it on every device.
    * ``"sharded"``: :func:`lrjax.fit_sharded` over all devices.
    * ``"native"``: CPU only. Each step's sums come from a C++ kernel (an XLA
      FFI call, compiled for this machine on first use) that reads X once per
      step on every core; the update stays in the same ``lax.scan``. Not
      differentiable (``jax.grad`` through ``fit``: use "scan").
    * ``"auto"`` (default): "scan" for X under ``LARGE_BYTES`` (4 MiB) or off
      CPU. On CPU: "native" where it builds; else, for X with at least
      ``SHARDED_MIN_FEATURES`` (32) columns, :func:`lrjax.fit_sharded` over
      all local devices when there are several (e.g. after
      ``jax.config.update("jax_num_cpu_devices", 2)``); otherwise
      "transposed".

    The lecture's plain update with a fixed α is the default. Three options make
    it a practical solver, still with the same gradients (docs/solvers.md):
    ``learning_rate="auto"`` takes α = 1/L (:func:`auto_learning_rate`);
    ``momentum="nesterov"`` takes each gradient at a look-ahead point, with
    restarts; ``tol`` stops once every component of the gradient is at most
    ``tol``, so ``steps`` becomes a limit. ``sample_weight`` weights the
    examples' losses (the cost is their weighted mean). Any of these runs the
    loop of ``lrjax._solver`` over the same one-pass sums; "sharded" has none
    of them.

    Args:
        X: (m, n) features, one example per row, floating point.
        y: (m,) labels in {0, 1}.
        learning_rate: α > 0, or ``"auto"``.
        steps: number of updates (the most, with ``tol``), a positive int.
        init: starting ``Params``; zeros of X's dtype by default.
        method: how X is read, one of ``METHODS`` (above); the results agree
            to rounding.
        momentum: None (the lecture's update) or ``"nesterov"``.
        tol: None, or a positive bound on the gradient's largest component.
        sample_weight: (m,) example weights ≥ 0 with a positive sum, or None.

    Returns:
        ``(params, history)``: the trained ``Params`` and the cost before each
        update: (steps,), or (steps taken,) with ``tol`` (then ``fit`` is not
        traceable under ``jit``). With momentum, the cost at the look-ahead
        point the update's gradient was taken at.

    Raises:
        ValueError: on bad shapes, labels, weights, non-finite X, non-positive
            steps, learning_rate or tol, an unknown method or momentum, or
            "sharded" with momentum, tol or weights.
        lrjax.NativeUnavailable: ``method="native"`` where the kernel cannot be
            built, or with X on an accelerator (the message says why).
    """
    _check_method(method)
    auto_rate = isinstance(learning_rate, str)
    check_options(learning_rate, momentum, tol)
    X, y, init = check_fit_inputs(X, y, 1.0 if auto_rate else learning_rate, steps, init)
    weights = check_weights(sample_weight, X)
    general = momentum is not None or tol is not None or weights is not None
    if method == "sharded" and general:
        raise ValueError(
            "method='sharded' has no momentum, tol or sample_weight: pass method='auto' "
            "(or 'fused' on one device) to use them"
        )
    if method == "auto":
        method = _auto_method(X)
        method = "transposed" if general and method == "sharded" else method
    n_threads = _threads(X, method)
    if auto_rate:
        learning_rate = _auto_rate(X, weights, n_threads=n_threads)
    if general:
        rows = _fused.block_rows(X.shape[1], X.dtype.itemsize, X.shape[0])
        params, history, taken = _fit_solver(
            X, y, weights, learning_rate, init, tol, method=method, steps=steps,
            momentum=momentum, rows=rows if method == "fused" else 0, n_threads=n_threads,
        )  # fmt: skip
        return params, history if tol is None else history[: int(taken)]
    if method == "transposed":
        return _fused.fit_transposed(X, y, learning_rate, init, steps)
    if method == "fused":
        rows = _fused.block_rows(X.shape[1], X.dtype.itemsize, X.shape[0])
        return _fused.fit_fused(X, y, learning_rate, init, steps, rows)
    if method == "native":
        return _native.fit_native(X, y, learning_rate, init, steps, n_threads)
    if method == "sharded":
        return _parallel.run_sharded(X, y, learning_rate, init, steps)
    return _fit(X, y, learning_rate, init, steps)


METHODS = ("auto", "scan", "transposed", "fused", "sharded", "native")
LARGE_BYTES = 4 * 2**20  # beyond the L2 caches of the measured CPU: the layout matters
# Where the native kernel is unavailable, X with fewer features than this goes
# to "transposed" even when there are several devices: on narrow X "sharded"
# and "transposed" trade places from run to run (benchmarks/bench_fit.py at
# 1 000 000 x 10: sharded 0.37-0.91 of the roofline, transposed 0.39-0.51; at
# 500 000 x 30 transposed 0.73, sharded 0.66), and "transposed" needs no device
# setting.
SHARDED_MIN_FEATURES = 32


def _auto_method(X: jax.Array) -> str:
    """The fastest measured path for X (docs/performance.md)."""
    if X.size * X.dtype.itemsize < LARGE_BYTES or jax.default_backend() != "cpu":
        return "scan"
    if X.dtype.name in _native.TARGETS and _native.available():
        return "native"
    several = len(jax.local_devices()) > 1 and jax.process_count() == 1
    if X.shape[-1] >= SHARDED_MIN_FEATURES and several:
        return "sharded"
    return "transposed"


def predict(params: Params, X: jax.Array) -> jax.Array:
    """0/1 labels: 1 where a = σ(z) >= 0.5, i.e. where z >= 0.

    Args:
        params: ``Params(w: (n,), b: ())``.
        X: (m, n) or one example (n,).

    Returns:
        int32 labels, shape (m,) or ().
    """
    check_params(params)
    check_x(X, params.w.shape[0], name="X")
    return (logits(params, X) >= 0).astype(jnp.int32)


def accuracy(params: Params, X: jax.Array, y: jax.Array) -> jax.Array:
    """Fraction of examples whose predicted label equals y.

    Args:
        params: ``Params(w: (n,), b: ())``.
        X: (m, n) features.
        y: (m,) labels in {0, 1}.

    Returns:
        A scalar in [0, 1], in X's dtype.
    """
    check_y(y, X)
    hits = predict(params, X) == jnp.asarray(y).astype(jnp.int32)
    return jnp.mean(hits.astype(jnp.result_type(X)))
