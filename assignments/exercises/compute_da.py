"""compute_da(a, y): dL/da for one example, the first step of the backward pass."""

import jax.numpy as jnp
import numpy as np

import lrjax
from grader import Exercise, Mistake, case

F32, F64 = np.float32, np.float64


def _val(v, dtype, scalar):
    """A NumPy scalar (``scalar=True``) or a 0-d array of ``dtype``."""
    arr = np.asarray(v, dtype=dtype)
    return arr[()] if scalar else arr


def _cases(rows, batches, seed):
    """(a, y) cases from ``(a, y, dtype, NumPy scalar?, mode, label)`` rows, then vmap
    batches of random a with both labels."""
    out = [case(_val(a, dt, sc), _val(y, dt, sc), mode=mode, label=label)
           for a, y, dt, sc, mode, label in rows]  # fmt: skip
    rng = np.random.default_rng(seed)
    for dt, m, label in batches:
        a = rng.uniform(0.02, 0.98, size=m).astype(dt)
        y = (np.arange(m) % 2).astype(dt)  # both labels in every batch
        out.append(case(a, y, mode="vmap", label=label))
    return tuple(out)


VISIBLE = _cases(
    [
        (0.8, 1, F32, False, "call", "y=1 a=0.8 f32 0d"),
        (0.3, 0, F32, False, "call", "y=0 a=0.3 f32 0d"),
        (0.6, 1, F32, True, "call", "y=1 a=0.6 f32 scalar"),
        (0.25, 0, F64, False, "call", "y=0 a=0.25 f64 0d"),
        (0.7, 0, F32, False, "jit", "y=0 a=0.7 f32 jit"),
        (0.4, 1, F64, False, "jit", "y=1 a=0.4 f64 jit"),
    ],
    [(F32, 5, "vmap m=5 f32")],
    seed=3,
)
HIDDEN = _cases(
    [  # a close to 0 and 1, where a formula that divides carelessly goes wrong
        (1e-3, 1, F32, False, "call", "y=1 a~0 f32"),
        (1e-3, 0, F32, True, "call", "y=0 a~0 f32 scalar"),
        (0.999, 0, F32, False, "call", "y=0 a~1 f32"),
        (0.999, 1, F32, False, "jit", "y=1 a~1 f32 jit"),
        (1e-6, 0, F64, True, "call", "y=0 a~0 f64 scalar"),
        (1 - 1e-6, 1, F64, False, "jit", "y=1 a~1 f64 jit"),
        (0.5, 1, F64, True, "jit", "y=1 a=0.5 f64 scalar jit"),
    ],
    [(F64, 8, "vmap m=8 f64")],
    seed=33,
)


def reference(a, y):
    """lrjax's backward pass at the logit z whose σ(z) is a (one feature, all zero)."""
    z = jnp.log(a) - jnp.log1p(-a)
    grads = lrjax.backward(lrjax.Params(jnp.zeros(1, a.dtype), z), jnp.zeros(1, a.dtype), y)
    return grads.da


EXERCISE = Exercise(
    name="compute_da",
    args=("a", "y"),
    returns="da",
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    formula="da = -y / a + (1 - y) / (1 - a)",
    doc={
        "en": "dL/da for one example: a, y are scalars.",
        "uk": "dL/da для одного зразка: a, y є скалярами.",
    },
    solution="return -y / a + (1 - y) / (1 - a)",
    points=3,
    mistakes=(
        Mistake(
            "da_missing_minus",
            "return y / a + (1 - y) / (1 - a)",
            title={"en": "the missing minus in da", "uk": "пропущений мінус у da"},
            advice={
                "en": "Right when y = 0, wrong sign when y = 1: the derivative of -y·log(a) "
                "is -y/a, with a minus. {formula_sentence}",
                "uk": "Правильно при y = 0, але знак неправильний при y = 1: похідна від "
                "-y·log(a) дорівнює -y/a, з мінусом. {formula_sentence}",
            },
        ),
    ),
    overrides={
        "wrong_shape": {
            "advice": {
                "en": "Expected a result of shape {expected_shape}, got {got_shape}. One "
                "example in, one example out: da is a scalar (shape ()). {formula_sentence}",
                "uk": "Очікувано результат форми {expected_shape}, отримано {got_shape}. Один "
                "зразок на вході, один на виході: da є скаляром (форма ()). {formula_sentence}",
            }
        }
    },
)
