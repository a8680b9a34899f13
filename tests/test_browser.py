"""End to end in a real browser: a student in JupyterLab, an instructor in formgrader.

Headless Chromium, driven by Selenium, works against a JupyterLab server that the test
starts in a temporary folder (127.0.0.1, a free port, a random token) and always stops.
The tests skip, saying why, where selenium, Chromium or chromedriver is missing
(``sh scripts/install_system_deps.sh --browser`` installs Chromium and its driver).

Student: the released notebook of the first assignment with every answer right but
``compute_dz``'s. The student types dz with its sign flipped and runs all cells: the
output of dz's test cell must open with the check's diagnosis, with no traceback before
it. The student types the fix and re-runs the two cells: the check passes; then the
whole notebook runs without an error.

Instructor: the course with two submissions, one right, one with dz's sign flipped. In
formgrader the instructor presses Autograde for each student and reads the scores, then
generates feedback for the second student and opens it: the diagnosis comes first there
too, and nothing ran in a kernel (the course's ``nbgrader_config.py`` sends autograde
through the grader's sandbox).

Each scenario runs once, in a module fixture that records what the browser showed; the
tests assert on that record. Screenshots (1400x1000) go to the scenario's temporary
folder and, when ``LRJAX_SCREENSHOTS`` names a folder, there as well:
``LRJAX_SCREENSHOTS=docs/img pytest tests/test_browser.py`` refreshes the documentation's.
Both scenarios take about a minute and a half on two cores.
"""

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from _browser import Feedback, Formgrader, JupyterLab, Notebook, browser, missing, scroll_to

from grader._course import (
    FIRST,
    builder,
    copy_course,
    inject,
    notebook,
    released,
    run_nbgrader,
    submit,
)

REASON = missing()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

LANG = "en"  # the language the course is built in; the assertions read English text
DZ = "compute_dz"
NOTEBOOK = notebook(FIRST)
# What the student types (Enter between the lines: the editor indents the second one),
# and the code that gives.
TYPED_MISTAKE = ["def compute_dz(a, y):", "return y - a"]
MISTAKE = "def compute_dz(a, y):\n    return y - a"
TYPED_FIX = ["def compute_dz(a, y):", "return a - y"]
FIX = "def compute_dz(a, y):\n    return a - y"
STDOUT = "application/vnd.jupyter.stdout"
STDERR = "application/vnd.jupyter.stderr"  # JupyterLab shows errors and stderr as this
# The class: (first name, last name, dz typed with its sign flipped?) per student id.
STUDENTS = {"ada": ("Ada", "Lovelace", False), "bob": ("Bob", "Sign", True)}
MISTAKEN = "bob"
HANDED_IN = "2026-03-02 09:15:00.000000 UTC"  # timestamp.txt, as `nbgrader collect` writes
PASSED = re.compile(r"passed|is right", re.I)


def right_answers() -> dict[str, str]:
    """``{solution grade id: code}``: every function of the first assignment, right."""
    return builder().solution_code(FIRST)


def check_cell(exercise: str) -> str:
    """The grade id of the test cell of ``exercise`` (``compute_dz`` -> ``test_dz``)."""
    return builder().test_id(exercise)


def marks() -> tuple[float, float]:
    """The first assignment's points: in all, and those of dz's test cell."""
    points = builder().points(FIRST)
    return sum(points.values()), points[check_cell(DZ)]


def grade_ids(nb: nbformat.NotebookNode) -> dict[str, int]:
    """``{grade id: index of its cell}`` of a notebook."""
    ids = ((c.metadata.get("nbgrader", {}).get("grade_id"), i) for i, c in enumerate(nb.cells))
    return {grade_id: index for grade_id, index in ids if grade_id}


