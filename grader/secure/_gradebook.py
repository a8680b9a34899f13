"""Step 6 of secure grading, the gradebook part: nbgrader's ``gradebook.db``, written whole.

Writes go through nbgrader's own API (:class:`nbgrader.api.Gradebook`), so
``nbgrader generate_feedback``, ``export`` and formgrader keep working. A student's rows
are one SQLite transaction (nbgrader's own commits inside it only flush). A gradebook
that is locked, corrupt or cannot be written stops the run with a :class:`RecordError`
that names the file and the fix; :func:`check_gradebook` finds the first two before
anything is graded. The files (autograded notebooks, JSON) are :mod:`grader.secure._record`'s.
"""

import contextlib
import copy
import logging
import os
import shlex
import shutil
import sqlite3
import sys
import warnings
from pathlib import Path

try:
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import DBAPIError
except ImportError as exc:  # `pip install lrjax` alone: the grader's extra is not installed

    class MissingGraderDependency(ImportError, ValueError):
        """An ImportError, and a ValueError so that ``lrjax-grade`` prints it and exits 2."""

    raise MissingGraderDependency(
        f"grading needs nbgrader, which cannot be imported here ({exc}); "
        "install the grader with: pip install 'lrjax[grade]'",
        name=exc.name,
    ) from exc

# nbgrader logs a traceback when it rolls back a failed commit, then raises; we report
# that error ourselves (as a RecordError), so its log record goes nowhere.
logging.getLogger("tornado.application").addHandler(logging.NullHandler())

LOCK_WAIT_S = 30.0  # how long to wait for another program's lock on the gradebook, unless
WAIT_VARIABLE = "LRJAX_GRADEBOOK_WAIT"  # this environment variable says otherwise (seconds)
EXIT_INPUT = 2  # the gradebook is locked, corrupt or cannot be opened
EXIT_WRITE = 4  # a write failed (a full disk, a read-only folder)


class RecordError(Exception):
    """The course's gradebook or result files could not be read or written.

    The message is one line that names the file and the fix.

    Attributes:
        exit_code: :data:`EXIT_INPUT` (the gradebook is locked, corrupt or cannot be
            opened) or :data:`EXIT_WRITE` (a write failed: a full disk, ...).
        recorded: the students recorded in full before the error (set by
            :func:`grader.secure._pipeline.grade_assignment`; empty until then).
    """

    def __init__(self, message: str, exit_code: int = EXIT_INPUT):
        super().__init__(message)
        self.exit_code = exit_code
        self.recorded = []


def lock_wait_s() -> float:
    """Seconds to wait for another program's lock on the gradebook: ``$LRJAX_GRADEBOOK_WAIT``,
    or :data:`LOCK_WAIT_S`.

    Raises:
        ValueError: the variable is not a number >= 0 (the message names it).
    """
    text = os.environ.get(WAIT_VARIABLE, "")
    if not text:
        return LOCK_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{WAIT_VARIABLE}={text!r}: expected seconds >= 0, e.g. 30")
    return value


def gradebook_path(course: Path) -> Path:
    """``DIR/gradebook.db``."""
    return Path(course).resolve() / "gradebook.db"


def _corrupt(path: Path, detail: str) -> RecordError:
    aside = shlex.quote(str(path) + ".corrupt")
    return RecordError(
        f"the gradebook {path} is not a valid SQLite database ({detail}); it was left as "
        f"it is: restore it from a backup, or move it aside (mv {shlex.quote(str(path))} "
        f"{aside}) and re-run to start a new one",
        EXIT_INPUT,
    )


def no_space_error(path: Path) -> RecordError:
    return RecordError(f"no space left on device while writing {path}: free space and re-run",
                       EXIT_WRITE)  # fmt: skip


