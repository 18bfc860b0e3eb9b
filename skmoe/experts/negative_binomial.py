"""Negative binomial log-linear experts: y | x, k ~ NB(mean exp(x~ . b_k),
dispersion phi_k), for overdispersed counts."""

from __future__ import annotations

import math

import numpy as np

from .._backend import is_numpy_array, to_numpy
from .._math import (
    device,
    penalty_mask,
    ridge_squares,
    tie_rows,
)
from .._special import STIRLING_FROM, gamma_gap, log_gamma, stirling_remainder
from ._base import Array, Params, better_on_own_rows
from ._point_mass import ZERO_LOG_RATE, point_mass_columns
from .poisson import PoissonExperts, rates

#: Smallest dispersion (largest ``theta = 1 / phi``, 1e8): the Poisson limit,
#: from which a count's log-probability differs by about ``y^2 phi / 2``.
DISPERSION_FLOOR = 1e-8
#: Largest dispersion (smallest theta, 1e-4): nearly all the mass at 0 with a
#: long tail; it bounds an expert no sample supports.
DISPERSION_CEILING = 1e4
#: Newton steps of the dispersions (in log theta) per M-step, after the
#: coefficients' step; on the first M-step, from the moments' estimate.
DISPERSION_STEPS = 1
COLD_DISPERSION_STEPS = 20
#: Largest step of log theta per Newton step.
MAX_LOG_STEP = 2.0
#: Newton steps of log theta shorter than this end the dispersion's M-step.
STEP_TOL = 1e-8
#: Step halvings of the dispersion's Newton step.
DISPERSION_HALVINGS = 30
#: The functions of a count and theta alone (the log-probability at the mean
#: y, the digamma and trigamma gaps) are evaluated once per distinct count
#: and gathered, where the distinct counts are at most this share of the
#: samples.
DISTINCT_SHARE = 0.5


def count_index(xp, y):
    """``(first, inverse)`` for the counts ``y`` (1, n): a sample of each
    distinct count and each sample's distinct count, or None where most
    counts are distinct (or there are too few samples to gain)."""
    n = y.shape[-1]
    if n < 64:
        return None
    if is_numpy_array(y):  # small whole counts: by bincount, without a sort
        top = float(np.max(y))
        whole = y[0].astype(np.intp) if top < DISTINCT_SHARE * n else None
        if whole is not None and np.array_equal(whole, y[0]):
            present = np.bincount(whole, minlength=int(top) + 1) > 0
            first = np.zeros(present.shape[0], dtype=np.intp)
            first[whole] = np.arange(n)  # (the last sample of each count)
            return first[present], (np.cumsum(present) - 1)[whole]
    try:
        found = xp.unique_all(y[0, ...])
    except (AttributeError, NotImplementedError):  # (torch has none)
        return None
    if found.values.shape[0] > DISTINCT_SHARE * n:
        return None
    return found.indices, xp.reshape(found.inverse_indices, (-1,))


def per_count(xp, index, func, *rows):
    """``func(*rows)`` (K, n) of rows (1, n) of which it is a function
    sample by sample, evaluated at the distinct counts of ``index`` and
    gathered: the same values."""
    if index is None:
        return func(*rows)
    first, inverse = index
    table = func(*(xp.take(row, first, axis=1) for row in rows))
    return xp.take(table, inverse, axis=1)


def _softplus(xp, z):
    """``log(1 + exp(z))`` without overflow, ``max(z, 0) + log1p(exp(-|z|))``
    (NumPy's ``logaddexp``, a loop per element, took 4.4 times as long)."""
    if is_numpy_array(z):
        out = np.array(z, copy=True)  # (an array also where z is 0-d)
        np.abs(out, out=out)
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        out += np.maximum(z, 0.0)
        return out
    return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))


