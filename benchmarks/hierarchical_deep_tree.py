"""gate="hierarchical" against the flat gate on data drawn from a two-level tree.

    python benchmarks/hierarchical_deep_tree.py

x ~ U(-3, 3)^2; K experts in G = ceil(sqrt(K)) groups of consecutive experts,
as skmoe groups them. The top gate splits x0 into G strips (softmax of slope 6
per unit), each group's gate splits x1 at its own cuts (drawn once per K), and
each expert is a line of its own (noise sd 0.2). For K = 9 (4000 rows) and
K = 16 (4000 and 12000 rows), seeds 0 to 2, both gates fit K experts
(``random_state=seed``, ``max_iter=500``); printed: the held-out mean
log-likelihood (20000 rows), whether the fitted groups are the true ones (the
experts matched to the true ones by the largest summed gate products), and
the fit time.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import softmax

from skmoe import MoERegressor


def tree_data(K, n, seed, sharp=6.0):
    G = int(np.ceil(np.sqrt(K)))
    sizes = [(h + 1) * K // G - h * K // G for h in range(G)]
    rng = np.random.RandomState(seed)
    drawn = np.random.RandomState(100 + K)
    X = rng.uniform(-3, 3, size=(n, 2))
    cuts = np.linspace(-3, 3, G + 1)[1:-1]
    top = softmax(
        np.stack([sharp * (h * X[:, 0] - sum(cuts[:h])) for h in range(G)], 1), 1
    )
    gates = []
    for h in range(G):
        within = np.sort(drawn.uniform(-2.5, 2.5, sizes[h] - 1))
        logits = [sharp * (j * X[:, 1] - sum(within[:j])) for j in range(sizes[h])]
        gates.append(top[:, [h]] * softmax(np.stack(logits, 1), 1))
    gate = np.hstack(gates)
    coef = drawn.uniform(-2, 2, size=(K, 2))
    intercept = drawn.uniform(-4, 4, K)
    expert = np.array([rng.choice(K, p=row) for row in gate])
    y = intercept[expert] + np.sum(X * coef[expert], axis=1)
    group = np.repeat(np.arange(G), sizes)
    return X, y + 0.2 * rng.standard_normal(n), gate, group


def finds_the_tree(model, X, gate, group):
    K, G = gate.shape[1], group.max() + 1
    true, fitted = linear_sum_assignment(-(gate.T @ model.predict_gate(X)))
    fitted_group = np.repeat(np.arange(G), np.diff([h * K // G for h in range(G + 1)]))
    found = [
        {fitted_group[fitted[true == k][0]] for k in np.flatnonzero(group == h)}
        for h in range(G)
    ]
    return all(len(s) == 1 for s in found) and len(set.union(*found)) == G


def main():
    print("| K | rows | seed | gate | held-out loglik/row | tree found | seconds |")
    print("|---|---|---|---|---|---|---|")
    for K, n in ((9, 4000), (16, 4000), (16, 12000)):
        for seed in range(3):
            X, y, _, _ = tree_data(K, n, seed)
            X_test, y_test, gate, group = tree_data(K, 20000, 50 + seed)
            for name in ("softmax", "hierarchical"):
                model = MoERegressor(K, gate=name, random_state=seed, max_iter=500)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y)
                seconds = time.perf_counter() - start
                loglik = np.mean(model.log_likelihood_samples(X_test, y_test))
                found = finds_the_tree(model, X_test, gate, group)
                print(
                    f"| {K} | {n} | {seed} | {name} | {loglik:.3f} | "
                    f"{found if name == 'hierarchical' else '-'} | {seconds:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
