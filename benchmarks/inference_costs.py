"""Memory of ``predict_distribution`` and BLAS threads in the methods after fit.

Part 1: tracemalloc's peak of ``predict_distribution`` on many rows, against
the size of the distribution it returns (weights and means: two (n, K) float64
arrays; the scales are one row broadcast); and of a classifier's ``predict``
with many classes against its (n, C) probabilities.

Part 2: the methods that run after the fit (``std_errors``, ``predict_proba``,
``responsibilities``) with single-threaded BLAS, as ``fit`` runs, against
NumPy's default threads (``blas_threads`` replaced by a null context in
``skmoe._base`` and ``skmoe._std_errors``), interleaved in one process;
medians of ``--repeats`` calls each. ``--busy`` keeps one core busy meanwhile
(a second Python process spinning), as on a shared machine.

    python benchmarks/inference_costs.py [--rows 1000000] [--repeats 5] [--busy]
"""

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from posterior_memory import peak  # (this folder is on the path of its scripts)

import skmoe._base
import skmoe._std_errors
from skmoe import MoEClassifier, MoERegressor


def fitted(Estimator, X, y, n_experts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits: only the model's size matters
        return Estimator(n_experts, n_init=1, max_iter=20, random_state=0).fit(X, y)


def timed(call, repeats):
    """Median seconds of ``call`` with skmoe's BLAS limit and without it,
    interleaved."""
    limited, default = [], []
    modules = skmoe._base, skmoe._std_errors  # where the methods after fit live
    real = skmoe._base.blas_threads
    for _ in range(repeats):
        for times, limit in ((limited, real), (default, None)):
            for module in modules:
                module.blas_threads = limit or (lambda design: contextlib.nullcontext())
            try:
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            finally:
                for module in modules:
                    module.blas_threads = real
    return statistics.median(limited), statistics.median(default)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--experts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", action="store_true")
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    X = rng.randn(args.rows, 8)
    y = X[:, 0] * np.sign(X[:, 1]) + 0.3 * rng.randn(args.rows)
    model = fitted(MoERegressor, X[:5000], y[:5000], args.experts)
    mib = peak(lambda: model.predict_distribution(X))
    dist = model.predict_distribution(X)
    # (the scales are one row broadcast: no memory of their own)
    held = [a for a in (dist.weights, dist.means, dist.scales) if a.strides[0]]
    output = sum(a.nbytes for a in held) / 2**20
    print(
        f"predict_distribution, {args.rows} rows, K={args.experts}: peak {mib:.0f} "
        f"MiB for a distribution of {output:.0f} MiB ({mib / output:.2f} times)"
    )
    rows = args.rows // 5
    classes = np.arange(rows) % 200  # 200 classes
    many = fitted(MoEClassifier, X[:4000], classes[:4000], 2)
    mib = peak(lambda: many.predict(X[:rows]))
    proba = rows * 200 * 8 / 2**20
    print(
        f"classifier predict, {rows} rows, 200 classes, K=2: peak {mib:.0f} MiB "
        f"(its probabilities would take {proba:.0f} MiB)"
    )

    spinner = None
    if args.busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    print("method | rows | single-threaded BLAS (s) | default threads (s) | ratio")
    small = fitted(MoERegressor, X[:20_000], y[:20_000], 4)
    labels = np.digitize(y, np.quantile(y, np.linspace(0.1, 0.9, 9)))  # 10 classes
    classifier = fitted(MoEClassifier, X[:20_000], labels[:20_000], args.experts)
    few = fitted(MoEClassifier, X[:10_000], labels[:10_000], 4)
    cases = [
        (
            "classifier std_errors, K=4, 10 classes",
            10_000,
            lambda: few.std_errors(X[:10_000], labels[:10_000]),
        ),
        (
            "regressor std_errors, K=4",
            20_000,
            lambda: small.std_errors(X[:20_000], y[:20_000]),
        ),
        (
            f"classifier predict_proba, K={args.experts}",
            args.rows // 5,
            lambda: classifier.predict_proba(X[: args.rows // 5]),
        ),
        (
            f"regressor responsibilities, K={args.experts}",
            args.rows,
            lambda: model.responsibilities(X, y),
        ),
    ]
    for name, rows, call in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one, many = timed(call, args.repeats)
        print(f"{name} | {rows} | {one:.3f} | {many:.3f} | {one / many:.2f}")
    if spinner is not None:
        spinner.kill()


if __name__ == "__main__":
    main()
