"""Uids for sandboxes run as root: one that no other sandbox on this machine holds now.

As root the child drops to a uid of its own before any student line runs, so that
RLIMIT_NPROC counts only that sandbox's processes (the kernel exempts uid 0 from it) and
the kernel refuses that uid any signal to the grader. Fixed uids per pool slot would be
shared by every grader run on the machine at once (another course's hostile submission
could signal ours); so each run of a sandbox *claims* a uid:

- drawn at random from ``[BASE, BASE + SPAN)``, a range no account uses
  (``pwd.getpwuid`` must fail) and in which no process runs now;
- held by an exclusive ``flock`` on ``LOCKS/<uid>`` for the sandbox's life, so two grader
  processes (or two threads of one) never hold the same uid; the kernel drops the lock
  if the grader dies, and the lock file is removed on release.

The lock folder is root's own (mode 0700, not a symlink): only root can claim uids.
"""

import contextlib
import fcntl
import os
import pwd
import secrets
import stat
import tempfile
from collections.abc import Iterator

BASE = 2_100_000_000
SPAN = 100_000_000
_TRIES = 64


def lock_dir() -> str:
    """The root-only folder that holds the uid locks (created on first use).

    Raises:
        PermissionError: the folder exists but is not a directory owned by root with
            mode 0700 (someone could forge or steal locks).
    """
    base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    path = os.path.join(base, "lrjax-grade-uids")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not (stat.S_ISDIR(info.st_mode) and info.st_uid == 0
            and info.st_mode & 0o777 == 0o700):  # fmt: skip
        raise PermissionError(
            f"{path} must be a directory owned by root with mode 0700 (it holds the "
            f"sandboxes' uid locks): remove it and run again"
        )
    return path


def processes_of(uid: int) -> int:
    """How many tasks (processes and threads) run as ``uid`` now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count


def _unused(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return processes_of(uid) == 0
    return False


def _try_lock(folder: str, uid: int) -> int | None:
    """An fd holding the exclusive lock on ``folder/uid``, or None if another run holds it."""
    path = os.path.join(folder, str(uid))
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # the holder before us may have removed the file after we opened it
        if os.fstat(fd).st_ino != os.stat(path, follow_symlinks=False).st_ino:
            raise BlockingIOError
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def claim() -> Iterator[int]:
    """Hold a uid no other sandbox uses, for the length of the ``with`` block.

    Yields:
        The uid (in ``[BASE, BASE + SPAN)``).

    Raises:
        RuntimeError: no free uid after many tries (should never happen: the range is
            far larger than any number of sandboxes at once).
    """
    folder = lock_dir()
    for _ in range(_TRIES):
        uid = BASE + secrets.randbelow(SPAN)
        fd = _try_lock(folder, uid)
        if fd is None:
            continue
        if not _unused(uid):
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, str(uid)))
            os.close(fd)
        return
    raise RuntimeError(f"no free sandbox uid in [{BASE}, {BASE + SPAN}) after {_TRIES} tries")
