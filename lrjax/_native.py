"""A native one-pass step for large X on CPU: ``lrjax/native/fused_step.cc`` as an XLA FFI call.

XLA:CPU cannot run the fused step at memory speed (docs/performance.md: it
reads X twice per step, runs ``dz @ X`` at a third of memory speed, and runs a
loop over blocks on one core). The C++ kernel does what the lecture's step
needs in one pass over the rows of X, on every core, and returns the sums
``(Xᵀ·dz, Σdz, Σloss)``; the update stays in JAX, inside the same ``lax.scan``.
``lrjax/native/many_sums.cc`` does the same for K models at once (``fit_many``):
there a step is two matrix products, and the kernel runs them in register
tiles on each block of rows while it is in cache.

The kernels are compiled on first use with the machine's C++ compiler (``$CXX``,
else ``c++``/``g++``) for this CPU (``-march=native``) and cached in
``$LRJAX_CACHE_DIR`` (default ``~/.cache/lrjax``), keyed by the sources, the
flags, jaxlib's version and the CPU, so the compiler runs once per machine.
Where it cannot be built, or with ``LRJAX_NATIVE=0`` in the environment,
:func:`available` is False and ``method="auto"`` uses the XLA paths.
"""

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import jax
import numpy as np

from lrjax._fused import _update
from lrjax._types import Params

SOURCE = Path(__file__).with_name("native") / "fused_step.cc"
# fit_many's kernel (K models per step), linked into the same library.
MANY_SOURCE = SOURCE.with_name("many_sums.cc")
SOURCES = (SOURCE, MANY_SOURCE)
HEADERS = (SOURCE.with_name("thread_pool.h"),)
# -ffast-math lets GCC call glibc's vector exp/log1p; it is given to the
# compile step only: linking a shared library with it would switch the whole
# process to flush-denormals-to-zero.
COMPILE_FLAGS = ("-std=c++17", "-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-fPIC")
LINK_FLAGS = ("-shared",)
LIBS = ("-lmvec", "-lm")
TARGETS = {"float32": "lrjax_fused_sums_f32", "float64": "lrjax_fused_sums_f64"}
SYMBOLS = {"float32": "LrjaxFusedSumsF32", "float64": "LrjaxFusedSumsF64"}
MANY_TARGETS = {"float32": "lrjax_many_sums_f32", "float64": "lrjax_many_sums_f64"}
MANY_SYMBOLS = {"float32": "LrjaxManySumsF32", "float64": "LrjaxManySumsF64"}


class NativeUnavailable(RuntimeError):
    """The native kernel cannot be built or loaded here; the message says why and what to do."""


