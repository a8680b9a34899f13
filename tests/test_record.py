"""record: nbgrader's own gradebook, the autograded notebook, the JSON; idempotent."""

import json

import nbformat
import pytest
from _grader_course import ASSIGNMENT, NOTEBOOK, honest_cells, make_course, nbgrader, submit

from grader.checks._judge import Verdict
from grader.secure._collect import read_source, read_submission
from grader.secure._gradebook import ensure_assignment, open_gradebook, record_gradebook
from grader.secure._record import autograded_notebook, student_json, write_autograded, write_json
from grader.secure._score import score


def _scores(source, student, passed):
    verdicts = {t.grade_id: Verdict(t.function, passed(t), f"{t.function} says hi", 0, 1)
                for t in source.tests}  # fmt: skip
    return score(source, student, verdicts)


def _cells(course):
    with open_gradebook(course) as gb:
        nb = gb.find_notebook(NOTEBOOK, ASSIGNMENT)
        grade = sorted((c.name, c.max_score) for c in nb.grade_cells)
        solution = sorted(c.name for c in nb.solution_cells)
        sources = {c.name: c.source for c in nb.source_cells}
    return grade, solution, sources


@pytest.mark.slow
def test_ensure_assignment_matches_nbgrader_generate_assignment(tmp_path):
    ours = make_course(tmp_path / "ours")
    ensure_assignment(ours, ASSIGNMENT, read_source(ours, ASSIGNMENT))
    stock = make_course(tmp_path / "stock")
    run = nbgrader(stock, "generate_assignment", ASSIGNMENT)
    assert run.returncode == 0, run.stderr[-2000:]
    got, want = _cells(ours), _cells(stock)
    assert got[:2] == want[:2]
    assert got[2] == want[2]  # same stored sources: solutions cleared, hidden tests kept
    assert all("BEGIN SOLUTION" not in s for s in got[2].values())


def test_record_twice_is_idempotent_and_adds_the_student(tmp_path):
    course = make_course(tmp_path / "c")
    sources = read_source(course, ASSIGNMENT)
    ensure_assignment(course, ASSIGNMENT, sources)
    ensure_assignment(course, ASSIGNMENT, sources)
    result = _scores(sources[0], "newcomer", lambda t: t.grade_id != "test_da")
    for _ in range(2):
        with open_gradebook(course) as gb:
            record_gradebook(gb, course, ASSIGNMENT, [result])
    with open_gradebook(course) as gb:
        (submission,) = gb.find_assignment(ASSIGNMENT).submissions
        assert submission.student.id == "newcomer"
        assert submission.score == 7.0
        assert submission.max_score == 10.0


def test_autograded_notebook_has_trusted_tests_and_feedback(tmp_path):
    course = make_course(tmp_path / "c")
    (source,) = read_source(course, ASSIGNMENT)

    def tamper(nb):
        for cell in nb.cells:
            if (cell.metadata.get("nbgrader") or {}).get("grade"):
                cell.source = "pass"
        return nb

    student_nb = read_submission(submit(course, "s", honest_cells(), edit=tamper))
    result = _scores(source, "s", lambda t: t.grade_id == "test_da")
    nb = autograded_notebook(source, student_nb, result)
    tests = [c for c in nb.cells if (c.metadata.get("nbgrader") or {}).get("grade")]
    assert [c.source for c in tests] == [t.source for t in source.tests]
    assert tests[0].outputs[0]["output_type"] == "stream"
    assert tests[1].outputs[0]["output_type"] == "error"
    assert "compute_dz says hi" in tests[1].outputs[0]["evalue"]
    solution = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "compute_da"
    )
    assert solution.source == honest_cells()["compute_da"]
    path = write_autograded(course, ASSIGNMENT, source, student_nb, result)
    nbformat.validate(nbformat.read(path, as_version=4))
    assert (path.parent / "timestamp.txt").exists()


def test_json_entry_and_atomic_write(tmp_path):
    course = make_course(tmp_path / "c")
    (source,) = read_source(course, ASSIGNMENT)
    entry = student_json([_scores(source, "s", lambda t: True)])
    assert (entry["score"], entry["max_score"], entry["status"]) == (10.0, 10.0, "ok")
    assert [t["grade_id"] for t in entry["tests"]] == ["test_da", "test_dz", "test_dw", "test_db"]
    write_json(tmp_path / "out.json", {"s": entry})
    assert json.loads((tmp_path / "out.json").read_text())["s"] == entry


def test_a_new_gradebook_is_the_one_nbgrader_creates(tmp_path):
    """The grader writes nbgrader's alembic revision itself (read with alembic's API, not
    by starting the alembic command): the same tables and the same version row."""
    import sqlite3

    from nbgrader.api import Gradebook, get_alembic_version

    from grader.secure._gradebook import alembic_head, open_gradebook

    assert alembic_head() == get_alembic_version()
    theirs = tmp_path / "theirs" / "gradebook.db"
    theirs.parent.mkdir()
    Gradebook(f"sqlite:///{theirs}").close()
    (tmp_path / "ours").mkdir()
    open_gradebook(tmp_path / "ours").close()

    def shape(path):
        with sqlite3.connect(path) as con:
            tables = con.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
            return tables, con.execute("SELECT version_num FROM alembic_version").fetchall()

    ours_tables, ours_version = shape(tmp_path / "ours" / "gradebook.db")
    theirs_tables, theirs_version = shape(theirs)
    assert ours_version == theirs_version == [(alembic_head(),)]
    assert {t for t, _ in ours_tables} == {t for t, _ in theirs_tables}
