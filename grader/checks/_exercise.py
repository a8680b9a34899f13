"""The declaration of an exercise, and where a course keeps them.

A course keeps one file per exercise in ``<course>/exercises/<name>.py``; each defines
``EXERCISE = Exercise(...)``: the signature, the reference (through lrjax's public
API), the visible and hidden cases, the tolerances, the solution for the notebook and
the catalogue of mistakes. Nothing in ``grader`` names an exercise: the checks, the
secure grader, the notebook builder and the tests all read these declarations.
"""

import functools
import os
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from grader.protocol import Case

EXERCISES = "exercises"  # the folder of declarations under a course root
TOLERANCE = {"float32": (1e-5, 1e-10), "float64": (1e-9, 1e-14)}  # (rtol, atol)


def case(*args, mode: str = "call", label: str = "", static: tuple[int, ...] = ()) -> Case:
    """A case for a declaration; the exercise fills in the function's name.

    Args:
        *args: the arguments, in the order of ``Exercise.args``.
        mode: ``"call"``, ``"jit"`` or ``"vmap"`` (see :class:`grader.protocol.Case`).
        label: a short name for logs and test ids (defaults to the position).
        static: positions ``jax.jit`` keeps static (Python ints).
    """
    return Case("", tuple(args), mode, label, tuple(static))


@dataclass(frozen=True)
class Mistake:
    """A catalogued mistake: a wrong implementation, its name and what to tell the student.

    A failing answer whose result (or one of its values) equals what ``code`` (or one of
    ``also``) returns is told ``title`` and ``advice`` in its language. ``code`` is also
    the test fixture: put in a notebook and graded, it must be diagnosed as this mistake
    and lose exactly the exercise's points.

    Attributes:
        name: an identifier, e.g. ``"dz_as_da"``.
        code: the body of the wrong implementation, as a student would write it (with
            ``jax``, ``jnp`` and ``np`` imported, as in the notebook's setup cell).
        title: ``{"en": ..., "uk": ...}``: the mistake's name, one short phrase.
        advice: ``{"en": ..., "uk": ...}``: what to change. ``{formula_sentence}``
            is replaced by the exercise's formula.
        also: bodies of other implementations of the same mistake.
        hint: the numbers are right (a Python loop over the examples): named after a
            pass, no points lost. Found with the exercise's ``probes``.
    """

    name: str
    code: str
    title: dict
    advice: dict
    also: tuple[str, ...] = ()
    hint: bool = False


