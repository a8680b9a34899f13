"""Assignment 2, "Gradient descent on m examples".

The cell plan and the code cells; the prose is in ``prose/m_examples/<lang>.md`` and the
four exercises in ``exercises/{compute_cost,propagate,gradient_descent,predict}.py``.
"""

ASSIGNMENT = "m_examples"
NOTEBOOK = "m_examples.ipynb"

# The same setup cell as assignment 1 (plans/gradient_descent.py).
SETUP = """\
import os

os.environ["JAX_PLATFORMS"] = "cpu"  # «setup_comment»

import jax
import jax.numpy as jnp
import numpy as np"""

TOOLS = """\
import time

import matplotlib.pyplot as plt

import lrjax"""

MEAN_OF_EXAMPLES = """\
def one_example(w, b, x, y):
    \"\"\"«doc_one_example»\"\"\"
    a = jax.nn.sigmoid(jnp.dot(w, x) + b)
    dz = a - y
    return x * dz, dz  # dw = x·dz, db = dz


rng = np.random.default_rng(0)
X_small = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)  # (m, n) = (5, 3)
Y_small = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0])  # (m,)
w_small, b_small = jnp.array([0.5, -0.25, 0.1]), jnp.array(0.2)

# in_axes: w and b are shared by all examples, x and y are taken row by row
per_example = jax.vmap(one_example, in_axes=(None, None, 0, 0))
all_dw, all_db = per_example(w_small, b_small, X_small, Y_small)  # (m, n), (m,)
dw, db, cost = propagate(w_small, b_small, X_small, Y_small)  # (n,), (), ()

print("«per_example_shapes»: dw", all_dw.shape, " db", all_db.shape)
print("«mean_of_examples»: dw =", all_dw.mean(axis=0), " db =", all_db.mean())
print("propagate: dw =", dw, " db =", db)
print("«max_difference»:", float(jnp.max(jnp.abs(all_dw.mean(axis=0) - dw))),
      float(jnp.abs(all_db.mean() - db)))"""

AUTODIFF = """\
def mean_cost(w, b):
    \"\"\"«doc_mean_cost»\"\"\"
    return lrjax.cost(lrjax.Params(w, b), X_small, Y_small)


auto_dw, auto_db = jax.grad(mean_cost, argnums=(0, 1))(w_small, b_small)
A_small = jax.nn.sigmoid(X_small @ w_small + b_small)
print("dw:", dw, " jax.grad:", auto_dw)
print("db:", db, " jax.grad:", auto_db)
print("«cost_word»:", cost, " compute_cost:", compute_cost(A_small, Y_small),
      " lrjax.cost:", mean_cost(w_small, b_small))
print("«max_difference»:", float(jnp.max(jnp.abs(dw - auto_dw))),
      float(jnp.abs(db - auto_db)))"""

DATA = """\
data = lrjax.load_breast_cancer()
X_all = jnp.asarray(data.X, jnp.float32)  # (569, 30): «rows_comment»
Y_all = jnp.asarray(data.y, jnp.float32)  # (569,): «labels_comment»
X_train, X_test, Y_train, Y_test = lrjax.train_test_split(
    X_all, Y_all, key=jax.random.key(0), test_fraction=0.2
)
X_train, X_test = lrjax.standardize(X_train, X_test)  # «standardize_comment»
print("X_train:", X_train.shape, " Y_train:", Y_train.shape)
print("X_test:", X_test.shape, " Y_test:", Y_test.shape)"""