def _count_shift(xp, y, log_factorial, theta):
    """``log Gamma(y + theta) - log Gamma(y + 1)`` (K, n) for ``theta`` (K, 1)
    below ``STIRLING_FROM``: from y = 10 on by Stirling's series in y, ``(theta
    - 1) log(y + 1) + (y + theta - 1/2) log1p((theta - 1) / (y + 1)) - (theta
    - 1)`` plus the remainders' difference, terms of the size of ``theta
    log(y)`` where the log-gammas are of ``y log(y)``; below, directly
    (``log_factorial``: ``log(y!)``, (1, n))."""
    theta = xp.minimum(theta, xp.full_like(theta, STIRLING_FROM))
    large = y >= STIRLING_FROM
    a = xp.where(large, y, xp.full_like(y, STIRLING_FROM)) + 1.0
    b = theta - 1.0
    series = b * xp.log(a) + (a + b - 0.5) * xp.log1p(b / a) - b
    series = series + stirling_remainder(a + b, 0) - stirling_remainder(a, 0)
    if not bool(xp.any(~large)):
        return series
    small = xp.where(large, xp.zeros_like(y), y)
    direct = log_gamma(xp, small + theta) - log_factorial
    return xp.where(large, series, direct)


def _saturated(xp, y, log_y, base, theta):
    """The log-probability of each count at the mean ``mu = y``, ``log
    Gamma(y + theta) - log Gamma(theta) - log(y!) + theta log(theta / (theta +
    y)) + y log(y / (theta + y))`` (K, n), of the size of ``log(y)`` where
    its terms are of ``y log(y)`` (4e17 at counts of 1e16): for ``theta >=
    STIRLING_FROM``, ``base - log1p(y / theta) / 2`` plus the difference of
    Stirling's remainders at ``theta + y`` and ``theta`` (``base``: ``y log(y)
    - y - log(y!)``); below, by :func:`_count_shift`, terms of the size of
    ``theta log(y)``."""
    host = to_numpy(theta)
    out = None
    if not np.all(host < STIRLING_FROM):  # (a NaN theta too: a NaN result)
        t = xp.maximum(theta, xp.full_like(theta, STIRLING_FROM))
        remainders = stirling_remainder(t + y, 0) - stirling_remainder(t, 0)
        out = base - 0.5 * xp.log1p(y / t) + remainders
    if np.any(host < STIRLING_FROM):
        t = xp.minimum(theta, xp.full_like(theta, STIRLING_FROM))
        log_factorial = y * (log_y - 1.0) - base
        shifted = _count_shift(xp, y, log_factorial, t) - log_gamma(xp, t)
        # y log1p(theta / y), 0 at y = 0
        share = y * xp.log1p(t / xp.where(y > 0, y, xp.ones_like(y)))
        # log1p(y / theta) as log(y) - log(theta) where y / theta overflows
        # (theta = 1e-15 at y = 1e300: -inf, a log-probability of -725; the
        # log1p(theta / y) it leaves out is below 1e-308)
        with np.errstate(over="ignore"):
            ratio = y / t
        spread = xp.where(xp.isfinite(ratio), xp.log1p(ratio), log_y - xp.log(t))
        small = shifted - t * spread - share
        large = theta >= STIRLING_FROM
        out = small if out is None else xp.where(large, out, small)
    return out


def _mean_terms(xp, y, log_y, eta, theta, powers=None):
    """The log-probabilities' terms in the log means ``eta`` (K, n), less
    their values at ``mu = y``: ``y d - (theta + y) log1p((mu - y) / (theta +
    y))`` with ``d = eta - log(y)``, or, where y exceeds theta, the same as
    ``-theta d - (theta + y) log1p(theta expm1(-d) / (theta + y))``. Their
    terms are of the size of ``min(y, theta) d``, where ``y eta - (theta + y)
    log1p(mu / theta)`` has terms of ``y eta`` (4e17 at counts of 1e16, whose
    rounding hid the Newton steps' gains of a few hundred). Where ``mu`` or
    ``y / mu`` overflows, ``y d - (theta + y)`` :func:`_log_mean_ratio`.

    ``powers``: :func:`_mean_powers` of these log means, for many thetas;
    without, only the exponentials the branches at ``theta`` need."""
    high = y > theta
    with np.errstate(over="ignore", invalid="ignore"):
        if powers is None:
            d = eta - log_y
            # expm1(-d) = y / mu - 1 where y > theta, expm1(d) = mu / y - 1
            shrink = xp.expm1(xp.where(high, -d, d))
            # (mu itself at y = 0, not expm1(d) + 1: a mean of 1e-17 was 0)
            gap = xp.where(y > 0, y * shrink, xp.exp(eta))
        else:
            d, shrink, gap = powers
        total = theta + y
        inner = xp.where(high, theta * shrink, gap) / total
        terms = xp.where(high, -theta * d, y * d) - total * xp.log1p(inner)
    finite = xp.isfinite(terms)
    if bool(xp.all(finite)):
        return terms
    ratio = _log_mean_ratio(xp, eta, theta, total)
    return xp.where(finite, terms, y * d - total * ratio)


