"""Step 1 of secure grading: find the submissions and read the truth from the source.

Everything that decides a grade -- which cells are graded, their ids and points, which
function each test cell checks, the setup code and the notebook's language -- comes from
the instructor's SOURCE notebook in ``DIR/source/ASSIGNMENT/``. A student's copy of a
test cell is never read, let alone run.
"""

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Any folder name nbgrader would take, but no hidden folders, ".." or control characters
# (the id is only ever a path component and a gradebook key, never part of a command).
_STUDENT_ID = re.compile(r"^(?!\.)[^/\x00-\x1f]{1,100}$")
MAX_NOTEBOOK_BYTES = 20 << 20


@dataclass(frozen=True)
class TestCell:
    """A graded test cell of the source notebook.

    Attributes:
        grade_id: nbgrader grade id, e.g. ``"test_da"``.
        function: the function it grades (cell metadata ``lrjax.checks``).
        points: the cell's points (nbgrader metadata).
        source: the trusted cell source (with its hidden tests).
    """

    grade_id: str
    function: str
    points: float
    source: str


@dataclass(frozen=True, eq=False)
class SourceNotebook:
    """What the grader takes from one source notebook.

    Attributes:
        name: the notebook's file stem (nbgrader's notebook id).
        path: the source file.
        lang: ``nb.metadata.lrjax.lang`` (default ``"en"``).
        setup: the source's setup cell code (grade id ``"setup"``), or "".
        solution_ids: the grade ids of the solution cells, in order.
        tests: the graded test cells, in order.
        nb: the whole source notebook (for the gradebook and the feedback copy).
    """

    name: str
    path: Path
    lang: str
    setup: str
    solution_ids: tuple[str, ...]
    tests: tuple[TestCell, ...]
    nb: nbformat.NotebookNode

    @property
    def max_score(self) -> float:
        """Total points of the notebook's test cells."""
        return float(sum(t.points for t in self.tests))


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one source notebook.

    Attributes:
        student: the student id (the folder name under ``submitted/``).
        notebook: the source notebook's name.
        path: the submitted ``.ipynb``, or None if the student did not hand it in.
    """

    student: str
    notebook: str
    path: Path | None


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def read_source(course: Path, assignment: str) -> tuple[SourceNotebook, ...]:
    """Read the graded structure of every source notebook of ``assignment``.

    Args:
        course: the nbgrader course root (holds ``source/``).
        assignment: the assignment name.

    Returns:
        One :class:`SourceNotebook` per ``source/ASSIGNMENT/*.ipynb``, sorted by name.

    Raises:
        FileNotFoundError: no source notebooks (check --course and the assignment name).
        ValueError: a test cell without ``lrjax.checks`` metadata or without points.
    """
    folder = Path(course) / "source" / assignment
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(
            f"No source notebooks in {folder}: pass the course root as --course "
            f"and an assignment that exists under source/"
        )
    return tuple(_read_one(path) for path in paths)


def _read_one(path: Path) -> SourceNotebook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbformat's notes on old minor versions/ids
        nb = nbformat.read(path, as_version=4)
    setup, solutions, tests = "", [], []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        if cell.cell_type != "code" or not grade_id:
            continue
        if grade_id == "setup":
            setup = cell.source
        elif meta.get("solution"):
            solutions.append(grade_id)
        elif meta.get("grade"):
            function = cell.get("metadata", {}).get("lrjax", {}).get("checks")
            if not function:
                raise ValueError(
                    f"{path}: test cell {grade_id!r} has no metadata lrjax.checks: add "
                    '"lrjax": {"checks": "<function name>"} to its cell metadata'
                )
            points = meta.get("points")
            if points is None:
                raise ValueError(f"{path}: test cell {grade_id!r} has no nbgrader points")
            tests.append(TestCell(grade_id, function, float(points), cell.source))
    lang = nb.metadata.get("lrjax", {}).get("lang", "en")
    return SourceNotebook(path.stem, path, lang, setup, tuple(solutions), tuple(tests), nb)


def find_submissions(course: Path, assignment: str, sources) -> list[Submission]:
    """Every (student, notebook) pair under ``submitted/*/ASSIGNMENT/``.

    Args:
        course: the course root.
        assignment: the assignment name.
        sources: the :class:`SourceNotebook` tuple from :func:`read_source`.

    Returns:
        Submissions sorted by student then notebook; a notebook the student did not
        hand in has ``path=None``. Hidden folders, symlinks and names with control
        characters are skipped.
    """
    found = []
    root = Path(course) / "submitted"
    for student_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not _STUDENT_ID.match(student_dir.name) or student_dir.is_symlink():
            continue
        folder = student_dir / assignment
        if not folder.is_dir():
            continue
        for source in sources:
            path = folder / f"{source.name}.ipynb"
            ok = path.is_file() and not path.is_symlink()
            found.append(Submission(student_dir.name, source.name, path if ok else None))
    return found


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read a student's notebook (untrusted input: size-capped, validated as JSON).

    Raises:
        ValueError: the file is larger than 20 MB or is not a notebook.
    """
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"notebook is {size} bytes, more than {MAX_NOTEBOOK_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as exc:  # any parse failure is the submission's problem
        raise ValueError(f"cannot read the notebook: {type(exc).__name__}: {exc}") from exc
