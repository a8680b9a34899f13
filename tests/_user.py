"""An ordinary user with this project installed, as most instructors run the grader.

Tests that must not run as root (the grader's uid drop, file permissions, a venv in
a home only its owner can read) call :func:`ensure_user` and run commands with
:func:`run_as`::

    from _user import ensure_user, run_as

    def test_grades_as_a_user():
        user = ensure_user()  # skips unless root (CI runs as root)
        done = run_as(user, [user.python, "-m", "grader", "autograde", "--help"])
        assert done.returncode == 0, done.stderr

:func:`ensure_user` (as root) creates the user ``lrjax-tester`` (home of mode 0700),
copies this working tree (git's tracked and untracked files, without ``.venv``,
``.git`` or build outputs) to ``~/lrjax-src`` and installs it, not editable, with its
``grade`` extra, pytest and hypothesis into ``~/venv``, made with a Python the user can
run (``/usr/bin/python3``: the project's ``.venv`` lives under ``/root``). pip runs as
root, with root's cache and configuration, then the whole home is given to the user.
Nothing installed points into ``/root``.

The result is kept: once per test session, and across sessions while the copied tree,
and pyproject.toml are unchanged (a stamp in the home; a changed tree only
reinstalls lrjax). A file lock makes concurrent sessions (pytest-xdist) safe.
"""

import fcntl
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
USER = "lrjax-tester"
#: Pythons tried for the user's venv, first usable wins (``LRJAX_TEST_PYTHON`` first).
PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
#: Never copied: environments, VCS, build outputs and caches.
SKIP_NAMES = {
    ".venv",
    "venv",
    ".git",
    "build",
    "dist",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    ".whl",
}
SKIP_SUFFIXES = (".egg-info", ".pyc")
#: What pip says when PyPI cannot be reached (the tests then skip, not fail).
OFFLINE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "ConnectTimeout",
    "Network is unreachable",
    "ProxyError",
)
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class UserEnv:
    """An unprivileged user with the project installed.

    Attributes:
        name, uid, gid: the account.
        home: its home (mode 0700, owned by it).
        python: the venv's interpreter (``home/venv/bin/python``).
        repo: the copy of this working tree that was installed (``home/lrjax-src``).
    """

    name: str
    uid: int
    gid: int
    home: Path
    python: Path
    repo: Path

    @property
    def bin(self) -> Path:
        """The venv's ``bin`` (``lrjax-grade``, ``pytest``...)."""
        return self.python.parent

    def env(self, **extra: str) -> dict[str, str]:
        """The clean environment commands run with: HOME, USER, PATH (venv first), LANG."""
        return {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "PATH": f"{self.bin}:{PATH}",
            "LANG": "C.UTF-8",
            **extra,
        }


_CACHE: dict[str, UserEnv | str] = {}
#: Run as the user on a kept venv: are the packages (and their files) still there?
_CHECK = (
    "import importlib.util as u; "
    "assert all(u.find_spec(m) for m in ('lrjax', 'grader', 'nbgrader', 'nbformat', 'pytest'))"
)


def ensure_user(name: str = USER) -> UserEnv:
    """The user ``name`` with this tree installed in its home; built once (see the module).

    Skips the calling test (with the reason) when not root, when useradd or runuser/setpriv
    are missing, when no Python the user can run has ``venv``, or when PyPI is unreachable.
    Other failures raise (a broken install is a bug, not a skip).
    """
    cached = _CACHE.get(name)
    if isinstance(cached, str):
        pytest.skip(cached)
    if cached is not None:
        return cached
    try:
        env = _build(name)
    except _Skip as why:
        _CACHE[name] = str(why)
        pytest.skip(str(why))
    _CACHE[name] = env
    return env


def run_as(user: UserEnv, argv, *, env=None, cwd=None, timeout=600, check=False, **kwargs):
    """Run ``argv`` as ``user`` with a clean environment (:meth:`UserEnv.env` plus ``env``).

    Nothing of the caller's environment is inherited; ``cwd`` defaults to the user's home
    (it must be a folder the user can enter). Output is captured as text unless
    ``kwargs`` say otherwise.

    Returns:
        The :class:`subprocess.CompletedProcess`.
    """
    clean = [f"{k}={v}" for k, v in user.env(**(env or {})).items()]
    if shutil.which("runuser"):
        drop = ["runuser", "-u", user.name, "--"]
    else:
        drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(
        [*drop, "env", "-i", *clean, *map(str, argv)],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        cwd=cwd or user.home,
        timeout=timeout,
        check=check,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def user_dir(user: UserEnv, name: str = "work") -> Path:
    """A new empty folder in the user's home, owned by the user (for a test's files)."""
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=user.home))
    os.chown(path, user.uid, user.gid)
    return path


def give(user: UserEnv, path: Path) -> Path:
    """``chown -R`` ``path`` to the user (files a test wrote as root for it to use)."""
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(path)], check=True)
    return path


# -- the copy of the working tree (also used by test_packaging.py) ----------------------


def repo_files(root: Path = REPO) -> list[str]:
    """The working tree's files, relative and sorted: git's tracked and untracked files
    (not ignored) that exist, or, without git, every file outside the skipped names."""
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            check=True,
        ).stdout
        names = [n for n in os.fsdecode(out).split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not _skipped(d)]
            names += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return sorted(
        n
        for n in names
        if not any(_skipped(part) for part in Path(n).parts) and (root / n).is_file()
    )


