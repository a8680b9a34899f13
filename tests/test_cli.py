"""``lrjax train`` end to end, in a real subprocess."""

import re
import subprocess
import sys

import numpy as np
import pytest


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lrjax", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
    )


@pytest.mark.slow
def test_train_on_embedded_data(tmp_path):
    plot = tmp_path / "loss.png"
    out = _run("train", "--steps", "1000", "--plot", str(plot))
    assert out.returncode == 0, out.stderr
    assert "569 examples, 30 features (455 train / 114 test)" in out.stdout
    test_acc = float(re.search(r"test accuracy:\s+([\d.]+)", out.stdout).group(1))
    train_acc = float(re.search(r"train accuracy:\s+([\d.]+)", out.stdout).group(1))
    assert 0.93 <= test_acc <= 1.0 and 0.95 <= train_acc <= 1.0
    cost = re.search(r"cost: ([\d.]+) -> ([\d.]+)", out.stdout)
    assert float(cost.group(1)) == pytest.approx(np.log(2), abs=1e-5)
    assert float(cost.group(2)) < 0.1
    errs = re.search(r"vs jax.grad ([\d.e+-]+), vs finite differences ([\d.e+-]+)", out.stdout)
    assert float(errs.group(1)) < 1e-4 and float(errs.group(2)) < 1e-4
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "training" in out.stderr  # the progress bar


@pytest.mark.slow
def test_train_on_user_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    rows = "\n".join(f"{a:.6f},{b:.6f},{t}" for (a, b), t in zip(X, y, strict=True))
    (tmp_path / "mine.csv").write_text("f1,f2,label\n" + rows + "\n")
    out = _run("train", "--data", "mine.csv", "--target", "label", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "120 examples, 2 features" in out.stdout
    assert float(re.search(r"test accuracy:\s+([\d.]+)", out.stdout).group(1)) >= 0.9
    assert out.stderr == ""


@pytest.mark.slow
def test_bad_target_is_a_clear_error(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,0\n")
    out = _run("train", "--data", str(tmp_path / "d.csv"), "--target", "y")
    assert out.returncode == 2
    assert "no column 'y'" in out.stderr and "Traceback" not in out.stderr
