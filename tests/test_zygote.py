"""Children forked from the zygote (as root): the same walls as a child started by path.

Real bwrap, real processes. The audit hook is off in the probes, so that what they see is
what the operating system's layers give (a holder sandbox per submission, the child forked
into its namespaces and root, its own uid, no capabilities, no-new-privs, rlimits).
"""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from _exercises import cases
from _procs import cmdline, running, stat

from grader.secure import _forkserver
from grader.secure._sandbox import Cell, Limits, run_submission

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.skipif(os.geteuid() != 0, reason="the zygote is used as root only"),
]

SETUP = Cell("setup", "import jax\nimport jax.numpy as jnp\nimport numpy as np\n")
DA = "def compute_da(a, y):\n    return -y / a + (1 - y) / (1 - a)\n"
SMALL = Limits(timeout_s=30, memory_mb=2048, nproc=64)
PROCS = """
def processes():
    found = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found[int(pid)] = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                pass
    return found
"""


def _run(code, function_code=DA):
    """Run ``code`` (a cell that fills the dict ``REPORT``) in a sandbox without the hook,
    then the compute_da cases."""
    body = "import json, os, time\nREPORT = {}\n" + PROCS + code
    body += "\nprint('REPORT' + json.dumps(REPORT), flush=True)\n" + function_code
    return run_submission([SETUP, Cell("compute_da", body)], cases("compute_da"), limits=SMALL,
                          audit=False)  # fmt: skip


def _probe(code, *, function_code=DA):
    """:func:`_run`; returns the result and ``REPORT``."""
    result = _run(code, function_code)
    lines = [line for line in result.output.splitlines() if line.startswith("REPORT")]
    assert lines, (result.status, result.reason, result.cell_errors, result.output[-2000:])
    return result, json.loads(lines[-1][len("REPORT") :])


def _zygote() -> int:
    """The pid of this process's zygote (started by one run if needed)."""
    if _forkserver.zygote_pid() is None:
        assert run_submission([SETUP], [], limits=SMALL).status == "ok"
    return _forkserver.zygote_pid()


def test_as_root_the_child_comes_from_the_zygote_unless_told(monkeypatch):
    assert run_submission([SETUP], [], limits=SMALL).isolation["start"] == "zygote"
    assert run_submission([SETUP], [], limits=SMALL, zygote=False).isolation["start"] == "exec"
    monkeypatch.setenv("LRJAX_SANDBOX_ZYGOTE", "0")
    assert run_submission([SETUP], [], limits=SMALL).isolation["start"] == "exec"


def test_own_uid_no_capabilities_no_new_privs_and_the_rlimits():
    code = """
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
REPORT.update({key: status[key].split() for key in ("Uid", "Gid", "Groups", "CapInh",
               "CapPrm", "CapEff", "CapAmb", "CapBnd", "NoNewPrivs", "PPid")})
import resource
REPORT["limits"] = {name: resource.getrlimit(getattr(resource, name)) for name in
                    ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE")}
REPORT["host"] = os.uname().nodename
"""
    result, seen = _probe(code)
    assert result.status == "ok" and result.isolation["start"] == "zygote", result.reason
    uid = str(result.isolation["uid"])
    assert seen["Uid"] == [uid] * 4 and seen["Gid"] == [uid] * 4 and seen["Groups"] == []
    for key in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(seen[key][0], 16) == 0, key
    assert int(seen["CapBnd"][0], 16) == (1 << 6) | (1 << 7)  # CAP_SETGID, CAP_SETUID at most
    assert seen["NoNewPrivs"] == ["1"]
    assert seen["PPid"] == ["0"]  # its parent is outside its PID namespace
    assert seen["host"] == "sandbox"
    assert seen["limits"] == {"RLIMIT_AS": [2048 << 20] * 2, "RLIMIT_CPU": [65, 70],
                              "RLIMIT_NPROC": [64, 64], "RLIMIT_NOFILE": [256, 256],
                              "RLIMIT_CORE": [0, 0]}  # fmt: skip


