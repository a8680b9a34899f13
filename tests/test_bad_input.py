"""Bad input to the grader gets a clear error and loses nothing (the real CLI, end to end).

A missing course or assignment, a locked or corrupt gradebook, a submission that is not a
notebook, a full disk: each gets one "error: ..." line that names the fix (or, for a bad
submission, status "unreadable" for that student only), and nothing is half-written.
"""

import contextlib
import json
import os
import random
import shutil
import sqlite3
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
    submit,
)

pytestmark = [pytest.mark.slow, pytest.mark.bwrap]

NB = f"{NOTEBOOK}.ipynb"


WAIT = 4  # seconds the grader waits for a gradebook lock here (LRJAX_GRADEBOOK_WAIT), not 30


def _cmd(course, *extra, assignment=ASSIGNMENT):
    return [sys.executable, "-m", "grader", "autograde", assignment, "--course", str(course),
            "--timeout", "60", "--memory", "2048", "--no-progress", *extra]  # fmt: skip


def _grade(course, *extra, assignment=ASSIGNMENT):
    return subprocess.run(_cmd(course, *extra, assignment=assignment), capture_output=True,
                          text=True, check=False, timeout=600, env=_env())  # fmt: skip


def _env() -> dict:
    return {**os.environ, "LRJAX_GRADEBOOK_WAIT": str(WAIT)}


def _files(folder: Path) -> dict:
    """``{relative path: bytes}`` of every file under ``folder`` (empty if it is not there)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}  # fmt: skip


def _tmp_litter(folder: Path) -> list:
    return sorted(str(p) for p in folder.rglob("*.tmp"))


# 1. A missing course folder, a course without source/, an unknown assignment.


def _bad_course(tmp_path, case):
    """(--course, assignment, --json or None, words the error must contain) for ``case``."""
    course = make_course(tmp_path / "course")
    submit(course, "alice", honest_cells())
    if case == "missing_course":
        return tmp_path / "no_such_course", ASSIGNMENT, None, ["does not exist", "--course"]
    if case == "no_source":
        (tmp_path / "empty").mkdir()
        return tmp_path / "empty", ASSIGNMENT, None, ["has no source/ folder", "course root"]
    if case == "course_is_source":  # the source folder passed instead of the course root
        return course / "source", ASSIGNMENT, None, [f"did you mean --course {course}?"]
    if case == "unknown_assignment":
        return course, "nope", None, ["no assignment 'nope'", f"are: {ASSIGNMENT}"]
    if case == "assignment_without_notebooks":
        (course / "source" / "week2").mkdir()
        return course, "week2", None, ["holds no .ipynb notebook"]
    if case == "not_an_assignment_name":
        return course, "..", None, ["is not an assignment name"]
    assert case == "json_folder_missing"
    return course, ASSIGNMENT, tmp_path / "no_dir" / "out.json", ["does not exist", "create it"]


@pytest.mark.parametrize(
    "case",
    [
        "missing_course",
        "no_source",
        "course_is_source",
        "unknown_assignment",
        "assignment_without_notebooks",
        "not_an_assignment_name",
        "json_folder_missing",
    ],
)
def test_bad_course_or_assignment_is_one_line_naming_the_fix(tmp_path, case):
    course, assignment, json_out, words = _bad_course(tmp_path, case)
    before = _files(tmp_path)
    extra = ["--json", str(json_out)] if json_out else []
    run = _grade(course, *extra, assignment=assignment)
    assert run.returncode == 2, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for word in words:
        assert word in lines[0]
    assert _files(tmp_path) == before  # nothing created anywhere: no gradebook, no autograded/
    assert not (tmp_path / "no_such_course").exists()
    assert not list(tmp_path.rglob("gradebook.db")) and not list(tmp_path.rglob("autograded"))


# 2. A gradebook locked by another program.


def _real_gradebook(course):
    """Make the course's gradebook as nbgrader would (the assignment, no submissions)."""
    from grader.secure._collect import read_source
    from grader.secure._gradebook import ensure_assignment

    ensure_assignment(course, ASSIGNMENT, read_source(course, ASSIGNMENT))
    return course / "gradebook.db"


_LOCKER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("ROLLBACK")
"""


def _hold_lock(db, seconds):
    """Another process holding an exclusive SQLite lock on ``db`` for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", _LOCKER, str(db), str(seconds)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.communicate()  # waits, and closes its pipe