def _skipped(name: str) -> bool:
    return name in SKIP_NAMES or name.endswith(SKIP_SUFFIXES)


def copy_repo(dst: Path, root: Path = REPO) -> str:
    """Copy the working tree (:func:`repo_files`) to ``dst``; returns its content hash."""
    return _tree(root, dst)


def tree_hash(root: Path = REPO) -> str:
    """The hash :func:`copy_repo` returns, without copying."""
    return _tree(root, None)


def _tree(root: Path, dst: Path | None) -> str:
    digest = hashlib.sha256()
    for name in repo_files(root):
        src = root / name
        if dst is not None:
            (Path(dst) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, Path(dst) / name)
        digest.update(f"{name}\0{os.stat(src).st_mode & 0o111}\0".encode())
        digest.update(hashlib.sha256(src.read_bytes()).digest())
    return digest.hexdigest()


def pip_install(python, *args, log=print) -> float:
    """``python -m pip install ARGS`` (quiet, root's cache); returns the seconds it took.

    Raises:
        _Skip: PyPI is unreachable.
        RuntimeError: any other failure, with pip's output.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
    }
    start = time.perf_counter()
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--no-compile",
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(sign in output for sign in OFFLINE):
            raise _Skip(
                f"PyPI is unreachable, cannot install the test user's venv: {output[-300:]}"
            )
        raise RuntimeError(f"pip install {' '.join(map(str, args))} failed:\n{output[-3000:]}")
    log(f"pip install {' '.join(map(str, args))}: {seconds:.1f} s")
    return seconds


class _Skip(Exception):
    """A missing prerequisite: the tests that need the user skip with this reason."""


# -- building the user's environment ------------------------------------------------------


def _build(name: str) -> UserEnv:
    if os.geteuid() != 0:
        raise _Skip("creating the unprivileged test user needs root (CI runs the tests as root)")
    for tool in ("useradd", "chown"):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            raise _Skip(f"{tool} is missing: cannot create the unprivileged test user")
    if not (shutil.which("runuser") or shutil.which("setpriv")):
        raise _Skip("runuser and setpriv are missing: cannot run commands as the test user")
    lock_path = Path(tempfile.gettempdir()) / f"{name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others then find it done
        return _build_locked(name)


def _build_locked(name: str) -> UserEnv:
    account = _account(name)
    home = Path(account.pw_dir)
    env = UserEnv(
        name,
        account.pw_uid,
        account.pw_gid,
        home,
        home / "venv" / "bin" / "python",
        home / "lrjax-src",
    )
    want_deps = _digest((REPO / "pyproject.toml").read_text())
    want_tree = tree_hash()
    stamp_path = home / ".lrjax-test-env.json"
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = {}
    usable = (
        env.python.exists()
        and run_as(env, [env.python, "-I", "-c", _CHECK], timeout=120).returncode == 0
    )
    if usable and stamp.get("deps") == want_deps and stamp.get("tree") == want_tree:
        return env

    start = time.perf_counter()
    shutil.rmtree(env.repo, ignore_errors=True)
    tree = copy_repo(env.repo)
    if usable and stamp.get("deps") == want_deps:  # only the tree changed: lrjax alone
        pip_install(env.python, "--no-deps", "--force-reinstall", env.repo, log=_log)
    else:
        shutil.rmtree(home / "venv", ignore_errors=True)
        python = _user_python(env)
        made = subprocess.run(
            [python, "-m", "venv", str(home / "venv")], capture_output=True, text=True
        )
        if made.returncode != 0:
            raise _Skip(f"{python} -m venv failed (python3-venv missing?): {made.stderr[-300:]}")
        pip_install(env.python, f"{env.repo}[grade]", "pytest", "hypothesis", log=_log)
    stamp_path.write_text(json.dumps({"deps": want_deps, "tree": tree}))
    subprocess.run(["chown", "-R", f"{env.uid}:{env.gid}", str(home)], check=True)
    os.chmod(home, 0o700)
    _log(f"test user {name}: venv ready in {time.perf_counter() - start:.1f} s")
    return env


def _account(name: str) -> pwd.struct_passwd:
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        done = subprocess.run(
            ["useradd", "--create-home", "--user-group", "--shell", "/bin/sh", name],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise _Skip(f"useradd {name} failed: {done.stderr.strip()}") from None
        account = pwd.getpwnam(name)
    home = Path(account.pw_dir)
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, account.pw_uid, account.pw_gid)
    os.chmod(home, 0o700)
    return account


def _user_python(env: UserEnv) -> str:
    """The first of :data:`PYTHONS` the user can run and that has ``venv``."""
    tried = [os.environ.get("LRJAX_TEST_PYTHON", ""), *PYTHONS]
    for python in filter(None, tried):
        if (
            Path(python).is_file()
            and run_as(env, [python, "-c", "import ensurepip, venv"], timeout=60).returncode == 0
        ):
            return python
    raise _Skip(f"no Python the test user can run with venv and ensurepip among {tried}")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _log(message: str) -> None:
    print(f"[tests/_user.py] {message}", file=sys.stderr, flush=True)
