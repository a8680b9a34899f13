"""Judge outcomes against the right answers and name the mistake: pure, trusted code.

:func:`judge` never calls student code: it reads the :class:`~grader.protocol.Outcome`
of each case (produced in-process by a notebook check, or in a sandboxed child by the
secure grader) and returns a :class:`Verdict` whose message says what is wrong, in the
notebook's language. A failing value is compared with what every catalogued mistake of
the exercise returns on the same input; when one matches, the mistake is named.
Returned tuples and dicts are judged value by value, and the feedback names the value.
"""

from dataclasses import dataclass

import numpy as np

from grader.checks._bundle import Bundle
from grader.checks._messages import GENERIC_RANK, message
from grader.protocol import Case, Outcome, case_dtype

TRACER_ERRORS = (
    "TracerArrayConversionError",
    "ConcretizationTypeError",
    "TracerIntegerConversionError",
    "TracerBoolConversionError",
    "NonConcreteBooleanIndexError",
)
_ERROR_SHOWN = 400  # characters of a student's error quoted in a message
# Where the catalogued mistakes rank among the generic diagnoses: after the type and
# precision problems (more basic), before the shape and value ones (less specific).
_MISTAKES_AFTER = "lost_precision"


@dataclass(frozen=True)
class Verdict:
    """The result of checking one function.

    Attributes:
        function: the function checked, e.g. ``"compute_dz"``.
        passed: True if every case passed.
        message: the feedback (success line, or diagnosis and first failure).
        failed: how many cases failed.
        total: how many cases were run (probes not counted).
        diagnoses: the names of the mistakes reported (``"sign_flipped"``,
            ``"db_summed"``, ...), hints included; empty when nothing was found.
    """

    function: str
    passed: bool
    message: str
    failed: int
    total: int
    diagnoses: tuple[str, ...] = ()


def _close(got: np.ndarray, want: np.ndarray, tol) -> bool:
    rtol, atol = tol
    if got.shape != want.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(
            np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                        equal_nan=True)
        )  # fmt: skip


def _tol(bundle: Bundle, case: Case):
    return tuple(bundle.tolerance[np.dtype(case_dtype(case)).name])


def _normalise(bundle: Bundle, value):
    """``value`` as the function's result: one array, or a tuple of arrays in the order of
    the returned names; None if its structure does not match (wrong number of values,
    other keys)."""
    if bundle.single:
        return value if isinstance(value, np.ndarray) else None
    names = bundle.leaf_names
    if isinstance(value, dict):
        value = tuple(value[k] for k in names) if set(value) == set(names) else None
    if not isinstance(value, tuple) or len(value) != len(names):
        return None
    value = tuple(_stacked(v) for v in value)
    return value if all(isinstance(v, np.ndarray) for v in value) else None


def _stacked(value):
    """A list of same-shaped arrays (``costs.append(cost)``, returned as is) as one array."""
    if isinstance(value, tuple) and value and all(isinstance(v, np.ndarray) for v in value):
        if len({v.shape for v in value}) == 1 and len({v.dtype for v in value}) == 1:
            return np.stack(value)
    return value


