"""Labels: a column of any two labels as 0/1, with errors that name the column and the fix."""

from collections.abc import Sequence

import numpy as np

Label = str | int | float


def floats(cells: np.ndarray) -> tuple[np.ndarray, int]:
    """Strings to float64, and the index of the first that is not a number (-1 if none)."""
    try:
        return cells.astype(np.float64), -1
    except ValueError:
        pass
    values = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        try:
            values[i] = float(cell)
        except ValueError:
            return values, i
    return values, -1


def encode_labels(
    values: np.ndarray,
    name: str,
    positive: Label | None = None,
    lines: Sequence[int] | None = None,
) -> tuple[np.ndarray, tuple[Label, Label]]:
    """Map a column with exactly two labels to int32 0/1.

    Args:
        values: the labels: strings (as read from a CSV) or numbers.
        name: the column's name, for the errors.
        positive: the label that becomes 1; by default the later of the two
            in sorted order (so a 0/1 column stays as it is).
        lines: each value's line in the file, for the errors; indices if None.

    Returns:
        ``(y, (label of 0, label of 1))``.

    Raises:
        ValueError: on a missing label, one label only, more than two, or a
            ``positive`` that is not one of them.
    """
    labels = _label_values(values, name, lines)
    classes = np.unique(labels)  # sorted: as numbers when every label is one
    shown = ", ".join(repr(_plain(c)) for c in classes[:10])
    if len(classes) == 1:
        raise ValueError(
            f"Expected two classes in column {name!r}, got one label only, {shown}, in all "
            f"{len(labels)} examples: pass another --target, or add examples of the other class"
        )
    if len(classes) > 2:
        more = ", ..." if len(classes) > 10 else ""
        raise ValueError(
            f"Expected two classes in column {name!r}, got {len(classes)} different labels "
            f"({shown}{more}): pass another --target, or recode the column as two classes "
            "(e.g. one class against all the others)"
        )
    one = classes[1] if positive is None else _find_positive(classes, positive, name)
    zero = classes[0] if one == classes[1] else classes[1]
    return (labels == one).astype(np.int32), (_plain(zero), _plain(one))


def _label_values(values, name: str, lines: Sequence[int] | None) -> np.ndarray:
    """Labels as float64 when every one is a number, else as stripped strings; none missing."""
    values = np.ravel(np.asarray(values))
    if values.dtype.kind == "b":
        values = values.astype(np.float64)
    if values.dtype.kind in "SU":
        text = np.char.strip(values.astype(str))
        _check_missing((text == "") | (np.char.lower(text) == "nan"), name, lines)
        numbers, bad = floats(text)
        return text if bad >= 0 else numbers
    if values.dtype.kind not in "iuf":
        raise ValueError(
            f"Expected numbers or strings as the labels {name!r}, got dtype {values.dtype}: "
            "save them as numbers or strings"
        )
    values = values.astype(np.float64)
    _check_missing(np.isnan(values), name, lines)
    return values


def _check_missing(missing: np.ndarray, name: str, lines: Sequence[int] | None) -> None:
    if missing.any():
        i = int(np.argmax(missing))
        where = f"line {lines[i]}" if lines is not None else f"index {i}"
        raise ValueError(
            f"Expected a label for every example in column {name!r}, got {int(missing.sum())} "
            f"empty or NaN (the first at {where}): fill them in or remove those rows"
        )


def _find_positive(classes: np.ndarray, positive: Label, name: str):
    """The element of ``classes`` equal to ``positive`` (compared as numbers if they are)."""
    if classes.dtype.kind == "f":
        try:
            want = float(positive)
        except (TypeError, ValueError):
            want = None
    else:
        want = str(positive).strip()
    for c in classes:
        if c == want:
            return c
    shown = ", ".join(repr(_plain(c)) for c in classes)
    raise ValueError(
        f"Expected --positive to be a label of column {name!r}, got {positive!r}; the column "
        f"holds {shown}: pass --positive with one of them"
    )


def _plain(label) -> Label:
    """A NumPy label as a plain str, int (for a whole number) or float."""
    if isinstance(label, str):
        return str(label)
    label = float(label)
    return int(label) if label.is_integer() else label
