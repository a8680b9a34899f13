"""fit_sharded: rows split over devices give the one-device result.

Several CPU devices exist only if set before JAX starts, so these tests run
real child processes: one with XLA_FLAGS=--xla_force_host_platform_device_count=8,
and two processes joined by jax.distributed on localhost (gloo CPU collectives).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _reference import numpy_gd as _numpy_gd
from _reference import run_python
from _reference import synthetic_data as _data

import lrjax


def _run(code: str, env: dict, timeout=120) -> dict:
    """Run Python code in a fresh interpreter; it prints one JSON line last."""
    out = run_python(code, timeout=timeout, **env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


EIGHT_DEVICES = """
import json
import jax, jax.numpy as jnp, numpy as np
import lrjax
from jax.sharding import Mesh
from lrjax import _train

jax.config.update("jax_enable_x64", True)
rng = np.random.default_rng(0)
X = rng.normal(size=(1003, 7))  # 1003 = 8 * 125 + 3: padded with zero-weight rows
y = (rng.random(1003) < 1 / (1 + np.exp(-(X @ np.linspace(1, -1, 7) + 0.3)))).astype(np.int32)
out = {"devices": len(jax.devices())}
for dtype in ["float32", "float64"]:
    p, h = lrjax.fit_sharded(jnp.asarray(X, dtype), y, learning_rate=0.5, steps=40)
    out[dtype] = {"w": np.asarray(p.w, np.float64).tolist(), "b": float(p.b),
                  "h": np.asarray(h, np.float64).tolist(), "dtype": str(p.w.dtype)}
mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("a", "b"))
p, h = lrjax.fit_sharded(X, y, learning_rate=0.5, steps=40, mesh=mesh)
out["mesh2d"] = {"w": np.asarray(p.w).tolist(), "b": float(p.b), "h": np.asarray(h).tolist()}
out["auto_large"] = _train._auto_method(jax.ShapeDtypeStruct((20_000, 64), jnp.float32))
Xl = jnp.asarray(rng.normal(size=(20_000, 64)), jnp.float32)
yl = (rng.random(20_000) < 0.5).astype(np.int32)
pa, ha = lrjax.fit(Xl, yl, learning_rate=1.0, steps=5)
ps, hs = lrjax.fit(Xl, yl, learning_rate=1.0, steps=5, method="scan")
out["auto_vs_scan"] = float(np.max(np.abs(np.asarray(pa.w) - np.asarray(ps.w))))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def eight():
    # LRJAX_NATIVE=0: without the native kernel, fit's auto choice for large X
    # on several devices is the sharded path, which this test is about.
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "LRJAX_NATIVE": "0"}
    return _run(EIGHT_DEVICES, env)


def test_eight_devices_match_numpy(eight):
    X, y = _data(1003, 7)
    w, b, hist = _numpy_gd(X, y, 0.5, 40)
    assert eight["devices"] == 8
    for dtype, tol in [
        ("float64", dict(rtol=1e-10, atol=1e-12)),
        ("float32", dict(rtol=2e-4, atol=2e-5)),
    ]:
        got = eight[dtype]
        assert got["dtype"] == dtype
        np.testing.assert_allclose(got["w"], w, **tol)
        np.testing.assert_allclose(got["b"], b, **tol)
        np.testing.assert_allclose(got["h"], hist, **tol)


def test_a_2d_mesh_uses_all_its_devices(eight):
    X, y = _data(1003, 7)
    w, b, hist = _numpy_gd(X, y, 0.5, 40)
    np.testing.assert_allclose(eight["mesh2d"]["w"], w, rtol=1e-10)
    np.testing.assert_allclose(eight["mesh2d"]["b"], b, rtol=1e-10)
    np.testing.assert_allclose(eight["mesh2d"]["h"], hist, rtol=1e-10)


def test_fit_auto_shards_large_problems_over_devices(eight):
    assert eight["auto_large"] == "sharded"
    assert eight["auto_vs_scan"] < 1e-6


def test_one_device_in_process(x64):
    X, y = _data(301, 4, seed=1)
    params, history = lrjax.fit_sharded(X, y, learning_rate=0.3, steps=20)
    plain, plain_history = lrjax.fit(X, y, learning_rate=0.3, steps=20, method="scan")
    np.testing.assert_allclose(params.w, plain.w, rtol=1e-11)
    np.testing.assert_allclose(history, plain_history, rtol=1e-12)


def test_validates_like_fit():
    with pytest.raises(ValueError, match=r"pass y.ravel\(\)"):
        lrjax.fit_sharded(jnp.zeros((4, 2)), jnp.zeros((4, 1)), learning_rate=0.1, steps=1)


DISTRIBUTED = """
import json, sys
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_enable_x64", True)
jax.distributed.initialize(
    coordinator_address="127.0.0.1:{port}", num_processes=2, process_id={pid},
    initialization_timeout=60,
)
import numpy as np
import lrjax
rng = np.random.default_rng(0)
X = rng.normal(size=(1003, 7))
y = (rng.random(1003) < 1 / (1 + np.exp(-(X @ np.linspace(1, -1, 7) + 0.3)))).astype(np.int32)
p, h = lrjax.fit_sharded(X, y, learning_rate=0.5, steps=40)
out = {{"processes": jax.process_count(), "devices": len(jax.devices()),
        "local": len(jax.local_devices()), "w": np.asarray(p.w).tolist(),
        "h": np.asarray(h).tolist()}}
jax.distributed.shutdown()
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_with_jax_distributed():
    """Two real processes on localhost, 2 CPU devices each: a 4-device mesh."""
    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(DISTRIBUTED.format(port=port, pid=pid))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in (0, 1)
    ]
    outs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=180)
            assert proc.returncode == 0, stderr[-3000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for proc in procs:  # a failed peer must not leave the other one waiting
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    X, y = _data(1003, 7)
    w, _, hist = _numpy_gd(X, y, 0.5, 40)
    for out in outs:
        assert (out["processes"], out["devices"], out["local"]) == (2, 4, 2)
        np.testing.assert_allclose(out["w"], w, rtol=1e-10)
        np.testing.assert_allclose(out["h"], hist, rtol=1e-10)
    assert jax.process_count() == 1  # this process was never part of it
