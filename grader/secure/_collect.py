"""Step 1 of secure grading: find the submissions and read the truth from the source.

Everything that decides a grade -- which cells are graded, their ids and points, which
function each test cell checks, the setup code and the notebook's language -- comes from
the instructor's SOURCE notebook in ``DIR/source/ASSIGNMENT/``. A student's copy of a
test cell is never read, let alone run.
"""

import errno
import os
import re
import stat
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from grader.checks import course_bundle

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
        bundles: ``{function: Bundle}``: the visible and hidden cases of each exercise
            a test cell checks, and their right answers, from the course's declarations.
    """

    name: str
    path: Path
    lang: str
    setup: str
    solution_ids: tuple[str, ...]
    tests: tuple[TestCell, ...]
    nb: nbformat.NotebookNode
    bundles: dict = field(default_factory=dict)

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


def read_source(
    course: Path, assignment: str, *, bundles: bool = True
) -> tuple[SourceNotebook, ...]:
    """Read the graded structure of every source notebook of ``assignment``.

    Args:
        course: the nbgrader course root (holds ``source/``).
        assignment: the assignment name.
        bundles: also compute each checked exercise's cases and answers (hidden ones
            included) from the course's declarations.

    Returns:
        One :class:`SourceNotebook` per ``source/ASSIGNMENT/*.ipynb``, sorted by name.

    Raises:
        FileNotFoundError: no source notebooks; the message says what is there instead
            (no such course folder, no ``source/`` in it, the assignments that exist).
        ValueError: an assignment name that is not a folder name, a test cell without
            ``lrjax.checks`` metadata or without points, or one that checks an exercise
            the course does not declare (``exercises/<name>.py``).
    """
    course = Path(course)
    if assignment in ("", ".", "..") or "/" in assignment or "\x00" in assignment:
        raise ValueError(f"{assignment!r} is not an assignment name: pass a folder name "
                         f"under {course / 'source'}")  # fmt: skip
    folder = course / "source" / assignment
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise FileNotFoundError(_no_source(course, assignment))
    found = tuple(_read_one(path) for path in paths)
    return tuple(_with_bundles(s, course) for s in found) if bundles else found


def _with_bundles(source: SourceNotebook, course: Path) -> SourceNotebook:
    """``source`` with the hidden bundle of every exercise its test cells check."""
    bundles = {}
    for test in source.tests:
        try:
            bundles[test.function] = course_bundle(course, test.function, hidden=True)
        except (KeyError, FileNotFoundError) as exc:
            raise ValueError(
                f"{source.path}: test cell {test.grade_id!r} checks {test.function!r}, but "
                f"{exc.args[0] if exc.args else exc}"
            ) from exc
    return replace(source, bundles=bundles)


def _no_source(course: Path, assignment: str) -> str:
    """Why ``course/source/assignment`` has no notebooks, and the fix (one line)."""
    root = "pass the course root (the folder that holds source/) as --course"
    above = next((p for p in list(course.parents)[:3] if (p / "source").is_dir()), None)
    hint = f" (did you mean --course {above}?)" if above is not None else ""
    if not course.exists():
        return f"the course folder {course} does not exist: {root}{hint}"
    if not course.is_dir():
        return f"--course {course} is not a folder: {root}{hint}"
    if not (course / "source").is_dir():
        return f"{course} has no source/ folder: {root}{hint}"
    folder = course / "source" / assignment
    if folder.is_dir():
        return f"{folder} holds no .ipynb notebook: put the assignment's source notebooks there"
    names = sorted(p.name for p in (course / "source").iterdir()
                   if p.is_dir() and not p.name.startswith("."))  # fmt: skip
    there = f"the assignments there are: {', '.join(names)}" if names else "there are none"
    return (f"no assignment {assignment!r} under {course / 'source'} ({there}): "
            f"pass one of those, or {root}")  # fmt: skip


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
        hand in has ``path=None``. A path that is there but is not a regular file (a
        folder, a symlink, a pipe) is kept, for :func:`read_submission` to refuse with
        the reason. Hidden folders, names with control characters or that are not
        UTF-8, and student or assignment folders that are symlinks are skipped.
    """
    found = []
    root = Path(course) / "submitted"
    for student_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not _is_student_id(student_dir.name) or student_dir.is_symlink():
            continue
        folder = student_dir / assignment
        if folder.is_symlink() or not folder.is_dir():
            continue
        for source in sources:
            path = folder / f"{source.name}.ipynb"
            there = path.exists() or path.is_symlink()
            found.append(Submission(student_dir.name, source.name, path if there else None))
    return found


def _is_student_id(name: str) -> bool:
    """A folder name usable as a student id (a gradebook key and one path component)."""
    try:
        name.encode("utf-8")  # a name that is not UTF-8 has surrogate escapes here
    except UnicodeEncodeError:
        return False
    return bool(_STUDENT_ID.match(name))


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read a student's notebook (untrusted input: size-capped, validated as JSON).

    The file is opened without following a symlink and without blocking (a pipe), and
    read only if it is a regular file of at most 20 MB. The notebook returned has a list
    of cells, each a JSON object whose ``metadata`` (and ``metadata.nbgrader``) is an
    object, whose ``source`` is text and whose grade id, if any, is text: what
    :mod:`grader.secure._extract` and :mod:`grader.secure._record` rely on.

    Args:
        path: the submitted ``.ipynb``.

    Returns:
        The notebook (nbformat 4).

    Raises:
        ValueError: the path is not a regular file (a symlink, a folder, a pipe), is
            empty or larger than 20 MB, is not UTF-8, or is not a notebook.
        OSError: reading the file failed.
    """
    return parse_submission(submission_bytes(path))


def parse_submission(data: bytes) -> nbformat.NotebookNode:
    """A submitted notebook from its bytes (:func:`read_submission`'s checks).

    Raises:
        ValueError: empty, not UTF-8, not a notebook, or cells not shaped as promised.
    """
    if not data.strip():
        raise ValueError("the notebook file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the notebook is not UTF-8 text (byte {exc.start})") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as exc:  # any parse failure is the submission's problem
        raise ValueError(f"cannot read the notebook: {type(exc).__name__}: {exc}") from exc
    _check_cells(nb)
    return nb


def submission_bytes(path: Path) -> bytes:
    """A submitted file's bytes, read safely: without following a symlink, without
    blocking (a pipe), only from a regular file of at most 20 MB.

    Raises:
        ValueError: a symlink, a folder, a pipe, or more than 20 MB.
        OSError: reading the file failed.
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{path.name} is a symbolic link: not followed") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ValueError(f"{path.name} is {kind}, not a notebook file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"notebook is {info.st_size} bytes, more than {MAX_NOTEBOOK_BYTES}")
        with open(fd, "rb", closefd=False) as file:
            data = file.read(MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"notebook is more than {MAX_NOTEBOOK_BYTES} bytes")
    return data


def _check_cells(nb) -> None:
    """Refuse (ValueError) a notebook whose cells are not shaped as :func:`read_submission`
    promises (nbformat only logs a schema violation; it does not refuse it)."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("cannot read the notebook: it has no list of cells")
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise ValueError(f"cannot read the notebook: cell {i} is not a JSON object")
        meta = cell.get("metadata", {})
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or not isinstance(nbgrader or {}, dict):
            raise ValueError(f"cannot read the notebook: cell {i} has malformed metadata")
        if not isinstance((nbgrader or {}).get("grade_id") or "", str):
            raise ValueError(f"cannot read the notebook: cell {i} has a grade_id that is not text")
        if not isinstance(cell.get("source", ""), str):
            raise ValueError(f"cannot read the notebook: cell {i} has a source that is not text")
