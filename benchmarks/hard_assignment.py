"""Classification EM (``assignment="hard"``) against EM, and against flexmix's CEM.

    python benchmarks/hard_assignment.py

1. flexmix parity (needs Rscript with flexmix; skipped otherwise). Two crossing
   lines, 2000 rows, x ~ U(-2, 2), y = 2 x or 1 - x (prior 0.5 each) plus noise
   of sd 0.5; ``MoERegressor(2, gate="constant", assignment="hard", alpha=0)``
   best of 5 starts, and flexmix's ``classify = "CEM"`` twice: from skmoe's
   final partition (a CEM fixed point stays where it is: flexmix should take
   one step and keep every row) and best of its own 5 random starts. The
   classification log-likelihood of each partition is computed here from the
   partition alone: per cluster, least squares, the maximum-likelihood noise
   variance and the prior n_k / n. flexmix's variances are larger by
   n / (n - 2) (see ``tied_variance_flexmix.py``), skmoe's are the maximum
   likelihood ones (the ratio of the sds is printed).
2. Soft against hard EM on the demo's three regimes (softmax gate, 3 experts,
   ``n_init=1``, the same starts): fit time, iterations, held-out R^2, the
   mixture log-likelihood per training row and the slopes found.
3. The bias of hard assignments where the experts overlap: the crossing
   lines, 2e4 rows, constant gate, ``n_init=4``, noise sd 0.5, 1 and 1.5:
   slopes, intercepts and noise sds of each fit (each row goes to the nearer
   line, which cuts off the tails: the sds come out low).
4. Why MoEClassifier needs groups for hard assignments: fitted on rows of one
   label each (one group per row, which the classifier then accepts), iris,
   wine (standardized) and two classes of the demo's regimes (y above its
   median, 2000 rows), 3 experts (2 on the regimes), against EM: the classes
   each expert's assigned rows hold, and the training accuracy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from skmoe import MoERegressor
from skmoe._demo import make_regimes

HERE = os.path.dirname(os.path.abspath(__file__))


def crossing(n=2000, seed=0, noise=0.5):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, n)
    first = rng.uniform(size=n) < 0.5
    y = np.where(first, 2.0 * x, 1.0 - x) + noise * rng.normal(size=n)
    return x[:, None], y


def classification_loglik(X, y, labels):
    """The classification log-likelihood of a partition, from the partition."""
    total = 0.0
    for k in np.unique(labels):
        rows = labels == k
        fit = LinearRegression().fit(X[rows], y[rows])
        residual = y[rows] - fit.predict(X[rows])
        variance = np.mean(residual**2)
        n_k = rows.sum()
        total += n_k * np.log(n_k / len(y))
        total += -0.5 * np.sum(np.log(2 * np.pi * variance) + residual**2 / variance)
    return total


def flexmix(X, y, k, start=None):
    with tempfile.TemporaryDirectory() as tmp:
        csv, clusters = os.path.join(tmp, "data.csv"), os.path.join(tmp, "cl.txt")
        columns = [y, X[:, 0]] + ([start + 1] if start is not None else [])
        header = "y,x" + (",start" if start is not None else "")
        np.savetxt(
            csv, np.column_stack(columns), delimiter=",", header=header, comments=""
        )
        how = "random" if start is None else "given"
        out = subprocess.run(
            [
                "Rscript",
                os.path.join(HERE, "hard_assignment_fit.R"),
                csv,
                str(k),
                how,
                clusters,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        labels = np.loadtxt(clusters, dtype=int)
    fields = dict(item.split("=") for item in out.split())
    result = {
        key: np.array(fields[key].split(","), dtype=float)
        for key in ("intercepts", "slopes", "sds")
    }
    result.update(
        iter=int(fields["iter"]), labels=labels, converged=fields["converged"] == "1"
    )
    return result


def parity():
    X, y = crossing()
    model = MoERegressor(
        2,
        gate="constant",
        assignment="hard",
        alpha=0.0,
        tol=1e-10,
        n_init=5,
        random_state=0,
    ).fit(X, y)
    order = np.argsort(model.expert_coef_[:, 0])
    rank = np.argsort(order)
    labels = rank[np.argmax(model.responsibilities(X, y), axis=1)]
    ours = {
        "intercepts": model.expert_intercept_[order],
        "slopes": model.expert_coef_[order, 0],
        "sds": np.sqrt(model.expert_variance_[order]),
    }
    given, own = flexmix(X, y, 2, start=labels), flexmix(X, y, 2)
    print("flexmix parity, crossing lines (2000 rows, 2 experts, constant gate)")
    print(
        f"  skmoe CEM best of 5: n_iter={model.n_iter_}, sizes "
        f"{np.bincount(labels).tolist()}, intercepts {ours['intercepts']}, "
        f"slopes {ours['slopes']}, sds {ours['sds']}"
    )
    gap = max(
        np.max(np.abs(given[key] - ours[key])) for key in ("intercepts", "slopes")
    )
    print(
        f"  flexmix CEM from skmoe's partition: iter={given['iter']}, rows "
        f"reassigned {int(np.sum(given['labels'] != labels))}, largest "
        f"coefficient gap {gap:.1e}, sd ratio {given['sds'] / ours['sds']} "
        f"(sqrt(n / (n - 2)): {np.sqrt(len(y) / (len(y) - 2)):.8f})"
    )
    print(
        f"  flexmix CEM best of 5: iter={own['iter']}, sizes "
        f"{np.bincount(own['labels']).tolist()}, rows differing from skmoe's "
        f"{int(np.sum(own['labels'] != labels))}"
    )
    print(
        f"  classification log-likelihood of the partitions: skmoe "
        f"{classification_loglik(X, y, labels):.6f}, flexmix "
        f"{classification_loglik(X, y, own['labels']):.6f}"
    )


def soft_against_hard():
    print("\nsoft / hard EM, 1 start each (softmax gate; best of 3 times)")
    print(
        "| data | rows | assignment | seconds | n_iter | test R^2 | loglik/row "
        "| slopes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    cases = [("regimes", 3, 10_000), ("regimes", 3, 100_000)]
    for name, k, n in cases:
        X, y = make_regimes(2 * n, random_state=0)
        train, test = slice(0, n), slice(n, None)
        for assignment in ("soft", "hard"):
            times = []
            for _ in range(3):
                model = MoERegressor(k, assignment=assignment, n_init=1, random_state=0)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X[train], y[train])
                times.append(time.perf_counter() - start)
            score = r2_score(y[test], model.predict(X[test]))
            slopes = np.sort(model.expert_coef_[:, 0])
            print(
                f"| {name} | {n} | {assignment} | {min(times):.3f} | "
                f"{model.n_iter_} | {score:.4f} | "
                f"{model.log_likelihood_ / n:.4f} | {np.round(slopes, 3)} |"
            )


def overlap():
    print("\ncrossing lines, 2e4 rows, constant gate, n_init=4 (true: -1, 2; 1, 0)")
    print(
        "| noise sd | assignment | slopes | intercepts | noise sds | n_iter | warned |"
    )
    print("|---|---|---|---|---|---|---|")
    for noise in (0.5, 1.0, 1.5):
        X, y = crossing(20_000, noise=noise)
        for assignment in ("soft", "hard"):
            model = MoERegressor(
                2, gate="constant", assignment=assignment, n_init=4, random_state=0
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.fit(X, y)
            order = np.argsort(model.expert_coef_[:, 0])
            print(
                f"| {noise} | {assignment} | "
                f"{np.round(model.expert_coef_[order, 0], 3)} | "
                f"{np.round(model.expert_intercept_[order], 3)} | "
                f"{np.round(np.sqrt(model.expert_variance_[order]), 3)} | "
                f"{model.n_iter_} | {'yes' if caught else 'no'} |"
            )


def classifier_without_trials():
    from sklearn.datasets import load_iris, load_wine
    from sklearn.preprocessing import StandardScaler

    from skmoe import MoEClassifier

    print("\nclassifier, one group per row (3 experts; 2 on the regimes)")
    print("| data | assignment | classes per expert | accuracy |")
    print("|---|---|---|---|")
    regimes_X, regimes_y = make_regimes(2000, random_state=0)
    cases = {
        "iris": (*load_iris(return_X_y=True), 3),
        "wine": (*load_wine(return_X_y=True), 3),
        "regimes": (regimes_X, (regimes_y > np.median(regimes_y)).astype(int), 2),
    }
    for name, (X, y, k) in cases.items():
        X = StandardScaler().fit_transform(X)
        rows = np.arange(len(y))
        for assignment in ("soft", "hard"):
            model = MoEClassifier(k, assignment=assignment, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y, groups=rows)
            labels = np.argmax(model.responsibilities(X, y, groups=rows), axis=1)
            classes = [len(np.unique(y[labels == j])) for j in np.unique(labels)]
            print(f"| {name} | {assignment} | {classes} | {model.score(X, y):.4f} |")


def main():
    if shutil.which("Rscript") is None:
        print("Rscript not found: flexmix parity skipped")
    else:
        parity()
    soft_against_hard()
    overlap()
    classifier_without_trials()


if __name__ == "__main__":
    main()
