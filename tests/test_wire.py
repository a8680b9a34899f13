"""The sandbox protocol decoder: any bytes from the child are an outcome or a violation.

The child runs student code, so every line it sends may be forged. handle_line must
turn each into either an accepted message or a problem string, never raise (nor warn:
warnings are errors here), and change the parent's state only when it accepts a line.
"""

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.protocol._run import Outcome
from grader.protocol._wire import handle_line, value_from_wire

NONCE = "0123456789abcdef" * 2
N = 3
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _state() -> dict:
    return {"outcomes": [None] * N, "cell_errors": {}, "done": False}


def _line(msg) -> bytes:
    return json.dumps(msg, allow_nan=True).encode()


_DROP = object()  # a field to leave out


def _outcome(value=None, **fields) -> bytes:
    msg = {"kind": "outcome", "nonce": NONCE, "i": 0, "value": value}
    msg |= {"type_name": "numpy.ndarray", "error": None} | fields
    return _line({k: v for k, v in msg.items() if v is not _DROP})


def _value(dtype="<f8", shape=(), data=0.0) -> dict:
    return {"dtype": dtype, "shape": list(shape), "data": data}


def _assert_valid(result, state, loaded=True) -> None:
    """The contract: a problem and an untouched state, or an accepted, valid state."""
    problem, just_loaded = result
    assert isinstance(just_loaded, bool)
    if problem is not None:
        assert isinstance(problem, str) and problem
        assert not just_loaded
        assert state == _state()
        return
    if just_loaded:
        assert not loaded
    else:
        assert state["done"] or any(o is not None for o in state["outcomes"])
    for key, error in state["cell_errors"].items():
        assert isinstance(key.encode(), bytes) and isinstance(error.encode(), bytes)  # UTF-8
    for outcome in state["outcomes"]:
        if outcome is None:
            continue
        assert isinstance(outcome, Outcome)
        assert isinstance(outcome.type_name, str) and len(outcome.type_name) <= 200
        assert outcome.error is None or len(outcome.error) <= 2000
        value = outcome.value
        if value is not None:
            assert type(value) is np.ndarray
            assert value.dtype.kind in "biuf" and value.dtype.itemsize <= 8
            assert value.size <= 1_000_000


