"""Assignment 1, "Gradient descent for logistic regression, one example at a time".

The cell plan and the code cells; the prose is in ``prose/gradient_descent/<lang>.md``
and the four exercises in ``exercises/compute_{da,dz,dw,db}.py``.
"""

ASSIGNMENT = "gradient_descent"
NOTEBOOK = "gradient_descent.ipynb"

SETUP = """\
import os

os.environ["JAX_PLATFORMS"] = "cpu"  # «setup_comment»

import jax
import jax.numpy as jnp
import numpy as np"""

TOOLS = """\
from functools import partial

import matplotlib.pyplot as plt

import lrjax"""

GRAPH = r"""
def draw_graph(ax):
    ys = {"x1": 4, "w1": 3, "x2": 2, "w2": 1, "b": 0}
    names = {"x1": "$x_1$", "w1": "$w_1$", "x2": "$x_2$", "w2": "$w_2$", "b": "$b$"}
    box = {"boxstyle": "round,pad=0.4", "ec": "0.3"}
    arrow = {"arrowstyle": "->", "color": "0.3"}
    back = {"arrowstyle": "->", "color": "tab:red", "linestyle": "--"}
    for name, y in ys.items():  # the parameters, in blue, are what gradient descent changes
        colour = "#cfe2f3" if name in ("w1", "w2", "b") else "#f3f3f3"
        ax.text(0, y, names[name], ha="center", va="center", fontsize=13,
                bbox={**box, "fc": colour})
        ax.annotate("", xy=(2.05, 2 + (y - 2) * 0.1), xytext=(0.35, y), arrowprops=arrow)
    nodes = [(3.3, "$z = w_1 x_1 + w_2 x_2 + b$"), (6.4, r"$a = \sigma(z)$"), (8.9, r"$L(a, y)$")]
    for x, text in nodes:
        ax.text(x, 2, text, ha="center", va="center", fontsize=13, bbox={**box, "fc": "#f3f3f3"})
    for x0, x1 in ((4.55, 5.82), (7.0, 8.42)):
        ax.annotate("", xy=(x1, 2), xytext=(x0, 2), arrowprops=arrow)
        ax.annotate("", xy=(x0, 1.55), xytext=(x1, 1.55), arrowprops=back)
    ax.text(5.19, 1.15, "dz = a - y", color="tab:red", ha="center")
    ax.text(7.71, 1.15, "da", color="tab:red", ha="center")
    for name, text in (("w1", "dw1 = x1·dz"), ("w2", "dw2 = x2·dz"), ("b", "db = dz")):
        # left of the node, where no arrow goes
        ax.text(-0.4, ys[name], text, color="tab:red", ha="right", va="center", fontsize=10)
    ax.text(5.3, 3.6, "«forward_label» →", color="0.3", ha="center", fontsize=11)
    ax.text(5.3, 0.3, "← «backward_label»", color="tab:red", ha="center",
            fontsize=11)
    ax.set_xlim(-1.7, 9.8)
    ax.set_ylim(-0.7, 4.6)
    ax.axis("off")


fig, ax = plt.subplots(figsize=(11, 4.5))
draw_graph(ax)
ax.set_title("«graph_title»")
plt.show()
""".strip()

BY_HAND = """\
import math

x1, x2, y = 1.0, 2.0, 1.0
w1, w2, b, alpha = 0.5, -0.25, 0.1, 0.5

z = w1 * x1 + w2 * x2 + b
a = 1 / (1 + math.exp(-z))
loss = -(y * math.log(a) + (1 - y) * math.log(1 - a))
da = -y / a + (1 - y) / (1 - a)
dz = a - y
print(f"z = {z:.5f}, a = {a:.5f}, L = {loss:.5f}")
print(f"da = {da:.5f}, da * a * (1 - a) = {da * a * (1 - a):.5f}, dz = a - y = {dz:.5f}")

dw1, dw2, db = x1 * dz, x2 * dz, dz
w1, w2, b = w1 - alpha * dw1, w2 - alpha * dw2, b - alpha * db
z = w1 * x1 + w2 * x2 + b
a = 1 / (1 + math.exp(-z))
print(f"dw1 = {dw1:.5f}, dw2 = {dw2:.5f}, db = {db:.5f}")
print(f"w1 = {w1:.5f}, w2 = {w2:.5f}, b = {b:.5f}")
print(f"«after_step»: a = {a:.5f}, L = {-math.log(a):.5f}")"""

ONE_UPDATE = """\
x = jnp.array([1.0, 2.0])
y = jnp.array(1.0)
w, b, alpha = jnp.array([0.5, -0.25]), jnp.array(0.1), 0.5

a = jax.nn.sigmoid(jnp.dot(w, x) + b)
dz = compute_dz(a, y)
dw = compute_dw(x, dz)
db = compute_db(dz)
w_new, b_new = w - alpha * dw, b - alpha * db
a_new = jax.nn.sigmoid(jnp.dot(w_new, x) + b_new)

print("da =", compute_da(a, y), " dz =", dz, " dw =", dw, " db =", db)
print("w:", w, "->", w_new, "  b:", b, "->", b_new)
print("«loss_word»:", lrjax.loss(a, y), "->", lrjax.loss(a_new, y))"""

