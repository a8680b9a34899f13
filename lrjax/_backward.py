"""The hand-written backward pass of the lecture, and its independent checks."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lrjax._forward import logits
from lrjax._loss import cost, loss_from_logits
from lrjax._types import Grads, Params
from lrjax._validate import check_params, check_x, check_y


def grads_from_logits(x: jax.Array, z: jax.Array, y: jax.Array) -> Grads:
    """The lecture's derivatives given the logits z (no validation).

    One example: x (n,), z (), y (). Batch: x (m, n), z (m,), y (m,); dw and db
    are then averaged over m, da and dz stay per example.
    """
    y = jnp.asarray(y).astype(z.dtype)
    a = jax.nn.sigmoid(z)
    # dz = dL/da · da/dz = da · a(1 - a) = a - y. Computed directly: going
    # through da would divide by a or 1 - a, which round to 0 for large |z|.
    # Since σ(z) + σ(-z) = 1, a - y = (1 - y)·σ(z) - y·σ(-z): for a label in
    # {0, 1} one term vanishes, so a confident right answer's tiny dz keeps
    # its relative accuracy instead of cancelling in a - 1.
    dz = (1 - y) * a - y * jax.nn.sigmoid(-z)
    # da = -y/a + (1 - y)/(1 - a), with 1/a = 1 + e^{-z} and 1/(1 - a) = 1 + e^{z}
    # written from z so that a rounding to 0 or 1 costs no accuracy. A term whose
    # label weight is 0 is exactly 0 (never 0·inf); the value is ±inf only
    # where the true da overflows the dtype.
    pos = jnp.where(y != 0, y * (1 + jnp.exp(-z)), 0)
    neg = jnp.where(y != 1, (1 - y) * (1 + jnp.exp(z)), 0)
    da = neg - pos
    if x.ndim == 1:
        dw, db = x * dz, dz  # dw_j = x_j · dz, db = dz
    else:
        m = x.shape[0]
        dw, db = (dz @ x) / m, jnp.mean(dz)  # the same formulas averaged over m
    return Grads(da=da, dz=dz, dw=dw, db=db)


def backward(params: Params, x: jax.Array, y: jax.Array) -> Grads:
    """The lecture's backward pass: da, dz, dw, db.

    Args:
        params: ``Params(w: (n,), b: ())``.
        x: one example (n,) or a batch (m, n).
        y: the label () or labels (m,), values in {0, 1}.

    Returns:
        ``Grads(da, dz, dw, db)``. One example: da, dz, db scalars, dw (n,).
        Batch: da, dz (m,); dw (n,) and db () averaged over m, the gradient of
        :func:`lrjax.cost`.

    Raises:
        ValueError: on mismatched shapes, labels outside {0, 1}, non-finite x.
    """
    check_params(params)
    check_x(x, params.w.shape[0])
    check_y(y, x)
    return grads_from_logits(x, logits(params, x), y)


def autodiff_grads(params: Params, x: jax.Array, y: jax.Array) -> Params:
    """``jax.grad`` of :func:`lrjax.cost`: the independent check of :func:`backward`.

    Returns:
        ``Params(w=dcost/dw, b=dcost/db)``.
    """
    return jax.grad(cost)(params, x, y)


class GradientCheck(NamedTuple):
    """How far the hand-written gradients are from two independent ones.

    Attributes:
        vs_autodiff: relative error of (dw, db) against ``jax.grad``:
            max |difference| / max |reference|.
        vs_finite_differences: the same against central finite differences
            of the cost, computed in float64.
    """

    vs_autodiff: float
    vs_finite_differences: float

    def ok(self, tol: float = 1e-4) -> bool:
        """True if both errors are at most ``tol``."""
        return max(self.vs_autodiff, self.vs_finite_differences) <= tol

    def __str__(self) -> str:
        return (
            f"gradient check: max rel. error vs jax.grad {self.vs_autodiff:.2e}, "
            f"vs finite differences {self.vs_finite_differences:.2e}"
        )


def _rel_err(got, want) -> float:
    """max|got - want| / max|want|: relative to the gradient's size, so a
    component that is nearly 0 cannot blow the error up."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), np.finfo(np.float64).tiny))


def check_gradients(
    params: Params, x: jax.Array, y: jax.Array, *, eps: float = 1e-6
) -> GradientCheck:
    """Compare :func:`backward` with ``jax.grad`` and with finite differences.

    The finite differences perturb each parameter by ±eps and evaluate the
    cost in float64 (x64 is switched on for that computation only), so they
    are accurate to about eps² whatever the dtype of the inputs.

    Args:
        params, x, y: as for :func:`backward`; concrete arrays (not traced).
        eps: the finite-difference step.

    Returns:
        A :class:`GradientCheck`.
    """
    mine = backward(params, x, y)
    auto = autodiff_grads(params, x, y)
    hand = np.concatenate([np.ravel(mine.dw), np.ravel(mine.db)])
    vs_auto = _rel_err(hand, np.concatenate([np.ravel(auto.w), np.ravel(auto.b)]))
    theta = np.concatenate([np.asarray(params.w, np.float64), np.ravel(np.asarray(params.b))])
    n = theta.size - 1
    with jax.enable_x64(True):
        x64 = jnp.asarray(np.asarray(x, np.float64))
        y64 = jnp.asarray(np.asarray(y, np.float64))

        @jax.jit
        def cost_at(t):
            return jnp.mean(loss_from_logits(logits(Params(t[:n], t[n]), x64), y64))

        steps = jnp.eye(n + 1) * eps  # row i moves parameter i only
        plus = jax.vmap(cost_at)(theta[None, :] + steps)
        minus = jax.vmap(cost_at)(theta[None, :] - steps)
        fd = np.asarray((plus - minus) / (2 * eps))
    return GradientCheck(vs_auto, _rel_err(hand, fd))
