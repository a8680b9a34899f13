"""How far and from where each step goes: α = 1/L from the data, Nesterov's momentum, a stop.

Still the lecture's gradient descent with its hand-written gradients: every method of
:func:`lrjax.fit` supplies ``sums(params)``, one pass over X giving Σ s·Xᵀdz, Σ s·dz and
Σ s·loss (s the example weights, 1 by default). This module only chooses

* the step size, when ``learning_rate="auto"``: α = 1/L, with L a bound on the
  curvature of the cost (:func:`lipschitz`), found by Lanczos iteration on the same
  one-pass sums with dz = z;
* the point the gradient is taken at, with ``momentum="nesterov"``: a look-ahead
  y = x + β(x − x_prev) (:func:`descend`);
* when to stop, with ``tol``: once every component of the gradient is at most tol.
"""

import jax
import jax.numpy as jnp

from lrjax._types import Params

MOMENTA = (None, "nesterov")
# learning_rate="auto" finds λ_max by Lanczos iteration, each product one pass over X with
# the method's own one-pass kernel (as costly as a gradient step). It stops once the top
# Ritz value θ is known to within LANCZOS_RTOL of itself (its residual r ≤ rtol·θ), after at
# least two products and at most LANCZOS_STEPS, and takes θ + r. θ approaches λ_max from
# below, and θ + r is above it in practice once θ has converged. Plain power iteration
# (only the last iterate kept), stopped at a 1 % rise, ended 4-6 % below λ_max on random
# features, where the top eigenvalues form a cluster (benchmarks/bench_solvers.py --lanczos).
LANCZOS_STEPS = 12
LANCZOS_RTOL = 1e-2


def _start(size: int, dtype) -> jax.Array:
    """A fixed unit start vector, entries proportional to numbers in [1, 2).

    The fractional parts of k·φ (φ the golden ratio) are spread out and follow no
    pattern of the data's, so this vector is not orthogonal to the top eigenvector
    of any structured problem (a vector of ones is: two opposite features, say).
    """
    k = jnp.arange(1, size + 1, dtype=dtype)
    v = 1 + jnp.mod(k * 0.6180339887498949, 1)
    return v / jnp.linalg.norm(v)


def top_eigenvalue(product, size: int, dtype, *, steps: int = LANCZOS_STEPS,
                   rtol: float = LANCZOS_RTOL):  # fmt: skip
    """An upper estimate of the largest eigenvalue of a positive semi-definite map, by Lanczos.

    Lanczos is power iteration that keeps every iterate: after k products it has the
    best estimate in their span, the top eigenvalue θ of a k × k tridiagonal matrix
    (a Ritz value, at most λ_max), and the residual r of its Ritz vector bounds
    how far θ is from an eigenvalue. Each new direction is orthogonalised twice
    against all the earlier ones, so rounding does not bring back found directions.

    Args:
        product: ``v -> A v`` for v of shape (size,), A symmetric positive semi-definite.
        size: the length of v (static).
        dtype: the floating dtype of the products.
        steps: the most products (static).
        rtol: stop once r ≤ rtol·θ.

    Returns:
        θ + r, a scalar in ``dtype``: at least λ_max once θ is the top eigenvalue's.
    """
    zero = jnp.zeros((), dtype)
    diag0 = jnp.zeros((steps,), dtype)

    def body(carry):
        k, V, alpha, beta, _, _ = carry
        u = product(V[k])
        alpha = alpha.at[k].set(jnp.vdot(V[k], u))
        for _ in range(2):  # twice is enough (Kahan, Parlett)
            u = u - V.T @ (V @ u)
        norm = jnp.linalg.norm(u)
        beta = beta.at[k].set(norm)
        V = V.at[k + 1].set(u / jnp.maximum(norm, jnp.finfo(dtype).tiny))
        # T, the k × k tridiagonal matrix, padded with zero rows: their eigenvalues, 0,
        # stay below θ > 0, and the top eigenvector has no weight there.
        off = beta.at[k].set(0)[:-1]
        values, vectors = jnp.linalg.eigh(jnp.diag(alpha) + jnp.diag(off, 1) + jnp.diag(off, -1))
        theta = values[-1]
        return k + 1, V, alpha, beta, theta, norm * jnp.abs(vectors[k, -1])

    def converging(carry):
        k, _, _, _, theta, r = carry
        return (k < steps) & ((k < 2) | (r > rtol * theta))

    V = jnp.zeros((steps + 1, size), dtype).at[0].set(_start(size, dtype))
    carry = (jnp.zeros((), jnp.int32), V, diag0, diag0, zero, zero)
    _, _, _, _, theta, r = jax.lax.while_loop(converging, body, carry)
    return theta + r


