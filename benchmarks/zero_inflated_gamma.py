"""Zeros beside positive amounts: MoEGammaRegressor(zero_inflated=True)
against the two-part fit of R (a binomial glm, a Gamma glm and MASS's
maximum-likelihood shape), and more Gamma experts held out.

    python benchmarks/zero_inflated_gamma.py

With two experts the model's likelihood separates into the logistic
regression of ``y == 0`` and the Gamma regression of the positive amounts:
the R script fits those parts apart (``zero_inflated_gamma_fit.R``), skmoe
fits them as one mixture by EM (``alpha=0``, tolerance 1e-10). Data: 3000
rows, x1 and x2 standard normal, a zero with probability ``expit(0.5 -
x1)``, else a Gamma amount of shape 4 and log mean ``1 + 0.5 x2``
(``hurdle``) or, in a second data set, from two regimes (``regimes``: log
mean ``1.5 - x2`` where x2 < 0, else ``0.5 + 0.8 x2``, shapes 8 and 2).
Prints the log-likelihoods, the largest parameter gap and the seconds; then
the held-out log-likelihood per row (2000 new rows) of two experts and of
the number of experts BIC chooses. Needs Rscript (with MASS) for the first
table; the second runs without it.
"""

import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from skmoe import MoEGammaRegressor

HERE = os.path.dirname(os.path.abspath(__file__))


def data(kind, n=3000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    zero = rng.rand(n) < 1 / (1 + np.exp(X[:, 0] - 0.5))
    if kind == "hurdle":
        log_mean, shape = 1 + 0.5 * X[:, 1], np.full(n, 4.0)
    else:
        low = X[:, 1] < 0
        log_mean = np.where(low, 1.5 - X[:, 1], 0.5 + 0.8 * X[:, 1])
        shape = np.where(low, 8.0, 2.0)
    return X, np.where(zero, 0.0, rng.gamma(shape, np.exp(log_mean) / shape))


def r_fit(X, y):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        np.savetxt(
            csv, np.column_stack([y, X]), delimiter=",", header="y,x1,x2", comments=""
        )
        script = os.path.join(HERE, "zero_inflated_gamma_fit.R")
        out = subprocess.run(
            ["Rscript", script, csv], capture_output=True, text=True, check=True
        ).stdout
    fields = dict(part.split("=", 1) for part in out.split())
    return {
        "loglik": float(fields["loglik"]),
        "logit": np.array(fields["logit"].split(","), dtype=float),
        "amount": np.array(fields["amount"].split(","), dtype=float),
        "shape": float(fields["shape"]),
        "seconds": float(fields["seconds"]),
    }


def skmoe_fit(X, y, n_experts=2):
    model = MoEGammaRegressor(
        n_experts,
        zero_inflated=True,
        alpha=0.0,
        tol=1e-10,
        max_iter=5000,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def against_r():
    X, y = data("hurdle")
    print(f"hurdle data: {np.mean(y == 0):.1%} zeros, {len(y)} rows")
    model, seconds = skmoe_fit(X, y)
    gate = np.column_stack([model.gate_intercept_, model.gate_coef_])
    logit = gate[0] - gate[1]  # the log-odds of a zero
    amount = np.r_[model.expert_intercept_[1], model.expert_coef_[1]]
    shape = 1 / model.expert_dispersion_[1]
    reference = r_fit(X, y)
    gap = max(
        np.max(np.abs(logit - reference["logit"])),
        np.max(np.abs(amount - reference["amount"])),
        abs(shape - reference["shape"]) / reference["shape"],
    )
    print("| | log-likelihood | seconds |")
    print("|---|---|---|")
    print(
        f"| R: glm binomial + glm Gamma + MASS::gamma.shape | "
        f"{reference['loglik']:.8f} | {reference['seconds']:.2f} |"
    )
    print(f"| skmoe, one mixture by EM | {model.log_likelihood_:.8f} | {seconds:.2f} |")
    print(
        f"largest gap: coefficients and relative shape {gap:.2g} "
        f"(shape {shape:.6f} against {reference['shape']:.6f})"
    )


def held_out():
    print("\nheld out (2000 new rows), log-likelihood per row")
    print("| data | two experts | chosen by BIC (K) |")
    print("|---|---|---|")
    for kind in ("hurdle", "regimes"):
        X, y = data(kind)
        X_new, y_new = data(kind, n=2000, seed=1)
        two, _ = skmoe_fit(X, y)
        auto = MoEGammaRegressor(zero_inflated=True, random_state=0).fit(X, y)
        scores = [
            np.mean(m.predict_distribution(X_new).logpdf(y_new)) for m in (two, auto)
        ]
        print(f"| {kind} | {scores[0]:.4f} | {scores[1]:.4f} ({auto.n_experts_}) |")


if __name__ == "__main__":
    if shutil.which("Rscript"):
        against_r()
    else:
        print("Rscript not found: the comparison with R is skipped")
    held_out()
