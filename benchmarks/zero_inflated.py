"""Zero-inflated Poisson mixtures: MoEPoissonRegressor(zero_inflated=True)
against R flexmix's FLXMRziglm.

    python benchmarks/zero_inflated.py

flexmix's ``FLXMRziglm(family = "poisson")`` makes component 1 a point mass at
zero; with the multinomial logit concomitant model ``FLXPmultinom(~ x1 + x2)``
it is the model of ``MoEPoissonRegressor(zero_inflated=True)``: a softmax gate
on x1 and x2, the point mass first. Two data sets of 3000 rows, x1 and x2
standard normal, structural zeros with probability ``expit(x1 - 0.5)``:

* ``zip``: the other counts Poisson with log rate ``1 + 0.5 x2``, K = 2 (the
  zero-inflated Poisson regression);
* ``mixture``: the other counts from two regimes, log rate ``1.5 - x2`` where
  x2 < 0, else ``0.5 + 0.8 x2``, K = 3.

Both sides take the best of 5 starts at tolerance 1e-10, without a penalty
(``alpha=0``). The gate's coefficients are printed as flexmix reports them,
each component's logit against the point mass. Prints the log-likelihoods,
the parameters, the largest gap and the fit times, then the held-out
log-likelihood per row of ``zero_inflated=True`` and of the Poisson mixture
with as many Poisson experts and as many experts in all (2000 new rows).
Needs Rscript with flexmix for the comparison; the last table runs without it.
"""

import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from skmoe import MoEPoissonRegressor

HERE = os.path.dirname(os.path.abspath(__file__))


def data(kind, n=3000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    never = rng.rand(n) < 1 / (1 + np.exp(0.5 - X[:, 0]))
    if kind == "zip":
        log_rate = 1 + 0.5 * X[:, 1]
    else:
        log_rate = np.where(X[:, 1] < 0, 1.5 - X[:, 1], 0.5 + 0.8 * X[:, 1])
    return X, np.where(never, 0, rng.poisson(np.exp(log_rate)))


def _ordered(experts, gate):
    """The point mass first, then the Poisson experts by their x2 slope."""
    order = np.r_[0, 1 + np.argsort(experts[1:, 2])]
    return experts[order], gate[order]


def flexmix(X, y, k):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        np.savetxt(
            csv, np.column_stack([y, X]), delimiter=",", header="y,x1,x2", comments=""
        )
        command = ["Rscript", os.path.join(HERE, "zero_inflated_fit.R"), csv, str(k)]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
    fields = dict(item.split("=") for item in out.stdout.split())
    experts = np.array(fields["experts"].split(","), dtype=float).reshape(k, 3)
    gate = np.array(fields["gate"].split(","), dtype=float).reshape(k - 1, 3)
    experts, gate = _ordered(experts, np.vstack([np.zeros(3), gate]))
    return {
        "loglik": float(fields["loglik"]),
        "df": int(fields["df"]),
        "experts": experts,
        "gate": gate,
        "seconds": float(fields["seconds"]),
        "n_iter": int(fields["iter"]),
    }


def skmoe(X, y, k):
    model = MoEPoissonRegressor(
        k,
        zero_inflated=True,
        alpha=0.0,
        n_init=5,
        tol=1e-10,
        max_iter=2000,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    experts = np.column_stack([model.expert_intercept_, model.expert_coef_])
    gate = np.column_stack([model.gate_intercept_, model.gate_coef_])
    experts, gate = _ordered(experts, gate - gate[0])  # against the point mass
    return {
        "loglik": model.log_likelihood_,
        "df": model._n_parameters(),
        "experts": experts,
        "gate": gate,
        "seconds": seconds,
        "n_iter": model.n_iter_,
    }


def compare(kind, k):
    X, y = data(kind)
    results = {"flexmix": flexmix(X, y, k), "skmoe": skmoe(X, y, k)}
    print(f"\n{kind} (K={k}, {np.mean(y == 0):.1%} zeros)")
    print("| fit | loglik | df | experts (intercept, x1, x2) | gate | s | iter |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['loglik']:.8f} | {r['df']} "
            f"| {np.round(r['experts'], 5).tolist()} "
            f"| {np.round(r['gate'][1:], 5).tolist()} "
            f"| {r['seconds']:.2f} | {r['n_iter']} |"
        )
    f, s = results["flexmix"], results["skmoe"]
    finite = np.isfinite(f["experts"])
    assert np.array_equal(finite, np.isfinite(s["experts"]))
    gap = max(
        np.max(np.abs(f["experts"][finite] - s["experts"][finite])),
        np.max(np.abs(f["gate"] - s["gate"])),
    )
    print(
        f"skmoe - flexmix loglik {s['loglik'] - f['loglik']:+.2e}, largest "
        f"parameter gap {gap:.1e}"
    )


def held_out():
    print("\nheld-out log-likelihood per row (2000 new rows), default settings")
    print("| data | zero_inflated, K | Poisson mixture, K - 1 | Poisson mixture, K |")
    print("|---|---|---|---|")
    for kind, k in (("zip", 2), ("mixture", 3)):
        X, y = data(kind)
        X_new, y_new = data(kind, n=2000, seed=1)
        scores = [
            MoEPoissonRegressor(k, zero_inflated=True, random_state=0)
            .fit(X, y)
            .log_likelihood_samples(X_new, y_new)
            .mean(),
            *(
                MoEPoissonRegressor(m, random_state=0)
                .fit(X, y)
                .log_likelihood_samples(X_new, y_new)
                .mean()
                for m in (k - 1, k)
            ),
        ]
        print(f"| {kind} | " + " | ".join(f"{v:.4f}" for v in scores) + " |")


def main():
    if shutil.which("Rscript") is None:
        print("Rscript not found: the comparison with flexmix is skipped")
    else:
        compare("zip", 2)
        compare("mixture", 3)
    held_out()


if __name__ == "__main__":
    main()
