"""The whole course -- both assignments, both languages -- graded by nbgrader and by the
secure grader, in a temporary copy per (assignment, language).

Each copy gets one ``generate_assignment``, then its class is graded by ``nbgrader
autograde`` with the course's config (the solution cells in the sandbox, nbgrader's own
scoring and gradebook); two copies (SECURE) also by ``python -m grader autograde`` (the
same sandbox, its own gradebook writer), which must give the same points and outputs.
One copy (KERNEL) is graded once more the unsandboxed way, ``LRJAX_AUTOGRADE=kernel``
(every test cell run in a kernel, hidden tests restored from the course's
declarations): the notebooks' own checks must agree too.

The class: the source solution, the untouched release, and students with mistakes:
every catalogued mistake of every exercise (from its declaration) and every generic
fixture (``tests/fixtures/mistakes``), one per exercise per student, half of the groups
in English, the other half in Ukrainian. The kernels are this environment's Python:
every test cell imports ``grader`` from it.
"""

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from _exercises import EXERCISES, cases
from _grader_course import PNG, SCRIPT
from _reference import MISTAKES, read_mistake
from nbclient import NotebookClient

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
from grader.checks._messages import message, title
from grader.hooks._autograde import inert_markup

pytestmark = pytest.mark.slow

LANGS = ("en", "uk")
COMBOS = [(a, lang) for a in ("gradient_descent", "m_examples") for lang in LANGS]
KERNEL = ("gradient_descent", "en")  # also graded in nbgrader's kernels, unsandboxed
# Graded by `python -m grader autograde` too: one of each assignment and of each language
# (the other two give the same steps nothing new: test_checks judges every mistake).
SECURE = {("gradient_descent", "en"), ("m_examples", "uk")}
# The KERNEL copy also has two students for nbgrader's own steps: one who hands in a plot
# and some HTML (a script) in an ungraded cell, one who forges a passing output under
# test_dz (their dz has its sign flipped).
# A right gradient_descent that does not call the student's propagate: in a group where
# propagate is wrong on purpose, gradient_descent must still be right on its own.
ALONE = """def gradient_descent(w, b, X, Y, learning_rate, steps):
    costs = []
    for _ in range(steps):
        A = jax.nn.sigmoid(X @ w + b)
        costs.append(-jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A)))
        w = w - learning_rate * X.T @ (A - Y) / X.shape[0]
        b = b - learning_rate * jnp.mean(A - Y)
    return w, b, jnp.stack(costs)
"""


def catalogue(assignment: str) -> dict[str, list[tuple[str, str, bool]]]:
    """``{exercise: [(diagnosis, code, hint?), ...]}``: declared mistakes, then fixtures."""
    names = builder().exercises_of(assignment)
    out = {n: [(m.name, EXERCISES[n].source(m.code), m.hint) for m in EXERCISES[n].mistakes]
           for n in names}  # fmt: skip
    for path in sorted(MISTAKES.glob("*.py")):
        function, diagnosis, code = read_mistake(path)
        if function in out:
            out[function].append((diagnosis, code, False))
    return out


def groups(assignment: str, lang: str) -> dict[str, dict[str, tuple[str, str, bool]]]:
    """``{student: {exercise: (diagnosis, code, hint?)}}``: group k holds the k-th mistake
    of each exercise; even groups in English, odd ones in Ukrainian."""
    found = catalogue(assignment)
    count = max(len(v) for v in found.values())
    keep = range(0 if lang == "en" else 1, count, 2)
    return {f"group_{k}": {n: ms[k] for n, ms in found.items() if k < len(ms)} for k in keep}


def points(assignment: str) -> dict[str, float]:
    return {k: float(v) for k, v in builder().points(assignment).items()}


def _with_outputs(nb, outputs: dict):
    """``nb`` with the outputs ``{cell id: [output, ...]}``, as if the student ran it."""
    for cell in nb.cells:
        if cell.get("id") in outputs:
            cell.outputs, cell.execution_count = outputs[cell.id], 7
    return nb


def _nbgraders_own(course: Path, release, right) -> None:
    """Submit the KERNEL copy's two extra students (see the top)."""
    plot = [
        nbformat.v4.new_output("stream", name="stdout", text="cost 0.31\n"),
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
        nbformat.v4.new_output("display_data", data={"text/html": SCRIPT}),
    ]
    plotter = _with_outputs(inject(release, right), {"code-train": plot})
    plotter.cells.insert(1, nbformat.v4.new_markdown_cell(f"My notes {SCRIPT}"))
    submit(course, "plotter", plotter)
    forged = [nbformat.v4.new_output("stream", name="stdout", text="all passed\n")]
    wrong = {**right, "compute_dz": "def compute_dz(a, y):\n    return y - a\n"}
    submit(course, "forger", _with_outputs(inject(release, wrong), {"test-dz": forged}))


