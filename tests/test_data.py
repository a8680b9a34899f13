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
        ("bad-label", "a,y\n1,2\n", {"target": "y"}, r"found \[2.0\]"),
        ("not-a-number", "a,y\nx,1\n", {"target": "y"}, "must be a number"),
        ("ragged", "a,b,y\n1,2,1\n1,0\n", {"target": "y"}, "3 cells"),
        ("empty", "", {"target": "y"}, "empty"),
        ("csv-needs-target", "a,y\n1,1\n", {}, "needs --target"),
    ],
    ids=lambda v: v if isinstance(v, str) and "\n" not in v and len(v) < 20 else "",
)
def test_load_csv_errors(tmp_path, name, text, kwargs, pattern):
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=pattern):
        lrjax.load(path, **kwargs)


def test_load_errors_for_npz_and_suffix(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, features=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"no array 'X'.*\['features', 'y'\]"):
        lrjax.load(npz)
    with pytest.raises(ValueError, match=r"expected a \.csv or \.npz"):
        lrjax.load(tmp_path / "d.parquet")


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
