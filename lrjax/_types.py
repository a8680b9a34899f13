"""The two pytrees of the library: parameters and the lecture's gradients."""

from typing import NamedTuple

import jax


class Params(NamedTuple):
    """Parameters of logistic regression.

    Attributes:
        w: (n,) weights, one per feature.
        b: () bias.

    A NamedTuple is a pytree, so ``Params`` passes through ``jit``, ``vmap``,
    ``grad`` and ``lax.scan`` with no registration.
    """

    w: jax.Array
    b: jax.Array


class Grads(NamedTuple):
    """The lecture's derivatives of the loss, named as in the lecture.

    For one example: ``da``, ``dz`` and ``db`` are scalars and ``dw`` is (n,).
    For a batch of m examples: ``da`` and ``dz`` are (m,) (one per example),
    while ``dw`` (n,) and ``db`` () are averaged over the batch, so that they
    are the gradient of the mean cost.

    Attributes:
        da: dL/da = -y/a + (1 - y)/(1 - a).
        dz: dL/dz = a - y.
        dw: dL/dw = x * dz.
        db: dL/db = dz.
    """

    da: jax.Array
    dz: jax.Array
    dw: jax.Array
    db: jax.Array
