"""The parent's side of the sandbox protocol: the message loop and how a run ended.

Used by :mod:`grader.secure._sandbox` for both ways a sandboxed child starts (a fresh
interpreter, or a fork of the zygote: :mod:`grader.secure._forkserver`). Nothing the
child sends is trusted beyond "these are numbers": :mod:`grader.protocol._wire` turns any
bytes into an outcome or a protocol violation.
"""

import contextlib
import json
import os
import secrets
import selectors
import signal
import time

from grader.protocol._wire import case_to_wire, handle_line

READY = b'{"kind": "ready"}'
EXIT_BYTES = 4096  # the most a zygote's status message may take


def talk(out_fd, req_w, res_r, cells, cases, limits, start, *, exit_fd=None, on_exit=None):
    """Run the protocol with a deadline and output caps.

    Args:
        out_fd: the read end of the child's stdout/stderr.
        req_w: the write end of the request pipe (made non-blocking here).
        res_r: the read end of the result pipe.
        cells: the :class:`grader.secure._sandbox.Cell` list.
        cases: the cases to send once the cells ran.
        limits: the :class:`grader.secure._isolation.Limits`.
        start: ``time.monotonic()`` when the sandbox was started.
        exit_fd: where the child's wait status arrives (a JSON object, then end of file),
            when the child is not the process the parent waits for (the zygote's).
        on_exit: called with that status as soon as it arrived (the caller kills the
            rest of the sandbox, so that the pipes reach their end).

    Returns:
        The state dict: ``outcomes``, ``cell_errors``, ``output`` (bytes), ``dropped``,
        ``problem``, ``timed_out``, ``done``, ``ready``, ``startup``, ``times`` (the moments
        "ready", "loaded" and "done" arrived) and ``exit`` (the status from ``exit_fd``).
    """
    nonce = secrets.token_hex(16)
    state = {"outcomes": [None] * len(cases), "cell_errors": {}, "output": b"",
             "problem": None, "timed_out": False, "done": False, "dropped": 0,
             "ready": False, "startup": None, "times": [], "exit": None}  # fmt: skip
    first = {"cells": [{"grade_id": c.grade_id, "code": c.code} for c in cells]}
    pending = (json.dumps(first) + "\n").encode()
    second = json.dumps({"nonce": nonce, "cases": [case_to_wire(c) for c in cases]}) + "\n"
    os.set_blocking(req_w, False)
    with selectors.DefaultSelector() as sel:  # closed: its epoll descriptor never lingers
        return _loop(sel, state, out_fd, req_w, res_r, exit_fd, on_exit, pending,
                     second.encode(), nonce, len(cases), limits, start)  # fmt: skip


def _loop(sel, state, out_fd, req_w, res_r, exit_fd, on_exit, pending, second, nonce, n,
          limits, start):  # fmt: skip
    """:func:`talk`'s loop over the child's pipes until they end, the deadline passes or
    the child says "done"."""
    sel.register(out_fd, selectors.EVENT_READ, "out")
    sel.register(res_r, selectors.EVENT_READ, "res")
    sel.register(req_w, selectors.EVENT_WRITE, "req")
    if exit_fd is not None:
        sel.register(exit_fd, selectors.EVENT_READ, "exit")
    writing, res_buf, res_total, loaded, exit_buf = True, b"", 0, False, b""
    open_reads, draining = 2 + (exit_fd is not None), False
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
            chunk = os.read(key.fd, 1 << 16)
            if key.data == "exit":
                exit_buf += chunk[: max(0, EXIT_BYTES - len(exit_buf))]
                if not chunk:  # the zygote's child wrote the status and ended
                    sel.unregister(key.fd)
                    open_reads -= 1
                    state["exit"] = _exit_status(exit_buf)
                    if on_exit is not None:
                        on_exit(state["exit"])
                    if not draining:  # the pipes end now: a short wait for the rest
                        draining, deadline = True, min(deadline, time.monotonic() + 2.0)
                continue
            if not chunk:
                sel.unregister(key.fd)
                open_reads -= 1
                continue
            if key.data == "out":
                _keep_output(state, chunk, limits)
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
                problem, just_loaded = handle_line(line, state, nonce, loaded, n)
                if problem:
                    state["problem"] = problem
                    return state
                if state["done"]:  # it flushed its streams before: keep what is there
                    state["times"].append(time.monotonic())
                    _drain(out_fd, state, limits)
                    return state
                if just_loaded:
                    state["times"].append(time.monotonic())
                    loaded = True
                    if not writing:
                        sel.register(req_w, selectors.EVENT_WRITE, "req")
                    pending += second
                    writing = True
    return state


def _keep_output(state, chunk, limits) -> None:
    room = limits.output_bytes - len(state["output"])
    if room > 0:
        state["output"] += chunk[:room]
    state["dropped"] += max(0, len(chunk) - max(room, 0))


def _drain(fd, state, limits) -> None:
    """Read what is already in the output pipe, without waiting for the child's exit (its
    interpreter's shutdown is nobody's business: the sandbox is killed next)."""
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(fd, 1 << 16):
            _keep_output(state, chunk, limits)


def _exit_status(data: bytes) -> dict:
    """The zygote child's report: ``{"code": N}``, ``{"signal": N}``, ``{"error": text}``,
    or ``{}`` when it sent nothing readable (it was killed)."""
    try:
        status = json.loads(data.decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}


def phases(start, times) -> dict:
    """Seconds of each part of the run from the moments the parent saw each message."""
    marks, found, last = ("start", "cells", "cases"), {}, start
    for name, moment in zip(marks, times, strict=False):
        found[name], last = round(moment - last, 4), moment
    return found


def status(returncode, state, limits, n, cmd, isolation):
    """(status, reason) from how the child ended."""
    if not state["ready"]:
        why = state["startup"] or f"the sandbox ended (code {returncode}) before it was ready"
        tail = state["output"].decode("utf-8", "replace").strip()[-1500:]
        return "grader_error", f"{why}; command: {cmd[0]} ...; output: {tail or '(none)'}"
    ended = state["problem"] or state["done"] or state["timed_out"]
    if isolation == "bwrap" and not ended and returncode is not None and returncode < 0:
        # bwrap itself died by a signal: only a process outside the sandbox can send that
        name = signal_of(returncode)
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
    sig = signal_of(returncode)
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


def signal_of(returncode):
    """The signal that ended the child: a negative code (no bwrap), or bwrap's 128 + N."""
    if returncode is None:
        return None
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    try:
        return signal.Signals(number) if number is not None else None
    except ValueError:
        return None
