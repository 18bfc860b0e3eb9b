"""PyTorch input under scikit-learn's Array API dispatch against NumPy input.

Needs torch (not a dependency; e.g. ``pip install --index-url
https://download.pytorch.org/whl/cpu torch``) and ``SCIPY_ARRAY_API=1``. Fits each
case on NumPy and on torch input (float64, float32, and float64 tensors that
require gradients) and prints, per method, the output's type and dtype and the
largest |difference| over the largest |NumPy value|. The cases: both basic
estimators with each solver and ``top_k`` None and 1 (2 for the gradient-based
solvers; iris, a piecewise-linear regression), and the other estimators and
options: Poisson with exposure, zero inflation and ``alpha=0``, Gamma with zero
inflation, negative binomial, Student-t noise, tied variances, groups, the
Gaussian, hierarchical and constant gates, ``top_k=2``, pruning, hard
assignments, SQUAREM, string labels and class weights. ``predict_distribution``
is held on the host (NumPy) by design; its ``mean()`` is compared. Scores are
Python floats::

    SCIPY_ARRAY_API=1 python benchmarks/torch_parity.py
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
import torch
from sklearn.base import clone, is_regressor
from sklearn.datasets import load_iris

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)

#: dtype label -> (NumPy dtype, whether the torch input requires gradients)
DTYPES = {
    "float64": (np.float64, False),
    "float32": (np.float32, False),
    "float64 grad": (np.float64, True),
}


def _tensor(a, dtype, grad=False):
    if a.dtype.kind not in "fiub":
        return a  # string labels stay NumPy
    t = torch.asarray(a.astype(dtype) if a.dtype.kind == "f" else a)
    return t.requires_grad_(True) if grad else t


def _values(a):
    if isinstance(a, torch.Tensor):
        return a.detach().numpy()
    return np.asarray(a)


def compare(label, estimator, X, y, methods, dtype_label, fit_params=None):
    """Print a table row per method of a fit on NumPy and one on torch input."""
    dtype, grad = DTYPES[dtype_label]
    fit_params = fit_params or {}
    X = X.astype(dtype)
    y = y.astype(dtype) if y.dtype.kind == "f" else y
    numpy_params = {
        k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in fit_params.items()
    }
    reference = clone(estimator).fit(X, y, **numpy_params)
    with sklearn.config_context(array_api_dispatch=True):
        Xt, yt = _tensor(X, dtype, grad), _tensor(y, dtype)
        torch_params = {k: _tensor(v, dtype) for k, v in fit_params.items()}
        model = clone(estimator).fit(Xt, yt, **torch_params)
        for method in methods:
            if method in ("score", "bic"):
                expected = getattr(reference, method)(X, y)
                got = getattr(model, method)(Xt, yt)
            elif method == "predict_distribution":
                expected = reference.predict_distribution(X).mean()
                got = model.predict_distribution(Xt).mean()
            else:
                expected = getattr(reference, method)(X)
                got = getattr(model, method)(Xt)
            kind = type(got).__name__
            if hasattr(got, "dtype"):
                kind += f" {str(got.dtype).replace('torch.', '')}"
            if np.asarray(expected).dtype.kind in "OUS":
                error = float(not np.array_equal(expected, np.asarray(got)))
            else:
                expected = np.asarray(expected, dtype=float)
                difference = np.abs(expected - _values(got).astype(float))
                error = np.max(difference) / np.max(np.abs(expected))
            print(f"| {label} | {dtype_label} | {method} | {kind} | {error:.1e} |")


def cases():
    """(label, estimator, X, y, methods, fit params) for each case."""
    X, labels = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(300, 4))
    yr = np.where(Xr[:, 0] > 0, Xr @ [1, 2, 0, 0], -Xr @ [0, 1, 3, 0])
    yr = yr + 0.1 * rng.normal(size=300)
    rates = np.exp(np.where(Xr[:, 0] > 0, 0.5 + 0.5 * Xr[:, 1], 1 - 0.3 * Xr[:, 2]))
    exposure = rng.uniform(0.5, 2, 300)
    counts = rng.poisson(rates * exposure).astype(float)
    counts[rng.uniform(size=300) < 0.2] = 0
    amounts = rng.gamma(2.0, rates / 2)
    amounts[rng.uniform(size=300) < 0.2] = 0
    groups = np.repeat(np.arange(75), 4)
    Xg = Xr[groups * 4]  # the same row in each group
    clf = ["predict", "predict_proba", "predict_log_proba", "predict_gate", "score"]
    reg = ["predict", "predict_gate", "score", "predict_distribution"]
    common = dict(n_init=1, max_iter=50, random_state=0)
    for solver in ("em", "gradient", "sgd"):
        # (top_k=1 does not train a gradient-based fit's gate: refused)
        for top_k in (None, 1 if solver == "em" else 2):
            kwargs = dict(solver=solver, top_k=top_k, **common)
            name = f"{solver}, top_k={top_k}"
            yield f"MoEClassifier {name}", MoEClassifier(3, **kwargs), X, labels, clf
            yield f"MoERegressor {name}", MoERegressor(3, **kwargs), Xr, yr, reg
    strings = np.array(["setosa", "versicolor", "virginica"])[labels]
    balanced = MoEClassifier(3, class_weight="balanced", **common)
    yield "MoEClassifier strings", MoEClassifier(3, **common), X, strings, clf
    yield "MoEClassifier balanced", balanced, X, labels, clf
    yield "MoEClassifier binary", MoEClassifier(2, **common), Xr, yr > 0, clf
    regressors = {
        "student_t": MoERegressor(2, noise="student_t", **common),
        "tied": MoERegressor(2, variance_type="tied", **common),
        "gaussian gate": MoERegressor(2, gate="gaussian", **common),
        "hierarchical gate": MoERegressor(4, gate="hierarchical", **common),
        "constant gate": MoERegressor(2, gate="constant", **common),
        "top_k=2": MoERegressor(3, top_k=2, **common),
        "prune_threshold": MoERegressor(4, prune_threshold=0.05, **common),
        "hard": MoERegressor(2, assignment="hard", **common),
        "squarem": MoERegressor(2, acceleration="squarem", **common),
    }
    for name, estimator in regressors.items():
        yield f"MoERegressor {name}", estimator, Xr, yr, reg
    grouped = dict(groups=groups)
    yield "MoERegressor groups", MoERegressor(2, **common), Xg, yr, reg, grouped
    with_exposure = dict(exposure=exposure)
    for name, estimator, target, params in (
        ("Poisson exposure", MoEPoissonRegressor(2, **common), counts, with_exposure),
        ("Poisson zero_inflated", MoEPoissonRegressor(2, zero_inflated=True, **common),
         counts, {}),
        ("Poisson alpha=0", MoEPoissonRegressor(2, alpha=0, **common), counts, {}),
        ("Gamma", MoEGammaRegressor(2, **common), np.maximum(amounts, 0.1), {}),
        ("Gamma zero_inflated", MoEGammaRegressor(2, zero_inflated=True, **common),
         amounts, {}),
        ("NegativeBinomial", MoENegativeBinomialRegressor(2, **common), counts, {}),
        ("NegativeBinomial zero_inflated",
         MoENegativeBinomialRegressor(2, zero_inflated=True, **common), counts, {}),
    ):  # fmt: skip
        methods = ["predict_gate", "score", "predict_distribution"]
        if not params:
            methods.insert(0, "predict")  # (with exposure, predict takes it too)
        yield name, estimator, Xr, target, methods, params


def main():
    warnings.simplefilter("ignore")
    print("| case | input | method | output | rel. diff |")
    print("|---|---|---|---|---|")
    for dtype_label in DTYPES:
        for label, estimator, X, y, methods, *params in cases():
            assert is_regressor(estimator) or y.dtype.kind != "f"
            compare(label, estimator, X, y, methods, dtype_label, *params)


if __name__ == "__main__":
    main()
