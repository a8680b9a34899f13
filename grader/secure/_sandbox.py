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
whole sandbox is killed (every process in its PID namespace dies with it). After ``done``
the sandbox is killed at once: what the child printed is already in the pipe.

As root the child is not a fresh interpreter but a fork of this process's zygote, joined
to a bwrap sandbox made with the same command (:mod:`grader.secure._forkserver`): JAX is
imported once per grading process instead of once per submission.
``isolation="weak"`` (only when asked for by name) uses ``unshare`` instead of bwrap and
records what it lacks (:func:`grader.secure._isolation.missing`).
"""

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.protocol._wire import value_from_wire
from grader.secure import _bwrap, _forkserver, _holder, _talk, _uids
from grader.secure._isolation import (
    Limits,
    child_argv,
    isolation_mode,
    missing,
    nproc_limit,
    preexec,
    rlimits,
    scrubbed_env,
    weak_wrap,
    with_rlimits,
)
from grader.secure._talk import talk

__all__ = ["Cell", "Limits", "SandboxResult", "isolation_mode", "run_submission", "value_from_wire"]

CHILD = Path(__file__).with_name("_child.py")
ISOLATIONS = ("bwrap", "weak")


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
                   mode=None, zygote=None):  # fmt: skip
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
        zygote: fork the child from this process's zygote into a fresh bwrap sandbox
            (:mod:`grader.secure._forkserver`; as root with bwrap only) instead of starting
            a fresh interpreter in it. None: yes where possible, unless
            ``LRJAX_SANDBOX_ZYGOTE=0``. ``isolation["start"]`` says which it was.

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
        if _forkserver.wanted(isolation, uid, zygote):
            result = _run_forked(cells, cases, limits, audit, list(hidden), uid)
            if result is not None:
                return result
        return _run(cells, cases, limits, audit, list(hidden), isolation, mode, uid)


def _layers(uid) -> dict:
    spaces = ["pid", "net", "ipc", "uts", "mount"] + ([] if uid >= 0 else ["user"])
    return {"sandbox": "bwrap", "namespaces": spaces, "filesystem": "private read-only view"}


def _info(layers, uid, audit, isolation, mode, start) -> dict:
    return {**layers, "uid": uid if uid >= 0 else None, "audit_hook": audit,
            "missing": missing(isolation, mode or ""), "start": start}  # fmt: skip


def _run_forked(cells, cases, limits, audit, hidden, uid):
    """The child forked from the zygote into a fresh holder sandbox (as root); None when
    the zygote cannot start in this process (a fresh interpreter is started instead)."""
    info = _info(_layers(uid), uid, audit, "bwrap", "", "zygote")
    env, start = scrubbed_env(_bwrap.WORK), time.monotonic()
    try:
        box = _holder.start(uid=uid, limits=limits, rlimits=rlimits(limits, limits.nproc),
                            audit=audit, hidden=hidden, env=env,
                            deadline=start + limits.startup_s)  # fmt: skip
    except _forkserver.Unusable:
        return None
    except _forkserver.StartError as exc:
        return SandboxResult("grader_error", str(exc), (None,) * len(cases), isolation=info,
                             wall_s=time.monotonic() - start)  # fmt: skip
    try:
        state = talk(box.out_r, box.req_w, box.res_r, cells, cases, limits, start,
                     exit_fd=box.exit_r, on_exit=box.on_exit)  # fmt: skip
    finally:
        box.close()
    why = (state["exit"] or {}).get("error")
    if not state["ready"] and why:
        state["startup"] = f"the zygote's child could not enter the sandbox: {why}"
    return _result(state, box.returncode(state), limits, len(cases), box.cmd, "bwrap", info, start)


def _result(state, returncode, limits, n, cmd, isolation, info, start):
    status, reason = _talk.status(returncode, state, limits, n, cmd, isolation)
    return SandboxResult(
        status=status,
        reason=reason,
        outcomes=tuple(state["outcomes"]),
        cell_errors=state["cell_errors"],
        output=state["output"].decode("utf-8", "replace"),
        output_dropped=state["dropped"],
        isolation=info,
        wall_s=time.monotonic() - start,
        phases=_talk.phases(start, state["times"]),
    )


def _run(cells, cases, limits, audit, hidden, isolation, mode, uid):
    req_r, req_w = os.pipe()
    res_r, res_w = os.pipe()
    folder = None
    if isolation == "bwrap":
        argv = child_argv(f"{_bwrap.CHILD_DIR}/_child.py", req_r, res_w, uid, audit,
                          limits.nproc, _bwrap.WORK)  # fmt: skip
        env = scrubbed_env(_bwrap.WORK)
        cmd = _bwrap.command(argv, uid=uid, tmp_mb=limits.fsize_mb, env=env, hide=hidden)
        cwd, layers = "/", _layers(uid)
    else:
        folder = cwd = tempfile.mkdtemp(prefix="lrjax-sandbox-")
        if uid >= 0:
            os.chown(folder, uid, uid)
        own = uid >= 0 or mode == "user"  # its own uid, or its own user namespace
        argv = child_argv(CHILD, req_r, res_w, uid, audit, limits.nproc if own else 0, folder,
                          hidden)  # fmt: skip
        cmd, env = weak_wrap(argv, folder, uid, limits, hidden, mode), scrubbed_env(folder)
        layers = {"sandbox": "weak", "namespace": mode, "filesystem": "shared"}
    isolation_info = _info(layers, uid, audit, isolation, mode, "exec")
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
        state = talk(proc.stdout.fileno(), req_w, res_r, cells, cases, limits, start)
    finally:
        _kill_group(proc)
        proc.stdout.close()
        for fd in (req_w, res_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return _result(state, proc.returncode, limits, len(cases), cmd, isolation, isolation_info,
                   start)  # fmt: skip


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
