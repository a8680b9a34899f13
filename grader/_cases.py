"""The inputs each check tries, and the right answers computed with lrjax.

A case is plain data (NumPy inputs, a mode, a label), so the same cases serve a
student working in Jupyter and the secure grader, which sends them to a
sandboxed child and gets plain arrays back.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from lrjax._backward import grads_from_logits
from lrjax._forward import logits
from lrjax._types import Params

FUNCTIONS = ("compute_da", "compute_dz", "compute_dw", "compute_db")
MODES = ("call", "jit", "vmap")
ARG_NAMES = {
    "compute_da": ("a", "y"),
    "compute_dz": ("a", "y"),
    "compute_dw": ("x", "dz"),
    "compute_db": ("dz",),
}


@dataclass(frozen=True)
class Case:
    """One call of a student's function.

    Attributes:
        function: one of :data:`FUNCTIONS`.
        args: NumPy inputs, in the order of :data:`ARG_NAMES`. For ``"call"``
            and ``"jit"`` one example (a, y, dz: () ; x: (n,)), given either as
            0-d arrays or as NumPy scalars (``np.float32(0.5)``); for
            ``"vmap"`` a batch with a leading axis of m examples.
        mode: ``"call"`` (called directly), ``"jit"`` (through ``jax.jit``)
            or ``"vmap"`` (through ``jax.vmap`` over the leading axis).
        label: a short, language-neutral name (pytest ids, logs).
    """

    function: str
    args: tuple[np.ndarray, ...]
    mode: str
    label: str


def _val(v, dtype, scalar):
    """A NumPy scalar (``scalar=True``) or a 0-d/n-d array of ``dtype``."""
    arr = np.asarray(v, dtype=dtype)
    return arr[()] if scalar and arr.ndim == 0 else arr


def _ay_cases(function: str, hidden: bool) -> list[Case]:
    """(a, y) inputs for da and dz: both labels, a near 0 and 1, dtypes, modes."""
    f32, f64 = np.float32, np.float64
    visible = [
        # a, y, dtype, NumPy scalar?, mode, label
        (0.8, 1, f32, False, "call", "y=1 a=0.8 f32 0d"),
        (0.3, 0, f32, False, "call", "y=0 a=0.3 f32 0d"),
        (0.6, 1, f32, True, "call", "y=1 a=0.6 f32 scalar"),
        (0.25, 0, f64, False, "call", "y=0 a=0.25 f64 0d"),
        (0.7, 0, f32, False, "jit", "y=0 a=0.7 f32 jit"),
        (0.4, 1, f64, False, "jit", "y=1 a=0.4 f64 jit"),
    ]
    extra = [
        (1e-3, 1, f32, False, "call", "y=1 a~0 f32"),
        (1e-3, 0, f32, True, "call", "y=0 a~0 f32 scalar"),
        (0.999, 0, f32, False, "call", "y=0 a~1 f32"),
        (0.999, 1, f32, False, "jit", "y=1 a~1 f32 jit"),
        (1e-6, 0, f64, True, "call", "y=0 a~0 f64 scalar"),
        (1 - 1e-6, 1, f64, False, "jit", "y=1 a~1 f64 jit"),
        (0.5, 1, f64, True, "jit", "y=1 a=0.5 f64 scalar jit"),
    ]
    rows = visible + (extra if hidden else [])
    out = [
        Case(function, (_val(a, dt, sc), _val(y, dt, sc)), mode, label)
        for a, y, dt, sc, mode, label in rows
    ]
    rng = np.random.default_rng(3 if function == "compute_da" else 4)
    batches = [(f32, 5, "vmap m=5 f32")] + ([(f64, 8, "vmap m=8 f64")] if hidden else [])
    for dt, m, label in batches:
        a = rng.uniform(0.02, 0.98, size=m).astype(dt)
        y = (np.arange(m) % 2).astype(dt)  # both labels in every batch
        out.append(Case(function, (a, y), "vmap", label))
    return out


def _dz_values(rng, m):
    """dz = a - y for random a and both labels: the values dw and db receive."""
    a = rng.uniform(0.02, 0.98, size=m)
    return a - (np.arange(m) % 2)


def _dw_cases(hidden: bool) -> list[Case]:
    """(x, dz) inputs: positive and negative dz, n = 2 (the lecture) and more."""
    f32, f64 = np.float32, np.float64
    rows = [
        # x, dz, dtype, dz as NumPy scalar?, mode, label
        ([1.5, -2.0], -0.2, f32, False, "call", "n=2 dz<0 f32"),
        ([0.5, 3.0], 0.7, f32, True, "call", "n=2 dz>0 f32 scalar"),
        ([2.0, -1.0, 0.25], 0.4, f64, False, "call", "n=3 f64"),
        ([-0.5, 1.0], -0.9, f32, False, "jit", "n=2 f32 jit"),
    ]
    if hidden:
        rows += [
            ([1.0, 2.0, 3.0, 4.0, 5.0], 1e-3, f32, False, "call", "n=5 dz~0 f32"),
            ([0.3, -0.7], -0.999, f64, True, "jit", "n=2 dz~-1 f64 scalar jit"),
            ([4.0, -3.0, 2.0], 0.3, f64, False, "jit", "n=3 f64 jit"),
        ]
    out = [
        Case("compute_dw", (_val(x, dt, False), _val(dz, dt, sc)), mode, label)
        for x, dz, dt, sc, mode, label in rows
    ]
    rng = np.random.default_rng(5)
    batches = [(f32, 4, 2, "vmap m=4 n=2 f32")]
    if hidden:
        batches.append((f64, 6, 3, "vmap m=6 n=3 f64"))
    for dt, m, n, label in batches:
        x = rng.normal(size=(m, n)).astype(dt)
        out.append(Case("compute_dw", (x, _dz_values(rng, m).astype(dt)), "vmap", label))
    return out


def _db_cases(hidden: bool) -> list[Case]:
    """dz inputs: both signs, dtypes, modes."""
    f32, f64 = np.float32, np.float64
    rows = [
        (-0.2, f32, False, "call", "dz<0 f32"),
        (0.7, f32, True, "call", "dz>0 f32 scalar"),
        (0.35, f64, False, "call", "dz>0 f64"),
        (-0.6, f32, False, "jit", "dz<0 f32 jit"),
    ]
    if hidden:
        rows += [
            (1e-4, f32, False, "call", "dz~0 f32"),
            (-0.999, f64, True, "jit", "dz~-1 f64 scalar jit"),
        ]
    out = [Case("compute_db", (_val(dz, dt, sc),), mode, label) for dz, dt, sc, mode, label in rows]
    rng = np.random.default_rng(6)
    batches = [(f32, 5, "vmap m=5 f32")] + ([(f64, 7, "vmap m=7 f64")] if hidden else [])
    for dt, m, label in batches:
        out.append(Case("compute_db", (_dz_values(rng, m).astype(dt),), "vmap", label))
    return out


def cases(function: str, *, hidden: bool = False) -> list[Case]:
    """The cases a check runs, in a fixed order (direct calls, then jit, then vmap).

    Args:
        function: one of :data:`FUNCTIONS`.
        hidden: False for the visible cases a student sees; True for the
            visible cases together with the hidden ones added at grading.

    Returns:
        A deterministic list of :class:`Case`.

    Raises:
        ValueError: if ``function`` is not one of :data:`FUNCTIONS`.
    """
    if function not in FUNCTIONS:
        raise ValueError(f"Unknown function {function!r}: expected one of {FUNCTIONS}")
    if function in ("compute_da", "compute_dz"):
        found = _ay_cases(function, hidden)
    elif function == "compute_dw":
        found = _dw_cases(hidden)
    else:
        found = _db_cases(hidden)
    order = {mode: i for i, mode in enumerate(MODES)}
    return sorted(found, key=lambda c: order[c.mode])  # stable: keeps visible first per mode


def case_dtype(case: Case) -> np.dtype:
    """The floating dtype of the case's inputs (float32 or float64)."""
    return np.result_type(*case.args)


