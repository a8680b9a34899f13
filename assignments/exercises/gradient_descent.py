"""gradient_descent(w, b, X, Y, learning_rate, steps): the training loop, costs recorded."""

import numpy as np

import lrjax
from grader import Exercise, Mistake, case

F32, F64 = np.float32, np.float64


def _cases(seed, rows):
    rng = np.random.default_rng(seed)
    out = []
    for m, n, dtype, lr, steps in rows:
        X = rng.normal(size=(m, n)).astype(dtype)
        Y = rng.permutation(np.arange(m) % 2).astype(dtype)
        w = rng.normal(scale=0.3, size=n).astype(dtype)
        b = np.asarray(rng.normal(scale=0.3), dtype)
        label = f"m={m} n={n} {np.dtype(dtype).name} lr={lr} steps={steps}"
        out.append(case(w, b, X, Y, lr, steps, label=label))
    return tuple(out)


VISIBLE = _cases(31, [(6, 2, F32, 0.5, 5), (10, 3, F64, 0.1, 8)])
HIDDEN = _cases(32, [(1, 2, F32, 1.0, 3), (50, 4, F32, 0.3, 30), (20, 3, F64, 2.0, 12),
                     (9, 1, F64, 0.05, 1)])  # fmt: skip


def reference(w, b, X, Y, learning_rate, steps):
    """lrjax.fit from (w, b): the trained parameters and the cost before each step."""
    params, history = lrjax.fit(X, Y, learning_rate=learning_rate, steps=steps,
                                init=lrjax.Params(w, b), method="scan")  # fmt: skip
    return params.w, params.b, history


def _body(update="-", after=False):
    record = "    costs.append(cost)\n"
    return (
        "costs = []\n"
        "for _ in range(steps):\n"
        "    A = jax.nn.sigmoid(X @ w + b)\n"
        "    cost = -jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))\n"
        + ("" if after else record)
        + "    dZ = A - Y\n"
        f"    w = w {update} learning_rate * X.T @ dZ / X.shape[0]\n"
        f"    b = b {update} learning_rate * jnp.mean(dZ)\n"
        + (
            "    A = jax.nn.sigmoid(X @ w + b)\n"
            "    costs.append(-jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A)))\n"
            if after
            else ""
        )
        + "return w, b, jnp.stack(costs)"
    )


EXERCISE = Exercise(
    name="gradient_descent",
    args=("w", "b", "X", "Y", "learning_rate", "steps"),
    returns=("w", "b", "costs"),
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    formula="w := w - α·dw, b := b - α·db, steps times; costs[i] = the cost before step i",
    doc={
        "en": "Gradient descent from (w, b); returns the trained w, b and the (steps,) "
        "costs, costs[i] before step i.",
        "uk": "Градієнтний спуск від (w, b); повертає навчені w, b та вартості форми "
        "(steps,), costs[i] перед кроком i.",
    },
    stub="# use your propagate(w, b, X, Y)",
    solution="""\
costs = []
for _ in range(steps):
    dw, db, cost = propagate(w, b, X, Y)
    costs.append(cost)
    w = w - learning_rate * dw
    b = b - learning_rate * db
return w, b, jnp.stack(costs)""",
    points=3,
    tolerance={"float32": (1e-4, 1e-6), "float64": (1e-9, 1e-12)},
    mistakes=(
        Mistake(
            "update_plus",
            _body(update="+"),
            title={
                "en": "a step up the slope (+ instead of -)",
                "uk": "крок угору схилом (+ замість -)",
            },
            advice={
                "en": "The gradient points to where the cost grows; descent goes the other "
                "way: w = w - learning_rate * dw, and the same for b.",
                "uk": "Градієнт указує, куди вартість зростає; спуск іде в протилежний бік: "
                "w = w - learning_rate * dw, і так само для b.",
            },
        ),
        Mistake(
            "costs_after_step",
            _body(after=True),
            title={"en": "costs recorded after the step", "uk": "вартість записано після кроку"},
            advice={
                "en": "costs[i] is the cost of the parameters step i starts from: record it "
                "before you update w and b (costs[0] is the cost of the initial w, b).",
                "uk": "costs[i] є вартістю параметрів, з яких починається крок i: запиши її "
                "до оновлення w і b (costs[0] — вартість початкових w, b).",
            },
        ),
    ),
)
