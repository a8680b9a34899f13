"""Judge outcomes against the lrjax reference and name the mistake: pure, trusted code.

:func:`judge` never calls student code: it reads the :class:`~grader._run.Outcome`
of each case (produced in-process by the notebook checks, or in a sandboxed
child by the secure grader) and returns a :class:`Verdict` whose message says
what is wrong in the notebook's language.
"""

from dataclasses import dataclass

import numpy as np

from grader._cases import ARG_NAMES, FUNCTIONS, Case, case_dtype, reference
from grader._messages import DIAGNOSES, FORMULAS, message
from grader._run import Outcome

TRACER_ERRORS = (
    "TracerArrayConversionError",
    "ConcretizationTypeError",
    "TracerIntegerConversionError",
    "TracerBoolConversionError",
    "NonConcreteBooleanIndexError",
)
_ERROR_SHOWN = 400  # characters of a student's error quoted in a message


@dataclass(frozen=True)
class Verdict:
    """The result of checking one function.

    Attributes:
        function: the function checked, e.g. ``"compute_dz"``.
        passed: True if every case passed.
        message: the feedback (success line, or diagnosis and first failure).
        failed: how many cases failed.
        total: how many cases were run.
    """

    function: str
    passed: bool
    message: str
    failed: int
    total: int


def tolerance(dtype) -> tuple[float, float]:
    """(rtol, atol) for comparing results computed in ``dtype``."""
    return (1e-5, 1e-10) if np.dtype(dtype) == np.float32 else (1e-9, 1e-14)


def _close(got: np.ndarray, want: np.ndarray, dtype) -> bool:
    rtol, atol = tolerance(dtype)
    return got.shape == want.shape and bool(
        np.allclose(got.astype(np.float64), want, rtol=rtol, atol=atol)
    )


def _value_patterns(case: Case, want: np.ndarray, got: np.ndarray) -> set[str]:
    """Named mistakes that explain a wrong value of the right shape."""
    dtype = case_dtype(case)
    args = [np.asarray(a, np.float64) for a in case.args]
    found = {"wrong_values"}
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        found.add("not_finite")
    if _close(got, -want, dtype) and np.any(want != 0):
        found.add("sign_flipped")
    if case.function == "compute_da":
        a, y = args
        if _close(got, y / a + (1 - y) / (1 - a), dtype):
            found.add("da_missing_minus")
    elif case.function == "compute_dz":
        a, y = args
        if _close(got, -y / a + (1 - y) / (1 - a), dtype):
            found.add("dz_as_da")
    elif case.function == "compute_dw":
        x, dz = args
        if _close(got, np.broadcast_to(dz[..., None], x.shape), dtype):
            found.add("dw_without_x")
    elif case.function == "compute_db" and np.all(want != 0):
        ratio = got.astype(np.float64) / want
        if np.all(np.isfinite(ratio)) and _close(ratio, np.full_like(ratio, ratio.flat[0]), dtype):
            found.add(f"db_scaled:{ratio.flat[0]:.6g}")
    return found


def _shape_patterns(case: Case, got: np.ndarray) -> set[str]:
    """Named mistakes that explain a result of the wrong shape."""
    found = {"wrong_shape"}
    if case.function == "compute_dw":
        x, dz = (np.asarray(a, np.float64) for a in case.args)
        dtype = case_dtype(case)
        if _close(got, dz, dtype):
            found.add("dw_without_x")
        if _close(got, np.sum(x * dz[..., None], axis=-1), dtype):
            found.add("dw_summed")
    return found


def _patterns(case: Case, want: np.ndarray, outcome: Outcome) -> set[str]:
    """The empty set if the case passed, else every named mistake that explains it."""
    if outcome.error is not None:
        if outcome.error.startswith("NotImplementedError"):
            return {"not_implemented"}
        if outcome.error.split(":", 1)[0] in TRACER_ERRORS:
            return {"tracer"}
        return {"raised"}
    if outcome.value is None:
        if outcome.type_name == "NoneType":
            return {"returned_none"}
        if outcome.type_name in ("list", "tuple"):
            return {"returned_list"}
        return {"unsupported_type"}
    got = np.asarray(outcome.value)
    if got.dtype.kind != "f":
        return {"not_float"}
    if got.shape != want.shape:
        return _shape_patterns(case, got)
    if case_dtype(case) == np.float64 and got.dtype != np.float64:
        return {"lost_precision"}
    if _close(got, want.astype(np.float64), case_dtype(case)):
        return set()
    return _value_patterns(case, want.astype(np.float64), got)


def _rank(pattern: str) -> int:
    return DIAGNOSES.index(pattern.split(":", 1)[0])


