"""Call a student's function on one case: the only code that touches student code.

The notebook checks call :func:`run_case` in the student's own process; the secure
grader calls it inside its sandboxed child and sends the :class:`Outcome` back to the
trusted parent as plain data (:mod:`grader.protocol._wire`).
"""

import contextlib
import functools
import importlib.util
import linecache
import os
import sysconfig
import traceback
import warnings

import numpy as np

from ._case import Case, Outcome, as_tree, case_dtype

_MAX_ERROR = 2000  # characters of an exception message kept


def type_name(obj) -> str:
    """A readable name for the type of a returned object."""
    import jax

    if isinstance(obj, jax.Array):
        return "jax.Array"
    kind = type(obj)
    if kind.__module__ == "numpy":
        return f"numpy.{kind.__name__}"
    if kind.__module__ == "builtins":
        return kind.__name__
    return f"{kind.__module__}.{kind.__qualname__}"


_STUDENT_FRAMES = 3  # the innermost frames of the student's own code shown with an error


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Folders whose code is not the student's: the Python installation (standard library,
    site-packages), this package's folder and the packages the checks run through,
    wherever they are installed."""
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for name in ("jax", "jaxlib", "numpy", "lrjax"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            roots.update(spec.submodule_search_locations)
    return tuple(os.path.join(os.path.realpath(r), "") for r in roots)


def _student_lines(exc: BaseException) -> list[str]:
    """``line 4, in compute_dz: return a / 0`` for the innermost frames of the student's
    code (a notebook cell, a sandbox cell) in the exception's traceback. Only those
    frames' lines are read (from linecache, where Jupyter and the sandbox keep cells)."""
    roots, lines = _library_roots(), []
    try:
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            code = frame.f_code
            if os.path.realpath(code.co_filename).startswith(roots):
                continue
            line = linecache.getline(code.co_filename, lineno).strip()
            lines.append(f"line {lineno}, in {code.co_name}" + (f": {line}" if line else ""))
    except Exception:  # an unreadable file must not hide the error itself
        pass
    return lines[-_STUDENT_FRAMES:]


def _error(exc: BaseException) -> str:
    """``"TypeName: message"`` (no colon when the message is empty), then one line per
    frame of the student's code, innermost last."""
    said = str(exc).strip()
    text = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
    text = "\n".join([text, *_student_lines(exc)])
    return text if len(text) <= _MAX_ERROR else text[:_MAX_ERROR] + " ..."


def _count_ops(jaxpr) -> int:
    """Operations in a jaxpr, those of nested jaxprs (jit, scan, cond bodies) included."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", None)
                if inner is not None and hasattr(inner, "eqns"):
                    total += _count_ops(inner)
                elif hasattr(sub, "eqns"):
                    total += _count_ops(sub)
    return total


def run_case(fn, case: Case) -> Outcome:
    """Call ``fn`` as ``case.mode`` says, and never raise.

    ``"call"`` calls ``fn(*case.args)``; ``"jit"`` calls ``jax.jit(fn)(*args)``
    (``case.static`` positions static); ``"vmap"`` maps ``fn`` over the leading
    axis of every array argument (Python numbers are passed unmapped);
    ``"trace"`` returns the number of operations ``jax.make_jaxpr`` records.
    float64 cases run inside ``jax.enable_x64(True)`` so that JAX keeps their dtype.

    Args:
        fn: the student's function.
        case: a :class:`grader.protocol.Case`.

    Returns:
        An :class:`Outcome`; an exception (also from ``np.asarray`` of the
        result) becomes ``error="TypeName: message"``.
    """
    import jax

    wide = case_dtype(case) == np.float64
    try:
        # A student's warning (NumPy's "invalid value in divide") is not an error: the
        # result (nan) is what the verdict explains, wherever the warnings filter says
        # "error" (pytest) or "default" (a notebook).
        with warnings.catch_warnings(), jax.enable_x64(True) if wide else contextlib.nullcontext():
            warnings.simplefilter("ignore")
            if case.mode == "call":
                result = fn(*case.args)
            elif case.mode == "jit":
                result = jax.jit(fn, static_argnums=case.static)(*case.args)
            elif case.mode == "vmap":
                axes = tuple(0 if np.ndim(a) > 0 else None for a in case.args)
                result = jax.vmap(fn, in_axes=axes)(*case.args)
            else:  # "trace"
                closed = jax.make_jaxpr(fn, static_argnums=case.static)(*case.args)
                result = np.asarray(_count_ops(closed.jaxpr), np.int64)
            return Outcome(value=as_tree(result), type_name=type_name(result), error=None)
    except Exception as exc:  # the student's error is data for the verdict
        return Outcome(value=None, type_name="", error=_error(exc))
