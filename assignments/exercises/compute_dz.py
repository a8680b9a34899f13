"""compute_dz(a, y): dL/dz = a - y for one example, the chain rule through the sigmoid."""

import jax.numpy as jnp
import numpy as np

import lrjax
from grader import Exercise, Mistake, case

F32, F64 = np.float32, np.float64
# (dtype, a NumPy scalar rather than a 0-d array?, mode) of each one-example case
KINDS = [(F32, False, "call"), (F32, True, "call"), (F64, False, "call"), (F32, False, "jit"),
         (F64, True, "jit")]  # fmt: skip


def _one(a, y, dtype, scalar, mode):
    a, y = np.asarray(a, dtype), np.asarray(y, dtype)
    a, y = (a[()], y[()]) if scalar else (a, y)
    kind = "scalar" if scalar else "0d"
    return case(
        a, y, mode=mode, label=f"y={int(y)} a={float(a):.3g} {np.dtype(dtype).name} {kind} {mode}"
    )


def _batch(rng, dtype, m):
    a = rng.uniform(0.02, 0.98, size=m).astype(dtype)
    y = (np.arange(m) % 2).astype(dtype)  # both labels in every batch
    return case(a, y, mode="vmap", label=f"vmap m={m} {np.dtype(dtype).name}")


_rng = np.random.default_rng(4)
VISIBLE = (
    _one(0.8, 1, F32, False, "call"),  # the first failure a student sees: y = 1, a = 0.8
    *(_one(_rng.uniform(0.05, 0.95), i % 2, *kind) for i, kind in enumerate(KINDS)),
    _batch(_rng, F32, 5),
)
HIDDEN = (
    # a close to 0 and 1 for both labels: no division may blow up there
    *(
        _one(a, y, F32, i % 2 == 1, "call")
        for i, (a, y) in enumerate([(1e-3, 1), (1e-3, 0), (0.999, 0), (0.999, 1)])
    ),
    _one(1e-6, 0, F64, True, "call"),
    _one(1 - 1e-6, 1, F64, False, "jit"),
    _one(0.5, 1, F64, True, "jit"),
    _batch(_rng, F64, 8),
)


def reference(a, y):
    """lrjax's backward pass at the logit z whose σ(z) is a (one feature, all zero)."""
    z = jnp.log(a) - jnp.log1p(-a)
    grads = lrjax.backward(lrjax.Params(jnp.zeros(1, a.dtype), z), jnp.zeros(1, a.dtype), y)
    return grads.dz


EXERCISE = Exercise(
    name="compute_dz",
    args=("a", "y"),
    returns="dz",
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    formula="dz = a - y",
    doc={
        "en": "dL/dz for one example: a, y are scalars.",
        "uk": "dL/dz для одного зразка: a, y є скалярами.",
    },
    solution="return a - y",
    points=3,
    mistakes=(
        Mistake(
            "dz_as_da",
            "return -y / a + (1 - y) / (1 - a)",
            title={"en": "dz computed as da", "uk": "dz обчислено як da"},
            advice={
                "en": "The result equals dL/da. dz = dL/da · da/dz, and with "
                "da/dz = a(1 - a) the product simplifies to dz = a - y.",
                "uk": "Результат дорівнює dL/da. dz = dL/da · da/dz, а оскільки "
                "da/dz = a(1 - a), добуток спрощується до dz = a - y.",
            },
        ),
    ),
    overrides={
        "wrong_shape": {
            "advice": {
                "en": "Expected shape {expected_shape}, got {got_shape}: for one example "
                "dz is a scalar, like a and y. {formula_sentence}",
                "uk": "Очікувано форму {expected_shape}, отримано {got_shape}: для одного "
                "зразка dz є скаляром, як a та y. {formula_sentence}",
            }
        }
    },
)
