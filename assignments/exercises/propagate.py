"""propagate(w, b, X, Y): the forward and backward pass for all m examples at once."""

import numpy as np

import lrjax
from grader import Exercise, Mistake, case

F32, F64 = np.float32, np.float64


def _data(rng, m, n, dtype):
    """w, b, X, Y with |z| small enough that no probability rounds to 0 or 1."""
    X = rng.normal(size=(m, n)).astype(dtype)
    w = rng.normal(scale=0.5, size=n).astype(dtype)
    b = np.asarray(rng.normal(scale=0.5), dtype)
    Y = rng.permutation(np.arange(m) % 2).astype(dtype)
    return w, b, X, Y


def _cases(seed, rows):
    rng = np.random.default_rng(seed)
    return tuple(
        case(*_data(rng, m, n, dt), mode=mode, label=f"m={m} n={n} {np.dtype(dt).name} {mode}")
        for m, n, dt, mode in rows
    )


# The first case is square (m = n): code written for the (n, m) layout runs there and
# gives wrong numbers, so that mistake is named instead of a shape error.
VISIBLE = _cases(21, [(3, 3, F32, "call"), (5, 2, F32, "call"), (8, 3, F64, "call"),
                      (6, 4, F32, "jit")])  # fmt: skip
HIDDEN = _cases(22, [(1, 2, F32, "call"), (40, 5, F32, "call"), (4, 4, F64, "call"),
                     (100, 3, F64, "jit"), (7, 1, F32, "jit")])  # fmt: skip
_rng = np.random.default_rng(23)
PROBES = tuple(case(*_data(_rng, m, 3, F32), mode="trace", label=f"trace m={m}") for m in (4, 8))


def reference(w, b, X, Y):
    """lrjax's backward pass (averaged over m) and its cost, from logits."""
    params = lrjax.Params(w, b)
    grads = lrjax.backward(params, X, Y)
    return grads.dw, grads.db, lrjax.cost(params, X, Y)


def _body(dw="X.T @ dZ / m", db="jnp.mean(dZ)", cost=None):
    cost = cost or "-jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))"
    return (f"m = X.shape[0]\nA = jax.nn.sigmoid(X @ w + b)\ncost = {cost}\ndZ = A - Y\n"
            f"dw = {dw}\ndb = {db}\nreturn dw, db, cost")  # fmt: skip


SOLUTION = _body()
TRANSPOSED = """\
m = X.shape[1]  # X read as (n, m), one example per column
A = jax.nn.sigmoid(jnp.dot(w, X) + b)
cost = -jnp.sum(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A)) / m
dZ = A - Y
dw = jnp.dot(X, dZ) / m
db = jnp.sum(dZ) / m
return dw, db, cost"""
LOOP = """\
m = X.shape[0]
dw, db, cost = jnp.zeros_like(w), 0.0, 0.0
for i in range(m):  # one example at a time
    a = jax.nn.sigmoid(jnp.dot(X[i], w) + b)
    cost = cost - (Y[i] * jnp.log(a) + (1 - Y[i]) * jnp.log(1 - a))
    dw = dw + X[i] * (a - Y[i])
    db = db + (a - Y[i])
return dw / m, db / m, cost / m"""


def _text(en, uk):
    return {"en": en, "uk": uk}


EXERCISE = Exercise(
    name="propagate",
    args=("w", "b", "X", "Y"),
    returns=("dw", "db", "cost"),
    reference=reference,
    visible=VISIBLE,
    hidden=HIDDEN,
    probes=PROBES,
    formula="A = σ(X·w + b), dZ = A - Y, dw = Xᵀ·dZ / m, db = mean(dZ), cost = mean(L(A, Y))",
    doc={
        "en": "Gradients and cost for m examples: w (n,), b (), X (m, n), Y (m,).",
        "uk": "Градієнти та вартість для m зразків: w (n,), b (), X (m, n), Y (m,).",
    },
    solution=SOLUTION,
    points=4,
    tolerance={"float32": (1e-4, 1e-6), "float64": (1e-9, 1e-12)},
    mistakes=(
        Mistake(
            "X_transposed",
            TRANSPOSED,
            title=_text("X read as (n, m)", "X прочитано як (n, m)"),
            advice=_text(
                "Here X has one example per ROW, shape (m, n), as in lrjax: Z = X @ w + b, "
                "dw = X.T @ dZ / m, and m = X.shape[0]. The (n, m) layout of other courses "
                "swaps every product.",
                "Тут X має по одному зразку в кожному РЯДКУ, форма (m, n), як у lrjax: "
                "Z = X @ w + b, dw = X.T @ dZ / m, а m = X.shape[0]. Розкладка (n, m) з інших "
                "курсів міняє місцями кожен добуток.",
            ),
        ),
        Mistake(
            "dw_summed",
            _body(dw="X.T @ dZ"),
            title=_text(
                "dw summed, not averaged (the 1/m is missing)",
                "dw підсумовано, а не усереднено (бракує 1/m)",
            ),
            advice=_text(
                "The cost is a mean over m examples, so its gradient is a mean too: "
                "dw = X.T @ dZ / m.",
                "Вартість є середнім за m зразками, тож і її градієнт є середнім: "
                "dw = X.T @ dZ / m.",
            ),
        ),
        Mistake(
            "db_summed",
            _body(db="jnp.sum(dZ)"),
            title=_text("db summed, not averaged", "db підсумовано, а не усереднено"),
            advice=_text(
                "db is the mean of dZ over the m examples: db = jnp.mean(dZ).",
                "db є середнім dZ за m зразками: db = jnp.mean(dZ).",
            ),
        ),
        Mistake(
            "cost_sign",
            _body(cost="jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))"),
            title=_text("the cost's sign", "знак вартості"),
            advice=_text(
                "The loss is -(y·log(a) + (1 - y)·log(1 - a)), with the minus: a cost is never "
                "negative.",
                "Втрата дорівнює -(y·log(a) + (1 - y)·log(1 - a)), з мінусом: вартість ніколи "
                "не буває від'ємною.",
            ),
        ),
        Mistake(
            "python_loop",
            LOOP,
            hint=True,
            title=_text("a Python loop over the examples", "цикл Python за зразками"),
            advice=_text(
                "The numbers are right, but the loop makes the traced program grow with m "
                "and runs far slower: write it with X @ w and X.T @ dZ, no loop.",
                "Числа правильні, але з циклом трасована програма росте разом з m і працює "
                "значно повільніше: запиши через X @ w і X.T @ dZ, без циклу.",
            ),
        ),
    ),
)
