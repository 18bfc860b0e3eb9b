"""MoEGammaRegressor against one Gamma regression and Gaussian experts on log(y).

    python benchmarks/gamma.py

Accuracy: positive amounts from two log-linear regimes split at x0 = 0, mean
``exp(1 - x0)`` or ``exp(1 + x0 / 2)`` times ``exp(0.3 x1)``, Gamma noise of
shape 2 (coefficient of variation 0.71) or 20 (0.22); 2000 training and 2000
test rows, x ~ U(-2, 2)^3 (x2 unused), 5 seeds. Fitted:

- ``GammaRegressor``: scikit-learn's single Gamma regression (alpha=0).
- ``MoERegressor on log(y)``: two linear-Gaussian experts on log(y), a mixture
  of log-normal regressions; its density of y is that of log(y) less log(y).
- ``MoEGammaRegressor``: two Gamma experts.

The table gives medians over the seeds of the held-out mean log-likelihood of
y (nats per row; higher is better), the D^2 of the mean predictions (Gamma
deviance, as ``GammaRegressor.score``; the log-normal mixture's mean is
``sum_k g_k exp(m_k + s2_k / 2)``), the largest error of the experts' slopes
on x0 (sorted), and the fit time.

Cost: one EM iteration at 100000 rows, 5 features, K=4, one restart (a fit
with max_iter=1 less one with max_iter=0 would include the start: the
iteration is timed as (fit of 21 iterations - fit of 1) / 20), against
``MoERegressor`` and ``MoEPoissonRegressor`` on the same X (y, log(y) and
rounded y), in one process, median of 3.
"""

import time
import warnings

import numpy as np
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import GammaRegressor
from sklearn.metrics import d2_tweedie_score

from skmoe import MoEGammaRegressor, MoEPoissonRegressor, MoERegressor

SLOPES = np.array([-1.0, 0.5])


def data(n, shape, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    log_mean = np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2) + 0.3 * X[:, 1]
    return X, rng.gamma(shape, np.exp(log_mean) / shape)


def gamma_regressor(X, y, X_test, y_test):
    start = time.perf_counter()
    reg = GammaRegressor(alpha=0.0, max_iter=1000).fit(X, y)
    seconds = time.perf_counter() - start
    mean = reg.predict(X_test)
    residual = (y - reg.predict(X)) / reg.predict(X)
    # the shape's moment estimate: the fit gives none
    shape = 1 / np.mean(residual**2)
    loglik = stats.gamma.logpdf(y_test, shape, scale=mean / shape).mean()
    return loglik, d2_tweedie_score(y_test, mean, power=2), np.nan, seconds


def lognormal_mixture(X, y, X_test, y_test, seed):
    start = time.perf_counter()
    reg = MoERegressor(n_experts=2, random_state=seed).fit(X, np.log(y))
    seconds = time.perf_counter() - start
    log_y = np.log(y_test)
    loglik = np.mean(reg.log_likelihood_samples(X_test, log_y) - log_y)
    gate = reg.predict_gate(X_test)
    means = X_test @ reg.expert_coef_.T + reg.expert_intercept_
    mean = np.sum(gate * np.exp(means + reg.expert_variance_ / 2), axis=1)
    slopes = np.sort(reg.expert_coef_[:, 0])
    error = np.max(np.abs(slopes - SLOPES))
    return loglik, d2_tweedie_score(y_test, mean, power=2), error, seconds


def gamma_mixture(X, y, X_test, y_test, seed):
    start = time.perf_counter()
    reg = MoEGammaRegressor(n_experts=2, random_state=seed).fit(X, y)
    seconds = time.perf_counter() - start
    loglik = np.mean(reg.log_likelihood_samples(X_test, y_test))
    slopes = np.sort(reg.expert_coef_[:, 0])
    error = np.max(np.abs(slopes - SLOPES))
    return loglik, reg.score(X_test, y_test), error, seconds


def accuracy():
    print(
        "| shape | fit | test loglik | test D^2 | slope error | seconds |\n"
        "|---|---|---|---|---|---|"
    )
    for shape in (2.0, 20.0):
        rows = {"GammaRegressor": [], "MoERegressor on log(y)": [], "MoEGamma": []}
        for seed in range(5):
            X, y = data(2000, shape, seed)
            X_test, y_test = data(2000, shape, seed + 100)
            rows["GammaRegressor"].append(gamma_regressor(X, y, X_test, y_test))
            rows["MoERegressor on log(y)"].append(
                lognormal_mixture(X, y, X_test, y_test, seed)
            )
            rows["MoEGamma"].append(gamma_mixture(X, y, X_test, y_test, seed))
        for name, values in rows.items():
            loglik, d2, error, seconds = np.median(np.array(values), axis=0)
            print(
                f"| {shape:g} | {name} | {loglik:.4f} | {d2:.4f} | "
                f"{error:.3f} | {seconds:.3f} |"
            )


def iteration_seconds(make, X, y):
    times = []
    for _ in range(3):
        pair = []
        for max_iter in (1, 21):
            model = make(max_iter)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, y)
            pair.append(time.perf_counter() - start)
        times.append((pair[1] - pair[0]) / 20)
    return float(np.median(times))


def cost():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100_000, 5))
    y = rng.gamma(5.0, np.exp(X[:, 0] * np.sign(X[:, 1]) * 0.5) / 5.0)
    common = dict(n_experts=4, n_init=1, tol=0.0, random_state=0)
    results = {
        "MoERegressor (log y)": iteration_seconds(
            lambda m: MoERegressor(max_iter=m, **common), X, np.log(y)
        ),
        "MoEPoissonRegressor (round(y))": iteration_seconds(
            lambda m: MoEPoissonRegressor(max_iter=m, **common), X, np.round(y)
        ),
        "MoEGammaRegressor": iteration_seconds(
            lambda m: MoEGammaRegressor(max_iter=m, **common), X, y
        ),
    }
    gaussian = results["MoERegressor (log y)"]
    print(
        "\n| estimator | seconds per EM iteration | ratio to Gaussian |\n|---|---|---|"
    )
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.4f} | {seconds / gaussian:.2f} |")


if __name__ == "__main__":
    accuracy()
    cost()
