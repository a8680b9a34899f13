"""Step 5 of secure grading: points per graded cell from the source's metadata.

nbgrader gives an autograded test cell all of its points or none; so does this: a cell
scores its points only if every one of its cases (visible and hidden) passed.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class TestScore:
    """One graded cell's result.

    Attributes:
        grade_id: the nbgrader grade id.
        function: the function it grades.
        points: points earned (0 or ``max_points``).
        max_points: the cell's points in the source notebook.
        passed: whether every case passed.
        feedback: the verdict's message (in the notebook's language).
    """

    grade_id: str
    function: str
    points: float
    max_points: float
    passed: bool
    feedback: str


@dataclass(frozen=True)
class NotebookScore:
    """A student's result for one notebook.

    Attributes:
        student: the student id.
        notebook: the notebook name.
        tests: one :class:`TestScore` per test cell, in the source's order.
        status: ``"ok"`` or why grading stopped early (sandbox status, ``"missing"``,
            ``"unreadable"``).
        reason: a sentence explaining ``status`` ("" when ok).
        details: extra facts for the JSON (cell errors, isolation, seconds, output tail).
    """

    student: str
    notebook: str
    tests: tuple[TestScore, ...]
    status: str
    reason: str
    details: dict

    @property
    def score(self) -> float:
        """Points earned."""
        return float(sum(t.points for t in self.tests))

    @property
    def max_score(self) -> float:
        """Points available."""
        return float(sum(t.max_points for t in self.tests))


def score(source, student, verdicts, *, status="ok", reason="", details=None) -> NotebookScore:
    """Turn verdicts into points.

    Args:
        source: the :class:`grader.secure._collect.SourceNotebook`.
        student: the student id.
        verdicts: ``{grade_id: Verdict}`` from :func:`grader.secure._compare.compare`.
        status: the run's status; reason: why, if not ok.
        details: extra facts kept in the JSON.

    Returns:
        A :class:`NotebookScore`.
    """
    tests = tuple(
        TestScore(
            test.grade_id,
            test.function,
            test.points if verdicts[test.grade_id].passed else 0.0,
            test.points,
            verdicts[test.grade_id].passed,
            verdicts[test.grade_id].message,
        )
        for test in source.tests
    )
    return NotebookScore(student, source.name, tests, status, reason, dict(details or {}))
