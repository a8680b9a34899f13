"""Step 6 of secure grading: the only writer (gradebook, autograded notebooks, JSON).

Writes go through nbgrader's own API (:class:`nbgrader.api.Gradebook`), so
``nbgrader generate_feedback``, ``export`` and formgrader keep working. Each result is
written (and committed) as soon as its submission is graded: if the grader dies late,
the work done so far is kept. Re-running overwrites the same rows and files.
"""

import copy
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import nbformat

try:
    from nbgrader.api import Gradebook, MissingEntry
except ImportError as exc:  # `pip install lrjax` alone: the grader's extra is not installed

    class MissingGraderDependency(ImportError, ValueError):
        """An ImportError, and a ValueError so that ``lrjax-grade`` prints it and exits 2."""

    raise MissingGraderDependency(
        f"grading needs nbgrader, which cannot be imported here ({exc}); "
        "install the grader with: pip install 'lrjax[grade]'",
        name=exc.name,
    ) from exc


def open_gradebook(course: Path) -> Gradebook:
    """Open the course's gradebook with nbgrader's API (the caller closes it).

    nbgrader runs the ``alembic`` command when it opens a gradebook; it sits next to
    this interpreter, which may not be on PATH (a venv used without activating it).
    """
    if shutil.which("alembic") is None:
        here = str(Path(sys.executable).parent)
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
    return Gradebook(db_url(course))


def db_url(course: Path) -> str:
    """The course's gradebook URL (``sqlite:///DIR/gradebook.db``, as nbgrader's default)."""
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def ensure_assignment(course: Path, assignment: str, sources) -> None:
    """Create the assignment, notebooks and cells in the gradebook if missing.

    Does what ``nbgrader generate_assignment`` records, with nbgrader's own
    preprocessors (``ClearSolutions`` then ``SaveCells``), so solutions are never
    stored. An assignment nbgrader already knows is left as it is.

    Args:
        course: the course root.
        assignment: the assignment name.
        sources: the :class:`grader._collect.SourceNotebook` tuple.
    """
    from nbgrader.preprocessors import ClearSolutions, SaveCells

    url = db_url(course)
    with open_gradebook(course) as gb:
        gb.update_or_create_assignment(assignment)
        known = {nb.name for nb in gb.find_assignment(assignment).notebooks}
    for source in sources:
        if source.name in known:
            continue
        resources = {"nbgrader": {"notebook": source.name, "assignment": assignment,
                                  "db_url": url}}  # fmt: skip
        nb = copy.deepcopy(source.nb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb, resources = ClearSolutions().preprocess(nb, resources)
            SaveCells().preprocess(nb, resources)


def _timestamp(course: Path, student: str, assignment: str):
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

    Args:
        gb: the open :class:`nbgrader.api.Gradebook` (see :func:`open_gradebook`).
        course: the course root.
        assignment: the assignment name.
        scores: the student's :class:`grader._score.NotebookScore` list (same student).
        missing: sandbox protections the run lacked (``--isolation weak``): said in an
            automatic comment on each notebook's first solution cell.
    """
    student = scores[0].student
    timestamp, _ = _timestamp(course, student, assignment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy notes from inside nbgrader's API
        _write_grades(gb, assignment, student, timestamp, scores, missing)


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
    gb.db.commit()


def _feedback_outputs(test, lang_fail="AssertionError"):
    if test.passed:
        return [nbformat.v4.new_output("stream", name="stdout", text=test.feedback + "\n")]
    return [
        nbformat.v4.new_output(
            "error", ename=lang_fail, evalue=test.feedback, traceback=test.feedback.split("\n")
        )
    ]


def autograded_notebook(source, student_nb, result) -> nbformat.NotebookNode:
    """The notebook nbgrader's ``generate_feedback`` reads for this student.

    The student's solution cells (first match per grade id) in the source's cell
    order; every other cell from the source (the trusted test cells, with hidden tests);
    outputs cleared, and each test cell's output is our feedback (an error output when
    it failed, as a failing cell shows in Jupyter).

    Args:
        source: the :class:`grader._collect.SourceNotebook`.
        student_nb: the student's notebook, or None.
        result: the :class:`grader._score.NotebookScore`.

    Returns:
        A new notebook.
    """
    student_cells = {}
    for cell in student_nb.cells if student_nb is not None else ():
        gid = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
        if gid in source.solution_ids and cell.get("cell_type") == "code":
            student_cells.setdefault(gid, cell)
    tests = {t.grade_id: t for t in result.tests}
    nb = copy.deepcopy(source.nb)
    for i, cell in enumerate(nb.cells):
        gid = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
        if gid in student_cells:
            cell = nb.cells[i] = copy.deepcopy(student_cells[gid])
            cell.metadata = copy.deepcopy(source.nb.cells[i].metadata)
        if cell.cell_type == "code":
            cell.outputs = _feedback_outputs(tests[gid]) if gid in tests else []
            cell.execution_count = None
    return nb


def write_autograded(course, assignment, source, student_nb, result) -> Path:
    """Write ``DIR/autograded/<student>/ASSIGNMENT/<notebook>.ipynb`` (and timestamp.txt).

    Returns:
        The written notebook's path.
    """
    folder = Path(course) / "autograded" / result.student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.notebook}.ipynb"
    nb = autograded_notebook(source, student_nb, result)
    tmp = path.with_suffix(".ipynb.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nbformat.write(nb, tmp)
    os.replace(tmp, path)
    _, stamp = _timestamp(course, result.student, assignment)
    if stamp is not None:
        shutil.copyfile(stamp, folder / "timestamp.txt")
    return path


def student_json(scores) -> dict:
    """The JSON entry for one student (all notebooks of the assignment).

    Returns:
        ``{"score", "max_score", "status", "reason", "tests": [...], "notebooks": {...}}``.
    """
    bad = [s for s in scores if s.status != "ok"]
    return {
        "score": sum(s.score for s in scores),
        "max_score": sum(s.max_score for s in scores),
        "status": bad[0].status if bad else "ok",
        "reason": "; ".join(f"{s.notebook}: {s.reason}" for s in bad),
        "tests": [
            {
                "notebook": s.notebook,
                "grade_id": t.grade_id,
                "function": t.function,
                "points": t.points,
                "max_points": t.max_points,
                "passed": t.passed,
                "feedback": t.feedback,
            }
            for s in scores
            for t in s.tests
        ],
        "notebooks": {
            s.notebook: {
                "score": s.score,
                "max_score": s.max_score,
                "status": s.status,
                "reason": s.reason,
                **s.details,
            }
            for s in scores
        },
    }


def write_json(path: Path, results: dict) -> None:
    """Write ``results`` (keyed by student id) atomically to ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False, sort_keys=True))
    os.replace(tmp, path)
