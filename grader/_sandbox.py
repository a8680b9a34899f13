"""Step 3 of secure grading: run one submission's code in a sandboxed child process.

The parent (this module) starts ``grader/_child.py`` under resource limits, in an empty
private folder, without network, and talks to it over two dedicated pipes: the extracted
cells go in first; once the child says they ran, the cases go in; outcomes come back as
JSON lines, which are rebuilt here into :class:`grader._run.Outcome` after validating
dtype, shape and size. Nothing the child sends is trusted beyond "these are numbers":
the verdicts are computed later, in this process (:mod:`grader._compare`).

Isolation layers, strongest first, each used where the system allows (and recorded):

- ``unshare -n -m`` (as root) or ``unshare -rn``: a private network namespace (no
  network at all) and, as root, a mount namespace in which the sandbox folder is a small
  private tmpfs and the course folder is covered by an empty read-only tmpfs;
- as root, the child drops to a uid of its own (one per pool slot), so RLIMIT_NPROC
  counts only that sandbox's processes and the kernel refuses it any signal to the parent;
- rlimits (``prlimit``): CPU time, address space, processes, file size, open files, no
  core dumps; a wall-clock timeout after which the whole process group is killed;
- the PEP 578 audit hook in the child (see :mod:`grader._child`).
"""

import functools
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader._isolation import Limits, command, isolation_mode, nproc_limit, preexec, scrubbed_env
from grader._wire import case_to_wire, handle_line, value_from_wire

__all__ = ["Cell", "Limits", "SandboxResult", "isolation_mode", "run_submission", "value_from_wire"]

CHILD = Path(__file__).with_name("_child.py")
_UID_BASE = 1_900_000_000  # uids the sandboxes drop to (one per pool slot)


@dataclass(frozen=True)
class Cell:
    """One piece of code the child executes, in order."""

    grade_id: str
    code: str


@dataclass(frozen=True)
class SandboxResult:
    """What one sandboxed run produced.

    Attributes:
        status: ``"ok"``, or why the run stopped early: ``"timeout"``, ``"cpu"``,
            ``"memory"``, ``"signal"``, ``"exit"``, ``"protocol"``, ``"output"``.
        reason: a sentence for the student/instructor ("" when ok).
        outcomes: one :class:`Outcome` or None (no answer) per requested case.
        cell_errors: ``{grade_id: "ExceptionType: message"}`` for cells that raised.
        output: the child's stdout/stderr, truncated to ``Limits.output_bytes``.
        output_dropped: bytes of stdout/stderr read past that cap and dropped.
        isolation: which layers were active (network, tmpfs, uid, audit).
        wall_s: seconds the child ran.
    """

    status: str
    reason: str
    outcomes: tuple
    cell_errors: dict = field(default_factory=dict)
    output: str = ""
    output_dropped: int = 0
    isolation: dict = field(default_factory=dict)
    wall_s: float = 0.0


