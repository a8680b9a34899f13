"""The checks students run in Jupyter: call a function on the visible cases, judge, explain.

``check("compute_dz", compute_dz)`` in a notebook reads the visible cases and their
answers from the ``checks.json`` beside the notebook (nothing hidden is there). With
``hidden=True`` -- only in the instructor's copy of a test cell -- the cases come from
the course's declarations (``<course>/exercises/<name>.py``), which only the
instructor has.
"""

import functools
import hashlib
import json
import os
from pathlib import Path

from grader.checks._bundle import (
    CHECKS_FILE,
    FORMAT,
    Bundle,
    Catalogued,
    bundle,
    implementations,
    read_checks,
    reference,
    write_checks,
)
from grader.checks._exercise import (
    EXERCISES,
    Exercise,
    Mistake,
    case,
    exercise_paths,
    find_course,
    find_exercise,
    load_exercise,
    load_exercises,
)
from grader.checks._judge import Verdict, judge
from grader.checks._messages import LANGS, message
from grader.protocol import run_cases


@functools.lru_cache(maxsize=64)
def _course_bundle(path: str, mtime_ns: int, hidden: bool) -> Bundle:
    return bundle(load_exercise(path), hidden=hidden)


def _declaration(course, name: str) -> Path:
    """The file that declares exercise ``name`` (KeyError naming those there are)."""
    path = exercise_paths(course).get(name)
    if path is None:
        find_exercise(course, name)  # raises KeyError with the list of exercises
    return path


def course_bundle(course, name: str, *, hidden: bool) -> Bundle:
    """The bundle of exercise ``name`` from a course's declaration (computed once per
    version of the file).

    Raises:
        KeyError: the course declares no such exercise.
    """
    path = _declaration(course, name)
    return _course_bundle(str(path.resolve()), path.stat().st_mtime_ns, hidden)


CACHE = ".lrjax-cache"  # under the course root: hidden answers for stock nbgrader's kernels


@functools.lru_cache(maxsize=64)
def _cached_hidden(path: str, mtime_ns: int, cache: str) -> Bundle:
    """The hidden bundle, its right answers read from (or written to) ``cache``: stock
    nbgrader starts a kernel per notebook, and each would compute them again. Only the
    notebook checks use it; the secure grader computes its own (a student's code runs
    with the instructor's rights under stock nbgrader, and could write this file)."""
    exercise = load_exercise(path)
    try:
        data = json.loads(Path(cache).read_text(encoding="utf-8"))
        return Bundle.from_json(data, impls=implementations(exercise))
    except (OSError, ValueError, KeyError):
        pass
    found = bundle(exercise, hidden=True)
    try:
        Path(cache).parent.mkdir(exist_ok=True)
        tmp = Path(f"{cache}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found.to_json(mistakes=False), allow_nan=True), "utf-8")
        os.replace(tmp, cache)  # whole or not at all: kernels may run side by side
    except OSError:
        pass  # a read-only course: computed every time, still right
    return found


def _hidden_with_cache(root, name: str) -> Bundle:
    import jax

    import lrjax

    path = _declaration(root, name)
    key = hashlib.sha256(path.read_bytes())
    key.update(f"{FORMAT} {lrjax.__version__} {jax.__version__}".encode())
    cache = Path(root) / CACHE / f"{name}-{key.hexdigest()[:16]}.json"
    return _cached_hidden(str(path.resolve()), path.stat().st_mtime_ns, str(cache))


@functools.lru_cache(maxsize=64)
def _file_bundles(path: str, mtime_ns: int) -> dict:
    return read_checks(path)


def find_bundle(name: str, *, hidden: bool = False, course=None) -> Bundle:
    """The cases and answers a check of ``name`` uses.

    Visible cases come from ``checks.json`` in the working folder when it has
    ``name``; otherwise (and for ``hidden``) from the course's declarations: ``course``,
    or the course found above the working folder.

    Raises:
        FileNotFoundError: neither is there (the message says where to run from).
        KeyError: no exercise ``name``.
    """
    if course is None and not hidden:
        path = Path.cwd() / CHECKS_FILE
        if path.is_file():
            found = _file_bundles(str(path.resolve()), path.stat().st_mtime_ns)
            if name in found:
                return Bundle.from_json(found[name])
    root = course if course is not None else find_course()
    if root is None:
        where = (
            "the hidden cases are only in the instructor's course"
            if hidden
            else (f"no {CHECKS_FILE} in {os.getcwd()}: run the notebook from its assignment folder")
        )
        raise FileNotFoundError(f"Cannot check {name}: {where}")
    if hidden and course is None:  # a test cell's hidden check, e.g. under nbgrader autograde
        return _hidden_with_cache(root, name)
    return course_bundle(root, name, hidden=hidden)


def evaluate(name: str, fn, *, lang: str = "en", hidden: bool = False, course=None) -> Verdict:
    """Run every case of exercise ``name`` on ``fn`` in this process and judge the results.

    Args:
        name: the exercise, e.g. ``"compute_dz"``.
        fn: the student's implementation.
        lang: ``"en"`` or ``"uk"``.
        hidden: also run the hidden cases used at grading (instructor only).
        course: a course root to read the declaration from (default: ``checks.json``
            here, else the course above the working folder).

    Returns:
        The :class:`Verdict` (nothing is raised or printed).
    """
    found = find_bundle(name, hidden=hidden, course=course)
    outcomes = dict(run_cases([(fn, c) for c in found.all_cases]))
    return judge(found, [outcomes[i] for i in range(len(found.all_cases))], lang=lang)


class CheckFailed(AssertionError):
    """A check that did not pass; its message is the whole report (the diagnosis, the
    input, what was expected and what came back).

    IPython shows an exception through its ``_render_traceback_()`` when it has one. Here
    that is the message alone: the frames of the checking code above it would only push
    the diagnosis out of sight. A notebook, nbgrader's Validate, formgrader and the
    feedback HTML all show the error output's traceback lines, so all four show the
    message first. An error raised inside the student's function is reported in the
    message with the student's own lines (``at line 4, in compute_dz: ...``).
    """

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


def check(name: str, fn, *, lang: str = "en", hidden: bool = False, course=None) -> None:
    """The test cell's check: print the verdict when ``fn`` passes, else raise it.

    Returns None, so that a test cell shows nothing but the message.

    Raises:
        CheckFailed: (an AssertionError) with the diagnosis, if any case fails.
    """
    verdict = evaluate(name, fn, lang=lang, hidden=hidden, course=course)
    if not verdict.passed:
        raise CheckFailed(verdict.message)
    print(verdict.message)  # stdout only: nbgrader zeroes a test cell that writes to stderr


__all__ = [
    "CHECKS_FILE",
    "EXERCISES",
    "LANGS",
    "Bundle",
    "Catalogued",
    "CheckFailed",
    "Exercise",
    "Mistake",
    "Verdict",
    "bundle",
    "case",
    "check",
    "course_bundle",
    "evaluate",
    "exercise_paths",
    "find_bundle",
    "find_course",
    "find_exercise",
    "judge",
    "load_exercise",
    "load_exercises",
    "message",
    "reference",
    "write_checks",
]
