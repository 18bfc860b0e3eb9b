"""A fused GPU E-step for MoERegressor's model, a prototype for issue 3.

Not part of skmoe and not imported by it. skmoe's namespace-generic E-step
(``_em.e_step``: ``SoftmaxGate.log_gate``, ``GaussianLinearExperts.log_likelihood``,
``_groups.mix``) runs on CuPy as some 17 elementwise and reduction kernels
besides its two products, reading and writing a (K, n) array 33 times. Here
the two products stay with cuBLAS (``coef.T @ design``: gate logits G and expert
means M, each (K, n)) and all the rest is one kernel, a thread per sample i:

- pass 1 over k: online (streaming) log-sum-exps of G[:, i] and of the joint
  G[:, i] + logp[:, i], logp = -0.5 (log 2 pi + log v_k + (y_i - M_ki)^2 / v_k);
- pass 2 over k: log_gate = G - lse(G), resp = exp(G + logp - lse(G + logp)),
  and log_norm = lse(G + logp) - lse(G).

The joint is kept less the running gate maximum (as the generic code adds logp
to the normalized log gate, not to the raw logits, whose rounding at logits of
1e4 in float32 would be 1e-3), and its running maximum as the (logit, logp) pair
that attains it, so that pass 2 recomputes it exactly as it computes each term.

    python benchmarks/prototypes/fused_estep.py                # GPU: checks, times
    python benchmarks/prototypes/fused_estep.py --numpy-check  # CPU: the algorithm

The GPU run checks the fused outputs against ``e_step`` on the same device
arrays and times both (median and best of 5 after a warm-up, the device
synchronized before each clock read) at n=1e7, K=128, D=64 in float32 and at
1e6 x 16 x 8 in float32 and float64, with the achieved bandwidth counted as
``benchmarks/bench_gpu.py`` counts it. ``--numpy-check`` runs the same
algorithm written in NumPy (vectorized over samples) against NumPy's ``e_step``
and on crafted logits with -inf entries and columns. Without CuPy or a device
the GPU run prints one line and exits 0. ``benchmarks/gpu_session.sh`` runs it
after the benchmark when a minute is left (it needs array-api-compat, which
that script installs from carried wheels).
"""

from __future__ import annotations

import argparse
import math
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
from skmoe._groups import mix  # noqa: E402
from skmoe._math import log_softmax  # noqa: E402

LOG_2PI = math.log(2 * math.pi)
BLOCK = 256  # threads a block; the grid is ceil(n / BLOCK) blocks

# REAL, EXP, LOG, FABS and NEG_INF are defined per dtype before this source
_KERNEL = r"""
// One thread per sample i. G (gate logits) and M (expert means) are (K, n)
// C-contiguous: row k of sample i is at k * n + i, so a warp reads 32 adjacent
// values of one row. c_k = -0.5 (log 2 pi + log v_k), h_k = 0.5 / v_k.
extern "C" __global__ void fused_estep(
    const REAL* __restrict__ G, const REAL* __restrict__ M,
    const REAL* __restrict__ y, const REAL* __restrict__ c,
    const REAL* __restrict__ h, const int K, const long long n,
    REAL* __restrict__ log_gate, REAL* __restrict__ resp,
    REAL* __restrict__ log_norm)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const REAL yi = y[i];
    // gate: mg = max_k G, sg = sum_k exp(G - mg). joint d_k = (G_k - mg) + logp_k,
    // sj = sum_k exp(d_k - max d); the max is kept as its (logit, logp) pair
    REAL mg = NEG_INF, sg = 0, gj = NEG_INF, lpj = 0, sj = 0;
    for (int k = 0; k < K; ++k) {                      // pass 1
        const long long at = (long long)k * n + i;
        const REAL g = G[at];
        if (g == NEG_INF) continue;                    // gate 0: adds to neither sum
        const REAL r = yi - M[at];
        const REAL lp = c[k] - h[k] * r * r;
        REAL e = EXP(-FABS(g - mg));                   // one exp, either branch
        if (g > mg) { sg = sg * e + 1; mg = g; } else sg += e;
        const REAL d = (g - mg) + lp;
        const REAL mj = (gj - mg) + lpj;               // the joint's max so far
        e = EXP(-FABS(d - mj));
        if (d > mj) { sj = sj * e + 1; gj = g; lpj = lp; }
        else if (d != NEG_INF) sj += e;                // (NaN d: NaN, as e_step)
    }
    const REAL lsg = LOG(sg);
    const REAL lj = ((gj - mg) + lpj) + LOG(sj);       // lse(G + logp) - mg
    log_norm[i] = lj - lsg;
    for (int k = 0; k < K; ++k) {                      // pass 2
        const long long at = (long long)k * n + i;
        const REAL r = yi - M[at];
        const REAL lp = c[k] - h[k] * r * r;
        const REAL shifted = G[at] - mg;
        log_gate[at] = shifted - lsg;
        resp[at] = EXP((shifted + lp) - lj);
    }
}
"""