def run_submission(cells, cases, *, limits=None, slot=0, audit=True, hidden=(), mode=None):
    """Run ``cells`` in a fresh sandboxed child, then ask it for ``cases``.

    Args:
        cells: the :class:`Cell` list to execute in order (setup first).
        cases: the ``grader._cases.Case`` list to answer, in order.
        limits: resource limits (:class:`Limits`; the defaults when None).
        slot: the pool slot (0 <= slot < jobs): picks the child's own uid as root.
        audit: install the audit hook (tests turn it off to check the other layers).
        hidden: folders to cover with an empty tmpfs in the child (the course folder).
        mode: the namespace setup (see :func:`isolation_mode`, the default); tests pass a
            weaker one to check the fallbacks.

    Returns:
        A :class:`SandboxResult`; it never raises for anything the child does.
    """
    limits = limits or Limits()
    mode = mode or isolation_mode()
    uid = _UID_BASE + slot if os.geteuid() == 0 else -1
    folder = tempfile.mkdtemp(prefix="lrjax-sandbox-")
    if uid >= 0:
        os.chown(folder, uid, uid)
    req_r, req_w = os.pipe()
    res_r, res_w = os.pipe()
    isolation = {"namespace": mode, "network": mode != "none", "private_tmpfs": mode == "root",
                 "uid": uid if uid >= 0 else None, "audit_hook": audit}  # fmt: skip
    nproc, prlimit = nproc_limit(limits, uid), shutil.which("prlimit") is not None
    cmd = command(CHILD, folder, req_r, res_w, uid, audit, limits, list(hidden), mode, nproc)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=scrubbed_env(folder),
            pass_fds=(req_r, res_w),
            start_new_session=True,
            preexec_fn=None if prlimit else functools.partial(preexec, limits, nproc),
        )
    finally:
        os.close(req_r)
        os.close(res_w)
    try:
        state = _talk(proc, req_w, res_r, cells, cases, limits, start)
    finally:
        _kill_group(proc)
        proc.stdout.close()
        for fd in (req_w, res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(folder, ignore_errors=True)
    status, reason = _status(proc.returncode, state, limits, len(cases))
    return SandboxResult(
        status=status,
        reason=reason,
        outcomes=tuple(state["outcomes"]),
        cell_errors=state["cell_errors"],
        output=state["output"].decode("utf-8", "replace"),
        output_dropped=state["dropped"],
        isolation=isolation,
        wall_s=time.monotonic() - start,
    )


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _talk(proc, req_w, res_r, cells, cases, limits, start):
    """The parent's side of the protocol, with a deadline and output caps."""
    nonce = secrets.token_hex(16)
    state = {"outcomes": [None] * len(cases), "cell_errors": {}, "output": b"",
             "problem": None, "timed_out": False, "done": False, "dropped": 0}  # fmt: skip
    first = {"cells": [{"grade_id": c.grade_id, "code": c.code} for c in cells]}
    pending = (json.dumps(first) + "\n").encode()
    second = json.dumps({"nonce": nonce, "cases": [case_to_wire(c) for c in cases]}) + "\n"
    os.set_blocking(req_w, False)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(res_r, selectors.EVENT_READ, "res")
    sel.register(req_w, selectors.EVENT_WRITE, "req")
    writing, res_buf, res_total, loaded = True, b"", 0, False
    open_reads = 2
    deadline = start + limits.timeout_s
    while open_reads:
        left = deadline - time.monotonic()
        if left <= 0:
            state["timed_out"] = True
            break
        for key, _ in sel.select(timeout=min(left, 1.0)):
            if key.data == "req":
                try:
                    pending = pending[os.write(req_w, pending) :]
                except (BrokenPipeError, BlockingIOError):
                    pending = b"" if not pending else pending
                if not pending:
                    sel.unregister(req_w)
                    writing = False
                continue
            chunk = os.read(key.fileobj if key.data == "res" else proc.stdout.fileno(), 1 << 16)
            if not chunk:
                sel.unregister(key.fileobj)
                open_reads -= 1
                continue
            if key.data == "out":
                room = limits.output_bytes - len(state["output"])
                if room > 0:
                    state["output"] += chunk[:room]
                state["dropped"] += max(0, len(chunk) - max(room, 0))
                continue
            res_total += len(chunk)
            if res_total > limits.result_bytes:
                state["problem"] = f"more than {limits.result_bytes} bytes of results"
                return state
            res_buf += chunk
            while b"\n" in res_buf:
                line, _, res_buf = res_buf.partition(b"\n")
                problem, just_loaded = handle_line(line, state, nonce, loaded, len(cases))
                if problem:
                    state["problem"] = problem
                    return state
                if just_loaded:
                    loaded = True
                    if not writing:
                        sel.register(req_w, selectors.EVENT_WRITE, "req")
                    pending += second.encode()
                    writing = True
        if state["done"]:
            break
    return state


def _status(returncode, state, limits, n):
    """(status, reason) from how the child ended."""
    if state["problem"]:
        return "protocol", f"the sandbox sent an invalid result: {state['problem']}"
    if state["done"]:
        memory = any(o is not None and o.error and "MemoryError" in o.error
                     for o in state["outcomes"])  # fmt: skip
        if memory:
            return "memory", f"ran out of memory (limit {limits.memory_mb} MB) in some cases"
        return "ok", ""
    if state["timed_out"]:
        return "timeout", f"timed out after {limits.timeout_s:g} s (wall clock) and was stopped"
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return "cpu", "stopped: CPU time limit reached"
        if sig == signal.SIGXFSZ:
            return "output", f"stopped: wrote a file larger than {limits.fsize_mb} MB"
        if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
            name = signal.Signals(sig).name
            return "memory", (f"crashed with {name} (often the {limits.memory_mb} MB memory limit)")
        return "signal", f"killed by signal {sig} ({signal.Signals(sig).name})"
    answered = sum(o is not None for o in state["outcomes"])
    return "exit", (
        f"the process exited (code {returncode}) after {answered} of {n} cases: "
        "os._exit, sys.exit or a crash in the submitted code"
    )