# (line, loaded, expected words of the problem)
MALFORMED = {
    # the line itself
    "invalid-utf8": (b'{"kind": "done", "nonce": "\xff"}', True, "UnicodeDecodeError"),
    "utf16": ('{"kind": "done"}'.encode("utf-16"), True, "UnicodeDecodeError"),
    "nul-byte": (b'{"kind": "done",\x00 "nonce": "x"}', True, "JSONDecodeError"),
    "empty": (b"", True, "JSONDecodeError"),
    "not-json": (b"hello", True, "JSONDecodeError"),
    "deep-nesting": (b"[" * 100_000, True, "RecursionError"),
    "int-too-long-to-parse": (b"1" * 5000, True, "integer string conversion"),
    "top-level-list": (b"[1, 2]", True, "must be a JSON object, not a value of type list"),
    "top-level-number": (b"3", True, "not a value of type int"),
    "top-level-string": (b'"outcome"', True, "not 'outcome'"),
    # order and identity
    "before-loaded": (_outcome(), False, "before the cases were sent"),
    "loaded-twice": (_line({"kind": "loaded", "errors": []}), True, "loaded twice"),
    "wrong-nonce": (_outcome(nonce="forged"), True, "wrong nonce"),
    "missing-nonce": (_outcome(nonce=_DROP), True, "wrong nonce"),
    "unknown-kind": (_outcome(kind="hello"), True, "unexpected message 'hello'"),
    "kind-a-list": (_outcome(kind=["outcome"]), True, "unexpected message a value of type list"),
    "done-extra-field": (_line({"kind": "done", "nonce": NONCE, "x": 1}), True, "extra fields"),
    "i-a-bool": (_outcome(i=True), True, "bad case index"),
    "i-a-float": (_outcome(i=0.0), True, "bad case index"),
    "i-negative": (_outcome(i=-1), True, "bad case index"),
    "i-too-big": (_outcome(i=N), True, "bad case index"),
    "i-huge": (_outcome(i=10**300), True, "bad case index"),
    "i-missing": (_outcome(i=_DROP), True, "bad case index"),
    # "loaded"
    "errors-not-a-list": (_line({"kind": "loaded", "errors": {}}), False, '"errors": [...]'),
    "errors-missing": (_line({"kind": "loaded"}), False, '"errors": [...]'),
    "loaded-extra-field": (_line({"kind": "loaded", "errors": [], "x": 1}), False, "errors"),
    "error-not-a-dict": (_line({"kind": "loaded", "errors": [1]}), False, "{grade_id, error}"),
    "error-extra-key": (
        _line({"kind": "loaded", "errors": [{"grade_id": "a", "error": "e", "x": 1}]}),
        False,
        "{grade_id, error}",
    ),
    "grade-id-not-str": (
        _line({"kind": "loaded", "errors": [{"grade_id": 1, "error": "e"}]}),
        False,
        "expected a string, got a value of type int",
    ),
    "error-text-a-list": (
        _line({"kind": "loaded", "errors": [{"grade_id": "a", "error": ["e"]}]}),
        False,
        "expected a string",
    ),
    # the outcome's other fields
    "outcome-extra-field": (_outcome(extra=1), True, "exactly the fields"),
    "outcome-missing-type-name": (_outcome(type_name=_DROP), True, "exactly the fields"),
    "type-name-not-str": (_outcome(type_name=7), True, "expected a string"),
    "error-not-str": (_outcome(error={"e": 1}), True, "expected a string"),
    # the value: layout
    "value-not-a-dict": (_outcome([1.0]), True, "expected {dtype, shape, data}"),
    "value-extra-key": (_outcome(_value() | {"x": 1}), True, "expected {dtype, shape, data}"),
    "value-missing-data": (_outcome({"dtype": "<f8", "shape": []}), True, "expected {dtype"),
    # the value: dtype
    "dtype-object": (_outcome(_value("|O")), True, "dtype '|O' is not a plain number"),
    "dtype-str": (_outcome(_value("<U3", data="abc")), True, "not a plain number"),
    "dtype-complex": (_outcome(_value("<c16")), True, "not a plain number"),
    "dtype-void": (_outcome(_value("|V8")), True, "not a plain number"),
    "dtype-structured": (_outcome(_value('[("a", "<f8")]')), True, "not a plain number"),
    "dtype-datetime": (_outcome(_value("<M8")), True, "not a plain number"),
    "dtype-timedelta": (_outcome(_value("<m8[s]")), True, "not a plain number"),
    "dtype-longdouble": (_outcome(_value("<f16")), True, "not a plain number"),
    "dtype-numpy-rejects": (_outcome(_value("<f1")), True, "dtype '<f1' is not a plain"),
    "dtype-trailing-newline": (_outcome(_value("<f8\n")), True, "not a plain number"),
    "dtype-not-a-string": (_outcome(_value(8)), True, "dtype a value of type int is not"),
    "dtype-python-type-name": (_outcome(_value("float")), True, "not a plain number"),
    # the value: shape
    "shape-negative": (_outcome(_value(shape=[-1], data=[])), True, "bad shape"),
    "shape-bool": (_outcome(_value(shape=[True], data=[1.0])), True, "bad shape"),
    "shape-float": (_outcome(_value(shape=[1.0], data=[1.0])), True, "bad shape"),
    "shape-not-a-list": (_outcome(_value() | {"shape": 3}), True, "bad shape"),
    "shape-huge-side": (_outcome(_value(shape=[10**7], data=[])), True, "bad shape"),
    "shape-9-dims": (_outcome(_value(shape=[1] * 9, data=[])), True, "bad shape"),
    "shape-too-many": (_outcome(_value(shape=[1000, 1000, 2], data=[])), True, "too many"),
    # 2**64 elements: an int64 product wraps to 0
    "shape-product-wraps": (_outcome(_value(shape=[65536] * 4, data=[])), True, "too many"),
    # the value: data against shape
    "data-too-long": (_outcome(_value(shape=[2], data=[1.0, 2.0, 3.0])), True, "does not match"),
    "data-ragged": (
        _outcome(_value(shape=[2, 2], data=[[1.0, 2.0], [1.0]])),
        True,
        "does not match the declared shape (2, 2)",
    ),
    "data-scalar-for-array": (_outcome(_value(shape=[1], data=1.0)), True, "does not match"),
    "data-list-for-scalar": (_outcome(_value(data=[1.0])), True, "type list in float64 data"),
    "data-too-deep": (_outcome(_value(shape=[1], data=[[1.0]])), True, "type list in float64"),
    "data-dict": (_outcome(_value(data={"a": 1.0})), True, "type dict in float64 data"),
    "data-string": (_outcome(_value(data="1.0")), True, "'1.0' in float64 data"),
    "data-null": (_outcome(_value(data=None)), True, "type NoneType in float64 data"),
    # the value: each number against the dtype
    "huge-int-into-i8": (_outcome(_value("<i8", data=10**30)), True, "out of range for int64"),
    "int-into-i1": (_outcome(_value("|i1", data=128)), True, "out of range for int8"),
    "negative-into-unsigned": (_outcome(_value("|u1", data=-1)), True, "out of range for uint8"),
    "u8-overflow": (_outcome(_value("<u8", data=2**64)), True, "out of range for uint64"),
    "fraction-into-int": (_outcome(_value("<i8", data=1.5)), True, "type float in int64 data"),
    "integral-float-into-int": (_outcome(_value("<i8", data=2.0)), True, "type float in int64"),
    "nan-into-int": (_outcome(_value("<i8", data=math.nan)), True, "type float in int64"),
    "bool-into-int": (_outcome(_value("<i8", data=True)), True, "type bool in int64 data"),
    "int-into-bool": (_outcome(_value("|b1", data=1)), True, "type int in bool data"),
    "int-into-float": (_outcome(_value("<f8", data=1)), True, "type int in float64 data"),
    "bool-into-float": (_outcome(_value("<f8", data=False)), True, "type bool in float64"),
    "overflow-float32": (_outcome(_value("<f4", data=1e39)), True, "out of range or not exact"),
    "overflow-float16": (_outcome(_value("<f2", data=70000.0)), True, "not exact in float16"),
    "rounded-float32": (_outcome(_value("<f4", data=0.1)), True, "not exact in float32"),
    "underflow-float16": (_outcome(_value("<f2", data=1e-10)), True, "not exact in float16"),
}


