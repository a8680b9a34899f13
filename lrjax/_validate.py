"""Checks at the public boundary, with messages that name the fix.

Shape checks read only static shapes, so they run once while a function is
traced and cost nothing inside ``jit``. Value checks (labels in {0, 1}, finite
features) need concrete arrays; under a transformation they are skipped.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from lrjax._solver import MOMENTA
from lrjax._types import Params


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _shape(x) -> tuple:
    return tuple(np.shape(x))


def check_params(params) -> None:
    """Raise ``ValueError`` unless ``params`` is ``Params(w: (n,), b: ())``."""
    if not isinstance(params, Params):
        raise ValueError(
            f"Expected params to be lrjax.Params(w, b), got {type(params).__name__}: "
            "build it with lrjax.Params(w=jnp.zeros(n), b=jnp.zeros(()))"
        )
    w_shape, b_shape = _shape(params.w), _shape(params.b)
    if len(w_shape) != 1:
        fix = "pass w.ravel()" if len(w_shape) == 2 and 1 in w_shape else "w must be 1-D"
        raise ValueError(f"Expected params.w of shape (n,), got {w_shape}: {fix}")
    if b_shape != ():
        raise ValueError(
            f"Expected params.b of shape () (a scalar), got {b_shape}: pass b.reshape(())"
        )
    _check_floating("params.w", params.w)
    _check_floating("params.b", params.b)


def _check_floating(name: str, x) -> None:
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"Expected {name} to hold floating-point numbers, got dtype {dtype}: "
            f"pass {name.split('.')[-1]}.astype(jnp.float32)"
        )


def check_x(x, n: int, *, name: str = "x") -> None:
    """Raise unless ``x`` is one example (n,) or a batch (m, n) of floats."""
    shape = _shape(x)
    if len(shape) not in (1, 2):
        raise ValueError(
            f"Expected {name} of shape (n,) = ({n},) for one example or (m, n) for a batch, "
            f"got {shape}: reshape it to (m, {n})"
        )
    if shape[-1] != n:
        hint = (
            f": pass {name}.T (lrjax stores one example per row)"
            if len(shape) == 2 and shape[0] == n
            else f": {name} must have one column per weight"
        )
        raise ValueError(f"Expected {name} with {n} features (last axis), got shape {shape}{hint}")
    _check_floating(name, x)
    if _is_concrete(x) and not bool(np.isfinite(np.asarray(x)).all()):
        bad = int((~np.isfinite(np.asarray(x))).sum())
        raise ValueError(
            f"Expected finite values in {name}, found {bad} NaN or infinite entries: "
            "drop or impute those rows first"
        )


def check_y(y, x, *, name: str = "y") -> None:
    """Raise unless ``y`` has one label in {0, 1} per example of ``x``."""
    x_shape, y_shape = _shape(x), _shape(y)
    expected = x_shape[:-1]
    if y_shape != expected:
        if len(expected) == 1:
            want = f"(m,) = {expected}"
            fix = (
                f"pass {name}.ravel()"
                if math.prod(y_shape) == expected[0]
                else (f"{name} needs one label per row of x")
            )
        else:
            want = "() (a scalar) for one example"
            fix = (
                f"pass {name}.reshape(())"
                if math.prod(y_shape) == 1
                else ("one example takes one label")
            )
        raise ValueError(f"Expected {name} of shape {want}, got {y_shape}: {fix}")
    if _is_concrete(y):
        values = np.asarray(y)
        bad = ~((values == 0) | (values == 1))
        if bad.any():
            shown = np.unique(values[bad])[:5].tolist()
            raise ValueError(
                f"Expected labels in {{0, 1}} in {name}, found {shown}: "
                f"map the classes to 0 and 1, e.g. ({name} == positive_class).astype(int)"
            )


def check_positive(name: str, value, *, integer: bool = False) -> None:
    """Raise unless ``value`` is a positive (integer) number."""
    if integer:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(
                f"Expected {name} to be a positive int, got {value!r}: pass e.g. {name}=1000"
            )
    if _is_concrete(value):
        v = float(np.asarray(value))
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(
                f"Expected {name} > 0, got {value!r}: pass a positive value, e.g. "
                f"{name}={'1000' if integer else '0.1'}"
            )


# NumPy arrays of at least this many bytes reach JAX's CPU device through an aligned copy.
ALIGNED_MIN_BYTES = 1 << 20
ALIGN = 64  # what XLA:CPU needs to use a host buffer in place


def as_device_array(X) -> jax.Array:
    """X as a jax array. A large floating NumPy array bound for the CPU is copied by NumPy
    into a buffer aligned to 64 bytes, which JAX then uses in place.

    ``jnp.asarray`` copies such an array itself, about ten times slower than NumPy's
    copy (146 against 14 ms at 200 000 x 100 float64 on the 2-core machine measured):
    XLA:CPU can only use a host buffer in place when it is 64-byte aligned, and
    NumPy's large arrays are aligned to 16. The copy belongs to the returned array
    alone, so changing X afterwards does not change it.
    """
    if (
        not isinstance(X, np.ndarray)
        or X.nbytes < ALIGNED_MIN_BYTES
        or not np.issubdtype(X.dtype, np.floating)
        or jax.default_backend() != "cpu"
    ):
        return jnp.asarray(X)
    dtype = jax.dtypes.canonicalize_dtype(X.dtype)
    nbytes = X.size * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, np.uint8)
    offset = -raw.ctypes.data % ALIGN
    out = raw[offset : offset + nbytes].view(dtype).reshape(X.shape)
    np.copyto(out, X, casting="same_kind")
    try:
        return jax.device_put(out, may_alias=True)
    except TypeError:  # a JAX before may_alias: it copies, from an aligned buffer at least
        return jnp.asarray(out)


def check_matrix(X) -> jax.Array:
    """X as a 2-D jax array of finite floats, one example per row.

    Raises:
        ValueError: X not 2-D, not floating point, or not finite.
    """
    X = as_device_array(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected X of shape (m, n), got {X.shape}: "
            + ("pass X.reshape(1, -1) for one example" if X.ndim == 1 else "reshape it to (m, n)")
        )
    check_x(X, X.shape[1], name="X")
    return X


def check_fit_inputs(X, y, learning_rate, steps, init, *, steps_name: str = "steps"):
    """Validate the arguments shared by the fit functions.

    Returns:
        ``(X, y, init)``: X as a 2-D jax array, y in X's dtype, and ``init``
        (zeros of X's dtype when None).
    """
    X = check_matrix(X)
    check_y(y, X)
    check_positive("learning_rate", learning_rate)
    if steps is not None:
        check_positive(steps_name, steps, integer=True)
    if init is None:
        init = Params(w=jnp.zeros(X.shape[1], X.dtype), b=jnp.zeros((), X.dtype))
    else:
        check_params(init)
        check_x(X, init.w.shape[0], name="X")
        if init.w.dtype != X.dtype:
            raise ValueError(
                f"Expected init in X's dtype {X.dtype}, got {init.w.dtype}: "
                f"pass Params(init.w.astype(X.dtype), init.b.astype(X.dtype))"
            )
    return X, jnp.asarray(y).astype(X.dtype), init


def check_options(learning_rate, momentum, tol) -> None:
    """Validate fit's solver options: α (a number or "auto"), momentum and tol."""
    if isinstance(learning_rate, str):
        if learning_rate != "auto":
            raise ValueError(
                f"Expected learning_rate to be a positive number or 'auto', got "
                f"{learning_rate!r}: pass e.g. learning_rate=0.1 or learning_rate='auto'"
            )
    if momentum not in MOMENTA:
        raise ValueError(
            f"Unknown momentum {momentum!r}: pass momentum=None (the lecture's update) "
            "or momentum='nesterov'"
        )
    if tol is not None:
        check_positive("tol", tol)


def check_weights(sample_weight, X):
    """``sample_weight`` as an (m,) array in X's dtype, or None.

    Raises:
        ValueError: not of shape (m,), not finite, negative, or summing to 0.
    """
    if sample_weight is None:
        return None
    s = jnp.asarray(sample_weight)
    m = X.shape[0]
    if s.shape != (m,):
        fix = "pass sample_weight.ravel()" if s.size == m else f"pass one weight per example ({m})"
        raise ValueError(f"Expected sample_weight of shape (m,) = ({m},), got {s.shape}: {fix}")
    if _is_concrete(s):
        host = np.asarray(s, np.float64)
        if not np.all(np.isfinite(host)) or np.any(host < 0) or not host.sum() > 0:
            raise ValueError(
                "Expected sample_weight finite and >= 0 with a positive sum, got "
                f"min {host.min()}, sum {host.sum()}: drop the examples with bad weights"
            )
    return s.astype(X.dtype)