def _leaf_patterns(bundle, i, leaf, got, want, alive=None) -> set[str]:
    """The empty set if returned value ``leaf`` of case ``i`` is right, else every name
    that explains it."""
    case = bundle.cases[i]
    tol = _tol(bundle, case)
    exact = bundle.leaf_names[leaf] in bundle.exact
    if got.dtype.kind not in "biuf":
        return {"not_float"}
    if not exact and got.dtype.kind != "f":
        return {"not_float"}
    if not exact and case_dtype(case) == np.float64 and got.dtype != np.float64:
        return {"lost_precision"}
    if got.shape == want.shape and (
        np.array_equal(got.astype(np.float64), want.astype(np.float64)) if exact else
        _close(got, want, tol)
    ):  # fmt: skip
        return set()
    found = {"wrong_shape"} if got.shape != want.shape else {"wrong_values"}
    for mistake, impls in bundle.mistake_outputs(i, alive).items():
        for out in impls:
            if out is None:
                continue
            wrong = out if bundle.single else _normalise(bundle, out)
            if wrong is None:
                continue
            target = wrong if bundle.single else wrong[leaf]
            if _close(got, np.asarray(target), tol):
                found.add(mistake)
    if got.shape != want.shape:
        return found
    w, g = want.astype(np.float64), got.astype(np.float64)
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(w)):
        found.add("not_finite")
    if np.any(w != 0) and _close(g, -w, tol):
        found.add("sign_flipped")
    elif np.all(w != 0) and np.all(np.isfinite(g)):
        ratio = g / w
        if _close(ratio, np.full_like(ratio, ratio.flat[0]), tol) and not np.isclose(
            abs(ratio.flat[0]), 1.0
        ):
            found.add(f"scaled:{ratio.flat[0]:.6g}")
    return found


def _whole_patterns(bundle: Bundle, outcome: Outcome) -> set[str] | None:
    """Names for a call that failed as a whole (raised, returned no numbers, the wrong
    kind of container); None when its values can be judged one by one."""
    if outcome.error is not None:
        if outcome.error.startswith("NotImplementedError"):
            return {"not_implemented"}
        if outcome.error.partition("\n")[0].split(":", 1)[0] in TRACER_ERRORS:
            return {"tracer"}
        return {"raised"}
    if outcome.value is None:
        if outcome.type_name == "NoneType":
            return {"returned_none"}
        return {"unsupported_type"}
    if bundle.single and not isinstance(outcome.value, np.ndarray):
        return {"returned_list"} if isinstance(outcome.value, tuple) else {"unsupported_type"}
    return None


def _rank(bundle: Bundle, pattern: str) -> int:
    key = pattern.split(":", 1)[0]
    mistakes = [m.name for m in bundle.catalogue]
    cut = GENERIC_RANK.index(_MISTAKES_AFTER) + 1
    order = [*GENERIC_RANK[:cut], *mistakes, *GENERIC_RANK[cut:]]
    return order.index(key)


def _fmt(arr) -> str:
    arr = np.asarray(arr)
    if arr.dtype.kind != "f":
        return np.array2string(arr, separator=", ", max_line_width=90, threshold=20)
    if arr.ndim == 0:
        return _float(arr[()])
    return np.array2string(
        arr, separator=", ", max_line_width=90, threshold=20, formatter={"float_kind": _float}
    )


def _float(v) -> str:
    """A float as 0.2 or 1.0: the shortest digits that identify it in its dtype."""
    return np.format_float_positional(v, unique=True, trim="0")


def _describe_arg(value, lang: str) -> str:
    if type(value) in (int, float):  # a Python number (np.float64 is a float subclass)
        return f"{value!r} ({message('kind.python', lang, type=type(value).__name__)})"
    arr = np.asarray(value)
    dtype = str(arr.dtype)
    if isinstance(value, np.generic):
        kind = message("kind.scalar", lang, dtype=dtype)
    elif arr.ndim == 0:
        kind = message("kind.0d", lang, dtype=dtype)
    else:
        kind = message("kind.array", lang, dtype=dtype, shape=arr.shape)
    return f"{_fmt(arr)} ({kind})"


def _show(bundle: Bundle, tree) -> str:
    """A right or returned tree: ``-0.2``, ``dw = [...], db = 0.1`` or ``(1.0, [2.0])``."""
    if isinstance(tree, np.ndarray):
        return _fmt(tree)
    values = None if bundle.single else _normalise(bundle, tree)
    if values is not None:
        return ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(bundle.leaf_names, values,
                                                              strict=True))  # fmt: skip
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {_show(bundle, v)}" for k, v in tree.items()) + "}"
    return "(" + ", ".join(_show(bundle, v) for v in tree) + ")"


def _how(case: Case, lang: str) -> str:
    if case.mode == "vmap":
        return message("how.vmap", lang, m=next(np.shape(a)[0] for a in case.args if np.ndim(a)))
    return message(f"how.{case.mode}", lang)


