"""MoEClassifier speed and accuracy per expert M-step, measured in one process.

Variants of ``LogisticExperts.m_step``, switched by monkeypatching in turn on the
same folds (fold-major, so machine noise hits all variants alike):

- ``lbfgs``: the former M-step (15 warm-started SciPy L-BFGS-B iterations);
- ``hybrid``: the current one (Newton while (C-1)(D+1) <= 256, else truncated
  Newton steps by conjugate gradients; Böhning steps before those);
- ``newton``: Newton steps always; ``bohning``: never Newton (``NEWTON_MAX_COEF``
  0: now the truncated Newton steps, Böhning's before).

Protocol: Pipeline(StandardScaler, MoEClassifier(random_state=seed)), 5-fold
StratifiedKFold(shuffle, random_state=seed) on iris, wine, breast cancer, digits.
Reports seconds per fit, EM iterations of the fitted model (``n_iter_``), M-steps
over all restarts (calls of the expert M-step), and accuracy.

    python benchmarks/bench_classifier_mstep.py [--seeds 0] [--datasets iris,...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MoEClassifier
from skmoe._backend import to_numpy
from skmoe._math import device, penalty_mask
from skmoe.experts import logistic

LBFGS_MAX_ITER = 15
NEW_M_STEP = logistic.LogisticExperts.m_step


def lbfgs_m_step(self, xp, design, Y, weighted_resp, params, alpha):
    """The M-step before this change (skmoe 73ce7b7), verbatim."""
    coef0 = params["coef"]
    shape, dtype, dev = coef0.shape, coef0.dtype, device(coef0)
    mask = penalty_mask(xp, coef0)[:, None]
    weighted = weighted_resp[:, None, :]
    n_samples = design.shape[1]

    def loss_and_grad(theta):
        coef = xp.asarray(np.reshape(theta, shape), dtype=dtype, device=dev)
        log_p = self.log_proba(xp, design, {"coef": coef})
        loss = -xp.sum(weighted * Y[None, :, :] * log_p)
        loss = loss + 0.5 * alpha * xp.sum(mask * coef**2)
        dlogits = weighted * (xp.exp(log_p) - Y[None, :, :])
        grad = design @ xp.reshape(dlogits, (-1, n_samples)).T
        grad = grad + alpha * mask * coef
        return float(loss), to_numpy(grad).astype(np.float64).ravel()

    theta0 = to_numpy(coef0).astype(np.float64).ravel()
    f0, _ = loss_and_grad(theta0)
    result = minimize(
        loss_and_grad,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": LBFGS_MAX_ITER, "gtol": 1e-10, "ftol": 1e-15},
    )
    if not np.all(np.isfinite(result.x)) or result.fun > f0:
        return params
    coef = xp.asarray(np.reshape(result.x, shape), dtype=dtype, device=dev)
    return {"coef": coef}


VARIANTS = {
    "lbfgs": (lbfgs_m_step, logistic.NEWTON_MAX_COEF),
    "hybrid": (NEW_M_STEP, logistic.NEWTON_MAX_COEF),
    "newton": (NEW_M_STEP, 10**9),
    "bohning": (NEW_M_STEP, 0),
}
DATASETS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


ROW = "| {} | {} | {:.3f} | {:.1f} | {:.1f} | {:.0%} | {:.4f} | {:.5f} |"


def fit_once(variant, X_train, y_train, X_test, y_test, seed):
    m_step, newton_max_coef = VARIANTS[variant]
    calls = [0]

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return m_step(self, *args, **kwargs)

    logistic.LogisticExperts.m_step = counted
    logistic.NEWTON_MAX_COEF = newton_max_coef
    try:
        model = make_pipeline(StandardScaler(), MoEClassifier(random_state=seed))
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    finally:
        logistic.LogisticExperts.m_step = NEW_M_STEP
        logistic.NEWTON_MAX_COEF = VARIANTS["hybrid"][1]
    moe = model[-1]
    return {
        "seconds": seconds,
        "n_iter": moe.n_iter_,
        "m_steps": calls[0],
        "converged": moe.converged_,
        "accuracy": model.score(X_test, y_test),
        "objective": moe.objective_history_[-1],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    rows = []
    for name in args.datasets.split(","):
        X, y = DATASETS[name](return_X_y=True)
        results = {v: [] for v in variants}
        for seed in seeds:
            folds = StratifiedKFold(5, shuffle=True, random_state=seed)
            for train, test in folds.split(X, y):
                for v in variants:
                    r = fit_once(v, X[train], y[train], X[test], y[test], seed)
                    results[v].append(r)
        for v in variants:
            rs = results[v]
            row = (
                name,
                v,
                np.mean([r["seconds"] for r in rs]),
                np.mean([r["n_iter"] for r in rs]),
                np.mean([r["m_steps"] for r in rs]),
                np.mean([r["converged"] for r in rs]),
                np.mean([r["accuracy"] for r in rs]),
                np.mean([r["objective"] for r in rs]),
            )
            rows.append(row)
            print(ROW.format(*row), flush=True)
    return rows


if __name__ == "__main__":
    print(
        "| data set | M-step | s / fit | EM iterations (n_iter_) | M-steps, all "
        "restarts | converged | accuracy | final objective |"
    )
    print("|---|---|---|---|---|---|---|---|")
    main()
