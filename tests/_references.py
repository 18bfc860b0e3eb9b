"""Data and checks shared by tests that compare fits with numbers written out
independently of skmoe's numerics."""

import math
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy import stats

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe.exceptions import FeatureScaleWarning

# the five public estimators
ESTIMATORS = [
    MoERegressor,
    MoEClassifier,
    MoEPoissonRegressor,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
]


def grouped_two_lines(noise, n_groups=60, seed=0):
    """Groups of 1 to 7 rows, each group on one of two lines of x.

    Returns X (n, 1), y, the groups, each group's first row, and the random
    state, for further draws.
    """
    rng = np.random.RandomState(seed)
    sizes = rng.randint(1, 8, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    line = rng.rand(n_groups) < 0.5
    X = rng.uniform(-2, 2, size=(len(groups), 1))
    y = np.where(line[groups], 2 * X[:, 0] + 1, -1.5 * X[:, 0])
    y = y + noise * rng.randn(len(groups))
    return X, y, groups, first, rng


def group_joint_log_density(model, X, y, first):
    """``log g_k + sum_{i in group} log N(y_i; x_i b_k, s_k^2)`` of a Gaussian
    mixture of regressions with a constant gate, (n_groups, K), from the
    fitted attributes with SciPy."""
    log_gate = np.log(model.predict_gate(X[first]))
    mean = X @ model.expert_coef_.T + model.expert_intercept_
    log_density = stats.norm.logpdf(y[:, None], mean, np.sqrt(model.expert_variance_))
    return log_gate + np.add.reduceat(log_density, first, axis=0)


def assert_stationary(objective, fitted, names, h=1e-5, atol=1e-6):
    """Central differences of ``objective(*fitted)`` in every entry of every
    array of ``fitted`` are within ``atol`` of 0 (the fit is its maximum)."""
    for i, value in enumerate(fitted):
        for index in np.ndindex(value.shape):
            moved = [[v.copy() for v in fitted] for _ in range(2)]
            moved[0][i][index] += h
            moved[1][i][index] -= h
            slope = (objective(*moved[0]) - objective(*moved[1])) / (2 * h)
            assert abs(slope) < atol, (names[i], index, slope)


def central_differences(objective, params, step=1e-6, relative=False):
    """Central differences of ``objective(p)`` in every entry of every array of
    the dict ``params``: a dict of arrays shaped as ``params``' (the step is
    ``step * max(|entry|, 1)`` with ``relative``)."""
    numeric = {}
    for name, value in params.items():
        numeric[name] = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            h = step * max(abs(value[index]), 1.0) if relative else step
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][index] += h
            down[name][index] -= h
            numeric[name][index] = (objective(up) - objective(down)) / (2 * h)
    return numeric


def central_hessian(f, theta, h=1e-4):
    """The Hessian of ``f`` at the vector ``theta`` by central differences of
    step ``h``."""
    n = len(theta)
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (
                f(theta + e_i + e_j)
                - f(theta + e_i - e_j)
                - f(theta - e_i + e_j)
                + f(theta - e_i - e_j)
            ) / (4 * h * h)
    return H


def assert_lone_expert_stream_judges_scales_as_fit(estimator, X, y, scale):
    """One expert of ``estimator`` (a class) fitted to (X, y) by ``fit`` and by
    a ``partial_fit`` stream of four batches of 100 rows gives no
    FeatureScaleWarning; a stream's first batch of features multiplied by
    ``scale`` warns, naming StandardScaler."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FeatureScaleWarning)
        estimator(n_experts=1).fit(X, y)
        stream = estimator(n_experts=1, solver="sgd", random_state=0)
        for start in range(0, 400, 100):
            stream.partial_fit(X[start : start + 100], y[start : start + 100])
    stream = estimator(n_experts=1, solver="sgd", random_state=0)
    with pytest.warns(FeatureScaleWarning, match="StandardScaler"):
        stream.partial_fit(X[:100] * scale, y[:100])


def fit_penalized(model, X, y, warm, **fit_params):
    """Fit ``model`` at its ``alpha``: from scratch, or (``warm``) warm-started
    from its fit at ``alpha=0``, as along a path of alphas. Returns ``model``."""
    if warm:
        alpha = model.alpha
        model.set_params(alpha=0.0).fit(X, y, **fit_params)
        model.set_params(alpha=alpha, warm_start=True)
    return model.fit(X, y, **fit_params)


def traced_peak(call):
    """``call()``'s result and the tracemalloc peak of its allocations, in
    bytes beyond those live when it started; also where tracing is already on
    (``python -X tracemalloc``, ``PYTHONTRACEMALLOC``), whose earlier peak and
    live memory a bare ``tracemalloc.start()`` kept in the figure (a test of
    a peak then passed without measuring it), and which it leaves on."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    return result, peak


def untied_objective(em):
    """``em.objective`` (skmoe._em's), but an objective equal to the last one it
    returned is raised by one spacing: where rounding repeats an objective
    exactly is the BLAS kernels', and a test of a fit that stops amid rounding
    needs it to whatever the kernels."""
    objective = em.objective
    last = [math.nan]

    def untied(*args):
        total, penalized = objective(*args)
        if penalized == last[0]:
            penalized = math.nextafter(penalized, math.inf)
        last[0] = penalized
        return total, penalized

    return untied


def counted_work_arrays(monkeypatch, module):
    """Patch ``module.WorkArrays`` to record the name of each work array it
    makes (``shaped``); the list of names, in the order made."""
    made = []

    class Counted(module.WorkArrays):
        def shaped(self, name, shape, dtype):
            if name not in self._arrays:
                made.append(name)
            return super().shaped(name, shape, dtype)

    monkeypatch.setattr(module, "WorkArrays", Counted)
    return made


def nan_m_steps_after(monkeypatch, n_calls=6):
    """Patch the Gaussian linear experts' M-step to return NaN coefficients
    after its first ``n_calls`` calls (the start's M-step and five
    iterations, by default): a fit whose objective turns NaN, which no
    natural input reaches (the inputs' checks refuse values whose squares
    overflow)."""
    from skmoe.experts.gaussian import GaussianLinearExperts

    m_step, calls = GaussianLinearExperts.m_step, []

    def failing(self, xp, design, Y, weighted_resp, params, alpha):
        calls.append(1)
        params = m_step(self, xp, design, Y, weighted_resp, params, alpha)
        if len(calls) > n_calls:
            params = dict(params, coef=params["coef"] * np.nan)
        return params

    monkeypatch.setattr(GaussianLinearExperts, "m_step", failing)


def spy_on_auto(monkeypatch):
    """Record, in two lists returned, the rows of each sub-problem that
    ``n_experts="auto"`` makes (its training rows, then its held-out rows)
    and the per-sample held-out scores its one-standard-error rule compares
    (candidates by held-out samples or groups)."""
    import skmoe._auto as auto

    held, per_sample = [], []
    sub_problem, one_standard_error = auto._sub_problem, auto._one_standard_error
    monkeypatch.setattr(
        auto,
        "_sub_problem",
        lambda p, rows, w: held.append(rows) or sub_problem(p, rows, w),
    )
    monkeypatch.setattr(
        auto,
        "_one_standard_error",
        lambda s, w, tol=0.0: per_sample.append(s) or one_standard_error(s, w, tol),
    )
    return held, per_sample