def _got(bundle: Bundle, outcome: Outcome, lang: str) -> str:
    """The result as the "got" line shows it; an error is its first line, then a line per
    frame of the student's code (``at line 4, in compute_dz: return a / 0``)."""
    if outcome.error is not None:
        error, *where = outcome.error.strip().splitlines() or [""]
        if len(error) > _ERROR_SHOWN:
            error = error[:_ERROR_SHOWN] + " ..."
        lines = [message("raised", lang, error=error)]
        lines += [message("raised_at", lang, where=w.strip()[:_ERROR_SHOWN]) for w in where]
        return "\n".join(lines)
    if outcome.value is None:
        return outcome.type_name
    if isinstance(outcome.value, np.ndarray):
        return f"{_fmt(outcome.value)} ({outcome.type_name}, {outcome.value.dtype})"
    return f"{_show(bundle, outcome.value)} ({outcome.type_name})"


def _text(bundle: Bundle, key: str, part: str, lang: str, **fields) -> str:
    """The title or advice of a diagnosis: the exercise's own text when it has one."""
    fields = {"formula_sentence": message("formula", lang, formula=bundle.formula), **fields}
    for m in bundle.catalogue:
        if m.name == key:
            return getattr(m, part)[lang].format(**fields)
    own = bundle.overrides.get(key, {}).get(part, {}).get(lang)
    if own is not None:
        return own.format(**fields)
    return message(f"{key}.{part}", lang, **fields)


def _diagnosis(bundle, pattern, want, outcome, got, lang, leaf=None) -> str:
    key, _, extra = pattern.partition(":")
    fields = {
        "type_name": outcome.type_name,
        "dtype": "" if got is None else str(got.dtype),
        "expected_shape": np.shape(want) if isinstance(want, np.ndarray) else None,
        "got_shape": None if got is None else np.shape(got),
        "ratio": extra,
        "count": len(bundle.leaf_names),
        "names": ", ".join(bundle.leaf_names),
    }
    title = _text(bundle, key, "title", lang, **fields)
    advice = _text(bundle, key, "advice", lang, **fields)
    if leaf is None:
        return message("diagnosis", lang, title=title, advice=advice)
    return message("diagnosis_of", lang, name=leaf, title=title, advice=advice)


def _best(bundle, sets: list[set[str]]) -> str:
    common = set.intersection(*sets)
    return min(common or sets[0], key=lambda p: _rank(bundle, p))


def _hint(bundle: Bundle, probes: list[Outcome]) -> str | None:
    """The hint mistake's name if the probes show more operations for more examples."""
    hint = next((m for m in bundle.catalogue if m.hint), None)
    if hint is None or len(probes) != 2 or any(p.value is None for p in probes):
        return None
    small, large = (np.asarray(p.value) for p in probes)
    if small.shape != () or large.shape != ():
        return None
    return hint.name if int(large) > int(small) else None


