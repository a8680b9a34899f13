"""predict(w, b, X): labels 0/1 for m examples, 1 where a = σ(w·x + b) >= 0.5."""

import numpy as np

import lrjax
from grader import Exercise, Mistake, case

F32, F64 = np.float32, np.float64


def _cases(seed, rows):
    rng = np.random.default_rng(seed)
    out = []
    for m, n, dtype, mode in rows:
        X = rng.normal(size=(m, n)).astype(dtype)
        w = rng.normal(size=n).astype(dtype)
        # b puts the first example's z at 0.25: a = 0.56 -> label 1, while a threshold
        # of 0.5 on z (not on a) says 0
        b = np.asarray(0.25 - X[0] @ w, dtype)
        label = f"m={m} n={n} {np.dtype(dtype).name} {mode}"
        out.append(case(w, b, X, mode=mode, label=label))
    return tuple(out)


VISIBLE = _cases(41, [(6, 2, F32, "call"), (8, 3, F64, "jit")])
HIDDEN = _cases(42, [(1, 2, F32, "call"), (60, 4, F32, "call"), (30, 3, F64, "jit")])


def reference(w, b, X):
    """lrjax.predict: 1 where z = X·w + b >= 0, i.e. a >= 0.5."""
    return lrjax.predict(lrjax.Params(w, b), X)


EXERCISE = Exercise(
    name="predict",
    args=("w", "b", "X"),
    returns="labels",
    exact=("labels",),
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    formula="label = 1 if σ(X·w + b) >= 0.5 else 0",
    doc={
        "en": "Labels 0/1 of shape (m,): 1 where the probability a >= 0.5.",
        "uk": "Мітки 0/1 форми (m,): 1 там, де ймовірність a >= 0.5.",
    },
    solution="A = jax.nn.sigmoid(X @ w + b)\nreturn (A >= 0.5).astype(jnp.int32)",
    points=1,
    mistakes=(
        Mistake(
            "threshold_on_z",
            "return (X @ w + b >= 0.5).astype(jnp.int32)",
            title={"en": "z thresholded at 0.5", "uk": "поріг 0.5 застосовано до z"},
            advice={
                "en": "0.5 is a threshold on the probability a = σ(z), not on z: a >= 0.5 "
                "exactly where z >= 0.",
                "uk": "0.5 є порогом для ймовірності a = σ(z), а не для z: a >= 0.5 саме "
                "там, де z >= 0.",
            },
        ),
        Mistake(
            "probabilities",
            "return jax.nn.sigmoid(X @ w + b)",
            title={"en": "probabilities, not labels", "uk": "ймовірності замість міток"},
            advice={
                "en": "Turn each probability into a label: 1 where a >= 0.5, else 0 "
                "(e.g. (A >= 0.5).astype(jnp.int32)).",
                "uk": "Перетвори кожну ймовірність на мітку: 1, де a >= 0.5, інакше 0 "
                "(наприклад, (A >= 0.5).astype(jnp.int32)).",
            },
        ),
    ),
    overrides={
        "not_float": {
            "title": {"en": "not numbers 0/1", "uk": "не числа 0/1"},
            "advice": {"en": "Return an array of 0s and 1s.", "uk": "Поверни масив із 0 та 1."},
        }
    },
)