def _gradebook_error(path: Path, exc: BaseException) -> RecordError | None:
    """The :class:`RecordError` for a SQLite error on the gradebook, or None if ``exc``
    (or what it wraps: SQLAlchemy's error, nbgrader's InvalidEntry) is not one we know."""
    while exc is not None and not isinstance(exc, sqlite3.Error):
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    if exc is None:
        return None
    name, text = getattr(exc, "sqlite_errorname", ""), str(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return RecordError(
            f"the gradebook {path} is locked by another program (waited {lock_wait_s():g} s): "
            "close formgrader or the other nbgrader process using it, then re-run",
            EXIT_INPUT,
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "malformed" in text \
            or "not a database" in text:  # fmt: skip
        return _corrupt(path, text)
    if name.startswith("SQLITE_FULL") or "is full" in text:
        return no_space_error(path)
    if name.startswith("SQLITE_IOERR") or "I/O error" in text:
        return RecordError(f"cannot write the gradebook {path} ({text}): check that its disk "
                           "has free space and works, then re-run", EXIT_WRITE)  # fmt: skip
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) \
            or "readonly" in text or "unable to open" in text:  # fmt: skip
        return RecordError(f"cannot open the gradebook {path} for writing ({text}): make it "
                           "and its folder writable, then re-run", EXIT_INPUT)  # fmt: skip
    return None


@contextlib.contextmanager
def gradebook_errors(course: Path):
    """Turn a known SQLite failure on the course's gradebook into a :class:`RecordError`.

    Args:
        course: the course root.

    Raises:
        RecordError: the gradebook is locked, corrupt, cannot be opened or written.
    """
    try:
        yield
    except (sqlite3.Error, DBAPIError, ValueError) as exc:  # ValueError: nbgrader's InvalidEntry
        error = _gradebook_error(gradebook_path(course), exc)
        if error is None:
            raise
        raise error from exc


def check_gradebook(course: Path) -> None:
    """Refuse a gradebook that is locked, corrupt or unreadable before anything is graded.

    Reads only (SQLite's ``quick_check``, waiting up to :func:`lock_wait_s` for another
    program's lock), except that SQLite rolls back a transaction that a crashed program
    left behind (a hot journal), as any connection that may write would; a course
    without a gradebook passes (nbgrader makes one).

    Args:
        course: the course root.

    Raises:
        RecordError: the gradebook is not a file, is locked, is not a valid database, or
            cannot be opened for writing.
    """
    path = gradebook_path(course)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_file():
        raise RecordError(f"the gradebook {path} is not a file: move it aside and re-run")
    try:
        uri = f"{path.as_uri()}?mode=rw"  # never creates it
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=lock_wait_s())) as con:
            rows = con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        raise _gradebook_error(path, exc) or _corrupt(path, str(exc)) from exc
    if rows != [("ok",)]:
        raise _corrupt(path, "; ".join(str(r[0]) for r in rows[:3]))


def open_gradebook(course: Path) -> Gradebook:
    """Open the course's gradebook with nbgrader's API (the caller closes it).

    nbgrader runs the ``alembic`` command when it opens a gradebook; it sits next to
    this interpreter, which may not be on PATH (a venv used without activating it).
    """
    if shutil.which("alembic") is None:
        here = str(Path(sys.executable).parent)
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
    with gradebook_errors(course):
        url = _engine_url(course)
        _stamp_new(gradebook_path(course))
        return Gradebook(url)


def alembic_head() -> str:
    """The newest revision of nbgrader's own database migrations, read with alembic's API
    (nbgrader gets it by running the ``alembic`` command: 3 s of start-up)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


def _stamp_new(path: Path) -> None:
    """Give a gradebook that has no tables yet the ``alembic_version`` row nbgrader writes
    when it creates one, so nbgrader's Gradebook (which then creates every other table)
    does not start the ``alembic`` command to learn it. A gradebook with tables is left
    alone."""
    with contextlib.closing(sqlite3.connect(path, timeout=lock_wait_s())) as con:
        with con:
            if con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]:
                return
            con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            con.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (alembic_head(),))


def db_url(course: Path) -> str:
    """The course's gradebook URL (``sqlite:///DIR/gradebook.db``, as nbgrader's default)."""
    return f"sqlite:///{gradebook_path(course)}"


def _engine_url(course: Path) -> str:
    """:func:`db_url`, waiting up to :func:`lock_wait_s` for another program's lock."""
    return f"{db_url(course)}?timeout={lock_wait_s():g}"


def ensure_assignment(course: Path, assignment: str, sources) -> None:
    """Create the assignment, notebooks and cells in the gradebook if missing.

    Does what ``nbgrader generate_assignment`` records, with nbgrader's own
    preprocessors (``ClearSolutions`` then ``SaveCells``), so solutions are never
    stored. A notebook nbgrader already knows is left as it is, unless it has no
    submissions and lacks some of the source's cells (an earlier run stopped half-way).

    Args:
        course: the course root.
        assignment: the assignment name.
        sources: the :class:`grader.secure._collect.SourceNotebook` tuple.

    Raises:
        RecordError: the gradebook is locked, corrupt, or cannot be written.
    """
    with gradebook_errors(course):
        _ensure_assignment(course, assignment, sources)


