"""Binomial responses of several trials: MoEClassifier with groups against flexmix.

    python benchmarks/binomial_flexmix.py

A binomial observation (s successes of n trials) in a mixture belongs to one
component with all its trials. skmoe fits it as n Bernoulli rows (s ones and
n - s zeros) that form one group (``fit(X, y, groups=...)``: the rows of a
group share one expert), which is the binomial mixture's likelihood less the
constant ``sum_i log C(n_i, s_i)``. flexmix fits ``cbind(s, n - s) ~ x`` with
``FLXMRglm(family = "binomial")``. Data: 300 observations, x ~ U(-2, 2),
n ~ U{5..29}, logit p = 1 + 2 x (prior 0.4) or -0.5 - x, two components; both
sides best of 5 starts at tolerance 1e-10, fixed priors (``gate="constant"``,
``alpha=0``). The expert's logit of success is its class-1 column less its
class-0 column (both are kept). Prints the log-likelihoods (skmoe's plus the
constant), the coefficients and priors sorted by slope, the largest gap, and
the fit times. Needs Rscript with flexmix; exits otherwise.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.special import gammaln

from skmoe import MoEClassifier

HERE = os.path.dirname(os.path.abspath(__file__))


def data(m=300, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, m)
    trials = rng.randint(5, 30, m)
    first = rng.uniform(size=m) < 0.4
    p = 1 / (1 + np.exp(-np.where(first, 1 + 2 * x, -0.5 - x)))
    return x, rng.binomial(trials, p), trials


def expand(x, successes, trials):
    """One row per trial: (X, y, groups)."""
    groups = np.repeat(np.arange(len(x)), trials)
    within = np.arange(len(groups)) - np.repeat(np.cumsum(trials) - trials, trials)
    return x[groups, None], (within < successes[groups]).astype(int), groups


def flexmix(x, successes, trials):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        np.savetxt(
            csv,
            np.column_stack([successes, trials, x]),
            delimiter=",",
            header="s,n,x",
            comments="",
        )
        out = subprocess.run(
            ["Rscript", os.path.join(HERE, "binomial_fit.R"), csv, "2"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    fields = dict(item.split("=") for item in out.split())
    result = {
        key: np.array(fields[key].split(","), dtype=float)
        for key in ("intercepts", "slopes", "priors")
    }
    result.update(
        loglik=float(fields["loglik"]),
        df=int(fields["df"]),
        seconds=float(fields["seconds"]),
    )
    return result


def skmoe(x, successes, trials):
    X, y, groups = expand(x, successes, trials)
    model = MoEClassifier(
        2,
        gate="constant",
        alpha=0.0,
        n_init=5,
        tol=1e-10,
        max_iter=2000,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X, y, groups=groups)
    seconds = time.perf_counter() - start
    # the logit of success: class 1's column less class 0's
    intercepts = np.diff(model.expert_intercept_, axis=1)[:, 0]
    slopes = np.diff(model.expert_coef_[:, :, 0], axis=1)[:, 0]
    order = np.argsort(slopes)
    constant = np.sum(
        gammaln(trials + 1) - gammaln(successes + 1) - gammaln(trials - successes + 1)
    )
    return {
        "loglik": model.log_likelihood_ + constant,
        "df": model._n_parameters(),
        "intercepts": intercepts[order],
        "slopes": slopes[order],
        "priors": model.predict_gate(X[:1])[0][order],
        "seconds": seconds,
        "rows": len(y),
        "n_iter": model.n_iter_,
    }


def main():
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: this comparison needs R with flexmix")
    x, successes, trials = data()
    results = {
        "flexmix": flexmix(x, successes, trials),
        "skmoe": skmoe(x, successes, trials),
    }
    print("| fit | loglik | df | intercepts | slopes | priors | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['loglik']:.8f} | {r['df']} "
            f"| {np.round(r['intercepts'], 6)} | {np.round(r['slopes'], 6)} "
            f"| {np.round(r['priors'], 6)} | {r['seconds']:.2f} |"
        )
    f, s = results["flexmix"], results["skmoe"]
    gap = max(
        np.max(np.abs(f[key] - s[key])) for key in ("intercepts", "slopes", "priors")
    )
    print(
        f"\nskmoe - flexmix loglik {s['loglik'] - f['loglik']:+.2e}, largest "
        f"parameter gap {gap:.1e}; skmoe fitted {s['rows']} rows in "
        f"{len(x)} groups, n_iter={s['n_iter']}"
    )


if __name__ == "__main__":
    main()