def _logit(a: np.ndarray) -> np.ndarray:
    """z with σ(z) = a, in float64 (exact enough for any a in (0, 1))."""
    a = np.asarray(a, np.float64)
    return np.log(a) - np.log1p(-a)


def reference(case: Case) -> np.ndarray:
    """The right answer for ``case``, computed with lrjax in float64.

    da and dz come from ``lrjax``'s backward formulas at the logit z whose
    σ(z) is the given a (so a rounded a costs no accuracy); dw and db are the
    pull-back of dz through ``lrjax``'s forward step z = w·x + b (``jax.vjp``),
    which is what the chain rule dL/dw = dL/dz · ∂z/∂w means.

    Returns:
        A NumPy array of the inputs' dtype: () for one example, (m,) or (m, n)
        for a ``"vmap"`` case; dw has x's shape.
    """
    dtype = case_dtype(case)
    with jax.enable_x64(True):
        args64 = [jnp.asarray(np.asarray(arg, np.float64)) for arg in case.args]
        if case.function in ("compute_da", "compute_dz"):
            a, y = args64
            x = jnp.zeros((*a.shape, 1), jnp.float64)  # (1,) or (m, 1): unused by da, dz
            grads = grads_from_logits(x, jnp.asarray(_logit(a)), y)
            out = grads.da if case.function == "compute_da" else grads.dz
        else:
            x, dz = (args64[0], args64[1]) if case.function == "compute_dw" else (None, args64[0])
            if x is None:
                x = jnp.zeros((*dz.shape, 2), jnp.float64)

            def pull_back(x1, dz1):
                params = Params(jnp.zeros(x1.shape, jnp.float64), jnp.zeros((), jnp.float64))
                _, vjp = jax.vjp(lambda p: logits(p, x1), params)
                return vjp(dz1)[0]

            grads = jax.vmap(pull_back)(x, dz) if case.mode == "vmap" else pull_back(x, dz)
            out = grads.w if case.function == "compute_dw" else grads.b
        return np.asarray(out).astype(dtype)
