"""The adversarial suite: every attack from the issues as a real submission.

Each snippet in ``tests/fixtures/attacks/`` becomes the ``compute_da`` cell of one
student's notebook (the other solution cells keep the released stub), so none of them
solves anything: each must score 0. Two honest students must keep full marks and a
partly right one exactly its points; no file outside the sandbox may change (the
course's sources and submissions, the repository, the venv, ``/tmp``, ``/dev/shm``),
no process may be left behind, and the gradebook must hold exactly what the grader
decided.

The class is graded three times (module fixtures), with small limits (2 GB address space,
10 s per submission from "ready") so that a missing limit cannot take the machine down:

- ``graded``: the real ``python -m grader autograde`` in a subprocess, as a user runs it
  (the course under pytest's folder of mode 0700);
- ``bare``: in-process with the audit hook OFF, to show that the operating system's
  layers (bubblewrap's namespaces and filesystem view, own uid, rlimits) hold alone (the
  attacks in :data:`PIPELINE_STOPS` are left out: nothing of the sandbox stops them);
- ``user``: the real CLI as an ordinary user (created by the test when it runs as root,
  as CI does: ``tests/_user.py``), with the install and the course in that user's home of
  mode 0700: a user namespace instead of root's own uid.
"""

import json
import os
import subprocess
import sys
import time
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
from _procs import sandbox_processes

from grader.secure._pipeline import grade_assignment
from grader.secure._sandbox import Limits

pytestmark = [pytest.mark.slow, pytest.mark.bwrap]

ATTACKS = Path(__file__).parent / "fixtures" / "attacks"
NAMES = sorted(p.stem for p in ATTACKS.glob("*.py"))
LIMITS = Limits(timeout_s=10, memory_mb=2048, nproc=256, output_bytes=1 << 20)
CLI_LIMITS = ["--timeout", "10", "--memory", "2048"]  # from "ready": an honest run takes < 1 s
# Stopped by the pipeline's design (only solution cells run; the parent judges numbers;
# the timeout), whatever the sandbox: graded in the runs with the hook, not in ``bare``.
PIPELINE_STOPS = ("always_equal", "delete_test_cells", "edit_test_cells", "fake_print",
                  "infinite_loop", "input_transformer", "os_exit", "patch_checks",
                  "patch_numpy", "patch_reference")  # fmt: skip
# Attacks that must never run outside a sandbox (benchmarks/stock_attacks.py leaves them out
# of stock nbgrader's class): they kill every process in reach, or write into the venv.
UNSANDBOXED_HARM = ("builtin_fork_exec", "pidfd_kill", "pth_via_dir_fd", "poison_caches",
                    "cffi_system", "exec_and_spawn", "threads_left_running")  # fmt: skip
# Stated reason (or status) each crash must be reported with.
CRASHES = {
    "os_exit": "exit",
    "infinite_loop": "timeout",
}
GRADER_OUTPUT = {"out.json", "gradebook.db", "autograded", "grades"}  # the grader writes these
# What an attack leaves on the machine if it gets out (none may exist afterwards).
TRACES = ("/tmp/stolen_source", "/tmp/lrjax_stolen_cffi", "/tmp/lrjax_stolen_cases",
          "/tmp/lrjax_stolen_exec", "/tmp/lrjax_pwned_by_pth", "/tmp/lrjax_poisoned",
          "/tmp/sitecustomize.py", "/dev/shm/lrjax_poison")  # fmt: skip


def _edit_tests(nb):
    for cell in nb.cells:
        if (cell.metadata.get("nbgrader") or {}).get("grade"):
            cell.source = 'print("all checks passed")'
    return nb


def _delete_tests(nb):
    nb.cells = [c for c in nb.cells if not (c.metadata.get("nbgrader") or {}).get("grade")]
    return nb


EDITS = {"edit_test_cells": _edit_tests, "delete_test_cells": _delete_tests}


def attack_code(name: str, course: Path, repo=REPO, venv=sys.prefix) -> str:
    """The snippet with the course, repository and venv paths filled in (a student who
    knows them)."""
    text = (ATTACKS / f"{name}.py").read_text()
    for key, value in (("COURSE_DIR", course), ("REPO_DIR", repo), ("VENV_DIR", venv)):
        text = text.replace(key, str(value))
    return text


def build_class(course: Path, skip=(), repo=REPO, venv=sys.prefix) -> None:
    """Two honest students, one partly right, and one student per attack (but ``skip``)."""
    honest = honest_cells()
    submit(course, "honest_a", honest)
    submit(course, "honest_b", honest)
    partial = dict(honest, compute_dz="def compute_dz(a, y):\n    return y - a\n")
    submit(course, "partial", partial)
    for name in (n for n in NAMES if n not in skip):
        code = attack_code(name, course, repo, venv)
        submit(course, name, {"compute_da": code}, edit=EDITS.get(name))