@pytest.mark.parametrize(("line", "loaded", "words"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_line_is_a_violation(line, loaded, words):
    state = _state()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy cast warning would surface here
        problem, just_loaded = handle_line(line, state, NONCE, loaded, N)
    assert problem is not None and words in problem
    assert not just_loaded
    assert state == _state()


def test_second_answer_to_a_case_is_a_violation():
    state = _state()
    assert handle_line(_outcome(_value(data=1.0)), state, NONCE, True, N) == (None, False)
    first = state["outcomes"][0]
    problem, _ = handle_line(_outcome(_value(data=2.0)), state, NONCE, True, N)
    assert problem == "case 0 answered twice (forged?)"
    assert state["outcomes"][0] is first


def test_a_bad_cell_error_leaves_the_others_unrecorded():
    errors = [{"grade_id": "a", "error": "e"}, {"grade_id": "b", "error": None}]
    state = _state()
    problem, _ = handle_line(_line({"kind": "loaded", "errors": errors}), state, NONCE, False, N)
    assert "expected a string" in problem
    assert state["cell_errors"] == {}


def test_a_whole_conversation_is_recorded():
    state = _state()
    errors = [{"grade_id": "cell-a", "error": "SyntaxError: x" * 500}]
    loaded = _line({"kind": "loaded", "errors": errors})
    assert handle_line(loaded, state, NONCE, False, N) == (None, True)
    assert state["cell_errors"] == {"cell-a": ("SyntaxError: x" * 500)[:2000]}
    raised = _outcome(i=1, type_name="", error="ValueError: \ud800")
    assert handle_line(raised, state, NONCE, True, N) == (None, False)
    assert state["outcomes"][1] == Outcome(None, "", "ValueError: ?")  # made valid UTF-8
    done = _line({"kind": "done", "nonce": NONCE})
    assert handle_line(done, state, NONCE, True, N) == (None, False)
    assert state["done"]
    assert state["outcomes"][0] is None and state["outcomes"][2] is None


VALID = {
    "float32-2d": np.array([[1.5, -2.25], [3.0, 1e-30]], np.float32),
    "float64-edges": np.array([0.1, -0.0, 1e300, 5e-324], np.float64),
    "float32-scalar": np.float32(3.5),
    "float64-scalar": np.float64(-7.0),
    "nan-inf-float32": np.array([np.nan, np.inf, -np.inf], np.float32),
    "nan-0d": np.array(np.nan),
    "bool": np.array([True, False]),
    "bool-scalar": np.True_,
    "int64-limits": np.array([-(2**63), 2**63 - 1], np.int64),
    "uint64-limits": np.array([0, 2**64 - 1], np.uint64),
    "int8-limits": np.array([-128, 127], np.int8),
    "float16-edges": np.array([65504.0, 6e-8], np.float16),
    "empty-2d": np.zeros((0, 3), np.float32),
    "big-endian": np.array([1.0, 2.0], ">f4"),
}


@pytest.mark.parametrize("arr", VALID.values(), ids=VALID.keys())
def test_value_round_trips_exactly(arr):
    arr = np.asarray(arr)
    wire = {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": arr.tolist()}
    state = _state()
    assert handle_line(_outcome(wire), state, NONCE, True, N) == (None, False)
    got = state["outcomes"][0].value
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, arr, strict=True)  # dtype and shape too
    if arr.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(arr))  # -0.0 kept


def test_value_none_stays_none():
    assert value_from_wire(None) is None


@FUZZ
@given(
    hnp.arrays(
        st.sampled_from(["|b1", "|i1", "|u1", "<i4", "<i8", "<u8", "<f2", "<f4", "<f8"]).map(
            np.dtype
        ),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    )
)
def test_any_honest_array_round_trips(arr):
    wire = {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": arr.tolist()}
    state = _state()
    assert handle_line(_outcome(wire), state, NONCE, True, N) == (None, False)
    got = state["outcomes"][0].value
    assert got.dtype == arr.dtype and got.shape == arr.shape
    assert np.array_equal(got, arr, equal_nan=arr.dtype.kind == "f")


@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_handle_line_never_raises_on_bytes(line, loaded):
    state = _state()
    _assert_valid(handle_line(line, state, NONCE, loaded, N), state, loaded)


@FUZZ
@given(st.data())
def test_handle_line_never_raises_on_damaged_lines(data):
    """A valid line with bytes replaced or inserted (invalid UTF-8, NULs, broken JSON)."""
    line = bytearray(_outcome(_value("<f8", [2], [1.5, float("nan")])))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=len(line) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=255))
        if data.draw(st.booleans()):
            line[at] = byte
        else:
            line.insert(at, byte)
    state = _state()
    _assert_valid(handle_line(bytes(line), state, NONCE, True, N), state)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)
