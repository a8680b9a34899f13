"""NumPy references and data shared by several test files (written once, used by each)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

MISTAKES = Path(__file__).parent / "fixtures" / "mistakes"


def synthetic_data(m: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded logistic problem: X (m, n) standard normal, y (m,) int32 drawn from σ(X·w + 0.3)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ np.linspace(1, -1, n) + 0.3)))).astype(np.int32)
    return X, y


def numpy_gd(X, y, lr: float, steps: int) -> tuple[np.ndarray, float, np.ndarray]:
    """The lecture's update, averaged over m, in float64 NumPy: (w, b, cost before each step)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    w, b = np.zeros(X.shape[1]), 0.0
    history = []
    for _ in range(steps):
        z = X @ w + b
        history.append(np.mean(np.logaddexp(0, z) - y * z))
        dz = 1 / (1 + np.exp(-z)) - y
        w, b = w - lr * X.T @ dz / len(y), b - lr * dz.mean()
    return w, b, np.array(history)


def read_mistake(path: Path) -> tuple[str, str, str]:
    """(function, diagnosis, code) from a fixture's ``# function:`` and ``# mistake:`` lines."""
    code = path.read_text(encoding="utf-8")
    head = dict(
        line[2:].split(": ", 1)
        for line in code.splitlines()
        if line.startswith(("# function:", "# mistake:"))
    )
    return head["function"], head["mistake"], code


def run_python(code: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run Python code (dedented) in a fresh interpreter on JAX's CPU backend; rc is not checked."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
