"""Mini-batch stochastic gradient descent with an explicit PRNG key."""

import math
from functools import partial

import jax
import jax.numpy as jnp

from lrjax._fused import dz_and_loss
from lrjax._types import Params
from lrjax._validate import check_fit_inputs


@partial(jax.jit, static_argnames=("batch_size", "epochs", "steps"))
def _fit_sgd(X, y, learning_rate, init: Params, key, batch_size: int, epochs: int, steps: int):
    m = X.shape[0]
    per_epoch = m // batch_size
    lr = jnp.asarray(learning_rate).astype(X.dtype)

    def epoch(params, e):
        order = jax.random.permutation(jax.random.fold_in(key, e), m)

        def batch(params, j):
            idx = jax.lax.dynamic_slice_in_dim(order, j * batch_size, batch_size)
            xb, yb = X[idx], y[idx]  # (batch_size, n), (batch_size,)
            dz, loss = dz_and_loss(xb @ params.w + params.b, yb)
            new = Params(params.w - lr * (dz @ xb) / batch_size, params.b - lr * jnp.mean(dz))
            # Updates past `steps` (in the last epoch) leave the parameters alone.
            live = e * per_epoch + j < steps
            new = jax.tree.map(lambda a, b: jnp.where(live, a, b), new, params)
            return new, jnp.mean(loss)

        return jax.lax.scan(batch, params, jnp.arange(per_epoch))

    params, history = jax.lax.scan(epoch, init, jnp.arange(epochs))
    return params, history.reshape(-1)[:steps]


def fit_sgd(
    X,
    y,
    *,
    learning_rate: float,
    batch_size: int,
    key: jax.Array,
    epochs: int | None = None,
    steps: int | None = None,
    init: Params | None = None,
) -> tuple[Params, jax.Array]:
    """Mini-batch SGD: each update uses the gradient of the mean cost over one batch.

    Each epoch shuffles the rows with ``jax.random.permutation`` of
    ``fold_in(key, epoch)`` and walks through them in m // batch_size batches
    (the m % batch_size rows left over sit out that epoch; another epoch's
    shuffle includes them). The result is a pure function of the arguments:
    the same key gives bit-identical parameters.

    Args:
        X: (m, n) features; y: (m,) labels in {0, 1}.
        learning_rate: α > 0.
        batch_size: rows per update, 1 <= batch_size <= m.
        key: a ``jax.random.key`` (or legacy ``PRNGKey``).
        epochs: passes over the data; give exactly one of ``epochs``, ``steps``.
        steps: number of updates.
        init: starting ``Params``; zeros of X's dtype by default.

    Returns:
        ``(params, history)``: the trained ``Params`` and the (steps,) cost of
        each batch before its update (steps = epochs · (m // batch_size)).

    Raises:
        ValueError: on bad shapes or values, with the fix in the message.
    """
    if (epochs is None) == (steps is None):
        raise ValueError(
            "Expected exactly one of epochs or steps: pass e.g. epochs=10 "
            "(passes over the data) or steps=1000 (updates)"
        )
    count, name = (epochs, "epochs") if steps is None else (steps, "steps")
    X, y, init = check_fit_inputs(X, y, learning_rate, count, init, steps_name=name)
    m = X.shape[0]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"Expected batch_size to be a positive int, got {batch_size!r}: pass e.g. batch_size=32"
        )
    if batch_size > m:
        raise ValueError(
            f"Expected batch_size <= m = {m}, got {batch_size}: pass batch_size={m} "
            "(that is full-batch gradient descent, lrjax.fit) or smaller"
        )
    typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    raw = isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,)
    if not ((typed and key.shape == ()) or raw):
        raise ValueError(
            f"Expected key to be a JAX PRNG key, got {type(key).__name__}: "
            "pass key=jax.random.key(0)"
        )
    per_epoch = m // batch_size
    if steps is None:
        steps = epochs * per_epoch
    else:
        epochs = math.ceil(steps / per_epoch)
    return _fit_sgd(X, y, learning_rate, init, key, batch_size, epochs, steps)
