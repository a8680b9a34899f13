"""extract: only the student's solution cells (by grade id) plus the source's setup."""

import nbformat
import pytest
from _grader_course import ASSIGNMENT, make_course, submit

from grader.secure._collect import read_source, read_submission
from grader.secure._extract import extract, strip_ipython


@pytest.fixture
def source_and_course(tmp_path):
    course = make_course(tmp_path / "course")
    (source,) = read_source(course, ASSIGNMENT)
    return source, course


def test_setup_from_source_then_solution_cells(source_and_course):
    source, course = source_and_course
    path = submit(course, "s", {"compute_da": "def compute_da(a, y):\n    return a\n"})
    got = extract(source, read_submission(path))
    assert [c.grade_id for c in got.cells] == ["setup", *source.solution_ids]
    assert got.cells[0].code == source.setup
    assert got.cells[1].code == "def compute_da(a, y):\n    return a\n"
    assert got.missing == ()


def test_test_cells_and_student_setup_never_extracted(source_and_course):
    source, course = source_and_course

    def tamper(nb):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader") or {}
            if meta.get("grade") or meta.get("grade_id") == "setup":
                cell.source = "TAMPERED = True"
        return nb

    got = extract(source, read_submission(submit(course, "s", {}, edit=tamper)))
    assert all("TAMPERED" not in c.code for c in got.cells)


def test_deleted_solution_cell_is_reported_missing(source_and_course):
    source, course = source_and_course

    def drop(nb):
        keep = [
            c
            for c in nb.cells
            if (c.metadata.get("nbgrader") or {}).get("grade_id") != "compute_dw"
        ]
        nb.cells = keep
        return nb

    got = extract(source, read_submission(submit(course, "s", {}, edit=drop)))
    assert got.missing == ("compute_dw",)


@pytest.mark.parametrize(
    "code, want",
    [
        ("%timeit f()\nx = 1", "pass  # timeit f()\nx = 1"),
        ("if True:\n    !ls\n", "if True:\n    pass  # ls\n"),
        ("x = 1 != 2", "x = 1 != 2"),
    ],
    ids=["magic", "shell-indented", "plain"],
)
def test_strip_ipython(code, want):
    assert strip_ipython(code) == want


def test_a_repeated_solution_grade_id_keeps_the_first_cell(source_and_course):
    """A student who duplicates a solution cell (e.g. pastes it below, edited) is graded on
    the first one, the cell where the notebook has it; never the last one they added."""
    source, course = source_and_course
    first = "def compute_da(a, y):\n    return -y / a + (1 - y) / (1 - a)\n"

    def duplicate(nb):
        cell = next(c for c in nb.cells if (c.metadata.get("nbgrader") or {}).get("grade_id")
                    == "compute_da")  # fmt: skip
        copy = nbformat.from_dict(dict(cell))
        copy.source = "def compute_da(a, y):\n    return 0.0 * a\n"
        copy.id = "pasted-below"
        nb.cells.append(copy)
        return nb

    got = extract(source, read_submission(submit(course, "s", {"compute_da": first},
                                                 edit=duplicate)))  # fmt: skip
    assert [c.code for c in got.cells if c.grade_id == "compute_da"] == [first]
