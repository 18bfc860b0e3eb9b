"""Student-t experts against Gaussian ones on regimes with outlying targets.

Two crossing regimes, y = 2x + 1 and y = -x (noise sd 0.3, x uniform on
[-2, 2]), with a share of the targets moved up by 20 to 40. For each share and
seed, MoERegressor(n_experts=2) is fitted with Gaussian noise (the model of R
flexmix and mixtools) and with Student-t noise (df=4, and df="auto", which
chooses among 1, 2, 4, 8, 16 and 32 by the profile likelihood), and scored:
the largest error of the two fitted slopes and of the two intercepts, and the
mean log-likelihood of clean test data from the same regimes (2000 rows). Fit
times are medians, in one process.

Then the cost of an EM iteration: the time of a fit of 40 iterations less that
of one of 20 (one restart; the start, with its 20 M-steps for Student-t
experts, drops out), over 20, median of 5 (the two noises alternating), and
the time of the start (a fit of 20 iterations less 20 of them), at
``--cost-rows`` rows, 5 features and K=4, Student-t against Gaussian experts,
in the same process.

    python benchmarks/student_t.py [--seeds 10] [--n 1000] [--cost-rows 100000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from skmoe import MoERegressor

SLOPES = np.array([-1.0, 2.0])
INTERCEPTS = np.array([0.0, 1.0])  # in the slopes' order


def regimes(n, outliers, rng):
    X = rng.uniform(-2, 2, size=(n, 1))
    label = rng.rand(n) < 0.5
    y = np.where(label, 2 * X[:, 0] + 1, -X[:, 0]) + 0.3 * rng.standard_normal(n)
    bad = rng.rand(n) < outliers
    y[bad] += rng.uniform(20, 40, size=bad.sum())
    return X, y


def fit(X, y, **params):
    reg = MoERegressor(**{"n_experts": 2, "random_state": 0, **params})
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, y)
    return reg, time.perf_counter() - start


def scores(reg, X_test, y_test):
    order = np.argsort(reg.expert_coef_[:, 0])
    slope_error = np.abs(reg.expert_coef_[order, 0] - SLOPES).max()
    intercept_error = np.abs(reg.expert_intercept_[order] - INTERCEPTS).max()
    test = np.mean(reg.log_likelihood_samples(X_test, y_test))
    return slope_error, intercept_error, test


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--cost-rows", type=int, default=100_000)
    args = parser.parse_args()
    print(
        f"n={args.n}, {args.seeds} seeds; medians over seeds of the largest "
        "slope and intercept errors, the mean log-likelihood of clean test "
        "data and the fit seconds"
    )
    header = (
        f"{'outliers':>8}  {'model':<24}{'slope err':>10}{'icpt err':>10}"
        f"{'test ll':>9}{'fit s':>8}"
    )
    print(header)
    for share in (0.0, 0.05, 0.1, 0.2):
        rows = {"gaussian": [], "student_t df=4": [], 'student_t df="auto"': []}
        chosen_dfs = []
        for seed in range(args.seeds):
            rng = np.random.RandomState(seed)
            X, y = regimes(args.n, share, rng)
            test = regimes(2000, 0.0, rng)
            gauss, t_gauss = fit(X, y)
            rows["gaussian"].append((*scores(gauss, *test), t_gauss))
            t4, t_t4 = fit(X, y, noise="student_t", df=4.0)
            rows["student_t df=4"].append((*scores(t4, *test), t_t4))
            auto, t_auto = fit(X, y, noise="student_t", df="auto")
            chosen_dfs.append(auto.df_)
            rows['student_t df="auto"'].append((*scores(auto, *test), t_auto))
        for name, values in rows.items():
            slope, icpt, ll, seconds = np.median(np.array(values), axis=0)
            print(
                f"{share:>8.2f}  {name:<24}{slope:>10.3f}{icpt:>10.3f}"
                f"{ll:>9.3f}{seconds:>8.3f}"
            )
        values, counts = np.unique(chosen_dfs, return_counts=True)
        print(
            "          df chosen: "
            + ", ".join(f"{v:g} x{c}" for v, c in zip(values, counts, strict=True))
        )
    cost(args.cost_rows)


def cost(n_rows):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n_rows, 5))
    y = np.where(X[:, 0] > 0, X @ np.arange(5.0), -X[:, 1]) + rng.standard_t(3, n_rows)
    # the two noises alternate, so that both meet the same load of the machine
    runs = {"gaussian": [], "student_t": []}
    for _ in range(5):
        for noise, noise_runs in runs.items():
            times = [
                fit(X, y, n_experts=4, noise=noise, n_init=1, max_iter=n, tol=0)[1]
                for n in (20, 40)
            ]
            noise_runs.append(((times[1] - times[0]) / 20, 2 * times[0] - times[1]))
    iteration, start = {}, {}
    for noise, noise_runs in runs.items():
        iteration[noise], start[noise] = np.median(np.array(noise_runs), axis=0)
    print(
        f"EM iteration, {n_rows} rows, 5 features, K=4: gaussian "
        f"{iteration['gaussian']:.4f} s, student_t {iteration['student_t']:.4f} s "
        f"(ratio {iteration['student_t'] / iteration['gaussian']:.2f}); the start: "
        f"gaussian {start['gaussian']:.3f} s, student_t {start['student_t']:.3f} s"
    )


if __name__ == "__main__":
    main()
