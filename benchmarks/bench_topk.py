"""Sparse gating, pruning and the gradient solver, measured.

Run: ``python benchmarks/bench_topk.py`` (about a minute on 2 cores). Three parts:

1. predict time of a 128-expert regressor and classifier (D=32, 200k rows) with
   ``top_k=2`` against the same model dense (``top_k=None``), measured in one
   process on the same fitted parameters: the speed-up is the median ratio of 5
   interleaved (dense, sparse) pairs, so that both sides see the same load on a
   shared machine, and the times printed are the best of the 5. Choosing each
   sample's top k of a softmax gate needs all K gate logits, one (n, D+1) x
   (D+1, K) product, so that product is the floor of any exact sparse
   prediction; it is printed too. With linear-Gaussian experts it costs as much
   as evaluating every expert, which bounds the regressor's speed-up to a few
   times; the part beyond the gate product (experts, softmax, mixing) is what
   scales with k / K (``prototypes/hierarchical_gate.py`` tries a cheaper
   router);
2. pruning: data with 3 true regimes fitted with ``n_experts=12`` and
   ``prune_threshold``, against a 3-expert fit (held-out R^2);
3. ``solver="gradient"`` against EM: the training log-likelihood of each on small
   data sets (same ``random_state``, so the same restarts).
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skmoe import MoEClassifier, MoERegressor


def best_time(function, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def predict_speed(Estimator, n_rows, n_features=32, n_experts=128, top_k=2, repeat=5):
    """Dense vs sparse predict of one fitted model, and the gate product alone."""
    rng = np.random.RandomState(0)
    X = rng.randn(n_rows, n_features)
    w = rng.randn(n_experts, n_features)
    y = np.einsum("nd,nd->n", X, w[np.argmax(X @ w.T, axis=1)])
    if Estimator is MoEClassifier:
        y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))  # 3 classes
        predict = "predict_proba"
    else:
        y = y + 0.1 * rng.randn(n_rows)
        predict = "predict"
    n_fit = min(n_rows, 20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparse = Estimator(
            n_experts=n_experts, top_k=top_k, n_init=1, max_iter=3, random_state=0
        ).fit(X[:n_fit], y[:n_fit])
    dense = copy.deepcopy(sparse)
    dense._fitted_top_k = None  # the same parameters, predicting densely
    design = np.vstack([np.ones((1, n_rows)), X.T])
    coef = sparse._gate_params(np, design)["coef"]
    t_gate = best_time(lambda: design.T @ coef)
    # interleaved pairs, so that both sides see the same load (shared machine)
    pairs = [
        (
            best_time(lambda: getattr(dense, predict)(X), 1),
            best_time(lambda: getattr(sparse, predict)(X), 1),
        )
        for _ in range(repeat)
    ]
    t_dense = min(dense for dense, _ in pairs)
    t_sparse = min(sparse for _, sparse in pairs)
    ratio = np.median([dense / sparse for dense, sparse in pairs])
    print(
        f"[predict] {Estimator.__name__} n_experts={n_experts} top_k={top_k} "
        f"D={n_features} rows={n_rows}: dense {t_dense * 1e3:.0f} ms, sparse "
        f"{t_sparse * 1e3:.0f} ms (best of {repeat}), speed-up {ratio:.1f}x "
        f"(median of {repeat} interleaved pairs; gate product alone, which any "
        f"exact top-k of a softmax gate needs: {t_gate * 1e3:.0f} ms)"
    )
    # (where the sparse predict timed at most the gate product alone, on a
    # noisy machine, the ratio is meaningless: it printed 12032714.0x)
    beyond = (
        f"{(t_dense - t_gate) / (t_sparse - t_gate):.1f}x"
        if t_sparse > t_gate and t_dense > t_gate
        else "not measurable (a predict timed below the gate product alone)"
    )
    gate = sparse.predict_gate(X[:2000])
    print(
        f"          beyond the gate product: {beyond}; predict_gate non-zeros "
        f"per row: max {(gate > 0).sum(1).max()}"
    )


def three_regimes(n, rng):
    X = rng.uniform(-3, 3, size=(n, 2))
    regime = (X[:, 0] > -1).astype(int) + (X[:, 0] > 1)
    y = np.choose(regime, [2 * X[:, 0], -X[:, 1] + 2, 0.5 * X[:, 0] - 3])
    return X, y + 0.3 * rng.randn(n)


def pruning(thresholds=(0.05, 0.1, 0.15)):
    rng = np.random.RandomState(0)
    X, y = three_regimes(2000, rng)
    X_test, y_test = three_regimes(2000, rng)
    three = MoERegressor(n_experts=3, random_state=0).fit(X, y)
    print(
        f"[pruning] 3 regimes: 3-expert fit, test R^2 {three.score(X_test, y_test):.4f}"
    )
    for threshold in thresholds:
        pruned = MoERegressor(
            n_experts=12, prune_threshold=threshold, random_state=0
        ).fit(X, y)
        print(
            f"          n_experts=12, prune_threshold={threshold}: "
            f"{pruned.n_experts_} experts kept, test R^2 "
            f"{pruned.score(X_test, y_test):.4f}, usage "
            f"{np.round(pruned.expert_usage_, 3)}"
        )


def small_data_sets():
    rng = np.random.RandomState(0)
    X, y = three_regimes(300, rng)
    yield "3 regimes (regressor)", MoERegressor, X, y
    Xc = rng.uniform(-2, 2, size=(300, 1))
    yc = np.where(rng.rand(300) < 0.5, 2, -1) * Xc[:, 0] + 0.2 * rng.randn(300)
    yield "crossing lines (constant gate)", MoERegressor, Xc, yc
    iris = load_iris()
    yield (
        "iris (classifier)",
        MoEClassifier,
        StandardScaler().fit_transform(iris.data),
        iris.target,
    )
    wine = load_wine()
    yield (
        "wine (classifier)",
        MoEClassifier,
        StandardScaler().fit_transform(wine.data),
        wine.target,
    )


def gradient_vs_em():
    for name, Estimator, X, y in small_data_sets():
        gate = "constant" if "constant" in name else "softmax"
        params = dict(n_experts=2 if gate == "constant" else 3, gate=gate)
        params.update(random_state=0, alpha=1e-3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            em = Estimator(**params).fit(X, y)
            t_em = time.perf_counter() - start
            start = time.perf_counter()
            grad = Estimator(solver="gradient", **params).fit(X, y)
            t_grad = time.perf_counter() - start
        gap = grad.log_likelihood_ - em.log_likelihood_
        print(
            f"[gradient] {name}: EM {em.log_likelihood_:.4f} ({t_em:.2f}s), "
            f"L-BFGS {grad.log_likelihood_:.4f} ({t_grad:.2f}s), "
            f"gradient - EM = {gap:+.4f}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    predict_speed(MoERegressor, args.rows)
    predict_speed(MoEClassifier, args.rows)
    pruning()
    gradient_vs_em()


if __name__ == "__main__":
    main()