def judge(bundle: Bundle, outcomes: list[Outcome], *, lang: str = "en") -> Verdict:
    """Compare each outcome with the right answer and explain the failures.

    Args:
        bundle: the exercise's cases and answers (:func:`grader.checks.bundle`).
        outcomes: one :class:`Outcome` per case of ``bundle.all_cases``, in order.
        lang: ``"en"`` or ``"uk"``, the language of the message.

    Returns:
        A :class:`Verdict`. On failure its message names the function, the mistake
        (the one that explains every failing case, if there is one; otherwise the
        first failing case's), value by value for a function that returns several,
        and shows the first failing case's input, expected value and result.

    Raises:
        ValueError: on an unknown language, or if the number of outcomes differs from
            the number of cases.
    """
    if len(outcomes) != len(bundle.all_cases):
        raise ValueError(
            f"Got {len(outcomes)} outcomes for {len(bundle.all_cases)} cases: "
            "pass one outcome per case"
        )
    function = bundle.name
    message("pass", lang, function=function, total=0)  # fails early on an unknown lang
    graded, probes = outcomes[: len(bundle.cases)], outcomes[len(bundle.cases) :]
    whole, leafwise = {}, {}  # case index -> patterns / {leaf index: patterns}
    # The mistakes that still explain every failing case so far, per returned value: a
    # later case need only be compared with those (each is a run of a wrong function).
    alive = {}
    for i, (want, outcome) in enumerate(zip(bundle.wants, graded, strict=True)):
        found = _whole_patterns(bundle, outcome)
        if found is not None:
            whole[i] = found
            continue
        got = _normalise(bundle, outcome.value)
        if got is None:
            whole[i] = {"wrong_structure"}
            continue
        pairs = [(got, want)] if bundle.single else list(zip(got, _values(want), strict=True))
        bad = {}
        for leaf, (g, w) in enumerate(pairs):
            found = _leaf_patterns(bundle, i, leaf, g, w, alive.get(leaf))
            if found:
                bad[leaf] = found
                alive[leaf] = found & {m.name for m in bundle.catalogue}
        if bad:
            leafwise[i] = bad
    failing = sorted({*whole, *leafwise})
    total = len(bundle.cases)
    if not failing:
        hint = _hint(bundle, probes)
        text = message("pass", lang, function=function, total=total)
        if hint:
            text += "\n" + message(
                "hint", lang, title=_text(bundle, hint, "title", lang),
                advice=_text(bundle, hint, "advice", lang),
            )  # fmt: skip
        return Verdict(function, True, text, 0, total, (hint,) if hint else ())
    first = failing[0]
    want, outcome = bundle.wants[first], graded[first]
    lines = [message("fail_header", lang, function=function, failed=len(failing), total=total)]
    if first in whole:
        pattern = _best(bundle, [whole[i] for i in failing if i in whole])
        got = outcome.value if isinstance(outcome.value, np.ndarray) else None
        lines.append(_diagnosis(bundle, pattern, want, outcome, got, lang))
        names = (pattern.split(":")[0],)
    else:
        leaves = sorted({leaf for bad in leafwise.values() for leaf in bad})
        right = [n for k, n in enumerate(bundle.leaf_names) if k not in leaves]
        if not bundle.single and right:
            wrong = ", ".join(bundle.leaf_names[k] for k in leaves)
            lines.append(message("leaves_status", lang, right=", ".join(right), wrong=wrong))
        got_tree = _normalise(bundle, outcome.value)
        chosen = {}  # pattern -> the leaves it explains, in order
        for leaf in leaves:
            pattern = _best(bundle, [bad[leaf] for bad in leafwise.values() if leaf in bad])
            chosen.setdefault(pattern, []).append(leaf)
        for pattern, where in chosen.items():
            leaf = where[0]
            w = want if bundle.single else _values(want)[leaf]
            g = got_tree if bundle.single else got_tree[leaf]
            name = None if bundle.single else ", ".join(bundle.leaf_names[k] for k in where)
            lines.append(_diagnosis(bundle, pattern, w, outcome, g, lang, leaf=name))
        names = tuple(dict.fromkeys(p.split(":")[0] for p in chosen))
    case = bundle.cases[first]
    inputs = ", ".join(
        f"{name} = {_describe_arg(arg, lang)}"
        for name, arg in zip(bundle.args, case.args, strict=True)
    )
    width = max(len(message(k, lang)) for k in ("input", "expected", "got")) + 1
    lines += [
        message("first_failure", lang, how=_how(case, lang)),
        f"  {message('input', lang) + ':':<{width}} {inputs}",
        f"  {message('expected', lang) + ':':<{width}} {_show(bundle, want)}",
        f"  {message('got', lang) + ':':<{width}} "
        + _got(bundle, outcome, lang).replace("\n", "\n" + " " * (width + 3)),
    ]
    return Verdict(function, False, "\n".join(lines), len(failing), total, tuple(names))


def _values(tree) -> tuple:
    return tuple(tree.values()) if isinstance(tree, dict) else tuple(tree)
