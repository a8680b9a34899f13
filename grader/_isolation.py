"""How the sandbox child is started: limits, namespaces, uid, environment.

:func:`command` builds ``[prlimit ...] [unshare ...] python -I -B _child.py ...`` with
the strongest isolation this machine allows (:func:`isolation_mode`): as root, network and
mount namespaces (the sandbox folder a private size-capped tmpfs, the course folder covered
by an empty read-only one); otherwise ``unshare -rn``; otherwise none.
"""

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass


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


def nproc_limit(limits, uid) -> int:
    """RLIMIT_NPROC for the child: its own budget on its own uid, or on top of the
    instructor's current count when the child keeps the instructor's uid (not root)."""
    return limits.nproc if uid >= 0 else limits.nproc + _tasks_of(os.geteuid())


def command(child_path, folder, req_fd, res_fd, uid, audit, limits, hidden, mode, nproc):
    """The argv: [prlimit ...] [unshare ...] python -I -B _child.py ..."""
    child = [sys.executable, "-I", "-B", str(child_path), str(req_fd), str(res_fd), str(uid)]
    child += ["1" if audit else "0", folder, *hidden]
    if mode == "root":
        hide = [h for h in hidden if os.path.isdir(h)]
        wrap = ["unshare", "-n", "-m", "--", "sh", "-c", _MOUNT_SCRIPT, "sh", folder]
        wrap += [str(uid), str(limits.fsize_mb), str(len(hide)), *hide]
        child = wrap + child
    elif mode == "net":
        child = ["unshare", "-n", "--", *child]
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


def preexec(limits, nproc):
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


def scrubbed_env(folder):
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
