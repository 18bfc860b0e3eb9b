"""Checks and times skmoe's experimental fused GPU E-step (issue 3).

The kernel, its switch and its NumPy emulation now live in ``skmoe._fused``
(off by default: ``skmoe._backend.FUSED_E_STEP`` or ``SKMOE_FUSED_E_STEP=1``);
this script keeps the breakdown the library does not: the fused E-step
against ``e_step``'s generic path on the same device arrays, and the times of
the generic E-step, the fused one, its kernel alone and the two products alone.
The two products stay with cuBLAS (``coef.T @ design``: gate logits G and
expert means M, each (K, n)) and all the rest is one kernel, a thread per
sample (see ``skmoe._fused``).

    python benchmarks/prototypes/fused_estep.py                # GPU: checks, times
    python benchmarks/prototypes/fused_estep.py --numpy-check  # CPU: the algorithm

The GPU run checks the fused outputs against ``e_step`` on the same device
arrays and times both (median and best of 5 after a warm-up, the device
synchronized before each clock read) at n=1e7, K=128, D=64 in float32 and at
1e6 x 16 x 8 in float32 and float64, with the achieved bandwidth counted as
``benchmarks/bench_gpu.py`` counts it. ``--numpy-check`` runs the kernel's
algorithm in NumPy (``skmoe._fused.emulate_from_products``, which
``tests/test_fused.py`` also checks) against NumPy's ``e_step`` and on crafted
logits with -inf entries and columns. Without CuPy or a device the GPU run
prints one line and exits 0. ``benchmarks/gpu_session.sh`` runs it before the
benchmark, for at most 150 s (it needs array-api-compat, which
that script installs from carried wheels).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import partial

import numpy as np

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

from benchmarks.bench_gpu import _problem  # noqa: E402
from skmoe._backend import _import_cupy  # noqa: E402
from skmoe._em import e_step  # noqa: E402
from skmoe._fused import constants, emulate_from_products, from_products  # noqa: E402
from skmoe._groups import mix  # noqa: E402
from skmoe._math import log_softmax  # noqa: E402


def _products(problem, gate, experts):
    design = problem.design
    return gate["coef"].T @ design, experts["coef"].T @ design


def fused_e_step(cupy, problem, gate, experts):
    """The fused E-step: two cuBLAS products, then one kernel."""
    G, M = _products(problem, gate, experts)
    return from_products(cupy, G, M, problem.Y, experts["variance"])


def generic_from_products(xp, G, log_p):
    """skmoe's generic code from given logits and expert log-likelihoods."""
    log_gate = log_softmax(xp, G, axis=0)
    log_norm, resp = mix(xp, log_gate, log_p, None)
    return log_norm, resp, log_gate


def errors(xp, got, want):
    """Largest relative error of log_norm (|ref| floored at 1), absolute ones of
    resp and log_gate over entries finite in both, and the count of entries
    whose non-finite pattern (NaN, +-inf) differs."""
    out = []
    mismatched = 0
    for j, (a, b) in enumerate(zip(got, want, strict=True)):
        a = xp.asarray(a, dtype=xp.float64)
        b = xp.asarray(b, dtype=xp.float64)
        both = xp.isfinite(a) & xp.isfinite(b)
        same = (xp.isnan(a) & xp.isnan(b)) | (a == b)
        mismatched += int(xp.sum(~both & ~same))
        with np.errstate(invalid="ignore"):  # (NumPy's; CuPy warns of nothing)
            gap = xp.where(both, xp.abs(a - b), 0.0)
        if j == 0:
            gap = gap / xp.where(both, xp.maximum(xp.abs(b), 1.0), 1.0)
        out.append(float(xp.max(gap)) if gap.size else 0.0)
    return (*out, mismatched)


def _report(label, errs):
    print(
        f"| {label} | {errs[0]:.2e} | {errs[1]:.2e} | {errs[2]:.2e} | {errs[3]} |",
        flush=True,
    )


ERROR_HEADER = (
    "| case | log_norm rel | resp abs | log_gate abs | non-finite mismatches |\n"
    + "| --- " * 5
    + "|"
)


