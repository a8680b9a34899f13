"""Step 6 of secure grading, the files: autograded notebooks and the JSON, never half-written.

With :mod:`grader.secure._gradebook` (the gradebook) this is the only writer. Each result is
written as soon as its submission is graded: if the grader dies late, the work done so
far is kept. Re-running overwrites the same rows and files. A student's autograded files
are written beside their place as ``.tmp`` files (:class:`Staging`) and moved in
(``os.replace``) only once their gradebook transaction is committed; the JSON is replaced
whole. A file that cannot be written (a full disk) stops the run with a
:class:`grader.secure._gradebook.RecordError` that names the file and the fix.
"""

import contextlib
import copy
import errno
import json
import os
import shutil
import warnings
from pathlib import Path

import nbformat

from grader.secure._gradebook import EXIT_WRITE, RecordError, no_space_error, submission_timestamp


def feedback_outputs(test, lang_fail="CheckFailed"):
    """A test cell's outputs: the verdict on stdout, or an error output if it failed."""
    if test.passed:
        return [nbformat.v4.new_output("stream", name="stdout", text=test.feedback + "\n")]
    return [
        nbformat.v4.new_output(
            "error", ename=lang_fail, evalue=test.feedback, traceback=test.feedback.split("\n")
        )
    ]


SAFE_DATA = ("text/plain", "image/png", "image/jpeg")  # inert in any browser


def safe_outputs(outputs) -> list:
    """The outputs of a cell that may be shown to the instructor and the student: streams,
    errors, and displayed data reduced to :data:`SAFE_DATA` (an output left with none of
    it is dropped).

    Args:
        outputs: a code cell's ``outputs`` (nbformat 4).

    Returns:
        A new list.
    """
    kept = []
    for out in outputs:
        kind = out.get("output_type")
        if kind in ("stream", "error"):
            kept.append(copy.deepcopy(out))
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items() if k in SAFE_DATA}
            if data:
                out = copy.deepcopy(out)
                out["data"] = data
                out["metadata"] = {k: v for k, v in out.get("metadata", {}).items()
                                   if k in SAFE_DATA}  # fmt: skip
                kept.append(out)
    return kept


def autograded_notebook(source, student_nb, result) -> nbformat.NotebookNode:
    """The notebook nbgrader's ``generate_feedback`` reads for this student.

    The student's solution cells (first match per grade id) in the source's cell
    order; every other cell from the source (the trusted test cells, with hidden tests).
    Each test cell's output is our feedback (an error output when it failed, as a
    failing cell shows in Jupyter); every other code cell keeps what the student's own
    run showed in it (matched by cell id), reduced to :func:`safe_outputs` -- their
    plots stay in their feedback.

    Args:
        source: the :class:`grader.secure._collect.SourceNotebook`.
        student_nb: the student's notebook, or None.
        result: the :class:`grader.secure._score.NotebookScore`.

    Returns:
        A new notebook.
    """
    student_cells = {}
    for cell in student_nb.cells if student_nb is not None else ():
        gid = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
        if gid in source.solution_ids and cell.get("cell_type") == "code":
            student_cells.setdefault(gid, cell)
    ran = {cell.get("id"): cell for cell in student_nb.cells if cell.get("cell_type") == "code"
           and "id" in cell} if student_nb is not None else {}  # fmt: skip
    tests = {t.grade_id: t for t in result.tests}
    nb = copy.deepcopy(source.nb)
    for i, cell in enumerate(nb.cells):
        gid = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
        if gid in student_cells:
            cell = nb.cells[i] = copy.deepcopy(student_cells[gid])
            cell.metadata = copy.deepcopy(source.nb.cells[i].metadata)
        if cell.cell_type != "code":
            continue
        if gid in tests:
            cell.outputs, cell.execution_count = feedback_outputs(tests[gid]), None
        else:
            own = student_cells.get(gid) or ran.get(source.nb.cells[i].get("id"))
            cell.outputs = safe_outputs(own.get("outputs", [])) if own is not None else []
            count = own.get("execution_count") if own is not None else None
            cell.execution_count = count if isinstance(count, int) and count > 0 else None
    return nb


