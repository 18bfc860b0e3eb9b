"""The cost of ``groups``: an EM iteration with groups against one without.

    python benchmarks/groups_cost.py [--n 200000] [--group-size 10]

Data: n rows of 8 features in groups of ``group_size`` rows, two latent classes
per group; ``MoERegressor(4, gate="constant")``, one start, 20 EM iterations
(``tol=0``), fitted with and without ``groups``, alternating, three times each;
the table gives the median of the fit's time divided by its iterations (the
k-means start included) and the ratio (grouped / plain), both in this process. A
grouped E-step adds the group sums of the experts' log-likelihoods (a sparse
product on the host) and gives up the blocking of the NumPy E-step (a group's rows
may fall in different blocks).
"""

import argparse
import time
import warnings

import numpy as np

from skmoe import MoERegressor


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--group-size", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    n, size = args.n, args.group_size
    groups = np.repeat(np.arange(n // size + 1), size)[:n]
    label = rng.rand(groups[-1] + 1) < 0.5
    X = rng.randn(n, 8)
    coef = rng.randn(2, 8)
    y = np.einsum("ij,ij->i", X, coef[label[groups].astype(int)]) + rng.randn(n)
    model = MoERegressor(4, gate="constant", n_init=1, max_iter=20, tol=0, alpha=1e-4)
    times = {"plain": [], "groups": []}
    for _ in range(3):
        for name, kwargs in (("plain", {}), ("groups", {"groups": groups})):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                model.fit(X, y, **kwargs)
                times[name].append((time.perf_counter() - start) / model.n_iter_)
    plain, grouped = (float(np.median(times[k])) for k in ("plain", "groups"))
    print(f"n={n}, groups of {size} rows ({groups[-1] + 1} groups), K=4, 8 features")
    print("| fit | s per iteration |")
    print("|---|---|")
    print(f"| without groups | {plain:.4f} |")
    print(f"| with groups | {grouped:.4f} |")
    print(f"ratio (groups / plain): {grouped / plain:.2f}")


if __name__ == "__main__":
    main()
