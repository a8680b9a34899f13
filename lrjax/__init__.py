"""lrjax: gradient descent for logistic regression, as derived on a computation graph.

z = w·x + b, a = σ(z), L(a, y) = -(y·log a + (1 - y)·log(1 - a));
da = -y/a + (1 - y)/(1 - a), dz = a - y, dw = x·dz, db = dz; w -= α·dw, b -= α·db.
"""

from lrjax._backward import GradientCheck, autodiff_grads, backward, check_gradients
from lrjax._data import (
    Dataset,
    load,
    load_breast_cancer,
    load_csv,
    load_npz,
    standardize,
    train_test_split,
)
from lrjax._forward import forward
from lrjax._loss import cost, loss
from lrjax._many import fit_many
from lrjax._native import NativeUnavailable
from lrjax._parallel import fit_sharded
from lrjax._sgd import fit_sgd
from lrjax._train import accuracy, auto_learning_rate, fit, predict, step
from lrjax._types import Grads, Params

__all__ = [
    "Dataset",
    "GradientCheck",
    "Grads",
    "LogisticRegression",
    "NativeUnavailable",
    "Params",
    "accuracy",
    "auto_learning_rate",
    "autodiff_grads",
    "backward",
    "check_gradients",
    "cost",
    "fit",
    "fit_many",
    "fit_sgd",
    "fit_sharded",
    "forward",
    "load",
    "load_breast_cancer",
    "load_csv",
    "load_npz",
    "loss",
    "predict",
    "standardize",
    "step",
    "train_test_split",
]

__version__ = "0.1.0"


def __getattr__(name: str):
    """``lrjax.LogisticRegression`` imports scikit-learn on first use, not with lrjax."""
    if name == "LogisticRegression":
        try:
            from lrjax._sklearn import LogisticRegression
        except ImportError as err:  # scikit-learn is an optional extra
            raise ImportError(
                f"lrjax.LogisticRegression needs scikit-learn ({err}): pip install 'lrjax[sklearn]'"
            ) from err
        return LogisticRegression
    raise AttributeError(f"module 'lrjax' has no attribute {name!r}")
