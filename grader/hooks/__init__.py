"""nbgrader hooks of the lrjax course: what the course's ``nbgrader_config.py`` switches on.

- :func:`secure_autograde` -- ``nbgrader autograde`` and formgrader's Autograde button
  grade through the sandbox (:mod:`grader.hooks._autograde`), with nbgrader's own
  scoring and gradebook, and keep the student's own plots in the autograded notebook.
- :func:`configure_mathjax` -- maths in formgrader's pages and in the feedback HTML
  rendered by a MathJax that ships with a package, without a network
  (:mod:`grader.hooks._mathjax`).
"""

from grader.hooks._autograde import KeepSafeOutputs, SandboxGrade
from grader.hooks._mathjax import configure_mathjax
from grader.hooks._prefetch import GraderError
from grader.secure._record import safe_outputs


def secure_autograde(c) -> None:
    """Configure nbgrader (the config object ``c`` of an ``nbgrader_config.py``) to
    autograde through the sandbox.

    nbgrader's own lists of preprocessors are kept, with two swapped:
    ``ClearOutput`` -> :class:`KeepSafeOutputs` and ``Execute`` -> :class:`SandboxGrade`.
    ``Autograde.force`` is set: grading again always grades again (nbgrader would
    otherwise skip every student already graded, by either grader, without a word).

    Args:
        c: the traitlets config being loaded.
    """
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import ClearOutput, Execute

    swap = {ClearOutput: KeepSafeOutputs, Execute: SandboxGrade}
    defaults = Autograde.class_traits()
    for name in ("sanitize_preprocessors", "autograde_preprocessors"):
        listed = defaults[name].default()
        setattr(c.Autograde, name, [swap.get(p, p) for p in listed])
    c.Autograde.force = True


__all__ = [
    "GraderError",
    "KeepSafeOutputs",
    "SandboxGrade",
    "configure_mathjax",
    "safe_outputs",
    "secure_autograde",
]
