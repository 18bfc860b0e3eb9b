"""Predict latency of skmoe's estimators against scikit-learn's and the floor.

People serve models row by row, so what a call costs at 1 and 10 rows
matters as much as the throughput at 200000. For each predict path (K=3
experts, D=10 features, fitted on 2000 rows) and each number of rows, the
median seconds of one call of: skmoe; its scikit-learn peer (``Ridge``,
``LogisticRegression``, ``PoissonRegressor``, ``GammaRegressor``; the
negative binomial's peer is ``PoissonRegressor``); and the floor, the same
numerics written plainly in NumPy from the fitted attributes (``coef @ X.T +
intercept`` without a design matrix, a softmax gate over the experts, the
experts' means or class probabilities, their gate-weighted sum, all laid out
experts-major as skmoe's), with no validation and no chunks. The three
are timed interleaved in one process, each repeat a batch of calls of about
``--batch`` seconds; the table gives the medians and skmoe's ratios to both.
Run with single-threaded BLAS, as skmoe predicts on designs of 2**16 entries
and more::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/predict_latency.py
    python benchmarks/predict_latency.py --rows 1 10 --repeats 9
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.linear_model import (
    GammaRegressor,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
)

import skmoe
from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)

N_TRAIN, N_FEATURES, N_EXPERTS = 2000, 10, 3


def softmax_columns(Z):
    """Softmax over axis 0 of logits (m, n): experts-major, as skmoe lays out
    its arrays (a softmax over a short last axis of (n, m) took 1.4 to 3 times
    skmoe's whole predict at 200000 rows)."""
    E = np.exp(Z - Z.max(axis=0))
    return E / E.sum(axis=0)


def gate(model, X):
    return softmax_columns(model.gate_coef_ @ X.T + model.gate_intercept_[:, None])


def linear(model, X):
    return model.expert_coef_ @ X.T + model.expert_intercept_[:, None]


def floor_mean(model, X):
    return np.sum(gate(model, X) * linear(model, X), axis=0)


def floor_std(model, X):
    G, M = gate(model, X), linear(model, X)
    mean = np.sum(G * M, axis=0)
    spread = model.expert_variance_[:, None] + (M - mean) ** 2
    return mean, np.sqrt(np.sum(G * spread, axis=0))


def floor_parts(model, X):
    return gate(model, X).T, linear(model, X).T


def floor_proba(model, X):
    n_experts, n_classes, _ = model.expert_coef_.shape
    logits = model.expert_coef_.reshape(n_experts * n_classes, -1) @ X.T
    logits = logits.reshape(n_experts, n_classes, -1)
    logits += model.expert_intercept_[:, :, None]
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    return np.sum(gate(model, X)[:, None, :] * proba, axis=0).T


def floor_label(model, X):
    return model.classes_[np.argmax(floor_proba(model, X), axis=1)]


def floor_log_link(model, X):
    return np.sum(gate(model, X) * np.exp(linear(model, X)), axis=0)


def fitted(seed=0):
    """The fitted skmoe models and their peers on one seeded data set."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((N_TRAIN, N_FEATURES))
    lin = 0.3 * X @ rng.standard_normal(N_FEATURES)
    regime = X[:, 0] > 0
    y = np.where(regime, lin, -lin) + 0.3 * rng.standard_normal(N_TRAIN)
    labels = np.digitize(y, [-0.3, 0.3])
    counts = rng.poisson(np.exp(np.where(regime, lin, -lin)))
    amounts = rng.gamma(2.0, np.exp(np.where(regime, lin, -lin)) / 2.0)
    k = {"n_experts": N_EXPERTS, "random_state": 0}
    with warnings.catch_warnings():  # fits' warnings are not the point here
        warnings.simplefilter("ignore")
        return {
            "regressor": (MoERegressor(**k).fit(X, y), Ridge().fit(X, y)),
            "classifier": (
                MoEClassifier(**k).fit(X, labels),
                LogisticRegression().fit(X, labels),
            ),
            "poisson": (
                MoEPoissonRegressor(**k).fit(X, counts),
                PoissonRegressor().fit(X, counts),
            ),
            "gamma": (
                MoEGammaRegressor(**k).fit(X, amounts),
                GammaRegressor().fit(X, amounts),
            ),
            "negative binomial": (
                MoENegativeBinomialRegressor(**k).fit(X, counts),
                PoissonRegressor().fit(X, counts),
            ),
        }


#: (label, model key, skmoe call, peer call, floor)
PATHS = [
    ("MoERegressor.predict", "regressor", "predict", "predict", floor_mean),
    ("  predict(return_std)", "regressor", "std", "predict", floor_std),
    ("  predict_distribution", "regressor", "dist", "predict", floor_parts),
    ("MoEClassifier.predict_proba", "classifier", "predict_proba", "predict_proba",
     floor_proba),
    ("  predict", "classifier", "predict", "predict", floor_label),
    ("MoEPoissonRegressor.predict", "poisson", "predict", "predict", floor_log_link),
    ("MoEGammaRegressor.predict", "gamma", "predict", "predict", floor_log_link),
    ("MoENegativeBinomial.predict", "negative binomial", "predict", "predict",
     floor_log_link),
]  # fmt: skip


def skmoe_call(model, name):
    if name == "std":
        return lambda X: model.predict(X, return_std=True)
    if name == "dist":
        return model.predict_distribution
    return getattr(model, name)


def per_call(call, X, number):
    start = time.perf_counter()
    for _ in range(number):
        call(X)
    return (time.perf_counter() - start) / number


def medians(calls, X, repeats, batch):
    """Median seconds per call of each of ``calls``, timed interleaved."""
    numbers = []
    for call in calls:  # warm up, and size each batch to about ``batch`` s
        once = per_call(call, X, 1)
        numbers.append(max(1, int(batch / max(once, 1e-7))))
    times = [[] for _ in calls]
    for _ in range(repeats):
        for call, number, out in zip(calls, numbers, times, strict=True):
            out.append(per_call(call, X, number))
    return [statistics.median(t) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 10, 1000, 200000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=float, default=0.02, help="seconds a batch")
    parser.add_argument(
        "--dtype", default="float64", help="of the inputs (the models are float64)"
    )
    args = parser.parse_args()
    models = fitted()
    rng = np.random.RandomState(1)
    inputs = {
        n: rng.standard_normal((n, N_FEATURES)).astype(args.dtype) for n in args.rows
    }
    print(f"skmoe {skmoe.__version__} from {skmoe.__file__}; {args.dtype} inputs")
    print(
        f"{'path':30s} {'rows':>7} {'skmoe us':>10} {'peer us':>9} {'floor us':>9} "
        f"{'/peer':>6} {'/floor':>7}"
    )
    for label, key, name, peer_name, floor in PATHS:
        model, peer = models[key]
        calls = [
            skmoe_call(model, name),
            getattr(peer, peer_name),
            lambda X, model=model, floor=floor: floor(model, X),
        ]
        for n in args.rows:
            ours, theirs, least = medians(calls, inputs[n], args.repeats, args.batch)
            print(
                f"{label:30s} {n:>7} {1e6 * ours:>10.1f} {1e6 * theirs:>9.1f} "
                f"{1e6 * least:>9.1f} {ours / theirs:>6.2f} {ours / least:>7.1f}"
            )


if __name__ == "__main__":
    main()
