"""The holder: a bwrap sandbox made with the usual command, for a child forked from the zygote.

Its command only says it is up and waits (``sh -c 'echo ready; exec sleep infinity'``);
bwrap's ``--info-fd`` gives the pid of its init and its namespaces' inode numbers, which
:mod:`grader.secure._zygote` checks before its child joins them. The child's wait status
comes back on a pipe of its own; killing the holder's process group ends the sandbox.
"""

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field

from grader.secure import _bwrap, _forkserver
from grader.secure._forkserver import StartError

HOLD = [_forkserver.SHELL, "-c", "echo ready; exec sleep infinity"]


@dataclass
class Sandbox:
    """One started sandbox, as its parent sees it.

    Attributes:
        holder: the bwrap process (its own process group).
        cmd: its command line.
        out_r, req_w, res_r, exit_r: the parent's ends of the child's output, request,
            result and exit status pipes.
        outside: the holder's return code if it ended before the grader ended it.
    """

    holder: subprocess.Popen
    cmd: list
    out_r: int
    req_w: int
    res_r: int
    exit_r: int
    outside: int | None = None
    _killed: bool = field(default=False, repr=False)

    def on_exit(self, status: dict) -> None:
        """The child has ended (its status came): note whether the holder was killed from
        outside, then end the sandbox, so that anything the child left behind dies."""
        self._check_holder(wait=0.5 if status.get("signal") == signal.SIGKILL else 0)
        self.kill()

    def _check_holder(self, wait=0.0) -> None:
        if self._killed or self.outside is not None:
            return
        code = self.holder.poll()
        if code is None and wait:  # the holder's init may be dying: it killed the child
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.holder.wait(wait)
        self.outside = code

    def kill(self) -> None:
        """Kill the holder's process group (its PID namespace dies with its init)."""
        if not self._killed:
            self._check_holder()
            self._killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.holder.pid, signal.SIGKILL)
        self.holder.wait()

    def close(self) -> None:
        """Kill the sandbox and close the parent's ends of its pipes."""
        self.kill()
        self.holder.stdout.close()
        for fd in (self.out_r, self.req_w, self.res_r, self.exit_r):
            with contextlib.suppress(OSError):
                os.close(fd)

    def returncode(self, state) -> int | None:
        """The child's end as bwrap would report it: its exit code, 128 + the signal that
        killed it, or a negative number when the sandbox was killed from outside."""
        if self.outside is not None:
            rc = self.outside
            return rc if rc < 0 else -(rc - 128) if rc > 128 else -signal.SIGKILL
        status = state["exit"]
        if status is None:
            return None
        if "signal" in status:
            return 128 + int(status["signal"])
        if "code" in status:
            return int(status["code"])
        return -signal.SIGKILL  # the child's waiter was killed: from outside too


def start(*, uid, limits, rlimits, audit, hidden, env, deadline) -> Sandbox:
    """Start the holder, then have the zygote fork the child into it.

    Args:
        uid: the claimed uid the child drops to.
        limits: the :class:`grader.secure._isolation.Limits`.
        rlimits: the child's :func:`grader.secure._isolation.rlimits`.
        audit: install the audit hook.
        hidden: folders bwrap must not show (the course).
        env: the sandbox's environment (also the zygote's).
        deadline: ``time.monotonic()`` by which the holder must be up.

    Returns:
        The :class:`Sandbox`; its child reads the cells from ``req_w`` next.

    Raises:
        StartError: bwrap, the holder or the zygote failed (a grader error).
    """
    info_r, info_w = os.pipe()
    cmd = _bwrap.command(HOLD, uid=uid, tmp_mb=limits.fsize_mb, env=env, hide=hidden,
                         info_fd=info_w)  # fmt: skip
    try:
        holder = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, cwd="/", env=env, pass_fds=(info_w,),
                                  start_new_session=True)  # fmt: skip
    except OSError as exc:
        os.close(info_r)
        raise StartError(f"could not start the sandbox: {exc}") from exc
    finally:
        os.close(info_w)
    (out_r, out_w), (req_r, req_w), (res_r, res_w), (exit_r, exit_w) = [os.pipe() for _ in "1234"]
    sandbox, pidfd = Sandbox(holder, cmd, out_r, req_w, res_r, exit_r), None
    try:
        info = _holder_info(holder, info_r, deadline)
        pidfd = os.pidfd_open(info["child-pid"])
        if _parent_of(info["child-pid"]) != holder.pid:  # the pid is still bwrap's child
            raise StartError("the sandbox's init ended before the child could join it")
        spaces = {k.removesuffix("-namespace"): v for k, v in info.items() if "namespace" in k}
        request = {"pid": info["child-pid"], "ns": spaces, "uid": uid, "audit": audit,
                   "nproc": limits.nproc, "rlimits": rlimits, "folder": _bwrap.WORK,
                   "child": f"{_bwrap.CHILD_DIR}/_child.py",
                   "hidden": [_bwrap.CHILD_DIR]}  # fmt: skip
        _forkserver.spawn(request, [pidfd, req_r, res_w, out_w, exit_w], env, limits.startup_s)
    except Exception as exc:
        sandbox.close()
        if isinstance(exc, StartError):
            raise
        raise StartError(f"could not start the sandbox: {type(exc).__name__}: {exc}") from exc
    finally:
        for fd in (info_r, pidfd, req_r, res_w, out_w, exit_w):
            if fd is not None:
                os.close(fd)
    return sandbox


def _holder_info(holder, info_r, deadline) -> dict:
    """Wait for the holder's "ready", then read what bwrap said of its init."""
    line, fd = b"", holder.stdout.fileno()
    while not line.endswith(b"\n"):
        left = max(0.0, deadline - time.monotonic())
        if not select.select([fd], [], [], left)[0] or not (byte := os.read(fd, 1)):
            break
        line += byte
    if line != b"ready\n":
        holder.kill()
        holder.wait()
        rest = holder.stdout.read().decode("utf-8", "replace")
        text = (line.decode("utf-8", "replace") + rest).strip()[-1500:] or "(none)"
        raise StartError(f"bubblewrap could not make the sandbox (code {holder.returncode}): "
                         f"{text}")  # fmt: skip
    try:  # bwrap wrote it before its child could run: it is all there
        return json.loads(os.read(info_r, 1 << 16))
    except ValueError as exc:
        raise StartError(f"bubblewrap's --info-fd said nothing readable: {exc}") from exc


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
