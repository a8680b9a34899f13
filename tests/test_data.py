"""The embedded dataset, CSV/NPZ loading, standardising and the seeded split."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer

import lrjax


def test_embedded_data_is_scikit_learns_copy():
    data = lrjax.load_breast_cancer()
    ref = sklearn_breast_cancer()
    assert data.X.shape == (569, 30) and data.y.shape == (569,)
    np.testing.assert_allclose(data.X, ref.data, rtol=1e-6)
    np.testing.assert_array_equal(data.y, (ref.target == 0).astype(int))  # 1 = malignant
    assert data.target == "malignant" and data.feature_names[0] == "mean_radius"
    assert data.y.sum() == 212


def test_load_csv_and_npz_round_trip(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    y = np.array([0, 1, 1, 0])
    csv = tmp_path / "d.csv"
    csv.write_text(
        "a,label,b,c\n" + "\n".join(f"{r[0]},{t},{r[1]},{r[2]}" for r, t in zip(X, y, strict=True))
    )
    got = lrjax.load(csv, target="label")
    np.testing.assert_array_equal(got.X, X)
    np.testing.assert_array_equal(got.y, y)
    assert got.feature_names == ("a", "b", "c")
    npz = tmp_path / "d.npz"
    np.savez(npz, X=X, y=y)
    got = lrjax.load(npz)
    np.testing.assert_array_equal(got.X, X)
    np.testing.assert_array_equal(got.y, y)


@pytest.mark.parametrize(
    "name,text,kwargs,pattern",
    [
        ("no-target", "a,b\n1,0\n", {"target": "y"}, r"no column 'y'.*\['a', 'b'\]"),
        ("one-label", "a,y\n1,2\n", {"target": "y"}, r"one label only, 2,"),
        ("not-a-number", "a,y\nx,1\n", {"target": "y"}, "must be a number"),
        ("ragged", "a,b,y\n1,2,1\n1,0\n", {"target": "y"}, "3 cells"),
        ("empty", "", {"target": "y"}, "empty"),
        ("csv-needs-target", "a,y\n1,1\n", {}, "needs --target"),
        ("three-labels", "a,y\n1,A\n2,B\n3,C\n", {"target": "y"}, r"3 different.*'A', 'B'"),
        ("empty-label", "a,y\n1,M\n2,\n3,B\n", {"target": "y"}, r"1 empty or NaN.*line 3"),
        ("nan-label", "a,y\n1,0\n2,NaN\n3,1\n", {"target": "y"}, r"empty or NaN.*line 3"),
        (
            "unknown-positive",
            "a,y\n1,M\n2,B\n",
            {"target": "y", "positive": "X"},
            r"got 'X'.*holds 'B', 'M': pass --positive",
        ),
        (
            "unknown-drop",
            "id,a,y\n1,1,M\n2,2,B\n",
            {"target": "y", "drop": ["idx"]},
            r"no column 'idx' to drop.*\['id', 'a', 'y'\]",
        ),
        ("drop-target", "a,y\n1,M\n2,B\n", {"target": "y", "drop": "y"}, "cannot drop 'y'"),
        (
            "text-features",
            "a,b,c,y\n1,x,,M\n2,3,4,B\n",
            {"target": "y"},
            r"column 'b' has 'x' \(line 2\); column 'c' has '' \(line 2\): pass --drop b,c",
        ),
        ("only-label", "id,y\n1,M\n2,B\n", {"target": "y", "drop": ["id"]}, "no feature"),
    ],
    ids=lambda v: v if isinstance(v, str) and "\n" not in v and len(v) < 20 else "",
)
def test_load_csv_errors(tmp_path, name, text, kwargs, pattern):
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=pattern):
        lrjax.load(path, **kwargs)


def _wdbc_like(path, rows=None):
    """A small file shaped like the classic wdbc.csv: quoted header, id, M/B diagnosis."""
    rows = rows or [
        (842302, "M", 17.99, 10.38),
        (842517, "B", 10.57, 17.77),
        (84300903, "M", 19.69, 21.25),
        (84348301, "B", 11.42, 20.38),
    ]
    lines = ['"id","diagnosis","radius_mean","texture_mean",']  # a trailing comma, as on Kaggle
    lines += [f'{i},"{d}",{r},{t},' for i, d, r, t in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "positive,classes,y",
    [
        (None, ("B", "M"), [1, 0, 1, 0]),
        ("M", ("B", "M"), [1, 0, 1, 0]),
        ("B", ("M", "B"), [0, 1, 0, 1]),
    ],
    ids=["sorted", "positive-M", "positive-B"],
)
def test_load_csv_maps_two_string_labels(tmp_path, positive, classes, y):
    data = lrjax.load(
        _wdbc_like(tmp_path / "wdbc.csv"), target="diagnosis", positive=positive, drop=["id"]
    )
    assert data.classes == classes
    np.testing.assert_array_equal(data.y, y)
    assert data.y.dtype == np.int32
    assert data.feature_names == ("radius_mean", "texture_mean")
    np.testing.assert_array_equal(data.X[:, 0], [17.99, 10.57, 19.69, 11.42])


@pytest.mark.parametrize(
    "text,positive,classes,y",
    [
        ("a,y\n1,0\n2,1\n3,1.0\n", None, (0, 1), [0, 1, 1]),
        ("a,y\n1,0\n2,1\n3,1\n", "0", (1, 0), [1, 0, 0]),
        ("a,y\n1,4\n2,2\n3,10\n3,2\n", None, None, None),
        ("a,y\n1,4\n2,2\n", None, (2, 4), [1, 0]),
        ("a,y\n1,4\n2,2\n", "2", (4, 2), [0, 1]),
        ("a,y\n1,yes\n2,no\n", "yes", ("no", "yes"), [1, 0]),
        ('a,y\n1," M "\n2,B\n', "M", ("B", "M"), [1, 0]),
    ],
    ids=[
        "zero-one",
        "zero-one-flipped",
        "three-numbers",
        "two-four",
        "two-four-positive-2",
        "yes-no",
        "quoted-spaces",
    ],
)
def test_load_csv_label_rules(tmp_path, text, positive, classes, y):
    path = tmp_path / "d.csv"
    path.write_text(text)
    if classes is None:
        with pytest.raises(ValueError, match="3 different labels"):
            lrjax.load(path, target="y", positive=positive)
        return
    data = lrjax.load(path, target="y", positive=positive)
    assert data.classes == classes
    np.testing.assert_array_equal(data.y, y)


def test_load_csv_quoted_cells_and_comma_separated_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('name,"size, cm",y\n"Smith, J",1.5,M\n"Doe, ""J""",2.5,B\n')
    data = lrjax.load(path, target="y", drop=["name"], positive="M")
    assert data.feature_names == ("size, cm",)
    np.testing.assert_array_equal(data.X[:, 0], [1.5, 2.5])
    np.testing.assert_array_equal(data.y, [1, 0])


