"""What crosses the sandbox boundary: a case (one call) and its outcome (what came back).

Plain data only: NumPy arrays, NumPy scalars, Python numbers and nested tuples and
dicts of them. No reference answer, no hidden case and no grading rule lives here; this
module is loaded by the sandboxed child, so it imports the standard library and NumPy.
"""

import numbers
from dataclasses import dataclass

import numpy as np

MODES = ("call", "jit", "vmap", "trace")


@dataclass(frozen=True)
class Case:
    """One call of a student's function.

    Attributes:
        function: the name the student's code defines, e.g. ``"compute_dz"``.
        args: the positional arguments: NumPy arrays, NumPy scalars
            (``np.float32(0.5)``) or Python ints and floats (``steps``,
            ``learning_rate``).
        mode: ``"call"`` (called directly), ``"jit"`` (through ``jax.jit``),
            ``"vmap"`` (through ``jax.vmap`` over the leading axis of every
            argument) or ``"trace"`` (only traced with ``jax.make_jaxpr``: the
            outcome is the number of operations, which shows a Python loop
            over the examples; it never passes or fails on its own).
        label: a short, language-neutral name (pytest ids, logs).
        static: positions of arguments that ``jit`` and ``trace`` keep static
            (Python ints such as a number of steps).
    """

    function: str
    args: tuple
    mode: str = "call"
    label: str = ""
    static: tuple[int, ...] = ()

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Unknown mode {self.mode!r}: expected one of {MODES}")
        bad = [i for i in self.static if not 0 <= i < len(self.args)]
        if bad:
            raise ValueError(f"static positions {bad} are outside the {len(self.args)} arguments")


def case_dtype(case: Case) -> np.dtype:
    """The floating dtype of the case's array inputs (float32 when there is none)."""
    found = [
        np.asarray(a).dtype
        for a in case.args
        if isinstance(a, (np.ndarray, np.generic)) and np.asarray(a).dtype.kind == "f"
    ]
    return np.result_type(*found) if found else np.dtype(np.float32)


@dataclass(frozen=True)
class Outcome:
    """What a call returned, as plain data.

    Attributes:
        value: the result as a tree of NumPy arrays: an array for an array, a
            NumPy scalar or a Python number; a tuple for a tuple, list or
            NamedTuple; a dict (string keys) for a dict. None when the result
            (or any part of it) is something else, e.g. None or a string.
        type_name: the result's type: ``"jax.Array"``, ``"numpy.ndarray"``,
            ``"numpy.float32"``, ``"float"``, ``"tuple"``, ``"list"``,
            ``"NoneType"``, ... (empty when the call raised).
        error: ``"ExceptionType: message"`` if the call raised, else None.
    """

    value: object
    type_name: str
    error: str | None


def as_tree(obj, depth: int = 0):
    """``obj`` as a tree of NumPy arrays, or None if any part is not a number or array.

    Tuples, lists and NamedTuples become tuples; dicts with string keys stay dicts;
    arrays (JAX or NumPy), NumPy scalars and Python numbers (not bools) become arrays.
    """
    if depth > 8:
        return None
    if hasattr(obj, "__array__") and not isinstance(obj, (tuple, list, dict)):
        try:
            return np.asarray(obj)
        except Exception:  # a student's object whose __array__ raises
            return None
    if isinstance(obj, numbers.Number) and not isinstance(obj, bool):
        return np.asarray(obj)
    if isinstance(obj, (tuple, list)):
        items = tuple(as_tree(x, depth + 1) for x in obj)
        return None if any(x is None for x in items) else items
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        items = {k: as_tree(v, depth + 1) for k, v in obj.items()}
        return None if any(v is None for v in items.values()) else items
    return None
