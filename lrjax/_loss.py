"""The loss: the lecture's formula from probabilities, and the stable form from logits."""

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from lrjax._forward import logits
from lrjax._types import Params
from lrjax._validate import check_params, check_x, check_y


def loss(a: jax.Array, y: jax.Array) -> jax.Array:
    """The lecture's per-example loss L(a, y) = -(y·log a + (1 - y)·log(1 - a)).

    Args:
        a: predicted probabilities σ(z), any shape.
        y: labels in {0, 1}, the same shape as ``a``.

    Returns:
        The loss per example, the shape of ``a``. ``xlogy`` makes 0·log 0 = 0,
        so a confident right answer costs 0; once a has rounded to exactly 0
        or 1 a wrong answer costs inf. Use :func:`cost` for training.
    """
    y = jnp.asarray(y).astype(jnp.result_type(a))
    return -(xlogy(y, a) + xlogy(1 - y, 1 - a))


def loss_from_logits(z: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example loss computed from the logit z, never from σ(z).

    log σ(z) = -softplus(-z) and log(1 - σ(z)) = log σ(-z) = -softplus(z), so
    L = y·softplus(-z) + (1 - y)·softplus(z). Each softplus is finite and
    accurate for every finite z, so no cancellation appears even at z = ±1e4
    in float32 (unlike softplus(z) - y·z, which loses the small loss of a
    confident right answer).
    """
    y = jnp.asarray(y).astype(jnp.result_type(z))
    return y * jax.nn.softplus(-z) + (1 - y) * jax.nn.softplus(z)


def cost(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean loss over the examples, from logits.

    Args:
        params: ``Params(w: (n,), b: ())``.
        x: one example (n,) or a batch (m, n).
        y: the label () or labels (m,), values in {0, 1}.

    Returns:
        A scalar: the loss of the one example, or the mean over m. Equal to
        ``optax.sigmoid_binary_cross_entropy(z, y).mean()``.

    Raises:
        ValueError: on mismatched shapes, labels outside {0, 1}, non-finite x.
    """
    check_params(params)
    check_x(x, params.w.shape[0])
    check_y(y, x)
    return jnp.mean(loss_from_logits(logits(params, x), y))
