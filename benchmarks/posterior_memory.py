"""Peak memory of the methods that take y after the fit, against predict.

``bic``, ``aic``, ``icl`` and ``log_likelihood_samples`` need one number per row
(and ``icl`` each row's largest responsibility), not the (n, K) responsibilities
that ``responsibilities`` returns. Peaks are tracemalloc's during each call, on
rows scored in the estimator's chunks. Last, the peak of a Student-t mixture's
``ppf``.

    python benchmarks/posterior_memory.py [--rows 300000] [--experts 128]
"""

import argparse
import tracemalloc
import warnings

import numpy as np

from skmoe import MoERegressor


def peak(call):
    tracemalloc.start()
    call()
    mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return mib


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--experts", type=int, default=128)
    parser.add_argument("--features", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    X = rng.randn(args.rows, args.features)
    y = X[:, 0] * np.sign(X[:, 1]) + 0.3 * rng.randn(args.rows)
    model = MoERegressor(args.experts, n_init=1, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit: only the model's size matters
        model.fit(X[:5000], y[:5000])
    n, k = args.rows, args.experts
    print(
        f"{n} rows, {args.features} features, {k} experts; one (n, K) float64 "
        f"array is {n * k * 8 / 2**20:.0f} MiB"
    )
    for name, call in [
        ("predict", lambda: model.predict(X)),
        ("log_likelihood_samples", lambda: model.log_likelihood_samples(X, y)),
        ("bic", lambda: model.bic(X, y)),
        ("aic", lambda: model.aic(X, y)),
        ("icl", lambda: model.icl(X, y)),
        ("responsibilities", lambda: model.responsibilities(X, y)),
    ]:
        print(f"{name:24s} peak {peak(call):8.1f} MiB")
    # the quantiles of Student-t components: a root per row, then the nearest
    # of nine floats around it
    t = MoERegressor(16, noise="student_t", df=3, n_init=1, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.fit(X[:3000, :3], y[:3000])
    dist = t.predict_distribution(X[:65536, :3])
    print(
        f"{'Student-t ppf':24s} peak {peak(lambda: dist.ppf(0.3)):8.1f} MiB "
        "(65536 rows, 16 experts)"
    )


if __name__ == "__main__":
    main()
