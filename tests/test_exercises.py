"""The course's exercise declarations: their cases, and two independent checks of every
reference answer (the lecture's formulas in NumPy, and jax.grad of lrjax's loss)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _exercises import COURSE, EXERCISES, FIRST, NAMES, SECOND, bundle, cases

import lrjax
from grader.checks import exercise_paths, find_exercise, reference
from grader.protocol import case_dtype


def all_cases(names=NAMES):
    return [
        pytest.param(EXERCISES[n], c, id=f"{n}-{c.label}")
        for n in names
        for c in cases(n, hidden=True)
    ]


def _f64(args):
    return [np.asarray(a, np.float64) if isinstance(a, (np.ndarray, np.generic)) else a
            for a in args]  # fmt: skip


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_answer(name: str, args: list):
    """The lecture's formulas in float64 NumPy, for one call (``vmap`` cases: per row)."""
    if name == "compute_da":
        a, y = args
        return -y / a + (1 - y) / (1 - a)
    if name == "compute_dz":
        a, y = args
        return a - y
    if name == "compute_dw":
        x, dz = args
        return x * dz
    if name == "compute_db":
        return args[0]
    if name == "compute_cost":
        A, Y = args
        return -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    if name == "propagate":
        w, b, X, Y = args
        A = _sigmoid(X @ w + b)
        cost = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
        return X.T @ (A - Y) / len(Y), np.mean(A - Y), cost
    if name == "gradient_descent":
        w, b, X, Y, lr, steps = args
        costs = []
        for _ in range(steps):
            A = _sigmoid(X @ w + b)
            costs.append(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))
            w, b = w - lr * X.T @ (A - Y) / len(Y), b - lr * np.mean(A - Y)
        return w, b, np.array(costs)
    w, b, X = args
    return (_sigmoid(X @ w + b) >= 0.5).astype(np.int32)


def answer(exercise, case):
    """The declaration's right answer for ``case``, as the checks and the grader use it
    (computed once per process, in the cached bundle)."""
    found = bundle(exercise.name, hidden=True)
    return next(w for c, w in zip(found.cases, found.wants, strict=True) if c.label == case.label)


def test_the_bundle_holds_what_reference_computes():
    ex = EXERCISES["propagate"]
    for case, want in zip(cases("propagate", hidden=True), bundle("propagate", hidden=True).wants,
                          strict=True):  # fmt: skip
        for got, w in zip(reference(ex, case), want, strict=True):
            np.testing.assert_array_equal(got, w)


def numpy_reference(exercise, case):
    args = _f64(case.args)
    if case.mode != "vmap":
        return numpy_answer(exercise.name, args)
    rows = [numpy_answer(exercise.name, [a[i] for a in args]) for i in range(len(args[0]))]
    return np.stack(rows)


@pytest.mark.parametrize("name", NAMES)
def test_cases_are_deterministic_and_labelled_uniquely(name):
    again = find_exercise(COURSE, name).cases(hidden=True)
    for one, two in zip(cases(name, hidden=True), again, strict=True):
        assert (one.function, one.mode, one.label, one.static) == (name, two.mode, two.label, ())
        for x, y in zip(one.args, two.args, strict=True):
            np.testing.assert_array_equal(x, y)
            assert type(x) is type(y) and np.asarray(x).dtype == np.asarray(y).dtype
    labels = [c.label for c in cases(name, hidden=True)]
    assert len(set(labels)) == len(labels), "labels must be unique (pytest ids)"
    assert cases(name) and len(cases(name, hidden=True)) > len(cases(name)), "some hidden"


@pytest.mark.parametrize("name", NAMES)
def test_cases_cover_both_float_widths_and_more_than_a_direct_call(name):
    found = cases(name, hidden=True)
    assert {case_dtype(c) for c in found} == {np.dtype(np.float32), np.dtype(np.float64)}
    modes = {c.mode for c in found}
    assert modes == ({"call", "jit", "vmap"} if name in FIRST else
                     {"call"} if name == "gradient_descent" else {"call", "jit"})  # fmt: skip
    for c in found:
        assert len(c.args) == len(EXERCISES[name].args)
        if c.mode == "vmap":
            assert len({np.shape(a)[0] for a in c.args}) == 1, "one leading batch axis"


@pytest.mark.parametrize("name", FIRST)
def test_one_example_cases_give_numpy_scalars_and_0d_arrays(name):
    single = [c for c in cases(name, hidden=True) if c.mode != "vmap"]
    assert any(isinstance(c.args[-1], np.generic) for c in single), "a NumPy scalar input"
    assert any(isinstance(c.args[-1], np.ndarray) and c.args[-1].ndim == 0 for c in single)


@pytest.mark.parametrize("name", ["compute_da", "compute_dz"])
def test_probability_cases_have_both_labels_and_a_near_0_and_1(name):
    found = cases(name, hidden=True)
    a = np.concatenate([np.ravel(c.args[0]) for c in found]).astype(np.float64)
    y = np.concatenate([np.ravel(c.args[1]) for c in found])
    assert set(np.unique(y)) == {0.0, 1.0}
    assert np.all((a > 0) & (a < 1))
    for label in (0, 1):  # each label meets a confident prediction on both sides
        assert a[y == label].min() < 2e-3 and a[y == label].max() > 0.998
    assert {float(v) for c in cases(name) for v in np.ravel(c.args[1])} == {0.0, 1.0}