def fingerprint(folder: Path) -> dict:
    """``{relative path: (size, mtime_ns, mode)}`` of every file under ``folder``: any
    write, new file or chmod shows (cheaper than hashing a whole venv)."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        try:
            info = path.lstat()
        except OSError:
            continue
        found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return found


def machine_state(course: Path, repo=REPO, venv=sys.prefix) -> dict:
    """What no submission may change: the course's inputs, the code, the venv, traces."""
    return {
        "course": {d: tree_hashes(course / d) for d in ("submitted", "source", "exercises")},
        "course_root": sorted(p.name for p in course.iterdir() if p.name not in GRADER_OUTPUT),
        "repo": {d: fingerprint(Path(repo) / d) for d in ("grader", "lrjax", "assignments")},
        "venv": fingerprint(Path(venv) / "lib"),
        "traces": [t for t in TRACES if os.path.exists(t)],
    }


def leftovers() -> list[str]:
    """Command lines of processes an attack may have left behind (none may remain): any
    process of a sandbox (``tests/_procs.py``: started by path or forked by a zygote), and
    the attacks' ``sleep 300``."""
    found = []
    for _ in range(50):  # SIGKILLed processes take a moment to be reaped
        procs = sandbox_processes(also=(b"sleep\x00300",))
        found = [cmd.replace(b"\x00", b" ").decode(errors="replace") for cmd in procs.values()]
        if not found:
            break
        time.sleep(0.1)
    return found


def _cli(python, course: Path) -> list:
    cmd = [python, "-m", "grader", "autograde", ASSIGNMENT, "--course", course]
    return [*cmd, "--json", course / "out.json", "--jobs", "2", "--no-progress", *CLI_LIMITS]


@pytest.fixture(scope="module", params=["cli", "bare", "user"])
def graded(request, tmp_path_factory):
    if request.param == "user":
        yield from _graded_as_user()
        return
    course = make_course(tmp_path_factory.mktemp(f"attacks-{request.param}") / "course")
    build_class(course, skip=PIPELINE_STOPS if request.param == "bare" else ())
    # the grader (trusted) writes bytecode as it imports: compile first, so that any change
    # in the repository is the sandbox's
    subprocess.run([sys.executable, "-m", "compileall", "-q", REPO / "grader", REPO / "lrjax"],
                   check=True, capture_output=True)  # fmt: skip
    before = machine_state(course)
    if request.param == "cli":
        run = subprocess.run(_cli(sys.executable, course), capture_output=True, text=True,
                             check=False, timeout=900)  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        results = json.loads((course / "out.json").read_text())
    else:
        out = course / "out.json"
        results = grade_assignment(course, ASSIGNMENT, jobs=2, limits=LIMITS, json_out=out,
                                   progress=False, audit=False)  # fmt: skip
    after = machine_state(course)
    yield course, results, before, after, leftovers()


