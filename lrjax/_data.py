"""Data: the embedded breast-cancer set, CSV/NPZ loading, standardising, a seeded split."""

import csv
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lrjax._labels import Label, encode_labels, floats


class Dataset(NamedTuple):
    """Features, labels and names, as NumPy arrays (convert with jnp.asarray).

    Attributes:
        X: (m, n) float64 features, one example per row.
        y: (m,) int labels in {0, 1}.
        feature_names: n column names.
        target: the name of the label column.
        classes: ``(label read as 0, label read as 1)``, the file's own labels:
            ``(0, 1)`` for a 0/1 column, e.g. ``('B', 'M')`` for the strings
            "B" and "M" with "M" as the positive class.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target: str
    classes: tuple[Label, Label] = (0, 1)


def load_breast_cancer() -> Dataset:
    """The Wisconsin diagnostic breast-cancer data shipped with lrjax.

    569 examples, 30 features; y = 1 for a malignant tumour, 0 for benign.
    Generated once from scikit-learn's bundled copy by scripts/make_dataset.py.
    """
    with resources.as_file(resources.files("lrjax") / "data" / "breast_cancer.csv") as path:
        return load_csv(path, target="malignant")


def load_csv(
    path: str | Path,
    *,
    target: str,
    positive: Label | None = None,
    drop: Iterable[str] = (),
) -> Dataset:
    """Load a CSV with a header row: one label column and numeric feature columns.

    Cells may be quoted (the ``csv`` module's dialect: ``"Smith, J"`` is one
    cell); surrounding spaces are ignored. A column with an empty name and only
    empty cells (what a trailing comma on every line makes) is left out.

    Args:
        path: the file, UTF-8 (a byte-order mark is allowed).
        target: name of the label column. It must hold exactly two distinct
            labels, numbers or strings (e.g. "M"/"B"); see ``positive``.
        positive: the label that becomes 1; the other becomes 0. Default: a
            0/1 column is kept as it is, and two other labels are sorted (as
            numbers when both are numbers) and the later one becomes 1.
        drop: names of columns to leave out (e.g. an id column), removed
            before anything else is checked.

    Returns:
        A ``Dataset``; ``classes`` records which label became 0 and which 1.

    Raises:
        ValueError: if the file is empty or ragged; ``target`` or a ``drop``
            name is not a column (or ``drop`` names the target); the label
            column has a missing label, one label, or more than two; or
            ``positive`` is not one of them; or a feature cell is not a number.
    """
    path = Path(path)
    header, lines, rows = _read_csv(path)
    header, rows = _drop_columns(path, header, rows, drop, target)
    if target not in header:
        raise ValueError(
            f"{path} has no column {target!r}; its columns are {header}: "
            "pass --target with one of them"
        )
    j = header.index(target)
    cells = np.array(rows, dtype=str).reshape(len(rows), len(header))
    names = tuple(h for i, h in enumerate(header) if i != j)
    X = _features(path, np.delete(cells, j, axis=1), names, lines)
    y, classes = encode_labels(cells[:, j], target, positive, lines)
    return Dataset(X, y, names, target, classes)


def _read_csv(path: Path) -> tuple[list[str], list[int], list[list[str]]]:
    """The stripped header, each row's line number, and the stripped rows (blank lines skipped)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty: expected a header row, then one row per example")
        lines, rows = [], []
        for row in reader:
            if row:
                lines.append(reader.line_num)
                rows.append([cell.strip() for cell in row])
    header = [h.strip() for h in header]
    for line, row in zip(lines, rows, strict=True):
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {line}: every row must have {len(header)} cells like the header, "
                f"got {len(row)}"
            )
    if not rows:
        raise ValueError(f"{path} has a header but no rows: expected one row per example")
    return header, lines, rows


def _drop_columns(path, header, rows, drop, target):
    """Remove the columns named in ``drop``, and blank unnamed ones; check the names first."""
    drop = set(_names(drop))
    unknown = sorted(drop - set(header))
    if unknown:
        raise ValueError(
            f"{path} has no column {', '.join(map(repr, unknown))} to drop; its columns are "
            f"{header}: pass --drop with some of them"
        )
    if target in drop:
        raise ValueError(
            f"{path}: cannot drop {target!r}, the --target label column: "
            "pass another --target, or leave it out of --drop"
        )
    keep = [
        i
        for i, name in enumerate(header)
        if name not in drop and (name or any(row[i] for row in rows))
    ]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]


def _features(path, cells: np.ndarray, names: Sequence[str], lines: Sequence[int]) -> np.ndarray:
    """The (m, n) feature cells as float64; the error names every non-numeric column."""
    if not names:
        raise ValueError(f"{path}: no feature columns are left besides the label: drop fewer")
    X = np.empty(cells.shape, np.float64)
    bad, examples = [], []
    for k, name in enumerate(names):
        X[:, k], i = floats(cells[:, k])
        if i >= 0:
            bad.append(name)
            examples.append(f"column {name!r} has {str(cells[i, k])!r} (line {lines[i]})")
    if bad:
        them = "it" if len(bad) == 1 else "them"
        raise ValueError(
            f"{path}: every feature cell must be a number, but {'; '.join(examples)}: "
            f"pass --drop {','.join(bad)} to leave {them} out, or encode {them} as numbers first "
            "(an empty cell is a missing value: fill it in or remove its row)"
        )
    return X


def load_npz(
    path: str | Path,
    *,
    target: str = "y",
    features: str = "X",
    positive: Label | None = None,
) -> Dataset:
    """Load an .npz holding a (m, n) feature array and a (m,) label array.

    Args:
        path: the file.
        target: key of the label array: numbers, bools or strings, with exactly
            two distinct values.
        features: key of the feature array.
        positive: the label that becomes 1, as for :func:`load_csv`.

    Returns:
        A ``Dataset`` with features named ``x0, x1, ...``.

    Raises:
        ValueError: if either key is missing, the features are not 2-D, or the
            labels are not two classes (as for :func:`load_csv`).
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
    y, classes = encode_labels(y, target, positive)
    return Dataset(X, y, names, target, classes)


def load(
    path: str | Path,
    *,
    target: str | None = None,
    positive: Label | None = None,
    drop: Iterable[str] = (),
) -> Dataset:
    """Load a .csv (target required) or .npz (target defaults to "y") by its suffix.

    Args:
        path: a ``.csv`` or ``.npz`` file.
        target: the label column (CSV, required) or array (NPZ).
        positive: the label that becomes 1 (see :func:`load_csv`).
        drop: CSV columns to leave out; must be empty for an .npz.

    Returns:
        The ``Dataset`` from :func:`load_csv` or :func:`load_npz`.

    Raises:
        ValueError: for another suffix, a CSV without ``target``, ``drop`` with
            an .npz, or any error of the two loaders.
    """
    path = Path(path)
    drop = _names(drop)
    if path.suffix == ".npz":
        if drop:
            raise ValueError(
                f"{path}: an .npz has no named columns to drop: leave out --drop, "
                "or save only the features you want"
            )
        return load_npz(path, target=target or "y", positive=positive)
    if path.suffix == ".csv":
        if target is None:
            raise ValueError(f"{path}: a CSV needs --target, the name of its label column")
        return load_csv(path, target=target, positive=positive, drop=drop)
    raise ValueError(f"{path}: expected a .csv or .npz file, got {path.suffix or 'no suffix'!r}")


def _names(drop: Iterable[str]) -> tuple[str, ...]:
    """``drop`` as a tuple of names; a single string is one name, not its letters."""
    return (drop,) if isinstance(drop, str) else tuple(drop)


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
