"""Forward propagation: z = w·x + b, a = σ(z)."""

import jax

from lrjax._types import Params
from lrjax._validate import check_params, check_x


def logits(params: Params, x: jax.Array) -> jax.Array:
    """z = w·x + b for one example x: (n,) -> (), or a batch X: (m, n) -> (m,).

    No validation: the internal building block of every public function.
    """
    return x @ params.w + params.b


def forward(params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The lecture's forward pass.

    Args:
        params: ``Params(w: (n,), b: ())``.
        x: one example (n,) or a batch (m, n), one example per row.

    Returns:
        ``(z, a)``: the logit z = w·x + b and the prediction a = σ(z);
        scalars for one example, (m,) for a batch.

    Raises:
        ValueError: if the shapes do not match or x is not floating point.
    """
    check_params(params)
    check_x(x, params.w.shape[0])
    z = logits(params, x)
    return z, jax.nn.sigmoid(z)
