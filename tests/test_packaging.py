"""Packaging: ``pip install lrjax`` is the library alone; ``lrjax[grade]`` adds the grader.

A wheel is built once from a copy of this working tree and installed into fresh venvs
(pip of the running environment with ``--python``, so its cache and configuration),
as the current user. Each install's time is printed (``pytest -s`` shows it). Also, as
root: the unprivileged test user of tests/_user.py runs the installed grader; and
scripts/install_system_deps.sh, on fake package managers.
"""

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from _user import REPO, copy_repo, ensure_user, run_as

pytestmark = pytest.mark.slow

FIX = "pip install 'lrjax[grade]'"
JUPYTER = ("nbgrader", "nbformat", "nbconvert", "jupyter_core", "traitlets")

# Trains a tiny separable problem and checks nothing of Jupyter was imported, neither by
# the library nor by the in-notebook checks (`import grader`).
TRAIN = f"""
import sys
import jax.numpy as jnp
import lrjax
X = jnp.array([[0.0, 1.0], [1.0, 0.0], [3.0, 1.0], [4.0, 0.0]])
y = jnp.array([0.0, 0.0, 1.0, 1.0])
params, history = lrjax.fit(X, y, learning_rate=0.5, steps=200)
assert float(history[-1]) < float(history[0]) / 2, history
assert float(lrjax.accuracy(params, X, y)) == 1.0
import shutil
import grader
shutil.copy({str(REPO / "assignments" / "source" / "gradient_descent" / "checks.json")!r}, ".")
grader.check("compute_dz", lambda a, y: a - y)  # from checks.json, as in a student's folder
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {JUPYTER!r})
assert not loaded, f"importing lrjax or grader loaded {{loaded}}"
print("trained")
"""


def _run(argv, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, timeout=600, **kwargs)