def _describe_arg(value, lang: str) -> str:
    arr = np.asarray(value)
    dtype = str(arr.dtype)
    if isinstance(value, np.generic):
        kind = message("kind.scalar", lang, dtype=dtype)
    elif arr.ndim == 0:
        kind = message("kind.0d", lang, dtype=dtype)
    else:
        kind = message("kind.array", lang, dtype=dtype, shape=arr.shape)
    return f"{_fmt(arr)} ({kind})"


def _fmt(arr) -> str:
    arr = np.asarray(arr)
    if arr.dtype.kind != "f":
        return np.array2string(arr, separator=", ", max_line_width=90)
    if arr.ndim == 0:
        return _float(arr[()])
    return np.array2string(arr, separator=", ", max_line_width=90, formatter={"float_kind": _float})


def _float(v) -> str:
    """A float as 0.2 or 1.0: the shortest digits that identify it in its dtype."""
    return np.format_float_positional(v, unique=True, trim="0")


def _how(case: Case, lang: str) -> str:
    if case.mode == "vmap":
        return message("how.vmap", lang, m=np.shape(case.args[0])[0])
    return message(f"how.{case.mode}", lang)


def _got(outcome: Outcome, lang: str) -> str:
    if outcome.error is not None:
        error = outcome.error.strip().splitlines()[0] if outcome.error.strip() else ""
        if len(error) > _ERROR_SHOWN:
            error = error[:_ERROR_SHOWN] + " ..."
        return message("raised", lang, error=error)
    if outcome.value is None:
        return outcome.type_name
    return f"{_fmt(outcome.value)} ({outcome.type_name}, {np.asarray(outcome.value).dtype})"


def _diagnosis(pattern: str, case: Case, want, outcome: Outcome, lang: str) -> str:
    key, _, extra = pattern.partition(":")
    formula = FORMULAS[case.function]
    got = None if outcome.value is None else np.asarray(outcome.value)
    fields = {
        "formula_sentence": message("formula", lang, formula=formula),
        "type_name": outcome.type_name,
        "dtype": "" if got is None else str(got.dtype),
        "expected_shape": np.shape(want),
        "got_shape": None if got is None else got.shape,
        "ratio": extra,
    }
    return message(
        "diagnosis",
        lang,
        title=message(f"{key}.title", lang, **fields),
        advice=message(f"{key}.advice", lang, **fields),
    )


def judge(
    function: str, cases: list[Case], outcomes: list[Outcome], *, lang: str = "en"
) -> Verdict:
    """Compare each outcome with the lrjax reference and explain the failures.

    Args:
        function: one of :data:`grader._cases.FUNCTIONS`.
        cases: the cases run, from :func:`grader._cases.cases`.
        outcomes: one :class:`Outcome` per case, in the same order.
        lang: ``"en"`` or ``"uk"``, the language of the message.

    Returns:
        A :class:`Verdict`. On failure its message names the function, the
        mistake (the one that explains every failing case, if there is one;
        otherwise the first failing case's), and shows the first failing
        case's input, expected value and result.

    Raises:
        ValueError: on an unknown function or language, or if the number of
            outcomes differs from the number of cases.
    """
    if function not in FUNCTIONS:
        raise ValueError(f"Unknown function {function!r}: expected one of {FUNCTIONS}")
    if len(cases) != len(outcomes):
        raise ValueError(
            f"Got {len(outcomes)} outcomes for {len(cases)} cases: pass one outcome per case"
        )
    message("pass", lang, function=function, total=0)  # fails early on an unknown lang
    wants = [reference(case) for case in cases]
    results = [_patterns(c, w, o) for c, w, o in zip(cases, wants, outcomes, strict=True)]
    failing = [i for i, found in enumerate(results) if found]
    total = len(cases)
    if not failing:
        text = message("pass", lang, function=function, total=total)
        return Verdict(function, True, text, 0, total)
    first = failing[0]
    common = set.intersection(*(results[i] for i in failing))
    pattern = min(common or results[first], key=_rank)
    case, want, outcome = cases[first], wants[first], outcomes[first]
    inputs = ", ".join(
        f"{name} = {_describe_arg(arg, lang)}"
        for name, arg in zip(ARG_NAMES[function], case.args, strict=True)
    )
    width = max(len(message(k, lang)) for k in ("input", "expected", "got")) + 1
    lines = [
        message("fail_header", lang, function=function, failed=len(failing), total=total),
        _diagnosis(pattern, case, want, outcome, lang),
        message("first_failure", lang, how=_how(case, lang)),
        f"  {message('input', lang) + ':':<{width}} {inputs}",
        f"  {message('expected', lang) + ':':<{width}} {_fmt(want)}",
        f"  {message('got', lang) + ':':<{width}} {_got(outcome, lang)}",
    ]
    return Verdict(function, False, "\n".join(lines), len(failing), total)