DATA = """\
data = lrjax.load_breast_cancer()
features = ("mean_radius", "mean_texture")
columns = [data.feature_names.index(name) for name in features]
X = lrjax.standardize(jnp.asarray(data.X[:, columns], jnp.float32))  # (m, 2)
Y = jnp.asarray(data.y, jnp.float32)  # (m,)
print("X:", X.shape, " Y:", Y.shape, " «share_malignant»:", float(Y.mean()))"""

TRAIN = """\
def batch_gradients(w, b, X, Y):
    \"\"\"«doc_batch»\"\"\"
    a = jax.nn.sigmoid(X @ w + b)  # (m,)
    dz = jax.vmap(compute_dz)(a, Y)  # (m,)
    dw = jnp.mean(jax.vmap(compute_dw)(X, dz), axis=0)  # (m, n) -> (n,)
    db = jnp.mean(jax.vmap(compute_db)(dz))  # (m,) -> ()
    return dw, db


def mean_loss(w, b, X, Y):
    return jnp.mean(lrjax.loss(jax.nn.sigmoid(X @ w + b), Y))


@partial(jax.jit, static_argnames="steps")
def train(X, Y, alpha, steps):
    def one_step(params, _):
        w, b = params
        dw, db = batch_gradients(w, b, X, Y)
        return (w - alpha * dw, b - alpha * db), mean_loss(w, b, X, Y)

    start = (jnp.zeros(X.shape[1], X.dtype), jnp.zeros((), X.dtype))
    (w, b), losses = jax.lax.scan(one_step, start, length=steps)
    return w, b, losses


w, b, losses = train(X, Y, 0.5, steps=300)
accuracy = jnp.mean((X @ w + b > 0) == (Y == 1))
print("w =", w, " b =", b)
print(f"«loss_word»: {float(losses[0]):.4f} -> {float(losses[-1]):.4f}")
print(f"«accuracy_word»: {float(accuracy):.3f}")"""

PLOT = """\
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
classes = ((0, "tab:blue", "«benign»"), (1, "tab:red", "«malignant»"))
for label, colour, name in classes:
    rows = Y == label
    left.scatter(X[rows, 0], X[rows, 1], s=10, alpha=0.6, c=colour, label=name)
grid = np.linspace(float(X[:, 0].min()), float(X[:, 0].max()), 2)
left.plot(grid, -(w[0] * grid + b) / w[1], "k-", label="w·x + b = 0")
left.set_ylim(float(X[:, 1].min()) - 0.5, float(X[:, 1].max()) + 0.5)
left.set_xlabel("«feature_1»")
left.set_ylabel("«feature_2»")
left.set_title("«boundary_title»")
left.legend()
right.plot(losses)
right.set_xlabel("«step_word»")
right.set_ylabel("«loss_word»")
right.set_title("«loss_title»")
plt.tight_layout()
plt.show()"""

COMPARE = """\
auto_dw, auto_db = jax.grad(mean_loss, argnums=(0, 1))(w, b, X, Y)
mine_dw, mine_db = batch_gradients(w, b, X, Y)
print("dw:", mine_dw, " jax.grad:", auto_dw)
print("db:", mine_db, " jax.grad:", auto_db)
print("«max_difference»:", float(jnp.max(jnp.abs(mine_dw - auto_dw))),
      float(jnp.abs(mine_db - auto_db)))

a0, y0 = jnp.array(0.3), jnp.array(1.0)
print("da:", compute_da(a0, y0), " jax.grad:", jax.grad(lrjax.loss)(a0, y0))"""

# (kind, name): "md" cells come from the prose file, "code" cells from CODE below,
# "exercise" cells (the task's Markdown, the solution, the test) from the declaration
# assignments/exercises/<name>.py.
PLAN = [
    ("md", "intro"),
    ("setup", "setup"),
    ("md", "graph"),
    ("code", "tools"),
    ("code", "graph_figure"),
    ("md", "chain_rule"),
    ("md", "by_hand"),
    ("code", "by_hand"),
    ("exercise", "compute_da"),
    ("exercise", "compute_dz"),
    ("exercise", "compute_dw"),
    ("exercise", "compute_db"),
    ("md", "one_update"),
    ("code", "one_update"),
    ("md", "many_examples"),
    ("code", "data"),
    ("code", "train"),
    ("code", "plot"),
    ("md", "compare"),
    ("code", "compare"),
    ("md", "wrap_up"),
]
CODE = {
    "setup": SETUP,
    "tools": TOOLS,
    "graph_figure": GRAPH,
    "by_hand": BY_HAND,
    "one_update": ONE_UPDATE,
    "data": DATA,
    "train": TRAIN,
    "plot": PLOT,
    "compare": COMPARE,
}
