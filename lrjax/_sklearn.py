"""``lrjax.LogisticRegression``: the lecture's model as a scikit-learn estimator.

Importing this module imports scikit-learn (the optional extra ``lrjax[sklearn]``);
``import lrjax`` does not: ``lrjax.LogisticRegression`` is loaded on first use.
The estimator validates and encodes its inputs the scikit-learn way, then trains with
:func:`lrjax.fit` (jit-compiled, on whatever device JAX uses) and keeps the result as
NumPy arrays, so that it pickles, clones and predicts without JAX's dispatch.
"""

import warnings

import jax
import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from lrjax._solver import MOMENTA
from lrjax._train import METHODS, fit
from lrjax._types import Params


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression, unpenalised, trained by lrjax's gradient descent.

    The same model as :func:`lrjax.fit` (no regularisation: scikit-learn's
    ``LogisticRegression(C=np.inf)``), with scikit-learn's interface: any two labels
    (``classes_``; the second, in sorted order, is the positive class), pandas column
    names (``feature_names_in_``), ``sample_weight``, pipelines, grid search.
    Float32 input is trained in float32, anything else in float64.

    Args:
        learning_rate: α > 0, or ``"auto"`` (1/L, :func:`lrjax.auto_learning_rate`).
        max_iter: the most gradient steps (``fit``'s ``steps``).
        tol: stop once every component of the gradient is at most this; None runs
            all ``max_iter`` steps.
        momentum: ``"nesterov"`` or None (the lecture's plain update).
        method: how ``fit`` reads X (``lrjax.fit``'s ``method``).

    Attributes:
        classes_: (2,) the labels; ``classes_[1]`` is the class whose probability
            ``predict_proba(X)[:, 1]`` is.
        coef_: (1, n_features) weights w; intercept_: (1,) bias b.
        n_iter_: (1,) steps taken.
        n_features_in_, feature_names_in_: as in scikit-learn.
    """

    def __init__(self, learning_rate="auto", max_iter=1000, tol=1e-4, momentum="nesterov",
                 method="auto"):  # fmt: skip
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.momentum = momentum
        self.method = method

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only: fit says so
        return tags

    def fit(self, X, y, sample_weight=None):
        """Train on X (m, n) and labels y (m,) of exactly two classes.

        Args:
            X: (m, n) features: an array, a list of rows or a DataFrame.
            y: (m,) labels, any two values (strings, ints, booleans).
            sample_weight: (m,) example weights ≥ 0, or None.

        Returns:
            self.

        Raises:
            ValueError: X or y not as described (NaN, inf, wrong shapes), a
                continuous or multiclass y, one class only, or bad parameters.
        """
        self._check_parameters()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y", raise_unknown=True)
        if kind != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {kind}: "
                "train one model per class (sklearn.multiclass.OneVsRestClassifier)"
            )
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(
                f"y has one class only ({self.classes_[0]!r}): a classifier needs examples "
                "of two classes"
            )
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                           ensure_non_negative=True)  # fmt: skip
            for k, label in enumerate(self.classes_):
                if not weights[labels == k].sum() > 0:
                    raise ValueError(
                        f"Every example of class {label!r} has weight 0: with one class left "
                        "there is nothing to separate; give it positive weights"
                    )
        with jax.enable_x64(X.dtype == np.float64):
            params, history = fit(
                X, labels.astype(X.dtype), learning_rate=self.learning_rate,
                steps=self.max_iter, momentum=self.momentum, tol=self.tol,
                method=self.method, sample_weight=weights,
            )  # fmt: skip
            w, b = np.asarray(params.w), np.asarray(params.b)
        self.coef_, self.intercept_ = w[None, :], b.reshape(1)
        self.n_iter_ = np.array([len(history)])
        if self.tol is not None and len(history) == self.max_iter:
            warnings.warn(
                f"lrjax.LogisticRegression did not reach tol={self.tol} in max_iter="
                f"{self.max_iter} steps: raise max_iter, or scale the features (on separable "
                "data the unpenalised weights grow without bound)",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _check_parameters(self):
        if not (self.learning_rate == "auto" or _positive(self.learning_rate)):
            raise ValueError(
                f"learning_rate must be a positive number or 'auto', got {self.learning_rate!r}"
            )
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)):
            raise ValueError(f"max_iter must be a positive int, got {self.max_iter!r}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive int, got {self.max_iter!r}")
        if self.tol is not None and not _positive(self.tol):
            raise ValueError(f"tol must be a positive number or None, got {self.tol!r}")
        if self.momentum not in MOMENTA:
            raise ValueError(f"momentum must be None or 'nesterov', got {self.momentum!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")

    def decision_function(self, X):
        """The logits z = X·w + b, (m,): positive where ``classes_[1]`` is predicted.

        Raises:
            sklearn.exceptions.NotFittedError: before ``fit``.
            ValueError: X with NaN, inf, or a different number of features.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return X @ self.coef_[0].astype(X.dtype) + self.intercept_[0].astype(X.dtype)

    def predict_proba(self, X):
        """(m, 2) float64: the probabilities of ``classes_[0]`` and ``classes_[1]``,
        σ(-z) and σ(z)."""
        z = self.decision_function(X).astype(np.float64)
        return np.stack([expit(-z), expit(z)], axis=1)

    def predict_log_proba(self, X):
        """(m, 2) float64: log σ(-z) and log σ(z), from z (finite for any finite z:
        log σ(z) = -softplus(-z))."""
        z = self.decision_function(X).astype(np.float64)
        return np.stack([-np.logaddexp(0, z), -np.logaddexp(0, -z)], axis=1)

    def predict(self, X):
        """(m,) labels: ``classes_[1]`` where z ≥ 0 (as :func:`lrjax.predict`), else
        ``classes_[0]``."""
        positive = self.decision_function(X) >= 0  # first: it checks that fit ran
        return self.classes_[positive.astype(int)]

    @property
    def params_(self) -> Params:
        """The trained ``lrjax.Params(w, b)``, for lrjax's own functions."""
        check_is_fitted(self)
        return Params(w=self.coef_[0], b=self.intercept_[0])


def _positive(value) -> bool:
    """A real number > 0 (not a bool), finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return bool(np.isfinite(value) and value > 0)
