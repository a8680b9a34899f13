"""An exercise's cases with their right answers: what a check compares against.

A :class:`Bundle` is computed from a declaration in the trusted process (the reference
in float64, the catalogued mistakes on demand), or read from the ``checks.json`` that
ships beside a released notebook (visible cases only, every answer precomputed).
"""

import functools
import json
from dataclasses import dataclass, field, replace

import numpy as np

from grader.checks._exercise import Exercise
from grader.protocol import (
    Case,
    as_tree,
    case_dtype,
    case_from_wire,
    case_to_wire,
    run_case,
    tree_from_wire,
    tree_to_wire,
)

CHECKS_FILE = "checks.json"  # beside a released notebook: the visible cases of its exercises
FORMAT = 1


@dataclass(frozen=True)
class Catalogued:
    """A catalogued mistake's text (the wrong implementation stays in the declaration)."""

    name: str
    title: dict
    advice: dict
    hint: bool = False


@dataclass(eq=False)
class Bundle:
    """The cases of one exercise, the right answers, and the mistakes' answers.

    Attributes:
        name, args, leaf_names, formula, exact, tolerance, overrides: from the declaration.
        single: the function returns one array (not a tuple or dict of them).
        catalogue: the mistakes' names and texts, most specific first.
        cases: the graded cases, in order.
        wants: the right answer of each case (a tree of arrays).
        probes: the "trace" cases that reveal a Python loop (not graded).
    """

    name: str
    args: tuple[str, ...]
    leaf_names: tuple[str, ...]
    single: bool
    formula: str
    exact: tuple[str, ...]
    tolerance: dict
    overrides: dict
    catalogue: tuple[Catalogued, ...]
    cases: tuple[Case, ...]
    wants: tuple
    probes: tuple[Case, ...] = ()
    _mistakes: list = field(default_factory=list, repr=False)
    _impls: tuple = field(default=(), repr=False)

    @property
    def all_cases(self) -> tuple[Case, ...]:
        """What to run: the graded cases, then the probes."""
        return self.cases + self.probes

    def mistake_outputs(self, i: int, names=None) -> dict[str, list]:
        """``{mistake: [result of each implementation (a tree, or None if it raised)]}``
        for case ``i`` (only the mistakes in ``names``, when given), each computed the
        first time it is asked for."""
        done = self._mistakes[i]
        for name, fns in self._impls:
            if name not in done and (names is None or name in names):
                done[name] = [_run_trusted(fn, self.cases[i]).value for fn in fns]
        return {k: v for k, v in done.items() if names is None or k in names}

    def to_json(self, *, mistakes: bool = True) -> dict:
        """Everything a student's check needs, every mistake's answer included (or left
        to be computed on demand, ``mistakes=False``, for a cache beside the declarations)."""
        return {
            "name": self.name,
            "args": list(self.args),
            "returns": list(self.leaf_names),
            "single": self.single,
            "formula": self.formula,
            "exact": list(self.exact),
            "tolerance": {k: list(v) for k, v in self.tolerance.items()},
            "overrides": self.overrides,
            "catalogue": [vars(c) for c in self.catalogue],
            "cases": [
                {
                    "case": {**case_to_wire(c), "label": c.label},
                    "want": tree_to_wire(want),
                    **(
                        {
                            "mistakes": {
                                k: [tree_to_wire(v) for v in vs]
                                for k, vs in self.mistake_outputs(i).items()
                            }
                        }
                        if mistakes
                        else {}
                    ),
                }
                for i, (c, want) in enumerate(zip(self.cases, self.wants, strict=True))
            ],
            "probes": [{**case_to_wire(c), "label": c.label} for c in self.probes],
        }

    @classmethod
    def from_json(cls, data: dict, *, impls: tuple = ()) -> "Bundle":
        """The bundle :meth:`to_json` wrote; ``impls`` (from :func:`implementations`)
        computes the mistakes' answers that were not written."""
        rows = data["cases"]
        return cls(
            name=data["name"],
            args=tuple(data["args"]),
            leaf_names=tuple(data["returns"]),
            single=data["single"],
            formula=data["formula"],
            exact=tuple(data["exact"]),
            tolerance={k: tuple(v) for k, v in data["tolerance"].items()},
            overrides=data["overrides"],
            catalogue=tuple(Catalogued(**c) for c in data["catalogue"]),
            cases=tuple(case_from_wire(r["case"]) for r in rows),
            wants=tuple(tree_from_wire(r["want"]) for r in rows),
            probes=tuple(case_from_wire(w) for w in data["probes"]),
            _mistakes=[
                {k: [tree_from_wire(v) for v in vs] for k, vs in r.get("mistakes", {}).items()}
                for r in rows
            ],
            _impls=impls,
        )


def _static(args) -> tuple[int, ...]:
    """Positions of Python numbers: static under ``jax.jit`` (``steps`` is a loop count)."""
    return tuple(i for i, a in enumerate(args) if type(a) in (int, float))


def _run_trusted(fn, case: Case):
    """A catalogued mistake's result: compiled once (``jit``) rather than op by op, which
    is much faster for a whole training loop; called plainly if it cannot be compiled."""
    if case.mode == "vmap":
        return run_case(fn, case)
    outcome = run_case(fn, replace(case, mode="jit", static=_static(case.args)))
    return run_case(fn, replace(case, mode="call")) if outcome.error else outcome


