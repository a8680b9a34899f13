"""The course through nbgrader's exchange, as on JupyterHub (docs/course.md, "Students"):
release, fetch, work in a real kernel, submit, collect, autograde (sandboxed), feedback.

Every step is the real ``nbgrader`` command. The instructor and two students share this
machine's user but not their folders; a student is told apart by ``USER``, as nbgrader
tells them apart on a hub (each logged in as themselves). The students' kernels run
the visible checks from the ``checks.json`` that came with the assignment.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _exercises import cases
from nbclient import NotebookClient

from grader._course import builder, copy_course, inject, run_nbgrader, scores
from grader.checks import message

pytestmark = [pytest.mark.slow, pytest.mark.bwrap]

A = "gradient_descent"


def _exchange_config(course: Path, exchange: Path) -> None:
    """What docs/course.md tells an instructor to add for a hub: the exchange folder."""
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\n")


def _as_student(home: Path, user: str, exchange: Path, *args: str):
    """``nbgrader *args`` run by ``user`` from their home folder (no course config there).

    On a hub nbgrader takes the student id from the login (``JUPYTERHUB_USER``); here
    every student is this machine's one user, so the id is given as ``--student``.
    """
    env = {**os.environ, "USER": user, "LOGNAME": user, "HOME": str(home)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, "--course", "lrjax",
         f"--Exchange.root={exchange}", f"--student={user}"],
        cwd=home, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def _work(folder: Path, code: dict) -> nbformat.NotebookNode:
    """The student fills in their answers and runs the setup, their solutions and the
    checks in a kernel in the fetched folder, as Jupyter would (the other cells -- the
    training and plots -- are not what this test is about); returns the notebook with
    those cells' outputs."""
    path = folder / f"{A}.ipynb"
    nb = inject(nbformat.read(path, as_version=4), code)
    graded = nbformat.v4.new_notebook(
        cells=[c for c in nb.cells if "nbgrader" in c.metadata], metadata=nb.metadata
    )  # the same cell objects
    client = NotebookClient(graded, kernel_name="python3", timeout=300, allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})  # fmt: skip
    client.execute(env={**os.environ, "JAX_PLATFORMS": "cpu"})
    nbformat.write(nb, path)
    return nb


def _test_output(nb, grade_id: str) -> str:
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(o.get("text", "") or "\n".join(o.get("traceback", [])) for o in cell.outputs)


def test_release_fetch_submit_collect_autograde_feedback(tmp_path):
    exchange = tmp_path / "exchange"
    exchange.mkdir(mode=0o777)
    course = copy_course(tmp_path / "instructor" / "course", lang="uk")
    _exchange_config(course, exchange)
    run_nbgrader(course, "generate_assignment", A)
    run_nbgrader(course, "release_assignment", A)

    right = builder().solution_code(A)
    work = {
        "olena": right,
        "taras": {**right, "compute_dz": "def compute_dz(a, y):\n    return y - a\n"},
    }
    seen = {}
    for user, code in work.items():
        home = tmp_path / "home" / user
        home.mkdir(parents=True)
        fetched = _as_student(home, user, exchange, "fetch_assignment", A)
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
        folder = home / A
        assert sorted(p.name for p in folder.iterdir()) == ["checks.json", f"{A}.ipynb"]
        seen[user] = _work(folder, code)
        submitted = _as_student(home, user, exchange, "submit", A)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr

    # The visible checks ran in the students' own kernels, in Ukrainian.
    passed = message("pass", "uk", function="compute_dz", total=len(cases("compute_dz")))
    assert _test_output(seen["olena"], "test_dz").strip() == passed
    assert _test_output(seen["taras"], "test_dz").startswith("compute_dz: ще є помилки")
    assert "знак навпаки" in _test_output(seen["taras"], "test_dz")

    run_nbgrader(course, "collect", A)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["olena", "taras"]
    run_nbgrader(course, "autograde", A)
    got = scores(course, A)
    assert got["olena"]["total"] == 10.0
    assert got["taras"]["total"] == 7.0 and got["taras"]["test_dz"] == 0.0

    run_nbgrader(course, "generate_feedback", A)
    run_nbgrader(course, "release_feedback", A)
    home = tmp_path / "home" / "taras"
    fetched = _as_student(home, "taras", exchange, "fetch_feedback", A)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    pages = list((home / A / "feedback").rglob(f"{A}.html"))
    assert len(pages) == 1
    page = pages[0].read_text(encoding="utf-8")
    assert "знак навпаки" in page and "Traceback (most recent" not in page
    shutil.rmtree(tmp_path / "home", ignore_errors=True)
