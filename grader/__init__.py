"""The lrjax course's grader, in three parts for three audiences.

- :mod:`grader.checks` -- for students, in Jupyter: ``check("compute_dz", compute_dz)``
  runs the visible cases and explains a wrong answer. Also the declaration types an
  instructor writes exercises with (:class:`Exercise`, :class:`Mistake`, :func:`case`).
- :mod:`grader.protocol` -- data that crosses the sandbox boundary (cases, outcomes, the
  wire codec) and :func:`grader.protocol.run_case`, the one caller of student code.
- :mod:`grader.secure` -- for instructors: the sandboxed pipeline behind
  ``python -m grader autograde`` (hidden cases and references read from the course).
"""

from grader.checks import (
    LANGS,
    CheckFailed,
    Exercise,
    Mistake,
    Verdict,
    case,
    check,
    evaluate,
    judge,
    message,
)
from grader.protocol import Case, Outcome, run_case

__all__ = [
    "LANGS",
    "Case",
    "CheckFailed",
    "Exercise",
    "Mistake",
    "Outcome",
    "Verdict",
    "case",
    "check",
    "evaluate",
    "judge",
    "message",
    "run_case",
]
