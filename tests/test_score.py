"""score: all or nothing per test cell, points from the source."""

from _grader_course import ASSIGNMENT, make_course

from grader.checks._judge import Verdict
from grader.secure._collect import read_source
from grader.secure._score import score


def test_points_per_cell(tmp_path):
    (source,) = read_source(make_course(tmp_path / "c"), ASSIGNMENT)
    verdicts = {
        t.grade_id: Verdict(t.function, t.grade_id != "test_dz", "msg", 0, 1) for t in source.tests
    }
    result = score(source, "s", verdicts)
    assert [t.points for t in result.tests] == [3.0, 0.0, 2.0, 2.0]
    assert (result.score, result.max_score) == (7.0, 10.0)
    assert result.status == "ok"
