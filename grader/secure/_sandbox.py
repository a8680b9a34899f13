"""Step 3 of secure grading: run one submission's code in a sandboxed child process.

The parent (this module) starts ``grader/secure/_child.py`` in a bubblewrap sandbox
(:mod:`grader.secure._bwrap`: its own PID, network, IPC, UTS and mount namespaces, a read-only
view of only the Python installation, private tmpfs) under rlimits, as root under a uid
no other sandbox holds (:mod:`grader.secure._uids`), and talks to it over two dedicated pipes:

1. the child starts (imports, warm-up: trusted code only) and says ``ready``. Anything
   that goes wrong before that -- bwrap cannot mount, Python cannot start or import, a
   file is missing, the start-up is killed -- is the grader's fault: the result is
   ``grader_error`` with the cause, never the student's zero;
2. the extracted cells go in; once the child says they ran (``loaded``), the cases go in;
3. outcomes come back as JSON lines, rebuilt here by :mod:`grader.protocol._wire`, which turns
   any bytes into either an outcome or a protocol violation. Nothing the child sends is
   trusted beyond "these are numbers": the verdicts are computed later, in this process.

The student's wall-clock budget (``Limits.timeout_s``) starts at ``ready``; after it the
whole sandbox is killed (every process in its PID namespace dies with it).
``isolation="weak"`` (only when asked for by name) uses ``unshare`` instead of bwrap and
records what it lacks (:func:`grader.secure._isolation.missing`).
"""

import contextlib
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

from grader.protocol._wire import case_to_wire, handle_line, value_from_wire
from grader.secure import _bwrap, _uids
from grader.secure._isolation import (
    Limits,
    child_argv,
    isolation_mode,
    missing,
    nproc_limit,
    preexec,
    scrubbed_env,
    weak_wrap,
    with_rlimits,
)

__all__ = ["Cell", "Limits", "SandboxResult", "isolation_mode", "run_submission", "value_from_wire"]

