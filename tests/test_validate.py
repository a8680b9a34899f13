"""Every bad input is refused with a ValueError that names the argument and the fix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrjax

P = lrjax.Params(jnp.zeros(3), jnp.zeros(()))
X = jnp.ones((200, 3))
Y = jnp.asarray(np.arange(200) % 2)

BAD_CALLS = {
    "y-column-vector": (
        lambda: lrjax.cost(P, X, Y.reshape(200, 1)),
        r"Expected y of shape \(m,\) = \(200,\), got \(200, 1\): pass y.ravel\(\)",
    ),
    "y-wrong-length": (lambda: lrjax.backward(P, X, Y[:10]), r"got \(10,\).*one label per row"),
    "y-for-one-example": (lambda: lrjax.backward(P, X[0], Y[:2]), r"shape \(\) .*one example"),
    "x-transposed": (lambda: lrjax.forward(P, X.T), r"got shape \(3, 200\): pass x.T"),
    "x-wrong-features": (lambda: lrjax.forward(P, jnp.ones((5, 4))), r"with 3 features"),
    "x-3d": (lambda: lrjax.forward(P, jnp.ones((2, 2, 3))), r"reshape it to \(m, 3\)"),
    "x-int": (lambda: lrjax.forward(P, jnp.ones((2, 3), jnp.int32)), r"astype\(jnp.float32\)"),
    "x-nan": (
        lambda: lrjax.cost(P, X.at[3, 1].set(jnp.nan), Y),
        r"finite values in x, found 1 NaN",
    ),
    "x-inf": (
        lambda: lrjax.fit(X.at[0, 0].set(jnp.inf), Y, learning_rate=0.1, steps=1),
        r"finite values in X, found 1",
    ),
    "labels-not-binary": (lambda: lrjax.cost(P, X, Y * 2), r"labels in \{0, 1\}.*found \[2\]"),
    "labels-minus-one": (
        lambda: lrjax.fit(X, Y * 2 - 1, learning_rate=0.1, steps=1),
        r"found \[-1\].*positive_class",
    ),
    "w-column": (lambda: lrjax.forward(lrjax.Params(jnp.zeros((3, 1)), 0.0), X), r"w.ravel\(\)"),
    "b-vector": (lambda: lrjax.forward(lrjax.Params(jnp.zeros(3), jnp.zeros(1)), X), r"b.reshape"),
    "params-tuple": (lambda: lrjax.forward((jnp.zeros(3), 0.0), X), r"lrjax.Params\(w, b\)"),
    "steps-zero": (lambda: lrjax.fit(X, Y, learning_rate=0.1, steps=0), r"steps > 0, got 0"),
    "steps-float": (lambda: lrjax.fit(X, Y, learning_rate=0.1, steps=10.0), r"positive int"),
    "lr-negative": (lambda: lrjax.fit(X, Y, learning_rate=-1.0, steps=1), r"learning_rate > 0"),
    "lr-nan": (lambda: lrjax.fit(X, Y, learning_rate=float("nan"), steps=1), r"learning_rate"),
    "fit-one-example": (lambda: lrjax.fit(X[0], Y[0], learning_rate=0.1, steps=1), "reshape"),
    "init-wrong-size": (
        lambda: lrjax.fit(X, Y, learning_rate=0.1, steps=1, init=lrjax.Params(jnp.zeros(2), 0.0)),
        r"with 2 features",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_bad_input_raises_value_error_naming_the_fix(case):
    call, pattern = BAD_CALLS[case]
    with pytest.raises(ValueError, match=pattern):
        call()


def test_shape_checks_run_under_jit():
    with pytest.raises(ValueError, match=r"pass y.ravel\(\)"):
        jax.jit(lrjax.cost)(P, X, Y.reshape(200, 1))


def test_value_checks_skip_under_tracing():
    """Under jit labels are tracers: the call compiles, it does not raise."""
    assert np.isfinite(jax.jit(lrjax.cost)(P, X, Y))


def test_lrjax_modules_import_each_other_without_a_cycle():
    """Input checks live in _validate, so no module needs a late import to break a loop
    (e.g. _train <-> _parallel); grader uses lrjax's public API only."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    graph = {}
    for path in sorted((root / "lrjax").glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "lrjax":
                names |= {f"lrjax.{a.name}" for a in node.names if a.name.startswith("_")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lrjax."):
                names.add(node.module)
        graph[f"lrjax.{path.stem}"] = names - {"lrjax.__init__"}
    done, stack = set(), []

    def visit(module):
        assert module not in stack, f"import cycle: {' -> '.join([*stack, module])}"
        if module in done or module not in graph:
            return
        stack.append(module)
        for dep in graph[module]:
            visit(dep)
        stack.pop()
        done.add(module)

    for module in graph:
        visit(module)
    for path in (root / "grader").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lrjax."):
                raise AssertionError(f"{path} imports {node.module}: use lrjax's public API")


@pytest.mark.parametrize(
    "layout",
    ["contiguous", "column-slice", "fortran"],
)
def test_a_large_numpy_x_reaches_jax_through_an_aligned_copy_of_its_own(layout, x64):
    """The copy is 64-byte aligned (used in place by XLA:CPU), equal to X, and X's later
    changes, or X's deletion, leave it alone."""
    import gc

    from lrjax._validate import ALIGN, ALIGNED_MIN_BYTES, as_device_array

    if jax.default_backend() != "cpu":
        pytest.skip("the aligned copy is for the CPU device")
    rng = np.random.default_rng(0)
    base = rng.normal(size=(ALIGNED_MIN_BYTES // 8 // 10 + 7, 12))
    X = {"contiguous": base, "column-slice": base[:, :10], "fortran": np.asfortranarray(base)}
    X = X[layout]
    want = X.copy()
    got = as_device_array(X)
    assert got.dtype == jnp.float64 and got.shape == X.shape
    assert got.unsafe_buffer_pointer() % ALIGN == 0
    X[...] = -1.0  # the caller reuses its array
    del X, base
    gc.collect()
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(np.asarray(got * 1.0), want)


def test_float64_numpy_x_becomes_float32_without_x64():
    from lrjax._validate import ALIGNED_MIN_BYTES, as_device_array

    X = np.full((ALIGNED_MIN_BYTES // 8 + 1, 1), 0.1)
    got = as_device_array(X)
    assert got.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(got), X.astype(np.float32))
