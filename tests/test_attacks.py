"""The adversarial suite: every attack from the issue as a real submission.

Each snippet in ``tests/fixtures/attacks/`` becomes the ``compute_da`` cell of one
student's notebook (the other solution cells keep the released stub), so none of them
solves anything: each must score 0. Two honest students must keep full marks and a
partly right one exactly its points; the submissions, the source and the course files
must be unchanged and the gradebook must hold exactly what the grader decided.

The whole class is graded once (module fixture) with small limits (2 GB address space,
20 s per submission) so a missing limit cannot take the machine down.
"""

import json
from pathlib import Path

import pytest
from _grader_course import (
    ASSIGNMENT,
    REPO,
    gradebook_scores,
    honest_cells,
    make_course,
    submit,
    tree_hashes,
)

from grader._pipeline import grade_assignment
from grader._sandbox import Limits

pytestmark = pytest.mark.slow

ATTACKS = Path(__file__).parent / "fixtures" / "attacks"
NAMES = sorted(p.stem for p in ATTACKS.glob("*.py"))
LIMITS = Limits(timeout_s=20, memory_mb=2048, nproc=256, output_bytes=1 << 20)
# Stated reason (or status) each crash must be reported with.
CRASHES = {
    "os_exit": "exit",
    "infinite_loop": "timeout",
}


def _edit_tests(nb):
    for cell in nb.cells:
        if (cell.metadata.get("nbgrader") or {}).get("grade"):
            cell.source = 'print("all checks passed")'
    return nb


def _delete_tests(nb):
    nb.cells = [c for c in nb.cells if not (c.metadata.get("nbgrader") or {}).get("grade")]
    return nb


EDITS = {"edit_test_cells": _edit_tests, "delete_test_cells": _delete_tests}


def attack_code(name: str, course: Path) -> str:
    """The snippet with the course and repository paths filled in (a student who knows them)."""
    text = (ATTACKS / f"{name}.py").read_text()
    return text.replace("COURSE_DIR", str(course)).replace("REPO_DIR", str(REPO))


def build_class(course: Path, skip=()) -> None:
    """Two honest students, one partly right, and one student per attack (but ``skip``)."""
    honest = honest_cells()
    submit(course, "honest_a", honest)
    submit(course, "honest_b", honest)
    partial = dict(honest, compute_dz="def compute_dz(a, y):\n    return y - a\n")
    submit(course, "partial", partial)
    for name in (n for n in NAMES if n not in skip):
        submit(course, name, {"compute_da": attack_code(name, course)}, edit=EDITS.get(name))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("attacks") / "course")
    build_class(course)
    before = {d: tree_hashes(course / d) for d in ("submitted", "source")}
    results = grade_assignment(
        course, ASSIGNMENT, jobs=2, limits=LIMITS, json_out=course / "out.json", progress=False
    )
    after = {d: tree_hashes(course / d) for d in ("submitted", "source")}
    return course, results, before, after


def test_every_attack_is_a_student(graded):
    _, results, _, _ = graded
    assert set(NAMES) <= set(results)
    assert len(NAMES) >= 19


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_attack_scores_zero(graded, name):
    course, results, _, _ = graded
    entry = results[name]
    assert entry["max_score"] == 10
    assert entry["score"] == 0, json.dumps(entry, indent=1)[:3000]
    assert gradebook_scores(course)[name] == 0


@pytest.mark.parametrize("name", sorted(CRASHES), ids=sorted(CRASHES))
def test_crash_is_contained_and_reported(graded, name):
    _, results, _, _ = graded
    entry = results[name]
    assert entry["status"] == CRASHES[name]
    assert entry["reason"]
    assert all(CRASHES[name] in t["feedback"] or "not graded" in t["feedback"]
               for t in entry["tests"])  # fmt: skip


@pytest.mark.parametrize(
    "name, event",
    [
        ("subprocess_shell", "subprocess.Popen refused"),
        ("fork_bomb", "os.fork refused"),
        ("network", "socket"),
        ("read_source", "refused"),
        ("read_hidden_tests", "refused"),
        ("read_gradebook", "sqlite3"),  # refused, or not importable as the sandbox uid
        ("write_other_students", "refused"),
        ("gc_code_swap", "gc.get_objects refused"),
        ("input_transformer", "NameError"),
    ],
    ids=lambda v: v if "refused" not in v else None,
)
def test_attack_is_refused_with_a_reason(graded, name, event):
    _, results, _, _ = graded
    errors = results[name]["notebooks"]["gradient_descent"]["cell_errors"]
    assert event in errors.get("compute_da", ""), errors
    assert "Error" in errors["compute_da"]


def test_memory_hog_is_stopped_and_reported(graded):
    _, results, _, _ = graded
    errors = results["memory_hog"]["notebooks"]["gradient_descent"]["cell_errors"]
    assert "MemoryError" in errors["compute_da"]
    assert results["memory_hog"]["status"] == "memory"
    assert "MemoryError" in results["memory_hog"]["reason"]


def test_huge_output_is_capped(graded):
    _, results, _, _ = graded
    notebook = results["huge_output"]["notebooks"]["gradient_descent"]
    assert len(notebook["output_tail"]) <= 2000
    assert notebook["output_dropped_bytes"] >= 64 * (1 << 20) - LIMITS.output_bytes
    assert (Path(graded[0]) / "out.json").stat().st_size < 1 << 20


def test_honest_students_keep_full_marks(graded):
    course, results, _, _ = graded
    for student in ("honest_a", "honest_b"):
        assert results[student]["score"] == 10, results[student]
        assert results[student]["status"] == "ok"
    assert results["partial"]["score"] == 7
    scores = gradebook_scores(course)
    assert (scores["honest_a"], scores["honest_b"], scores["partial"]) == (10, 10, 7)


def test_submissions_and_source_unchanged(graded):
    course, _, before, after = graded
    assert before == after
    assert not (course / "pwned.txt").exists()
    assert not Path("/tmp/stolen_source").exists()


def test_gradebook_holds_exactly_the_grader_scores(graded):
    course, results, _, _ = graded
    assert gradebook_scores(course) == {s: e["score"] for s, e in results.items()}


def test_json_file_matches_results(graded):
    course, results, _, _ = graded
    assert json.loads((course / "out.json").read_text()) == json.loads(json.dumps(results))