@pytest.mark.parametrize("name", ["propagate", "compute_cost"])
def test_batch_exercises_have_a_loop_probe_and_a_square_first_case(name):
    ex = EXERCISES[name]
    small, large = ex.probes
    assert small.mode == large.mode == "trace"
    assert np.shape(small.args[-1])[0] < np.shape(large.args[-1])[0]
    if name == "propagate":  # the (n, m) layout runs on a square X and is named there
        m, n = cases(name)[0].args[2].shape
        assert m == n


def test_predict_cases_put_a_logit_between_0_and_one_half():
    for c in cases("predict", hidden=True):
        w, b, X = _f64(c.args)
        z = X @ w + b
        assert np.any((z >= 0) & (z < 0.5)), c.label


def test_every_declaration_is_named_after_its_file():
    paths = exercise_paths(COURSE)
    assert set(paths) == set(NAMES) == set(EXERCISES)
    for name, path in paths.items():
        assert path.stem == EXERCISES[name].name == name


def test_an_unknown_exercise_is_refused_with_the_names_there_are():
    with pytest.raises(KeyError, match="compute_da"):
        find_exercise(COURSE, "compute_dx")


@pytest.mark.parametrize(("exercise", "case"), all_cases())
def test_reference_matches_the_lecture_formula(exercise, case):
    want = numpy_reference(exercise, case)
    got = answer(exercise, case)
    got_leaves = (got,) if isinstance(got, np.ndarray) else got
    want_leaves = want if isinstance(want, tuple) else (want,)
    rtol = 2e-7 if case_dtype(case) == np.float32 else 1e-12
    if exercise.name == "gradient_descent" and case_dtype(case) == np.float32:
        rtol = 1e-6  # steps in float64, then rounded once; NumPy's inputs were float32 too
    for g, w, leaf in zip(got_leaves, want_leaves, exercise.leaf_names, strict=True):
        assert g.shape == np.shape(w), leaf
        if leaf in exercise.exact:
            np.testing.assert_array_equal(g, w)
        else:
            assert g.dtype == case_dtype(case)
            np.testing.assert_allclose(g.astype(np.float64), w, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize(("exercise", "case"), all_cases(FIRST))
def test_first_references_match_jax_grad_of_the_loss(exercise, case, x64):
    """da from d L/da, dz from d L/dz at z = logit(a), dw and db from d cost/d params."""
    args = [jnp.asarray(np.asarray(a, np.float64)) for a in case.args]
    if exercise.name in ("compute_da", "compute_dz"):
        a, y = args
        if exercise.name == "compute_da":
            grad = jax.vmap(jax.grad(lrjax.loss)) if a.ndim else jax.grad(lrjax.loss)
            want = grad(a, y)
        else:
            z = jnp.log(a) - jnp.log1p(-a)
            dloss = jax.grad(lambda z, y: lrjax.loss(jax.nn.sigmoid(z), y))
            want = (jax.vmap(dloss) if a.ndim else dloss)(z, y)
    else:
        dz = args[-1]
        x = args[0] if exercise.name == "compute_dw" else jnp.ones((*dz.shape, 2))

        def grads(x1, dz1):
            # An example whose dz is dz1: w = 0 and b = logit(a) with a = dz1 + y.
            y1 = (dz1 < 0).astype(jnp.float64)
            a1 = jnp.clip(dz1 + y1, 1e-300, None)
            params = lrjax.Params(jnp.zeros_like(x1), jnp.log(a1) - jnp.log1p(-a1))
            return jax.grad(lrjax.cost)(params, x1, y1)

        g = jax.vmap(grads)(x, dz) if case.mode == "vmap" else grads(x, dz)
        want = g.w if exercise.name == "compute_dw" else g.b
    rtol = 2e-7 if case_dtype(case) == np.float32 else 1e-9
    got = answer(exercise, case).astype(np.float64)
    np.testing.assert_allclose(got, np.asarray(want), rtol=rtol, atol=1e-300)


@pytest.mark.parametrize(("exercise", "case"), all_cases(["propagate"]))
def test_propagate_reference_matches_jax_grad_of_the_cost(exercise, case, x64):
    w, b, X, Y = (jnp.asarray(np.asarray(a, np.float64)) for a in case.args)
    grad = jax.grad(lambda w, b: lrjax.cost(lrjax.Params(w, b), X, Y), argnums=(0, 1))(w, b)
    dw, db, _ = answer(exercise, case)
    rtol = 2e-6 if case_dtype(case) == np.float32 else 1e-9
    np.testing.assert_allclose(dw.astype(np.float64), grad[0], rtol=rtol, atol=1e-7)
    np.testing.assert_allclose(float(db), float(grad[1]), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("name", SECOND)
def test_second_assignment_is_batch_first(name):
    """X: (m, n), Y: (m,), w: (n,), like lrjax."""
    ex = EXERCISES[name]
    for c in cases(name, hidden=True):
        args = dict(zip(ex.args, c.args, strict=True))
        if "X" in args:
            m, n = np.shape(args["X"])
            assert np.shape(args.get("w", np.zeros(n))) == (n,)
            assert np.shape(args.get("Y", np.zeros(m))) == (m,)
