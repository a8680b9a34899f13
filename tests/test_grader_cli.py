"""The command line end to end: real subprocess, real gradebook, real nbgrader feedback."""

import json
import os
import signal
import subprocess
import sys
import time
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
from _procs import running, sandbox_processes, zygotes_of

pytestmark = pytest.mark.slow


def _grade(course, *extra, env=None):
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--timeout", "60", "--memory", "2048", *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("cli") / "course")
    submit(course, "alice", honest_cells())
    wrong = dict(honest_cells(), compute_dw="def compute_dw(x, dz):\n    return dz\n")
    submit(course, "bob", wrong)
    (course / "submitted" / "carol" / ASSIGNMENT).mkdir(parents=True)  # handed in nothing
    # a persistent JAX cache as stock nbgrader's kernels get it (nbgrader_config.py): the
    # grader must neither load compiled code from it nor write any
    cache = course / ".lrjax-cache" / "jax"
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # fmt: skip
    run = _grade(course, "--json", str(course / "out.json"), "--jobs", "2", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not cache.exists()
    return course, run


@pytest.mark.bwrap
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


@pytest.mark.bwrap
def test_gradebook_written_and_rerun_is_idempotent(course):
    course, _ = course
    first = gradebook_scores(course)
    assert first == {"alice": 10, "bob": 8, "carol": 0}
    again = _grade(course, "--no-progress", "--jobs", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert gradebook_scores(course) == first


@pytest.mark.bwrap
def test_stock_generate_feedback_works_afterwards(course):
    course, _ = course
    run = nbgrader(course, "generate_feedback", ASSIGNMENT)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (course / "feedback" / "bob" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    assert "Score: 8.0 / 10.0" in html
    assert "compute_dw" in html


@pytest.mark.bwrap
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


def _start_with_sleeper(tmp_path, **popen):
    """A course with an honest student and a sleeper, and the real CLI grading it (one
    sandbox at a time), returned once the honest student is recorded and the sleeper's
    sandbox has started: (course, out.json, the grader's Popen)."""
    course = make_course(tmp_path / "course")
    submit(course, "a_honest", honest_cells())
    submit(course, "z_sleeper", {"compute_da": "import time\ntime.sleep(600)\n"})
    out = course / "out.json"
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--jobs", "1", "--timeout", "300", "--memory", "2048", "--json", str(out),
           "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, **popen)
    journal = course / "grades" / f"{ASSIGNMENT}.jsonl"
    for _ in range(600):  # until the first student is recorded (at most 60 s)
        if journal.exists() and '"student": "a_honest"' in journal.read_text():
            break
        time.sleep(0.1)
    time.sleep(2)  # the sleeper's sandbox is running now
    return course, out, proc


@pytest.mark.bwrap
def test_grader_killed_late_keeps_earlier_results_and_no_sandbox(tmp_path):
    course, out, proc = _start_with_sleeper(tmp_path, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        sandboxes = _sandboxes() | zygotes_of(proc.pid)
        assert sandboxes, "the second sandbox should be running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert gradebook_scores(course) == {"a_honest": 10.0}
    assert not out.exists()  # --json is written at the end; the journal as each is recorded
    (line,) = (course / "grades" / f"{ASSIGNMENT}.jsonl").read_text().splitlines()
    assert json.loads(line)["entry"]["score"] == 10
    for _ in range(100):
        if not running(sandboxes):
            break
        time.sleep(0.1)
    # killed with the grader (bwrap --die-with-parent; its zygote ends with its socket)
    assert not running(sandboxes)


def _sandboxes() -> set:
    """Pids of running sandbox processes (``tests/_procs.py``)."""
    return set(sandbox_processes())


def _bwrap_pids(parent: int) -> set:
    """The outer bwrap processes of running sandboxes: ``parent``'s children (the grader's,
    started through prlimit, which execs bwrap)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and cmd[0].endswith(b"bwrap") and b"_child.py" in b" ".join(cmd):
            found.add(int(proc.name))
    return found


@pytest.mark.bwrap
def test_a_kill_from_outside_is_a_grader_error_and_a_rerun_grades_exactly_it(tmp_path):
    course, out, proc = _start_with_sleeper(tmp_path, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    with proc:
        try:
            victims = _bwrap_pids(proc.pid)
            assert len(victims) == 1
            os.kill(victims.pop(), signal.SIGKILL)  # not the grader's doing, nor the student's
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            proc.kill()
    assert proc.returncode == 1, stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["z_sleeper"]["status"] == "grader_error"
    assert data["z_sleeper"]["score"] is None
    assert "killed from outside by SIGKILL" in data["z_sleeper"]["reason"]
    assert "not graded, not recorded (1 grader errors" in stdout
    assert gradebook_scores(course) == {"a_honest": 10.0}  # nothing recorded for the sleeper
    assert not (course / "autograded" / "z_sleeper").exists()
    rerun = stderr.strip().splitlines()[-1].split()
    assert rerun[-2:] == ["--student", "z_sleeper"]
    submit(course, "z_sleeper", honest_cells())  # (the sleeper fixes nothing: a clean rerun)
    again = subprocess.run([sys.executable, *rerun[1:], "--no-progress", "--memory", "2048"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert set(json.loads(out.read_text())) == {"z_sleeper"}  # exactly the one student
    assert gradebook_scores(course) == {"a_honest": 10.0, "z_sleeper": 10.0}


@pytest.mark.bwrap
def test_preflight_failure_grades_nobody_and_writes_nothing(tmp_path):
    course = make_course(tmp_path / "course")
    path = course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    text = path.read_text().replace("return a - y", "return y - a")  # a wrong source solution
    assert text != path.read_text()
    path.write_text(text)
    submit(course, "alice", honest_cells())
    run = _grade(course, "--no-progress", "--json", str(course / "out.json"))
    assert run.returncode == 3, run.stderr[-3000:]
    assert "source solution of gradient_descent scored 7 / 10" in run.stderr
    assert "nothing was graded or written" in run.stderr
    assert not (course / "gradebook.db").exists()
    assert not (course / "out.json").exists()
    assert not (course / "autograded").exists()


def test_missing_bubblewrap_refuses_with_the_install_command(tmp_path):
    course = make_course(tmp_path / "course")
    submit(course, "alice", honest_cells())
    bare = tmp_path / "bin"  # a PATH with what the grader needs, but no bwrap
    bare.mkdir()
    for tool in ("prlimit", "unshare", "sh"):
        (bare / tool).symlink_to(shutil_which(tool))
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--no-progress"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env={"PATH": str(bare), "HOME": str(tmp_path)})  # fmt: skip
    assert run.returncode == 3, run.stderr[-3000:]
    assert "bubblewrap (bwrap) is not installed: sudo apt-get install bubblewrap" in run.stderr
    assert not (course / "gradebook.db").exists()


def shutil_which(tool: str) -> str:
    import shutil

    found = shutil.which(tool)
    assert found, tool
    return found


def test_weak_isolation_says_what_it_lacked(tmp_path):
    from nbgrader.api import Gradebook

    course = make_course(tmp_path / "course")
    submit(course, "alice", honest_cells())
    run = _grade(course, "--no-progress", "--isolation", "weak", "--json", str(course / "o.json"))
    assert run.returncode == 0, run.stderr[-3000:]
    iso = json.loads((course / "o.json").read_text())["alice"]["notebooks"][NOTEBOOK]["isolation"]
    assert iso["sandbox"] == "weak"
    assert "pid namespace" in iso["missing"]
    assert "isolation weak: the sandbox lacked" in run.stdout
    assert "pid namespace" in run.stdout
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        comments = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "alice").comments
        texts = [c.auto_comment for c in comments if c.auto_comment]
    assert any(t.startswith("Graded with --isolation weak") and "pid namespace" in t
               for t in texts), texts  # fmt: skip


@pytest.mark.bwrap
@pytest.mark.parametrize("with_course", [True, False], ids=["course", "machine-only"])
def test_doctor_reports_the_layers_and_the_seconds(tmp_path, with_course):
    extra = ["--course", str(make_course(tmp_path / "course"))] if with_course else []
    run = subprocess.run([sys.executable, "-m", "grader", "doctor", *extra],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("bubblewrap: bubblewrap ")
    assert "sandbox: bwrap, namespaces: pid, net, ipc, uts, mount" in run.stdout
    assert "missing: nothing" in run.stdout
    assert ("source solution gradient_descent: 10 / 10" in run.stdout) is with_course
    seconds = float(run.stdout.split("seconds per submission: ")[1].split()[0])
    assert 0 < seconds < 60


@pytest.mark.bwrap
def test_doctor_fails_a_wrong_source_solution_with_exit_3(tmp_path):
    course = make_course(tmp_path / "course")
    path = course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.write_text(path.read_text().replace("return a - y", "return y - a"))
    run = subprocess.run([sys.executable, "-m", "grader", "doctor", "--course", str(course)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 3, run.stdout + run.stderr
    assert "scored 7 / 10 in the sandbox" in run.stderr
