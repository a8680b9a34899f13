"""``python -m grader checks``: write the ``checks.json`` an assignment's students get.

Not a grading step: the instructor runs it (or ``assignments/build_notebooks.py`` does)
before ``nbgrader generate_assignment``, which copies the file into the release beside
the notebook. It holds the visible cases of every exercise the source notebooks' test
cells check (cell metadata ``lrjax.checks``), each with its right answer and what each
catalogued mistake returns: what ``grader.check`` needs on a student's machine, and
nothing hidden.
"""

from pathlib import Path

from grader.checks import CHECKS_FILE, course_bundle, write_checks
from grader.secure._collect import read_source


def exercises_of(course: Path, assignment: str) -> list[str]:
    """The exercises the test cells of ``assignment``'s source notebooks check, in order."""
    names = []
    for source in read_source(course, assignment, bundles=False):
        names += [t.function for t in source.tests if t.function not in names]
    return names


def write_assignment_checks(course, assignment: str) -> tuple[Path, list[str]]:
    """Write ``source/<assignment>/checks.json``.

    Returns:
        ``(path, exercise names)``.

    Raises:
        FileNotFoundError, ValueError: as :func:`grader.secure._collect.read_source`;
            KeyError: a test cell checks an exercise the course does not declare.
    """
    course = Path(course).resolve()
    names = exercises_of(course, assignment)
    path = course / "source" / assignment / CHECKS_FILE
    write_checks(path, [course_bundle(course, n, hidden=False) for n in names])
    return path, names
