"""Sandboxes whose child is forked from the zygote: the start-up paid once per grader process.

A fresh child (``python _child.py`` in bwrap) spends most of its CPU importing JAX. As
root, :mod:`grader.secure._sandbox` instead starts, per submission (docs/grader.md):

1. a *holder*: bwrap with exactly the command of :func:`grader.secure._bwrap.command` (same
   namespaces, view, tmpfs, ``--die-with-parent``), whose command only says it is up and
   waits (``sh -c 'echo ready; exec sleep infinity'``); ``--info-fd`` gives the pid of its
   init and the inode numbers of its namespaces;
2. a child forked from the zygote (:mod:`grader.secure._zygote`, one per grader process,
   started on first use, requests serialised by a lock) into the holder's namespaces and
   root, under the claimed uid, rlimits, no-new-privs, with only its pipes open.

Killing the holder (its process group, as a bwrap sandbox is killed today) kills its PID
namespace's init and with it the child and everything the child started. A holder that
ends before the grader ends it was killed from outside (nothing inside can signal it):
that is a grader error, as a bwrap killed from outside is.

Not root (bwrap's namespaces then belong to its user namespace, and the child's to a
nested one: ``--disable-userns``), with ``isolation="weak"``, where the zygote cannot
start (it reported why) or without pidfds, the child starts as a fresh interpreter as
before; ``LRJAX_SANDBOX_ZYGOTE=0`` (or ``run_submission(..., zygote=False)``) forces that.
"""

import contextlib
import functools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ZYGOTE = Path(__file__).with_name("_zygote.py")
VARIABLE = "LRJAX_SANDBOX_ZYGOTE"
SHELL = "/bin/sh"  # the holder's command (grader.secure._holder)


class StartError(RuntimeError):
    """The sandbox could not be started (a grader error, never the student's zero)."""


class Unusable(StartError):
    """The zygote cannot start in this process (it said why): start fresh interpreters."""


def wanted(isolation: str, uid: int, zygote=None) -> bool:
    """Whether this submission's child is forked from the zygote.

    Args:
        isolation: ``"bwrap"`` or ``"weak"`` (always a fresh interpreter).
        uid: the claimed uid (root), or -1 (not root: always a fresh interpreter).
        zygote: True/False to choose; None: yes unless ``LRJAX_SANDBOX_ZYGOTE=0``.

    Returns:
        True when the zygote is wanted and can be used here.
    """
    if zygote is None:
        zygote = os.environ.get(VARIABLE, "1") != "0"
    usable = uid >= 0 and os.geteuid() == 0 and _ZYGOTE.broken is None and _pidfds()
    return bool(zygote) and isolation == "bwrap" and usable and os.path.exists(SHELL)


@functools.lru_cache(maxsize=1)
def _pidfds() -> bool:
    """Whether this kernel gives pidfds (Linux 5.3) and signals through them (5.1)."""
    try:
        fd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return False
    try:
        signal.pidfd_send_signal(fd, 0)
    except (AttributeError, OSError):
        return False
    finally:
        os.close(fd)
    return True


class _Zygote:
    """The zygote process of this grader process: started on first use and again after it
    ended, one request at a time (from any thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc = self.sock = self.broken = None
        self.owner = 0

    def pid(self) -> int | None:
        """Its pid while it runs (for tests and measurements)."""
        proc = self.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def spawn(self, request, fds, env, timeout) -> int:
        """Have the zygote fork a child for ``request``; returns the waiter's pid. Each
        step (a start of the zygote, its reply) may take ``timeout`` seconds, counted once
        this thread holds the zygote (another's slow start is not held against it)."""
        payload = json.dumps(request).encode()
        with self.lock:
            for attempt in (1, 2):
                if self.owner != os.getpid() or self.proc.poll() is not None:
                    self._start(env, timeout)
                try:
                    socket.send_fds(self.sock, [payload], fds)
                    break
                except OSError:  # it ended since the last request: start it once more
                    self._stop()
                    if attempt == 2:
                        raise StartError("the zygote does not take requests") from None
            reply = self._receive(timeout)
            if reply is None:
                self._stop()
                raise StartError("the zygote ended before it forked the sandbox's child")
        if "error" in reply:
            raise StartError(f"the zygote could not fork the sandbox's child: {reply['error']}")
        return int(reply["pid"])

    def _receive(self, timeout) -> dict | None:
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            return None
        return json.loads(data) if data else None

    def _start(self, env, timeout) -> None:
        if self.owner == os.getpid():
            self._stop()
        elif self.sock is not None:  # a fork of the grader process: its parent's, not ours
            self.sock.close()
        self.proc = self.sock = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", str(ZYGOTE), str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd="/", env=env, pass_fds=(theirs.fileno(),), start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            ours.close()
            raise StartError(f"could not start the zygote: {exc}") from exc
        finally:
            theirs.close()
        self.sock, self.owner = ours, os.getpid()
        reply = self._receive(timeout)
        if reply is None or "error" in reply:
            with contextlib.suppress(subprocess.TimeoutExpired):  # its code, if it ended
                self.proc.wait(1.0)
            code = self.proc.poll()
            self._stop()
            if reply is None:  # killed, or a crash: the next submission tries again
                raise StartError(f"the zygote could not start: it ended (code {code})")
            self.broken = reply["error"]  # the same every time: never again in this process
            raise Unusable(f"the zygote could not start: {self.broken}")

    def _stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
        if self.sock is not None:
            self.sock.close()
        self.proc = self.sock = None
        self.owner = 0


_ZYGOTE = _Zygote()


def zygote_pid() -> int | None:
    """The pid of this process's zygote while it runs, else None."""
    return _ZYGOTE.pid()


def spawn(request, fds, env, timeout) -> int:
    """Have this process's zygote fork a sandbox's child (started first if need be).

    Args:
        request: what the zygote needs (:func:`grader.secure._holder.start` makes it).
        fds: the holder's pidfd and the child's request, result, output and exit pipes.
        env: the zygote's environment (the sandbox's).
        timeout: seconds each step may take (a start of the zygote, its reply).

    Returns:
        The pid of the process that waits for the child.

    Raises:
        Unusable: the zygote cannot start in this process.
        StartError: it died, or could not fork (a grader error).
    """
    return _ZYGOTE.spawn(request, fds, env, timeout)