def _log_mean_ratio(xp, eta, theta, total):
    """``log((theta + mu) / (theta + y))`` (``total``: theta + y) without
    ``mu`` itself, which may overflow: ``eta + log1p(theta / mu) -
    log(total)``."""
    return eta + _softplus(xp, xp.log(theta) - eta) - xp.log(total)


def _mean_powers(xp, y, log_y, eta):
    """``d = eta - log(y)``, ``expm1(-d)`` and ``mu - y`` (K, n) at these log
    means: what :func:`_mean_terms` takes at any theta."""
    with np.errstate(over="ignore", invalid="ignore"):
        d = eta - log_y
        gap = xp.where(y > 0, y * xp.expm1(d), xp.exp(eta))
        return d, xp.expm1(-d), gap


def log_probability(xp, y, log_y, base, eta, theta, index=None, powers=None):
    """Negative binomial log-probabilities (K, n) of the counts ``y`` (1, n)
    at the log means ``eta`` and ``theta = 1 / phi`` (K, 1), broadcast;
    ``log_y`` and ``base``: the rows of
    :func:`~skmoe.experts.poisson.encode_counts`. The sum of the
    log-probability at ``mu = y`` (:func:`_saturated`) and the terms in
    ``eta`` less their values there (:func:`_mean_terms`), each in a form
    whose terms stay of the size of its result (or of ``min(y, theta)
    log(y)``) where the direct form's are of ``y log(y)``, ``theta
    log(theta)`` (1.8e9 at the Poisson limit) or ``mu``. ``index``: the
    counts' :func:`count_index`, and ``powers`` the log means'
    :func:`_mean_powers`, if any."""

    def saturated(*rows):
        return _saturated(xp, *rows, theta)

    value = per_count(xp, index, saturated, y, log_y, base)
    return value + _mean_terms(xp, y, log_y, eta, theta, powers)


def _theta_derivatives(xp, y, eta, theta, second=True, index=None):
    """The log-probabilities' first (and second) derivatives in theta (K, n):
    ``digamma(s) - digamma(theta) - log((theta + mu) / theta) + (mu - y) /
    (theta + mu)`` with ``s = theta + y``, written as ``g1(s) - g1(theta) +
    log1p(u) - u``, ``u = (y - mu) / (theta + mu)`` and ``g1 = digamma - log``
    (:func:`~skmoe._special.gamma_gap`); the second ``g2(s) - g2(theta) + u^2
    / s``, ``g2 = trigamma - 1 / x``. Terms of the size of the results, where the
    log-gammas' derivatives and ``y / theta`` cancel (at counts of 1e16,
    terms of 1e15)."""
    with np.errstate(over="ignore", invalid="ignore"):
        # means beyond the floats (at rows an expert has no weight on, far
        # out on a feature of scale 1e8): u is -1 there, its limit
        rate, _ = rates(xp, eta)
        u = (y - rate) / (theta + rate)
    total = theta + y
    if not is_numpy_array(u) or not bool(np.all(np.isfinite(u))):
        u = xp.where(xp.isinf(rate), -xp.ones_like(u), u)
    near = u > -0.5
    log_ratio = xp.log1p(xp.where(near, u, xp.zeros_like(u)))
    if not bool(xp.all(near)):
        # log(1 + u) = log((theta + y) / (theta + mu)) directly, far below 0
        apart = -_log_mean_ratio(xp, eta, theta, total)
        log_ratio = xp.where(near, log_ratio, apart)

    def gaps(y, order):  # g(theta + y) - g(theta), by count
        return gamma_gap(xp, theta + y, order) - gamma_gap(xp, theta, order)

    first = per_count(xp, index, lambda c: gaps(c, 1), y) + log_ratio - u
    if not second:
        return first
    # u (u / total): u^2 overflowed from u = 1e154 (1.8e19 in float32), at
    # large counts where another expert's mean is small
    second = per_count(xp, index, lambda c: gaps(c, 2), y) + u * (u / total)
    return first, second


