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
    python benchmarks/prototypes/fused_estep.py --dry-run      # GPU run, n / 1000

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

For float32 the GPU run also runs the two products in TF32 (cuBLAS on tensor
cores, see :func:`tf32_products`): rows labelled TF32 give their largest
relative error against the float32 products (|TF32 - float32| / max(|float32|,
1) over the entries), the fused E-step on them against the generic float32
``e_step``, and their times. Where this CuPy offers no way
to switch TF32 on, or it fails, one line says so and the rest runs; the
default is restored in any case.

Arithmetic for issue 3's target (a count, derived, not measured): at n=1e7,
K=128, D=64 (design D+1=65 rows) in float32 the E-step must read the design and
y and write resp, log_gate and log_norm, 65 + 1 + 128 + 128 + 1 = 323 floats a
sample: 12.9 GB, 2.7 ms at the H200's 4.8 TB/s, so 50% of that roofline is
5.4 ms. The two products (gate logits and expert means) are
2 x 2 x 65 x 128 x 1e7 = 3.3e11 FLOP, at least 5.0 ms at its 67 TFLOP/s
plain-float32 peak: the target is compute-bound unless the products run on
tensor cores (TF32). And the fused design here moves about 1156 floats a
sample (a reviewer's ~1157), not 323: the products read the design twice and
write G and M, 130 + 256; the kernel reads G and M in each of its two passes,
512, reads y and writes the outputs, 258. Even at full HBM speed it reaches at
most 323 / 1156, about 28%, of the roofline. The target needs the products
fused with the epilogue (a GEMM whose epilogue does the log-sum-exps), on
tensor cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import contextmanager
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
        mismatched += int(xp.count_nonzero(~both & ~same))
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


def tf32_products(cupy):
    """A context manager under which CuPy's float32 cuBLAS products run in
    TF32 on tensor cores, and how it switches; raises where this CuPy offers no
    way.

    CuPy's source (cupy/cupy, ``cupy/_core/_routines_linalg.pyx`` and ``.pxd``;
    the device's CuPy 14 is assumed to match): a 2-D float32 ``a @ b`` goes
    ``dot`` -> ``tensordot_core`` -> ``tensordot_core_v11``, which calls
    ``cublas.gemmEx`` with the compute type
    ``get_compute_type(float32)`` gives, ``CUBLAS_COMPUTE_32F_FAST_TF32`` when
    that is ``COMPUTE_TYPE_TF32`` (a ``cpdef enum`` of its ``.pxd``). The
    environment variable ``CUPY_TF32=1`` sets it too, but is read once, at the
    first float32 product, so the run uses ``set_compute_type`` (which falls
    back to the default, with a warning, below compute capability 8.0: checked
    here). Where that module lacks it: the handle's math mode,
    ``cupy_backends.cuda.libs.cublas.setMathMode(
    cupy.cuda.device.get_cublas_handle(), CUBLAS_TF32_TENSOR_OP_MATH)``, back
    to ``getMathMode``'s value after; whether cuBLAS honours it for ``gemmEx``
    with ``CUBLAS_COMPUTE_32F`` is not established here, and a products' error
    of float32 size (about 1e-7) says it was not.
    """
    float32 = np.dtype(np.float32)
    try:
        from cupy._core import _routines_linalg as linalg

        get, put = linalg.get_compute_type, linalg.set_compute_type
        tf32 = linalg.COMPUTE_TYPE_TF32
    except (ImportError, AttributeError):
        from cupy_backends.cuda.libs import cublas

        tf32_math = cublas.CUBLAS_TF32_TENSOR_OP_MATH

        @contextmanager
        def math_mode():
            handle = cupy.cuda.device.get_cublas_handle()
            before = cublas.getMathMode(handle)
            try:
                cublas.setMathMode(handle, tf32_math)
                yield
            finally:
                cublas.setMathMode(handle, before)

        return "math mode", math_mode

    @contextmanager
    def compute_type():
        before = get(float32)
        try:
            put(float32, tf32)
            if get(float32) != tf32:
                raise RuntimeError("the device does not take COMPUTE_TYPE_TF32")
            yield
        finally:
            put(float32, before)

    return "compute type", compute_type


def _relative(cupy, got, want):
    """Largest |got - want| / max(|want|, 1) (float32 arrays, in float32)."""
    return float(cupy.max(cupy.abs(got - want) / cupy.maximum(cupy.abs(want), 1)))


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


def _row(n, k, d, name, path, median, best, count, peak_gbs):
    rate = "| - | - |"
    if count:
        gbs = count / best / 1e9
        rate = f"| {gbs:.0f} | {100 * gbs / peak_gbs:.1f}% |"
    return (
        f"| {n:.0e} | {k} | {d} | {name} | {path} | {median * 1e3:.2f} "
        f"| {best * 1e3:.2f} {rate}"
    )


def _gpu_tf32(cupy, tf32, problem, gate, experts, want, case, nbytes):
    """The float32 E-step's products in TF32: the products' errors (a row of
    ``TF32_HEADER``), the fused E-step's on them against ``want`` (the generic
    float32 E-step's; reported), and (path, counted bytes, times) of both."""
    how, mode = tf32
    sync = cupy.cuda.Device().synchronize
    fused = partial(fused_e_step, cupy, problem, gate, experts)
    products = partial(_products, problem, gate, experts)
    with mode():
        G32, M32 = products()
        got = fused()
        times = [
            ("fused, TF32 products", nbytes, _times(fused, sync)),
            ("two products alone, TF32", None, _times(products, sync)),
        ]
    G, M = products()
    sync()
    gaps = _relative(cupy, G32, G), _relative(cupy, M32, M)
    del G32, M32, G, M
    _report(f"{case}, TF32 products (fused)", errors(cupy, got, want))
    row = f"| {case} | {how} | {gaps[0]:.2e} | {gaps[1]:.2e} |"
    return row, times


def _gpu_size(cupy, n, k, d, dtype, peak_gbs, tf32=None):
    """Check the fused E-step against ``e_step`` at one size; its time rows,
    and for float32 with ``tf32`` (see :func:`tf32_products`) the TF32 products'
    row of ``TF32_HEADER`` (or the line saying why there is none)."""
    import array_api_compat.cupy as cxp

    sync = cupy.cuda.Device().synchronize
    _, _, problem, gate, experts = _problem(cxp, cupy.asarray, n, d, k, dtype)
    name = np.dtype(dtype).name
    generic = partial(e_step, problem, gate, experts)
    fused = partial(fused_e_step, cupy, problem, gate, experts)
    case = f"{n:.0e} x {k} x {d}, {name}"
    want = generic()
    _report(case, errors(cupy, fused(), want))
    itemsize = np.dtype(dtype).itemsize
    nbytes = itemsize * n * ((d + 1) + 1 + 2 * k + 1)
    tf32_rows, extra = [], []
    if tf32 is not None and name == "float32":
        try:
            row, extra = _gpu_tf32(
                cupy, tf32, problem, gate, experts, want, case, nbytes
            )
            tf32_rows.append(row)
        except Exception as exc:  # a report, not a check
            tf32_rows.append(f"TF32 products at {case}: failed ({exc!r:.200})")
    del want
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
        rows.append(_row(n, k, d, name, path, *_times(fn, sync), count, peak_gbs))
    for path, count, (median, best) in extra:
        rows.append(_row(n, k, d, name, path, median, best, count, peak_gbs))
    return rows, tf32_rows


TF32_HEADER = (
    "| case | TF32 switched by | G (logits) max rel | M (means) max rel |\n"
    + "| --- " * 4
    + "|"
)


def gpu_run(cupy, peak_gbs, dry_run=False):
    """The checks and times at the three sizes (``dry_run``: n / 1000, the
    code paths in seconds, for no figure)."""
    sizes = [
        (1_000_000, 16, 8, np.float32),
        (1_000_000, 16, 8, np.float64),
        (10_000_000, 128, 64, np.float32),
    ]
    if dry_run:
        sizes = [(n // 1000, k, d, dtype) for n, k, d, dtype in sizes]
    try:
        tf32 = tf32_products(cupy)
        tf32_note = None
    except Exception as exc:  # a report, not a check
        tf32 = None
        tf32_note = f"TF32 products: not available in this CuPy ({exc!r:.200})"
    print(ERROR_HEADER)
    rows, tf32_rows = [], []
    for size in sizes:
        times, tf32_row = _gpu_size(cupy, *size, peak_gbs, tf32)
        rows += times
        tf32_rows += tf32_row
        cupy.get_default_memory_pool().free_all_blocks()
    print()
    if tf32_note:
        print(tf32_note)
    else:
        print(TF32_HEADER)
        print("\n".join(tf32_rows))
    print()
    print(TIME_HEADER)
    print("\n".join(rows), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--numpy-check", action="store_true")
    parser.add_argument("--peak-gbs", type=float, default=4800.0)
    parser.add_argument(
        "--dry-run", action="store_true", help="the GPU run with n / 1000: no figure"
    )
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
    gpu_run(cupy, args.peak_gbs, args.dry_run)


if __name__ == "__main__":
    main()
