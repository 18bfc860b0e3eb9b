"""Fitting with ``top_k=1``: cold EM fits, a stream and a dense fit's warm refit.

Run: ``OMP_NUM_THREADS=1 python benchmarks/topk1_fitting.py`` (about two
minutes on 2 cores). Three regimes split along the first of two uniform
features (12000 rows, 10000 to fit). With ``top_k=1`` each row's
responsibility is 1 on the gate's largest expert whatever its y, so EM moves
the gate by the inputs alone (with ``gate="gaussian"`` its M-step is then
classification EM of the density of X); y enters only through the start. The
script prints test R^2, the conditional log-likelihood and (Gaussian gate) the
joint one per sample for: cold fits at ``n_init`` 1, 4 and 20 (seeds 0 to 2),
nine ``partial_fit`` streams (3 shuffles x 3 seeds, batches of 500, three
passes), a fit started from the true regimes, the dense fit (``top_k=None``)
and its warm refit with ``top_k=1``; then the gate of a ``top_k=1`` warm fit
with y against one with y permuted (identical).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from skmoe import MoERegressor


def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (12000, 2))
    regime = np.digitize(X[:, 0], [-1, 1])
    coef = np.array([[-2.0, 0.5], [0.0, 1.0], [3.0, -1.0]])
    intercept = np.array([-1.0, 2.0, -3.0])
    y = np.einsum("ij,ij->i", X, coef[regime]) + intercept[regime]
    y = y + 0.3 * rng.standard_normal(12000)
    return X[:10000], y[:10000], X[10000:], y[10000:], regime[:10000]


def line(name, model, X, y, X_test, y_test):
    # (log_likelihood_ of a stream is its last batch's: evaluated on all rows)
    log_p_y = np.mean(model.log_likelihood_samples(X, y))
    text = (
        f"{name:<44} R^2 {model.score(X_test, y_test):.4f}  log p(y|x)/n {log_p_y:.4f}"
    )
    if model.gate == "gaussian" and model.top_k == 1:  # EM's objective
        text += f"  joint/n {_joint(model, X, y):.4f}"
    print(text, flush=True)


def _joint(model, X, y):
    """Mean ``log p(x) + log p(y | x)`` from the fitted attributes, each row
    routed to the expert of its largest gate density (``top_k=1``)."""
    logits = np.column_stack(
        [
            np.log(weight) + multivariate_normal(mean, covariance).logpdf(X)
            for weight, mean, covariance in zip(
                model.gate_weights_,
                model.gate_means_,
                model.gate_covariances_,
                strict=True,
            )
        ]
    )
    expert = logits.argmax(axis=1)
    rows = np.arange(len(y))
    mean = (X @ model.expert_coef_.T + model.expert_intercept_)[rows, expert]
    variance = model.expert_variance_[expert]
    log_p_y = -0.5 * (np.log(2 * np.pi * variance) + (y - mean) ** 2 / variance)
    return np.mean(logsumexp(logits, axis=1) + log_p_y)


def main():
    warnings.simplefilter("ignore")  # ConvergenceWarning of a few runs
    X, y, X_test, y_test, regime = data()
    for gate in ["gaussian", "softmax"]:
        for n_init in [1, 4, 20]:
            for seed in range(3):
                model = MoERegressor(
                    n_experts=3, gate=gate, top_k=1, n_init=n_init, random_state=seed
                ).fit(X, y)
                name = f"{gate} top_k=1 n_init={n_init} seed={seed}"
                line(name, model, X, y, X_test, y_test)
        model = MoERegressor(n_experts=3, gate=gate, top_k=1, n_init=1)
        model.fit(X, y, init_responsibilities=regime)
        line(f"{gate} top_k=1 from the true regimes", model, X, y, X_test, y_test)
        model = MoERegressor(n_experts=3, gate=gate, random_state=0).fit(X, y)
        line(f"{gate} top_k=None", model, X, y, X_test, y_test)
        model.set_params(top_k=1, warm_start=True).fit(X, y)
        line(f"{gate} top_k=1 warm from top_k=None", model, X, y, X_test, y_test)
    for shuffle in range(3):
        rows = np.arange(len(y))  # the given order, then two shuffles
        if shuffle:
            rows = np.random.RandomState(100 + shuffle).permutation(len(y))
        for seed in range(3):
            model = MoERegressor(
                n_experts=3, gate="gaussian", top_k=1, random_state=seed
            )
            for _ in range(3):
                for batch in np.array_split(rows, 20):
                    model.partial_fit(X[batch], y[batch])
            name = f"gaussian top_k=1 stream shuffle={shuffle} seed={seed}"
            line(name, model, X, y, X_test, y_test)
    # the gate of top_k=1 EM does not see y: the same steps with y permuted
    start = MoERegressor(n_experts=3, gate="gaussian", top_k=1, n_init=1, max_iter=3)
    start.fit(X, y)
    permuted = np.random.RandomState(7).permutation(y)
    fits = [
        copy.deepcopy(start).set_params(warm_start=True, max_iter=30, tol=0.0)
        for _ in range(2)
    ]
    fits[0].fit(X, y)
    fits[1].fit(X, permuted)
    change = np.abs(fits[0].gate_means_ - fits[1].gate_means_).max()
    print(f"gate means after a warm top_k=1 fit, y against y permuted: {change:.3g}")


if __name__ == "__main__":
    main()
