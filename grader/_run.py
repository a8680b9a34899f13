"""Call a student's function on one case: the only code that touches student code.

The secure grader runs :func:`run_case` inside its sandboxed child and sends
the :class:`Outcome` fields back to the trusted parent as plain data.
"""

import contextlib
import numbers
from dataclasses import dataclass

import jax
import numpy as np

# Only Case and case_dtype: the sandboxed child loads this file with a stub of
# grader._cases holding just these two (grader/_child.py).
from grader._cases import Case, case_dtype

_MAX_ERROR = 2000  # characters of an exception message kept


@dataclass(frozen=True)
class Outcome:
    """What a call returned, as plain data.

    Attributes:
        value: ``np.asarray(result)`` when the result is an array, a NumPy
            scalar or a Python number; otherwise None.
        type_name: the result's type: ``"jax.Array"``, ``"numpy.ndarray"``,
            ``"numpy.float32"``, ``"float"``, ``"list"``, ``"NoneType"``, ...
            (empty when the call raised).
        error: ``"ExceptionType: message"`` if the call raised, else None.
    """

    value: np.ndarray | None
    type_name: str
    error: str | None


def type_name(obj) -> str:
    """A readable name for the type of a returned object."""
    if isinstance(obj, jax.Array):
        return "jax.Array"
    kind = type(obj)
    if kind.__module__ == "numpy":
        return f"numpy.{kind.__name__}"
    if kind.__module__ == "builtins":
        return kind.__name__
    return f"{kind.__module__}.{kind.__qualname__}"


def _as_value(obj) -> np.ndarray | None:
    """``np.asarray`` of arrays, NumPy scalars and Python numbers; None otherwise."""
    if isinstance(obj, (jax.Array, np.ndarray, np.generic)) or (
        isinstance(obj, numbers.Number) and not isinstance(obj, bool)
    ):
        return np.asarray(obj)
    return None


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR else text[:_MAX_ERROR] + " ..."


def run_case(fn, case: Case) -> Outcome:
    """Call ``fn`` as ``case.mode`` says, and never raise.

    ``"call"`` calls ``fn(*case.args)``; ``"jit"`` calls ``jax.jit(fn)(*args)``;
    ``"vmap"`` calls ``jax.vmap(fn)(*args)`` over the leading axis. float64
    cases run inside ``jax.enable_x64(True)`` so that JAX keeps their dtype.

    Args:
        fn: the student's function.
        case: a :class:`grader._cases.Case`.

    Returns:
        An :class:`Outcome`; an exception (also from ``np.asarray`` of the
        result) becomes ``error="TypeName: message"``.
    """
    wide = case_dtype(case) == np.float64
    try:
        with jax.enable_x64(True) if wide else contextlib.nullcontext():
            if case.mode == "call":
                call = fn
            elif case.mode == "jit":
                call = jax.jit(fn)
            elif case.mode == "vmap":
                call = jax.vmap(fn)
            else:
                raise ValueError(f"Unknown mode {case.mode!r}: expected call, jit or vmap")
            result = call(*case.args)
            return Outcome(value=_as_value(result), type_name=type_name(result), error=None)
    except Exception as exc:  # the student's error is data for the verdict
        return Outcome(value=None, type_name="", error=_error(exc))
