"""The sandbox protocol's codec: cases out, outcomes back, both sides in one place.

Cases go to the child as JSON (nested lists + dtype + shape; Python numbers marked).
Outcomes come back as JSON lines written by untrusted code: a value is a tree of arrays
(``{"seq": [...]}`` for a tuple, ``{"map": [[key, value], ...]}`` for a dict). Nothing
in them is trusted: :func:`handle_line`
turns any bytes into either an accepted message or a problem string (a protocol
violation of that submission), and never raises. :func:`value_from_wire` accepts only a
small array of plain numbers whose every value is kept exactly (nothing is truncated,
wrapped or rounded), and :func:`handle_line` refuses results sent before the cases,
with a wrong nonce, or twice.
"""

import json
import math
import re

import numpy as np

from ._case import Case, Outcome

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: what a gradient can be
_MAX_ELEMENTS = 1_000_000
_MAX_DIMS = 8
_MAX_LEAVES = 64  # arrays in one returned tree
_MAX_DEPTH = 4  # containers inside containers
# What ``arr.dtype.str`` gives for those kinds at 1-8 bytes; NumPy parses only these.
_DTYPE = re.compile(r"[<>|=]?[biuf][1248]")
_LEAF_TYPE = {"b": bool, "i": int, "u": int, "f": float}  # exact JSON types, bool is no int
_OUTCOME_KEYS = frozenset({"kind", "nonce", "i", "value", "type_name", "error"})
_MISSING = object()


def _arg_to_wire(a) -> dict:
    if type(a) in (int, float):  # not np.float64, a subclass of float: it is marked below
        return {"py": type(a).__name__, "value": a}
    if not isinstance(a, (np.ndarray, np.generic)) or np.asarray(a).dtype.kind not in "biuf":
        raise TypeError(f"a case argument must be an array or a number, not {type(a).__name__}")
    return {**_array_to_wire(a), "scalar": isinstance(a, np.generic)}


def _array_to_wire(a) -> dict:
    arr = np.asarray(a)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": arr.tolist()}


def case_to_wire(case: Case) -> dict:
    """A case as JSON-able data (NumPy scalars and Python numbers marked, so the child
    rebuilds exactly the same arguments)."""
    return {
        "function": case.function,
        "mode": case.mode,
        "static": list(case.static),
        "args": [_arg_to_wire(a) for a in case.args],
    }


def args_from_wire(wire: list) -> tuple:
    """The arguments :func:`case_to_wire` encoded (the child's side: the parent is trusted)."""
    out = []
    for a in wire:
        if "py" in a:
            out.append({"int": int, "float": float}[a["py"]](a["value"]))
        else:
            arr = np.asarray(a["data"], dtype=np.dtype(a["dtype"])).reshape(a["shape"])
            out.append(arr[()] if a.get("scalar") else arr)
    return tuple(out)


def case_from_wire(wire: dict) -> Case:
    """A case :func:`case_to_wire` encoded (trusted data: the parent's, or checks.json);
    the label only when the wire carries one (the child's copy needs none)."""
    args = args_from_wire(wire["args"])
    return Case(wire["function"], args, wire["mode"], wire.get("label", ""), tuple(wire["static"]))


def tree_to_wire(tree):
    """A tree of arrays (from :func:`grader.protocol.as_tree`) as JSON-able data."""
    if tree is None:
        return None
    if isinstance(tree, tuple):
        return {"seq": [tree_to_wire(x) for x in tree]}
    if isinstance(tree, dict):
        return {"map": [[k, tree_to_wire(v)] for k, v in tree.items()]}
    return _array_to_wire(tree)


def outcome_to_wire(outcome: Outcome, nonce: str, i: int) -> dict:
    """One result message, as the child sends it."""
    return {
        "kind": "outcome",
        "nonce": nonce,
        "i": i,
        "value": tree_to_wire(outcome.value),
        "type_name": str(outcome.type_name)[:200],
        "error": None if outcome.error is None else str(outcome.error)[:2000],
    }


def _short(obj) -> str:
    """A bounded description of an untrusted value, for messages."""
    return repr(obj[:40]) if isinstance(obj, str) else f"a value of type {type(obj).__name__}"


def _dtype(text) -> np.dtype:
    """The dtype named by ``text`` if it is a plain number type of at most 8 bytes."""
    if isinstance(text, str) and _DTYPE.fullmatch(text):
        try:
            dtype = np.dtype(text)
        except TypeError:  # "f1", "i3", ...
            pass
        else:
            if dtype.kind in _NUMERIC_KINDS and dtype.itemsize <= 8:
                return dtype
    raise ValueError(f"dtype {_short(text)} is not a plain number type")