CHILD = Path(__file__).with_name("_child.py")
ISOLATIONS = ("bwrap", "weak")
READY = b'{"kind": "ready"}'


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
            ``"memory"``, ``"signal"``, ``"exit"``, ``"protocol"``, ``"output"`` (the
            submission's doing), or ``"grader_error"`` (the sandbox failed before any
            student line ran: not the student's fault, never scored).
        reason: a sentence for the student/instructor ("" when ok).
        outcomes: one :class:`Outcome` or None (no answer) per requested case.
        cell_errors: ``{grade_id: "ExceptionType: message"}`` for cells that raised.
        output: the child's stdout/stderr, truncated to ``Limits.output_bytes``.
        output_dropped: bytes of stdout/stderr read past that cap and dropped.
        isolation: which layers were active, and ``missing``: those it lacked.
        wall_s: seconds the child ran.
        phases: seconds of each part of the run, as the parent saw it: ``"start"``
            (sandbox and interpreter start, imports, warm-up: until ``ready``),
            ``"cells"`` (the student's cells) and ``"cases"`` (until the last outcome);
            a part that never ended is missing.
    """

    status: str
    reason: str
    outcomes: tuple
    cell_errors: dict = field(default_factory=dict)
    output: str = ""
    output_dropped: int = 0
    isolation: dict = field(default_factory=dict)
    wall_s: float = 0.0
    phases: dict = field(default_factory=dict)


def run_submission(cells, cases, *, limits=None, audit=True, hidden=(), isolation="bwrap",
                   mode=None):  # fmt: skip
    """Run ``cells`` in a fresh sandboxed child, then ask it for ``cases``.

    Args:
        cells: the :class:`Cell` list to execute in order (setup first).
        cases: the ``grader.checks._cases.Case`` list to answer, in order.
        limits: resource limits (:class:`Limits`; the defaults when None).
        audit: install the audit hook (tests turn it off to check the other layers).
        hidden: folders that must not exist inside (the course): never bound by bwrap,
            and covered with an empty tmpfs if a bind would show them.
        isolation: ``"bwrap"`` (the default) or ``"weak"`` (``unshare``, see
            :func:`grader.secure._isolation.missing`).
        mode: for ``"weak"``, the namespace setup (default :func:`isolation_mode`).

    Returns:
        A :class:`SandboxResult`; it never raises for anything the child does.

    Raises:
        grader.secure._bwrap.Unavailable: ``isolation="bwrap"`` and bubblewrap cannot run here.
        ValueError: an unknown ``isolation``.
    """
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
    limits = limits or Limits()
    if isolation == "weak":
        mode = mode or isolation_mode()
    elif not _bwrap.probe().ok:
        raise _bwrap.Unavailable(_bwrap.probe().error)
    root = os.geteuid() == 0
    with _uids.claim() if root else contextlib.nullcontext(-1) as uid:
        return _run(cells, cases, limits, audit, list(hidden), isolation, mode, uid)


def _run(cells, cases, limits, audit, hidden, isolation, mode, uid):
    req_r, req_w = os.pipe()
    res_r, res_w = os.pipe()
    folder = None
    if isolation == "bwrap":
        argv = child_argv(f"{_bwrap.CHILD_DIR}/_child.py", req_r, res_w, uid, audit,
                          limits.nproc, _bwrap.WORK)  # fmt: skip
        env = scrubbed_env(_bwrap.WORK)
        cmd = _bwrap.command(argv, uid=uid, tmp_mb=limits.fsize_mb, env=env, hide=hidden)
        cwd = "/"
        spaces = ["pid", "net", "ipc", "uts", "mount"] + ([] if uid >= 0 else ["user"])
        layers = {"sandbox": "bwrap", "namespaces": spaces, "filesystem": "private read-only view"}
    else:
        folder = cwd = tempfile.mkdtemp(prefix="lrjax-sandbox-")
        if uid >= 0:
            os.chown(folder, uid, uid)
        own = uid >= 0 or mode == "user"  # its own uid, or its own user namespace
        argv = child_argv(CHILD, req_r, res_w, uid, audit, limits.nproc if own else 0, folder,
                          hidden)  # fmt: skip
        cmd, env = weak_wrap(argv, folder, uid, limits, hidden, mode), scrubbed_env(folder)
        layers = {"sandbox": "weak", "namespace": mode, "filesystem": "shared"}
    isolation_info = {**layers, "uid": uid if uid >= 0 else None, "audit_hook": audit,
                      "missing": missing(isolation, mode or "")}  # fmt: skip
    nproc, prlimit = nproc_limit(limits, uid), shutil.which("prlimit") is not None
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            with_rlimits(cmd, limits, nproc),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            pass_fds=(req_r, res_w),
            start_new_session=True,
            preexec_fn=None if prlimit else functools.partial(preexec, limits, nproc),
        )
    except OSError as exc:
        os.close(req_w)
        os.close(res_r)
        return SandboxResult("grader_error", f"could not start the sandbox: {exc}", (None,) *
                             len(cases), isolation=isolation_info)  # fmt: skip
    finally:  # the child's ends: each closed exactly once (threads reuse fd numbers)
        os.close(req_r)
        os.close(res_w)
    try:
        state = _talk(proc, req_w, res_r, cells, cases, limits, start)
    finally:
        _kill_group(proc)
        proc.stdout.close()
        for fd in (req_w, res_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    status, reason = _status(proc.returncode, state, limits, len(cases), cmd, isolation)
    return SandboxResult(
        status=status,
        reason=reason,
        outcomes=tuple(state["outcomes"]),
        cell_errors=state["cell_errors"],
        output=state["output"].decode("utf-8", "replace"),
        output_dropped=state["dropped"],
        isolation=isolation_info,
        wall_s=time.monotonic() - start,
        phases=_phases(start, state["times"]),
    )


def _phases(start, times) -> dict:
    """Seconds of each part of the run from the moments the parent saw each message."""
    marks, phases, last = ("start", "cells", "cases"), {}, start
    for name, moment in zip(marks, times, strict=False):
        phases[name], last = round(moment - last, 4), moment
    return phases


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
             "problem": None, "timed_out": False, "done": False, "dropped": 0,
             "ready": False, "startup": None, "times": []}  # fmt: skip
    first = {"cells": [{"grade_id": c.grade_id, "code": c.code} for c in cells]}
    pending = (json.dumps(first) + "\n").encode()
    second = json.dumps({"nonce": nonce, "cases": [case_to_wire(c) for c in cases]}) + "\n"
    os.set_blocking(req_w, False)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(res_r, selectors.EVENT_READ, "res")
    sel.register(req_w, selectors.EVENT_WRITE, "req")
    writing, res_buf, res_total, loaded = True, b"", 0, False
    open_reads, draining = 2, False
    deadline = start + limits.startup_s
    while open_reads:
        left = deadline - time.monotonic()
        if left <= 0:
            if draining:
                break
            if not state["ready"]:
                state["startup"] = f"the sandbox did not start within {limits.startup_s:g} s"
                return state
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
                if not state["ready"]:  # only trusted code has run: anything else is ours
                    if line != READY:
                        state["startup"] = f"the sandbox's start-up sent {line[:200]!r}"
                        return state
                    state["ready"] = True
                    state["times"].append(time.monotonic())
                    deadline = time.monotonic() + limits.timeout_s
                    continue
                problem, just_loaded = handle_line(line, state, nonce, loaded, len(cases))
                if problem:
                    state["problem"] = problem
                    return state
                if just_loaded:
                    state["times"].append(time.monotonic())
                    loaded = True
                    if not writing:
                        sel.register(req_w, selectors.EVENT_WRITE, "req")
                    pending += second.encode()
                    writing = True
        if state["done"] and not draining:  # read what it printed until it exits (2 s at most)
            state["times"].append(time.monotonic())
            draining, deadline = True, min(deadline, time.monotonic() + 2.0)
    return state


def _status(returncode, state, limits, n, cmd, isolation):
    """(status, reason) from how the child ended."""
    if not state["ready"]:
        why = state["startup"] or f"the sandbox ended (code {returncode}) before it was ready"
        tail = state["output"].decode("utf-8", "replace").strip()[-1500:]
        return "grader_error", f"{why}; command: {cmd[0]} ...; output: {tail or '(none)'}"
    ended = state["problem"] or state["done"] or state["timed_out"]
    if isolation == "bwrap" and not ended and returncode is not None and returncode < 0:
        # bwrap itself died by a signal: only a process outside the sandbox can send that
        name = _signal_of(returncode)
        return "grader_error", (
            f"the sandbox was killed from outside by {name.name if name else returncode} "
            "(not by the grader, and nothing inside can signal bwrap)"
        )
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
    sig = _signal_of(returncode)
    if sig is not None:
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


def _signal_of(returncode):
    """The signal that ended the child: a negative code (no bwrap), or bwrap's 128 + N."""
    if returncode is None:
        return None
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    try:
        return signal.Signals(number) if number is not None else None
    except ValueError:
        return None