@functools.lru_cache(maxsize=64)
def _compiled(fn, static: tuple[int, ...]):
    import jax

    return jax.jit(fn, static_argnums=static)


def _wide(arg):
    """A float array or NumPy scalar as a float64 JAX array; anything else unchanged."""
    import jax.numpy as jnp

    if isinstance(arg, (np.ndarray, np.generic)):
        arr = np.asarray(arg)
        return jnp.asarray(arr, jnp.float64 if arr.dtype.kind == "f" else arr.dtype)
    return arg


def _stack(trees: list):
    """One tree whose arrays are the per-example trees' arrays stacked on a new axis 0."""
    first = trees[0]
    if isinstance(first, tuple):
        return tuple(_stack([t[i] for t in trees]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([t[k] for t in trees]) for k in first}
    return np.stack([np.asarray(t) for t in trees])


def _cast(tree, dtype, exact: bool):
    """Float arrays of ``tree`` in ``dtype`` (the inputs'); exact values as they are."""
    if isinstance(tree, tuple):
        return tuple(_cast(t, dtype, exact) for t in tree)
    if isinstance(tree, dict):
        return {k: _cast(v, dtype, exact) for k, v in tree.items()}
    arr = np.asarray(tree)
    return arr if exact or arr.dtype.kind != "f" else arr.astype(dtype)


def reference(exercise: Exercise, case: Case):
    """The right answer of ``case``: the declaration's reference in float64, as a tree of
    NumPy arrays of the inputs' dtype (one array, or a tuple/dict of them).

    Raises:
        ValueError: the reference returned a different number of values than
            ``exercise.returns`` names.
    """
    import jax

    with jax.enable_x64(True):
        args = tuple(_wide(a) for a in case.args)
        if case.mode == "vmap":
            m = next(np.shape(a)[0] for a in args if np.ndim(a) > 0)
            fn = _compiled(exercise.reference, _static(args))
            rows = [as_tree(fn(*[a[i] if np.ndim(a) > 0 else a for a in args])) for i in range(m)]
            tree = _stack(rows)
        else:
            tree = as_tree(_compiled(exercise.reference, _static(args))(*args))
    names = exercise.leaf_names
    if isinstance(exercise.returns, str):
        if not isinstance(tree, np.ndarray):
            raise ValueError(f"{exercise.name}: the reference must return one array")
    elif not isinstance(tree, (tuple, dict)) or len(tree) != len(names):
        raise ValueError(f"{exercise.name}: the reference must return {len(names)} values")
    elif isinstance(tree, dict) and tuple(tree) != names:
        raise ValueError(f"{exercise.name}: the reference's keys must be {names}")
    dtype = case_dtype(case)
    if isinstance(tree, np.ndarray):
        return _cast(tree, dtype, names[0] in exercise.exact)
    if isinstance(tree, dict):
        return {k: _cast(v, dtype, k in exercise.exact) for k, v in tree.items()}
    return tuple(_cast(v, dtype, k in exercise.exact) for k, v in zip(names, tree, strict=True))


def bundle(exercise: Exercise, *, hidden: bool = False) -> Bundle:
    """The cases of ``exercise`` (visible, plus hidden when ``hidden``) with their answers."""
    cases = exercise.cases(hidden=hidden)
    return Bundle(
        name=exercise.name,
        args=exercise.args,
        leaf_names=exercise.leaf_names,
        single=isinstance(exercise.returns, str),
        formula=exercise.formula,
        exact=exercise.exact,
        tolerance=dict(exercise.tolerance),
        overrides=dict(exercise.overrides),
        catalogue=tuple(
            Catalogued(m.name, dict(m.title), dict(m.advice), m.hint) for m in exercise.mistakes
        ),
        cases=cases,
        wants=tuple(reference(exercise, c) for c in cases),
        probes=exercise.probes,
        _mistakes=[{} for _ in cases],
        _impls=implementations(exercise),
    )


def implementations(exercise: Exercise) -> tuple:
    """``((mistake, (function, ...)), ...)``: every catalogued wrong implementation,
    compiled (the hint's numbers are right: it is found by tracing, not by value)."""
    return tuple(
        (m.name, tuple(exercise.function(body) for body in (m.code, *m.also)))
        for m in exercise.mistakes
        if not m.hint
    )


def checks_json(bundles: list[Bundle]) -> dict:
    """The content of an assignment's ``checks.json``: its exercises' visible bundles."""
    return {"format": FORMAT, "exercises": {b.name: b.to_json() for b in bundles}}


def write_checks(path, bundles: list[Bundle]) -> None:
    """Write the ``checks.json`` of an assignment (:func:`checks_json`)."""
    data = checks_json(bundles)
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=True, sort_keys=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def read_checks(path) -> dict[str, dict]:
    """The exercises of a ``checks.json`` (JSON, turned into bundles on use).

    Raises:
        ValueError: a file of another format.
    """
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} has format {data.get('format')!r}, expected {FORMAT}")
    return data["exercises"]