def _leaves(data, shape: tuple) -> list:
    """The elements of nested lists ``data`` of exactly ``shape``, flattened in C order."""
    level = [data]
    for n in shape:
        if not all(type(x) is list and len(x) == n for x in level):
            raise ValueError(f"data does not match the declared shape {shape}")
        level = [x for sub in level for x in sub]
    return level


def _flat_array(leaves: list, dtype: np.dtype) -> np.ndarray:
    """``leaves`` as a 1-d array of ``dtype``, refusing any value that would change."""
    want = _LEAF_TYPE[dtype.kind]
    bad = next((x for x in leaves if type(x) is not want), _MISSING)
    if bad is not _MISSING:
        raise ValueError(f"{_short(bad)} in {dtype} data (expected {want.__name__})")
    if dtype.kind == "f":
        exact = np.array(leaves, dtype=np.float64)  # JSON floats are float64: no change
        with np.errstate(all="ignore"):  # overflow/underflow is caught just below
            arr = exact.astype(dtype)
        if not np.array_equal(arr, exact, equal_nan=True):
            raise ValueError(f"a value is out of range or not exact in {dtype}")
        return arr
    if dtype.kind in "iu" and leaves:
        info = np.iinfo(dtype)
        if min(leaves) < info.min or max(leaves) > info.max:
            raise ValueError(f"an integer is out of range for {dtype}")
    return np.array(leaves, dtype=dtype)  # bools, or ints already in range


def value_from_wire(wire) -> np.ndarray | None:
    """Rebuild an array the child sent, refusing anything but a small numeric array.

    Args:
        wire: ``{"dtype": str, "shape": [int, ...], "data": nested lists}`` or None, as
            ``json.loads`` made it. ``dtype`` is ``arr.dtype.str`` of kind b, i, u or f
            with at most 8 bytes; the data are bools, ints or floats (NaN and
            infinities included) to match.

    Returns:
        The array, with every value exactly as sent (None stays None).

    Raises:
        ValueError: other keys, another dtype, a bad shape, too many elements, data
            that do not match the shape, or a value of the wrong type, out of range or
            not exact in the dtype (1.5 or True for an int dtype, -1 for an unsigned
            one, 1e39 for float32).
    """
    if wire is None:
        return None
    if not isinstance(wire, dict) or set(wire) != {"dtype", "shape", "data"}:
        raise ValueError("expected {dtype, shape, data}")
    dtype = _dtype(wire["dtype"])
    shape = wire["shape"]
    if not (
        isinstance(shape, list)
        and len(shape) <= _MAX_DIMS
        and all(type(n) is int and 0 <= n <= _MAX_ELEMENTS for n in shape)
    ):
        raise ValueError(f"bad shape: expected at most {_MAX_DIMS} ints in [0, {_MAX_ELEMENTS}]")
    shape = tuple(shape)
    if math.prod(shape) > _MAX_ELEMENTS:
        raise ValueError(f"too many elements in shape {shape}")
    return _flat_array(_leaves(wire["data"], shape), dtype).reshape(shape)


def tree_from_wire(wire):
    """Rebuild a returned tree the child sent, refusing anything but a small tree of arrays.

    Args:
        wire: None, an array as :func:`value_from_wire` takes it, ``{"seq": [...]}`` or
            ``{"map": [[key, value], ...]}`` (string keys, no repeats), nested at most
            ``_MAX_DEPTH`` deep with at most ``_MAX_LEAVES`` arrays and
            ``_MAX_ELEMENTS`` numbers in all.

    Returns:
        None, an array, a tuple or a dict, with every value exactly as sent.

    Raises:
        ValueError: anything else.
    """
    if wire is None:
        return None
    budget = {"leaves": _MAX_LEAVES, "elements": _MAX_ELEMENTS}
    return _tree(wire, 0, budget)


