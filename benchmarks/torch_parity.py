"""PyTorch input under scikit-learn's Array API dispatch against NumPy input.

Needs torch (not a dependency; e.g. ``pip install --index-url
https://download.pytorch.org/whl/cpu torch``) and ``SCIPY_ARRAY_API=1``. For both
estimators, each solver, ``top_k`` None and 1, float64 and float32, fits on NumPy
and on torch input and prints, per method, whether the output is a torch tensor,
its dtype, and the largest |difference| over the largest |NumPy value|::

    SCIPY_ARRAY_API=1 python benchmarks/torch_parity.py
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
import torch
from sklearn.base import clone, is_regressor
from sklearn.datasets import load_iris

from skmoe import MoEClassifier, MoERegressor


def compare(estimator, X, y, methods, dtype):
    X = X.astype(dtype)
    y = y.astype(dtype) if is_regressor(estimator) else y
    reference = clone(estimator).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xt = torch.asarray(X)
        model = clone(estimator).fit(Xt, torch.asarray(y))
        for method in methods:
            expected = getattr(reference, method)(X)
            got = getattr(model, method)(Xt)
            error = np.max(np.abs(expected - got.numpy())) / np.max(np.abs(expected))
            print(
                f"| {type(estimator).__name__} | {estimator.solver} | "
                f"{estimator.top_k} | {np.dtype(dtype).name} | {method} | "
                f"{isinstance(got, torch.Tensor)} | {got.dtype} | {error:.1e} |"
            )


def main():
    warnings.simplefilter("ignore")
    X, labels = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(300, 4))
    yr = np.where(Xr[:, 0] > 0, Xr @ [1, 2, 0, 0], -Xr @ [0, 1, 3, 0])
    yr = yr + 0.1 * rng.normal(size=300)
    print("| estimator | solver | top_k | dtype | method | torch | dtype | rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        for solver in ("em", "gradient", "sgd"):
            for top_k in (None, 1):
                kwargs = dict(solver=solver, top_k=top_k, random_state=0, max_iter=50)
                compare(
                    MoEClassifier(3, **kwargs),
                    X,
                    labels,
                    ["predict", "predict_proba", "predict_log_proba", "predict_gate"],
                    dtype,
                )
                compare(
                    MoERegressor(3, **kwargs),
                    Xr,
                    yr,
                    ["predict", "predict_gate"],
                    dtype,
                )


if __name__ == "__main__":
    main()