def _graded_as_user():
    import shutil

    from _user import ensure_user, give, run_as, user_dir

    user = ensure_user()
    folder = user_dir(user, "attacks")
    try:
        course = make_course(folder / "course")
        venv = user.python.parent.parent
        build_class(course, repo=user.repo, venv=venv)
        give(user, folder)
        # the grader (trusted, the user's own) would write bytecode into its venv as it
        # imports: compile it first, so that any change there is the sandbox's
        compiled = run_as(user, [user.python, "-m", "compileall", "-q", venv / "lib"])
        assert compiled.returncode == 0, compiled.stdout[-2000:] + compiled.stderr[-2000:]
        before = machine_state(course, user.repo, venv)
        run = run_as(user, _cli(user.python, course), cwd=folder, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        results = json.loads((course / "out.json").read_text())
        after = machine_state(course, user.repo, venv)
        yield course, results, before, after, leftovers()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _entry(results, name):
    """``results[name]``; the run without the hook leaves out :data:`PIPELINE_STOPS`."""
    if name not in results and name in PIPELINE_STOPS:
        pytest.skip("stopped by the pipeline whatever the sandbox: graded with the hook on")
    return results[name]


def test_every_attack_is_a_student(graded):
    _, results, *_ = graded
    hooked = results["honest_a"]["notebooks"]["gradient_descent"]["isolation"]["audit_hook"]
    assert set(NAMES) - (set() if hooked else set(PIPELINE_STOPS)) <= set(results)
    assert len(NAMES) >= 30


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_attack_scores_zero(graded, name):
    course, results, *_ = graded
    entry = _entry(results, name)
    assert entry["max_score"] == 10
    assert entry["score"] == 0, json.dumps(entry, indent=1)[:3000]
    assert entry["status"] != "grader_error", entry["reason"]
    assert gradebook_scores(course)[name] == 0


@pytest.mark.parametrize("name", sorted(CRASHES), ids=sorted(CRASHES))
def test_crash_is_contained_and_reported(graded, name):
    _, results, *_ = graded
    entry = _entry(results, name)
    assert entry["status"] == CRASHES[name]
    assert entry["reason"]
    assert all(CRASHES[name] in t["feedback"] or "not graded" in t["feedback"]
               for t in entry["tests"])  # fmt: skip


def _hooked(graded):
    _, results, *_ = graded
    iso = results["honest_a"]["notebooks"]["gradient_descent"]["isolation"]
    if not iso["audit_hook"]:
        pytest.skip("the audit hook's messages: only the run with the hook")
    return results


@pytest.mark.parametrize(
    "name, events",
    [
        ("subprocess_shell", ("subprocess.Popen refused",)),
        ("fork_bomb", ("os.fork refused",)),
        ("network", ("socket",)),
        ("read_source", ("refused", "No such file")),  # the hook, or the course is not there
        ("read_hidden_tests", ("refused", "No such file")),
        ("read_gradebook", ("sqlite3", "unable to open")),
        ("write_other_students", ("refused", "No such file")),
        ("gc_code_swap", ("gc.get_objects refused",)),
        ("input_transformer", ("NameError",)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_attack_is_refused_with_a_reason(graded, name, events):
    errors = _hooked(graded)[name]["notebooks"]["gradient_descent"]["cell_errors"]
    assert any(e in errors.get("compute_da", "") for e in events), errors
    assert "Error" in errors["compute_da"]


@pytest.mark.parametrize(
    "name, event",
    [
        ("read_source", "No such file"),
        ("read_hidden_tests", "No such file"),
        ("write_other_students", "No such file"),
        ("read_gradebook", "unable to open database"),
        ("gradebook_trigger", "unable to open database"),
        ("network", "Connection refused"),  # its own loopback: nothing listens there
    ],
    ids=lambda v: v if " " not in v else None,
)
def test_without_the_hook_the_course_and_network_do_not_exist(graded, name, event):
    _, results, *_ = graded
    notebook = results[name]["notebooks"]["gradient_descent"]
    if notebook["isolation"]["audit_hook"]:
        pytest.skip("the operating system's own errors: only the run without the hook")
    assert event in notebook["cell_errors"].get("compute_da", ""), notebook["cell_errors"]


def test_memory_hog_is_stopped_and_reported(graded):
    _, results, *_ = graded
    errors = results["memory_hog"]["notebooks"]["gradient_descent"]["cell_errors"]
    assert "MemoryError" in errors["compute_da"]
    assert results["memory_hog"]["status"] == "memory"
    assert "MemoryError" in results["memory_hog"]["reason"]


def test_huge_output_is_capped(graded):
    course, results, *_ = graded
    notebook = results["huge_output"]["notebooks"]["gradient_descent"]
    assert len(notebook["output_tail"]) <= 2000
    if not notebook["isolation"]["audit_hook"]:  # the CLI keeps its default 8 MB cap
        assert notebook["output_dropped_bytes"] >= 64 * (1 << 20) - LIMITS.output_bytes
    assert (course / "out.json").stat().st_size < 1 << 20


def test_honest_students_keep_full_marks(graded):
    course, results, *_ = graded
    for student in ("honest_a", "honest_b"):
        assert results[student]["score"] == 10, results[student]
        assert results[student]["status"] == "ok"
    assert results["partial"]["score"] == 7
    scores = gradebook_scores(course)
    assert (scores["honest_a"], scores["honest_b"], scores["partial"]) == (10, 10, 7)


def test_every_sandbox_had_every_layer(graded):
    _, results, *_ = graded
    for student, entry in results.items():
        for notebook in entry["notebooks"].values():
            iso = notebook["isolation"]
            assert iso["sandbox"] == "bwrap" and iso["missing"] == [], (student, iso)
            assert (iso["uid"] is None) is ("user" in iso["namespaces"])  # root: own uid


@pytest.mark.parametrize("part", ["course", "course_root", "repo", "venv", "traces"])
def test_nothing_outside_the_sandbox_changed(graded, part):
    _, _, before, after, _ = graded
    assert after[part] == before[part]
    assert after["traces"] == []


def test_no_process_is_left_behind(graded):
    *_, left = graded
    assert left == []


def test_gradebook_holds_exactly_the_grader_scores(graded):
    course, results, *_ = graded
    assert gradebook_scores(course) == {s: e["score"] for s, e in results.items()}


def test_json_file_matches_results(graded):
    course, results, *_ = graded
    assert json.loads((course / "out.json").read_text()) == json.loads(json.dumps(results))


HOSTILE = ("builtin_fork_exec", "pidfd_kill", "cffi_system", "threads_left_running", "fork_bomb")


def test_two_runs_side_by_side_do_not_touch_each_other(tmp_path):
    """A hostile class graded at the same time as an honest one (two grader processes on
    one machine, as two courses would): the honest run's grades are exactly right."""
    honest = make_course(tmp_path / "honest")
    for student in ("a", "b", "c"):
        submit(honest, student, honest_cells())
    wrong_dz = "def compute_dz(a, y):\n    return y - a\n"
    submit(honest, "partial", dict(honest_cells(), compute_dz=wrong_dz))
    hostile = make_course(tmp_path / "hostile")
    for name in HOSTILE:
        submit(hostile, name, {"compute_da": attack_code(name, hostile)})
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    runs = [subprocess.Popen(_cli(sys.executable, c), **pipes) for c in (hostile, honest)]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout[-2000:] + stderr[-2000:]
    assert gradebook_scores(honest) == {"a": 10, "b": 10, "c": 10, "partial": 7}
    assert gradebook_scores(hostile) == dict.fromkeys(HOSTILE, 0)
    assert leftovers() == []
