"""The sandbox's operating-system layers: bubblewrap's command line and the view it builds.

Every submission runs under ``bwrap`` (bubblewrap, Flatpak's unprivileged sandbox) with:

- new PID, network, IPC, UTS and mount namespaces (and cgroup where allowed); not root: a
  new user namespace too, in which no further user namespace may be made
  (``--disable-userns``); as root no user namespace (it would map the child to root
  outside, which RLIMIT_NPROC exempts): the child drops to a uid of its own instead
  (:mod:`grader.secure._uids`), keeping only CAP_SETUID/CAP_SETGID until that drop;
- ``--die-with-parent`` and ``--new-session``; the PID namespace's init is bwrap's, so
  when the sandbox ends every process left in it ends too, ``setsid`` or not;
- all other capabilities dropped, no-new-privs (bwrap sets it), a scrubbed environment;
- a filesystem of its own: read-only binds of the system's ``/usr`` (and the top-level
  ``/lib*``, ``/bin``, ``/sbin`` links) and of the Python installation in use (base
  prefix, venv, site-packages), each bound at its own path from its real path, so a
  folder of mode 0700 above them (``/root``, a home, ``mktemp -d``) is never crossed; the
  child's three trusted files bound one by one at :data:`CHILD_DIR`; fresh ``/proc`` and
  ``/dev``; private size-limited tmpfs at ``/tmp`` (the working folder and HOME) and
  ``/dev/shm``. The ``grader`` and ``lrjax`` package folders, and any other folder the
  caller names (the course), are covered by an empty read-only tmpfs wherever a bind
  would otherwise show them. Nothing else of the machine exists inside.
"""

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

CHILD_DIR = "/opt/lrjax-grader"
GRADER = Path(__file__).resolve().parent.parent  # the grader package's folder
# what the child sees of the grader, at CHILD_DIR: its own two files and the protocol
# package (data, run_case and the codec; no hidden case, no reference)
CHILD_FILES = {
    "_child.py": "secure/_child.py",
    "_hook.py": "secure/_hook.py",
    "protocol": "protocol",
}
WORK = "/tmp"  # the child's working folder, HOME and TMPDIR: a private tmpfs
INSTALL = "sudo apt-get install bubblewrap"
INSTALL_OTHERS = "(Fedora: sudo dnf install bubblewrap; Arch: sudo pacman -S bubblewrap)"
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/localtime")
_NAMESPACES = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try")  # fmt: skip


class Unavailable(RuntimeError):
    """bubblewrap is missing or cannot make a sandbox on this machine (message: the fix)."""


@dataclass(frozen=True)
class Probe:
    """What :func:`probe` found.

    Attributes:
        path: the ``bwrap`` executable, or None.
        version: its ``--version`` line.
        error: why a sandbox could not be made ("" when it works).
    """

    path: str | None
    version: str
    error: str

    @property
    def ok(self) -> bool:
        """Whether sandboxes can be made."""
        return self.path is not None and not self.error


def _as_root() -> bool:
    return os.geteuid() == 0


def _system_args() -> list[str]:
    args = []
    for top in _SYSTEM:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in _ETC:
        if os.path.exists(path):
            args += ["--ro-bind", os.path.realpath(path), path]
    return args


