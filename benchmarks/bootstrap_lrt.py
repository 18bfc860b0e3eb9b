"""Size and power of ``bootstrap_lrt``'s test of 1 against 2 experts.

Data sets of ``--n`` rows on x ~ U(-3, 3), for ``--family``:

- ``regressor``: y = b x + noise 0.5, ``MoERegressor``;
- ``classifier``: P(y = 1) = 1 / (1 + exp(-b x)), ``MoEClassifier``;
- ``poisson``: y ~ Poisson(exp(0.5 + b x)), ``MoEPoissonRegressor``;
- ``gamma``: y ~ Gamma(mean exp(0.5 + b x), shape 5), ``MoEGammaRegressor``;

under the null one regime (b = 1 for the regressor and the classifier, 0.3 for
counts and amounts), under the alternative two, whose slopes differ by ``--gap`` (b -
gap / 2 for x < 0, b + gap / 2 above): the softmax gate's job.

For each of ``--datasets`` data sets per case, ``bootstrap_lrt`` with
``max_experts=2``, ``n_bootstrap=--bootstrap`` and the estimator with ``n_init=2``
gives a p-value; the table reports the share of data sets rejected at 0.05 and
0.10 (the test's size under the null, its power under the alternative), and beside
it the naive chi-squared test of the same statistic with df = the extra parameters
(the gate's intercept and slope and an expert's: 5 for the regressor with its
variance and the Gamma regressor with its dispersion, 4 for the others), which the
boundary of the mixture's parameter space makes invalid. Reports seconds per data
set; all in one process.

With ``--group-size m`` > 1 the rows come in groups of m (repeated measurements,
``fit(X, y, groups=g)``, drawn a group from one expert by ``bootstrap_lrt``):
the alternative's two slopes are latent classes of the groups (each with
probability 1/2) rather than regimes of x, and the estimator has
``gate="constant"`` (extra parameters: the prior and an expert's, 4 for the
regressor, 3 for the others).

    python benchmarks/bootstrap_lrt.py [--family regressor] [--datasets 100]
        [--bootstrap 19] [--n 200] [--gap 0.3] [--group-size 1]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import stats

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoEPoissonRegressor,
    MoERegressor,
    bootstrap_lrt,
)

#: family: (estimator, slope of the null, extra parameters of 2 experts)
FAMILIES = {
    "regressor": (MoERegressor, 1.0, 5),
    "classifier": (MoEClassifier, 1.0, 4),
    "poisson": (MoEPoissonRegressor, 0.3, 4),
    "gamma": (MoEGammaRegressor, 0.3, 5),
}


def data(family, n, gap, seed, group_size=1):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    b = FAMILIES[family][1]
    if group_size > 1:  # a latent class per group
        groups = np.arange(n) // group_size
        upper = (rng.uniform(size=groups[-1] + 1) < 0.5)[groups]
    else:  # regimes of x
        upper = X[:, 0] >= 0
    eta = np.where(upper, b + gap / 2, b - gap / 2) * X[:, 0]
    if family == "regressor":
        return X, eta + 0.5 * rng.standard_normal(n)
    if family == "classifier":
        return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    if family == "gamma":
        return X, rng.gamma(5.0, np.exp(0.5 + eta) / 5.0)
    return X, rng.poisson(np.exp(0.5 + eta))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="regressor")
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=19)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--group-size", type=int, default=1)
    args = parser.parse_args()
    Estimator, _, extra = FAMILIES[args.family]
    grouped = args.group_size > 1
    options, fit_params = {}, {}
    if grouped:
        options = {"gate": "constant"}
        fit_params = {"groups": np.arange(args.n) // args.group_size}
        extra -= 1  # no gate slope
    print(
        f"{args.family}: n={args.n}, {args.datasets} data sets per case, "
        f"n_bootstrap={args.bootstrap}, gap={args.gap}, "
        f"groups of {args.group_size} rows"
    )
    print(f"| case | reject at 0.05 | at 0.10 | chi2({extra}) at 0.05 | s / data set |")
    print("|---|---|---|---|---|")
    for case, gap in (("null", 0.0), ("alternative", args.gap)):
        p_values, naive = [], []
        start = time.perf_counter()
        for seed in range(args.datasets):
            X, y = data(args.family, args.n, gap, seed, args.group_size)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = bootstrap_lrt(
                    Estimator(n_init=2, random_state=seed, **options),
                    X,
                    y,
                    max_experts=2,
                    n_bootstrap=args.bootstrap,
                    significance=0.10,
                    random_state=seed,
                    n_jobs=args.n_jobs,
                    **fit_params,
                )
            p_values.append(result.p_values[0])
            naive.append(stats.chi2.sf(max(result.statistics[0], 0.0), extra))
        seconds = (time.perf_counter() - start) / args.datasets
        p_values, naive = np.array(p_values), np.array(naive)
        print(
            f"| {case} | {np.mean(p_values <= 0.05):.2f} | "
            f"{np.mean(p_values <= 0.10):.2f} | {np.mean(naive <= 0.05):.2f} | "
            f"{seconds:.2f} |"
        )


if __name__ == "__main__":
    main()
