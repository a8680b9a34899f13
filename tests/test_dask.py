"""The secure grader on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes (each with its nanny, one thread) started on localhost by the test.

- a class of honest, wrong and hostile submissions gets the same scores and statuses
  through the cluster as on this machine, and no submission takes its worker down;
- a worker killed while the class is grading loses nothing: every student is graded
  and recorded exactly once;
- a submission whose worker dies every time it runs (here a watcher kills the worker
  that runs it) fails alone, as a grader error, never a score;
- the client killed late keeps what it recorded, and ``--resume`` grades only the rest.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _grader_course import ASSIGNMENT, gradebook_scores, honest_cells, make_course, submit
from _procs import cmdline, stat

pytest.importorskip("distributed", reason="Dask is in the grade extra: pip install 'lrjax[grade]'")
pytestmark = [pytest.mark.slow, pytest.mark.bwrap]

DASK = Path(sys.executable).with_name("dask")
ATTACKS = Path(__file__).parent / "fixtures" / "attacks"
LIMITS = ["--timeout", "10", "--memory", "2048"]
SLOW = "import time\ntime.sleep(2)\n"  # an honest student whose cells take a while


def _children(pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and stat(p)[1] == pid]


def _start(cmd, log: Path, env=None) -> subprocess.Popen:
    with log.open("w") as err:
        return subprocess.Popen([*cmd, "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=err,
                                env=env)  # fmt: skip


class Cluster:
    """A scheduler and two workers on localhost (the workers restart when killed)."""

    def __init__(self, folder: Path):
        self.file = folder / "scheduler.json"
        # one task at a time per one-thread worker (none queued on it), as docs/grader.md
        # advises; a task Dask gives up on after two dead workers
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
               "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}  # fmt: skip
        cmd = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file"]
        self.scheduler = _start([*cmd, self.file], folder / "scheduler.log", env)
        for _ in range(300):
            if self.file.exists() and self.file.stat().st_size:
                break
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        self.nannies = [
            _start([DASK, "worker", "--scheduler-file", self.file, "--nthreads", "1", "--name",
                    f"w{i}", "--local-directory", folder / f"w{i}"], folder / f"w{i}.log")
            for i in (1, 2)
        ]  # fmt: skip
        assert len(self.workers(wait_s=60)) == 2, (folder / "w1.log").read_text()[-3000:]

    def workers(self, wait_s: float = 0) -> list[int]:
        """The worker processes (the nannies' children that run the worker)."""
        deadline = time.monotonic() + wait_s
        while True:
            found = [pid for nanny in self.nannies for pid in _children(nanny.pid)
                     if b"spawn_main" in cmdline(pid)]  # fmt: skip
            if len(found) == 2 or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def close(self) -> None:
        for proc in [*self.nannies, self.scheduler]:
            proc.send_signal(signal.SIGTERM)
        for proc in [*self.nannies, self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    found = Cluster(tmp_path_factory.mktemp("cluster"))
    time.sleep(3)  # the workers have registered with the scheduler too
    yield found
    found.close()


def _grade(course, *extra, **popen):
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--no-progress", *LIMITS, *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600, **popen)


def _journal_lines(course) -> list[str]:
    path = Path(course) / "grades" / f"{ASSIGNMENT}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [row["student"] for row in rows]


def _class(course, n_slow=0, attacks=()):
    honest = honest_cells()
    submit(course, "honest", honest)
    submit(
        course, "wrong_dz", {**honest, "compute_dz": "def compute_dz(a, y):\n    return y - a\n"}
    )
    submit(course, "partial", {"compute_da": honest["compute_da"]})
    for i in range(n_slow):
        submit(course, f"slow{i}", {**honest, "compute_da": SLOW + honest["compute_da"]})
    for name in attacks:
        submit(course, f"x_{name}", {"compute_da": (ATTACKS / f"{name}.py").read_text()})
    return course


def _scores(path) -> dict:
    return {s: (e["score"], e["status"]) for s, e in json.loads(Path(path).read_text()).items()}


def test_a_class_grades_the_same_on_the_cluster_and_no_worker_dies(tmp_path, cluster):
    attacks = ("memory_hog", "fork_bomb", "pidfd_kill", "os_exit", "read_gradebook",
               "write_other_students", "network")  # fmt: skip
    here = _class(make_course(tmp_path / "here"), attacks=attacks)
    there = _class(make_course(tmp_path / "there"), attacks=attacks)
    before = cluster.workers()
    local = _grade(here, "--json", str(tmp_path / "here.json"), "--jobs", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    remote = _grade(there, "--json", str(tmp_path / "there.json"), "--scheduler", cluster.address)
    assert remote.returncode == 0, remote.stderr[-3000:]
    assert _scores(tmp_path / "there.json") == _scores(tmp_path / "here.json")
    assert _scores(tmp_path / "there.json")["honest"] == (10.0, "ok")
    assert _scores(tmp_path / "there.json")["x_memory_hog"][1] == "memory"
    assert gradebook_scores(there) == gradebook_scores(here)
    assert sorted(_journal_lines(there)) == sorted(_scores(tmp_path / "there.json"))
    assert cluster.workers() == before  # every submission failed alone, in its sandbox


def test_a_worker_killed_mid_class_loses_nobody(tmp_path, cluster):
    course = _class(make_course(tmp_path / "c"), n_slow=6)
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--no-progress", *LIMITS, "--scheduler", cluster.address]  # fmt: skip
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        for _ in range(600):
            if _journal_lines(course):  # grading has begun on both workers
                break
            time.sleep(0.1)
        os.kill(cluster.workers()[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    scores = gradebook_scores(course)
    assert all(scores[f"slow{i}"] == 10.0 for i in range(6)), out
    assert sorted(_journal_lines(course)) == sorted(scores)  # each student once
    assert len(cluster.workers(wait_s=60)) == 2  # the nanny started it again


@pytest.mark.skipif(os.geteuid() != 0, reason="finds the doomed sandbox through /proc as root")
def test_a_submission_whose_worker_always_dies_fails_alone(tmp_path, cluster):
    course = _class(make_course(tmp_path / "c"), n_slow=2)
    doom = "open('/tmp/doomed', 'w').close()\nimport time\ntime.sleep(30)\n"
    submit(course, "doomed", {**honest_cells(), "compute_da": doom + honest_cells()["compute_da"]})
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--no-progress", "--timeout", "60", "--scheduler", cluster.address]  # fmt: skip
    kills = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        while proc.poll() is None:  # kill whichever worker is running the doomed sandbox
            for worker in cluster.workers():
                if _runs_doomed(worker):
                    os.kill(worker, signal.SIGKILL)
                    kills += 1
            time.sleep(0.2)
        out, err = proc.communicate()
    assert proc.returncode == 1, err[-3000:]  # one grader error: not the student's zero
    assert kills >= 4  # two deaths for Dask to give up, twice: the client sends it again
    assert "doomed" in out.split("not graded, not recorded")[1]
    assert "Dask workers that ran it died" in out
    scores = gradebook_scores(course)
    assert set(scores) == {"honest", "wrong_dz", "partial", "slow0", "slow1"}
    assert scores["honest"] == scores["slow0"] == scores["slow1"] == 10.0
    assert "--student doomed" in err


def _runs_doomed(pid: int) -> bool:
    """Whether a process under ``pid`` has /tmp/doomed in its own filesystem view."""
    todo = [pid]
    while todo:
        current = todo.pop()
        if Path(f"/proc/{current}/root/tmp/doomed").exists():
            return True
        todo += _children(current)
    return False


def test_a_client_killed_late_keeps_its_work_and_resume_grades_the_rest(tmp_path, cluster):
    course = _class(make_course(tmp_path / "c"), n_slow=6)
    cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
           "--no-progress", *LIMITS, "--scheduler", cluster.address]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1200):
        if len(_journal_lines(course)) >= 3:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    kept = _journal_lines(course)
    assert 3 <= len(kept) < 9
    assert set(gradebook_scores(course)) >= set(kept)
    again = _grade(course, "--scheduler", cluster.address, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(kept)} student(s) already graded" in again.stderr
    lines = _journal_lines(course)
    assert lines[: len(kept)] == kept and sorted(lines) == sorted(set(lines))  # once each
    assert len(gradebook_scores(course)) == 9


def test_an_unreachable_scheduler_is_a_clear_error():
    from grader.secure._dask import Cluster as Client

    with pytest.raises(OSError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9 "):
        Client("tcp://127.0.0.1:9", timeout=2)
