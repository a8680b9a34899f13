"""``lrjax train`` end to end, in a real subprocess."""

import re
import subprocess
import sys

import numpy as np
import pytest

from lrjax._cli import _drop, _fit_options, _parser, main


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
def test_auto_rate_nesterov_and_tol_stop_early_on_embedded_data():
    out = _run("train", "--learning-rate", "auto", "--momentum", "nesterov", "--tol", "1e-4",
               "--steps", "5000", "--no-progress")  # fmt: skip
    assert out.returncode == 0, out.stderr
    alpha = float(re.search(r"learning rate: auto, α = 1/L = ([\d.e+-]+)", out.stdout).group(1))
    assert alpha > 0
    steps = int(re.search(r"after (\d+) steps", out.stdout).group(1))
    assert 0 < steps < 5000
    assert float(re.search(r"test accuracy:\s+([\d.]+)", out.stdout).group(1)) >= 0.93


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


def _write_wdbc_like(path, m=120):
    """A wdbc.csv look-alike: quoted header, an id column, "M"/"B" diagnosis, 3 features."""
    rng = np.random.default_rng(1)
    malignant = rng.random(m) < 0.4
    radius = np.where(malignant, 17.5, 12.0) + rng.normal(scale=1.5, size=m)
    texture = np.where(malignant, 21.5, 17.9) + rng.normal(scale=3.0, size=m)
    smooth = rng.normal(0.1, 0.01, size=m)
    lines = ['"id","diagnosis","radius_mean","texture_mean","smoothness_mean"']
    lines += [
        f'{842302 + i},"{"M" if s else "B"}",{r:.3f},{t:.3f},{q:.5f}'
        for i, (s, r, t, q) in enumerate(zip(malignant, radius, texture, smooth, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra,mapping",
    [
        (["--positive", "M"], "labels: 'M' -> 1, 'B' -> 0 (--positive M)"),
        (["--positive", "B"], "labels: 'B' -> 1, 'M' -> 0 (--positive B)"),
        ([], "labels: 'M' -> 1, 'B' -> 0 (the later in sorted order; pass --positive B"),
    ],
    ids=["positive-M", "positive-B", "sorted-default"],
)
def test_train_on_wdbc_like_csv(tmp_path, extra, mapping):
    _write_wdbc_like(tmp_path / "wdbc.csv")
    args = ["--data", "wdbc.csv", "--target", "diagnosis", "--drop", "id", *extra]
    out = _run("train", *args, "--steps", "300", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "120 examples, 3 features" in out.stdout and "target 'diagnosis'" in out.stdout
    assert mapping in out.stdout
    assert float(re.search(r"test accuracy:\s+([\d.]+)", out.stdout).group(1)) >= 0.85


CSV_ERRORS = {
    "one-class": ("id,diagnosis,r\n1,M,1.0\n2,M,2.0\n", [], r"one label only, 'M'.*add examples"),
    "three-classes": (
        "id,diagnosis,r\n1,M,1.0\n2,B,2.0\n3,X,3.0\n",
        [],
        r"3 different labels \('B', 'M', 'X'\): pass another --target, or recode",
    ),
    "empty-label": (
        "id,diagnosis,r\n1,M,1.0\n2,,2.0\n3,B,3.0\n",
        [],
        r"got 1 empty or NaN \(the first at line 3\): fill them in or remove those rows",
    ),
    "unknown-positive": (
        "id,diagnosis,r\n1,M,1.0\n2,B,2.0\n",
        ["--positive", "malignant"],
        r"got 'malignant'; the column holds 'B', 'M': pass --positive with one of them",
    ),
    "unknown-drop": (
        "id,diagnosis,r\n1,M,1.0\n2,B,2.0\n",
        ["--drop", "id,ID"],
        r"no column 'ID' to drop; its columns are \['id', 'diagnosis', 'r'\]",
    ),
    "text-feature": (
        'id,diagnosis,r,site\n1,M,1.0,"left, upper"\n2,B,2.0,right\n',
        [],
        r"column 'site' has 'left, upper' \(line 2\): pass --drop site to leave it out",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CSV_ERRORS), ids=list(CSV_ERRORS))
def test_bad_csv_labels_and_columns_are_clear_errors(tmp_path, name):
    text, extra, pattern = CSV_ERRORS[name]
    (tmp_path / "d.csv").write_text(text)
    args = ["--data", "d.csv", "--target", "diagnosis", "--drop", "id", *extra]
    out = _run("train", *args, "--no-progress", cwd=tmp_path)
    assert out.returncode == 2, out.stdout
    assert out.stderr.startswith("lrjax: error: ") and "Traceback" not in out.stderr
    assert re.search(pattern, out.stderr), out.stderr


@pytest.mark.parametrize(
    "args,expected",
    [
        ([], {"learning_rate": 0.5, "options": {}, "drop": ()}),
        (["--learning-rate", "auto"], {"learning_rate": "auto", "options": {}}),
        (["--learning-rate", "0.1"], {"learning_rate": 0.1}),
        (["--momentum", "nesterov"], {"options": {"momentum": "nesterov"}}),
        (["--momentum", "none", "--tol", "1e-6"], {"options": {"tol": 1e-6}}),
        (["--drop", "id", "--drop", "a, b"], {"drop": ("id", "a", "b")}),
    ],
    ids=["defaults", "auto", "float", "nesterov", "tol", "drop-repeat-and-commas"],
)
def test_train_arguments(args, expected):
    parsed = _parser().parse_args(["train", *args])
    got = {
        "learning_rate": parsed.learning_rate,
        "options": _fit_options(parsed),
        "drop": _drop(parsed.drop),
    }
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize(
    "args,message",
    [
        (["--learning-rate", "abc"], "expected a positive number or 'auto', got 'abc'"),
        (["--learning-rate", "-1"], "expected a positive number or 'auto', got '-1'"),
        (["--momentum", "adam"], "invalid choice: 'adam'"),
        (["--tol", "small"], "invalid float value: 'small'"),
    ],
    ids=["lr-word", "lr-negative", "momentum", "tol"],
)
def test_bad_train_arguments_are_argparse_errors(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["train", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_target_without_data_is_an_error(capsys):
    assert main(["train", "--target", "diagnosis"]) == 2
    assert "pass --data too" in capsys.readouterr().err