def numpy_check():
    """The algorithm in NumPy against skmoe's NumPy E-step; returns the worst
    (errors) per dtype."""
    print(ERROR_HEADER)
    n, d, k = 2000, 4, 5
    rng = np.random.default_rng(1)
    worst = {}
    for dtype in (np.float32, np.float64):
        cases = []
        _, _, problem, gate, experts = _problem(np, lambda a: a, n, d, k, dtype)
        cases.append(("bench problem", problem, gate, experts))
        # logits of +-1e4 (overflow safety) and variances down to 1e-6
        big = {"coef": (1e4 * gate["coef"] / 0.1).astype(dtype)}
        tiny = {
            "coef": experts["coef"],
            "variance": np.asarray([1e-6, 1e-4, 1e-2, 1.0, 1e2], dtype=dtype),
        }
        cases.append(("logits +-1e4, variances 1e-6..1e2", problem, big, tiny))
        # logits of 1e4 + O(1) (a mixing gate; G + logp would round at 1e-3 in
        # float32), unit and spread variances
        offset = {"coef": gate["coef"] * 10}
        offset["coef"][0] += dtype(1e4)
        cases.append(("logits 1e4 + O(1)", problem, offset, experts))
        spread = dict(tiny, variance=np.asarray([0.01, 0.1, 1, 10, 100], dtype))
        cases.append(
            ("logits 1e4 + O(1), variances 0.01..100", problem, offset, spread)
        )
        for label, prob, g, e in cases:
            got = emulate_from_products(*_products(prob, g, e), prob.Y, e["variance"])
            errs = errors(np, got, e_step(prob, g, e))
            _report(f"{label}, {np.dtype(dtype).name}", errs)
            worst.setdefault(np.dtype(dtype).name, []).append(errs)
        # crafted: -inf logits (an expert off, and a column all off), logp of
        # -inf (a target beyond the float range), against skmoe's log_softmax
        # and mix on the same arrays
        G = rng.normal(scale=3.0, size=(k, 50)).astype(dtype)
        M = rng.normal(size=(k, 50)).astype(dtype)
        y = rng.normal(size=50).astype(dtype)
        variance = rng.uniform(0.01, 2.0, size=k).astype(dtype)
        G[1, :20] = -np.inf
        G[:, 30] = -np.inf
        G[:4, 31] = -np.inf
        y[40] = np.finfo(dtype).max
        c, h = constants(np, variance, dtype)
        with np.errstate(all="ignore"):
            log_p = c[:, None] - h[:, None] * (y[None, :] - M) ** 2
            want = generic_from_products(np, G, log_p)
        got = emulate_from_products(G, M, y, variance)
        errs = errors(np, got, want)
        _report(f"crafted -inf, {np.dtype(dtype).name}", errs)
        worst[np.dtype(dtype).name].append(errs)
    return worst


def _times(fn, sync, repeat=5):
    """Median and best seconds of ``repeat`` calls after one untimed call."""
    fn()
    sync()
    seconds = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), min(seconds)


TIME_HEADER = (
    "| n | K | D | dtype | path | median (ms) | best (ms) | GB/s | of peak |\n"
    + "| --- " * 9
    + "|"
)


def _gpu_size(cupy, n, k, d, dtype, peak_gbs):
    """Check the fused E-step against ``e_step`` at one size; its time rows."""
    import array_api_compat.cupy as cxp

    sync = cupy.cuda.Device().synchronize
    _, _, problem, gate, experts = _problem(cxp, cupy.asarray, n, d, k, dtype)
    name = np.dtype(dtype).name
    generic = partial(e_step, problem, gate, experts)
    fused = partial(fused_e_step, cupy, problem, gate, experts)
    _report(f"{n:.0e} x {k} x {d}, {name}", errors(cupy, fused(), generic()))
    itemsize = np.dtype(dtype).itemsize
    nbytes = itemsize * n * ((d + 1) + 1 + 2 * k + 1)
    # the kernel alone: G, M and y read, resp, log_gate, log_norm written once
    # (pass 2's second read of G and M not counted)
    kernel_bytes = itemsize * n * (4 * k + 2)
    G, M = _products(problem, gate, experts)
    paths = (
        ("generic e_step", nbytes, generic),
        ("fused", nbytes, fused),
        (
            "fused kernel alone",
            kernel_bytes,
            partial(from_products, cupy, G, M, problem.Y, experts["variance"]),
        ),
        ("two products alone", None, partial(_products, problem, gate, experts)),
    )
    rows = []
    for path, count, fn in paths:
        median, best = _times(fn, sync)
        rate = "| - | - |"
        if count:
            gbs = count / best / 1e9
            rate = f"| {gbs:.0f} | {100 * gbs / peak_gbs:.1f}% |"
        rows.append(
            f"| {n:.0e} | {k} | {d} | {name} | {path} | {median * 1e3:.2f} "
            f"| {best * 1e3:.2f} {rate}"
        )
    return rows


def gpu_run(cupy, peak_gbs):
    sizes = [
        (1_000_000, 16, 8, np.float32),
        (1_000_000, 16, 8, np.float64),
        (10_000_000, 128, 64, np.float32),
    ]
    print(ERROR_HEADER)
    rows = []
    for size in sizes:
        rows += _gpu_size(cupy, *size, peak_gbs)
        cupy.get_default_memory_pool().free_all_blocks()
    print()
    print(TIME_HEADER)
    print("\n".join(rows), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--numpy-check", action="store_true")
    parser.add_argument("--peak-gbs", type=float, default=4800.0)
    args = parser.parse_args(argv)
    if args.numpy_check:
        worst = numpy_check()
        # the algorithm, not rounding, is wrong beyond these (float32, float64)
        for name, bound in (("float32", 1e-4), ("float64", 1e-12)):
            for errs in worst[name]:
                assert errs[3] == 0 and max(errs[:3]) < bound, (name, errs)
        return
    cupy = _import_cupy()
    if cupy is None:
        print("fused_estep: no CuPy with a usable device, nothing run")
        return
    gpu_run(cupy, args.peak_gbs)


if __name__ == "__main__":
    main()
