"""The course's exercise declarations, as the tests use them (read once per process)."""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from grader.checks import course_bundle, load_exercises

COURSE = Path(__file__).resolve().parent.parent / "assignments"
EXERCISES = load_exercises(COURSE)
FIRST = ("compute_da", "compute_dz", "compute_dw", "compute_db")  # assignment 1
SECOND = ("compute_cost", "propagate", "gradient_descent", "predict")  # assignment 2
NAMES = FIRST + SECOND


def cases(name: str, *, hidden: bool = False):
    """The declared cases of exercise ``name``."""
    return EXERCISES[name].cases(hidden=hidden)


def bundle(name: str, *, hidden: bool = False):
    """The bundle the checks and the grader compare with."""
    return course_bundle(COURSE, name, hidden=hidden)


@functools.cache
def _solutions() -> dict:
    """Every solution defined in one namespace, as a notebook's cells define them
    (gradient_descent calls propagate)."""
    namespace = {"jax": jax, "jnp": jnp, "np": np}
    for ex in EXERCISES.values():
        exec(compile(ex.source(ex.solution), f"<{ex.name}>", "exec"), namespace)
    return namespace


def solution(name: str):
    """The declared solution of ``name`` as a function."""
    return _solutions()[name]


def mistakes():
    """``(exercise, mistake)`` for every catalogued mistake of the course."""
    return [(ex, m) for ex in EXERCISES.values() for m in ex.mistakes]
