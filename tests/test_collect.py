"""collect: the truth comes from the source notebook; submissions are found by folder."""

import pytest
from _grader_course import ASSIGNMENT, NOTEBOOK, make_course, submit

from grader.secure._collect import find_submissions, read_source, read_submission


@pytest.fixture
def course(tmp_path):
    return make_course(tmp_path / "course")


def test_source_gives_tests_points_functions_and_lang(course):
    (source,) = read_source(course, ASSIGNMENT)
    assert source.name == NOTEBOOK
    assert source.lang == "en"
    assert source.solution_ids == ("compute_da", "compute_dz", "compute_dw", "compute_db")
    assert [(t.grade_id, t.function, t.points) for t in source.tests] == [
        ("test_da", "compute_da", 3.0),
        ("test_dz", "compute_dz", 3.0),
        ("test_dw", "compute_dw", 2.0),
        ("test_db", "compute_db", 2.0),
    ]
    assert source.max_score == 10
    assert "import jax" in source.setup
    assert all("BEGIN HIDDEN TESTS" in t.source for t in source.tests)


def test_student_edits_do_not_change_the_truth(course):
    def inflate(nb):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader") or {}
            if meta.get("grade"):
                meta["points"] = 100
                cell.metadata["lrjax"] = {"checks": "compute_db"}
        return nb

    submit(course, "mallory", {}, edit=inflate)
    (source,) = read_source(course, ASSIGNMENT)
    assert source.max_score == 10
    assert source.tests[0].function == "compute_da"


def test_missing_source_names_the_fix(course):
    with pytest.raises(FileNotFoundError, match="--course"):
        read_source(course, "no_such_assignment")


def test_submissions_found_missing_and_odd_names_skipped(course):
    submit(course, "alice", {})
    (course / "submitted" / "bob" / ASSIGNMENT).mkdir(parents=True)
    (course / "submitted" / ".hidden" / ASSIGNMENT).mkdir(parents=True)
    (course / "submitted" / "line\nbreak" / ASSIGNMENT).mkdir(parents=True)
    (course / "submitted" / "link").symlink_to(course / "submitted" / "alice")
    submit(course, "Олена Коваль", {})
    sources = read_source(course, ASSIGNMENT)
    found = find_submissions(course, ASSIGNMENT, sources)
    assert [(s.student, s.path is not None) for s in found] == [
        ("alice", True),
        ("bob", False),
        ("Олена Коваль", True),
    ]


def test_unreadable_notebook_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the notebook"):
        read_submission(bad)
