"""benchmarks: bench_fit's rounds combine as documented, small runs of bench_fit and
bench_solvers write what they promise."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_methods  # noqa: E402  (a script folder, not a package)


def _round(roof, **steps):
    return {"m": 10, "n": 2, "bytes": 80, "auto": "scan", "roofline_s": roof, "step_s": steps}


def test_rounds_give_the_median_of_each_time():
    rounds = [
        _round(2.0, numpy=8.0, **{"lrjax scan": 3.0}),
        _round(1.0, numpy=6.0, **{"lrjax scan": 5.0}),
        _round(4.0, numpy=7.0, **{"lrjax scan": 2.0}),
    ]
    row = bench_methods.combine_rounds(rounds)
    assert row["rounds"] == 3 and row["roofline_s"] == 2.0
    assert row["step_s"] == {"numpy": 7.0, "lrjax scan": 3.0}
    np.testing.assert_allclose(row["frac_range"]["lrjax scan"], (0.2, 2.0), rtol=1e-12)
    np.testing.assert_allclose(row["frac_range"]["numpy"], (1 / 6, 4 / 7), rtol=1e-12)
    assert [r["roofline_s"] for r in row["per_round"]] == [2.0, 1.0, 4.0]
    # numpy / scan per round: 8/3, 6/5, 7/2 -> the median pairs each round's two times
    np.testing.assert_allclose(row["ratios"]["numpy / lrjax scan"], 8 / 3, rtol=1e-12)
    table = bench_methods.markdown(
        {"sizes": [row], "many": None, "command": "c", "machine": _machine()}
    )
    assert "| 10 | 2 |" in table and "min–max of 3 rounds" in table
    assert "0.20–2.00" in table  # the spread of the method auto picks
    assert "| 2.67× |" in table  # not 7 / 3, the ratio of the medians
    assert "2 cores, JAX 0, 1 cpu device(s), torch" in table
    gpu = dict(_machine(), backend="gpu", device_kind="NVIDIA H100 80GB HBM3")
    table = bench_methods.markdown({"sizes": [row], "many": None, "command": "c", "machine": gpu})
    assert "1 gpu device(s) (NVIDIA H100 80GB HBM3), torch" in table


def _machine():
    return {"cpu": "cpu", "cores": 2, "jax": "0", "devices": ["cpu:0"], "torch": None,
            "load_avg_at_start": 0.0}  # fmt: skip


def test_the_roofline_is_numpy_on_cpu_unless_asked():
    assert bench_methods.roofline_kind("auto") == "numpy"  # these tests run on the CPU
    assert bench_methods.roofline_kind("device") == "device"
    with pytest.raises(ValueError, match="Unknown roofline 'gpu': pass 'auto', 'numpy'"):
        bench_methods.roofline_kind("gpu")


def test_the_device_roofline_reads_x_in_every_step():
    X = np.ones((2000, 30), np.float32)
    # each read uses the previous one's sum: it stays inside the compiled loop
    text = bench_methods.read_loop(3).lower(X).compile().as_text()
    body = re.search(r"while\(.*?body=(%[\w.]+)", text).group(1)
    computation = text.split(f"\n{body} ", 1)[1].split("\n}", 1)[0]
    assert re.search(r"dot\(|kind=kOutput|__onednn|custom-call", computation), computation
    np.testing.assert_allclose(bench_methods.read_loop(1)(X), 2000 * 30 * 1e-30, rtol=1e-5)
    seconds = bench_methods.roofline_time(X, kind="device", reps=2, steps=5)
    assert 0 < seconds < 1


@pytest.mark.slow
def test_a_small_run_writes_table_json_and_plot(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_fit.py"), "--sizes", "500x10,300x40",
         "--methods", "numpy,lrjax scan,lrjax native", "--rounds", "2", "--reps", "1",
         "--no-sklearn", "--many-size", "3000x20", "--plot", str(tmp_path / "fit.png"),
         "--json", str(tmp_path / "fit.json"), "--markdown", str(tmp_path / "fit.md")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "fit.json").read_text())
    assert [(r["m"], r["n"], r["rounds"]) for r in report["sizes"]] == [(500, 10, 2), (300, 40, 2)]
    for row in report["sizes"]:
        assert len(row["per_round"]) == 2
        assert set(row["step_s"]) <= {"numpy", "lrjax scan", "lrjax native"}
        assert {"numpy", "lrjax scan"} <= set(row["step_s"])
        assert row["roofline"] == "numpy" and row["roofline_s"] > 0
    table = (tmp_path / "fit.md").read_text()
    assert table.count("\n| 500 | 10 |") == 1 and "median of 2 rounds" in table
    assert "1.0 = one NumPy X @ v per step" in table and "roofline GB/s" in table
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    many = report["many"]
    assert (many["m"], many["n"], many["ks"]) == (3000, 20, [1, 8, 16, 64])
    assert set(many["step_s"]) <= {"xla", "native"} and "xla" in many["step_s"]
    assert all(set(t) == {"1", "8", "16", "64"} for t in many["step_s"].values())
    assert "fit_many at m=3,000 n=20" in table and "\n| 64 | " in table


def test_unknown_methods_are_named():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_fit.py"), "--methods", "numpy,lrjax turbo"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode != 0
    assert "unknown method(s) ['lrjax turbo']" in out.stderr and "lrjax native" in out.stderr


@pytest.mark.slow
def test_bench_solvers_on_the_embedded_data_times_every_solver(tmp_path):
    """A real run on the small problem: the solvers that get there in time are timed,
    lbfgs is the reference, and plain descent's slowness is reported, not hidden."""
    plot = tmp_path / "solvers.png"
    run = subprocess.run(
        [sys.executable, str(BENCH / "bench_solvers.py"), "--problems", "embedded",
         "--plot", str(plot)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| embedded")]
    names = [line.split("|")[2].strip() for line in rows]
    assert names == ["scikit-learn lbfgs", "scikit-learn newton-cholesky", "lrjax plain (α = 0.5)",
                     "lrjax auto", "lrjax auto + Nesterov"]  # fmt: skip
    arrived = {n: "not within" not in line for n, line in zip(names, rows, strict=True)}
    assert arrived["scikit-learn lbfgs"] and arrived["lrjax auto + Nesterov"], run.stdout
    assert rows[0].rstrip(" |").endswith("1.00x")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_solvers_lanczos_table_shows_l_from_above_and_power_iteration_below():
    """--lanczos on the embedded data (and the wide isotropic problem it adds): Lanczos's
    θ + r is at or above NumPy's λ_max, within 2 %; the plain power iteration it is shown
    against stops below."""
    run = subprocess.run(
        [sys.executable, str(BENCH / "bench_solvers.py"), "--problems", "embedded", "--lanczos"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines() if line.startswith("| ")]
    rows = {cells[0].strip(): [float(c) for c in cells[1:]] for cells in rows[2:]}
    assert set(rows) == {"embedded, 10 mean_ features (569 x 10)", "isotropic 5,000 x 1,000 (wide)"}
    for products, lanczos, power_products, power in rows.values():
        assert 2 <= products <= 12 and 1 - 1e-9 <= lanczos <= 1.02
        assert 2 <= power_products <= 12 and power <= 1 + 1e-9
    assert rows["isotropic 5,000 x 1,000 (wide)"][3] < 0.97  # the cluster power iteration misses
