"""compute_cost(A, Y): the cost J = (1/m)·Σ L(a, y) of m predictions, from probabilities."""

import jax.numpy as jnp
import numpy as np

import lrjax
from grader import Exercise, Mistake, case

F32, F64 = np.float32, np.float64


def _data(rng, m, dtype):
    """m probabilities away from 0 and 1 (no log of 0 for a right answer), both labels."""
    a = rng.uniform(0.03, 0.97, size=m).astype(dtype)
    y = rng.permutation(np.arange(m) % 2).astype(dtype)
    return a, y


def _cases(seed, rows):
    rng = np.random.default_rng(seed)
    out = []
    for m, dtype, mode in rows:
        a, y = _data(rng, m, dtype)
        out.append(case(a, y, mode=mode, label=f"m={m} {np.dtype(dtype).name} {mode}"))
    return tuple(out)


VISIBLE = _cases(11, [(4, F32, "call"), (6, F64, "call"), (5, F32, "jit")])
HIDDEN = _cases(12, [(1, F32, "call"), (50, F32, "call"), (200, F64, "call"),
                     (7, F64, "jit"), (33, F32, "jit")])  # fmt: skip
_rng = np.random.default_rng(13)
PROBES = tuple(case(*_data(_rng, m, F32), mode="trace", label=f"trace m={m}") for m in (4, 8))


def reference(A, Y):
    """The mean of lrjax's loss over the examples."""
    return jnp.mean(lrjax.loss(A, Y))


LOOP = """\
m = A.shape[0]
total = 0.0
for i in range(m):  # one example at a time
    total = total + Y[i] * jnp.log(A[i]) + (1 - Y[i]) * jnp.log(1 - A[i])
return -total / m"""

EXERCISE = Exercise(
    name="compute_cost",
    args=("A", "Y"),
    returns="cost",
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    probes=PROBES,
    formula="J = -(1/m) · Σ (y·log(a) + (1 - y)·log(1 - a))",
    doc={
        "en": "The mean loss of m predictions: A, Y have shape (m,); returns a scalar.",
        "uk": "Середня втрата m передбачень: A, Y мають форму (m,); повертає скаляр.",
    },
    solution="return -jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))",
    points=2,
    tolerance={"float32": (2e-5, 1e-7), "float64": (1e-9, 1e-14)},
    mistakes=(
        Mistake(
            "cost_sign",
            "return jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))",
            title={"en": "the cost's sign", "uk": "знак вартості"},
            advice={
                "en": "The cost came out negative: a log of a probability is never positive, "
                "so the loss needs the minus in front to be >= 0. {formula_sentence}",
                "uk": "Вартість вийшла від'ємною: логарифм імовірності ніколи не додатний, "
                "тож втраті потрібен мінус спереду, щоб вона була >= 0. {formula_sentence}",
            },
        ),
        Mistake(
            "cost_summed",
            "return -jnp.sum(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))",
            title={"en": "summed, not averaged", "uk": "сума замість середнього"},
            advice={
                "en": "The cost is the mean over the m examples: divide the sum by m "
                "(or use jnp.mean). {formula_sentence}",
                "uk": "Вартість є середнім за m зразками: поділи суму на m "
                "(або використай jnp.mean). {formula_sentence}",
            },
        ),
        Mistake(
            "cost_one_term",
            "return -jnp.mean(Y * jnp.log(A))",
            title={"en": "the y = 0 term is missing", "uk": "бракує доданка для y = 0"},
            advice={
                "en": "Examples with y = 0 add (1 - y)·log(1 - a) to the loss; without it "
                "they cost nothing. {formula_sentence}",
                "uk": "Зразки з y = 0 додають до втрати (1 - y)·log(1 - a); без нього вони "
                "нічого не коштують. {formula_sentence}",
            },
        ),
        Mistake(
            "python_loop",
            LOOP,
            hint=True,
            title={"en": "a Python loop over the examples", "uk": "цикл Python за зразками"},
            advice={
                "en": "The numbers are right, but a loop makes the traced program grow "
                "with m, and it runs far slower than one array expression: use jnp.mean "
                "over the whole arrays.",
                "uk": "Числа правильні, але з циклом трасована програма росте разом з m і "
                "працює значно повільніше за один вираз над масивами: використай "
                "jnp.mean для цілих масивів.",
            },
        ),
    ),
)
