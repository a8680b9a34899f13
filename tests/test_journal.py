"""The grading journal: one line per recorded student, appended; what --resume reads."""

import json
from pathlib import Path

import pytest
from _grader_course import honest_cells, make_course, submit

from grader.secure import _collect, _journal


def _entry(i: int) -> dict:
    """A student entry about the size of a real one (1.6 KB)."""
    return {"score": 10.0, "max_score": 10.0, "status": "ok", "reason": "",
            "tests": [{"grade_id": f"test_{k}", "feedback": "x" * 300} for k in range(4)],
            "notebooks": {"gradient_descent": {"seconds": i / 7}}}  # fmt: skip


def test_lines_are_appended_and_the_latest_per_student_wins(tmp_path):
    path = tmp_path / "grades" / "a.jsonl"
    with _journal.Journal(path) as journal:
        journal.append("alice", "f1", _entry(1))
        journal.append("bob", "f2", _entry(2))
    with _journal.Journal(path) as journal:  # a second run appends
        journal.append("alice", "f3", {**_entry(3), "score": 7.0})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["student"] for line in lines] == ["alice", "bob", "alice"]
    found = _journal.read_journal(path)
    assert found["alice"][0] == "f3" and found["alice"][1]["score"] == 7.0
    assert found["bob"][0] == "f2"


@pytest.mark.parametrize("tail", ['{"student": "carol", "finger', "not json\n", "[1, 2]\n"],
                         ids=["cut-short", "garbage", "not-an-object"])  # fmt: skip
def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path, tail):
    path = tmp_path / "a.jsonl"
    with _journal.Journal(path) as journal:
        journal.append("alice", "f1", _entry(1))
    with path.open("a") as f:
        f.write(tail)
    assert set(_journal.read_journal(path)) == {"alice"}
    assert _journal.read_journal(tmp_path / "none.jsonl") == {}


def test_writes_grow_with_the_class_not_with_its_square(tmp_path):
    """Recording 20 000 students appends each line once: the bytes written are the
    journal's size, and the JSON written once at the end doubles that at most. Rewriting
    the whole file after each student (the old --json) would have written n/2 times it."""
    n, path = 20_000, tmp_path / "a.jsonl"
    with _journal.Journal(path) as journal:
        for i in range(n):
            journal.append(f"s{i:05d}", "f", _entry(i))
    size = path.stat().st_size
    assert journal.written == size
    final = len(json.dumps({f"s{i:05d}": _entry(i) for i in range(n)}, indent=2))
    assert size + final <= 3 * final  # journal + the JSON once: a small multiple
    old_way = sum(final * k // n for k in range(1, n + 1))  # the whole file, each time
    assert old_way > 1000 * final


def test_fingerprints_change_with_what_decides_the_grade(tmp_path):
    course = make_course(tmp_path / "c")
    submit(course, "alice", honest_cells())
    sources = _collect.read_source(course, "gradient_descent", bundles=False)
    subs = _collect.find_submissions(course, "gradient_descent", sources)
    base = _journal.source_fingerprint(course, sources, "limits")
    first = _journal.submission_fingerprint(base, subs)
    assert first == _journal.submission_fingerprint(base, subs)  # stable
    assert _journal.source_fingerprint(course, sources, "other limits") != base
    submit(course, "alice", {**honest_cells(), "compute_dz": "def compute_dz(a, y):\n  return 0"})
    assert _journal.submission_fingerprint(base, subs) != first  # resubmitted
    exercise = next((Path(course) / "exercises").glob("*.py"))
    exercise.write_text(exercise.read_text() + "\n# changed\n")
    assert _journal.source_fingerprint(course, sources, "limits") != base  # course changed
