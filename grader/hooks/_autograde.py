"""nbgrader's own ``autograde`` through the sandbox: the two preprocessors that the course's
``nbgrader_config.py`` puts in place of nbgrader's ``ClearOutput`` and ``Execute``.

nbgrader's autograde converts each submitted notebook twice. First it sanitizes (clears
outputs, then puts the source's versions of locked and graded cells back); then it
executes the notebook in a kernel with the instructor's rights, and scores it
(``SaveAutoGrades``: a test cell with an error output gets 0 points, any other all of
them). Here:

- :class:`KeepSafeOutputs` (for ``ClearOutput``) keeps what the student's own run showed
  in the cells that are not graded, their plots included, but only as inert data: plain
  text, PNG and JPEG. HTML, JavaScript, SVG and widgets are dropped, since formgrader
  and the feedback page would run them in the instructor's or the student's browser;
  for the same reason the HTML tags of Markdown and raw cells are shown as text.
- :class:`SandboxGrade` (for ``Execute``) runs the student's solution cells with the
  secure grader (:mod:`grader.secure`: the same collect, extract, sandbox, compare and
  score steps as ``python -m grader autograde``) and writes each test cell's output: the
  verdict, as an error output if it failed. nbgrader's ``SaveAutoGrades`` then scores
  those outputs and writes the gradebook. Nothing runs in a kernel, and no student code
  runs outside a sandbox.

Both graders therefore give the same points and the same feedback. The first notebook
of an assignment also starts the grading of every other submission that nbgrader is
about to grade (:mod:`grader.hooks._prefetch`), so that a class is graded on all cores.
"""

import os
import re

from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Enum, Float, Int

from grader.hooks import _prefetch
from grader.secure import _record

# "<" that would open an HTML tag, comment or declaration ("a < b" opens none).
_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def inert_markup(text: str) -> str:
    """``text`` (Markdown, or a raw cell) with every HTML tag shown as text: ``<script>``
    becomes ``&lt;script>``, which Markdown renders as the characters typed."""
    return _TAG.sub("&lt;", text)


class KeepSafeOutputs(NbGraderPreprocessor):
    """Sanitize step: keep the submitted outputs that are safe to show
    (:func:`grader.secure._record.safe_outputs`) instead of clearing them all, and show
    the HTML of Markdown and raw cells as text (:func:`inert_markup`): the student may
    have edited or added them, and formgrader and the feedback page render them."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = _record.safe_outputs(cell.get("outputs", []))
        elif cell.cell_type in ("markdown", "raw"):
            cell.source = inert_markup(cell.source)
        return cell, resources


class SandboxGrade(NbGraderPreprocessor):
    """Autograde step: grade the solution cells in the sandbox and write the verdicts
    into the test cells' outputs (nbgrader scores those).

    Raises (from :meth:`preprocess`, which nbgrader reports as this notebook's failure
    and records nothing for it): :class:`grader.secure._preflight.PreflightFailed`,
    :class:`grader.secure._bwrap.Unavailable`, or :class:`GraderError` when the sandbox
    failed before the student's code ran.
    """

    timeout = Float(60.0, help="wall-clock seconds per submission").tag(config=True)
    memory_mb = Int(4096, help="address-space limit per submission, in MB").tag(config=True)
    isolation = Enum(
        ("bwrap", "weak"), "bwrap", help="bwrap, or weak (unshare only) where bwrap cannot run"
    ).tag(config=True)
    jobs = Int(0, help="sandboxes at once (0: every core)").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        course = _course_root(self)
        run = _prefetch.Run.get(course, info["assignment"], self._settings(), self._planned())
        scored = run.grade(info["student"], info["notebook"], nb)
        tests = {t.grade_id: t for t in scored.tests}
        for cell in nb.cells:
            grade_id = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
            if cell.cell_type == "code" and grade_id in tests:
                cell.outputs = _record.feedback_outputs(tests[grade_id])
                cell.execution_count = None
        if scored.status != "ok":
            self.log.warning("%s/%s: %s", info["student"], info["notebook"], scored.reason)
        return nb, resources

    def _settings(self):
        from grader.secure._sandbox import Limits

        jobs = self.jobs if self.jobs > 0 else (os.cpu_count() or 1)
        return _prefetch.Settings(Limits(timeout_s=self.timeout, memory_mb=self.memory_mb),
                                  self.isolation, jobs)  # fmt: skip

    def _planned(self) -> tuple:
        """The submission folders nbgrader is about to grade in this run (none known:
        an empty tuple)."""
        converter = _find(self, "assignments")
        return tuple(sorted(getattr(converter, "assignments", {}) or {}))


def _find(obj, attribute: str):
    """The first of ``obj``'s traitlets parents that has ``attribute`` (None if none does)."""
    while obj is not None and not hasattr(obj, attribute):
        obj = getattr(obj, "parent", None)
    return obj


def _course_root(pp) -> str:
    """The course root of the nbgrader run that ``pp`` belongs to."""
    holder = _find(pp, "coursedir")
    if holder is not None:
        return os.path.abspath(holder.coursedir.root)
    from nbgrader.coursedir import CourseDirectory

    return os.path.abspath(CourseDirectory(config=pp.config).root)