def test_only_stdio_and_the_two_protocol_pipes_are_open():
    code = """
import sys
fds = os.listdir("/proc/self/fd")
REPORT["fds"] = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in fds
                 if os.path.exists(f"/proc/self/fd/{fd}")}
REPORT["protocol"] = sys.argv[1:3]
"""
    result, seen = _probe(code)
    assert result.status == "ok", result.reason
    fds = seen["fds"]
    assert set(fds) == {"0", "1", "2", *seen["protocol"]}, fds  # no socket, no zygote file
    assert fds["0"] == "/dev/null" and all(fds[fd].startswith("pipe:") for fd in fds if fd != "0")


def test_two_sandboxes_at_once_see_nothing_of_each_other():
    code = """
open(f"/tmp/mine-{os.getpid()}-{id(REPORT)}", "w").write("secret")
open(f"/dev/shm/mine-{id(REPORT)}", "w").write("secret")
REPORT["start"] = time.time()
time.sleep(2)  # the other sandbox runs meanwhile
REPORT["end"] = time.time()
REPORT["tmp"], REPORT["shm"] = os.listdir("/tmp"), os.listdir("/dev/shm")
REPORT["pids"], REPORT["me"] = sorted(processes()), os.getpid()
REPORT["uid"] = os.getuid()
"""
    results = [None, None]

    def run(i):
        results[i] = _probe(code)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (first, a), (second, b) = results
    assert first.status == second.status == "ok", (first.reason, second.reason)
    assert a["start"] < b["end"] and b["start"] < a["end"]  # they did run at the same time
    assert a["uid"] != b["uid"]
    # (an install under /tmp, a clone in mktemp -d, is bound inside the sandbox's /tmp)
    install = {Path(p).parts[2] for p in (sys.prefix, sys.base_prefix, __file__)
               if Path(p).parts[1:2] == ("tmp",)}  # fmt: skip
    for seen in (a, b):
        mine = [name for name in seen["tmp"] if name.startswith("mine-")]
        assert len(mine) == len(seen["shm"]) == 1  # its own file only
        assert set(seen["tmp"]) - set(mine) <= install
        assert seen["pids"] == [1, 2, seen["me"]]  # bwrap's init, the holder, itself


def test_the_zygote_and_the_holder_are_out_of_reach():
    zygote = _zygote()
    code = f"""
import signal
REPORT["tries"] = []
for pid in (1, 2, {zygote}, {os.getpid()}):
    for sig in (0, signal.SIGKILL):
        try:
            os.kill(pid, sig)
            REPORT["tries"].append([pid, sig, "sent"])
        except OSError as exc:
            REPORT["tries"].append([pid, sig, type(exc).__name__])
try:
    os.pidfd_open({zygote})
    REPORT["pidfd"] = "opened"
except OSError as exc:
    REPORT["pidfd"] = type(exc).__name__
REPORT["processes"] = processes()
"""
    result, seen = _probe(code)
    assert result.status == "ok", result.reason
    for pid, _, what in seen["tries"]:
        assert what == ("PermissionError" if pid in (1, 2) else "ProcessLookupError"), seen
    assert seen["pidfd"] == "ProcessLookupError"
    shown = {int(pid): cmd for pid, cmd in seen["processes"].items()}
    assert shown[2] == "sleep\0infinity\0" and shown[1].startswith("/usr/bin/bwrap")
    assert len(shown) == 3
    assert _forkserver.zygote_pid() == zygote  # untouched


