"""nbgrader's own autograde through the sandbox (grader/hooks, switched on by the course's
nbgrader_config.py): which outputs are kept, and the preflight with real nbgrader.

The whole course graded this way -- scores, forged outputs, kept plots, feedback pages,
grading again -- is in tests/test_course.py, beside the secure grader's and the kernels'.
"""

import nbformat
import pytest
from _grader_course import PNG, SCRIPT

from grader._course import (
    builder,
    copy_course,
    inject,
    released,
    run_nbgrader,
    submit,
)
from grader.hooks import KeepSafeOutputs, safe_outputs

A = "gradient_descent"


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


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("<script>alert(1)</script>", "&lt;script>alert(1)&lt;/script>"),
        ("<img src=x onerror=alert(2)>", "&lt;img src=x onerror=alert(2)>"),
        ("<!-- hidden --><svg/onload=x()>", "&lt;!-- hidden -->&lt;svg/onload=x()>"),
        ("$a < b$ and $\\frac{1}{2}$, **bold**", "$a < b$ and $\\frac{1}{2}$, **bold**"),
    ],
    ids=["script", "img", "comment-svg", "maths"],
)
def test_markdown_and_raw_cells_show_their_html_as_text(markdown, shown):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_raw_cell(markdown)]
    )
    nb, _ = KeepSafeOutputs().preprocess(nb, {})
    assert [c.source for c in nb.cells] == [shown, shown]


@pytest.mark.slow
@pytest.mark.bwrap
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
