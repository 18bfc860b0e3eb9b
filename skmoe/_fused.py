"""An experimental fused CuPy E-step (issue 3), off by default.

The namespace-generic E-step (``_em._e_step_block``: ``SoftmaxGate.log_gate``,
``GaussianLinearExperts.log_likelihood``, ``_groups.mix``) runs on CuPy as
some 17 elementwise and reduction kernels besides its two products, reading and
writing a (K, n) array 33 times. Here the two products stay with cuBLAS
(``coef.T @ design``: gate logits G and expert means M, each (K, n)) and all
the rest is one kernel, a thread per sample i:

- pass 1 over k: online (streaming) log-sum-exps of G[:, i] and of the joint
  G[:, i] + logp[:, i], logp = -0.5 (log 2 pi + log v_k + (y_i - M_ki)^2 / v_k);
- pass 2 over k: log_gate = G - lse(G), resp = exp(G + logp - lse(G + logp)),
  and log_norm = lse(G + logp) - lse(G).

The joint is kept less the running gate maximum (as the generic code adds logp
to the normalized log gate, not to the raw logits, whose rounding at logits of
1e4 in float32 would be 1e-3), and its running maximum as the (logit, logp)
pair that attains it, so that pass 2 recomputes it exactly as it computes each
term.

:func:`applies` decides: the switch (``_backend.fused_e_step_on``), CuPy
arrays, and exactly the configuration the kernel handles; otherwise
``e_step`` takes its generic path, unchanged. CuPy comes from
``_backend._import_cupy`` alone. :func:`emulate_from_products` is the kernel's
algorithm in NumPy, step for step, which the tests check against the generic
E-step on the CPU; the kernel itself has not yet run on a GPU
(``tests/test_gpu.py`` and ``benchmarks/bench_gpu.py --fused`` check and time
it where one is), but NVRTC compiles it for sm_90 with ``RawKernel``'s options,
without a warning or a spill (``benchmarks/prototypes/nvrtc_check.py``, and
``tests/test_fused.py`` where libnvrtc is).
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import is_cupy_array

from . import _backend
from ._sparse import is_sparse
from .experts.gaussian import GaussianLinearExperts
from .gates.softmax import SoftmaxGate

LOG_2PI = math.log(2 * math.pi)
#: Threads a block; the grid is ceil(n / BLOCK) blocks.
BLOCK = 256

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
    "float32": {
        "REAL": "float",
        "EXP": "expf",
        "LOG": "logf",
        "FABS": "fabsf",
        "NEG_INF": "__int_as_float((int)0xff800000)",
    },
    "float64": {
        "REAL": "double",
        "EXP": "exp",
        "LOG": "log",
        "FABS": "fabs",
        "NEG_INF": "__longlong_as_double((long long)0xfff0000000000000ULL)",
    },
}
#: The compiled kernels, by dtype name (CuPy compiles for each device at its
#: first launch there, and caches the binary on disk).
_KERNELS: dict = {}


def kernel_source(dtype_name: str) -> str:
    """The kernel's CUDA source for ``"float32"`` or ``"float64"``."""
    defines = _DEFINES[dtype_name]
    return "".join(f"#define {k} {v}\n" for k, v in defines.items()) + _KERNEL


def applies(problem, gate_params, expert_params, with_marginal=False) -> bool:
    """Whether :func:`e_step` handles this E-step: the switch is on, the arrays
    are CuPy's, and the model is exactly the kernel's (a softmax gate on the
    experts' design, Gaussian linear experts, one float32 or float64 dtype,
    a target of shape (n,), no groups, no top-k truncation, no marginal)."""
    design = problem.design
    if not is_cupy_array(design) or not _backend.fused_e_step_on():
        return False
    if (
        with_marginal
        or type(problem.gate) is not SoftmaxGate
        or type(problem.experts) is not GaussianLinearExperts
        or problem.groups is not None
        or problem.own_gate_design is not None
    ):
        return False
    dtype = design.dtype
    if getattr(dtype, "name", None) not in _DEFINES or design.ndim != 2:
        return False
    rows, n = design.shape
    gate_coef = gate_params.get("coef")
    coef, variance = expert_params.get("coef"), expert_params.get("variance")
    if gate_coef is None or coef is None or variance is None:
        return False
    n_experts = gate_coef.shape[-1]
    if is_sparse(problem.top_k, n_experts) or not 0 < n_experts < 2**31 or n == 0:
        return False
    shapes = (
        (gate_coef, (rows, n_experts)),
        (coef, (rows, n_experts)),
        (variance, (n_experts,)),
        (problem.Y, (n,)),
    )
    return all(
        is_cupy_array(a) and a.dtype == dtype and tuple(a.shape) == shape
        for a, shape in shapes
    )


def constants(xp, variance, dtype):
    """``c_k = -0.5 (log 2 pi + log v_k)`` and ``h_k = 0.5 / v_k``, in float64
    then cast to ``dtype`` (``xp``: NumPy or CuPy itself)."""
    v = xp.asarray(variance, dtype=xp.float64)
    c = -0.5 * (LOG_2PI + xp.log(v))
    return c.astype(dtype), (0.5 / v).astype(dtype)


def from_products(cupy, G, M, y, variance):
    """(log_norm, resp, log_gate) from the logits ``G`` and means ``M``, (K, n)
    CuPy arrays of one dtype, by the fused kernel."""
    K, n = G.shape
    dtype = G.dtype
    G = cupy.ascontiguousarray(G)
    M = cupy.ascontiguousarray(M, dtype=dtype)
    y = cupy.ascontiguousarray(y, dtype=dtype)
    c, h = constants(cupy, variance, dtype)
    log_gate = cupy.empty((K, n), dtype=dtype)
    resp = cupy.empty((K, n), dtype=dtype)
    log_norm = cupy.empty(n, dtype=dtype)
    name = np.dtype(dtype).name
    if name not in _KERNELS:
        _KERNELS[name] = cupy.RawKernel(kernel_source(name), "fused_estep")
    grid = (n + BLOCK - 1) // BLOCK
    _KERNELS[name](
        (grid,),
        (BLOCK,),
        (G, M, y, c, h, np.int32(K), np.int64(n), log_gate, resp, log_norm),
    )
    return log_norm, resp, log_gate


def e_step(problem, gate_params, expert_params):
    """The fused E-step where :func:`applies`: two cuBLAS products, then one
    kernel; ``_em.e_step``'s (log_norm, resp, log_gate)."""
    cupy = _backend._import_cupy()
    if cupy is None:  # (applies saw CuPy arrays: a device that went away)
        raise RuntimeError("the fused E-step needs CuPy and a usable CUDA device")
    design = problem.design
    with design.device:
        G = gate_params["coef"].T @ design
        M = expert_params["coef"].T @ design
        return from_products(cupy, G, M, problem.Y, expert_params["variance"])


def emulate_from_products(G, M, y, variance):
    """The kernel's algorithm in NumPy, vectorized over samples (i), step for
    step: the same online sums, its branches as ``np.where``; for the tests."""
    dtype = G.dtype
    K, n = G.shape
    c, h = constants(np, variance, dtype)
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
