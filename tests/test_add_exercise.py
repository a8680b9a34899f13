"""Proof of "one file": an exercise declared in a folder outside the repository is checked,
released and graded -- by stock nbgrader and by the secure grader -- with no change to
``grader/``. This is the walk-through of docs/course.md ("Add an exercise"), step by step.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from _grader_course import REPO, gradebook_scores, tree_hashes

from grader._course import cell_outputs, inject, run_nbgrader

pytestmark = pytest.mark.slow

# Step 1 of the walk-through: one file, exercises/scale_logits.py.
DECLARATION = '''
"""scale_logits(X, w, b): the logits z = X·w + b of m examples (a toy exercise)."""

import numpy as np

import lrjax
from grader import Exercise, Mistake, case

rng = np.random.default_rng(7)


def data(m, n, dtype):
    return (rng.normal(size=(m, n)).astype(dtype), rng.normal(size=n).astype(dtype),
            np.asarray(0.5, dtype))


def reference(X, w, b):
    z, _ = lrjax.forward(lrjax.Params(w, b), X)  # lrjax's forward pass: z and a
    return z


EXERCISE = Exercise(
    name="scale_logits",
    args=("X", "w", "b"),
    returns="z",
    reference=reference,
    visible=(case(*data(4, 3, np.float32), label="m=4"),
             case(*data(5, 2, np.float64), mode="jit", label="m=5 f64 jit")),
    hidden=(case(*data(30, 6, np.float32), label="m=30"),),
    formula="z = X @ w + b",
    doc={"en": "Logits of m examples: X (m, n), w (n,), b ().",
         "uk": "Логіти m зразків: X (m, n), w (n,), b ()."},
    solution="return X @ w + b",
    points=5,
    mistakes=(
        Mistake(
            "bias_forgotten",
            "return X @ w",
            title={"en": "the bias is missing", "uk": "бракує зсуву"},
            advice={"en": "Add b to every logit. {formula_sentence}",
                    "uk": "Додай b до кожного логіта. {formula_sentence}"},
        ),
    ),
)
'''


def _notebook(lang: str) -> nbformat.NotebookNode:
    """Step 2: the instructor's notebook, as nbgrader's "Create Assignment" makes it: a setup
    cell, a solution cell, and a test cell whose metadata names the exercise."""

    def meta(grade_id, **flags):
        base = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                "solution": False, "task": False}  # fmt: skip
        return {"nbgrader": {**base, **flags}}

    setup = nbformat.v4.new_code_cell("import jax\nimport jax.numpy as jnp\nimport numpy as np")
    setup.metadata.update(meta("setup", locked=True))
    solution = nbformat.v4.new_code_cell(
        "def scale_logits(X, w, b):\n    ### BEGIN SOLUTION\n    return X @ w + b\n"
        "    ### END SOLUTION"
    )
    solution.metadata.update(meta("scale_logits", solution=True))
    test = nbformat.v4.new_code_cell(
        "from grader import check\n\n"
        f'check("scale_logits", scale_logits, lang="{lang}")\n'
        "### BEGIN HIDDEN TESTS\n"
        f'check("scale_logits", scale_logits, lang="{lang}", hidden=True)\n'
        "### END HIDDEN TESTS"
    )
    test.metadata.update(meta("test_scale_logits", grade=True, locked=True, points=5))
    test.metadata["lrjax"] = {"checks": "scale_logits"}
    nb = nbformat.v4.new_notebook(cells=[setup, solution, test])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["lrjax"] = {"lang": lang}
    return nb


def _grader(*args, cwd):
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True,
                          text=True, check=False)  # fmt: skip


def test_a_new_exercise_in_one_file_is_checked_released_and_graded(tmp_path):
    before = tree_hashes(REPO / "grader")
    course = tmp_path / "my_course"
    (course / "exercises").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text((REPO / "assignments" / "nbgrader_config.py")
                                               .read_text())  # fmt: skip
    (course / "exercises" / "scale_logits.py").write_text(textwrap.dedent(DECLARATION))
    folder = course / "source" / "toy"
    folder.mkdir(parents=True)
    nbformat.write(_notebook("uk"), folder / "toy.ipynb")

    # Step 3: the visible cases for the students, then nbgrader's own steps.
    made = _grader("checks", "toy", "--course", str(course), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    data = json.loads((folder / "checks.json").read_text())
    assert [r["case"]["label"] for r in data["exercises"]["scale_logits"]["cases"]] == [
        "m=4", "m=5 f64 jit"]  # fmt: skip
    run_nbgrader(course, "generate_assignment", "toy", "--force")
    release = nbformat.read(course / "release" / "toy" / "toy.ipynb", as_version=4)
    assert (course / "release" / "toy" / "checks.json").is_file()

    # Step 4: a class -- right, the catalogued mistake, a near miss, untouched.
    students = {
        "right": "def scale_logits(X, w, b):\n    return jnp.dot(X, w) + b\n",
        "no_bias": "def scale_logits(X, w, b):\n    return X @ w\n",
        "rounded": "def scale_logits(X, w, b):\n    return jnp.round(X @ w + b, 2)\n",
    }
    for student, code in {**students, "untouched": None}.items():
        nb = release if code is None else inject(release, {"scale_logits": code})
        target = course / "submitted" / student / "toy"
        target.mkdir(parents=True)
        nbformat.write(nb, target / "toy.ipynb")

    # Step 5: grade with stock nbgrader, then with the secure grader.
    run_nbgrader(course, "autograde", "toy", "--force")
    stock = gradebook_scores(course, "toy")
    secure = _grader("autograde", "toy", "--course", str(course), "--json",
                     str(tmp_path / "out.json"), "--no-progress", cwd=tmp_path)  # fmt: skip
    assert secure.returncode == 0, secure.stdout + secure.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    want = {"right": 5.0, "no_bias": 0.0, "rounded": 0.0, "untouched": 0.0}
    assert stock == want
    assert {s: e["score"] for s, e in result.items()} == want
    autograded = nbformat.read(course / "autograded" / "no_bias" / "toy" / "toy.ipynb", 4)
    assert "бракує зсуву" in cell_outputs(autograded, "test_scale_logits")
    assert "бракує зсуву" in result["no_bias"]["tests"][0]["feedback"]
    assert "бракує зсуву" not in result["rounded"]["tests"][0]["feedback"]
    assert tree_hashes(REPO / "grader") == before, "grading the new exercise changed grader/"


def test_a_test_cell_for_an_undeclared_exercise_is_refused_with_the_fix(tmp_path):
    course = tmp_path / "c"
    (course / "exercises").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    folder = course / "source" / "toy"
    folder.mkdir(parents=True)
    nbformat.write(_notebook("en"), folder / "toy.ipynb")
    made = _grader("checks", "toy", "--course", str(course), cwd=tmp_path)
    assert made.returncode == 2
    assert "No exercise 'scale_logits'" in made.stderr and "exercises" in made.stderr
    graded = _grader("autograde", "toy", "--course", str(course), cwd=tmp_path)
    assert graded.returncode == 2 and "scale_logits" in graded.stderr, graded.stderr
    assert not Path(course / "gradebook.db").exists()
