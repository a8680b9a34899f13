"""compute_dw(x, dz): dL/dw = x * dz for one example, one derivative per weight."""

import jax
import jax.numpy as jnp
import numpy as np

import lrjax
from grader import Exercise, Mistake, case

F32, F64 = np.float32, np.float64


def _rows(rows):
    """Cases from ``(x, dz, dtype, dz a NumPy scalar?, mode, label)``."""
    out = []
    for x, dz, dt, scalar, mode, label in rows:
        dz = np.asarray(dz, dt)
        out.append(case(np.asarray(x, dt), dz[()] if scalar else dz, mode=mode, label=label))
    return out


def _batch(rng, dtype, m, n):
    """A vmap case: m examples of n features, dz = a - y for random a and both labels."""
    x = rng.normal(size=(m, n)).astype(dtype)
    dz = (rng.uniform(0.02, 0.98, size=m) - np.arange(m) % 2).astype(dtype)
    return case(x, dz, mode="vmap", label=f"vmap m={m} n={n} {np.dtype(dtype).name}")


_rng = np.random.default_rng(5)
VISIBLE = (
    *_rows([
        ([1.5, -2.0], -0.2, F32, False, "call", "n=2 dz<0 f32"),
        ([0.5, 3.0], 0.7, F32, True, "call", "n=2 dz>0 f32 scalar"),
        ([2.0, -1.0, 0.25], 0.4, F64, False, "call", "n=3 f64"),
        ([-0.5, 1.0], -0.9, F32, False, "jit", "n=2 f32 jit"),
    ]),
    _batch(_rng, F32, 4, 2),
)  # fmt: skip
HIDDEN = (
    *_rows([
        ([1.0, 2.0, 3.0, 4.0, 5.0], 1e-3, F32, False, "call", "n=5 dz~0 f32"),
        ([0.3, -0.7], -0.999, F64, True, "jit", "n=2 dz~-1 f64 scalar jit"),
        ([4.0, -3.0, 2.0], 0.3, F64, False, "jit", "n=3 f64 jit"),
        ([0.0, 1.5], 0.3, F32, False, "call", "n=2 x1=0 f32"),  # a feature can be 0
    ]),
    _batch(_rng, F64, 6, 3),
)  # fmt: skip


def reference(x, dz):
    """dz pulled back through lrjax's forward step z = w·x + b (``jax.vjp``): what the
    chain rule dL/dw = dL/dz · ∂z/∂w means."""
    params = lrjax.Params(jnp.zeros(x.shape, x.dtype), jnp.zeros((), x.dtype))
    _, pull_back = jax.vjp(lambda p: lrjax.forward(p, x)[0], params)
    return pull_back(dz)[0].w


EXERCISE = Exercise(
    name="compute_dw",
    args=("x", "dz"),
    returns="dw",
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    formula="dw = x * dz",
    doc={
        "en": "dL/dw for one example: x has shape (n,), dz is a scalar.",
        "uk": "dL/dw для одного зразка: x має форму (n,), dz є скаляром.",
    },
    solution="return x * dz",
    points=2,
    mistakes=(
        Mistake(
            "dw_without_x",
            "return dz",
            also=("return dz * jnp.ones_like(x)",),
            title={"en": "dw without x", "uk": "dw без x"},
            advice={
                "en": "The result is dz itself, without the feature values: the chain rule "
                "gives dL/dw_j = dL/dz · dz/dw_j = x_j · dz, so multiply by x: dw = x * dz.",
                "uk": "Результат дорівнює самому dz, без значень характеристик: за "
                "ланцюговим правилом dL/dw_j = dL/dz · dz/dw_j = x_j · dz, тож помнож на x: "
                "dw = x * dz.",
            },
        ),
        Mistake(
            "dw_summed",
            "return jnp.sum(x * dz)",
            title={"en": "dw summed over the features", "uk": "dw підсумовано за характеристиками"},
            advice={
                "en": "dw has one entry per weight (shape (n,)): do not add x_j · dz up. "
                "Use dw = x * dz.",
                "uk": "dw має по одному елементу на кожну вагу (форма (n,)): не додавай "
                "x_j · dz разом. Використай dw = x * dz.",
            },
        ),
    ),
    overrides={
        "returned_list": {
            "advice": {
                "en": "Return an array, not a {type_name}: a list cannot be traced or "
                "vectorised. x * dz is already an array of shape (n,).",
                "uk": "Повертай масив, а не {type_name}: список не можна трасувати чи "
                "векторизувати. Вираз x * dz уже є масивом форми (n,).",
            }
        },
        "wrong_shape": {
            "advice": {
                "en": "Expected shape {expected_shape}, got {got_shape}: dw has one entry per "
                "weight, the shape of x. {formula_sentence}",
                "uk": "Очікувано форму {expected_shape}, отримано {got_shape}: dw має по "
                "одному елементу на кожну вагу, форму x. {formula_sentence}",
            }
        },
    },
)