class NegativeBinomialExperts(PoissonExperts):
    """K negative binomial regressions with the log link (NB2, R MASS's
    ``glm.nb``), ``E[y | x, k] = mu = exp(x~ . b_k)`` and variance ``mu +
    phi_k mu^2``: each expert a Poisson regression whose rate varies between
    samples as a Gamma of mean ``mu`` and dispersion ``phi_k`` (``theta_k = 1
    / phi_k``, R's ``theta``), for counts more spread than Poisson regimes
    give.

        log p_k(y | x) = log Gamma(y + theta) - log Gamma(theta) - log(y!)
                         + theta log(theta / (theta + mu))
                         + y log(mu / (theta + mu)),

    computed by :func:`log_probability`, in forms whose terms stay of the
    size of the counts (or of ``theta log(y)``), where the direct form's are
    of ``theta log(theta)`` (1.8e9 at the Poisson limit) or of ``mu``.

    The M-step is two conditional maximizations (ECM): the coefficients by a
    Newton step with the dispersions fixed (the observed information,
    ``(theta + y) mu theta / (theta + mu)^2`` per sample, is positive; with
    step halving, as the Poisson experts'), then each ``log(theta)`` by
    ``DISPERSION_STEPS`` Newton steps with halving (``COLD_DISPERSION_STEPS``
    from the moments' estimate on a first M-step), within ``[DISPERSION_FLOOR,
    DISPERSION_CEILING]`` for the dispersion. The floor is the Poisson limit:
    counts no more spread than Poisson ones take it. The penalty is the
    Poisson experts', ``(alpha / 2) sum_k ||b_k||^2`` (intercepts free).

    Parameters: ``coef`` (n_features + 1, K), intercepts in row 0, and
    ``dispersion`` (K,). The target ``Y`` is that of :class:`PoissonExperts`.
    With ``zero_inflated``, the first expert is the point mass at zero of
    :class:`PoissonExperts` (its dispersion, 1, takes no part).

    Parameters
    ----------
    shared : tuple of int, default=()
        Rows of the coefficients that all experts share.
    zero_inflated : bool, default=False
        Whether the first expert is a point mass at zero.
    """

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        params = super().initial_params(xp, design, Y, n_experts)
        dispersion = xp.ones(n_experts, dtype=design.dtype, device=device(design))
        return dict(params, dispersion=dispersion)

    def _thetas(self, xp, params):
        """``theta = 1 / phi`` (K, 1), with 1 for a point mass."""
        dispersion = params["dispersion"]
        if self.zero_inflated:
            mass = point_mass_columns(xp, params["coef"])
            dispersion = xp.where(mass, xp.ones_like(dispersion), dispersion)
        return (1.0 / dispersion)[:, None]

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        eta = self.log_rates(xp, design, params) + Y[3, ...][None, :]
        y, log_y, base = (Y[i, ...][None, :] for i in range(3))
        theta = self._thetas(xp, params)
        index = count_index(xp, y)
        out = log_probability(xp, y, log_y, base, eta, theta, index)
        return self._point_mass(xp, out, Y, params)

    def _coefficient_objectives(self, xp, problem, params, mask, alpha):
        # sum r (y eta - (theta + y) log(1 + mu / theta)) - alpha ||b||^2 / 2
        # up to terms free of eta (:func:`_mean_terms`), and log(mu / theta)
        design, y, offset, weighted_resp = problem
        theta = self._thetas(xp, params)
        with np.errstate(divide="ignore"):
            log_y = xp.where(y > 0, xp.log(y), xp.zeros_like(y))[None, :]
        y = y[None, :]

        def objectives(coef):
            eta = coef.T @ design + offset[None, :]
            terms = _mean_terms(xp, y, log_y, eta, theta)
            fit = xp.sum(weighted_resp * terms, axis=1)
            penalty = 0.5 * alpha * ridge_squares(xp, coef, mask)
            return fit - penalty, eta - xp.log(theta)

        return objectives

    def _coefficient_derivatives(self, xp, y, z, params):
        # in eta: y theta / (theta + mu) - theta mu / (theta + mu), and the
        # observed information (theta + y) theta mu / (theta + mu)^2 (> 0),
        # with mu / (theta + mu) and theta / (theta + mu) from z = log(mu /
        # theta) (1 - share lost the latter's digits where mu >> theta)
        theta = self._thetas(xp, params)
        y = y[None, :]
        soft = _softplus(xp, z)
        share, rest = xp.exp(z - soft), xp.exp(-soft)
        return y * rest - theta * share, (theta + y) * share * rest

    def m_step(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        def fit(part, resp):
            cold = not bool(xp.any(part["coef"] != 0))
            coef = self._newton(xp, design, Y, resp, part, alpha)
            eta = coef.T @ design + Y[3, ...][None, :]
            dispersion = self._dispersion(xp, eta, Y, resp, part, cold)
            return {"coef": coef, "dispersion": dispersion}

        return self._fit_others(xp, params, weighted_resp, fit)

    def start_m_step(self, xp, design, Y, weighted_resp, params, alpha):
        # the M-step's experts, or the M-step at their own rows alone where
        # that fits those rows better (see better_on_own_rows): regressions
        # of log(y + 0.5) there lost 57 and 77 nats on two of ten three-regime
        # regressions of means 1, 100 and 1e4 with covariates, where starting
        # one outweighed expert on the log scale and keeping the M-step's
        # start for the other led EM to merge two regimes
        def other(own):
            return self.m_step(xp, design, Y, own, params, alpha)

        mask = penalty_mask(xp, design)

        def fit_of(candidate, own):  # the means' Poisson log-likelihood
            coef = candidate["coef"]
            y, offset = Y[0, ...], Y[3, ...]
            return self._objectives(xp, design, y, offset, own, coef, mask, 0.0)[0]

        exact = self.m_step(xp, design, Y, weighted_resp, params, alpha)
        return better_on_own_rows(xp, fit_of, Y[0, ...], weighted_resp, exact, other)

    def _dispersion(self, xp, eta, Y, weighted_resp, params, cold):
        """Each expert's dispersion after Newton steps in ``log(theta)`` at the
        log means ``eta`` (K, n), each halved until the expert's objective does
        not decrease; the former one where the expert has no weight."""
        y, log_y, base = (Y[i, ...][None, :] for i in range(3))
        index = count_index(xp, y)
        powers = _mean_powers(xp, y, log_y, eta)
        mass = xp.sum(weighted_resp, axis=1)
        former = params["dispersion"]
        low, high = -math.log(DISPERSION_CEILING), -math.log(DISPERSION_FLOOR)
        tiny = float(xp.finfo(eta.dtype).smallest_normal)
        if cold:  # the moments: sum r ((y - mu)^2 - mu) = phi sum r mu^2
            rate, _ = rates(xp, eta)
            # in units of each expert's largest y + mu: squares of counts
            # of 1e155 overflowed
            unit = xp.clip(xp.max(rate + y, axis=1, keepdims=True), tiny, None)
            scaled = rate / unit
            excess = ((y / unit - scaled) ** 2 - scaled / unit) * weighted_resp
            square = xp.sum(weighted_resp * scaled**2, axis=1)
            guess = xp.sum(excess, axis=1) / xp.clip(square, tiny, None)
            guess = xp.where(xp.isnan(guess), xp.ones_like(guess), guess)
            log_theta = -xp.log(xp.clip(guess, DISPERSION_FLOOR, DISPERSION_CEILING))
        else:
            log_theta = -xp.log(former)
        log_theta = xp.clip(log_theta, low, high)

        def objective(log_theta):  # the experts' log-likelihoods
            theta = xp.exp(log_theta)[:, None]
            terms = log_probability(xp, y, log_y, base, eta, theta, index, powers)
            return xp.sum(weighted_resp * terms, axis=1)

        value = objective(log_theta)
        steps = COLD_DISPERSION_STEPS if cold else DISPERSION_STEPS
        for _ in range(steps):
            theta = xp.exp(log_theta)[:, None]
            first, second = _theta_derivatives(xp, y, eta, theta, index=index)
            slope = theta[:, 0] * xp.sum(weighted_resp * first, axis=1)
            curve = theta[:, 0] ** 2 * xp.sum(weighted_resp * second, axis=1) + slope
            # Newton where the objective is concave in log(theta), else a
            # step up the slope; at most MAX_LOG_STEP, within the bounds
            newton = -slope / xp.where(curve < 0, curve, -xp.ones_like(curve))
            step = xp.where(curve < 0, newton, xp.sign(slope) * MAX_LOG_STEP)
            step = xp.clip(step, -MAX_LOG_STEP, MAX_LOG_STEP)
            step = xp.clip(log_theta + step, low, high) - log_theta
            if not bool(xp.any(xp.abs(step) > STEP_TOL)):
                break
            for _ in range(DISPERSION_HALVINGS):
                trial = log_theta + step
                with np.errstate(over="ignore", invalid="ignore"):
                    trial_value = objective(trial)
                accepted = trial_value >= value  # False where NaN
                log_theta = xp.where(accepted, trial, log_theta)
                value = xp.where(accepted, trial_value, value)
                # (halved below STEP_TOL: at the maximum, where the
                # objective's changes are below its rounding)
                step = xp.where(accepted, xp.zeros_like(step), 0.5 * step)
                step = xp.where(xp.abs(step) > STEP_TOL, step, xp.zeros_like(step))
                if bool(xp.all(step == 0)):
                    break
        return xp.where(mass > tiny, xp.exp(-log_theta), former)

    def gradient(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        coef = params["coef"]
        y = Y[0, ...][None, :]
        eta = self.log_rates(xp, design, params) + Y[3, ...][None, :]
        theta = self._thetas(xp, params)
        score, _ = self._coefficient_derivatives(
            xp, Y[0, ...], eta - xp.log(theta), params
        )
        index = count_index(xp, y)
        first = _theta_derivatives(xp, y, eta, theta, second=False, index=index)
        grad = design @ (weighted_resp * score).T
        grad = grad - alpha * penalty_mask(xp, coef)[:, None] * coef
        # d/d phi = -theta^2 d/d theta
        grad_dispersion = -(theta[:, 0] ** 2) * xp.sum(weighted_resp * first, axis=1)
        if self.zero_inflated:  # the point mass has nothing to move
            fixed = point_mass_columns(xp, coef)
            grad = xp.where(fixed[None, :], xp.zeros_like(grad), grad)
            grad_dispersion = xp.where(
                fixed, xp.zeros_like(grad_dispersion), grad_dispersion
            )
        return {"coef": tie_rows(xp, grad, self.shared), "dispersion": grad_dispersion}

    def curvature_scales(self, xp, params: Params, Y: Array, weight: Array):
        # a count's information in its log mean is mu / (1 + phi mu), at most
        # theta: Poisson's units with that count
        intercept = np.asarray(to_numpy(params["coef"][0, ...]), dtype=np.float64)
        dispersion = np.asarray(to_numpy(params["dispersion"]), dtype=np.float64)
        exposure = float(xp.sum(weight * xp.exp(Y[3, ...])))
        with np.errstate(over="ignore", invalid="ignore"):
            count = np.exp(np.minimum(intercept, 700.0)) * exposure
            count = count / (1.0 + dispersion * count)
        count = np.where(np.isfinite(count), count, 1.0 / dispersion)
        scale = 1.0 / np.sqrt(np.maximum(count, 1.0))
        return np.where(intercept > 0.5 * ZERO_LOG_RATE, scale, 1.0)

    def information_weights(self, xp, design: Array, Y: Array, params: Params):
        # mu / (1 + phi mu), at most theta (Poisson's with phi = 0)
        mean = super().information_weights(xp, design, Y, params)
        if mean is None:
            return None
        dispersion = float(np.asarray(to_numpy(params["dispersion"]))[0])
        with np.errstate(over="ignore", invalid="ignore"):
            return mean / (1.0 + dispersion * mean)

    def lower_bounds(self) -> dict[str, float]:
        return {"dispersion": DISPERSION_FLOOR}

    def upper_bounds(self) -> dict[str, float]:
        return {"dispersion": DISPERSION_CEILING}

    def collapsed(self, xp, design, Y, weighted_resp, params: Params) -> Array:
        # the floor of the dispersion is the Poisson limit, no collapse
        return xp.zeros(
            weighted_resp.shape[0], dtype=xp.bool, device=device(weighted_resp)
        )

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        n_counts = n_experts - self.n_point_masses
        return super().n_parameters(n_features, n_experts) + n_counts
