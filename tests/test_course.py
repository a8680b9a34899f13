"""The course under stock nbgrader, real kernels, in a temporary copy per language.

One ``generate_assignment`` and one ``autograde`` call per language grade all
submissions at once: the source solution, the untouched release, and wrong
submissions built from ``tests/fixtures/mistakes`` (one mistake each in English;
one mistake per function, several functions wrong at once, in Ukrainian).
The kernels are this environment's Python (nbgrader starts ``python`` from the
PATH that :func:`grader._course.run_nbgrader` sets): every test cell imports
``grader`` from the editable install, so a full score proves it.
"""

import importlib.util
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from _reference import MISTAKES, read_mistake
from nbclient import NotebookClient

from grader import cases
from grader._course import (
    GRADED,
    assignment_name,
    autograded,
    cell_outputs,
    copy_course,
    inject,
    released,
    run_nbgrader,
    scores,
    submit,
)
from grader._messages import message, title

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent / "assignments"
POINTS = {"test_da": 3, "test_dz": 3, "test_dw": 2, "test_db": 2}


def solution_code() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.solution_code()


def wrong_students(lang: str) -> dict[str, dict[str, tuple[str, str]]]:
    """{student: {function: (mistake, code)}}: singles in English, groups in Ukrainian."""
    fixtures = [(p.stem, *read_mistake(p)) for p in sorted(MISTAKES.glob("*.py"))]
    if lang == "en":
        return {f"m_{stem}": {fn: (mistake, code)} for stem, fn, mistake, code in fixtures}
    groups: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for _, fn, mistake, code in fixtures:
        index = seen.get(fn, 0)
        seen[fn] = index + 1
        groups.setdefault(f"group_{index}", {})[fn] = (mistake, code)
    return groups


def _grade_course(root: Path, lang: str) -> dict:
    """Release, submit and autograde one language's course in ``root``: what the tests read."""
    course = copy_course(root)
    assignment = assignment_name(lang)
    source = course / "source" / assignment / "gradient_descent.ipynb"
    validate = run_nbgrader(course, "validate", str(source))
    run_nbgrader(course, "generate_assignment", assignment, "--force")
    release = released(course, lang)
    right = solution_code()
    submit(course, lang, "source", nbformat.read(source, as_version=4))
    submit(course, lang, "untouched", release)
    wrong = wrong_students(lang)
    for student, mistakes in wrong.items():
        code = {**right, **{fn: snippet for fn, (_, snippet) in mistakes.items()}}
        submit(course, lang, student, inject(release, code))
    autograde = run_nbgrader(course, "autograde", assignment, "--force")  # raises if it fails
    return {
        "lang": lang,
        "course": course,
        "release": release,
        "validate": validate,
        "autograde": autograde,
        "scores": scores(course, lang),
        "wrong": wrong,
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Both languages graded at once: stock nbgrader runs one kernel at a time, so two
    nbgrader processes use the two cores (the suite's longest wait, halved)."""
    roots = {lang: tmp_path_factory.mktemp(f"course_{lang}") for lang in ("en", "uk")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {lang: pool.submit(_grade_course, root, lang) for lang, root in roots.items()}
        graded = {lang: future.result() for lang, future in futures.items()}
    yield graded
    for entry in graded.values():
        shutil.rmtree(entry["course"], ignore_errors=True)


@pytest.fixture(params=["en", "uk"])
def graded(request, both):
    """One language's graded course."""
    return both[request.param]


def diagnosis_line(diagnosis: str, lang: str) -> str:
    named = title(diagnosis, lang, type_name="list")
    return message("diagnosis", lang, title=named, advice="").strip()


def test_validate_passes_on_the_source_solution(graded):
    assert graded["validate"].returncode == 0
    assert "Success! Your notebook passes all the tests." in graded["validate"].stdout


def test_release_has_stubs_and_no_solutions_or_hidden_tests(graded):
    cells = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in graded["release"].cells
        if "nbgrader" in c.metadata
    }
    assert set(cells) >= set(GRADED)
    for grade_id, source in cells.items():
        assert "BEGIN SOLUTION" not in source and "HIDDEN" not in source
        assert "hidden=True" not in source
        if grade_id.startswith("compute_"):
            assert "raise NotImplementedError()" in source
        if grade_id.startswith("test_"):
            assert f'lang="{graded["lang"]}"' in source


def test_the_source_solution_gets_full_marks(graded):
    assert graded["scores"]["source"] == {**POINTS, "total": 10.0}


def test_a_correct_solution_writes_nothing_to_stderr(graded):
    nb = autograded(graded["course"], graded["lang"], "source")
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            kinds = {(o.output_type, o.get("name")) for o in cell.outputs}
            assert kinds == {("stream", "stdout")}, cell.outputs


def test_autograde_restores_and_runs_the_hidden_tests(graded):
    nb = autograded(graded["course"], graded["lang"], "source")
    for grade_id in GRADED:
        function = f"compute_{grade_id[5:]}"
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
    assert graded["scores"]["untouched"] == {**dict.fromkeys(POINTS, 0.0), "total": 0.0}
    nb = autograded(graded["course"], graded["lang"], "untouched")
    for grade_id in GRADED:
        assert diagnosis_line("not_implemented", graded["lang"]) in cell_outputs(nb, grade_id)


def test_each_mistake_costs_exactly_its_functions_points_and_is_named(graded):
    lang = graded["lang"]
    for student, mistakes in graded["wrong"].items():
        want = {
            grade_id: 0.0 if f"compute_{grade_id[5:]}" in mistakes else float(points)
            for grade_id, points in POINTS.items()
        }
        want["total"] = sum(want.values())
        assert graded["scores"][student] == want, student
        nb = autograded(graded["course"], lang, student)
        for function, (mistake, _) in mistakes.items():
            output = cell_outputs(nb, f"test_{function[8:]}")
            assert diagnosis_line(mistake, lang) in output, (student, output)
            assert function in output