def _grade(root: Path, assignment: str, lang: str) -> dict:
    """Release, submit, grade with nbgrader, then with the secure grader (SECURE only),
    then (KERNEL only) with nbgrader again for one student and with nbgrader's kernels."""
    course = copy_course(root, lang=lang)
    name = assignment
    source = course / "source" / name / f"{assignment}.ipynb"
    # validate runs the whole notebook once more: once per assignment is enough (same cells)
    validate = run_nbgrader(course, "validate", str(source)) if lang == "en" else None
    run_nbgrader(course, "generate_assignment", name, "--force")
    release = released(course, assignment)
    right = builder().solution_code(assignment)
    submit(course, "source", nbformat.read(source, as_version=4), assignment)
    submit(course, "untouched", release, assignment)
    wrong = groups(assignment, lang)
    for student, mistakes in wrong.items():
        code = {**right, **{n: c for n, (_, c, _) in mistakes.items()}}
        if "gradient_descent" in code and "gradient_descent" not in mistakes:
            code["gradient_descent"] = ALONE
        submit(course, student, inject(release, code), assignment)
    if (assignment, lang) == KERNEL:
        _nbgraders_own(course, release, right)
    autograde = run_nbgrader(course, "autograde", name)  # raises if it fails
    nbgrader_scores = scores(course, assignment)
    notebooks = {s: autograded(course, s, assignment) for s in nbgrader_scores}
    secure = secure_notebooks = regrade = kernel = None
    out = course / "secure.json"
    if (assignment, lang) in SECURE:
        secure = subprocess.run(
            [sys.executable, "-m", "grader", "autograde", name, "--course", str(course),
             "--json", str(out), "--no-progress"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        secure_notebooks = {s: autograded(course, s, assignment) for s in nbgrader_scores}
    kernel_notebooks, feedback = {}, {}
    if (assignment, lang) == KERNEL:
        run_nbgrader(course, "generate_feedback", name, "--student=[fp]*")
        for student in ("plotter", "forger"):
            page = course / "feedback" / student / name / f"{assignment}.html"
            feedback[student] = page.read_text(encoding="utf-8")
        regrade = run_nbgrader(course, "autograde", name, "--student", "forger")
        regrade = (regrade.stdout + regrade.stderr, scores(course, assignment)["forger"])
        kernel_env = {"LRJAX_AUTOGRADE": "kernel"}
        run_nbgrader(course, "autograde", name, "--force", env=kernel_env)
        kernel = scores(course, assignment)
        kernel_notebooks = {s: autograded(course, s, assignment) for s in kernel}
    return {
        "assignment": assignment,
        "lang": lang,
        "course": course,
        "release": release,
        "validate": validate,
        "autograde": autograde,
        "nbgrader": nbgrader_scores,
        "notebooks": notebooks,
        "secure_notebooks": secure_notebooks,
        "kernel": kernel,
        "feedback": feedback,
        "regrade": regrade,
        "kernel_notebooks": kernel_notebooks,
        "secure": secure,
        "secure_json": json.loads(out.read_text()) if out.exists() else {},
        "wrong": wrong,
        "points": points(assignment),
    }


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """Every (assignment, language) graded, two at a time: nbgrader grades one notebook
    at a time, so two gradings use the two cores."""
    roots = {c: tmp_path_factory.mktemp(f"course_{c[0]}_{c[1]}") for c in COMBOS}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {c: pool.submit(_grade, root, *c) for c, root in roots.items()}
        graded = {c: future.result() for c, future in futures.items()}
    yield graded
    for entry in graded.values():
        shutil.rmtree(entry["course"], ignore_errors=True)


@pytest.fixture(params=COMBOS, ids=lambda c: f"{c[0]}-{c[1]}")
def graded(request, everything):
    """One (assignment, language) graded by nbgrader (and the secure grader if SECURE)."""
    return everything[request.param]


@pytest.fixture(params=sorted(SECURE), ids=lambda c: f"{c[0]}-{c[1]}")
def secured(request, everything):
    """One (assignment, language) graded by nbgrader and by the secure grader."""
    return everything[request.param]


def secure_scores(graded) -> dict[str, dict[str, float]]:
    """The secure grader's points per test cell (+ total) for every student."""
    out = {}
    for student, entry in graded["secure_json"].items():
        row = {t["grade_id"]: float(t["points"]) for t in entry["tests"]}
        row["total"] = float(entry["score"])
        out[student] = row
    return out


def secure_feedback(graded, student: str, grade_id: str) -> list[str]:
    """The secure grader's feedback for that cell, as a list of one (none: not graded so)."""
    if graded["secure"] is None:
        return []
    entry = graded["secure_json"][student]
    return [next(t["feedback"] for t in entry["tests"] if t["grade_id"] == grade_id)]


@pytest.mark.parametrize("assignment", ["gradient_descent", "m_examples"])
def test_validate_passes_on_the_source_solution(everything, assignment):
    validate = everything[(assignment, "en")]["validate"]
    assert validate.returncode == 0
    assert "Success! Your notebook passes all the tests." in validate.stdout


def test_the_secure_grader_ran_the_same_class(secured):
    assert secured["secure"].returncode == 0, secured["secure"].stdout + secured["secure"].stderr
    assert set(secured["secure_json"]) == set(secured["nbgrader"])


def test_release_has_stubs_and_no_solutions_or_hidden_tests(graded):
    cells = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in graded["release"].cells
        if "nbgrader" in c.metadata
    }
    assert set(cells) >= set(graded["points"])
    for grade_id, source in cells.items():
        assert "BEGIN SOLUTION" not in source and "HIDDEN" not in source
        assert "hidden=True" not in source
        if grade_id in EXERCISES:
            assert "raise NotImplementedError()" in source
        if grade_id.startswith("test_"):
            assert f'lang="{graded["lang"]}"' in source
    folder = graded["course"] / "release" / graded["assignment"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "checks.json",
        f"{graded['assignment']}.ipynb",
    ]


def test_the_source_solution_gets_full_marks_from_both_graders(graded):
    full = {**graded["points"], "total": 10.0}
    assert graded["nbgrader"]["source"] == full
    if graded["secure"] is not None:
        assert secure_scores(graded)["source"] == full


def test_both_graders_agree_on_every_student(secured):
    assert secure_scores(secured) == secured["nbgrader"]


def test_a_correct_solution_writes_nothing_to_stderr(graded):
    nb = graded["notebooks"]["source"]
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            kinds = {(o.output_type, o.get("name")) for o in cell.outputs}
            assert kinds == {("stream", "stdout")}, cell.outputs


def test_autograde_restores_and_runs_the_hidden_tests(graded):
    nb = graded["notebooks"]["source"]
    for grade_id in graded["points"]:
        function = next(c.metadata["lrjax"]["checks"] for c in nb.cells
                        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)  # fmt: skip
        total = len(cases(function, hidden=True))
        passed = message("pass", graded["lang"], function=function, total=total)
        assert passed in cell_outputs(nb, grade_id)


def test_the_kernel_is_this_environments_python(tmp_path):
    """The kernelspec nbgrader uses ("python3") starts this venv's Python, which imports grader."""
    cell = nbformat.v4.new_code_cell("import sys, grader\nprint(sys.executable)")
    nb = nbformat.v4.new_notebook(cells=[cell])
    NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = Path(nb.cells[0].outputs[0].text.strip())
    assert printed.resolve() == Path(sys.executable).resolve()


def test_the_untouched_release_scores_zero_and_says_why(graded):
    lang = graded["lang"]
    assert graded["nbgrader"]["untouched"] == {**dict.fromkeys(graded["points"], 0.0), "total": 0.0}
    nb = graded["notebooks"]["untouched"]
    line = message("diagnosis", lang, title=title("not_implemented", lang), advice="").strip()
    for grade_id in graded["points"]:
        for output in [cell_outputs(nb, grade_id), *secure_feedback(graded, "untouched", grade_id)]:
            assert line in output


def _named(name: str, diagnosis: str, lang: str) -> str:
    """The title under which a mistake of exercise ``name`` is reported."""
    ex = EXERCISES[name]
    own = next((m.title[lang] for m in ex.mistakes if m.name == diagnosis), None)
    own = own or ex.overrides.get(diagnosis, {}).get("title", {}).get(lang)
    kind = "str" if diagnosis == "unsupported_type" else "list"
    return own or title(diagnosis, lang, type_name=kind, count=len(ex.leaf_names),
                        names=", ".join(ex.leaf_names))  # fmt: skip


def test_each_mistake_costs_exactly_its_points_and_is_named_by_both(graded):
    lang, test_id = graded["lang"], builder().test_id
    for student, mistakes in graded["wrong"].items():
        want = {
            grade_id: 0.0
            if any(test_id(n) == grade_id and not mistakes[n][2] for n in mistakes)
            else points
            for grade_id, points in graded["points"].items()
        }
        want["total"] = sum(want.values())
        assert graded["nbgrader"][student] == want, student
        nb = graded["notebooks"][student]
        for name, (diagnosis, _, _) in mistakes.items():
            named = _named(name, diagnosis, lang)
            for output in (cell_outputs(nb, test_id(name)),
                           *secure_feedback(graded, student, test_id(name))):  # fmt: skip
                assert named in output and name in output, (student, name, output)


def test_nbgrader_and_the_secure_grader_write_the_same_feedback(secured):
    """The autograded notebooks of both: same test-cell outputs, same kept outputs."""
    for student, nb in secured["notebooks"].items():
        theirs = {c.id: c for c in secured["secure_notebooks"][student].cells}
        for ours in nb.cells:
            if ours.cell_type == "code" and ours.metadata.get("nbgrader", {}).get("grade"):
                other = theirs[ours.id].outputs
                assert [dict(o) for o in ours.outputs] == [dict(o) for o in other], student


def test_nbgraders_kernels_agree_with_the_sandbox(everything):
    """The unsandboxed way (LRJAX_AUTOGRADE=kernel): the notebook's own test cells, run in
    kernels, give every student the same points and name the same mistakes."""
    graded = everything[KERNEL]
    assert graded["kernel"] == graded["nbgrader"]
    lang = graded["lang"]
    for student, mistakes in graded["wrong"].items():
        for name, (diagnosis, _, hint) in mistakes.items():
            # a kernel stops at the visible check when it fails (fewer cases counted)
            kernel = cell_outputs(graded["kernel_notebooks"][student], builder().test_id(name))
            if not hint:
                assert kernel.startswith(f"CheckFailed: {name} is not right yet"), kernel
            assert _named(name, diagnosis, lang) in kernel, (student, name, kernel)


def test_nbgrader_scores_its_own_students_through_the_sandbox(everything):
    graded = everything[KERNEL]
    points = graded["points"]
    assert graded["nbgrader"]["plotter"] == {**points, "total": 10.0}
    assert graded["nbgrader"]["forger"] == {**points, "test_dz": 0.0, "total": 7.0}


def test_a_forged_output_under_a_test_cell_is_replaced_by_the_verdict(everything):
    shown = cell_outputs(everything[KERNEL]["notebooks"]["forger"], "test_dz")
    assert "all passed" not in shown
    assert shown.startswith("CheckFailed: compute_dz is not right yet")
    assert title("sign_flipped", "en") in shown


def test_the_students_plot_is_kept_and_scripts_are_dropped(everything):
    for nb in (everything[KERNEL]["notebooks"]["plotter"],
               everything[KERNEL]["secure_notebooks"]["plotter"]):  # fmt: skip
        cell = next(c for c in nb.cells if c.get("id") == "code-train")
        kinds = [(o.output_type, sorted(o.get("data", {}))) for o in cell.outputs]
        assert kinds == [("stream", []), ("display_data", ["image/png", "text/plain"])]
        assert cell.execution_count == 7
        assert SCRIPT not in json.dumps(nb)
    # nbgrader keeps the student's own Markdown cell, its tags shown as text
    notes = [c.source for c in everything[KERNEL]["notebooks"]["plotter"].cells
             if c.source.startswith("My notes")]  # fmt: skip
    assert notes == [f"My notes {inert_markup(SCRIPT)}"]


def test_feedback_html_shows_the_plot_and_the_diagnosis_first(everything):
    pages = everything[KERNEL]["feedback"]
    assert f"data:image/png;base64,{PNG}" in pages["plotter"]
    assert SCRIPT not in pages["plotter"]  # neither the output nor the Markdown cell's
    forger = pages["forger"]
    assert "Traceback (most recent" not in forger and "grader/checks" not in forger
    assert forger.index(title("sign_flipped", "en")) > forger.index("compute_dz is not right yet")


def test_grading_again_always_grades_again(everything):
    """nbgrader skips a student it has graded unless forced; the course forces it, here
    after nbgrader's own run and `python -m grader autograde`."""
    log, forger = everything[KERNEL]["regrade"]
    assert "Skipping existing" not in log
    assert "Autograding" in log and "forger" in log
    assert forger["test_dz"] == 0.0