@pytest.mark.parametrize(
    "y,positive,classes,expected",
    [
        (np.array(["M", "B", "M"]), "M", ("B", "M"), [1, 0, 1]),
        (np.array([b"M", b"B", b"M"]), "B", ("M", "B"), [0, 1, 0]),
        (np.array([2, 4, 4]), "4", (2, 4), [0, 1, 1]),
        (np.array([True, False, True]), None, (0, 1), [1, 0, 1]),
    ],
    ids=["strings", "bytes", "two-four", "bools"],
)
def test_load_npz_maps_labels(tmp_path, y, positive, classes, expected):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((3, 2)), y=y)
    data = lrjax.load(path, positive=positive)
    assert data.classes == classes
    np.testing.assert_array_equal(data.y, expected)


def test_load_errors_for_npz_and_suffix(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, features=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"no array 'X'.*\['features', 'y'\]"):
        lrjax.load(npz)
    with pytest.raises(ValueError, match=r"expected a \.csv or \.npz"):
        lrjax.load(tmp_path / "d.parquet")
    np.savez(npz, X=np.zeros((3, 2)), y=np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"label for every example.*index 1"):
        lrjax.load(npz)
    with pytest.raises(ValueError, match="no named columns to drop"):
        lrjax.load(npz, drop=["id"])


def test_standardize_uses_training_statistics():
    X_train = jnp.array([[1.0, 5.0], [3.0, 5.0]])
    X_test = jnp.array([[2.0, 6.0]])
    a, b = lrjax.standardize(X_train, X_test)
    np.testing.assert_allclose(a, [[-1.0, 0.0], [1.0, 0.0]])  # a constant column is only centred
    np.testing.assert_allclose(b, [[0.0, 1.0]])


def test_split_is_seeded_and_disjoint():
    X = jnp.arange(100.0).reshape(50, 2)
    y = jnp.arange(50) % 2
    one = lrjax.train_test_split(X, y, key=jax.random.key(0), test_fraction=0.2)
    two = lrjax.train_test_split(X, y, key=jax.random.key(0), test_fraction=0.2)
    other = lrjax.train_test_split(X, y, key=jax.random.key(1), test_fraction=0.2)
    for p, q in zip(one, two, strict=True):
        np.testing.assert_array_equal(p, q)
    assert one[1].shape == (10, 2) and one[0].shape == (40, 2)
    rows = np.concatenate([one[0][:, 0], one[1][:, 0]])
    np.testing.assert_array_equal(np.sort(rows), np.asarray(X[:, 0]))
    assert not np.array_equal(one[1], other[1])


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.001])
def test_split_rejects_empty_parts(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        lrjax.train_test_split(
            jnp.zeros((10, 1)), jnp.zeros(10), key=jax.random.key(0), test_fraction=fraction
        )