def _tree(wire, depth: int, budget: dict):
    if isinstance(wire, dict) and set(wire) in ({"seq"}, {"map"}):
        if depth >= _MAX_DEPTH:
            raise ValueError(f"a result nested more than {_MAX_DEPTH} deep")
        if "seq" in wire:
            if not isinstance(wire["seq"], list):
                raise ValueError("seq must be a list")
            return tuple(_tree(x, depth + 1, budget) for x in wire["seq"])
        items = wire["map"]
        if not isinstance(items, list) or not all(
            isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str) for kv in items
        ):
            raise ValueError("map must be a list of [string key, value] pairs")
        keys = [kv[0] for kv in items]
        if len(set(keys)) != len(keys):
            raise ValueError("a key appears twice in a map")
        return {_text(k, 100): _tree(v, depth + 1, budget) for k, v in items}
    budget["leaves"] -= 1
    if budget["leaves"] < 0:
        raise ValueError(f"more than {_MAX_LEAVES} arrays in one result")
    arr = value_from_wire(wire)
    if arr is None:
        raise ValueError("null inside a result tree")
    budget["elements"] -= arr.size
    if budget["elements"] < 0:
        raise ValueError(f"more than {_MAX_ELEMENTS} numbers in one result")
    return arr


def _text(value, limit: int | None = None) -> str:
    """An untrusted string cut to ``limit`` characters and made valid UTF-8."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_short(value)}")
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def outcome_from_wire(msg: dict) -> Outcome:
    """Rebuild an :class:`Outcome` from one result message.

    Args:
        msg: ``{"kind", "nonce", "i", "value", "type_name", "error"}`` as the child
            sends it (kind, nonce and i are checked by :func:`handle_line`).

    Returns:
        The outcome; type_name is cut to 200 characters and error to 2000.

    Raises:
        ValueError: other keys, type_name not a string, error neither a string nor
            None, or a value :func:`value_from_wire` refuses.
    """
    if set(msg) != _OUTCOME_KEYS:
        raise ValueError(f"an outcome has exactly the fields {sorted(_OUTCOME_KEYS)}")
    error = msg["error"]
    return Outcome(
        value=tree_from_wire(msg["value"]),
        type_name=_text(msg["type_name"], 200),
        error=None if error is None else _text(error, 2000),
    )


def _cell_errors(msg: dict) -> dict[str, str]:
    """The ``{grade_id: error}`` of a "loaded" message, refusing any other layout."""
    errors = msg.get("errors")
    if set(msg) != {"kind", "errors"} or not isinstance(errors, list):
        raise ValueError('expected {"kind": "loaded", "errors": [...]}')
    out = {}
    for item in errors:
        if not (isinstance(item, dict) and set(item) == {"grade_id", "error"}):
            raise ValueError("each cell error must be {grade_id, error}")
        out[_text(item["grade_id"])] = _text(item["error"], 2000)
    return out


def handle_line(line: bytes, state: dict, nonce: str, loaded: bool, n: int):
    """Apply one result line from the child; never raises.

    Args:
        line: one line the child wrote, without its newline (bytes; str is accepted).
        state: the parent's record (``cell_errors``, ``outcomes``, ``done``); changed
            only when the line is accepted.
        nonce: the nonce sent with the cases.
        loaded: whether the "loaded" message has already been accepted.
        n: the number of cases.

    Returns:
        ``(problem, just_loaded)``: problem is None when the line was accepted, else why
        it is a protocol violation; just_loaded says the line was the "loaded" message.
    """
    try:
        msg = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
        if not isinstance(msg, dict):
            return f"a result must be a JSON object, not {_short(msg)}", False
        kind = msg.get("kind")
        if kind == "loaded" and not loaded:
            state["cell_errors"].update(_cell_errors(msg))
            return None, True
        if not loaded:
            return "a result arrived before the cases were sent (forged?)", False
        if kind == "loaded":
            return "the cells were reported loaded twice", False
        if msg.get("nonce") != nonce:
            return "a result with a wrong nonce (forged?)", False
        if kind == "done":
            if set(msg) != {"kind", "nonce"}:
                return "a done message has extra fields", False
            state["done"] = True
            return None, False
        if kind != "outcome":
            return f"unexpected message {_short(kind)}", False
        i = msg.get("i")
        if type(i) is not int or not 0 <= i < n:
            return f"bad case index: expected an int in [0, {n})", False
        if state["outcomes"][i] is not None:
            return f"case {i} answered twice (forged?)", False
        state["outcomes"][i] = outcome_from_wire(msg)
        return None, False
    # ValueError covers JSONDecodeError, UnicodeDecodeError and every refusal above;
    # the rest should not happen, but untrusted bytes must never crash the grader.
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        return f"malformed result ({type(exc).__name__}: {str(exc)[:200]})", False
