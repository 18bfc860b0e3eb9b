"""gate="hierarchical" (a two-level tree of softmax gates) against the flat gate.

    python benchmarks/hierarchical_gate.py

Data split as a tree: x ~ U(-3, 3)^2, the top split at x0 = 0, then the left
half at x1 = 1 and the right half at x1 = -1, four regions with their own
lines (noise sd 0.3). A flat softmax gate's regions are the cells of one
linear score each, whose boundaries cannot be two offset half-lines meeting a
third (the left and right splits would have to share one line); the tree gate
(two groups of two experts) has exactly this form. Both fit four experts with
the defaults (4 restarts), on 2000, 8000 and 32000 training rows, scored on
as many held-out rows: mean log-likelihood, R^2, the share of held-out rows
whose most probable expert matches its region (best matching of experts to
regions), and the fit time (best of 3, one process, one BLAS thread). Then the
spread over seeds: ``random_state`` 0 to 9 at 2000 rows, the held-out mean
log-likelihood of each fit (the start of a hierarchical gate fits a flat gate
first and groups its experts, see ``skmoe/_nesting.py``; without it 7 of 10
seeds ended near -0.47 on the user guide's data).
"""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
from sklearn.metrics import r2_score

from skmoe import MoERegressor

COEF = np.array([[1.0, 2.0], [-2.0, 0.5], [0.5, -1.5], [2.5, 1.0]])
INTERCEPT = np.array([0.0, 3.0, -2.0, 1.0])


def tree_data(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, (n, 2))
    right = X[:, 0] > 0
    upper = np.where(right, X[:, 1] > -1, X[:, 1] > 1)
    region = 2 * right + upper
    y = np.sum(X * COEF[region], axis=1) + INTERCEPT[region]
    return X, y + 0.3 * rng.standard_normal(n), region


def matched(labels, region):
    """Share of rows whose expert maps to their region, best over matchings."""
    return max(
        np.mean(np.asarray(perm)[labels] == region)
        for perm in itertools.permutations(range(4))
    )


def main():
    print("| rows | gate | held-out loglik/row | R^2 | regions matched | seconds |")
    print("|---|---|---|---|---|---|")
    for n in (2000, 8000, 32000):
        X, y, _ = tree_data(n, 0)
        X_test, y_test, region = tree_data(n, 1)
        for gate in ("softmax", "hierarchical"):
            times = []
            for _ in range(3):
                model = MoERegressor(4, gate=gate, random_state=0)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y)
                times.append(time.perf_counter() - start)
            loglik = np.mean(model.log_likelihood_samples(X_test, y_test))
            labels = np.argmax(model.predict_gate(X_test), axis=1)
            print(
                f"| {n} | {gate} | {loglik:.4f} | "
                f"{r2_score(y_test, model.predict(X_test)):.4f} | "
                f"{matched(labels, region):.4f} | {min(times):.2f} |"
            )


def seeds():
    X, y, _ = tree_data(2000, 0)
    X_test, y_test, _ = tree_data(2000, 1)
    print("\nheld-out loglik/row at 2000 rows, random_state 0 to 9")
    for gate in ("softmax", "hierarchical"):
        scores = []
        for seed in range(10):
            model = MoERegressor(4, gate=gate, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y)
            scores.append(np.mean(model.log_likelihood_samples(X_test, y_test)))
        print(f"{gate}: {np.round(scores, 4).tolist()}")


if __name__ == "__main__":
    main()
    seeds()
