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
from collections.abc import Iterator

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


# XLA's CPU compiler spends most of a small function's compile time in its newer fusion
# emitters; with the older ones the same function compiles in about half the time
# (19.8 -> 11.1 ms for a check's function here), and one notebook's cases compile a
# dozen such functions. The option is passed per compile: an XLA that no longer knows
# it raises, and the function is compiled with the defaults, where an unknown entry in
# XLA_FLAGS would abort the whole process.
_QUICK_CPU_COMPILE = {"xla_cpu_use_fusion_emitters": False}


def _compile_and_call(jitted, args: tuple, static: tuple[int, ...] = (), *, options=None):
    """``jitted(*args)``, compiled with ``options`` (default :data:`_QUICK_CPU_COMPILE`)
    on the CPU.

    Tracing errors (the student's) propagate from ``lower``; only a compile that rejects
    the options is retried without them. JAX's compile cache serves a second call with
    the same function, shapes and dtypes.
    """
    import jax

    lowered = jitted.lower(*args)
    compiled = None
    if jax.default_backend() == "cpu":
        try:
            compiled = lowered.compile(compiler_options=options or _QUICK_CPU_COMPILE)
        except Exception:  # JaxRuntimeError "No such compile option" (older JAX: XlaRuntimeError)
            compiled = None
    if compiled is None:
        compiled = lowered.compile()
    return compiled(*(a for i, a in enumerate(args) if i not in static))


def _as_jitted(fn, case: Case):
    """``(jitted, args, static)``: what a "jit" or "vmap" case compiles, to be called as
    ``jitted(*args)`` with the positions ``static`` passed as they are (not traced).

    A "vmap" case is ``jax.jit(jax.vmap(fn))`` over the leading axis of every array
    argument; arguments without an axis (Python numbers, 0-d arrays) reach ``fn`` as they
    are, unmapped and untraced, exactly as ``jax.vmap(fn, in_axes=None)`` passes them.
    Compiled once, the mapped function costs less than running it op by op, where each
    primitive compiles on its own.
    """
    import jax

    if case.mode == "jit":
        return jax.jit(fn, static_argnums=case.static), case.args, case.static
    mapped = tuple(i for i, a in enumerate(case.args) if np.ndim(a) > 0)

    def along(*rows):
        full = list(case.args)
        for i, row in zip(mapped, rows, strict=True):
            full[i] = row
        return fn(*full)

    return jax.jit(jax.vmap(along)), tuple(case.args[i] for i in mapped), ()


def _width(case: Case):
    """The context a case runs in: float64 cases inside ``jax.enable_x64(True)``, so
    that JAX keeps their dtype."""
    import jax

    return jax.enable_x64(True) if case_dtype(case) == np.float64 else contextlib.nullcontext()


def run_case(fn, case: Case) -> Outcome:
    """Call ``fn`` as ``case.mode`` says, and never raise.

    ``"call"`` calls ``fn(*case.args)``; ``"jit"`` calls ``jax.jit(fn)(*args)``
    (``case.static`` positions static); ``"vmap"`` calls ``jax.jit(jax.vmap(fn))``
    mapped over the leading axis of every array argument (Python numbers and 0-d
    arrays are passed unmapped, as they are);
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

    try:
        # A student's warning (NumPy's "invalid value in divide") is not an error: the
        # result (nan) is what the verdict explains, wherever the warnings filter says
        # "error" (pytest) or "default" (a notebook).
        with warnings.catch_warnings(), _width(case):
            warnings.simplefilter("ignore")
            if case.mode == "call":
                result = fn(*case.args)
            elif case.mode in ("jit", "vmap"):
                result = _compile_and_call(*_as_jitted(fn, case))
            else:  # "trace"
                closed = jax.make_jaxpr(fn, static_argnums=case.static)(*case.args)
                result = np.asarray(_count_ops(closed.jaxpr), np.int64)
            return _finished(result)  # as_tree's failure is an outcome too
    except Exception as exc:  # the student's error is data for the verdict
        return Outcome(value=None, type_name="", error=_error(exc))


def _finished(result) -> Outcome:
    """The outcome of a result, as :func:`run_case` makes it (an error if it is not one)."""
    try:
        return Outcome(value=as_tree(result), type_name=type_name(result), error=None)
    except Exception as exc:
        return Outcome(value=None, type_name="", error=_error(exc))


def _together(calls: list, group: list[int]):
    """``(i, outcome)`` for the compiled cases ``group`` of one float width, compiled as
    one function; each case alone by :func:`run_case` if that function cannot be built,
    compiled or run."""
    import jax

    forms, errors = {}, {}

    def joint(dynamic: dict):
        out = {}
        for i, (jitted, args, static) in forms.items():
            full = list(args)
            traced = (j for j in range(len(args)) if j not in static)
            for j, value in zip(traced, dynamic[i], strict=True):
                full[j] = value
            try:
                out[i] = jitted(*full)
            except Exception as exc:  # this case's tracing failed: the others go on
                errors[i] = _error(exc)
        return out

    try:
        with warnings.catch_warnings(), _width(calls[group[0]][1]):
            warnings.simplefilter("ignore")
            for i in group:
                forms[i] = _as_jitted(*calls[i])
            dynamic = {
                i: tuple(a for j, a in enumerate(args) if j not in static)
                for i, (_, args, static) in forms.items()
            }
            results = _compile_and_call(jax.jit(joint), (dynamic,))
            outcomes = {i: _finished(results[i]) for i in results}
    except Exception:  # rare: something only the case alone can tell apart
        for i in group:
            yield i, run_case(*calls[i])
        return
    for i in group:
        yield i, outcomes[i] if i in outcomes else Outcome(None, "", errors[i])


def run_cases(calls: list) -> Iterator[tuple[int, Outcome]]:
    """Each case's outcome as :func:`run_case` gives it, with far fewer compiles.

    A check's "jit" and "vmap" cases are a dozen tiny functions, and XLA takes longer to
    compile each (about 17 ms here) than to run it. The cases of one float width are
    traced into one function and compiled once (about 30 ms for all of them). Each case
    is still traced on its own, as :func:`run_case` traces it (its own ``jax.jit`` with
    its static arguments, or ``jax.jit(jax.vmap(fn))``), so a case whose tracing raises
    gets its own error and the others are unaffected. "call" and "trace" cases run
    first, one by one, in order.

    Args:
        calls: ``(fn, case)`` pairs.

    Yields:
        ``(index in calls, Outcome)``, once for every pair.
    """
    calls = list(calls)
    groups: dict[bool, list[int]] = {False: [], True: []}
    for i, (fn, case) in enumerate(calls):
        if case.mode in ("jit", "vmap"):
            groups[case_dtype(case) == np.float64].append(i)
        else:
            yield i, run_case(fn, case)
    for group in groups.values():
        if len(group) == 1:
            yield group[0], run_case(*calls[group[0]])
        elif group:
            yield from _together(calls, group)
