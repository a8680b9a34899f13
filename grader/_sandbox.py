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
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader._run import Outcome

CHILD = Path(__file__).with_name("_child.py")
_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: what a gradient can be
_MAX_ELEMENTS = 1_000_000
_UID_BASE = 1_900_000_000  # uids the sandboxes drop to (one per pool slot)


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed submission.

    Attributes:
        timeout_s: wall-clock seconds for the whole child (start, cells and cases).
        memory_mb: address-space limit (RLIMIT_AS) in MiB.
        cpu_s: CPU seconds (RLIMIT_CPU); None means 2 * timeout_s + 5.
        nproc: processes/threads of the sandbox's uid (RLIMIT_NPROC).
        fsize_mb: largest file the child may write (RLIMIT_FSIZE), also the tmpfs size.
        nofile: open file descriptors (RLIMIT_NOFILE).
        output_bytes: stdout/stderr kept (the rest is read and dropped).
        result_bytes: most result bytes accepted on the result pipe.
    """

    timeout_s: float = 60.0
    memory_mb: int = 4096
    cpu_s: float | None = None
    nproc: int = 512
    fsize_mb: int = 64
    nofile: int = 256
    output_bytes: int = 8 << 20
    result_bytes: int = 8 << 20


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


@functools.lru_cache(maxsize=1)
def isolation_mode() -> str:
    """The strongest namespace setup this machine allows: "root", "user" or "none"."""
    if shutil.which("unshare") is None:
        return "none"
    if os.geteuid() == 0:
        with tempfile.TemporaryDirectory() as tmp:
            probe = ["unshare", "-n", "-m", "--", "mount", "-t", "tmpfs", "probe", tmp]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return "root"
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return "user"
    return "none"


_MOUNT_SCRIPT = (
    'set -e; d="$1"; u="$2"; s="$3"; n="$4"; shift 4; '
    'mount -t tmpfs -o "size=${s}m,mode=0700,uid=$u,gid=$u" lrjax-sandbox "$d"; '
    'while [ "$n" -gt 0 ]; do mount -t tmpfs -o ro,size=4k,mode=0 lrjax-hidden "$1"; '
    "shift; n=$((n - 1)); done; "
    'cd "$d"; exec "$@"'
)


def _tasks_of(uid: int) -> int:
    """How many processes/threads ``uid`` runs now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count


def _nproc(limits, uid) -> int:
    """RLIMIT_NPROC for the child: its own budget on its own uid, or on top of the
    instructor's current count when the child keeps the instructor's uid (not root)."""
    return limits.nproc if uid >= 0 else limits.nproc + _tasks_of(os.geteuid())


def _command(folder, req_fd, res_fd, uid, audit, limits, hidden, mode, nproc):
    """The argv: [prlimit ...] [unshare ...] python -I -B _child.py ..."""
    child = [sys.executable, "-I", "-B", str(CHILD), str(req_fd), str(res_fd), str(uid)]
    child += ["1" if audit else "0", folder, *hidden]
    if mode == "root":
        hide = [h for h in hidden if os.path.isdir(h)]
        wrap = ["unshare", "-n", "-m", "--", "sh", "-c", _MOUNT_SCRIPT, "sh", folder]
        wrap += [str(uid), str(limits.fsize_mb), str(len(hide)), *hide]
        child = wrap + child
    elif mode == "user":
        child = ["unshare", "-rn", "--", *child]
    cpu = limits.cpu_s if limits.cpu_s is not None else 2 * limits.timeout_s + 5
    if shutil.which("prlimit"):
        mb = 1 << 20
        child = [
            "prlimit",
            f"--as={limits.memory_mb * mb}",
            f"--cpu={int(cpu)}:{int(cpu) + 5}",
            f"--nproc={nproc}",
            f"--fsize={limits.fsize_mb * mb}",
            f"--nofile={limits.nofile}",
            "--core=0",
            "--",
            *child,
        ]
    return child


def _preexec(limits, nproc):
    """Fallback when prlimit is missing: set the rlimits in the forked child."""
    import resource

    cpu = int(limits.cpu_s if limits.cpu_s is not None else 2 * limits.timeout_s + 5)
    mb = 1 << 20
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_NPROC, nproc),
        (resource.RLIMIT_FSIZE, limits.fsize_mb * mb),
        (resource.RLIMIT_NOFILE, limits.nofile),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))


