"""The native one-pass kernel: the same sums as NumPy, whatever the shape, threads or process."""

import json
import platform
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _reference import numpy_gd, run_python
from _reference import synthetic_data as _data

import lrjax
from lrjax import _native, _train

pytestmark = pytest.mark.skipif(
    not _native.available(), reason=f"native kernel unavailable: {_native._load()}"
)

TOL = {"float64": dict(rtol=1e-11, atol=1e-12), "float32": dict(rtol=2e-5, atol=1e-5)}


def numpy_sums(X, y, w, b):
    """(Xᵀ·dz, Σdz, ΣL) in float64, from the lecture's formulas (L from the logits)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    z = X @ np.asarray(w, np.float64) + float(b)
    dz = 1 / (1 + np.exp(-z)) - y
    return X.T @ dz, dz.sum(), np.sum(np.logaddexp(0, z) - y * z)


def native_sums(X, y, w, b, n_threads=2):
    dtype = X.dtype
    params = lrjax.Params(jnp.asarray(w, dtype), jnp.asarray(b, dtype))
    fn = jax.jit(lambda X, y, p: _native.fused_sums(X, y, p, n_threads=n_threads))
    return tuple(np.asarray(v) for v in fn(jnp.asarray(X), jnp.asarray(y, dtype), params))


# 4001 x 200: float32 rows (800 bytes) interleave the two passes, float64 rows
# (1600 bytes) run them one after the other, as do the rows of 300 x 1000.
SHAPES = [(1, 1), (3, 5), (131, 7), (300, 1000), (4001, 200), (70_001, 5)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{m}x{n}" for m, n in SHAPES])
def test_sums_match_numpy(shape, dtype, x64):
    """Rows not a multiple of 4 or of a block, one feature or 1000, several chunks."""
    m, n = shape
    X, y = _data(m, n, seed=m + n)
    w, b = np.linspace(-0.5, 0.5, n) / np.sqrt(n), 0.25
    gw, gb, total = native_sums(X.astype(dtype), y, w, b)
    ref_gw, ref_gb, ref_total = numpy_sums(X.astype(dtype), y, w.astype(dtype), b)
    assert gw.dtype == gb.dtype == total.dtype == np.dtype(dtype)
    assert gw.shape == (n,) and gb.shape == total.shape == ()
    scale = np.abs(X).sum(0).max()  # sums of m terms: tolerance relative to their size
    np.testing.assert_allclose(gw / scale, ref_gw / scale, **TOL[dtype])
    np.testing.assert_allclose(gb / m, ref_gb / m, **TOL[dtype])
    np.testing.assert_allclose(total / m, ref_total / m, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{m}x{n}" for m, n in SHAPES])
def test_linear_sums_are_the_product_with_the_augmented_gram_matrix(shape, dtype, x64):
    """linear=True: (gw, gb) = X̃ᵀX̃·(w, b) with X̃ = [X, 1], loss = |X̃·(w, b)|²; y unread."""
    m, n = shape
    X, _ = _data(m, n, seed=m + n)
    X = X.astype(dtype)
    v = np.linspace(-1.0, 1.5, n + 1).astype(dtype)
    params = lrjax.Params(jnp.asarray(v[:n]), jnp.asarray(v[n]))
    garbage = jnp.full((m,), np.nan, dtype)  # linear sums never read the labels
    fn = jax.jit(lambda X, y, p: _native.fused_sums(X, y, p, n_threads=2, linear=True))
    gw, gb, total = (np.asarray(a) for a in fn(jnp.asarray(X), garbage, params))
    Xt = np.hstack([X.astype(np.float64), np.ones((m, 1))])
    u = Xt @ v.astype(np.float64)
    scale = np.abs(Xt).sum(0).max() * np.abs(u).max()
    np.testing.assert_allclose(np.append(gw, gb) / scale, Xt.T @ u / scale, **TOL[dtype])
    np.testing.assert_allclose(total / scale, u @ u / scale, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_do_not_change_the_result(dtype, x64):
    """Partial sums per chunk, added in chunk order: bit-identical for any thread count."""
    X, y = _data(200_003, 3, seed=5)
    runs = [native_sums(X.astype(dtype), y, [0.3, -0.2, 0.1], -0.1, t) for t in (1, 2, 3, 8)]
    for gw, gb, total in runs[1:]:
        np.testing.assert_array_equal(gw, runs[0][0])
        np.testing.assert_array_equal(gb, runs[0][1])
        np.testing.assert_array_equal(total, runs[0][2])


def test_concurrent_calls_agree():
    """Python threads calling at once: one call has the kept workers, the others start their own."""
    X, y = _data(40_000, 50, seed=9)
    Xj, yj = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)
    params = lrjax.Params(jnp.full(50, 0.01, jnp.float32), jnp.zeros((), jnp.float32))
    fn = jax.jit(lambda X, y, p: _native.fused_sums(X, y, p, n_threads=3))
    ref = [np.asarray(v) for v in fn(Xj, yj, params)]
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: [np.asarray(v) for v in fn(Xj, yj, params)], range(40)))
    for run in runs:
        for got, want in zip(run, ref, strict=True):
            np.testing.assert_array_equal(got, want)


FORK = """
    import os, warnings
    import jax, jax.numpy as jnp, numpy as np
    import lrjax
    from lrjax import _native
    _native.require()
    X = jnp.asarray(np.random.default_rng(0).normal(size=(20_000, 100)), jnp.float32)
    y = jnp.asarray(np.arange(20_000) % 2, jnp.float32)
    p = lrjax.Params(jnp.full(100, 0.01, jnp.float32), jnp.zeros((), jnp.float32))
    f = jax.jit(lambda X, y, p: _native.fused_sums(X, y, p, n_threads=2))
    ref = np.asarray(f(X, y, p)[0])  # the parent's workers now exist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # JAX warns that forking is risky
        pid = os.fork()
    if pid == 0:
        os._exit(0 if np.array_equal(np.asarray(f(X, y, p)[0]), ref) else 3)
    print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_a_forked_child_gets_its_own_workers():
    """The parent's kept threads do not exist in a child: without its own it would wait forever."""
    out = run_python(FORK, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "child 0" in out.stdout


@pytest.mark.parametrize("z", [1e4, -1e4, 1e30, -1e30, 80.0, -80.0], ids=str)
@pytest.mark.parametrize("label", [0, 1])
def test_extreme_logits_float32(z, label):
    """|z| far beyond exp's range: dz is exactly 0 or ±1, the loss 0 or |z| (never inf or nan)."""
    X = np.ones((5, 1), np.float32)
    y = np.full(5, label)
    gw, gb, total = native_sums(X, y, [z], 0.0)
    right = (z > 0) == (label == 1)
    expected_dz = 0.0 if right else (1.0 if label == 0 else -1.0)
    expected_loss = np.logaddexp(0, -abs(z)) if right else abs(z)  # softplus(±z)
    np.testing.assert_allclose(gb / 5, expected_dz, atol=1e-30 if abs(z) > 100 else 1e-7)
    np.testing.assert_allclose(gw / 5, [expected_dz], atol=1e-30 if abs(z) > 100 else 1e-7)
    np.testing.assert_allclose(total / 5, expected_loss, rtol=1e-6, atol=1e-37)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_native_matches_numpy_and_vmaps(dtype, x64):
    """fit(method='native') follows the float64 NumPy loop; vmap over learning rates works."""
    X, y = _data(2050, 6, seed=3)
    params, history = lrjax.fit(
        jnp.asarray(X, dtype), jnp.asarray(y), learning_rate=0.5, steps=30, method="native"
    )
    w, b, hist = numpy_gd(X, y, 0.5, 30)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(params.w, w, **tol)
    np.testing.assert_allclose(params.b, b, **tol)
    np.testing.assert_allclose(history, hist, **tol)

    Xj, yj = jnp.asarray(X, dtype), jnp.asarray(y, dtype)
    init = lrjax.Params(jnp.zeros(6, dtype), jnp.zeros((), dtype))
    lrs = jnp.asarray([0.1, 0.5, 1.0], dtype)
    many = jax.vmap(lambda lr: _native.fit_native(Xj, yj, lr, init, 30, 2))(lrs)
    for k, lr in enumerate([0.1, 0.5, 1.0]):
        one = lrjax.fit(Xj, yj, learning_rate=lr, steps=30, method="native")
        np.testing.assert_allclose(many[0].w[k], one[0].w, **tol)
        np.testing.assert_allclose(many[1][k], one[1], **tol)


def test_auto_picks_native_for_large_x_of_any_width():
    big = jax.ShapeDtypeStruct((20_000, 100), jnp.float32)  # 7.6 MiB
    assert _train._auto_method(big) == "native"
    assert _train._auto_method(jax.ShapeDtypeStruct((1000, 100), jnp.float32)) == "scan"
    narrow = jax.ShapeDtypeStruct((500_000, 10), jnp.float32)  # 19 MiB, 10 features
    assert _train._auto_method(narrow) == "native"


def test_other_dtypes_are_refused_with_the_fix():
    X = jnp.ones((10, 2), jnp.bfloat16)
    with pytest.raises(ValueError, match=r"float32 and float64, got X of dtype bfloat16: pass"):
        lrjax.fit(X, jnp.zeros(10, jnp.int32), learning_rate=0.1, steps=2, method="native")


@pytest.mark.parametrize("where", ["gpu", "cuda", "rocm", "tpu"])
def test_accelerators_are_refused_with_both_ways_out(where):
    with pytest.raises(lrjax.NativeUnavailable, match=rf"CPU, but X is on {where}: use") as err:
        _native.check_platform(where, instead="xla")
    assert "method='xla'" in str(err.value) and "jax.devices('cpu')[0]" in str(err.value)


def test_the_platform_is_the_arrays_or_while_traced_the_default():
    X = jnp.ones((4, 2), jnp.float32)
    assert _native.platform_of(X) == "cpu"
    seen = []
    jax.jit(lambda X: seen.append(_native.platform_of(X)) or X)(X)
    assert seen == [jax.default_backend()]
    _native.check_platform("cpu", instead="scan")  # no error


def test_loading_leaves_denormals_alone():
    """The kernel is compiled with -ffast-math but linked without it: no flush-to-zero."""
    assert _native.available()  # loaded in this process by now
    tiny = np.float32(1e-45)  # the smallest float32 subnormal
    # NumPy runs with the process's flags (XLA:CPU flushes denormals in its own
    # programs anyway, with or without the kernel).
    assert tiny * np.float32(2) > 0


WITHOUT_AVX512 = """
    import json
    import jax, jax.numpy as jnp, numpy as np
    import lrjax
    from lrjax import _native
    _native.COMPILE_FLAGS += ("-mno-avx512f",)  # as on an x86 CPU without AVX-512
    _native.require()
    out = {}
    for m, n in [(131, 7), (70_001, 5), (4001, 200)]:
        rng = np.random.default_rng(n)
        X = rng.normal(size=(m, n)).astype(np.float32)
        y = (rng.random(m) < 0.5).astype(np.float32)
        w = np.linspace(-0.5, 0.5, n).astype(np.float32)
        p = lrjax.Params(jnp.asarray(w), jnp.asarray(0.25, jnp.float32))
        f = jax.jit(lambda X, y, p: _native.fused_sums(X, y, p, n_threads=2))
        gw = np.asarray(f(jnp.asarray(X), jnp.asarray(y), p)[0])
        X64 = X.astype(np.float64)
        dz = 1 / (1 + np.exp(-(X64 @ w + 0.25))) - y
        out[f"{m}x{n}"] = float(np.max(np.abs(gw - X64.T @ dz)) / np.abs(X64).sum(0).max())
        K = 3 + n % 17  # fit_many's kernel too, with its 8- and 16-wide tiles
        W = rng.normal(size=(n, K)).astype(np.float32) / np.sqrt(n)
        b = np.zeros(K, np.float32)
        g = jax.jit(lambda X, y, W, b: _native.many_sums(X, y, W, b, None, n_threads=2))
        G = np.asarray(g(jnp.asarray(X), jnp.asarray(y), jnp.asarray(W), jnp.asarray(b))[0])
        dZ = 1 / (1 + np.exp(-(X64 @ W))) - y[:, None]
        out[f"{m}x{n}-K{K}"] = float(np.max(np.abs(G - X64.T @ dZ)) / np.abs(X64).sum(0).max())
    print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() != "x86_64", reason="an x86 compiler flag")
def test_the_build_without_avx512_gives_the_same_sums(tmp_path):
    """Narrow float32 rows take dot4 instead of the AVX-512 tree: the path CPUs without it run.

    fit_many's kernel has no intrinsics; this checks it in 256-bit vectors.
    """
    out = run_python(WITHOUT_AVX512, LRJAX_CACHE_DIR=str(tmp_path))
    assert out.returncode == 0, out.stderr
    errors = json.loads(out.stdout.strip().splitlines()[-1])
    shapes = {"131x7", "70001x5", "4001x200"}
    assert set(errors) == shapes | {"131x7-K10", "70001x5-K8", "4001x200-K16"}
    for shape, err in errors.items():
        assert err < 1e-5, shape


PROBE = """
    import jax, jax.numpy as jnp, numpy as np
    import lrjax
    from lrjax import _many, _native, _train
    print("available", _native.available(), _native._load())
    print("auto", _train._auto_method(jax.ShapeDtypeStruct((20_000, 100), jnp.float32)))
    X = jnp.asarray(np.random.default_rng(0).normal(size=(20_000, 60)), jnp.float32)
    y = (X[:, 0] > 0).astype(jnp.int32)
    fit = lambda method: lrjax.fit(X, y, learning_rate=0.5, steps=3, method=method)[1]
    auto, scan = fit("auto"), fit("scan")
    print("fit agrees", bool(jnp.allclose(auto, scan, rtol=1e-5)))
    print("many auto", _many._auto_method(X))
    many = lambda method: lrjax.fit_many(X, y, learning_rates=[0.1, 0.5], steps=3, method=method)
    print("fit_many agrees", bool(jnp.allclose(many("auto")[1], many("xla")[1], rtol=1e-5)))
    try:
        lrjax.fit(X, y, learning_rate=0.5, steps=3, method="native")
    except lrjax.NativeUnavailable as err:
        print("error", err)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"LRJAX_NATIVE": "0"}, "disabled by LRJAX_NATIVE=0"),
        ({"CXX": "/bin/false"}, "Compiling lrjax's native kernel failed"),
        ({"CXX": "", "PATH": "/nonexistent"}, "no C++ compiler found"),
    ],
    ids=["disabled", "compiler-fails", "no-compiler"],
)
def test_without_the_kernel_auto_falls_back_and_native_says_why(env, reason, tmp_path):
    out = run_python(PROBE, LRJAX_CACHE_DIR=str(tmp_path), **env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout
    assert "available False" in lines and reason in lines
    assert "auto transposed" in lines
    assert "fit agrees True" in lines  # trained through the XLA path
    assert "many auto xla" in lines and "fit_many agrees True" in lines
    assert f"error lrjax's native kernel is not available: {reason}" in lines
    assert not list(tmp_path.glob("*.so"))


@pytest.mark.slow
def test_built_once_per_machine_then_reused(tmp_path):
    first = run_python(PROBE, LRJAX_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "available True" in first.stdout and "auto native" in first.stdout
    assert "many auto native" in first.stdout and "fit_many agrees True" in first.stdout
    (lib,) = tmp_path.glob("lrjax_native-*.so")
    stamp = lib.stat().st_mtime_ns
    second = run_python(PROBE, LRJAX_CACHE_DIR=str(tmp_path))
    assert "available True" in second.stdout
    assert [p.name for p in tmp_path.iterdir()] == [lib.name]  # no temporary files left
    assert lib.stat().st_mtime_ns == stamp