class Staging:
    """Files written beside their place as ``<name>.tmp``, then all moved in
    (:meth:`publish`) or all removed (:meth:`discard`): a reader never sees half a file,
    and a failed write leaves the previous file as it was and no ``.tmp`` behind.
    """

    def __init__(self):
        self.files = []  # (tmp, final)
        self.folders = []  # folders this staging created, outermost first

    def folder(self, path: Path) -> Path:
        """Create ``path`` and its missing parents (remembered for :meth:`discard`).

        Raises:
            RecordError: a folder cannot be created (a full disk, ...).
        """
        missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(path, exc) from exc
        finally:
            self.folders += [p for p in missing if p.is_dir()]
        return path

    def write(self, path: Path, write) -> None:
        """Call ``write(tmp)`` to write ``path``'s content into ``path.tmp``.

        Raises:
            RecordError: the write failed (the ``.tmp`` is removed).
        """
        tmp = path.with_name(path.name + ".tmp")
        done = False
        try:
            write(tmp)
            done = True
        except OSError as exc:
            raise _write_error(path, exc) from exc
        finally:
            if done:
                self.files.append((tmp, path))
            else:
                tmp.unlink(missing_ok=True)

    def publish(self) -> None:
        """Move every staged file into its place (``os.replace``).

        Raises:
            RecordError: a move failed (the files not moved yet stay staged).
        """
        while self.files:
            tmp, path = self.files[0]
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _write_error(path, exc) from exc
            self.files.pop(0)
        self.folders = []

    def discard(self) -> None:
        """Remove what is still staged, and the folders it created if they are empty."""
        for tmp, _ in self.files:
            tmp.unlink(missing_ok=True)
        self.files = []
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):  # not empty: something else is there now
                folder.rmdir()
        self.folders = []


def _write_error(path: Path, exc: OSError) -> RecordError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return no_space_error(path)
    return RecordError(f"cannot write {path} ({exc.strerror or exc}): fix that and re-run",
                       EXIT_WRITE)  # fmt: skip


def write_autograded(course, assignment, source, student_nb, result, staging=None) -> Path:
    """Write ``DIR/autograded/<student>/ASSIGNMENT/<notebook>.ipynb`` (and timestamp.txt).

    Args:
        course: the course root.
        assignment: the assignment name.
        source: the :class:`grader.secure._collect.SourceNotebook`.
        student_nb: the student's notebook, or None.
        result: the :class:`grader.secure._score.NotebookScore`.
        staging: a :class:`Staging` to stage the files in (the caller publishes them);
            None: write them now.

    Returns:
        The notebook's path.

    Raises:
        RecordError: a write failed (nothing half-written, no ``.tmp`` left behind).
    """
    own = staging is None
    staging = Staging() if own else staging
    try:
        folder = staging.folder(Path(course) / "autograded" / result.student / assignment)
        path = folder / f"{result.notebook}.ipynb"
        nb = autograded_notebook(source, student_nb, result)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            staging.write(path, lambda tmp: nbformat.write(nb, tmp))
        _, stamp = submission_timestamp(course, result.student, assignment)
        if stamp is not None:
            staging.write(folder / "timestamp.txt", lambda tmp: shutil.copyfile(stamp, tmp))
        if own:
            staging.publish()
    finally:
        if own:
            staging.discard()
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
    """Write ``results`` (keyed by student id) atomically to ``path``.

    Raises:
        RecordError: the write failed (the previous file is left as it was).
    """
    text = json.dumps(results, indent=2, ensure_ascii=False, sort_keys=True)
    staging = Staging()
    try:
        staging.write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
        staging.publish()
    finally:
        staging.discard()