def _env(folder):
    """A scrubbed environment: nothing of the instructor's, JAX on the CPU."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": folder,
        "TMPDIR": folder,
        "LANG": "C.UTF-8",
        "JAX_PLATFORMS": "cpu",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _case_to_wire(case) -> dict:
    def arg(a):
        arr = np.asarray(a)
        return {
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "data": arr.tolist(),
            "scalar": isinstance(a, np.generic),
        }

    return {"function": case.function, "mode": case.mode, "args": [arg(a) for a in case.args]}


def value_from_wire(wire) -> np.ndarray | None:
    """Rebuild an array the child sent, refusing anything but a small numeric array.

    Args:
        wire: ``{"dtype": str, "shape": [int, ...], "data": nested lists}`` or None.

    Returns:
        The array (None stays None).

    Raises:
        ValueError: a non-numeric dtype, a bad shape, too many elements, or data that
            does not match the declared shape.
    """
    if wire is None:
        return None
    if not isinstance(wire, dict) or set(wire) != {"dtype", "shape", "data"}:
        raise ValueError("expected {dtype, shape, data}")
    dtype = np.dtype(str(wire["dtype"]))
    if dtype.kind not in _NUMERIC_KINDS or dtype.itemsize > 8:
        raise ValueError(f"dtype {dtype} is not a plain number type")
    shape = wire["shape"]
    if not (
        isinstance(shape, list)
        and len(shape) <= 8
        and all(type(n) is int and 0 <= n <= _MAX_ELEMENTS for n in shape)
    ):
        raise ValueError(f"bad shape {shape!r}")
    if int(np.prod(shape, dtype=np.int64)) > _MAX_ELEMENTS:
        raise ValueError(f"too many elements in shape {shape}")
    arr = np.array(wire["data"], dtype=dtype)
    if arr.shape != tuple(shape):
        raise ValueError(f"data of shape {arr.shape} does not match declared {tuple(shape)}")
    return arr


def _outcome_from_wire(msg) -> Outcome:
    type_name, error = msg.get("type_name", ""), msg.get("error")
    if not isinstance(type_name, str) or not (error is None or isinstance(error, str)):
        raise ValueError("type_name/error must be strings")
    return Outcome(value=value_from_wire(msg.get("value")), type_name=type_name[:200],
                   error=None if error is None else error[:2000])  # fmt: skip


def run_submission(cells, cases, *, limits=Limits(), slot=0, audit=True, hidden=()):
    """Run ``cells`` in a fresh sandboxed child, then ask it for ``cases``.

    Args:
        cells: the :class:`Cell` list to execute in order (setup first).
        cases: the ``grader._cases.Case`` list to answer, in order.
        limits: resource limits.
        slot: the pool slot (0 <= slot < jobs): picks the child's own uid as root.
        audit: install the audit hook (tests turn it off to check the other layers).
        hidden: folders to cover with an empty tmpfs in the child (the course folder).

    Returns:
        A :class:`SandboxResult`; it never raises for anything the child does.
    """
    mode = isolation_mode()
    uid = _UID_BASE + slot if os.geteuid() == 0 else -1
    folder = tempfile.mkdtemp(prefix="lrjax-sandbox-")
    if uid >= 0:
        os.chown(folder, uid, uid)
    req_r, req_w = os.pipe()
    res_r, res_w = os.pipe()
    isolation = {"namespace": mode, "network": mode != "none", "private_tmpfs": mode == "root",
                 "uid": uid if uid >= 0 else None, "audit_hook": audit}  # fmt: skip
    nproc, prlimit = _nproc(limits, uid), shutil.which("prlimit") is not None
    cmd = _command(folder, req_r, res_w, uid, audit, limits, list(hidden), mode, nproc)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=_env(folder),
            pass_fds=(req_r, res_w),
            start_new_session=True,
            preexec_fn=None if prlimit else functools.partial(_preexec, limits, nproc),
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
    second = json.dumps({"nonce": nonce, "cases": [_case_to_wire(c) for c in cases]}) + "\n"
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
                problem, just_loaded = _handle(line, state, nonce, loaded, len(cases))
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


def _handle(line, state, nonce, loaded, n):
    """Apply one result line; return (problem or None, whether it was "loaded")."""
    try:
        msg = json.loads(line)
        kind = msg["kind"]
        if kind == "loaded" and not loaded:
            for item in msg["errors"]:
                state["cell_errors"][str(item["grade_id"])] = str(item["error"])[:2000]
            return None, True
        if not loaded or msg.get("nonce") != nonce:
            return "a result arrived before the cases were sent (forged?)", False
        if kind == "done":
            state["done"] = True
            return None, False
        i = msg["i"]
        if kind != "outcome" or type(i) is not int or not 0 <= i < n:
            return f"unexpected message {kind!r}", False
        if state["outcomes"][i] is not None:
            return f"case {i} answered twice (forged?)", False
        state["outcomes"][i] = _outcome_from_wire(msg)
        return None, False
    except (ValueError, KeyError, TypeError, RecursionError, AttributeError) as exc:
        return f"malformed result ({type(exc).__name__}: {str(exc)[:200]})", False


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
