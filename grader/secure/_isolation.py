"""How the sandbox child is started: limits, the two isolation modes, environment.

``bwrap`` (the default, :mod:`grader.secure._bwrap`): the operating system's namespaces and a
filesystem view of only what the child needs. ``weak`` runs only when asked for by name
(``--isolation weak``): ``unshare`` where the machine allows it (as root: network and
mount namespaces, the course covered by an empty tmpfs; otherwise ``unshare -rn``), and
:func:`missing` lists what it lacks, for the table, the JSON and the gradebook.
Both add rlimits (``prlimit``) and, as root, the child's own uid (:mod:`grader.secure._uids`).
"""

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from grader.secure._uids import processes_of


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed submission.

    Attributes:
        timeout_s: wall-clock seconds from "ready" on: the student's cells and the cases.
        memory_mb: address-space limit (RLIMIT_AS) in MiB.
        cpu_s: CPU seconds (RLIMIT_CPU); None means 2 * timeout_s + 5.
        nproc: processes/threads of the sandbox's uid (RLIMIT_NPROC).
        fsize_mb: largest file the child may write (RLIMIT_FSIZE), also the tmpfs size.
        nofile: open file descriptors (RLIMIT_NOFILE).
        output_bytes: stdout/stderr kept (the rest is read and dropped).
        result_bytes: most result bytes accepted on the result pipe.
        startup_s: seconds the trusted start-up may take before the child says "ready"
            (not counted in ``timeout_s``; past it the run is the grader's error).
    """

    timeout_s: float = 60.0
    memory_mb: int = 4096
    cpu_s: float | None = None
    nproc: int = 512
    fsize_mb: int = 64
    nofile: int = 256
    output_bytes: int = 8 << 20
    result_bytes: int = 8 << 20
    startup_s: float = 120.0


@functools.lru_cache(maxsize=1)
def isolation_mode() -> str:
    """The strongest namespace setup this machine allows.

    Returns:
        ``"root"`` (as root: network + mount namespaces, tmpfs folders), ``"net"`` (as
        root, when mounting is not allowed: a network namespace only), ``"user"`` (not
        root: ``unshare -rn``, a user + network namespace) or ``"none"``.
    """
    if shutil.which("unshare") is None:
        return "none"

    def works(*cmd):
        return subprocess.run(cmd, capture_output=True, check=False).returncode == 0

    if os.geteuid() == 0:  # a user namespace would map only uid 0: no uid drop inside it
        with tempfile.TemporaryDirectory() as tmp:
            if works("unshare", "-n", "-m", "--", "mount", "-t", "tmpfs", "probe", tmp):
                return "root"
        return "net" if works("unshare", "-n", "true") else "none"
    return "user" if works("unshare", "-rn", "true") else "none"


_MOUNT_SCRIPT = (
    'set -e; d="$1"; u="$2"; s="$3"; n="$4"; shift 4; '
    'mount -t tmpfs -o "size=${s}m,mode=0700,uid=$u,gid=$u" lrjax-sandbox "$d"; '
    'while [ "$n" -gt 0 ]; do mount -t tmpfs -o ro,size=4k,mode=0 lrjax-hidden "$1"; '
    "shift; n=$((n - 1)); done; "
    'cd "$d"; exec "$@"'
)


def nproc_limit(limits, uid) -> int:
    """RLIMIT_NPROC set from outside: the child's own budget on its own uid, or on top of
    the instructor's current count when it starts as the instructor (not root). The child
    lowers it to ``limits.nproc`` itself before the first student line (in a user
    namespace that count is the sandbox's alone)."""
    return limits.nproc if uid >= 0 else limits.nproc + processes_of(os.geteuid())


def child_argv(child_path, req_fd, res_fd, uid, audit, nproc, folder, hidden=()) -> list[str]:
    """``python -I -B _child.py REQ RES UID AUDIT NPROC FOLDER [HIDDEN...]``.

    ``nproc`` is the RLIMIT_NPROC the child sets before the first student line, or 0 to
    keep the one it was started with (when its count would include the instructor's).
    """
    return [sys.executable, "-I", "-B", str(child_path), str(req_fd), str(res_fd), str(uid),
            "1" if audit else "0", str(nproc), folder, *hidden]  # fmt: skip


def weak_wrap(child, folder, uid, limits, hidden, mode) -> list[str]:
    """Wrap ``child`` in the ``unshare`` layers of ``mode`` (see :func:`isolation_mode`)."""
    if mode == "root":
        hide = [h for h in hidden if os.path.isdir(h)]
        wrap = ["unshare", "-n", "-m", "--", "sh", "-c", _MOUNT_SCRIPT, "sh", folder]
        wrap += [str(uid), str(limits.fsize_mb), str(len(hide)), *hide]
        return wrap + child
    if mode == "net":
        return ["unshare", "-n", "--", *child]
    if mode == "user":
        return ["unshare", "-rn", "--", *child]
    return list(child)


_WEAK_HAS = {
    "root": {"network namespace", "mount namespace (course covered)"},
    "net": {"network namespace"},
    "user": {"user namespace", "network namespace"},
    "none": set(),
}
_STRONG = (
    "pid namespace",
    "ipc namespace",
    "uts namespace",
    "network namespace",
    "mount namespace (course covered)",
    "private read-only filesystem view",
    "processes die with the sandbox",
)


def missing(sandbox: str, mode: str = "") -> list[str]:
    """The protections of the bwrap sandbox that a run in ``sandbox`` mode lacks.

    Args:
        sandbox: ``"bwrap"`` (lacks nothing) or ``"weak"``.
        mode: for ``"weak"``, the :func:`isolation_mode` it ran with.

    Returns:
        Their names, in a fixed order ([] for bwrap).
    """
    if sandbox == "bwrap":
        return []
    has = _WEAK_HAS.get(mode, set())
    return [layer for layer in _STRONG if layer not in has]


def rlimits(limits, nproc) -> dict:
    """The rlimits of one sandbox: ``{"RLIMIT_AS": (soft, hard), ...}``.

    Args:
        limits: the :class:`Limits`.
        nproc: RLIMIT_NPROC (see :func:`nproc_limit`).

    Returns:
        Soft and hard limit per :mod:`resource` name; CPU time gets 5 s between SIGXCPU
        (soft) and SIGKILL (hard).
    """
    cpu = int(limits.cpu_s if limits.cpu_s is not None else 2 * limits.timeout_s + 5)
    mb = 1 << 20
    return {
        "RLIMIT_AS": (limits.memory_mb * mb,) * 2,
        "RLIMIT_CPU": (cpu, cpu + 5),
        "RLIMIT_NPROC": (nproc, nproc),
        "RLIMIT_FSIZE": (limits.fsize_mb * mb,) * 2,
        "RLIMIT_NOFILE": (limits.nofile, limits.nofile),
        "RLIMIT_CORE": (0, 0),
    }


_PRLIMIT = {"RLIMIT_AS": "as", "RLIMIT_CPU": "cpu", "RLIMIT_NPROC": "nproc",
            "RLIMIT_FSIZE": "fsize", "RLIMIT_NOFILE": "nofile", "RLIMIT_CORE": "core"}  # fmt: skip


def with_rlimits(child, limits, nproc) -> list[str]:
    """``prlimit ... -- child`` (or ``child`` unchanged without prlimit: see :func:`preexec`)."""
    if not shutil.which("prlimit"):
        return list(child)
    values = rlimits(limits, nproc).items()
    flags = [f"--{_PRLIMIT[name]}={soft}:{hard}" for name, (soft, hard) in values]
    return ["prlimit", *flags, "--", *child]


def preexec(limits, nproc):
    """Fallback when prlimit is missing: set the rlimits in the forked child."""
    set_rlimits(rlimits(limits, nproc))


def set_rlimits(values: dict) -> None:
    """Set the :func:`rlimits` ``values`` on this process."""
    import resource

    for name, (soft, hard) in values.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))


def scrubbed_env(folder):
    """A scrubbed environment: nothing of the instructor's, JAX on the CPU.

    ``JAX_COMPILATION_CACHE_DIR`` is left unset: no persistent cache is read or written.
    ``JAX_DISABLE_MOST_OPTIMIZATIONS`` turns LLVM's optimisations off: a check's functions
    are tiny and run once, so compiling them is the cost, not running them (eager
    primitives compile about 15 % faster; no change to IEEE arithmetic, which XLA does
    without fast-math either way). A JAX that does not know the variable ignores it.
    """
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
        "JAX_DISABLE_MOST_OPTIMIZATIONS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