@dataclass(frozen=True)
class Exercise:
    """One function a student writes, and everything needed to check it.

    Attributes:
        name: the function's name in the notebook, e.g. ``"propagate"``.
        args: the parameter names, e.g. ``("w", "b", "X", "Y")``.
        returns: the name of the result (``"dz"``) or of each value of a returned
            tuple (``("dw", "db", "cost")``); feedback names the values.
        reference: computes the right answer from the arguments of one call (float64
            inputs); it should use lrjax's public API.
        visible: the cases a student's check runs (shipped with the notebook).
        hidden: the cases added at grading (never shipped).
        formula: the formula, shown in feedback, e.g. ``"dz = a - y"``.
        doc: the docstring in the notebook, ``{"en": ..., "uk": ...}``.
        solution: the body of a right answer (indented by the builder).
        points: the test cell's points.
        mistakes: the catalogue, most specific first.
        stub: lines students see above the solution (e.g. a comment), or "".
        exact: names of returned values compared exactly and of any number type
            (labels 0/1).
        tolerance: ``{"float32": (rtol, atol), "float64": (rtol, atol)}``.
        overrides: the exercise's own title or advice for a generic diagnosis,
            ``{"wrong_shape": {"advice": {"en": ..., "uk": ...}}}``.
        probes: two ``"trace"`` cases of growing size; if the student's function
            records more operations for the larger one, it loops over the examples
            in Python (the mistake with ``hint=True`` is named).
    """

    name: str
    args: tuple[str, ...]
    returns: str | tuple[str, ...]
    reference: Callable
    visible: tuple[Case, ...]
    hidden: tuple[Case, ...]
    formula: str
    doc: dict
    solution: str
    points: float
    mistakes: tuple[Mistake, ...] = ()
    stub: str = ""
    exact: tuple[str, ...] = ()
    tolerance: dict = field(default_factory=lambda: dict(TOLERANCE))
    overrides: dict = field(default_factory=dict)
    probes: tuple[Case, ...] = ()

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Exercise name {self.name!r} is not a Python identifier")
        for attr in ("visible", "hidden", "probes"):
            named = tuple(replace(c, function=self.name) for c in getattr(self, attr))
            object.__setattr__(self, attr, named)
        for c in (*self.visible, *self.hidden):
            if len(c.args) != len(self.args):
                raise ValueError(
                    f"{self.name}: case {c.label!r} has {len(c.args)} arguments, "
                    f"expected {len(self.args)} ({', '.join(self.args)})"
                )
        if self.probes and (len(self.probes) != 2 or any(p.mode != "trace" for p in self.probes)):
            raise ValueError(f"{self.name}: probes are two cases with mode='trace'")
        names = [m.name for m in self.mistakes]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a mistake name appears twice in {names}")
        if sum(m.hint for m in self.mistakes) > 1 or (
            any(m.hint for m in self.mistakes) and not self.probes
        ):
            raise ValueError(f"{self.name}: at most one hint mistake, and it needs probes")
        for m in self.mistakes:
            for part in ("title", "advice"):
                if not isinstance(getattr(m, part), dict) or not getattr(m, part):
                    raise ValueError(f"{self.name}: mistake {m.name!r} needs {part} per language")
        unknown = set(self.exact) - set(self.leaf_names)
        if unknown:
            raise ValueError(f"{self.name}: exact names {sorted(unknown)} are not returned")

    @property
    def leaf_names(self) -> tuple[str, ...]:
        """The names of the returned values, in order (one name for a single result)."""
        return (self.returns,) if isinstance(self.returns, str) else tuple(self.returns)

    def cases(self, *, hidden: bool = False) -> tuple[Case, ...]:
        """The visible cases, followed by the hidden ones when ``hidden``."""
        return self.visible + (self.hidden if hidden else ())

    def signature(self) -> str:
        """``"name(a, y)"``."""
        return f"{self.name}({', '.join(self.args)})"

    def source(self, body: str) -> str:
        """A whole function with this signature and ``body`` (the solution, a mistake)."""
        return f"def {self.signature()}:\n{textwrap.indent(body, '    ')}\n"

    def function(self, body: str) -> Callable:
        """``body`` compiled into a function, as the notebook would define it."""
        import jax
        import jax.numpy as jnp

        namespace = {"jax": jax, "jnp": jnp, "np": np, "__name__": f"exercise {self.name}"}
        exec(compile(self.source(body), f"<{self.name}>", "exec"), namespace)
        return namespace[self.name]


def find_course(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working folder) that holds
    ``nbgrader_config.py`` and an ``exercises/`` folder, or None."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / EXERCISES).is_dir() and (folder / "nbgrader_config.py").is_file():
            return folder
    return None


def _module_name(path: Path) -> str:
    return f"_lrjax_exercise_{abs(hash(str(path))):x}_{path.stem}"


def load_exercise(path: str | os.PathLike) -> Exercise:
    """Import one declaration file and return its ``EXERCISE`` (imported again only
    when the file changes).

    Raises:
        ValueError: the file defines no ``EXERCISE``, or its name is not the file's stem.
    """
    path = Path(path).resolve()
    stat = path.stat()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _load(path: str, mtime_ns: int, size: int) -> Exercise:
    path = Path(path)
    name = _module_name(path)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses look their module up by name
    try:  # compiled here, not imported: no __pycache__ is written into the course
        code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    exercise = getattr(module, "EXERCISE", None)
    if not isinstance(exercise, Exercise):
        raise ValueError(f"{path} must define EXERCISE = grader.Exercise(...)")
    if exercise.name != path.stem:
        raise ValueError(
            f"{path} declares {exercise.name!r}: name the file {exercise.name}.py "
            "(one exercise per file, named after its function)"
        )
    return exercise


def exercise_paths(course: str | os.PathLike) -> dict[str, Path]:
    """``{name: path}`` of every declaration under ``course/exercises`` (sorted)."""
    folder = Path(course) / EXERCISES
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist: a course keeps one file per exercise in {EXERCISES}/"
        )
    return {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}


def load_exercises(course: str | os.PathLike) -> dict[str, Exercise]:
    """Every exercise of a course, by name."""
    return {name: load_exercise(path) for name, path in exercise_paths(course).items()}


def find_exercise(course: str | os.PathLike, name: str) -> Exercise:
    """The exercise ``name`` of ``course``.

    Raises:
        KeyError: no such declaration (the message lists the ones there are).
    """
    paths = exercise_paths(course)
    if name not in paths:
        raise KeyError(
            f"No exercise {name!r} in {Path(course) / EXERCISES}: "
            f"the course declares {', '.join(sorted(paths)) or 'none'}"
        )
    return load_exercise(paths[name])
