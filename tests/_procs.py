"""The processes of the grader's sandboxes on this machine, for the leftover checks.

A sandbox's processes are found by their command line: bwrap and a child started by path
name ``_child.py``; a child forked from a zygote (``grader/secure/_zygote.py``, one per
grading process) keeps the zygote's command line, so it is told from the zygote by its
PID namespace (the sandbox's own), and the process that waits for it by its parent (a
zygote). The zygotes themselves are not sandboxes: each lives as long as its grader.
"""

import os
from pathlib import Path

ZYGOTE = b"secure/_zygote.py"  # not tests/test_zygote.py, on a pytest command line


def cmdline(pid) -> bytes:
    """The process's command line, NUL-separated ("" once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def stat(pid) -> tuple[str, int]:
    """(state letter, parent pid) of a process; ("", -1) once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return "", -1
    return fields[0], int(fields[1])


def _own_pid_namespace(pid) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
    except OSError:
        return True


def sandbox_processes(also=()) -> dict[int, bytes]:
    """Running (not zombie) processes of sandboxes, and any whose command line holds one
    of ``also``: ``{pid: command line}``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid, cmd = int(entry.name), cmdline(entry.name)
        state, parent = stat(pid)
        if not cmd or state in ("", "Z"):
            continue
        forked = ZYGOTE in cmd and (not _own_pid_namespace(pid) or ZYGOTE in cmdline(parent))
        if b"_child.py" in cmd or forked or any(word in cmd for word in also):
            found[pid] = cmd
    return found


def zygotes_of(parent: int) -> set[int]:
    """The zygote(s) the grading process ``parent`` started."""
    return {pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if ZYGOTE in cmdline(pid) and stat(pid)[1] == parent}  # fmt: skip


def running(pids) -> set[int]:
    """Those of ``pids`` still running (not gone, not zombies)."""
    return {pid for pid in pids if stat(pid)[0] not in ("", "Z")}