TRAIN = """\
learning_rate, steps = 0.05, 50
w0 = jnp.zeros(X_train.shape[1], jnp.float32)  # (n,)
b0 = jnp.array(0.0, jnp.float32)

start = time.perf_counter()
w, b, costs = gradient_descent(w0, b0, X_train, Y_train, learning_rate, steps)
seconds = time.perf_counter() - start

train_accuracy = float(jnp.mean(predict(w, b, X_train) == Y_train))
test_accuracy = float(jnp.mean(predict(w, b, X_test) == Y_test))
print(f"«cost_word»: {float(costs[0]):.4f} -> {float(costs[-1]):.4f} "
      f"(«steps_done» {steps}, {seconds:.2f} s)")
print(f"«train_accuracy»: {train_accuracy:.3f}, «test_accuracy»: {test_accuracy:.3f}")"""

FIT = """\
params, history = lrjax.fit(X_train, Y_train, learning_rate=learning_rate, steps=steps)
print("«max_difference» w:", float(jnp.max(jnp.abs(params.w - w))),
      " b:", float(jnp.abs(params.b - b)),
      " costs:", float(jnp.max(jnp.abs(history - costs))))
print("lrjax.fit, «test_accuracy»:", float(lrjax.accuracy(params, X_test, Y_test)))

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(costs, lw=3, label="gradient_descent")
ax.plot(history, "k--", label="lrjax.fit")
ax.set_xlabel("«step_word»")
ax.set_ylabel("«cost_axis»")
ax.set_title("«cost_title»")
ax.legend()
plt.show()"""

TIMING = """\
def loop_gradients(w, b, X, Y):
    \"\"\"«doc_loop»\"\"\"
    m = X.shape[0]
    dw, db = jnp.zeros_like(w), 0.0
    for i in range(m):  # «loop_comment»
        a = jax.nn.sigmoid(jnp.dot(w, X[i]) + b)
        dz = a - Y[i]
        dw = dw + X[i] * dz
        db = db + dz
    return dw / m, db / m


def best_time(fn, *args, repeats):
    \"\"\"«doc_best_time»\"\"\"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))  # «block_comment»
        times.append(time.perf_counter() - start)
    return min(times)


X_part, Y_part = X_train[:200], Y_train[:200]
fast_propagate = jax.jit(propagate)
jax.block_until_ready(fast_propagate(w, b, X_part, Y_part))  # «compile_comment»
loop_dw, loop_db = loop_gradients(w, b, X_part, Y_part)
fast_dw, fast_db, _ = fast_propagate(w, b, X_part, Y_part)

loop_s = best_time(loop_gradients, w, b, X_part, Y_part, repeats=3)
fast_s = best_time(fast_propagate, w, b, X_part, Y_part, repeats=20)
print(f"«loop_label»: {loop_s * 1e3:.3f} ms")
print(f"«vector_label»: {fast_s * 1e3:.3f} ms")
print(f"«speedup»: {loop_s / fast_s:.0f}×")
print("«max_difference»:", float(jnp.max(jnp.abs(loop_dw - fast_dw))),
      float(jnp.abs(loop_db - fast_db)))"""

# (kind, name): "md" cells come from the prose file, "code" cells from CODE below,
# "exercise" cells (the task's Markdown, the solution, the test) from the declaration
# assignments/exercises/<name>.py.
PLAN = [
    ("md", "intro"),
    ("setup", "setup"),
    ("code", "tools"),
    ("md", "m_examples"),
    ("exercise", "compute_cost"),
    ("exercise", "propagate"),
    ("md", "mean_of_examples"),
    ("code", "mean_of_examples"),
    ("md", "autodiff"),
    ("code", "autodiff"),
    ("exercise", "gradient_descent"),
    ("exercise", "predict"),
    ("md", "data"),
    ("code", "data"),
    ("md", "train"),
    ("code", "train"),
    ("md", "fit"),
    ("code", "fit"),
    ("md", "timing"),
    ("code", "timing"),
    ("md", "wrap_up"),
]
CODE = {
    "setup": SETUP,
    "tools": TOOLS,
    "mean_of_examples": MEAN_OF_EXAMPLES,
    "autodiff": AUTODIFF,
    "data": DATA,
    "train": TRAIN,
    "fit": FIT,
    "timing": TIMING,
}
