"""Data: the embedded breast-cancer set, CSV/NPZ loading, standardising, a seeded split."""

import csv
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Dataset(NamedTuple):
    """Features, labels and names, as NumPy arrays (convert with jnp.asarray).

    Attributes:
        X: (m, n) float64 features, one example per row.
        y: (m,) int labels in {0, 1}.
        feature_names: n column names.
        target: the name of the label column.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target: str


def load_breast_cancer() -> Dataset:
    """The Wisconsin diagnostic breast-cancer data shipped with lrjax.

    569 examples, 30 features; y = 1 for a malignant tumour, 0 for benign.
    Generated once from scikit-learn's bundled copy by scripts/make_dataset.py.
    """
    with resources.as_file(resources.files("lrjax") / "data" / "breast_cancer.csv") as path:
        return load_csv(path, target="malignant")


def load_csv(path: str | Path, *, target: str) -> Dataset:
    """Load a CSV with a header row; ``target`` names the 0/1 label column.

    Raises:
        ValueError: if the file has no such column, or a cell is not a number.
    """
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty: expected a header row, then one row per example")
        header = [h.strip() for h in header]
        if target not in header:
            raise ValueError(
                f"{path} has no column {target!r}; its columns are {header}: "
                "pass --target with one of them"
            )
        rows = [row for row in reader if row]
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {line}: every row must have {len(header)} cells like the header, "
                f"got {len(row)}"
            )
    try:
        table = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path}: every cell must be a number ({err})") from None
    if table.shape[0] == 0:
        raise ValueError(f"{path} has a header but no rows: expected one row per example")
    j = header.index(target)
    names = tuple(h for i, h in enumerate(header) if i != j)
    return Dataset(np.delete(table, j, axis=1), _labels(table[:, j], target), names, target)


def load_npz(path: str | Path, *, target: str = "y", features: str = "X") -> Dataset:
    """Load an .npz holding a (m, n) feature array and a (m,) label array.

    Raises:
        ValueError: if either key is missing.
    """
    path = Path(path)
    with np.load(path) as data:
        for key, flag in ((features, "features"), (target, "--target")):
            if key not in data:
                raise ValueError(
                    f"{path} has no array {key!r}; it holds {sorted(data.files)}: pass {flag}"
                )
        X, y = np.asarray(data[features], np.float64), data[target]
    if X.ndim != 2:
        raise ValueError(f"{path}: expected {features!r} of shape (m, n), got {X.shape}")
    names = tuple(f"x{i}" for i in range(X.shape[1]))
    return Dataset(X, _labels(np.ravel(y), target), names, target)


def load(path: str | Path, *, target: str | None = None) -> Dataset:
    """Load a .csv (target required) or .npz (target defaults to "y") by its suffix."""
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path, target=target or "y")
    if path.suffix == ".csv":
        if target is None:
            raise ValueError(f"{path}: a CSV needs --target, the name of its 0/1 label column")
        return load_csv(path, target=target)
    raise ValueError(f"{path}: expected a .csv or .npz file, got {path.suffix or 'no suffix'!r}")


def _labels(values: np.ndarray, name: str) -> np.ndarray:
    bad = np.unique(values[(values != 0) & (values != 1)])
    if bad.size:
        raise ValueError(
            f"Expected labels in {{0, 1}} in column {name!r}, found {bad[:5].tolist()}: "
            "recode the classes as 0 and 1"
        )
    return values.astype(np.int32)


def standardize(X_train, X_test=None):
    """Scale each feature to mean 0, standard deviation 1 using the training rows.

    Args:
        X_train: (m, n) training features (their statistics are used).
        X_test: optional (k, n) features scaled with the same statistics.

    Returns:
        ``X_train`` scaled, or ``(X_train, X_test)`` scaled when X_test is given.
        A constant feature is centred and left unscaled.
    """
    mean = jnp.mean(X_train, axis=0, keepdims=True)  # (1, n): explicit broadcasting
    std = jnp.std(X_train, axis=0, keepdims=True)
    std = jnp.where(std > 0, std, 1)
    scaled = (X_train - mean) / std
    return scaled if X_test is None else (scaled, (X_test - mean) / std)


def train_test_split(X, y, *, key: jax.Array, test_fraction: float = 0.2):
    """Shuffle the rows with ``key`` and hold out ``test_fraction`` of them.

    Returns:
        ``(X_train, X_test, y_train, y_test)``.

    Raises:
        ValueError: unless 0 < test_fraction < 1 and both parts are non-empty.
    """
    m = len(y)
    k = round(m * test_fraction)
    if not 0 < test_fraction < 1 or k == 0 or k == m:
        raise ValueError(
            f"Expected 0 < test_fraction < 1 leaving both parts non-empty, got {test_fraction} "
            f"with {m} examples: pass e.g. test_fraction=0.2"
        )
    order = np.asarray(jax.random.permutation(key, m))
    test, train = order[:k], order[k:]
    return X[train], X[test], y[train], y[test]
