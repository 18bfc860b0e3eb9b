"""Peak memory and CPU time of the prediction methods at many rows.

For each estimator (Gaussian, classifier, Poisson, negative binomial, Gamma)
at ``K`` experts, fitted on 3000 rows of 8 features, the tracemalloc peak and
the CPU seconds of one call of ``score``, ``predict``,
``predict(return_std=True)``, ``predict_proba`` (classifier),
``predict_distribution`` and, on the distribution it built, ``mean``, ``std``,
``var``, ``cdf(y)``, ``sf(y)`` and ``logpdf(y)`` (``logpmf``), at ``n`` rows,
beside the size of X and of the output. Count models' ``score`` also with
exposures (``score_exp``), with a row whose predicted mean underflows
(``score_far``: the score's path from the log means), with both
(``score_far_exp``) and where every row is that far one (``score_all_far``).
``peak/(X+out)`` above about 2 marks a method that holds more than its
input and output; ``--rss`` gives the ru_maxrss growth of one call in a
fresh process instead (the allocator's view, which tracemalloc may miss).

    python benchmarks/score_memory.py                   # n=1e6, K=2 and 8
    python benchmarks/score_memory.py --n 1e5 --K 8 --est poi gam
    python benchmarks/score_memory.py --rss gam 8 score --n 1e6
    python benchmarks/score_memory.py --est poi nb --only score score_exp score_far
"""

import argparse
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np

D = 8
#: Inputs made before a method is measured: "exposure" (:func:`exposures`)
#: and "far", X with a far row (:func:`far_rows`) of the model measured.
EXTRA = {}


def data(est, n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, D))
    eta = 0.5 * X[:, 0] + np.where(X[:, 1] > 0, 0.4, -0.4) * X[:, 2]
    if est == "reg":
        return X, eta + 0.3 * rng.standard_normal(n)
    if est == "clf":
        return X, (eta + 0.3 * rng.standard_normal(n) > 0).astype(int)
    if est in ("poi", "nb"):
        return X, rng.poisson(np.exp(eta) * rng.gamma(4.0, 0.25, n)).astype(float)
    return X, rng.gamma(2.0, np.exp(eta) / 2.0)


