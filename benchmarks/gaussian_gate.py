"""gate="gaussian" against gate="softmax": held-out fit on localized regimes, and
seconds per EM iteration; against scikit-learn's GaussianMixture on [X, y], the
same model with linear-Gaussian experts (one process, ratios to compare).

    python benchmarks/gaussian_gate.py
"""

import time
import warnings

import numpy as np
from sklearn.mixture import GaussianMixture

from skmoe import MoERegressor


def localized(n, n_features, seed):
    """A regime inside the ball |x| < r (y = 1 + x_0) and one outside (y = -x_1):
    a region no linear gate boundary isolates. r puts about 40% of the samples
    inside."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features)
    radius = np.sqrt(np.quantile(np.sum(X**2, axis=1), 0.4))
    inside = np.sum(X**2, axis=1) < radius**2
    y = np.where(inside, 1 + X[:, 0], -X[:, 1]) + 0.1 * rng.randn(n)
    return X, y


def held_out(n_features=2, n=3000):
    """Mean held-out log-likelihood, R^2 and iterations per gate and K."""
    X, y = localized(n, n_features, 0)
    X_test, y_test = localized(n, n_features, 1)
    rows = []
    for n_experts in (2, 3, 4):
        for gate in ("softmax", "gaussian"):
            model = MoERegressor(n_experts, gate=gate, random_state=0)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y)
            seconds = time.perf_counter() - start
            ll = model.log_likelihood_samples(X_test, y_test).mean()
            rows.append(
                (
                    n_experts,
                    gate,
                    ll,
                    model.score(X_test, y_test),
                    model.n_iter_,
                    seconds,
                )
            )
    return rows


def per_iteration(n=100_000, repeats=3):
    """Seconds per EM iteration, from the difference of tol=0 fits of at most 5
    and 15 iterations over the difference of their ``n_iter_`` (the start and
    the final E-step cancel), best of ``repeats``."""
    rows = []
    for n_features, n_experts in ((8, 4), (8, 16), (32, 4)):
        X, y = localized(n, n_features, 0)
        times = {}
        for gate in ("softmax", "gaussian"):
            best = np.inf
            for _ in range(repeats):
                spans, counts = [], []
                for max_iter in (5, 15):
                    model = MoERegressor(
                        n_experts, gate=gate, n_init=1, tol=0, max_iter=max_iter
                    )
                    start = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model.set_params(random_state=0).fit(X, y)
                    spans.append(time.perf_counter() - start)
                    counts.append(model.n_iter_)
                if counts[1] > counts[0]:
                    span = (spans[1] - spans[0]) / (counts[1] - counts[0])
                    best = min(best, span)
            times[gate] = best
        rows.append((n_features, n_experts, times["softmax"], times["gaussian"]))
    return rows


def _logits_one_expert_at_a_time(design, params):
    """The gate's logits as skmoe computed them before 7105648: per expert."""
    coef, whiten = params["coef"], params["whiten"]
    X = design[1:, :]
    rows = []
    for k in range(coef.shape[1]):
        z = whiten[k] @ (X - coef[1:, k][:, None])
        rows.append(coef[0, k] - 0.5 * np.sum(z * z, axis=0))
    return np.stack(rows, axis=0)


def logits_forms(n=100_000, repeats=9):
    """Median milliseconds of the gate's logits, one expert at a time against
    all experts in one product per block (the current form), alternated, with
    1 and 2 BLAS threads."""
    from threadpoolctl import threadpool_limits

    from skmoe._math import design_matrix
    from skmoe.gates.gaussian import GaussianGate

    rng = np.random.RandomState(0)
    rows = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            for d, k in ((2, 4), (8, 4), (8, 16), (32, 4)):
                design = design_matrix(np, rng.randn(n, d))
                whiten = np.tril(rng.randn(k, d, d)) + 3 * np.eye(d)
                params = {"coef": rng.randn(d + 1, k), "whiten": whiten}
                old, new = [], []
                for _ in range(repeats):
                    start = time.perf_counter()
                    _logits_one_expert_at_a_time(design, params)
                    old.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    GaussianGate().logits(np, design, params)
                    new.append(time.perf_counter() - start)
                rows.append((threads, d, k, 1e3 * np.median(old), 1e3 * np.median(new)))
    return rows


def against_gaussian_mixture(n=100_000, repeats=1):
    """One k-means start each, to tol 1e-6 per sample: seconds, iterations and
    the joint log-likelihood per sample, best time of ``repeats``."""
    rows = []
    for n_features, n_experts in ((2, 4), (8, 4), (8, 16)):
        X, y = localized(n, n_features, 0)
        XY = np.column_stack([X, y])
        gmm = GaussianMixture(n_experts, tol=1e-6, max_iter=500, random_state=0)
        moe = MoERegressor(
            n_experts, gate="gaussian", alpha=0.0, init_params="kmeans", n_init=1
        )
        moe.set_params(tol=1e-6, max_iter=500, random_state=0)
        times = {"gmm": np.inf, "moe": np.inf}
        for _ in range(repeats):
            for name, model, data in (("gmm", gmm, (XY,)), ("moe", moe, (X, y))):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(*data)
                times[name] = min(times[name], time.perf_counter() - start)
        rows.append(
            (
                n_features,
                n_experts,
                times["gmm"],
                gmm.n_iter_,
                gmm.score(XY),
                times["moe"],
                moe.n_iter_,
                moe.objective_history_[-1],
            )
        )
    return rows


if __name__ == "__main__":
    print("Held-out fit, 3000 training and 3000 test rows, 2 features:")
    print("| K | gate | mean log-lik | R^2 | EM iterations | fit s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k, gate, ll, r2, n_iter, seconds in held_out():
        print(f"| {k} | {gate} | {ll:.3f} | {r2:.3f} | {n_iter} | {seconds:.2f} |")
    print()
    print("Seconds per EM iteration, 1e5 rows, float64:")
    print("| D | K | softmax | gaussian | gaussian / softmax |")
    print("| --- | --- | --- | --- | --- |")
    for d, k, softmax, gaussian in per_iteration():
        ratio = gaussian / softmax
        print(f"| {d} | {k} | {softmax:.4f} | {gaussian:.4f} | {ratio:.2f} |")
    print()
    print("The gate's logits, 1e5 rows, median ms of 9 alternated runs:")
    print("| BLAS threads | D | K | one expert at a time | one product | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for threads, d, k, old, new in logits_forms():
        print(f"| {threads} | {d} | {k} | {old:.1f} | {new:.1f} | {old / new:.2f} |")
    print()
    print("Against GaussianMixture on [X, y] (full covariances), 1e5 rows, float64:")
    print("| D | K | GMM s | GMM iter | GMM log-lik | skmoe s | iter | log-lik |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for d, k, tg, ig, lg, tm, im, lm in against_gaussian_mixture():
        print(
            f"| {d} | {k} | {tg:.2f} | {ig} | {lg:.4f} | {tm:.2f} | {im} | {lm:.4f} |"
        )