_DEFINES = {
    "float32": (
        "float",
        "expf",
        "logf",
        "fabsf",
        "__int_as_float((int)0xff800000)",
    ),
    "float64": (
        "double",
        "exp",
        "log",
        "fabs",
        "__longlong_as_double((long long)0xfff0000000000000ULL)",
    ),
}
_kernels = {}


def _kernel(cupy, dtype):
    name = np.dtype(dtype).name
    if name not in _kernels:
        names = ("REAL", "EXP", "LOG", "FABS", "NEG_INF")
        defines = "".join(
            f"#define {key} {value}\n"
            for key, value in zip(names, _DEFINES[name], strict=True)
        )
        _kernels[name] = cupy.RawKernel(defines + _KERNEL, "fused_estep")
    return _kernels[name]


def _constants(xp, variance, dtype):
    """c_k = -0.5 (log 2 pi + log v_k) and h_k = 0.5 / v_k, in float64 then cast."""
    v = xp.asarray(variance, dtype=xp.float64)
    c = -0.5 * (LOG_2PI + xp.log(v))
    return c.astype(dtype), (0.5 / v).astype(dtype)


def fused_from_products(cupy, G, M, y, variance):
    """(log_norm, resp, log_gate) from the products by the fused kernel."""
    K, n = G.shape
    dtype = G.dtype
    for a in (G, M):
        assert a.shape == (K, n) and a.dtype == dtype and a.flags.c_contiguous
    y = cupy.ascontiguousarray(y, dtype=dtype)
    assert y.shape == (n,)
    c, h = _constants(cupy, variance, dtype)
    log_gate = cupy.empty((K, n), dtype=dtype)
    resp = cupy.empty((K, n), dtype=dtype)
    log_norm = cupy.empty(n, dtype=dtype)
    grid = (n + BLOCK - 1) // BLOCK
    assert 0 < grid < 2**31 and grid * BLOCK >= n
    _kernel(cupy, dtype)(
        (grid,),
        (BLOCK,),
        (G, M, y, c, h, np.int32(K), np.int64(n), log_gate, resp, log_norm),
    )
    return log_norm, resp, log_gate


def _products(problem, gate, experts):
    design = problem.design
    return gate["coef"].T @ design, experts["coef"].T @ design


def fused_e_step(cupy, problem, gate, experts):
    """The fused E-step: two cuBLAS products, then one kernel."""
    G, M = _products(problem, gate, experts)
    return fused_from_products(cupy, G, M, problem.Y, experts["variance"])


def reference_from_products(G, M, y, variance):
    """The kernel's algorithm in NumPy, vectorized over samples (i), step for
    step: the same online sums, branches as ``np.where``."""
    dtype = G.dtype
    K, n = G.shape
    c, h = _constants(np, variance, dtype)
    neg_inf = dtype.type(-np.inf)
    mg = np.full(n, neg_inf)
    sg = np.zeros(n, dtype)
    gj = np.full(n, neg_inf)
    lpj = np.zeros(n, dtype)
    sj = np.zeros(n, dtype)
    lps = np.empty((K, n), dtype)
    with np.errstate(all="ignore"):
        for k in range(K):  # pass 1
            g = G[k]
            live = g != neg_inf
            r = y - M[k]
            lp = lps[k] = c[k] - h[k] * r * r
            e = np.exp(-np.abs(g - mg))
            up = live & (g > mg)
            sg = np.where(up, sg * e + 1, np.where(live, sg + e, sg))
            mg = np.where(up, g, mg)
            d = (g - mg) + lp
            mj = (gj - mg) + lpj
            e = np.exp(-np.abs(d - mj))
            upj = live & (d > mj)
            add = live & ~(d > mj) & (d != neg_inf)
            sj = np.where(upj, sj * e + 1, np.where(add, sj + e, sj))
            gj = np.where(upj, g, gj)
            lpj = np.where(upj, lp, lpj)
        lsg = np.log(sg)
        lj = ((gj - mg) + lpj) + np.log(sj)
        shifted = G - mg  # pass 2
        return lj - lsg, np.exp((shifted + lps) - lj), shifted - lsg


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
            got = reference_from_products(*_products(prob, g, e), prob.Y, e["variance"])
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
        c, h = _constants(np, variance, dtype)
        with np.errstate(all="ignore"):
            log_p = c[:, None] - h[:, None] * (y[None, :] - M) ** 2
            want = generic_from_products(np, G, log_p)
        got = reference_from_products(G, M, y, variance)
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
            partial(fused_from_products, cupy, G, M, problem.Y, experts["variance"]),
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
