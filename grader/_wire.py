"""The sandbox protocol's data, on the trusted side: cases out, outcomes back.

Cases go to the child as JSON (nested lists + dtype + shape). Outcomes come back as
JSON lines, and nothing in them is trusted beyond "a small array of plain numbers":
:func:`value_from_wire` refuses every other dtype, shape or size, and
:func:`handle_line` refuses results sent before the cases, with a wrong nonce, or twice.
"""

import json

import numpy as np

from grader._run import Outcome

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: what a gradient can be
_MAX_ELEMENTS = 1_000_000


def case_to_wire(case) -> dict:
    """A case as JSON-able data (NumPy scalars marked, so the child rebuilds them)."""

    def arg(a):
        arr = np.asarray(a)
        return {
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "data": arr.tolist(),
            "scalar": isinstance(a, np.generic),
        }

    return {"function": case.function, "mode": case.mode, "args": [arg(a) for a in case.args]}


def value_from_wire(wire) -> np.ndarray | None:
    """Rebuild an array the child sent, refusing anything but a small numeric array.

    Args:
        wire: ``{"dtype": str, "shape": [int, ...], "data": nested lists}`` or None.

    Returns:
        The array (None stays None).

    Raises:
        ValueError: a non-numeric dtype, a bad shape, too many elements, or data that
            does not match the declared shape.
    """
    if wire is None:
        return None
    if not isinstance(wire, dict) or set(wire) != {"dtype", "shape", "data"}:
        raise ValueError("expected {dtype, shape, data}")
    dtype = np.dtype(str(wire["dtype"]))
    if dtype.kind not in _NUMERIC_KINDS or dtype.itemsize > 8:
        raise ValueError(f"dtype {dtype} is not a plain number type")
    shape = wire["shape"]
    if not (
        isinstance(shape, list)
        and len(shape) <= 8
        and all(type(n) is int and 0 <= n <= _MAX_ELEMENTS for n in shape)
    ):
        raise ValueError(f"bad shape {shape!r}")
    if int(np.prod(shape, dtype=np.int64)) > _MAX_ELEMENTS:
        raise ValueError(f"too many elements in shape {shape}")
    arr = np.array(wire["data"], dtype=dtype)
    if arr.shape != tuple(shape):
        raise ValueError(f"data of shape {arr.shape} does not match declared {tuple(shape)}")
    return arr


def outcome_from_wire(msg) -> Outcome:
    """Rebuild an :class:`Outcome` from one validated result message."""

    type_name, error = msg.get("type_name", ""), msg.get("error")
    if not isinstance(type_name, str) or not (error is None or isinstance(error, str)):
        raise ValueError("type_name/error must be strings")
    return Outcome(value=value_from_wire(msg.get("value")), type_name=type_name[:200],
                   error=None if error is None else error[:2000])  # fmt: skip


def handle_line(line, state, nonce, loaded, n):
    """Apply one result line; return (problem or None, whether it was "loaded")."""
    try:
        msg = json.loads(line)
        kind = msg["kind"]
        if kind == "loaded" and not loaded:
            for item in msg["errors"]:
                state["cell_errors"][str(item["grade_id"])] = str(item["error"])[:2000]
            return None, True
        if not loaded or msg.get("nonce") != nonce:
            return "a result arrived before the cases were sent (forged?)", False
        if kind == "done":
            state["done"] = True
            return None, False
        i = msg["i"]
        if kind != "outcome" or type(i) is not int or not 0 <= i < n:
            return f"unexpected message {kind!r}", False
        if state["outcomes"][i] is not None:
            return f"case {i} answered twice (forged?)", False
        state["outcomes"][i] = outcome_from_wire(msg)
        return None, False
    except (ValueError, KeyError, TypeError, RecursionError, AttributeError) as exc:
        return f"malformed result ({type(exc).__name__}: {str(exc)[:200]})", False
