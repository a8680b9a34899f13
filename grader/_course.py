"""Course chores with stock nbgrader: copy the course, make submissions, autograde, read scores.

Used by the course demo (``assignments/demo.py``) and the course tests. Every
nbgrader step runs the real ``nbgrader`` command of this Python environment in
a subprocess, from the course root, exactly as an instructor would.
"""

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

COURSE = Path(__file__).resolve().parent.parent / "assignments"
FIRST = "gradient_descent"  # the first assignment: the default of every chore below


def notebook(assignment: str = FIRST) -> str:
    """The notebook file of an assignment (named after it): ``gradient_descent.ipynb``."""
    return f"{assignment}.ipynb"


@functools.cache
def builder(src: Path = COURSE):
    """The course's notebook builder (``assignments/build_notebooks.py``) as a module
    (loaded once per course folder)."""
    path = src / "build_notebooks.py"
    spec = importlib.util.spec_from_file_location("_lrjax_build_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_course(dst: Path, src: Path = COURSE, *, lang: str | None = None) -> Path:
    """Copy the course (config, ``exercises/`` and ``source/`` only, no working folders)
    into ``dst``; with ``lang``, its notebooks are built in that language instead.

    Returns:
        ``dst``, now an nbgrader course root.
    """
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "nbgrader_config.py", dst / "nbgrader_config.py")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(src / "exercises", dst / "exercises", dirs_exist_ok=True, ignore=ignore)
    if lang is None:
        shutil.copytree(src / "source", dst / "source", dirs_exist_ok=True)
    else:
        builder(src).write_course(lang, dst, src)
    return dst


def run_nbgrader(
    course: Path, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``nbgrader *args`` in ``course`` with this environment's executables on PATH
    (and ``env`` added to the environment).

    nbgrader itself calls ``alembic`` and starts kernels with ``python``; both must
    come from this environment so that the kernels can ``import grader``.

    Raises:
        RuntimeError: if ``check`` and nbgrader exits with an error (its output attached).
    """
    env = {**os.environ, **(env or {})}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed with exit code {proc.returncode}:\n"
            f"{proc.stdout}\n{proc.stderr}"
        )
    return proc


def released(course: Path, assignment: str = FIRST) -> nbformat.NotebookNode:
    """The released (student) notebook; run ``generate_assignment`` first."""
    path = course / "release" / assignment / notebook(assignment)
    return nbformat.read(path, as_version=4)


def inject(nb: nbformat.NotebookNode, code: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with solution cells replaced: ``{grade_id: source}``.

    Raises:
        KeyError: if ``nb`` has no solution cell with one of the grade ids.
    """
    nb = nbformat.from_dict(nb)
    found = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in code and cell.metadata["nbgrader"].get("solution"):
            cell.source = code[grade_id]
            found.add(grade_id)
    missing = set(code) - found
    if missing:
        raise KeyError(f"No solution cells with grade ids {sorted(missing)} in the notebook")
    return nb


def submit(course: Path, student: str, nb: nbformat.NotebookNode, assignment: str = FIRST) -> Path:
    """Place ``nb`` as ``student``'s submission, where ``nbgrader autograde`` looks."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / notebook(assignment))
    return folder / notebook(assignment)


def autograded(course: Path, student: str, assignment: str = FIRST) -> nbformat.NotebookNode:
    """The notebook nbgrader graded for ``student``, with its outputs."""
    path = course / "autograded" / student / assignment
    return nbformat.read(path / notebook(assignment), as_version=4)


def scores(course: Path, assignment: str = FIRST) -> dict[str, dict[str, float]]:
    """Points per graded cell for every student, read from ``gradebook.db``.

    Returns:
        ``{student: {"test_da": 3.0, ..., "total": 10.0}}``.
    """
    from nbgrader.api import Gradebook  # imported here: nbgrader is a dev dependency

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            nb = gb.find_submission_notebook(assignment, sub.assignment.name, sub.student.id)
            row = {grade.name: float(grade.score) for grade in nb.grades}
            row["total"] = float(sub.score)
            out[sub.student.id] = row
    return out


def cell_outputs(nb: nbformat.NotebookNode, grade_id: str) -> str:
    """All text a cell printed or raised (stdout, stderr, tracebacks), joined."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            parts = []
            for out in cell.get("outputs", []):
                if out.output_type == "stream":
                    parts.append(out.text)
                elif out.output_type == "error":
                    parts.append(f"{out.ename}: {out.evalue}")
            return "\n".join(parts)
    raise KeyError(f"No cell with grade id {grade_id!r}")
