"""lrjax.LogisticRegression: scikit-learn's own checks, its tools, and agreement with lrjax.fit."""

import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import lrjax

# scikit-learn's checks fit blobs that a line separates; the unpenalised weights then grow
# until max_iter, which the estimator reports as a ConvergenceWarning (expected there).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([lrjax.LogisticRegression()])
def test_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


def _problem(m=600, n=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n)) * np.array([5.0, 1.0, 0.3, 2.0])[:n]
    z = X @ (np.array([0.3, -1.0, 2.0, 0.5])[:n]) + 0.2
    y = np.where(rng.random(m) < 1 / (1 + np.exp(-z)), "M", "B")
    return X, y


def test_any_two_labels_and_the_positive_class_is_the_second():
    X, y = _problem()
    model = lrjax.LogisticRegression().fit(X, y)
    assert list(model.classes_) == ["B", "M"]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.where(proba[:, 1] >= 0.5, "M", "B"))
    best = SkLogisticRegression(C=np.inf, max_iter=1000).fit(X, y).score(X, y)
    assert model.score(X, y) >= best - 0.01  # the data are noisy: the optimum's own accuracy
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-10, atol=1e-300)


def test_equals_lrjax_fit_with_the_same_settings():
    X, y = _problem()
    labels = (y == "M").astype(np.float64)
    settings = {"learning_rate": 0.05, "momentum": None, "tol": None}
    model = lrjax.LogisticRegression(max_iter=300, method="scan", **settings).fit(X, y)

    with jax.enable_x64(True):
        params, history = lrjax.fit(X, labels, steps=300, method="scan", **settings)
        w, b = np.asarray(params.w), float(params.b)
    np.testing.assert_allclose(model.coef_[0], w, rtol=1e-12)
    np.testing.assert_allclose(model.intercept_[0], b, rtol=1e-12)
    assert model.n_iter_.tolist() == [len(history)] == [300]
    np.testing.assert_allclose(model.decision_function(X), X @ w + b, rtol=1e-12, atol=1e-12)


def test_auto_reaches_scikit_learns_unpenalised_optimum():
    X, y = _problem(2000, 4, seed=1)
    ours = lrjax.LogisticRegression(tol=1e-10, max_iter=20_000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own notes about its solver
        theirs = SkLogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4, rtol=0)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-4, rtol=0)
    assert ours.n_iter_[0] < 20_000


def test_float32_input_trains_in_float32():
    X, y = _problem()
    model = lrjax.LogisticRegression().fit(X.astype(np.float32), y)
    assert model.coef_.dtype == np.float32
    assert model.predict_proba(X.astype(np.float32)).dtype == np.float64


def test_sample_weight_equals_repeating_examples():
    X, y = _problem(300)
    s = np.random.default_rng(2).integers(0, 3, len(y))
    rep = np.repeat(np.arange(len(y)), s)
    a = lrjax.LogisticRegression(tol=None, max_iter=200).fit(X, y, sample_weight=s)
    b = lrjax.LogisticRegression(tol=None, max_iter=200).fit(X[rep], y[rep])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)


def test_pipeline_grid_search_and_cross_validation():
    X, y = _problem(400)
    pipe = make_pipeline(StandardScaler(), lrjax.LogisticRegression())
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.7
    space = {
        "logisticregression__momentum": [None, "nesterov"],
        "logisticregression__learning_rate": ["auto", 0.5],
    }
    grid = GridSearchCV(pipe, space, cv=3).fit(X, y)
    assert grid.best_score_ > 0.7
    assert set(grid.cv_results_["param_logisticregression__momentum"]) == {None, "nesterov"}


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas", reason="pandas is in the dev extra")
    X, y = _problem()
    frame = pd.DataFrame(X, columns=["radius", "texture", "smoothness", "area"])
    model = lrjax.LogisticRegression().fit(frame, y)
    assert list(model.feature_names_in_) == ["radius", "texture", "smoothness", "area"]
    assert model.n_features_in_ == 4
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)  # an array where a frame was fitted: scikit-learn's warning


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.array(["M"] * 6), "one class only"),
        (np.array(["M", "B", "X", "M", "B", "X"]), "Only binary classification is supported"),
        (np.array([0.0, 1.0, np.nan, 1.0, 0.0, 1.0]), "NaN"),
        (np.array([0.1, 0.7, 0.3, 0.2, 0.9, 0.4]), "Unknown label type"),
    ],
    ids=["one-class", "three-classes", "nan", "continuous"],
)
def test_bad_labels_raise_what_scikit_learn_users_expect(y, match):
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match=match):
        lrjax.LogisticRegression().fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"learning_rate": "fast"}, "learning_rate must be a positive number or 'auto'"),
        ({"learning_rate": -1.0}, "learning_rate must be a positive number or 'auto'"),
        ({"max_iter": 0}, "max_iter must be a positive int"),
        ({"tol": 0}, "tol must be a positive number or None"),
        ({"momentum": "heavy"}, "momentum must be None or 'nesterov'"),
        ({"method": "gpu"}, "method must be one of"),
    ],
    ids=["lr-word", "lr-negative", "max-iter", "tol", "momentum", "method"],
)
def test_bad_parameters_are_value_errors_at_fit(params, match):
    X, y = _problem(50)
    with pytest.raises(ValueError, match=match):
        lrjax.LogisticRegression(**params).fit(X, y)


def test_before_fit_every_method_raises_not_fitted():
    model = lrjax.LogisticRegression()
    for method in (model.predict, model.predict_proba, model.decision_function):
        with pytest.raises(NotFittedError):
            method(np.ones((2, 3)))


def test_max_iter_reached_warns_with_the_fix():
    X, y = _problem()
    with pytest.warns(ConvergenceWarning, match="raise max_iter"):
        lrjax.LogisticRegression(max_iter=3).fit(X, y)


def test_import_lrjax_does_not_import_scikit_learn():
    code = "import sys, lrjax; assert 'sklearn' not in sys.modules; lrjax.LogisticRegression; "
    code += "assert 'sklearn' in sys.modules"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
