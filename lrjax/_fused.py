"""Full-batch steps for X larger than the cache: the memory layouts that make one step fast.

A step needs z = X·w + b (forward) and dw = Xᵀ·dz / m (backward), two products
with X. On XLA:CPU the backward as written, ``dz @ X`` with X (m, n) row-major,
runs at about a third of memory speed; the same product with X stored
transposed, ``Xᵀ @ dz`` with Xᵀ (n, m) row-major, and the forward ``w @ Xᵀ``
both stream memory at full speed (docs/performance.md has the measurements).
So the large-X paths copy X once per call into a transposed layout:

* ``"transposed"``: Xᵀ (n, m), two passes over it per step. Best on one device.
* ``"fused"``: Xᵀ cut into row blocks (k, n, B) small enough for the L2 cache;
  a ``lax.scan`` over blocks computes the block's z, dz and its share of dw
  while the block is still in cache, so X is read from memory once per step.
  One XLA while loop runs on one core, so this pays off only when the blocks
  are spread over several devices (:func:`lrjax.fit_sharded`).

Rows added to fill the last block carry a mask of 0, so they change nothing.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp

from lrjax._types import Params

# A block of B rows (B·n·itemsize bytes) should fit the per-core L2 (2 MiB on
# the machine measured) with room for the products: 512 KiB measured well.
BLOCK_BYTES = 512 * 1024


def dz_and_loss(z: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """dz = σ(z) - y and the loss L(σ(z), y), from one exp and one log1p per example.

    For a label y in {0, 1} let s = (1 - 2y)·z, i.e. z when y = 0 and -z when
    y = 1. Then L = y·softplus(-z) + (1 - y)·softplus(z) = softplus(s) and
    dz = (1 - y)·σ(z) - y·σ(-z) = (1 - 2y)·σ(s). Both come from e = exp(-|s|):
    softplus(s) = max(s, 0) + log1p(e), σ(s) = 1/(1 + e) or e/(1 + e). These
    are the stable forms of :func:`lrjax._backward.grads_from_logits` and
    :func:`lrjax._loss.loss_from_logits` (a confident right answer keeps the
    relative accuracy of its tiny dz and loss), with a third of their
    transcendental functions: at n = 100 features those cost as much as the
    products with X.

    Args:
        z: logits, any shape; y: labels in {0, 1}, broadcastable to z.

    Returns:
        ``(dz, loss)``, each of z's shape.
    """
    sign = 1 - 2 * y
    s = sign * z
    e = jnp.exp(-jnp.abs(s))
    sigma = jnp.where(s >= 0, 1, e) / (1 + e)
    return sign * sigma, jnp.maximum(s, 0) + jnp.log1p(e)


def block_rows(n: int, itemsize: int, m: int) -> int:
    """Rows per block: about ``BLOCK_BYTES`` of X, a multiple of 8, at most m rounded up."""
    rows = max(8, BLOCK_BYTES // max(1, n * itemsize)) // 8 * 8
    return min(rows, -(-m // 8) * 8)


def to_blocks(X: jax.Array, y: jax.Array, rows: int, groups: int = 1):
    """Cut X (m, n) into transposed blocks (k, n, rows); k a multiple of ``groups``.

    Returns:
        ``(XT3: (k, n, rows), y3: (k, rows), mask3: (k, rows))``; padded rows
        are zeros with mask 0.
    """
    m, n = X.shape
    k = math.ceil(math.ceil(m / rows) / groups) * groups
    pad = k * rows - m
    Xp = jnp.pad(X, ((0, pad), (0, 0)))
    yp = jnp.pad(y, (0, pad))
    mask = (jnp.arange(k * rows) < m).astype(X.dtype)
    XT3 = Xp.reshape(k, rows, n).transpose(0, 2, 1)
    return XT3, yp.reshape(k, rows), mask.reshape(k, rows)


def block_sums(XT3, y3, mask3, params: Params):
    """Σ over blocks of (Xᵀdz, Σdz, Σloss), one pass: each block is used while in cache.

    Args:
        XT3: (k, n, B) transposed blocks; y3, mask3: (k, B).
        params: ``Params(w: (n,), b: ())``.

    Returns:
        ``(gw: (n,), gb: (), total_loss: ())``, sums (not means) over the real rows.
    """
    w, b = params

    def body(carry, block):
        xb, yb, mb = block  # (n, B), (B,), (B,)
        dz, loss = dz_and_loss(w @ xb + b, yb)
        dz = dz * mb
        return (carry[0] + xb @ dz, carry[1] + jnp.sum(dz), carry[2] + loss @ mb), None

    zero = jnp.zeros((), w.dtype)
    sums, _ = jax.lax.scan(body, (jnp.zeros_like(w), zero, zero), (XT3, y3, mask3))
    return sums


def _update(params: Params, gw, gb, m, learning_rate) -> Params:
    lr = jnp.asarray(learning_rate).astype(params.w.dtype)
    return Params(params.w - lr * (gw / m), params.b - lr * (gb / m))


@partial(jax.jit, static_argnames="steps")
def fit_transposed(X, y, learning_rate, init: Params, steps: int):
    """Gradient descent with X copied once to Xᵀ (n, m); two fast passes per step.

    Returns:
        ``(params, history)`` as :func:`lrjax.fit`.
    """
    m = X.shape[0]
    # The barrier keeps XLA from folding the transpose back into the dots:
    # the copy is made once, before the loop.
    XT = jax.lax.optimization_barrier(X.T)

    def body(params, _):
        dz, loss = dz_and_loss(params.w @ XT + params.b, y)
        return _update(params, XT @ dz, jnp.sum(dz), m, learning_rate), jnp.mean(loss)

    return jax.lax.scan(body, init, length=steps)


@partial(jax.jit, static_argnames=("steps", "rows"))
def fit_fused(X, y, learning_rate, init: Params, steps: int, rows: int):
    """Gradient descent with one pass over cache-sized blocks of Xᵀ per step.

    Returns:
        ``(params, history)`` as :func:`lrjax.fit`.
    """
    m = X.shape[0]
    XT3, y3, mask3 = jax.lax.optimization_barrier(to_blocks(X, y, rows))

    def body(params, _):
        gw, gb, total = block_sums(XT3, y3, mask3, params)
        return _update(params, gw, gb, m, learning_rate), total / m

    return jax.lax.scan(body, init, length=steps)
