"""E-step and whole-fit time, CPU (NumPy) against GPU (CuPy), for issue 3.

Usage::

    python benchmarks/bench_gpu.py --targets  # issue 3's two targets (one device call)
    python benchmarks/bench_gpu.py            # the full grid (needs a GPU, RAM, time)
    python benchmarks/bench_gpu.py --quick    # small sizes, CPU only where no GPU

``--targets`` measures the E-step at n=1e7, K=128, D=64 in float32 (GPU only: the
CPU's copy would not fit the memory rule below) and the whole fit at n=1e6, K=16,
D=8 in float32 and float64 and D=64 in float32, on both;
``benchmarks/gpu_session.sh`` runs it with the GPU tests in one device call.

Prints one markdown table. The device is synchronized before every clock read;
every timed call follows an untimed one of the same shape (for the fit, a fit on
4096 rows), so that CuPy's kernel compilation and first-touch allocations are not
timed.
The E-step's achieved bandwidth counts the bytes it cannot avoid: reading the
design matrix and y once and writing its outputs once, the (K, n)
responsibilities, the (K, n) log gate values (which the gate's M-step reuses)
and the (n,) log-likelihoods; the roofline column divides that by the device's
peak (``--peak-gbs``, default the H200's 4800 GB/s).

A fit's time includes its initialization, which runs on the host for both
backends (k-means on one thread, see ``skmoe._init``), with the input checks:
at 1e5 x 8, K=16, float32, these took 3.5 of a 5-iteration NumPy fit's 6.7 s
on the development machine (cProfile). So each fit is timed twice, with one EM
iteration and with ``1 + fit_iterations`` (``tol=0``), and the table gives both
and their difference per iteration (derived, not a clock reading of its own):
the GPU's gain on EM's iterations, and on a whole fit of a given length.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from functools import partial

import numpy as np

from skmoe import MoERegressor
from skmoe._backend import _import_cupy
from skmoe._em import EMProblem, e_step
from skmoe._math import design_matrix
from skmoe.experts import GaussianLinearExperts
from skmoe.gates import SoftmaxGate


def _timed(fn, sync, repeat=3, warmup=None):
    (warmup or fn)()
    sync()
    best = np.inf
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _problem(xp, to_device, n, d, k, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X[:, 0] + rng.standard_normal(n)).astype(dtype)
    design = design_matrix(xp, to_device(X))
    problem = EMProblem(
        design,
        to_device(y),
        to_device(np.ones(n, dtype=dtype)),
        SoftmaxGate(),
        GaussianLinearExperts(1e-6),
        1e-4,
    )
    gate = {"coef": to_device((0.1 * rng.standard_normal((d + 1, k))).astype(dtype))}
    experts = {
        "coef": to_device(rng.standard_normal((d + 1, k)).astype(dtype)),
        "variance": to_device(np.ones(k, dtype=dtype)),
    }
    return X, y, problem, gate, experts


def run(sizes, peak_gbs, fit_iterations=5, fit=True, gpu_only=False):
    cupy = _import_cupy()
    backends = [] if gpu_only else [("cpu", np, lambda a: a, lambda: None)]
    if cupy is not None:
        import array_api_compat.cupy as cxp

        backends.append(("gpu", cxp, cupy.asarray, cupy.cuda.Device().synchronize))
    rows = []
    for n, k, d, dtype in sizes:
        itemsize = np.dtype(dtype).itemsize
        needed = itemsize * n * (d + 1 + 6 * k)
        for name, xp, to_device, sync in backends:
            if name == "cpu" and needed > 8e9:
                continue  # several (K, n) work arrays would not fit in RAM here
            X, y, problem, gate, experts = _problem(xp, to_device, n, d, k, dtype)
            seconds = _timed(partial(e_step, problem, gate, experts), sync)
            # read: design (d + 1, n), y (n); written: resp and log_gate
            # (K, n) each, log_norm (n)
            nbytes = itemsize * n * ((d + 1) + 1 + 2 * k + 1)
            fit_model = MoERegressor(
                k,
                n_init=1,
                max_iter=fit_iterations,
                tol=0,
                random_state=0,
                device="cuda" if name == "gpu" else "cpu",
            )
            fit_seconds = (float("nan"), float("nan"))
            if fit:
                fit_seconds = tuple(
                    _timed(
                        partial(fit_model.set_params(max_iter=iterations).fit, X, y),
                        sync,
                        repeat=1,
                        warmup=partial(fit_model.fit, X[:4096], y[:4096]),
                    )
                    for iterations in (1, 1 + fit_iterations)
                )
            rows.append(
                (
                    name,
                    n,
                    k,
                    d,
                    np.dtype(dtype).name,
                    seconds * 1e3,
                    nbytes / seconds / 1e9,
                    100 * nbytes / seconds / 1e9 / peak_gbs,
                    *fit_seconds,
                    (fit_seconds[1] - fit_seconds[0]) / fit_iterations,
                )
            )
            print(_format(rows[-1]), flush=True)
    return rows


def _format(row):
    name, n, k, d, dtype, ms, gbs, pct, fit_one, fit_more, per_iteration = row
    return (
        f"| {name} | {n:.0e} | {k} | {d} | {dtype} | {ms:.2f} | {gbs:.1f} | "
        f"{pct:.1f}% | {fit_one:.2f} | {fit_more:.2f} | {per_iteration:.3f} |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--targets", action="store_true")
    parser.add_argument("--peak-gbs", type=float, default=4800.0)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # fixed iteration counts: no convergence asked
    print(
        "| backend | n | K | D | dtype | E-step (ms) | GB/s | of peak "
        "| fit 1 it (s) | fit 6 it (s) | per it (s) |"
    )
    print("| --- " * 11 + "|")
    if args.targets:
        run(
            [(10_000_000, 128, 64, np.float32)], args.peak_gbs, fit=False, gpu_only=True
        )
        # the fits by priority, each row printed as it ends (a run cut short by
        # its time limit keeps the rows before): D=64 in float64 is left to
        # the full grid, its CPU fits the longest
        run(
            [
                (1_000_000, 16, 8, np.float32),
                (1_000_000, 16, 8, np.float64),
                (1_000_000, 16, 64, np.float32),
            ],
            args.peak_gbs,
        )
        return
    if args.quick:
        grid = list(
            itertools.product([100_000], [4, 16], [8], [np.float32, np.float64])
        )
    else:
        grid = list(
            itertools.product(
                [100_000, 1_000_000, 10_000_000],
                [4, 16, 128],
                [8, 64],
                [np.float32, np.float64],
            )
        )
    run(grid, args.peak_gbs)


if __name__ == "__main__":
    main()
