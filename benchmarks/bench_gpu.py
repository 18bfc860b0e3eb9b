"""E-step and whole-fit time, CPU (NumPy) against GPU (CuPy), for issue 3.

Usage::

    python benchmarks/bench_gpu.py --targets  # issue 3's two targets
    python benchmarks/bench_gpu.py --session  # the targets, then the rest by priority
    python benchmarks/bench_gpu.py            # the full grid (needs a GPU, RAM, time)
    python benchmarks/bench_gpu.py --quick    # small sizes, CPU only where no GPU
    python benchmarks/bench_gpu.py --targets --fused  # the GPU rows fused
    python benchmarks/bench_gpu.py --session --dry-run  # its code paths, tiny

``--dry-run`` (with any mode) divides every row's n by 1000 (at least 100
rows) and fits with 2 EM iterations instead of 100 (5 for ``--quick``): the
mode's code paths in seconds, for no figure. With ``tests/_fake_cupy`` on
the path (``SKMOE_EMULATED_CUPY=1``) its GPU rows run against the emulated
CuPy too; ``tests/test_gpu_emulated.py`` runs ``--session --dry-run`` so, to
catch a script gone stale before a device call.

``--fused`` switches on the experimental fused E-step (``skmoe._fused``: two
cuBLAS products and one kernel; ``skmoe._backend.FUSED_E_STEP``) for every GPU
row, labelled "gpu fused"; ``--targets`` and ``--session`` also time the
target E-step row with it after the generic one. Each fused E-step row is
followed by a line with its largest gaps to the generic E-step on the same
arrays.

``--targets`` measures the E-step at n=1e7, K=128, D=64 in float32 (GPU only: the
CPU's copy would not fit the memory rule below) and the whole fit at n=1e6, K=16,
D=8 in float32 on both backends, with k-means on one thread and on all.
``--session`` goes on with the E-step over the whole grid on the GPU, on the CPU
for n up to 1e6, and two more fits; ``benchmarks/gpu_session.sh`` runs it with
the GPU tests in one device call, and rows are printed as they end, so a run cut
short by its time limit keeps the rows before.

Prints markdown tables. The device is synchronized before every clock read;
every timed call follows an untimed one of the same shape (for the fit, a fit on
4096 rows), so that CuPy's kernel compilation and first-touch allocations are not
timed.
The E-step's achieved bandwidth counts the bytes it cannot avoid: reading the
design matrix and y once and writing its outputs once, the (K, n)
responsibilities, the (K, n) log gate values (which the gate's M-step reuses)
and the (n,) log-likelihoods; the roofline column divides that by the device's
peak (``--peak-gbs``, default the H200's 4800 GB/s).

A fit's time includes its initialization, which runs on the host for both
backends, with the input checks: k-means (by default on one OpenMP thread for
NumPy fits, see ``skmoe._backend.openmp_threads``, and on the host's default
threads for others) and the first M-step. At 1e6 x 8, K=16,
float32, a one-iteration NumPy fit took 7.6 s on the development machine, 4.4 s
of it k-means (cProfile; before the start's k-means fitted a sample of 1e5 rows,
see ``skmoe._init.KMEANS_ROWS``), and each further iteration about 0.17 s. So each fit
is timed with one EM iteration and with 101 (``tol=0``), and the table gives
both and their difference per iteration (derived, not a clock reading of its
own), once with k-means forced onto one thread and once on the host's default
threads ("all"), on both backends, to show what the host's share costs. The
CPU's E-steps run with one BLAS thread, as NumPy fits do (``blas_threads``).
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from contextlib import contextmanager, nullcontext
from functools import partial

import numpy as np

import skmoe._backend as skmoe_backend
import skmoe._init as skmoe_init
from skmoe import MoERegressor
from skmoe._backend import _import_cupy, blas_threads
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


def _data(n, d, dtype, seed=0):
    # float32 draws (Generator's are several times faster than RandomState's at
    # 1e7 x 64), cast where float64 is asked for
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32).astype(dtype, copy=False)
    y = (X[:, 0] + rng.standard_normal(n, dtype=np.float32)).astype(dtype, copy=False)
    return rng, X, y


def _problem(xp, to_device, n, d, k, dtype, seed=0):
    rng, X, y = _data(n, d, dtype, seed)
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


def _backends(which):
    """(name, xp, to_device, sync) for "cpu", "gpu" or both; "gpu" is left out
    where CuPy has no usable device."""
    out = []
    if which in ("cpu", "both"):
        out.append(("cpu", np, lambda a: a, lambda: None))
    cupy = _import_cupy()
    if which in ("gpu", "both") and cupy is not None:
        import array_api_compat.cupy as cxp

        out.append(("gpu", cxp, cupy.asarray, cupy.cuda.Device().synchronize))
    return out


@contextmanager
def fused_e_step(on=True):
    """The experimental fused E-step switched on (``on``) for the block."""
    before = skmoe_backend.FUSED_E_STEP
    skmoe_backend.FUSED_E_STEP = on
    try:
        yield
    finally:
        skmoe_backend.FUSED_E_STEP = before


def _fused_gaps(problem, gate, experts):
    """A line: the fused E-step's largest gaps to the generic one on the same
    arrays (log_norm relative, |reference| floored at 1; resp and log_gate
    absolute; over entries finite in both) and the count of non-finite
    entries that differ; computed on the device (at 1e7 x 128, host copies
    in float64 would take some 50 GB)."""
    xp = problem.xp
    with fused_e_step(False):
        want = e_step(problem, gate, experts)
    got = e_step(problem, gate, experts)
    gaps, mismatched = [], 0
    for j, (a, b) in enumerate(zip(got, want, strict=True)):
        both = xp.isfinite(a) & xp.isfinite(b)
        same = (a == b) | (xp.isnan(a) & xp.isnan(b))
        mismatched += int(xp.count_nonzero(~both & ~same))
        gap = xp.abs(xp.where(both, a - b, 0.0))
        if j == 0:
            gap = gap / xp.maximum(xp.abs(xp.where(both, b, 0.0)), 1.0)
        gaps.append(float(xp.max(gap)) if gap.size else 0.0)
        del both, same, gap
    return (
        "fused against generic: log_norm {:.2e} (relative), resp {:.2e}, "
        "log_gate {:.2e}, non-finite mismatches {}".format(*gaps, mismatched)
    )


def estep_rows(sizes, peak_gbs, which="both", fused=False):
    """Print one E-step row per size and backend; ``fused``: the GPU's with
    the experimental fused E-step (``skmoe._fused``), each followed by its
    gaps to the generic E-step."""
    rows = []
    for n, k, d, dtype in sizes:
        itemsize = np.dtype(dtype).itemsize
        needed = itemsize * n * (d + 1 + 6 * k)
        for name, xp, to_device, sync in _backends(which):
            if name == "cpu" and needed > 8e9:
                continue  # several (K, n) work arrays would not fit in RAM here
            _, _, problem, gate, experts = _problem(xp, to_device, n, d, k, dtype)
            fusing = fused and name == "gpu"
            try:
                with (
                    blas_threads(problem.design),  # one thread on NumPy, as in fits
                    fused_e_step() if fusing else nullcontext(),
                ):
                    seconds = _timed(partial(e_step, problem, gate, experts), sync)
                    gaps = _fused_gaps(problem, gate, experts) if fusing else None
            except Exception as error:
                if not fusing:
                    raise
                # the kernel's first runs (NVRTC's compile, its launch): a
                # failure is reported and the session's other rows still run
                print(
                    f"| gpu fused | {n:.0e} | {k} | {d} | {np.dtype(dtype).name} "
                    f"| failed: {type(error).__name__}: {error} |",
                    flush=True,
                )
                del problem, gate, experts
                continue
            if fusing:
                name = "gpu fused"
            # read: design (d + 1, n), y (n); written: resp and log_gate
            # (K, n) each, log_norm (n)
            nbytes = itemsize * n * ((d + 1) + 1 + 2 * k + 1)
            gbs = nbytes / seconds / 1e9
            row = (name, n, k, d, np.dtype(dtype).name, seconds * 1e3, gbs)
            rows.append(row)
            print(
                "| {} | {:.0e} | {} | {} | {} | {:.2f} | {:.1f} | {:.1f}% |".format(
                    *row, 100 * gbs / peak_gbs
                ),
                flush=True,
            )
            if gaps:
                print(gaps, flush=True)
            del problem, gate, experts
    return rows


@contextmanager
def _kmeans_threads(all_threads):
    """The start's k-means on one OpenMP thread, or with ``all_threads`` on the
    host's default threads, whatever skmoe's default for the backend (one
    thread for NumPy fits, the default for others: see ``skmoe._init``)."""
    original = skmoe_init._kmeans_labels

    def labels(X, target, sample_weight, n_experts, random_state, one_thread=True):
        return original(
            X, target, sample_weight, n_experts, random_state, not all_threads
        )

    skmoe_init._kmeans_labels = labels
    try:
        yield
    finally:
        skmoe_init._kmeans_labels = original


def fit_rows(sizes, which="both", iterations=100, all_threads=(False,)):
    """Print one whole-fit row per size, backend and k-means threading: a fit
    of one EM iteration (the host's initialization and input checks, one
    iteration) and one of ``1 + iterations`` (``tol=0``), each after an untimed
    fit on 4096 rows, and their difference per iteration (derived)."""
    rows = []
    for n, k, d, dtype in sizes:
        _, X, y = _data(n, d, dtype)
        for threads in all_threads:
            for name, _, _, sync in _backends(which):
                model = MoERegressor(
                    k,
                    n_init=1,
                    tol=0,
                    random_state=0,
                    device="cuda" if name == "gpu" else "cpu",
                )
                with _kmeans_threads(threads):
                    one, more = (
                        _timed(
                            partial(model.set_params(max_iter=m).fit, X, y),
                            sync,
                            repeat=1,
                            warmup=partial(model.fit, X[:4096], y[:4096]),
                        )
                        for m in (1, 1 + iterations)
                    )
                label = name
                if name == "gpu" and skmoe_backend.FUSED_E_STEP:
                    label = "gpu fused"
                row = (
                    label,
                    "all" if threads else "1",
                    n,
                    k,
                    d,
                    np.dtype(dtype).name,
                    one,
                    more,
                    (more - one) / iterations,
                )
                rows.append(row)
                print(
                    "| {} | {} | {:.0e} | {} | {} | {} | {:.2f} | {:.2f} "
                    "| {:.4f} |".format(*row),
                    flush=True,
                )
    return rows


ESTEP_HEADER = (
    "| backend | n | K | D | dtype | E-step (ms) | GB/s | of peak |\n"
    + "| --- " * 8
    + "|"
)


def _fit_header(iterations=100):
    return (
        "| backend | k-means threads | n | K | D | dtype | fit 1 it (s) "
        f"| fit {1 + iterations} it (s) | per it (s) |\n" + "| --- " * 9 + "|"
    )


GRID = list(
    itertools.product(
        [100_000, 1_000_000, 10_000_000],
        [4, 16, 128],
        [8, 64],
        [np.float32, np.float64],
    )
)


def main(argv=None):
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--targets", action="store_true")
    mode.add_argument("--session", action="store_true")
    parser.add_argument("--peak-gbs", type=float, default=4800.0)
    parser.add_argument(
        "--fused",
        action="store_true",
        help="the experimental fused E-step for every GPU row (E-steps and fits)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="n / 1000 (at least 100) and 2 EM iterations: the code paths, no figure",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # fixed iteration counts: no convergence asked
    with fused_e_step() if args.fused else nullcontext():
        _run(args)


def _sizes(sizes, dry_run):
    """``sizes``, or for a dry run each with n divided by 1000 (at least 100)."""
    if not dry_run:
        return list(sizes)
    return [(max(n // 1000, 100), k, d, dtype) for n, k, d, dtype in sizes]


def _run(args):
    def sizes_of(sizes):
        return _sizes(sizes, args.dry_run)

    if args.quick:
        sizes = sizes_of(itertools.product([100_000], [4, 16], [8], [np.float32]))
        iterations = 2 if args.dry_run else 5
        print(ESTEP_HEADER)
        estep_rows(sizes, args.peak_gbs, fused=args.fused)
        print(_fit_header(iterations))
        fit_rows(sizes, iterations=iterations)
        return
    iterations = 2 if args.dry_run else 100
    target_fit = sizes_of([(1_000_000, 16, 8, np.float32)])
    if args.targets or args.session:
        print(ESTEP_HEADER)
        target = sizes_of([(10_000_000, 128, 64, np.float32)])
        estep_rows(target, args.peak_gbs, "gpu", fused=args.fused)
        if not args.fused:  # the same row with the fused E-step
            estep_rows(target, args.peak_gbs, "gpu", fused=True)
        print(_fit_header(iterations))
        fit_rows(target_fit, iterations=iterations, all_threads=(False, True))
        if args.targets:
            return
        # the rest by priority, each row printed as it ends (a run cut short
        # by its time limit keeps the rows before)
        grid = sizes_of(GRID)
        print(ESTEP_HEADER)
        estep_rows(grid, args.peak_gbs, "gpu", fused=args.fused)
        print(ESTEP_HEADER)
        cpu_grid = [
            s for s, full in zip(grid, GRID, strict=True) if full[0] <= 1_000_000
        ]
        estep_rows(cpu_grid, args.peak_gbs, "cpu")
        print(_fit_header(iterations))
        fit_rows(
            sizes_of([(1_000_000, 16, 8, np.float64), (1_000_000, 16, 64, np.float32)]),
            iterations=iterations,
            all_threads=(True,),
        )
        return
    print(ESTEP_HEADER)
    estep_rows(sizes_of(GRID), args.peak_gbs, fused=args.fused)
    print(_fit_header(iterations))
    fit_rows(sizes_of(GRID), iterations=iterations, all_threads=(False, True))


if __name__ == "__main__":
    main()