def test_gradebook_locked_for_the_whole_run_waits_then_writes_nothing(tmp_path):
    course = make_course(tmp_path / "course")
    submit(course, "alice", honest_cells())
    db = _real_gradebook(course)
    before = db.read_bytes()
    locker = _hold_lock(db, 300)
    try:
        started = time.monotonic()
        run = _grade(course, "--json", str(course / "out.json"))
        waited = time.monotonic() - started
    finally:
        _stop(locker)
    assert run.returncode == 2, run.stderr[-3000:]
    assert f"the gradebook {db} is locked by another program (waited {WAIT} s)" in run.stderr
    assert "close formgrader or the other nbgrader process using it, then re-run" in run.stderr
    assert "no student was recorded" in run.stderr
    assert waited >= WAIT
    assert db.read_bytes() == before
    assert not (course / "out.json").exists() and not (course / "autograded").exists()
    assert gradebook_scores(course) == {}


def _start_slow_class(course, out, *extra):
    """The real CLI grading an honest student, then a slow one (5 s in a solution cell),
    one sandbox at a time; returned once the first is recorded (in the journal)."""
    submit(course, "a_honest", honest_cells())
    slow = honest_cells()["compute_da"] + "\nimport time\ntime.sleep(5)\n"
    submit(course, "z_slow", dict(honest_cells(), compute_da=slow))
    proc = subprocess.Popen(_cmd(course, "--jobs", "1", "--json", str(out), *extra), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    for _ in range(1200):  # at most 120 s
        journal = course / "grades" / f"{ASSIGNMENT}.jsonl"
        if journal.exists() and '"student": "a_honest"' in journal.read_text():
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"a_honest was not recorded: {proc.communicate()}")


@pytest.mark.parametrize("hold", [7, 300], ids=["released_after_7s", "held_to_the_end"])
def test_gradebook_locked_mid_run(tmp_path, hold):
    course = make_course(tmp_path / "course")
    out = course / "out.json"
    proc = _start_slow_class(course, out)
    locker = _hold_lock(course / "gradebook.db", hold)  # while z_slow is in its sandbox
    try:
        _, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
        _stop(locker)
    if hold < 300:  # z_slow is done about 5 s in: waited about 2 s, then recorded everyone
        assert proc.returncode == 0, stderr[-3000:]
        assert gradebook_scores(course) == {"a_honest": 10.0, "z_slow": 10.0}
        assert set(json.loads(out.read_text())) == {"a_honest", "z_slow"}
        return
    assert proc.returncode == 2, stderr[-3000:]
    assert f"is locked by another program (waited {WAIT} s)" in stderr
    assert "1 student(s) were recorded in full before this" in stderr
    assert "Traceback" not in stderr
    assert gradebook_scores(course) == {"a_honest": 10.0}  # z_slow: nothing at all
    assert _students(course / "gradebook.db") == ["a_honest"]
    assert set(json.loads(out.read_text())) == {"a_honest"}  # exactly what was recorded
    assert not (course / "autograded" / "z_slow").exists()
    assert (course / "autograded" / "a_honest" / ASSIGNMENT / NB).is_file()
    assert _tmp_litter(course) == []


_CRASH_MID_COMMIT = """
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA cache_size = 1")  # changed pages spill into the file before the commit
con.execute("UPDATE source_cell SET source = hex(randomblob(4000))")
os._exit(0)  # dies mid-transaction: a hot journal is left beside the gradebook
"""


def test_gradebook_left_by_a_crashed_writer_is_recovered_and_graded(tmp_path):
    course = make_course(tmp_path / "course")
    submit(course, "alice", honest_cells())
    db = _real_gradebook(course)
    subprocess.run([sys.executable, "-c", _CRASH_MID_COMMIT, str(db)], check=True)
    assert (course / "gradebook.db-journal").stat().st_size > 0
    run = _grade(course)
    assert run.returncode == 0, run.stderr[-3000:]
    assert gradebook_scores(course) == {"alice": 10.0}
    assert not (course / "gradebook.db-journal").exists()


# 3. A corrupt gradebook.