def _cpu_id() -> str:
    """Model name and feature flags of this CPU (``-march=native`` code is only valid on it)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def _compiler() -> str | None:
    for name in filter(None, (os.environ.get("CXX"), "c++", "g++", "clang++")):
        path = shutil.which(name)
        if path:
            return path
    return None


def _cache_dir() -> Path:
    root = os.environ.get("LRJAX_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lrjax"


def _build(compiler: str) -> Path:
    """Compile the kernels into the cache (once per sources, flags, jaxlib and CPU)."""
    include = jax.ffi.include_dir()
    key = hashlib.sha256()
    sources = [path.read_bytes() for path in (*SOURCES, *HEADERS)]
    for part in (*sources, " ".join(COMPILE_FLAGS + LINK_FLAGS + LIBS).encode(),
                 compiler.encode(), jax.__version__.encode(), _cpu_id().encode()):  # fmt: skip
        key.update(part)
        key.update(b"\0")
    out = _cache_dir() / f"lrjax_native-{key.hexdigest()[:16]}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        lib = Path(tmp) / out.name
        objs = [str(Path(tmp) / f"{src.stem}.o") for src in SOURCES]
        cmds = [
            [compiler, *COMPILE_FLAGS, "-w", "-isystem", include, "-c", str(src), "-o", obj]
            for src, obj in zip(SOURCES, objs, strict=True)
        ]
        # The two sources compile at once (6 s and 3.5 s here, one after the other 10 s).
        running = [
            (cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for cmd in cmds
        ]
        results = [(cmd, proc.communicate()[1], proc.returncode) for cmd, proc in running]
        for cmd, stderr, returncode in results:
            if returncode != 0:
                raise _build_failed(cmd, stderr)
        link = [compiler, *LINK_FLAGS, *objs, "-o", str(lib), *LIBS]
        linked = subprocess.run(link, capture_output=True, text=True, check=False)
        if linked.returncode != 0:
            raise _build_failed(link, linked.stderr)
        os.replace(lib, out)  # atomic: concurrent first uses do not see half a file
    return out


def _build_failed(cmd: list[str], stderr: str) -> NativeUnavailable:
    return NativeUnavailable(
        f"Compiling lrjax's native kernel failed ({' '.join(cmd[:2])} ...):\n"
        f"{stderr.strip()[-2000:]}\n"
        "Use method='transposed' in fit and method='xla' in fit_many (or set "
        "LRJAX_NATIVE=0) to train without it."
    )


@functools.cache
def _load() -> str:
    """Build, load and register the kernel once per process; '' on success, else the reason."""
    if os.environ.get("LRJAX_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return "disabled by LRJAX_NATIVE=0"
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64", "aarch64"):
        return f"not built for {platform.system()} {platform.machine()} (Linux x86_64/aarch64 only)"
    compiler = _compiler()
    if compiler is None:
        return "no C++ compiler found (set $CXX or install g++)"
    try:
        lib = ctypes.CDLL(str(_build(compiler)))
    except (NativeUnavailable, OSError) as err:
        return str(err)
    for targets, symbols in ((TARGETS, SYMBOLS), (MANY_TARGETS, MANY_SYMBOLS)):
        for dtype, target in targets.items():
            capsule = jax.ffi.pycapsule(getattr(lib, symbols[dtype]))
            jax.ffi.register_ffi_target(target, capsule, platform="cpu")
    return ""


def available() -> bool:
    """True when the native kernel is built and registered (builds it on the first call)."""
    return _load() == ""


def require() -> None:
    """Raise :class:`NativeUnavailable` with the reason if the kernel cannot be used."""
    reason = _load()
    if reason:
        raise NativeUnavailable(f"lrjax's native kernel is not available: {reason}")


def threads_for(X: jax.Array, *, instead: str) -> int:
    """Check that the kernels can train on X here; return the threads to use.

    Args:
        X: the training features.
        instead: the method the error messages suggest in place of "native".

    Raises:
        NativeUnavailable: the kernels cannot be built or loaded (says why),
            or X is on an accelerator.
        ValueError: X is not float32 or float64.
    """
    check_platform(platform_of(X), instead=instead)
    require()
    if X.dtype.name not in TARGETS:
        raise ValueError(
            f"method='native' runs float32 and float64, got X of dtype {X.dtype}: "
            f"pass X.astype(jnp.float32) or use method={instead!r}"
        )
    return threads()


def platform_of(X) -> str:
    """Where X lives: its device's platform, or JAX's default backend while X is traced."""
    if isinstance(X, jax.core.Tracer) or not hasattr(X, "devices"):
        return jax.default_backend()
    return next(iter(X.devices())).platform


def check_platform(where: str, *, instead: str) -> None:
    """Refuse X on an accelerator: the kernels are registered for the CPU only.

    Without this, XLA would fail at compile time with "No FFI handler registered".

    Raises:
        NativeUnavailable: ``where`` is not "cpu"; the message names both ways out.
    """
    if where != "cpu":
        raise NativeUnavailable(
            f"method='native' runs on the CPU, but X is on {where}: use method={instead!r} "
            f"there, or move X to the CPU with jax.device_put(X, jax.devices('cpu')[0])"
        )


def threads() -> int:
    """Threads the kernel uses: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fused_sums(X: jax.Array, y: jax.Array, params: Params, *, n_threads: int,
               linear: bool = False):  # fmt: skip
    """Sums over the rows of X of (Xᵀ·dz, dz, loss), one pass over X (the native kernel).

    With ``linear``, dz = z and loss = z² (y is not read): (gw, gb) is then
    X̃ᵀX̃·(w, b) with X̃ = [X, 1], a product of the Lanczos iteration behind
    ``learning_rate="auto"``.

    Args:
        X: (m, n) float32 or float64, one example per row; y: (m,) labels in X's dtype.
        params: ``Params(w: (n,), b: ())`` in X's dtype.
        n_threads: threads to split the rows over.
        linear: the linear sums instead of the logistic ones (static).

    Returns:
        ``(gw: (n,), gb: (), total_loss: ())`` in X's dtype: sums, not means.
    """
    dtype = X.dtype
    call = jax.ffi.ffi_call(
        TARGETS[dtype.name],
        (
            jax.ShapeDtypeStruct((X.shape[1],), dtype),
            jax.ShapeDtypeStruct((), dtype),
            jax.ShapeDtypeStruct((), dtype),
        ),
        vmap_method="sequential",
    )
    return call(X, y, params.w, params.b, threads=np.int64(n_threads), linear=np.int64(linear))


@functools.partial(jax.jit, static_argnames=("steps", "n_threads"))
def fit_native(X, y, learning_rate, init: Params, steps: int, n_threads: int):
    """Gradient descent whose sums come from the native one-pass kernel.

    Returns:
        ``(params, history)`` as :func:`lrjax.fit`.
    """
    m = X.shape[0]

    def body(params, _):
        gw, gb, total = fused_sums(X, y, params, n_threads=n_threads)
        return _update(params, gw, gb, m, learning_rate), total / m

    return jax.lax.scan(body, init, length=steps)


def many_sums(X: jax.Array, y: jax.Array, W: jax.Array, b: jax.Array, weights, *, n_threads: int,
              linear: bool = False):  # fmt: skip
    """Sums over the rows of X of (Xᵀ·dZ, dZ, loss) for K models, one pass over X.

    With ``linear``, dZ = Z and loss = Z² (times the weights; y is not read).

    Args:
        X: (m, n) float32 or float64; y: (m,) labels in X's dtype.
        W: (n, K) the models' weights, one column per model; b: (K,) their biases.
        weights: (m, K) example weights per model (multiply dZ and the loss), or None.
        n_threads: threads to split the rows over.
        linear: the linear sums instead of the logistic ones (static).

    Returns:
        ``(G: (n, K), gb: (K,), total_loss: (K,))`` in X's dtype: sums, not means.
    """
    dtype, (n, K) = X.dtype, W.shape
    call = jax.ffi.ffi_call(
        MANY_TARGETS[dtype.name],
        (
            jax.ShapeDtypeStruct((n, K), dtype),
            jax.ShapeDtypeStruct((K,), dtype),
            jax.ShapeDtypeStruct((K,), dtype),
        ),
        vmap_method="sequential",
    )
    v = jax.numpy.zeros((0,), dtype) if weights is None else weights
    return call(X, y, W, b, v, threads=np.int64(n_threads), linear=np.int64(linear))