DTYPES = st.sampled_from(["|b1", "<i8", "|u1", "<u8", "<f2", "<f4", "<f8", ">f8", "|V8", "<M8"])
SCALARS = (
    st.booleans(),
    st.integers(min_value=-300, max_value=300),
    st.integers(),  # huge ones too
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(width=32),
    JSON,
)


def _nest(flat: list, shape: list):
    """``flat`` (C order) as nested lists of ``shape``."""
    if not shape:
        return flat[0]
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[k * step : (k + 1) * step], shape[1:]) for k in range(shape[0])]


@st.composite
def _shaped(draw, shape):
    """Nested lists of ``shape`` whose leaves all come from one (random) scalar strategy."""
    leaf = draw(st.sampled_from(SCALARS))
    return _nest([draw(leaf) for _ in range(math.prod(shape))], shape)


@st.composite
def _plausible_value(draw):
    """A value wire, often well-formed, often a little wrong."""
    shape = draw(st.lists(st.integers(min_value=0, max_value=3), max_size=3))
    wire = {"dtype": draw(DTYPES), "shape": shape, "data": draw(_shaped(shape))}
    key = draw(st.sampled_from([None, "dtype", "shape", "data"]))
    if key is not None and draw(st.booleans()):
        wire[key] = draw(JSON)
    return wire


PLAUSIBLE_VALUE = _plausible_value()


@FUZZ
@given(value=st.none() | PLAUSIBLE_VALUE | JSON)
def test_handle_line_never_raises_on_plausible_values(value):
    state = _state()
    _assert_valid(handle_line(_outcome(value), state, NONCE, True, N), state)


@FUZZ
@given(
    value=st.none() | PLAUSIBLE_VALUE,
    i=st.sampled_from([0, N - 1, N, -1, True, None]) | JSON,
    type_name=st.just("float") | JSON,
    error=st.none() | st.text() | JSON,
)
def test_handle_line_never_raises_on_plausible_outcomes(value, i, type_name, error):
    state = _state()
    line = _outcome(value, i=i, type_name=type_name, error=error)
    _assert_valid(handle_line(line, state, NONCE, True, N), state)


@FUZZ
@given(msg=JSON | st.fixed_dictionaries({"kind": st.just("loaded"), "errors": JSON}))
def test_handle_line_never_raises_on_any_json(msg):
    for loaded in (False, True):
        state = _state()
        _assert_valid(handle_line(_line(msg), state, NONCE, loaded, N), state, loaded)
