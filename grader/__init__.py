"""Checks for the lrjax course: run a student's function on many cases and explain mistakes.

In a notebook: ``check_dz(compute_dz)`` (``lang="uk"`` for Ukrainian feedback).
The building blocks are shared with the secure grader: :func:`cases` and
:func:`reference` (what to try and the right answer, from lrjax),
:func:`run_case` (the only code that calls student code) and :func:`judge`
(the comparison and the diagnosis).
"""

from grader._cases import FUNCTIONS, Case, cases, reference
from grader._checks import Verdict, judge
from grader._messages import LANGS, message
from grader._run import Outcome, run_case


def check(function: str, fn, *, lang: str = "en", hidden: bool = False) -> Verdict:
    """Run every case of ``function`` on ``fn`` in this process and judge the results.

    Args:
        function: one of :data:`FUNCTIONS`, e.g. ``"compute_dz"``.
        fn: the student's implementation.
        lang: ``"en"`` or ``"uk"``.
        hidden: also run the hidden cases used at grading.

    Returns:
        The :class:`Verdict` (nothing is raised or printed).
    """
    found = cases(function, hidden=hidden)
    return judge(function, found, [run_case(fn, case) for case in found], lang=lang)


def _assert(function: str, fn, lang: str, hidden: bool) -> None:
    verdict = check(function, fn, lang=lang, hidden=hidden)
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(verdict.message)  # stdout only: nbgrader zeroes a test cell that writes to stderr


def check_da(fn, *, lang: str = "en", hidden: bool = False) -> None:
    """Check ``compute_da(a, y)`` = -y/a + (1 - y)/(1 - a).

    Raises:
        AssertionError: with the diagnosis, if any case fails.
    """
    _assert("compute_da", fn, lang, hidden)


def check_dz(fn, *, lang: str = "en", hidden: bool = False) -> None:
    """Check ``compute_dz(a, y)`` = a - y.

    Raises:
        AssertionError: with the diagnosis, if any case fails.
    """
    _assert("compute_dz", fn, lang, hidden)


def check_dw(fn, *, lang: str = "en", hidden: bool = False) -> None:
    """Check ``compute_dw(x, dz)`` = x * dz, x of shape (n,).

    Raises:
        AssertionError: with the diagnosis, if any case fails.
    """
    _assert("compute_dw", fn, lang, hidden)


def check_db(fn, *, lang: str = "en", hidden: bool = False) -> None:
    """Check ``compute_db(dz)`` = dz.

    Raises:
        AssertionError: with the diagnosis, if any case fails.
    """
    _assert("compute_db", fn, lang, hidden)


__all__ = [
    "FUNCTIONS",
    "LANGS",
    "Case",
    "Outcome",
    "Verdict",
    "cases",
    "check",
    "check_da",
    "check_db",
    "check_dw",
    "check_dz",
    "judge",
    "message",
    "reference",
    "run_case",
]