def lipschitz(product, size: int, dtype, total, **options):
    """L, the curvature bound of the (weighted) mean cost whose 1/L is the step "auto" takes.

    With X̃ = [X, 1] (the bias as a feature of value 1), S the example weights and
    a = σ(z), the cost's Hessian is X̃ᵀ diag(s·a(1 − a)) X̃ / Σs, and a(1 − a) ≤ 1/4,
    so every curvature is at most L = λ_max(X̃ᵀ S X̃) / (4 Σs), with λ_max from
    :func:`top_eigenvalue` (a few products, one pass over X each).

    Args:
        product: ``v -> X̃ᵀ S X̃ v`` for v of shape (n + 1,): one pass over X (a method's
            linear sums; the last entry is the bias's).
        size: n + 1 (static).
        dtype: the floating dtype of X.
        total: Σs, the weights' sum (m without weights).
        **options: ``steps`` and ``rtol`` of :func:`top_eigenvalue`.

    Returns:
        A positive scalar in ``dtype``.
    """
    top = top_eigenvalue(product, size, dtype, **options)
    return top / (4 * jnp.asarray(total, dtype))


def descend(grads, init: Params, learning_rate, *, steps: int, momentum=None, tol=None):
    """Gradient descent from ``init`` with ``grads``, plain or with Nesterov's momentum.

    Plain: x ← x − α∇J(x). Nesterov: y = x + β(x − x_prev), x ← y − α∇J(y), with
    β = (t − 1)/t' and t' = (1 + √(1 + 4t²))/2 (t = 1 at the start), restarted at
    t = 1 whenever the step turns against the gradient (∇J(y)·(x_new − x) > 0), which
    keeps the cost falling when the fit reaches its well-curved basin.

    Args:
        grads: ``params -> (cost, Params of ∇J)`` (one pass over X).
        init: the starting ``Params``.
        learning_rate: α > 0 (may be traced).
        steps: the most updates (static).
        momentum: None or ``"nesterov"`` (static).
        tol: None, or a bound (may be traced): stop after the first step whose
            gradient has every component at most tol in absolute value.

    Returns:
        ``(params, history, taken)``: the final ``Params``, the (steps,) costs at the
        points each gradient was taken (NaN after the last step taken), and the number
        of steps taken.
    """
    dtype = init.w.dtype
    lr = jnp.asarray(learning_rate).astype(dtype)
    limit = jnp.asarray(jnp.inf if tol is None else tol).astype(dtype)
    one = jnp.ones((), dtype)

    def update(carry):
        k, x, x_prev, t, _, history = carry
        if momentum == "nesterov":
            t_next = (1 + jnp.sqrt(1 + 4 * t * t)) / 2
            beta = (t - 1) / t_next
            point = jax.tree.map(lambda a, p: a + beta * (a - p), x, x_prev)
        else:
            t_next, point = t, x
        cost, g = grads(point)
        new = jax.tree.map(lambda a, d: a - lr * d, point, g)
        if momentum == "nesterov":
            uphill = jnp.vdot(g.w, new.w - x.w) + g.b * (new.b - x.b) > 0
            t_next = jnp.where(uphill, one, t_next)
        size = jnp.maximum(jnp.max(jnp.abs(g.w)), jnp.abs(g.b))
        return k + 1, new, x, t_next, size, history.at[k].set(cost)

    history = jnp.full((steps,), jnp.nan, dtype)
    carry = (jnp.zeros((), jnp.int32), init, init, one, jnp.asarray(jnp.inf, dtype), history)
    if tol is None:
        carry = jax.lax.fori_loop(0, steps, lambda _, c: update(c), carry)
    else:
        carry = jax.lax.while_loop(lambda c: (c[0] < steps) & (c[4] > limit), update, carry)
    taken, params, _, _, _, history = carry
    return params, history, taken
