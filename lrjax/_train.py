"""Gradient descent: one update step, the jit-compiled training loop, predictions."""

from functools import partial

import jax
import jax.numpy as jnp

from lrjax import _fused, _native, _parallel
from lrjax._forward import logits
from lrjax._types import Grads, Params
from lrjax._validate import check_fit_inputs, check_params, check_x, check_y


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


def fit(
    X: jax.Array,
    y: jax.Array,
    *,
    learning_rate: float,
    steps: int,
    init: Params | None = None,
    method: str = "auto",
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

    Args:
        X: (m, n) features, one example per row, floating point.
        y: (m,) labels in {0, 1}.
        learning_rate: α > 0.
        steps: number of updates, a positive int.
        init: starting ``Params``; zeros of X's dtype by default.
        method: how X is read, one of ``METHODS`` (above); the results agree
            to rounding.

    Returns:
        ``(params, history)``: the trained ``Params`` and the (steps,) cost
        before each update.

    Raises:
        ValueError: on bad shapes, labels, non-finite X, non-positive steps or
            learning_rate, or an unknown method.
        lrjax.NativeUnavailable: ``method="native"`` where the kernel cannot be
            built, or with X on an accelerator (the message says why).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: pass one of {', '.join(map(repr, METHODS))}")
    X, y, init = check_fit_inputs(X, y, learning_rate, steps, init)
    if method == "auto":
        method = _auto_method(X)
    if method == "transposed":
        return _fused.fit_transposed(X, y, learning_rate, init, steps)
    if method == "fused":
        rows = _fused.block_rows(X.shape[1], X.dtype.itemsize, X.shape[0])
        return _fused.fit_fused(X, y, learning_rate, init, steps, rows)
    if method == "native":
        n_threads = _native.threads_for(X, instead="scan")
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