def _corrupt(course, case):
    db = course / "gradebook.db"
    if case == "garbage_bytes":
        db.write_bytes(random.Random(0).randbytes(8192))
    elif case == "truncated":
        whole = _real_gradebook(course).read_bytes()
        db.write_bytes(whole[: len(whole) // 2])
    elif case == "text_file":
        db.write_text("this is not a database\n" * 100)
    else:
        assert case == "header_zeroed"  # the SQLite header overwritten
        whole = _real_gradebook(course).read_bytes()
        db.write_bytes(bytes(100) + whole[100:])
    return db


@pytest.mark.parametrize("case", ["garbage_bytes", "truncated", "text_file", "header_zeroed"])
def test_corrupt_gradebook_is_named_and_left_byte_for_byte(tmp_path, case):
    course = make_course(tmp_path / "course")
    submit(course, "alice", honest_cells())
    db = _corrupt(course, case)
    before = _files(course)
    run = _grade(course, "--json", str(course / "out.json"))
    assert run.returncode == 2, run.stderr[-3000:]
    first = run.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: the gradebook {db} is not a valid SQLite database")
    assert "move it aside (mv" in first and "re-run to start a new one" in first
    assert "Traceback" not in run.stderr
    assert _files(course) == before  # the gradebook unchanged, nothing new (no journal)


def test_gradebook_that_is_a_folder(tmp_path):
    course = make_course(tmp_path / "course")
    (course / "gradebook.db").mkdir()
    run = _grade(course)
    assert run.returncode == 2, run.stderr[-3000:]
    assert "is not a file: move it aside" in run.stderr
    assert list((course / "gradebook.db").iterdir()) == []


# 4. Submissions that are not notebooks: that student is "unreadable", the others graded.

BAD = {  # student: (how to make the file at the notebook's path, words of the reason)
    "binary": (lambda p: p.write_bytes(random.Random(1).randbytes(5000)), "not UTF-8"),
    "not_utf8": (
        lambda p: p.write_bytes(_notebook_text().encode("latin-1", "replace")),
        "not UTF-8",
    ),
    "empty": (lambda p: p.write_bytes(b""), "file is empty"),
    "json_list": (lambda p: p.write_text("[1, 2]"), "cannot read the notebook"),
    "json_object": (lambda p: p.write_text('{"a": 1}'), "cannot read the notebook"),
    "cells_not_objects": (
        lambda p: p.write_text(
            '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [1, "x"]}'
        ),
        "cannot read the notebook",
    ),
    "bad_metadata": (lambda p: p.write_text(_notebook_text(nbgrader="x")), "malformed metadata"),
    "folder": (lambda p: p.mkdir(), "is a folder, not a notebook file"),
    "huge": (lambda p: p.write_bytes(b" " * (30 << 20)), "more than 20971520"),
    "fifo": (lambda p: os.mkfifo(p), "not a regular file"),
    "symlink_shadow": (lambda p: p.symlink_to("/etc/shadow"), "symbolic link: not followed"),
    "symlink_honest": (lambda p: p.symlink_to(p.parents[4] / "honest.ipynb"), "symbolic link"),
}


def _notebook_text(nbgrader=None):
    """An honest notebook's JSON with a non-ASCII character (and, optionally, every solution
    cell's ``metadata.nbgrader`` replaced by ``nbgrader``)."""
    nb = json.loads((Path(__file__).parent.parent / "assignments" / "source" / ASSIGNMENT
                     / NB).read_text())  # fmt: skip
    nb["cells"][0]["source"] = "café"
    if nbgrader is not None:
        for cell in nb["cells"]:
            if (cell["metadata"].get("nbgrader") or {}).get("solution"):
                cell["metadata"]["nbgrader"] = nbgrader
    return json.dumps(nb, ensure_ascii=False)


@pytest.fixture(scope="module")
def bad_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    course = make_course(root / "course")
    submit(course, "alice", honest_cells())
    (course / "submitted" / "carol" / ASSIGNMENT).mkdir(parents=True)  # handed in nothing
    honest = submit(course, "tmp", honest_cells())
    shutil.move(honest, root / "honest.ipynb")  # outside the course: only a symlink points here
    shutil.rmtree(course / "submitted" / "tmp")
    for student, (make, _) in BAD.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        make(folder / NB)
    # An assignment folder that is a symlink (to alice's), a student folder that is not UTF-8.
    (course / "submitted" / "linked").mkdir()
    (course / "submitted" / "linked" / ASSIGNMENT).symlink_to(course / "submitted" / "alice"
                                                             / ASSIGNMENT)  # fmt: skip
    odd = os.fsencode(course / "submitted") + b"/odd\xffname/" + ASSIGNMENT.encode()
    shutil.copytree(
        course / "submitted" / "alice" / ASSIGNMENT, odd.decode("utf-8", "surrogateescape")
    )
    out = root / "out.json"
    run = _grade(course, "--json", str(out), "--jobs", "2")
    return course, run, json.loads(out.read_text()) if out.exists() else None


@pytest.mark.parametrize("student", list(BAD))
def test_not_a_notebook_is_unreadable_with_the_reason(bad_class, student):
    course, run, data = bad_class
    assert run.returncode == 0, run.stderr[-3000:]
    entry = data[student]
    assert (entry["status"], entry["score"], entry["max_score"]) == ("unreadable", 0, 10)
    assert BAD[student][1] in entry["reason"]
    assert gradebook_scores(course)[student] == 0  # recorded, like a missing notebook
    assert (course / "autograded" / student / ASSIGNMENT / NB).is_file()


def test_the_others_are_graded_and_links_are_not_followed(bad_class):
    course, run, data = bad_class
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert (data["alice"]["score"], data["alice"]["status"]) == (10, "ok")
    assert data["carol"]["status"] == "missing"
    assert set(data) == {"alice", "carol", *BAD}  # "linked" and the non-UTF-8 name: skipped
    assert gradebook_scores(course) == {s: (10.0 if s == "alice" else 0.0) for s in data}
    assert "alice" in run.stdout and "symlink_honest" in run.stdout


# 5. A full disk.


@pytest.fixture
def small_disk(tmp_path):
    """A fresh 16 MB tmpfs (root only); skipped with the reason where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk, leave=0):
    """Fill ``disk`` until ``leave`` bytes are free."""
    stats = os.statvfs(disk)
    fd = os.open(disk / f"filler{time.monotonic_ns()}", os.O_WRONLY | os.O_CREAT)
    try:
        os.posix_fallocate(fd, 0, max(stats.f_bavail * stats.f_frsize - leave, 1))
    finally:
        os.close(fd)


def _students(db) -> list:
    with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as con:
        return sorted(r[0] for r in con.execute("SELECT id FROM student"))


def _pages(n, page=4096):
    return -(-n // page) * page


def _gradebook_tables(db) -> list:
    """The tables of ``db``, read-only, after checking that it is a valid SQLite database."""
    with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as con:
        assert con.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]


@pytest.mark.parametrize("where", ["gradebook_at_start", "autograded", "gradebook", "json"])
def test_full_disk_stops_with_the_path_and_leaves_nothing_half_written(small_disk, where):
    course = make_course((small_disk.parent if where == "json" else small_disk) / "course")
    if where == "gradebook_at_start":  # no room to create the gradebook: nothing is graded
        submit(course, "alice", honest_cells())
        _fill(small_disk)
        run = _grade(course, "--json", str(course / "out.json"))
        assert run.returncode == 4, run.stderr[-3000:]
        assert (f"error: no space left on device while writing {course / 'gradebook.db'}: "
                "free space and re-run") in run.stderr  # fmt: skip
        assert "no student was recorded" in run.stderr
        assert _gradebook_tables(course / "gradebook.db") == []  # SQLite's empty database
        assert not (course / "out.json").exists() and not (course / "autograded").exists()
        assert _tmp_litter(course) == []
        return
    out = (small_disk if where == "json" else course) / "out.json"  # "json": only its disk fills
    previous = course / "autograded" / "z_slow" / ASSIGNMENT / NB  # from an earlier run
    previous.parent.mkdir(parents=True)
    previous.write_text("the previous run's notebook\n")
    before_json = b'{"a_earlier": "the previous run\'s JSON"}'
    out.write_bytes(before_json)
    proc = _start_slow_class(course, out)
    written = (course / "autograded" / "a_honest" / ASSIGNMENT / NB).stat().st_size
    # "autograded": no room at all. "gradebook": room for z_slow's autograded files and a
    # part of its gradebook transaction (enough for the commit nbgrader's add_student would
    # make on its own, not for the whole student). "json": the JSON's disk is full.
    _fill(small_disk, _pages(written + 400) + 8 * 4096 if where == "gradebook" else 0)
    with proc:
        try:
            _, stderr = proc.communicate(timeout=300)
        finally:
            proc.kill()
    failed = {"autograded": previous, "gradebook": course / "gradebook.db", "json": out}[where]
    assert proc.returncode == 4, stderr[-3000:]
    assert (f"error: no space left on device while writing {failed}: free space and "
            "re-run") in stderr  # fmt: skip
    assert "Traceback" not in stderr
    recorded = ["a_honest", "z_slow"] if where == "json" else ["a_honest"]
    assert f"{len(recorded)} student(s) were recorded in full before this" in stderr
    assert "submitted_assignment" in _gradebook_tables(course / "gradebook.db")
    assert _students(course / "gradebook.db") == recorded  # no student row without grades
    for filler in small_disk.glob("filler*"):
        filler.unlink()  # (nbgrader's API, reading, may write)
    assert gradebook_scores(course) == dict.fromkeys(recorded, 10.0)  # whole students only
    kept = out.read_bytes()  # whole: the previous one, or exactly the students recorded
    assert kept == before_json or set(json.loads(kept)) == set(recorded)
    journal = (course / "grades" / f"{ASSIGNMENT}.jsonl").read_text().splitlines()
    assert [json.loads(line)["student"] for line in journal] == recorded
    assert _tmp_litter(course) == [] and _tmp_litter(small_disk) == []
    if where != "json":
        assert previous.read_text() == "the previous run's notebook\n"  # left as it was
        assert sorted(p.name for p in previous.parent.iterdir()) == [NB]
    else:
        assert '"grade_id": "compute_da"' in previous.read_text()  # recorded whole