def make(est, K):
    import skmoe

    cls = {
        "reg": skmoe.MoERegressor,
        "clf": skmoe.MoEClassifier,
        "poi": skmoe.MoEPoissonRegressor,
        "nb": skmoe.MoENegativeBinomialRegressor,
        "gam": skmoe.MoEGammaRegressor,
    }[est]
    X, y = data(est, 3000, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(n_experts=K, random_state=0).fit(X, y)


def exposures(n, seed=2):
    """Exposures of ``n`` rows, 0.5 to 2."""
    return np.random.RandomState(seed).uniform(0.5, 2.0, n)


def far_rows(mo, X):
    """``X`` with its first row replaced by a row far from the data where the
    count model ``mo`` predicts a mean below the smallest normal float (a
    scaled row of X whose prediction is finite), or None if none is found."""
    tiny = np.finfo(np.float64).smallest_normal
    for scale in np.geomspace(30, 3000, 25):
        for row in X[:50] * scale:
            try:
                mean = mo.predict(row[None, :])[0]
            except ValueError:  # (it overflows there)
                continue
            if mean < tiny:
                far = X.copy()
                far[0] = row
                return far
    return None


def extras(est, mo, X, name):
    """Make the inputs in ``EXTRA`` that method ``name`` needs, once per
    model; False where X has no far row for it."""
    if "exp" in name and "e" not in EXTRA:
        EXTRA["e"] = exposures(X.shape[0])
    if "far" in name and "far" not in EXTRA:
        EXTRA["far"] = far_rows(mo, X)
        if EXTRA["far"] is not None:  # every row that far one
            EXTRA["all_far"] = np.repeat(EXTRA["far"][:1], X.shape[0], axis=0)
    return not ("far" in name and EXTRA["far"] is None)


def methods(est):
    m = {"predict": lambda mo, d, X, y: mo.predict(X)}
    m["score"] = lambda mo, d, X, y: mo.score(X, y)
    if est in ("poi", "nb"):
        m["score_exp"] = lambda mo, d, X, y: mo.score(X, y, exposure=EXTRA["e"])
        m["score_far"] = lambda mo, d, X, y: mo.score(EXTRA["far"], y)
        m["score_far_exp"] = lambda mo, d, X, y: mo.score(
            EXTRA["far"], y, exposure=EXTRA["e"]
        )
        m["score_all_far"] = lambda mo, d, X, y: mo.score(EXTRA["all_far"], y)
    if est == "clf":
        m["predict_proba"] = lambda mo, d, X, y: mo.predict_proba(X)
        return m
    m["predict_std"] = lambda mo, d, X, y: mo.predict(X, return_std=True)
    m["pd"] = lambda mo, d, X, y: mo.predict_distribution(X)
    m["pd.mean"] = lambda mo, d, X, y: d.mean()
    m["pd.std"] = lambda mo, d, X, y: d.std()
    m["pd.var"] = lambda mo, d, X, y: d.var()
    m["pd.cdf"] = lambda mo, d, X, y: d.cdf(y)
    m["pd.sf"] = lambda mo, d, X, y: d.sf(y)
    if est in ("poi", "nb"):
        m["pd.logpmf"] = lambda mo, d, X, y: d.logpmf(y)
    else:
        m["pd.logpdf"] = lambda mo, d, X, y: d.logpdf(y)
    return m


def nbytes(out):
    if isinstance(out, tuple):
        return sum(nbytes(o) for o in out)
    if isinstance(out, np.ndarray):
        return out.nbytes
    if hasattr(out, "weights"):  # a predictive distribution: its arrays
        return sum(v.nbytes for v in vars(out).values() if isinstance(v, np.ndarray))
    return 0


def rss(est, K, name, n):
    X, y = data(est, n)
    mo = make(est, K)
    dist = mo.predict_distribution(X) if name.startswith("pd.") else None
    extras(est, mo, X, name)
    f = methods(est)[name]
    if dist is None and not ("exp" in name or "far" in name):  # (whole inputs)
        f(mo, dist, X[:10], y[:10])  # imports, caches
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    f(mo, dist, X, y)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{est} K={K} n={n:.0e} {name} rss_delta={(after - before) / 1024:.1f}MiB")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=float, default=1e6)
    parser.add_argument("--K", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--est", nargs="+", default=["reg", "clf", "poi", "nb", "gam"])
    parser.add_argument("--only", nargs="+", default=None, help="method names")
    parser.add_argument("--rss", nargs=3, metavar=("EST", "K", "METHOD"))
    parser.add_argument("--rss-all", action="store_true", help="--rss of each row")
    args = parser.parse_args()
    n = int(args.n)
    warnings.simplefilter("ignore")
    if args.rss:
        rss(args.rss[0], int(args.rss[1]), args.rss[2], n)
        return
    print("| est | K | method | CPU s | peak MiB | X MiB | out MiB | peak/(X+out) |")
    print("|---|---|---|---|---|---|---|---|")
    for est in args.est:
        X, y = data(est, n)
        for K in args.K:
            mo = make(est, K)
            dist = None
            EXTRA.clear()
            for name, f in methods(est).items():
                if args.only and name not in args.only:
                    continue
                if name.startswith("pd.") and dist is None:
                    dist = mo.predict_distribution(X)
                if not extras(est, mo, X, name):
                    print(f"| {est} | {K} | {name} | no far row found |")
                    continue
                t0 = time.process_time()
                out = f(mo, dist, X, y)
                t = time.process_time() - t0
                size = nbytes(out)
                del out
                tracemalloc.start()
                out = f(mo, dist, X, y)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                del out
                mib = 2.0**-20
                line = (
                    f"| {est} | {K} | {name} | {t:.3f} | {peak * mib:.1f} | "
                    f"{X.nbytes * mib:.0f} | {size * mib:.1f} | "
                    f"{peak / (X.nbytes + size):.2f} |"
                )
                print(line, flush=True)
                if args.rss_all:
                    command = [sys.executable, __file__, "--n", str(n), "--rss"]
                    command += [est, str(K), name]
                    subprocess.run(command, env=os.environ, check=True)


if __name__ == "__main__":
    main()