def test_processes_left_behind_die_with_the_sandbox():
    code = f"""
import subprocess
subprocess.Popen(["sleep", "307.5"], start_new_session=True)
subprocess.Popen([{sys.executable!r}, "-c", "import time; time.sleep(300)", "left-behind"],
                 start_new_session=True)
if os.fork() == 0:
    os.setsid()
    time.sleep(300)
"""
    result, _ = _probe(code)
    assert result.status == "ok", result.reason
    for _ in range(50):
        left = [pid for pid in os.listdir("/proc") if pid.isdigit() and
                (b"307.5" in cmdline(pid) or b"left-behind" in cmdline(pid))]  # fmt: skip
        if not running(left):
            break
        time.sleep(0.1)
    assert not running(left)


def test_an_exit_ends_the_run_at_once_even_with_a_process_left_behind():
    exits = "if os.fork() == 0:\n    time.sleep(300)\nos._exit(3)\n"
    result, _ = _probe("", function_code=DA + exits)
    assert result.status == "exit" and "code 3" in result.reason, result.reason
    assert result.wall_s < 10
    killed = "os.kill(os.getpid(), 9)\n"
    result, _ = _probe("", function_code=DA + killed)
    assert result.status == "signal" and "SIGKILL" in result.reason, result.reason


def _in_thread(code):
    out = {}
    thread = threading.Thread(target=lambda: out.update(result=_run(code)))
    thread.start()
    return thread, out


def test_a_zygote_killed_while_forking_is_a_grader_error_then_another_starts():
    zygote = _zygote()
    os.kill(zygote, signal.SIGSTOP)  # the request waits in its socket
    thread, out = _in_thread("")
    time.sleep(1.5)
    os.kill(zygote, signal.SIGKILL)
    thread.join()
    assert out["result"].status == "grader_error", out["result"].reason
    assert "zygote" in out["result"].reason
    result, _ = _probe("")
    assert result.status == "ok" and _forkserver.zygote_pid() not in (None, zygote)


def test_a_zygote_killed_between_runs_is_replaced_and_one_killed_during_a_run_is_harmless():
    zygote = _zygote()
    os.kill(zygote, signal.SIGKILL)
    while running([zygote]):
        time.sleep(0.05)
    result, _ = _probe("")
    assert result.status == "ok", result.reason
    thread, out = _in_thread("time.sleep(2)\n")
    time.sleep(1)
    os.kill(_forkserver.zygote_pid(), signal.SIGKILL)  # the child is its own by now
    thread.join()
    assert out["result"].status == "ok", out["result"].reason


def test_a_holder_killed_from_outside_is_a_grader_error():
    thread, out = _in_thread("time.sleep(3)\n")
    time.sleep(1.5)
    holders = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
               if stat(pid)[1] == os.getpid() and b"sleep infinity" in cmdline(pid)]  # fmt: skip
    assert len(holders) == 1
    os.kill(holders[0], signal.SIGKILL)
    thread.join()
    assert out["result"].status == "grader_error", out["result"].reason
    assert "killed from outside by SIGKILL" in out["result"].reason


@pytest.mark.parametrize("says", ["error", "nothing"])
def test_a_zygote_that_cannot_start(says, monkeypatch, tmp_path):
    """One that says why (it would fail the same way every time): fresh interpreters from
    then on; one that ends without a word: that submission is a grader error."""
    script = tmp_path / "zygote.py"
    reply = '{"error": "RuntimeError: 2 threads"}' if says == "error" else ""
    script.write_text(f"import socket, sys\nsock = socket.socket(fileno=int(sys.argv[1]))\n"
                      f"sock.send({reply!r}.encode()) if {reply!r} else sys.exit(3)\n")  # fmt: skip
    monkeypatch.setattr(_forkserver, "ZYGOTE", script)
    monkeypatch.setattr(_forkserver, "_ZYGOTE", _forkserver._Zygote())
    result = _run("")
    if says == "error":
        assert result.status == "ok" and result.isolation["start"] == "exec", result.reason
        assert not _forkserver.wanted("bwrap", 2_100_000_000)
    else:
        assert result.status == "grader_error" and result.isolation["start"] == "zygote"
        assert "the zygote could not start: it ended (code 3)" in result.reason