def _complete(saved, source) -> bool:
    """Whether the gradebook's notebook ``saved`` holds every cell ``SaveCells`` stores
    for ``source`` (it is the last thing it stores), or has submissions (never redone)."""
    from nbgrader import utils

    wanted = {cell.metadata.nbgrader["grade_id"] for cell in source.nb.cells
              if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)
              or utils.is_task(cell)}  # fmt: skip
    return len(saved.submissions) > 0 or wanted <= {c.name for c in saved.source_cells}


def course_config(course: Path):
    """The course's ``nbgrader_config.py`` as a traitlets Config (empty if there is none).

    It is the instructor's file, loaded as nbgrader loads it; what it does to the
    environment (the kernels' JAX cache) is undone: this process stays as it was.
    """
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    saved = dict(os.environ)
    try:
        return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except ConfigFileNotFound:
        return Config()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _ensure_assignment(course, assignment, sources) -> None:
    from nbgrader.preprocessors import ClearSolutions, SaveCells

    url = _engine_url(course)
    by_name = {source.name: source for source in sources}
    with open_gradebook(course) as gb:
        gb.update_or_create_assignment(assignment)
        known = {nb.name for nb in gb.find_assignment(assignment).notebooks
                 if nb.name not in by_name or _complete(nb, by_name[nb.name])}  # fmt: skip
    config = course_config(course)  # the stub nbgrader releases (ClearSolutions.code_stub)
    for source in sources:
        if source.name in known:
            continue
        resources = {"nbgrader": {"notebook": source.name, "assignment": assignment,
                                  "db_url": url}}  # fmt: skip
        nb = copy.deepcopy(source.nb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb, resources = ClearSolutions(config=config).preprocess(nb, resources)
            SaveCells().preprocess(nb, resources)


def submission_timestamp(course: Path, student: str, assignment: str):
    """(parsed time or None, path or None) of the submission's ``timestamp.txt``."""
    from nbgrader.utils import parse_utc

    path = Path(course) / "submitted" / student / assignment / "timestamp.txt"
    if not path.is_file():
        return None, None
    try:
        return parse_utc(path.read_text(encoding="utf-8").strip()[:64]), path
    except (OSError, ValueError, OverflowError):
        return None, path


def record_gradebook(gb, course: Path, assignment: str, scores, *, missing=()) -> None:
    """Write one student's auto scores (all notebooks of the assignment) to the gradebook.

    All of it is one transaction: the student is recorded whole or not at all.

    Args:
        gb: the open :class:`nbgrader.api.Gradebook` (see :func:`open_gradebook`).
        course: the course root.
        assignment: the assignment name.
        scores: the student's :class:`grader.secure._score.NotebookScore` list (same student).
        missing: sandbox protections the run lacked (``--isolation weak``): said in an
            automatic comment on each notebook's first solution cell.

    Raises:
        RecordError: the gradebook is locked, corrupt, or cannot be written (nothing of
            the student is written).
    """
    student = scores[0].student
    timestamp, _ = submission_timestamp(course, student, assignment)
    with warnings.catch_warnings(), gradebook_errors(course):
        warnings.simplefilter("ignore")  # SQLAlchemy notes from inside nbgrader's API
        try:
            with _one_commit(gb):
                _write_grades(gb, assignment, student, timestamp, scores, missing)
            gb.db.commit()
        finally:
            gb.db.rollback()  # after a failure; a no-op after the commit


@contextlib.contextmanager
def _one_commit(gb):
    """nbgrader's ``add_student`` and ``add_submission`` commit on their own; in this
    block their commits only flush, so the caller's one commit writes everything."""
    gb.db.commit = gb.db.flush  # shadows scoped_session.commit on this instance
    try:
        yield
    finally:
        del gb.db.commit


def weak_comment(missing) -> str:
    """The gradebook comment of a run without the full sandbox."""
    return "Graded with --isolation weak; the sandbox lacked: " + ", ".join(missing) + "."


def _write_grades(gb, assignment, student, timestamp, scores, missing=()) -> None:
    try:
        gb.find_student(student)
    except MissingEntry:
        gb.add_student(student)
    kwargs = {"timestamp": timestamp} if timestamp else {}
    gb.update_or_create_submission(assignment, student, **kwargs)
    for result in scores:
        for test in result.tests:
            grade = gb.find_grade(test.grade_id, result.notebook, assignment, student)
            grade.auto_score = test.points
            grade.needs_manual_grade = False
        comments = gb.find_submission_notebook(result.notebook, assignment, student).comments
        for comment in sorted(comments, key=lambda c: c.cell.name)[:1]:
            if missing:
                comment.auto_comment = weak_comment(missing)
            elif (comment.auto_comment or "").startswith(weak_comment(())[:30]):
                comment.auto_comment = None  # graded again with the full sandbox
