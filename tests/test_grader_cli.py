"""The command line end to end: real subprocess, real gradebook, real nbgrader feedback."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _grader_course import (
    ASSIGNMENT,
    NOTEBOOK,
    gradebook_scores,
    honest_cells,
    make_course,
    nbgrader,
    submit,
)

pytestmark = pytest.mark.slow


def _grade(course, *extra):
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--timeout", "60", "--memory", "2048", *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("cli") / "course")
    submit(course, "alice", honest_cells())
    wrong = dict(honest_cells(), compute_dw="def compute_dw(x, dz):\n    return dz\n")
    submit(course, "bob", wrong)
    (course / "submitted" / "carol" / ASSIGNMENT).mkdir(parents=True)  # handed in nothing
    run = _grade(course, "--json", str(course / "out.json"), "--jobs", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    return course, run


def test_table_and_json(course):
    course, run = course
    assert "alice    10 / 10" in run.stdout
    data = json.loads((course / "out.json").read_text())
    assert {s: (e["score"], e["max_score"]) for s, e in data.items()} == {
        "alice": (10, 10),
        "bob": (8, 10),
        "carol": (0, 10),
    }
    assert data["carol"]["status"] == "missing"
    failed = [t for t in data["bob"]["tests"] if not t["passed"]]
    assert [t["grade_id"] for t in failed] == ["test_dw"]
    assert "compute_dw" in failed[0]["feedback"]
    assert "grading" in run.stderr  # the progress bar


def test_gradebook_written_and_rerun_is_idempotent(course):
    course, _ = course
    first = gradebook_scores(course)
    assert first == {"alice": 10, "bob": 8, "carol": 0}
    again = _grade(course, "--no-progress", "--jobs", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert gradebook_scores(course) == first


def test_stock_generate_feedback_works_afterwards(course):
    course, _ = course
    run = nbgrader(course, "generate_feedback", ASSIGNMENT)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (course / "feedback" / "bob" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    assert "Score: 8.0 / 10.0" in html
    assert "compute_dw" in html


def test_unknown_assignment_exits_2_with_the_fix(tmp_path):
    run = _grade(make_course(tmp_path / "c"), "--no-progress", "--json", str(tmp_path / "j"))
    assert run.returncode == 0  # an assignment with no submissions grades nobody
    bad = subprocess.run(
        [sys.executable, "-m", "grader", "autograde", "nope", "--course", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "--course" in bad.stderr


def test_console_script_points_at_main():
    import tomllib
    from _grader_course import REPO

    from grader.__main__ import main

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["lrjax-grade"] == "grader.__main__:main"
    with pytest.raises(SystemExit) as exit_info:
        main(["autograde", "--help"])
    assert exit_info.value.code == 0


def test_grader_killed_late_keeps_earlier_results_and_no_sandbox(tmp_path):
    import signal
    import time

    course = make_course(tmp_path / "course")
    submit(course, "a_honest", honest_cells())
    submit(course, "z_sleeper", {"compute_da": "import time\ntime.sleep(600)\n"})
    out = course / "out.json"
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--jobs", "1", "--timeout", "300", "--memory", "2048", "--json", str(out),
           "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until the first student is recorded (at most 60 s)
            if out.exists() and "a_honest" in json.loads(out.read_text()):
                break
            time.sleep(0.1)
        time.sleep(2)  # the sleeper's sandbox is running now
        sandboxes = _sandboxes()
        assert sandboxes, "the second sandbox should be running"
        folders = {_folder(pid) for pid in sandboxes} - {None}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert gradebook_scores(course) == {"a_honest": 10.0}
    assert json.loads(out.read_text())["a_honest"]["score"] == 10
    for _ in range(100):
        if not _sandboxes() & sandboxes:
            break
        time.sleep(0.1)
    assert not _sandboxes() & sandboxes  # killed with the grader (PR_SET_PDEATHSIG)
    for folder in folders:  # the grader had no chance to remove its temporary folder
        shutil.rmtree(folder, ignore_errors=True)


def _folder(pid: int) -> str | None:
    """The sandbox folder named on a child's command line (argv[5] of _child.py)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        i = next(i for i, a in enumerate(args) if a.endswith(b"_child.py"))
        return args[i + 5].decode()
    except (OSError, StopIteration, IndexError):
        return None


def _sandboxes() -> set:
    """Pids of running sandbox children (their command line names grader/_child.py)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"_child.py" in (proc / "cmdline").read_bytes():
                if (proc / "stat").read_text().split()[2] != "Z":
                    found.add(int(proc.name))
        except (OSError, IndexError):
            pass
    return found
