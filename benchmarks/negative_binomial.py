"""Overdispersed counts: MoENegativeBinomialRegressor against R MASS's
``glm.nb`` (one expert), and mixtures of negative binomial against Poisson
experts held out.

    python benchmarks/negative_binomial.py

One expert with ``alpha=0`` (tolerance 1e-12) is ``glm.nb``'s model: the R
script (``negative_binomial_fit.R``) fits it on 3000 rows, x1 and x2
standard normal, counts of log mean ``1 + 0.5 x1 - 0.3 x2`` and theta 1.5.
Prints both log-likelihoods, the largest gap of the coefficients and of
log(theta), and the seconds. Then, on two regimes of negative binomial
counts (log mean ``1 - x1`` where x1 < 0, else ``1 + x1 / 2``; theta 2;
2000 rows) and 1000 new rows: the number of experts BIC chooses, the
held-out log-likelihood per row and the share of new counts inside the 90%
predictive intervals, of negative binomial and of Poisson experts. Last, the
time per EM iteration of both against each other in one process (1e5 rows, 5
features, K = 3, 25 iterations from one k-means start, tol=0). Needs Rscript
(with MASS) for the first table; the others run without it.
"""

import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np

from skmoe import MoENegativeBinomialRegressor, MoEPoissonRegressor

HERE = os.path.dirname(os.path.abspath(__file__))


def glm_data(n=3000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    mean = np.exp(1 + 0.5 * X[:, 0] - 0.3 * X[:, 1])
    return X, rng.negative_binomial(1.5, 1.5 / (1.5 + mean)).astype(float)


def regime_data(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    mean = np.exp(np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2))
    return X, rng.negative_binomial(2.0, 2.0 / (2.0 + mean)).astype(float)


def r_fit(X, y):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        np.savetxt(
            csv, np.column_stack([y, X]), delimiter=",", header="y,x1,x2", comments=""
        )
        script = os.path.join(HERE, "negative_binomial_fit.R")
        out = subprocess.run(
            ["Rscript", script, csv], capture_output=True, text=True, check=True
        ).stdout
    fields = dict(part.split("=", 1) for part in out.split())
    return {
        "loglik": float(fields["loglik"]),
        "coef": np.array(fields["coef"].split(","), dtype=float),
        "theta": float(fields["theta"]),
        "seconds": float(fields["seconds"]),
    }


def against_r():
    X, y = glm_data()
    model = MoENegativeBinomialRegressor(1, alpha=0.0, tol=1e-12, max_iter=5000)
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    reference = r_fit(X, y)
    coef = np.r_[model.expert_intercept_, model.expert_coef_[0]]
    theta = 1 / model.expert_dispersion_[0]
    gap = max(
        np.max(np.abs(coef - reference["coef"])),
        abs(np.log(theta / reference["theta"])),
    )
    print(f"one negative binomial regression, {len(y)} rows")
    print("| | log-likelihood | seconds |")
    print("|---|---|---|")
    r_line = f"{reference['loglik']:.8f} | {reference['seconds']:.2f}"
    print(f"| R: MASS::glm.nb | {r_line} |")
    print(f"| skmoe, one expert | {model.log_likelihood_:.8f} | {seconds:.2f} |")
    print(
        f"largest gap: coefficients and log(theta) {gap:.2g} "
        f"(theta {theta:.6f} against {reference['theta']:.6f})"
    )


def covered(model, X, y):
    low, high = model.predict_distribution(X).interval(0.9)
    return np.mean((y >= low) & (y <= high))


def held_out():
    X, y = regime_data(2000, 0)
    X_new, y_new = regime_data(1000, 1)
    print("\ntwo regimes, theta 2: 2000 rows, held out on 1000 new rows")
    print("| experts | K by BIC | held-out log-likelihood per row | 90% intervals |")
    print("|---|---|---|---|")
    for Estimator in (MoENegativeBinomialRegressor, MoEPoissonRegressor):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "auto" at 4, for Poisson
            model = Estimator(random_state=0).fit(X, y)
        score = model.log_likelihood_samples(X_new, y_new).mean()
        name = Estimator.__name__.removeprefix("MoE").removesuffix("Regressor")
        print(
            f"| {name} | {model.n_experts_} | {score:.4f} | "
            f"{covered(model, X_new, y_new):.3f} |"
        )


def iteration_cost():
    rng = np.random.RandomState(0)
    X = rng.randn(100_000, 5)
    mean = np.exp(np.where(X[:, 0] > 0, 1 + 0.5 * X[:, 1], 0.2 - 0.3 * X[:, 2]))
    y = rng.negative_binomial(3.0, 3.0 / (3.0 + mean))
    print("\ntime per EM iteration, 1e5 rows x 5 features, K = 3 (best of 2)")
    times = {}
    for Estimator in (MoEPoissonRegressor, MoENegativeBinomialRegressor) * 2:
        model = Estimator(3, n_init=1, max_iter=25, tol=0, random_state=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter: by design
            model.fit(X, y)
        seconds = (time.perf_counter() - start) / model.n_iter_
        name = Estimator.__name__
        times[name] = min(times.get(name, np.inf), seconds)
    for name, seconds in times.items():
        print(f"{name}: {1e3 * seconds:.0f} ms")
    ratio = times["MoENegativeBinomialRegressor"] / times["MoEPoissonRegressor"]
    print(f"ratio: {ratio:.1f}")


if __name__ == "__main__":
    if shutil.which("Rscript"):
        against_r()
    else:
        print("Rscript not found: the comparison with R is skipped")
    held_out()
    iteration_cost()
