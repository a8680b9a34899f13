"""compute_db(dz): dL/db = dz for one example, since ∂z/∂b = 1."""

import jax
import jax.numpy as jnp
import numpy as np

import lrjax
from grader import Exercise, case

F32, F64 = np.float32, np.float64


def _one(dz, dtype, scalar, mode, label):
    value = np.asarray(dz, dtype)
    return case(value[()] if scalar else value, mode=mode, label=label)


def _batch(rng, dtype, m):
    dz = (rng.uniform(0.02, 0.98, size=m) - np.arange(m) % 2).astype(dtype)
    return case(dz, mode="vmap", label=f"vmap m={m} {np.dtype(dtype).name}")


_rng = np.random.default_rng(6)
VISIBLE = (
    _one(-0.2, F32, False, "call", "dz<0 f32"),
    _one(0.7, F32, True, "call", "dz>0 f32 scalar"),
    _one(0.35, F64, False, "call", "dz>0 f64"),
    _one(-0.6, F32, False, "jit", "dz<0 f32 jit"),
    _batch(_rng, F32, 5),
)
HIDDEN = (
    _one(1e-4, F32, False, "call", "dz~0 f32"),
    _one(-0.999, F64, True, "jit", "dz~-1 f64 scalar jit"),
    _one(0.0, F32, False, "call", "dz=0 f32"),  # a perfect prediction
    _batch(_rng, F64, 7),
)


def reference(dz):
    """dz pulled back through lrjax's forward step z = w·x + b to b (``jax.vjp``)."""
    x = jnp.zeros(2, dz.dtype)
    params = lrjax.Params(jnp.zeros(2, dz.dtype), jnp.zeros((), dz.dtype))
    _, pull_back = jax.vjp(lambda p: lrjax.forward(p, x)[0], params)
    return pull_back(dz)[0].b


EXERCISE = Exercise(
    name="compute_db",
    args=("dz",),
    returns="db",
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    formula="db = dz",
    doc={
        "en": "dL/db for one example: dz is a scalar.",
        "uk": "dL/db для одного зразка: dz є скаляром.",
    },
    solution="return dz",
    points=2,
    overrides={
        "scaled": {
            "title": {
                "en": "db averaged or summed wrongly",
                "uk": "db неправильно усереднено чи підсумовано",
            },
            "advice": {
                "en": "Every value is {ratio} times the right one. For one example db = dz: "
                "there is nothing to average or add up (the mean over m examples comes "
                "later, outside this function).",
                "uk": "Кожне значення в {ratio} раза відрізняється від правильного. Для "
                "одного зразка db = dz: тут нічого не треба ні усереднювати, ні "
                "підсумовувати (середнє за m зразками обчислюється пізніше, поза цією "
                "функцією).",
            },
        },
        "wrong_shape": {
            "advice": {
                "en": "Expected shape {expected_shape}, got {got_shape}: db is one number, "
                "like dz. {formula_sentence}",
                "uk": "Очікувано форму {expected_shape}, отримано {got_shape}: db є одним "
                "числом, як dz. {formula_sentence}",
            }
        },
    },
)