def _clean_env(venv: Path) -> dict:
    """The environment of a user who just made ``venv``: none of this test run's Python."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _venv(path: Path, *requirements: str) -> Path:
    """A fresh venv at ``path`` with ``requirements`` installed; returns its python."""
    made = _run([sys.executable, "-m", "venv", "--without-pip", path])
    assert made.returncode == 0, made.stderr
    python = path / "bin" / "python"
    start = time.perf_counter()
    done = _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
         "--disable-pip-version-check", "--no-compile", *requirements],
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    print(f"pip install {' '.join(Path(r).name for r in requirements)}: {seconds:.1f} s")
    if done.returncode != 0 and any(
        sign in done.stderr for sign in ("NewConnectionError", "name resolution", "unreachable")
    ):  # fmt: skip
        pytest.skip(f"PyPI is unreachable: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """lrjax's wheel, built (without dependencies) from a copy of the working tree."""
    src = tmp_path_factory.mktemp("src")
    copy_repo(src)
    out = tmp_path_factory.mktemp("dist")
    start = time.perf_counter()
    done = _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--wheel-dir", out, src],
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )  # fmt: skip
    print(f"pip wheel: {time.perf_counter() - start:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("lrjax-*.whl")
    return built


@pytest.fixture
def course(tmp_path) -> Path:
    """An nbgrader course: the repository's config and source notebooks, no submissions."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy2(REPO / "assignments" / "nbgrader_config.py", root)
    shutil.copytree(REPO / "assignments" / "source", root / "source")
    return root


def test_the_wheel_declares_the_grade_extra(wheel):
    with zipfile.ZipFile(wheel) as whl:
        (name,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in whl.read(name).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    base = [r for r in requires if "extra ==" not in r]
    grade = [r.split(";")[0].strip() for r in requires if 'extra == "grade"' in r]
    dev = [r.split(";")[0].strip() for r in requires if 'extra == "dev"' in r]
    sklearn = [r.split(";")[0].strip() for r in requires if 'extra == "sklearn"' in r]
    assert not [r for r in base if r.startswith(("nbgrader", "nbformat", "nbconvert"))], base
    assert {r.split(">")[0] for r in grade} >= {"nbgrader", "nbformat", "nbconvert"}, grade
    assert not [r for r in base if r.startswith("scikit-learn")], base  # lrjax[sklearn] only
    assert [r.split(">")[0] for r in sklearn] == ["scikit-learn"], sklearn
    assert "lrjax[grade,sklearn]" in dev, dev


def test_what_students_install_holds_no_hidden_case_or_reference(wheel):
    """The wheel ships the checks, the protocol and the pipeline, but no exercise: the
    declarations (hidden cases, references, mistakes) stay in the instructor's course."""
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        text = b"".join(whl.read(n) for n in names if n.endswith(".py"))
    assert {n.split("/")[0] for n in names} <= {
        "lrjax",
        "grader",
        *[n.split("/")[0] for n in names if ".dist-info/" in n],
    }, names
    assert not [n for n in names if "exercises" in n or "assignments" in n or n.endswith(".json")]
    from _exercises import EXERCISES  # the course's declarations, read here for comparison

    for ex in EXERCISES.values():  # the solutions and wrong implementations, and the labels
        for code in (ex.solution, *(m.code for m in ex.mistakes)):
            assert code.encode() not in text, ex.name
        for case in ex.hidden:
            assert f'"{case.label}"'.encode() not in text, (ex.name, case.label)


@pytest.fixture(scope="module")
def alone(wheel, tmp_path_factory) -> Path:
    """A venv with ``pip install lrjax`` (the wheel, no extra)."""
    venv = tmp_path_factory.mktemp("alone") / "venv"
    _venv(venv, str(wheel))
    return venv


@pytest.fixture(scope="module")
def graded(wheel, tmp_path_factory) -> Path:
    """A fresh venv with ``pip install 'lrjax[grade]'``."""
    venv = tmp_path_factory.mktemp("grade") / "venv"
    _venv(venv, f"{wheel}[grade]")
    return venv


def test_lrjax_alone_trains_without_jupyter(alone, tmp_path):
    env = _clean_env(alone)
    trained = _run([alone / "bin" / "python", "-c", TRAIN], env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    find = "import importlib.util as u; print(u.find_spec('nbgrader'))"
    found = _run([alone / "bin" / "python", "-c", find], env=env, cwd=tmp_path)
    assert found.stdout.strip() == "None", "the library alone must not install nbgrader"
    helped = _run([alone / "bin" / "lrjax-grade", "autograde", "--help"], env=env, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr


@pytest.mark.parametrize("entry", ["lrjax-grade", "python -m grader"])
def test_lrjax_alone_grading_names_the_missing_extra(alone, tmp_path, course, entry):
    argv = [alone / "bin" / "lrjax-grade"] if entry == "lrjax-grade" else [
        alone / "bin" / "python", "-m", "grader"]  # fmt: skip
    graded = _run(
        [*argv, "autograde", "gradient_descent", "--course", course, "--no-progress"],
        env=_clean_env(alone),
        cwd=tmp_path,
    )
    assert FIX in graded.stderr, graded.stderr
    assert "Traceback" not in graded.stderr, graded.stderr
    assert graded.returncode == 2, graded.stdout + graded.stderr
    assert not (course / "gradebook.db").exists()


def test_the_grade_extra_gives_a_working_grader(graded, tmp_path):
    env = _clean_env(graded)
    python = graded / "bin" / "python"
    helped = _run([graded / "bin" / "lrjax-grade", "autograde", "--help"], env=env, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "--course" in helped.stdout
    imported = _run([python, "-c", "import grader.secure._gradebook"], env=env, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    # nbgrader is installed now: the library and the in-notebook checks still leave it be.
    trained = _run([python, "-c", TRAIN], env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    # The gradebook opens through nbgrader (its alembic migrations run from the venv's bin,
    # found without PATH as a venv used without activating it).
    opened = _run(
        [python, "-c", "import sys; from pathlib import Path; "
         "import grader.secure._gradebook as g; g.open_gradebook(Path(sys.argv[1])).close()",
         tmp_path],
        env={k: v for k, v in env.items() if k != "PATH"} | {"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert (tmp_path / "gradebook.db").is_file()


# nbformat there, nbgrader not (or broken): the same error as the library alone. Here, in
# this environment.
NO_NBGRADER = "import sys; sys.modules['nbgrader'] = None; "
CLI = NO_NBGRADER + "from grader.__main__ import main; sys.exit(main(sys.argv[1:]))"


def test_without_nbgrader_the_grader_names_the_extra(course, tmp_path):
    helped = _run([sys.executable, "-c", CLI, "autograde", "--help"], cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    imported = _run(
        [sys.executable, "-c", NO_NBGRADER + "import grader.secure._gradebook"], cwd=tmp_path
    )
    assert "MissingGraderDependency" in imported.stderr and FIX in imported.stderr
    graded = _run(
        [sys.executable, "-c", CLI, "autograde", "gradient_descent", "--course", course,
         "--no-progress"],
        cwd=tmp_path,
    )  # fmt: skip
    assert FIX in graded.stderr, graded.stderr
    assert "Traceback" not in graded.stderr, graded.stderr
    assert graded.returncode == 2, graded.stdout + graded.stderr
    assert not (course / "gradebook.db").exists()


def test_an_ordinary_user_runs_the_installed_grader():
    user = ensure_user()  # skips unless root
    assert user.uid != 0 and (user.home.stat().st_mode & 0o777) == 0o700
    assert user.home.stat().st_uid == user.uid
    where = run_as(user, [user.python, "-I", "-c", "import lrjax, grader.secure._gradebook as r; "
                           "print(lrjax.__file__); print(r.__file__)"])  # fmt: skip
    assert where.returncode == 0, where.stderr
    site = f"{user.home}/venv/lib/"
    assert all(line.startswith(site) for line in where.stdout.split()), where.stdout
    helped = run_as(user, ["lrjax-grade", "autograde", "--help"])
    assert helped.returncode == 0, helped.stderr
    env = run_as(user, ["env"])
    names = {line.split("=", 1)[0] for line in env.stdout.splitlines()}
    assert names <= {"HOME", "USER", "LOGNAME", "PATH", "LANG", "PWD", "SHLVL", "_"}, names
    assert "/root" not in env.stdout


# -- scripts/install_system_deps.sh ---------------------------------------------------------

SCRIPT = REPO / "scripts" / "install_system_deps.sh"
TOOLS = ("bwrap", "prlimit", "unshare")


def _fake_bin(tmp_path: Path, *, uid: int, present=(), manager=None, fail_first=False) -> Path:
    """A PATH with only the script's helpers, a fake ``id -u``, and maybe a fake manager.

    The fake manager logs its arguments (and whether stdin is a terminal) to
    ``tmp_path/calls`` and, on ``install``, puts bwrap, prlimit and unshare on this PATH
    (with ``fail_first``: only after an ``update``).
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mktemp", "tail", "rm", "env", "chmod"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    _script(bin_dir / "id", f"echo {uid}\n")
    for tool in present:
        _script(bin_dir / tool, "exit 0\n")
    if manager:
        calls, updated = tmp_path / "calls", tmp_path / "updated"
        install = "".join(f'printf "#!/bin/sh\\n" > "{bin_dir}/{t}"; ' for t in TOOLS)
        install += "".join(f'chmod +x "{bin_dir}/{t}"; ' for t in TOOLS)
        gate = f'[ -e "{updated}" ] || {{ echo "E: Unable to locate package"; exit 100; }}; '
        _script(bin_dir / manager, f"""
[ -t 0 ] && tty=tty || tty=notty
echo "$* $tty DEBIAN_FRONTEND=${{DEBIAN_FRONTEND:-}}" >> "{calls}"
case "$*" in
    *update*) : > "{updated}" ;;
    *install*|*add*|-S*) {gate if fail_first else ""}{install} ;;
esac
""")  # fmt: skip
    return bin_dir


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def _install_deps(bin_dir: Path):
    return _run(["/bin/sh", SCRIPT], env={"PATH": str(bin_dir), "TMPDIR": str(bin_dir.parent)})


def test_system_deps_are_quiet_when_present(tmp_path):
    bin_dir = _fake_bin(tmp_path, uid=0, present=TOOLS, manager="apt-get")
    done = _install_deps(bin_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not (tmp_path / "calls").exists()


def test_system_deps_installs_bwrap_with_apt_as_root(tmp_path):
    bin_dir = _fake_bin(tmp_path, uid=0, present=("prlimit", "unshare"), manager="apt-get",
                        fail_first=True)  # fmt: skip
    done = _install_deps(bin_dir)
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stderr, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    flags = "notty DEBIAN_FRONTEND=noninteractive"
    assert calls == [
        f"-y -q install --no-install-recommends bubblewrap {flags}",  # update only on failure
        f"-y -q update {flags}",
        f"-y -q install --no-install-recommends bubblewrap {flags}",
    ]
    assert (bin_dir / "bwrap").exists()
    again = _install_deps(bin_dir)  # idempotent: nothing to do, nothing said
    assert (again.returncode, again.stderr) == (0, "")
    assert len((tmp_path / "calls").read_text().splitlines()) == 3


@pytest.mark.parametrize("manager", ["dnf", "zypper", "pacman", "apk"])
def test_system_deps_uses_the_distributions_manager(tmp_path, manager):
    bin_dir = _fake_bin(tmp_path, uid=0, present=("prlimit", "unshare"), manager=manager)
    done = _install_deps(bin_dir)
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stderr, done.stderr
    (call,) = (tmp_path / "calls").read_text().splitlines()
    assert "bubblewrap" in call and "notty" in call
    assert ("-y" in call) or ("--non" in call) or ("--noconfirm" in call) or manager == "apk"


@pytest.mark.parametrize(("uid", "manager"), [(1000, "apt-get"), (0, None)])
def test_system_deps_says_how_when_it_cannot_install(tmp_path, uid, manager):
    bin_dir = _fake_bin(tmp_path, uid=uid, present=("prlimit", "unshare"), manager=manager)
    done = _install_deps(bin_dir)  # not root and no sudo, or no package manager
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "refuse to grade" in lines[0] and "sudo apt-get install bubblewrap" in lines[0]
    assert not (tmp_path / "calls").exists()
