"""nbgrader's own autograde through the sandbox (grader/hooks, switched on by the course's
nbgrader_config.py): real nbgrader, real sandboxes, a real course copy.

One class is graded once (module fixture); each test reads what that run left. The
students: a right one who also submits a plot and some HTML in an ungraded cell, one
with dz's sign flipped who forges a passing output under test_dz, one with a wrong db.
"""

import base64
import json
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

from grader._course import (
    autograded,
    builder,
    cell_outputs,
    copy_course,
    inject,
    released,
    run_nbgrader,
    scores,
    submit,
)
from grader.hooks import safe_outputs

pytestmark = [pytest.mark.slow, pytest.mark.bwrap]

A = "gradient_descent"
# A 1x1 PNG: a student's plot, as far as the grader is concerned.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b1bd"
        "f80000000049454e44ae426082"
    )
).decode()
SCRIPT = "<script>fetch('/api/contents?steal=1')</script>"


def _plot_and_html(nb):
    """The student's own run of the training cell: a plot, and an HTML output with a
    script (that formgrader would run in the instructor's browser)."""
    for cell in nb.cells:
        if cell.get("id") == "code-train":
            cell.execution_count = 7
            cell.outputs = [
                nbformat.v4.new_output("stream", name="stdout", text="cost 0.31\n"),
                nbformat.v4.new_output(
                    "display_data", data={"image/png": PNG, "text/plain": "<Figure>"}
                ),
                nbformat.v4.new_output("display_data", data={"text/html": SCRIPT}),
            ]
    return nb


def _forged_pass(nb):
    """A passing-looking output under test_dz, as if the student ran it."""
    for cell in nb.cells:
        if cell.get("id") == "test-dz":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all passed\n")]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("hooks"), lang="en")
    run_nbgrader(root, "generate_assignment", A)
    release, right = released(root, A), builder().solution_code(A)
    wrong_dz = {**right, "compute_dz": "def compute_dz(a, y):\n    return y - a\n"}
    wrong_db = {**right, "compute_db": "def compute_db(dz):\n    return 2 * dz\n"}
    submit(root, "ada", _plot_and_html(inject(release, right)), A)
    submit(root, "bob", _forged_pass(inject(release, wrong_dz)), A)
    submit(root, "cy", inject(release, wrong_db), A)
    start = time.perf_counter()
    first = run_nbgrader(root, "autograde", A)
    seconds = time.perf_counter() - start
    yield {
        "root": root,
        "first": first,
        "seconds": seconds,
        "scores": scores(root, A),
        "notebooks": {s: autograded(root, s, A) for s in ("ada", "bob", "cy")},
    }
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(
    ("output", "kept"),
    [
        (nbformat.v4.new_output("stream", name="stdout", text="hi\n"), {"text": "hi\n"}),
        (nbformat.v4.new_output("display_data", data={"image/png": PNG}), {"image/png": PNG}),
        (
            nbformat.v4.new_output("display_data", data={"text/html": SCRIPT, "text/plain": "x"}),
            {"text/plain": "x"},
        ),
        (nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)"}), None),
        (nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload=x()/>"}), None),
        (
            nbformat.v4.new_output(
                "execute_result", data={"text/markdown": "<img onerror=x>"}, execution_count=1
            ),
            None,
        ),
    ],
    ids=["stream", "png", "html-with-text", "javascript", "svg", "markdown"],
)
def test_only_inert_outputs_are_kept(output, kept):
    out = safe_outputs([output])
    if kept is None:
        assert out == []
    elif "text" in kept:
        assert out[0]["text"] == kept["text"]
    else:
        assert dict(out[0]["data"]) == kept


def test_nbgrader_autograde_scores_through_the_sandbox(course):
    points = {k: float(v) for k, v in builder().points(A).items()}
    assert course["scores"]["ada"] == {**points, "total": 10.0}
    assert course["scores"]["bob"] == {**points, "test_dz": 0.0, "total": 7.0}
    assert course["scores"]["cy"] == {**points, "test_db": 0.0, "total": 8.0}


def test_a_forged_output_under_a_test_cell_is_replaced_by_the_verdict(course):
    shown = cell_outputs(course["notebooks"]["bob"], "test_dz")
    assert "all passed" not in shown
    assert shown.startswith("CheckFailed: compute_dz is not right yet")
    assert "sign flipped" in shown


def test_the_students_plot_is_kept_and_scripts_are_dropped(course):
    nb = course["notebooks"]["ada"]
    cell = next(c for c in nb.cells if c.get("id") == "code-train")
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in cell.outputs]
    assert kinds == [("stream", []), ("display_data", ["image/png", "text/plain"])]
    assert cell.execution_count == 7
    assert SCRIPT not in json.dumps(nb)


def test_feedback_html_shows_the_plot_and_the_diagnosis_first(course):
    root = course["root"]
    run_nbgrader(root, "generate_feedback", A)
    ada = (root / "feedback" / "ada" / A / f"{A}.html").read_text(encoding="utf-8")
    assert f"data:image/png;base64,{PNG}" in ada
    assert "steal=1" not in ada
    bob = (root / "feedback" / "bob" / A / f"{A}.html").read_text(encoding="utf-8")
    at = bob.index("compute_dz is not right yet")
    assert "Traceback (most recent" not in bob and "grader/checks" not in bob
    assert bob.index("sign flipped") > at


def test_grading_again_always_grades_again(course):
    """nbgrader skips a student it has graded unless forced; the course forces it, after
    its own run and after `python -m grader autograde` alike."""
    root = course["root"]
    secure = subprocess.run(
        [sys.executable, "-m", "grader", "autograde", A, "--course", str(root), "--no-progress"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert secure.returncode == 0, secure.stderr
    again = run_nbgrader(root, "autograde", A, "--student", "bob")
    log = again.stdout + again.stderr
    assert "Skipping existing" not in log
    assert "Autograding" in log and "bob" in log
    assert scores(root, A)["bob"]["test_dz"] == 0.0


def test_a_source_that_fails_its_own_tests_grades_nobody(tmp_path):
    """The preflight: a broken source solution stops nbgrader before any score exists."""
    root = copy_course(tmp_path / "c", lang="en")
    run_nbgrader(root, "generate_assignment", A)
    submit(root, "ada", inject(released(root, A), builder().solution_code(A)), A)
    path = root / "source" / A / f"{A}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.get("id") == "solution-dz":
            cell.source = cell.source.replace("return a - y", "return y - a")
    nbformat.write(nb, path)
    run = run_nbgrader(root, "autograde", A, check=False)
    assert run.returncode != 0
    assert "source solution of gradient_descent scored" in run.stdout + run.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        graded = [
            g.auto_score
            for sub in gb.assignment_submissions(A)
            for nb in sub.notebooks
            for g in nb.grades
        ]
    assert all(score is None for score in graded), graded
    assert not (root / "autograded" / "ada" / A).exists()