def python_roots() -> list[str]:
    """The folders of the running Python installation the child needs, outermost only."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(sys.executable)}  # fmt: skip
    paths.update(p for p in sysconfig.get_paths().values() if p)
    roots = []
    for path in sorted({os.path.abspath(p) for p in paths if os.path.isdir(p)}):
        if path in ("/", "/usr") or path.startswith("/usr/"):
            continue  # the system's /usr is bound whole
        if not any(path == r or path.startswith(r + "/") for r in roots):
            roots.append(path)
    return roots


def _package_dirs() -> list[str]:
    """Where ``grader`` and ``lrjax`` are installed (the hidden cases, the references)."""
    import importlib.util

    found = [str(GRADER)]
    spec = importlib.util.find_spec("lrjax")
    if spec is not None:
        found += [os.path.realpath(p) for p in spec.submodule_search_locations or ()]
    return found


def _view(hide) -> list[str]:
    """The filesystem arguments: what exists inside, and nothing else."""
    args = _system_args()
    bound = []
    for path in python_roots():
        real = os.path.realpath(path)
        for dest in dict.fromkeys((path, real)):
            args += ["--ro-bind", real, dest]
            bound.append((real, dest))
    for name, rel in CHILD_FILES.items():
        args += ["--ro-bind", str(GRADER / rel), f"{CHILD_DIR}/{name}"]
    # bwrap would make the folders above each bind with mode 0700 (as root): make them
    # 0755 first, so the child's own uid can walk down to what is bound there
    dests = [d for _, d in bound] + [f"{CHILD_DIR}/{name}" for name in CHILD_FILES]
    parents = {str(p) for d in dests for p in Path(d).parents if str(p) != "/"}
    dirs = []
    for parent in sorted(parents, key=lambda p: p.count("/")):
        dirs += ["--perms", "0755", "--dir", parent]
    args = dirs + args
    covered = set()
    for path in [*_package_dirs(), *(os.path.realpath(h) for h in hide)]:
        for real, dest in bound:
            inside = path == real or path.startswith(real + "/")
            if inside and os.path.isdir(path):
                target = dest + path[len(real) :]
                if target not in covered:
                    covered.add(target)
                    args += ["--tmpfs", target, "--remount-ro", target]
    return args


def command(argv, *, uid: int, tmp_mb: int, env: dict, hide=(), info_fd=None) -> list[str]:
    """The ``bwrap ... -- argv`` command line for one sandbox.

    Args:
        argv: the command to run inside (paths as seen inside).
        uid: the uid the child will drop to (root), or -1 (not root: a user namespace).
        tmp_mb: size of each private tmpfs (``/tmp`` and ``/dev/shm``) in MiB.
        env: the whole environment inside.
        hide: folders to cover if a bind would show them (the course).
        info_fd: a descriptor (passed to bwrap) where bwrap writes, as JSON, the pid of
            the sandbox's init and its namespaces' inode numbers (``--info-fd``).

    Returns:
        The argv list, starting with the bwrap executable.

    Raises:
        Unavailable: bubblewrap is missing or does not work here.
    """
    found = probe()
    if not found.ok:
        raise Unavailable(found.error)
    args = [found.path, *_NAMESPACES, "--die-with-parent", "--new-session",
            "--hostname", "sandbox", "--cap-drop", "ALL"]  # fmt: skip
    if uid >= 0:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--disable-userns"]
    size = str(tmp_mb << 20)
    # the private tmpfs first: an installation under /tmp (a clone in `mktemp -d`) is
    # then bound inside it, not covered by it
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", size, "--tmpfs", WORK]
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    args += _view(hide)
    args += ["--clearenv", "--chdir", WORK]
    for key, value in env.items():
        args += ["--setenv", key, value]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    return [*args, "--", *argv]


@functools.lru_cache(maxsize=1)
def probe() -> Probe:
    """Whether bubblewrap can make this grader's sandbox here (run once per process).

    Runs ``true`` in a sandbox with the same namespaces and the same view as a real one.

    Returns:
        A :class:`Probe`; its ``error`` names the fix when sandboxes cannot be made.
    """
    path = shutil.which("bwrap")
    if path is None:
        return Probe(None, "", f"bubblewrap (bwrap) is not installed: {INSTALL} {INSTALL_OTHERS}")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    args = [path, *_NAMESPACES, "--die-with-parent", "--cap-drop", "ALL"]
    if not _as_root():
        args += ["--unshare-user", "--disable-userns"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", WORK, *_view(()), "--",
             sys.executable, "-I", "-c", "pass"]  # fmt: skip
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    error = ""
    if run.returncode != 0:
        why = (run.stderr or run.stdout).strip()[-500:]
        error = (
            f"bubblewrap cannot make a sandbox here ({why}). Unprivileged user namespaces "
            "may be off: as root run `sysctl -w kernel.unprivileged_userns_clone=1` (Debian) "
            "or `sysctl -w user.max_user_namespaces=15000`; in a container, allow them "
            "(e.g. docker run --security-opt seccomp=unconfined)"
        )
    return Probe(path, version.stdout.strip(), error)
