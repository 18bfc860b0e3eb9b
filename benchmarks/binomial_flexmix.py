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
the fit times. Then classification EM (``assignment="hard"``, flexmix's
``classify = "CEM"``): skmoe's best of 5, and flexmix's CEM started from the
partition skmoe ends at (how many observations it moves, the coefficient gap,
and both sides' priors). Needs Rscript with flexmix; exits otherwise.
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


def flexmix(x, successes, trials, start=None):
    """flexmix's EM fit, or (``start``: 0-based labels of the observations) its
    classification EM from that partition, with the clusters it ends at."""
    with tempfile.TemporaryDirectory() as tmp:
        csv, clusters = os.path.join(tmp, "data.csv"), os.path.join(tmp, "cl.txt")
        columns = [successes, trials, x] + ([start + 1] if start is not None else [])
        np.savetxt(
            csv,
            np.column_stack(columns),
            delimiter=",",
            header="s,n,x" + (",start" if start is not None else ""),
            comments="",
        )
        command = ["Rscript", os.path.join(HERE, "binomial_fit.R"), csv, "2"]
        if start is not None:
            command += ["cem", clusters]
        out = subprocess.run(
            command, capture_output=True, text=True, check=True
        ).stdout.strip()
        labels = np.loadtxt(clusters, dtype=int) if start is not None else None
    fields = dict(item.split("=") for item in out.split())
    result = {
        key: np.array(fields[key].split(","), dtype=float)
        for key in ("intercepts", "slopes", "priors")
    }
    result.update(
        loglik=float(fields["loglik"]),
        df=int(fields["df"]),
        seconds=float(fields["seconds"]),
        labels=labels,
    )
    return result


def skmoe(x, successes, trials, assignment="soft"):
    X, y, groups = expand(x, successes, trials)
    model = MoEClassifier(
        2,
        gate="constant",
        alpha=0.0,
        n_init=5,
        tol=1e-10,
        max_iter=2000,
        assignment=assignment,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X, y, groups=groups)
    seconds = time.perf_counter() - start
    # the logit of success: class 1's column less class 0's
    intercepts = np.diff(model.expert_intercept_, axis=1)[:, 0]
    slopes = np.diff(model.expert_coef_[:, :, 0], axis=1)[:, 0]
    order = np.argsort(slopes)
    rank = np.argsort(order)
    first = np.cumsum(trials) - trials  # each observation's first row
    resp = model.responsibilities(X, y, groups=groups)[first]
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
        "labels": rank[np.argmax(resp, axis=1)],  # by slope, as flexmix's
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
    # classification EM: skmoe's, and flexmix's from the partition it ends at
    hard = skmoe(x, successes, trials, assignment="hard")
    given = flexmix(x, successes, trials, start=hard["labels"])
    gap = max(
        np.max(np.abs(given[key] - hard[key])) for key in ("intercepts", "slopes")
    )
    print(
        f"\nclassification EM: skmoe intercepts {np.round(hard['intercepts'], 6)}, "
        f"slopes {np.round(hard['slopes'], 6)}, n_iter={hard['n_iter']}; flexmix's "
        f"CEM from skmoe's partition moved "
        f"{int(np.sum(given['labels'] != hard['labels']))} observations, largest "
        f"coefficient gap {gap:.1e}; priors: skmoe's (the partition's shares "
        f"{np.bincount(hard['labels']).tolist()} of {len(x)}) "
        f"{np.round(hard['priors'], 6)}, flexmix's {np.round(given['priors'], 6)}"
    )


if __name__ == "__main__":
    main()
