"""Shared data, settings and the BLAS floor for the skmoe benchmarks."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

#: Set by ``run.py --quick`` (or by hand under asv): run the small parameter subsets.
QUICK = os.environ.get("SKMOE_BENCH_QUICK", "0") == "1"

#: Seeds of the accuracy protocol (the neural-trees protocol uses 5).
N_SEEDS = int(os.environ.get("SKMOE_BENCH_SEEDS", "1" if QUICK else "5"))

#: Cases whose (n_experts, n_samples) float64 work arrays, times the ~10 of them a
#: fit holds at once, would exceed this many GiB are skipped (shared machine).
MEMORY_BUDGET_GIB = float(os.environ.get("SKMOE_BENCH_MEMORY_GIB", "6"))


def skip(reason: str):
    """Skip a benchmark the way asv understands (NotImplementedError in setup)."""
    raise NotImplementedError(reason)


def check_memory(n: int, d: int, k: int, arrays: int = 10):
    gib = arrays * 8 * n * max(k, d + 1) / 2**30
    if gib > MEMORY_BUDGET_GIB:
        skip(f"needs about {gib:.0f} GiB > budget {MEMORY_BUDGET_GIB:g} GiB")


def make_switching(n_samples: int, n_features: int, n_regimes: int, seed: int = 0):
    """Regression data from a softmax-gated mixture of linear experts.

    The regime of a sample is the argmax of ``x @ A`` (a sharp softmax gate over
    ``n_regimes`` directions), and each regime has its own line and noise: the
    data a mixture of experts with ``n_regimes`` experts is meant for.
    """
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    gate = rng.standard_normal((n_features, n_regimes))
    regime = np.argmax(X @ gate, axis=1)
    coef = rng.standard_normal((n_regimes, n_features))
    intercept = rng.uniform(-3, 3, n_regimes)
    noise = rng.uniform(0.2, 0.6, n_regimes)
    y = (
        np.einsum("ij,ij->i", X, coef[regime])
        + intercept[regime]
        + noise[regime] * rng.standard_normal(n_samples)
    )
    return X, y


def floor_iteration(Xt: np.ndarray, W: np.ndarray, n_experts: int):
    """The unavoidable linear algebra of one EM iteration (design.md section 2).

    ``Xt`` is ``[1, X]`` of shape (n_samples, n_features + 1) and ``W`` the stacked
    gate and expert coefficients, (n_features + 1, 2 * n_experts).
    """
    Z = Xt @ W
    logits = Z[:, :n_experts]
    E = np.exp(logits - logits.max(axis=1, keepdims=True))
    R = E / E.sum(axis=1, keepdims=True)
    for k in range(n_experts):
        (Xt * R[:, k : k + 1]).T @ Xt


def floor_inputs(X: np.ndarray, n_experts: int, seed: int = 0):
    rng = np.random.RandomState(seed)
    Xt = np.column_stack([np.ones(X.shape[0], dtype=X.dtype), X])
    W = 0.1 * rng.standard_normal((Xt.shape[1], 2 * n_experts)).astype(X.dtype)
    return Xt, W


def timed(func, *args, **kwargs) -> float:
    start = time.perf_counter()
    func(*args, **kwargs)
    return time.perf_counter() - start


def best_of(func, repeat: int = 5) -> float:
    """Smallest of ``repeat`` wall times (robust to other load on the machine)."""
    return min(timed(func) for _ in range(repeat))


def floor_seconds(X, n_experts, repeat=5, threads=None) -> float:
    Xt, W = floor_inputs(X, n_experts)
    if threads is None:
        return best_of(lambda: floor_iteration(Xt, W, n_experts), repeat)
    with threadpool_limits(limits=threads, user_api="blas"):
        return best_of(lambda: floor_iteration(Xt, W, n_experts), repeat)


def quiet_fit(model, X, y):
    """Fit without ConvergenceWarning noise (fixed-iteration fits warn by design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"
