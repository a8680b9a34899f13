"""The grader's cases and reference answers: coverage, determinism, and two independent checks.

The reference (computed with lrjax) is compared with the lecture's formulas
written here in NumPy, and with ``jax.grad`` of lrjax's loss and cost.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrjax
from grader import FUNCTIONS, Case, cases, reference
from grader._cases import ARG_NAMES, case_dtype


def all_cases():
    return [
        pytest.param(c, id=f"{c.function}-{c.label}")
        for f in FUNCTIONS
        for c in cases(f, hidden=True)
    ]


def numpy_formula(case: Case) -> np.ndarray:
    """The lecture's formulas in float64 NumPy."""
    args = [np.asarray(a, np.float64) for a in case.args]
    if case.function == "compute_da":
        a, y = args
        return -y / a + (1 - y) / (1 - a)
    if case.function == "compute_dz":
        a, y = args
        return a - y
    if case.function == "compute_dw":
        x, dz = args
        return x * dz[..., None]
    return args[0]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_cases_are_deterministic_and_visible_ones_are_a_subset(function):
    visible, hidden = cases(function), cases(function, hidden=True)
    again = cases(function, hidden=True)
    for one, two in zip(hidden, again, strict=True):
        assert (one.function, one.mode, one.label) == (two.function, two.mode, two.label)
        for x, y in zip(one.args, two.args, strict=True):
            np.testing.assert_array_equal(x, y)
            assert np.asarray(x).dtype == np.asarray(y).dtype
    assert {c.label for c in visible} < {c.label for c in hidden}
    assert len({c.label for c in hidden}) == len(hidden), "labels must be unique (pytest ids)"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_cases_cover_modes_dtypes_and_kinds_of_input(function):
    found = cases(function, hidden=True)
    assert {c.mode for c in found} == {"call", "jit", "vmap"}
    assert {case_dtype(c) for c in found} == {np.dtype(np.float32), np.dtype(np.float64)}
    single = [c for c in found if c.mode != "vmap"]
    assert any(isinstance(c.args[-1], np.generic) for c in single), "a NumPy scalar input"
    assert any(isinstance(c.args[-1], np.ndarray) and c.args[-1].ndim == 0 for c in single)
    for c in found:
        assert len(c.args) == len(ARG_NAMES[function])
        assert all(isinstance(a, (np.ndarray, np.generic)) for a in c.args), "plain NumPy only"
        if c.mode == "vmap":
            assert len({np.shape(a)[0] for a in c.args}) == 1, "one leading batch axis"


@pytest.mark.parametrize("function", ["compute_da", "compute_dz"])
def test_probability_cases_have_both_labels_and_a_near_0_and_1(function):
    found = cases(function, hidden=True)
    a = np.concatenate([np.ravel(c.args[0]) for c in found]).astype(np.float64)
    y = np.concatenate([np.ravel(c.args[1]) for c in found])
    assert set(np.unique(y)) == {0.0, 1.0}
    assert np.all((a > 0) & (a < 1))
    assert a.min() < 2e-3 and a.max() > 0.998
    for label in (0, 1):  # each label meets a confident prediction on both sides
        assert a[y == label].min() < 2e-3 and a[y == label].max() > 0.998
    visible_y = {float(v) for c in cases(function) for v in np.ravel(c.args[1])}
    assert visible_y == {0.0, 1.0}


def test_unknown_function_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="compute_da"):
        cases("compute_dx")


@pytest.mark.parametrize("case", all_cases())
def test_reference_matches_the_lecture_formula(case):
    want = numpy_formula(case)
    got = reference(case)
    assert got.dtype == case_dtype(case)
    assert got.shape == want.shape
    rtol = 2e-7 if case_dtype(case) == np.float32 else 1e-12
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=0)


@pytest.mark.parametrize("case", all_cases())
def test_reference_matches_jax_grad_of_the_loss(case, x64):
    """da from d L/da, dz from d L/dz at z = logit(a), dw and db from d cost/d params."""
    args = [jnp.asarray(np.asarray(a, np.float64)) for a in case.args]
    if case.function in ("compute_da", "compute_dz"):
        a, y = args
        if case.function == "compute_da":
            grad = jax.vmap(jax.grad(lrjax.loss)) if a.ndim else jax.grad(lrjax.loss)
            want = grad(a, y)
        else:
            z = jnp.log(a) - jnp.log1p(-a)
            dloss = jax.grad(lambda z, y: lrjax.loss(jax.nn.sigmoid(z), y))
            want = (jax.vmap(dloss) if a.ndim else dloss)(z, y)
    else:
        dz = args[-1]
        x = args[0] if case.function == "compute_dw" else jnp.ones((*dz.shape, 2))

        def grads(x1, dz1):
            # An example whose dz is dz1: w = 0 and b = logit(a) with a = dz1 + y.
            y1 = (dz1 < 0).astype(jnp.float64)
            a1 = dz1 + y1
            params = lrjax.Params(jnp.zeros_like(x1), jnp.log(a1) - jnp.log1p(-a1))
            return jax.grad(lrjax.cost)(params, x1, y1)

        g = jax.vmap(grads)(x, dz) if case.mode == "vmap" else grads(x, dz)
        want = g.w if case.function == "compute_dw" else g.b
    rtol = 2e-7 if case_dtype(case) == np.float32 else 1e-9
    np.testing.assert_allclose(reference(case).astype(np.float64), np.asarray(want), rtol=rtol)
