"""Build small nbgrader courses in a temporary folder for the grader's tests and benchmarks.

The source notebook is the course's own (``assignments/source/``); a submission is that
notebook as released (solutions cleared, hidden tests removed) with the student's code
put into the solution cells.
"""

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "gradient_descent"
NOTEBOOK = "gradient_descent"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
# A 1x1 PNG (a student's plot, as far as a grader is concerned), and an output that
# would run a script in whoever's browser shows it.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b1bd"
        "f80000000049454e44ae426082"
    )
).decode()
SCRIPT = "<script>fetch('/api/contents?steal=1')</script>"
_SOLUTION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS\n?", re.S)


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(path, as_version=4)


def _write(nb, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nbformat.write(nb, path)


def _meta(cell):
    return cell.metadata.get("nbgrader", {}) or {}


def source_notebook(assignment=ASSIGNMENT):
    """The course's source notebook for ``assignment``."""
    return _read(REPO / "assignments" / "source" / assignment / f"{assignment}.ipynb")


def honest_cells(assignment=ASSIGNMENT) -> dict:
    """``{solution grade_id: code}`` of the instructor's solution (markers removed)."""
    return {
        _meta(c)["grade_id"]: _SOLUTION.sub(lambda m: m.group(1), c.source)
        for c in source_notebook(assignment).cells
        if _meta(c).get("solution")
    }


def make_course(root: Path, assignment=ASSIGNMENT) -> Path:
    """A course folder with the source notebook, the exercise declarations and
    nbgrader_config.py, no submissions."""
    root = Path(root)
    shutil.copytree(REPO / "assignments" / "source" / assignment, root / "source" / assignment)
    shutil.copytree(REPO / "assignments" / "exercises", root / "exercises",
                    ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)  # fmt: skip
    shutil.copy(REPO / "assignments" / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def submit(course: Path, student: str, cells: dict | None = None, *, edit=None,
           assignment=ASSIGNMENT) -> Path:  # fmt: skip
    """Write a student's submission: the released notebook with ``cells`` filled in.

    Args:
        course: the course root.
        student: the student id.
        cells: ``{solution grade_id: code}``; solution cells not given keep the stub.
        edit: optional ``edit(nb) -> nb`` applied last (to tamper with other cells).
        assignment: the assignment name.

    Returns:
        The notebook's path.
    """
    nb = source_notebook(assignment)
    for cell in nb.cells:
        meta = _meta(cell)
        if meta.get("solution"):
            cell.source = (cells or {}).get(meta["grade_id"], STUB)
        elif meta.get("grade"):
            cell.source = _HIDDEN.sub("", cell.source).rstrip()
    if edit is not None:
        nb = edit(nb)
    folder = Path(course) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    _write(nb, folder / f"{assignment}.ipynb")
    (folder / "timestamp.txt").write_text("2026-11-25 12:00:00.000000 UTC")
    return folder / f"{assignment}.ipynb"


def nbgrader(course: Path, *args, limit_mb=None, timeout=None, env=None):
    """Run the real ``nbgrader`` CLI in ``course`` (optionally under an outer prlimit, with
    ``env`` added to this process's environment)."""
    cmd = [sys.executable, "-m", "nbgrader", *args, "--force"]
    if limit_mb is not None:
        cmd = ["prlimit", f"--as={limit_mb << 20}", "--nproc=4000", "--", *cmd]
    env = {**os.environ, **(env or {})}  # nbgrader runs `alembic`, next to this interpreter
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)  # fmt: skip


def gradebook_scores(course: Path, assignment=ASSIGNMENT) -> dict:
    """``{student: total score}`` read with nbgrader's API."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        return {s.student.id: float(s.score) for s in gb.find_assignment(assignment).submissions}


def tree_hashes(folder: Path) -> dict:
    """``{relative path: sha256}`` of every file under ``folder``."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