def assert_diagnosis_first(text: str) -> None:
    """``text`` (a cell's output) opens with the check's message on compute_dz, which
    names the sign, and shows no traceback, no frame through grader/, before it."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the test cell showed no output"
    sign = re.search(r"\bsign\b", text, re.I)
    assert sign, f"the output does not name the sign:\n{text}"
    before = text[: sign.start()]
    assert "Traceback" not in before, f"a traceback comes before the diagnosis:\n{text}"
    assert "grader/" not in before, f"a frame through grader/ comes before it:\n{text}"
    first = lines[0]
    assert DZ in first and "not right" in first, f"the first line is {first!r}:\n{text}"


def assert_passes(text: str, kinds: list[str]) -> None:
    """``text`` (a test cell's output) says the function is right, and nothing failed."""
    assert kinds and set(kinds) == {STDOUT}, f"outputs {kinds}, expected stdout only:\n{text}"
    assert PASSED.search(text), f"the output does not say it passed:\n{text}"
    assert "not right" not in text and "Traceback" not in text, text


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course built in English, its first assignment generated (``release/``)."""
    root = copy_course(tmp_path_factory.mktemp("course"), lang=LANG)
    run_nbgrader(root, "generate_assignment", FIRST)
    return root


@dataclass
class StudentRun:
    """What the student's browser showed."""

    cells: dict[str, int]  # grade id -> cell index
    typed_mistake: str = ""  # dz's editor after typing the mistake
    failing: str = ""  # dz's test cell after Run All Cells
    typed_fix: str = ""
    passing: str = ""  # dz's test cell after the fix and Shift+Enter twice
    passing_kinds: list[str] = field(default_factory=list)
    outputs: dict[int, tuple[str, list[str]]] = field(default_factory=dict)  # final Run All
    saved: str = ""  # compute_dz's cell in the file after Ctrl+S


@pytest.fixture(scope="module")
def student(course, tmp_path_factory) -> StudentRun:
    """A student works through the released notebook in JupyterLab (see the module's
    docstring); screenshots ``lab-check-fails`` and ``lab-check-passes``."""
    home = tmp_path_factory.mktemp("student")
    folder = home / "work"  # what the student downloaded: the notebook and checks.json
    shutil.copytree(course / "release" / FIRST, folder)
    answers = {name: code for name, code in right_answers().items() if name != DZ}
    nb = inject(released(course), answers)  # compute_dz keeps its stub
    nbformat.write(nb, folder / NOTEBOOK)
    run = StudentRun(cells=grade_ids(nb))
    dz, test = run.cells[DZ], run.cells[check_cell(DZ)]
    last = max(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")

    with JupyterLab(folder, home / "jupyter") as lab, browser(home / "shots") as (driver, shots):
        page = Notebook(driver).open(lab, NOTEBOOK, cells=len(nb.cells))
        assert page.source(dz).startswith(f"def {DZ}("), page.source(dz)

        run.typed_mistake = page.type(dz, TYPED_MISTAKE)
        before = page.prompt(test)
        page.menu("Run", "Run All Cells")
        page.ran(test, before)
        run.failing = page.output(test)
        scroll_to(driver, page.cell(dz))
        shots.take("lab-check-fails")

        run.typed_fix = page.type(dz, TYPED_FIX)
        before = page.prompt(test)
        page.shift_enter(2)  # runs dz's cell, then its test cell
        page.ran(test, before)
        run.passing, run.passing_kinds = page.output(test), page.output_kinds(test)
        scroll_to(driver, page.cell(dz))
        shots.take("lab-check-passes")

        before = page.prompt(last)
        page.menu("Run", "Run All Cells")
        page.ran(last, before)
        code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
        run.outputs = {i: (page.output(i), page.output_kinds(i)) for i in code}
        page.save(folder / NOTEBOOK, FIX.splitlines()[-1].strip())
    run.saved = nbformat.read(folder / NOTEBOOK, as_version=4).cells[dz].source
    return run


def test_the_student_types_into_the_notebook(student):
    """The typed code reached the editor as written (indented by the editor) and, saved,
    the notebook file."""
    assert student.typed_mistake == MISTAKE
    assert student.typed_fix == FIX
    assert student.saved.strip() == FIX


def test_the_sign_mistake_is_diagnosed_first(student):
    """Run All Cells with dz's sign flipped: dz's test cell opens with the diagnosis."""
    assert_diagnosis_first(student.failing)


def test_the_fixed_function_passes_its_check(student):
    assert DZ in student.passing
    assert_passes(student.passing, student.passing_kinds)


def test_with_every_answer_right_the_whole_notebook_runs(student):
    """The final Run All Cells: no cell shows an error, and every check passes."""
    errors = {i: text for i, (text, kinds) in student.outputs.items() if STDERR in kinds}
    assert not errors, errors
    for grade_id in builder().points(FIRST):
        assert_passes(*student.outputs[student.cells[grade_id]])


@dataclass
class InstructorRun:
    """What the instructor's browser showed."""

    autograde: dict[str, tuple[str, str]]  # student -> (formgrader's answer, its text)
    scores: dict[str, str]  # student -> the Score column, "7 / 10"
    feedback_answer: tuple[str, str]
    feedback_file: Path
    title: str = ""  # the feedback's heading, with the total
    summary: str = ""  # the feedback's line for dz's test cell
    feedback: str = ""  # the output of dz's test cell in the feedback


def hand_in(course: Path) -> None:
    """The class hands in: a submission per student, with a timestamp and a name."""
    from nbgrader.api import Gradebook

    release = released(course)
    for student, (_, _, mistaken) in STUDENTS.items():
        code = {**right_answers(), **({DZ: MISTAKE + "\n"} if mistaken else {})}
        path = submit(course, student, inject(release, code))
        (path.parent / "timestamp.txt").write_text(HANDED_IN, encoding="utf-8")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, (first, last, _) in STUDENTS.items():
            gb.update_or_create_student(student, first_name=first, last_name=last)


@pytest.fixture(scope="module")
def instructor(course, tmp_path_factory) -> InstructorRun:
    """The instructor grades in formgrader (see the module's docstring); screenshots
    ``formgrader-scores`` and ``feedback-dz``."""
    hand_in(course)
    home = tmp_path_factory.mktemp("instructor")
    with JupyterLab(course, home / "jupyter") as lab, browser(home / "shots") as (driver, shots):
        formgrader = Formgrader(driver, lab).submissions(FIRST)
        answers = {student: formgrader.press(student, "autograde") for student in STUDENTS}
        scores = {student: formgrader.cell(student, "score").text for student in STUDENTS}
        shots.take("formgrader-scores")
        feedback_answer = formgrader.press(MISTAKEN, "generate-feedback")
        path = course / "feedback" / MISTAKEN / FIRST / Path(NOTEBOOK).with_suffix(".html").name
        run = InstructorRun(answers, scores, feedback_answer, path)
        if path.exists():
            page = Feedback(driver).open(path)
            test = check_cell(DZ)
            run.title, run.summary, run.feedback = (
                page.title(),
                page.summary(test),
                page.output(test),
            )
            scroll_to(driver, page.cell(test), "center")
            shots.take("feedback-dz")
    return run


@pytest.mark.bwrap
def test_formgrader_autogrades_every_student(instructor):
    for student, (answer, text) in instructor.autograde.items():
        assert answer == "success-modal", f"{student}:\n{text}"


@pytest.mark.bwrap
def test_formgrader_autograde_runs_nothing_in_a_kernel(instructor):
    """formgrader's log: nbgrader's Execute step (a kernel with the instructor's rights)
    was replaced, by the course's nbgrader_config.py, with the sandboxed grader."""
    for student, (_, text) in instructor.autograde.items():
        assert "Applying preprocessor: Execute" not in text, f"{student}:\n{text}"


@pytest.mark.bwrap
def test_formgrader_shows_full_marks_and_the_loss_of_dz(instructor):
    total, dz = marks()
    expected = {
        s: f"{total - dz * mistaken:g} / {total:g}" for s, (*_, mistaken) in STUDENTS.items()
    }
    assert instructor.scores == expected


@pytest.mark.bwrap
def test_the_feedback_shows_the_diagnosis_first(instructor):
    answer, text = instructor.feedback_answer
    assert answer == "success-modal", text
    assert instructor.feedback_file.exists(), text
    total, dz = marks()
    assert f"(Score: {total - dz:.1f} / {total:.1f})" in instructor.title
    assert f"(Score: 0.0 / {dz:.1f})" in instructor.summary
    assert_diagnosis_first(instructor.feedback)
