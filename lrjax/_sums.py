"""The one-pass sums through which every method of :func:`lrjax.fit` reads X, and what
the solver options build from them: the gradient of the (weighted) mean cost, and the
product with X̃ᵀ S X̃ behind ``learning_rate="auto"``."""

from functools import partial

import jax
import jax.numpy as jnp

from lrjax import _fused, _native
from lrjax._forward import logits
from lrjax._types import Params


def sums(method: str, X, y, weights, rows: int, n_threads: int, *, linear: bool = False):
    """``params -> (Σ s·Xᵀdz, Σ s·dz, Σ s·loss)``, one pass over X laid out as ``method``
    reads it (s the example weights, 1 without). Built inside a jit: the copies are made
    once.

    With ``linear`` (every method but "fused"), dz = z and the loss is z²: the sums are
    then X̃ᵀ S X̃·(w, b) with X̃ = [X, 1], and y is not read.
    """
    if method == "native" and weights is None:
        return partial(_native.fused_sums, X, y, n_threads=n_threads, linear=linear)
    if method == "native":
        sw = weights[:, None]

        def kernel(params):
            G, gb, loss = _native.many_sums(X, y, params.w[:, None], params.b[None], sw,
                                            n_threads=n_threads, linear=linear)  # fmt: skip
            return G[:, 0], gb[0], loss[0]

        return kernel
    if method == "fused":
        XT3, y3, mask3 = jax.lax.optimization_barrier(_fused.to_blocks(X, y, rows))
        if weights is not None:
            mask3 = mask3 * _fused.to_blocks(X, weights, rows)[1]
        return partial(_fused.block_sums, XT3, y3, mask3)
    XT = jax.lax.optimization_barrier(X.T) if method == "transposed" else None
    s = 1 if weights is None else weights

    def kernel(params):
        z = params.w @ XT + params.b if XT is not None else logits(params, X)
        dz, loss = (z, z * z) if linear else _fused.dz_and_loss(z, y)
        dz = dz * s
        gw = XT @ dz if XT is not None else dz @ X
        return gw, jnp.sum(dz), jnp.sum(loss * s)

    return kernel


def gradient(method: str, X, y, weights, rows: int, n_threads: int):
    """``params -> (cost, Params of ∇J)`` for the (weighted) mean cost, from
    :func:`sums`."""
    total = X.shape[0] if weights is None else jnp.sum(weights)
    kernel = sums(method, X, y, weights, rows, n_threads)

    def grads(params):
        gw, gb, loss = kernel(params)
        return loss / total, Params(w=gw / total, b=gb / total)

    return grads


def product(X, weights, n_threads: int):
    """``v -> X̃ᵀ S X̃ v`` (X̃ = [X, 1], S the weights), the Lanczos iteration's product:
    the linear :func:`sums`. With ``n_threads``, the native kernels' (one pass over X,
    the same pass as a step of method "native"); else XLA's two products, as "scan"
    reads X."""
    n = X.shape[1]
    unread = jnp.zeros(X.shape[:1], X.dtype)  # the labels, which linear sums do not read
    linear = sums("native" if n_threads else "scan", X, unread, weights, 0, n_threads,
                  linear=True)  # fmt: skip

    def apply(v):
        gw, gb, _ = linear(Params(v[:n], v[n]))
        return jnp.concatenate([gw, gb[None]])

    return apply
