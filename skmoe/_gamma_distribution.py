"""The predictive distribution of a mixture of Gamma experts."""

from __future__ import annotations

import numpy as np
from scipy import special
from scipy.optimize.elementwise import find_root

from ._distribution import (
    _component_sums,
    _ContinuousMixture,
    _halley_roots,
    _log_component_sums,
    _log_weights,
    _mean_rows,
    _mixture_scale,
    _mixture_variance,
    _real_array,
    _scaled_negative_power,
    _walk_to_root,
    normalized_weights,
    with_log_shares,
)
from .experts.gamma import shape_terms

#: ``x = nu y / mu`` below which (and where ``y / mu`` is below it, which
#: leaves ``x`` inexact) a component's distribution function is the first term
#: of its series, ``x^nu / Gamma(nu + 1)`` (exact to 1e-308 of itself), from
#: ``log x = log nu + log y - log mu``: there ``x`` underflows where the
#: probability need not (shape 1e-3, y = 1e-300, mean 1e200: x = 1e-503,
#: P = 0.31), and gammainc takes 0 for a subnormal or 0 ``x``.
TINY_X = np.finfo(float).tiny
#: ``x`` below which, for shapes up to ``SERIES_SHAPE``, a component's
#: distribution function is summed from its series, ``x^nu e^-x / Gamma(nu +
#: 1) sum_n x^n / ((nu + 1) ... (nu + n))``, to 1e-16 of itself in
#: ``SERIES_TERMS`` terms: gammainc takes it from ``exp(nu log x - ...)``,
#: which lost 2e-14 of P(1, 1e-300) and 4e-14 of P(30, 1e-4).
SERIES_X = 0.01
SERIES_SHAPE = 100.0
SERIES_TERMS = 8
#: ``|y / mu - 1|`` below which ``log(y / mu) - (y / mu - 1)`` is summed from
#: its series (in ``t = d / (2 + d)``, ten terms), not from ``log1p(d) - d``,
#: which cancels there.
LOG1PMX_SERIES = 0.25
#: ``(x - nu) / sqrt(nu)`` from which ``P(nu, x)`` is above 0.539 (at every
#: shape: the Gamma median lies below ``nu``), so that a survival function
#: there is ``gammaincc``'s without a ``gammainc`` to choose it.
SURE_UPPER = 0.1
#: The logarithms of the smallest positive and the largest float: the widest
#: bracket of a quantile's logarithm.
LOG_SMALLEST = float(np.log(np.nextafter(0.0, 1.0)))
LOG_LARGEST = float(np.log(np.finfo(float).max))
#: The logs of the smallest normal float, and of float32's: a component of a
#: lower log mean has its mean as the smallest normal float in ``means``, one
#: of a lower log gate weight its weight as 0 or a float of few digits in
#: ``weights`` (those of a float32 model's gate underflow there); their shares
#: of the mean and variance come from their logs
#: (:meth:`PredictiveGammaMixture._with_log_shares`).
LOG_SMALLEST_NORMAL = float(np.log(np.finfo(np.float64).smallest_normal))
LOG_LIGHT_WEIGHT = float(np.log(np.finfo(np.float32).smallest_normal))
#: The largest gate weight whose expert's mean beyond the floats (its log above
#: ``LOG_LARGEST``) has its shares of the mean and variance from its logs, as
#: the count distributions' (the others' weights, which then sum to one within
#: 1e-12, are not rescaled); the moments of a row where a larger weight holds
#: such a mean are inf.
HELD_WEIGHT = 1e-12
#: The power of two by which the quantiles of ``q`` below the normal floats
#: scale ``q`` (exactly) and the distribution function (by
#: :func:`_scaled_lower_tails`), so that ``F / q - 1`` keeps its digits: from
#: the logs of ``F`` (near -710, rounded to 1e-13) the quantiles of shape 2
#: were up to 413 floats from mpmath's, of 3-component mixtures 259.
SUBNORMAL_SCALE = 1000


class PredictiveGammaMixture(_ContinuousMixture):
    """One Gamma mixture per row: p(y | x_i) = sum_k w_ik Gamma(y; mu_ik, nu_ik).

    Returned by :meth:`MoEGammaRegressor.predict_distribution`. ``Gamma(y; mu,
    nu)`` is the Gamma density of mean ``mu`` and shape ``nu`` (variance ``mu^2 /
    nu``), :func:`scipy.stats.gamma` ``(a=nu, scale=mu / nu)``. The counterpart
    of :class:`PredictiveMixture` for positive targets, with the methods of a
    frozen :mod:`scipy.stats` distribution whose parameters are arrays. Rows are
    the last axis of every result: ``logpdf(y)`` with ``y`` of shape (n_rows,)
    scores each row at its own ``y``; pass ``y`` of shape (m, 1) for m values per
    row, giving shape (m, n_rows). Indexing selects rows, as for
    :class:`PredictiveMixture`.

    Parameters
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        Gate probabilities; each row sums to one.
    means : ndarray of shape (n_rows, n_experts)
        The experts' means ``mu``, finite and positive, or 0 for a point
        mass at zero (the zeros of ``MoEGammaRegressor(zero_inflated=True)``,
        whatever its shape).
    shapes : ndarray of shape (n_rows, n_experts)
        The experts' shape parameters ``nu`` (the inverse of the squared
        coefficient of variation), finite and positive.

    Attributes
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        The mixing weights of each row, as floats, divided by their sum
        where it is more than 1e-12 from one.
    means : ndarray of shape (n_rows, n_experts)
        The components' means, as floats.
    shapes : ndarray of shape (n_rows, n_experts)
        The components' shape parameters, as floats.

    See Also
    --------
    PredictiveMixture : The Gaussian counterpart, for :class:`MoERegressor`.
    PredictivePoissonMixture : The counterpart for counts.

    Notes
    -----
    ``logpdf`` is ``-inf`` for ``y < 0`` and ``y = inf``; at ``y = 0`` each
    component's is scipy's (``inf`` for a shape below 1, ``-log(mu)`` for a
    shape of 1, ``-inf`` above), and ``pdf`` is ``inf`` where the density
    exceeds the largest float (means below 1e-308). ``cdf`` is ``sum_k w_k
    P(nu_k, nu_k y / mu_k)`` with ``P`` the regularized lower incomplete gamma
    function, 0 for ``y <= 0``.

    A component of mean 0 is a point mass at zero of its weight ``w_0``: then
    ``logpdf(0)`` is ``log(w_0)`` (the density with respect to the length of
    the positive numbers plus a unit mass at 0, whose sum over the data is
    the hurdle model's log-likelihood), ``cdf`` jumps by ``w_0`` at 0, and
    the quantiles up to ``w_0`` are 0.

    The log density is summed as ``nu (log r - r + 1) + c(nu) - log y`` with
    ``r = y / mu`` and ``c(nu) = nu log nu - nu - log Gamma(nu)`` (from
    Stirling's series for ``nu >= 10``), which keeps its digits for large
    shapes, where scipy's ``gamma.logpdf`` loses some (2e-10 of the value at
    ``nu = 1e6``). The distribution function ``P(nu, x)``, ``x = nu y / mu``,
    is summed from its series for ``x < 0.01`` and ``nu <= 100`` (scipy's
    gammainc lost 2e-14 of ``P(1, 1e-300)``), and taken from ``log x`` for
    ``x`` below the smallest normal float, so that it stays right where ``x``
    underflows and scipy's is 0 (shape 1e-3, mean 1e200: 0.31 at y = 1e-300).

    Quantiles are the float nearest the root of the distribution function (of
    the survival function above ``q = 0.5``, for the upper tail's digits): 0
    or the smallest positive float (whichever's probability is nearer ``q``)
    where the quantile is below that float, ``inf`` where it is above the
    largest. Their accuracy is that of the probabilities, from
    :func:`scipy.special.gammainc` and ``gammaincc``, divided by the slope of
    ``log cdf`` in ``log y``, about ``nu`` in the lower tail (the median of a
    shape of 1e-3 is good to 2e-13 of itself). For shapes above about
    1e5, gammainc loses digits in the lower tail from 4.5 standard deviations
    below the mean on (6e-7 of the probability at ``nu = 1e6`` six standard
    deviations down, 30% at ``nu = 1e8``), and so do the cdf and the quantiles
    there (5e-11 of the quantile 1e-10 at ``nu = 1e6``), as scipy's
    ``gamma.cdf`` and ``gamma.ppf``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import PredictiveGammaMixture
    >>> weights, means = [[0.5, 0.5], [1.0, 0.0]], [[1.0, 3.0], [2.0, 5.0]]
    >>> dist = PredictiveGammaMixture(weights, means, [[2.0, 2.0], [4.0, 1.0]])
    >>> dist
    PredictiveGammaMixture(n_rows=2, n_components=2)
    >>> dist.mean(), dist.var()  # a component's variance: mu^2 / nu
    (array([2., 2.]), array([3.5, 1. ]))
    >>> np.round(dist.median(), 6), np.round(dist.cdf(2.0), 6)
    (array([1.385287, 1.83603 ]), array([0.646681, 0.56653 ]))
    >>> exponential = PredictiveGammaMixture([[1.0]], [[1.0]], [[1.0]])  # shape 1
    >>> exponential.median(), np.log(2)
    (array([0.69314718]), np.float64(0.6931471805599453))
    >>> np.round(exponential.interval(0.5), 6)  # quartiles log(4 / 3) and log(4)
    array([[0.287682],
           [1.386294]])
    """

    _parameters = ("weights", "means", "shapes")

    def __init__(self, weights, means, shapes):
        self.weights = _real_array(weights, "weights", bools=True)
        self.means = _real_array(means, "means")
        self.shapes = _real_array(shapes, "shapes")
        if self.weights.ndim != 2 or not (
            self.weights.shape == self.means.shape == self.shapes.shape
        ):
            raise ValueError(
                "weights, means and shapes must be arrays of the same shape "
                f"(n_rows, n_components); got {self.weights.shape}, "
                f"{self.means.shape} and {self.shapes.shape}."
            )
        self.weights = normalized_weights(self.weights)
        for name, least in (("means", 0.0), ("shapes", None)):
            values = getattr(self, name)
            good = np.isfinite(values) & (values > 0 if least is None else values >= 0)
            if not np.all(good):
                bad = float(values[~good][0])
                what = "positive" if least is None else "positive or 0"
                raise ValueError(f"{name} must be finite and {what}; got {bad}.")

    def mean(self):
        """Mixture mean of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k mu_k`` for each row.
        """
        return self._with_log_shares(self._moment(_mean_rows), "mean")

    def var(self):
        """Mixture variance of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k (mu_k^2 / nu_k + (mu_k - mean)^2)`` for each row (a Gamma
            component's variance is ``mu^2 / nu``); ``inf`` where it overflows.
        """

        def var(values, weights, means, shapes):
            with np.errstate(over="ignore"):  # beyond 1.8e308: inf
                scales = means / np.sqrt(shapes)
            return _mixture_variance(weights, means, scales)

        return self._with_log_shares(self._moment(var), "var")

    def std(self):
        """Mixture standard deviation of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            The square root of :meth:`var`, computed so that it stays finite
            where only the variance overflows.
        """

        def std(values, weights, means, shapes):
            with np.errstate(over="ignore"):  # an infinite scale: std inf
                scales = means / np.sqrt(shapes)
            return _mixture_scale(values, weights, means, scales)

        return self._with_log_shares(self._by_rows(np.zeros(len(self)), std), "std")

    def _with_log_shares(self, out, method):
        """``out``, the rows' means (``method`` "mean"), variances ("var") or
        standard deviations ("std"), where the estimator's
        ``predict_distribution`` kept the logs of components whose gate
        weights or means underflowed below the normal floats
        (:func:`with_log_parts`; 0 or a subnormal float in ``weights``, the
        weights of a float32 model's gate below float32's, or the smallest
        normal float in ``means``, or a float32 model's means below
        float32's): there those components' shares of the
        mean (``w_k mu_k``) and variance (``w_k (mu_k^2 / nu_k + (mu_k -
        mean)^2)``) come from their logs (:func:`with_log_shares`). A fitted
        row whose weight of e^-949.5 held a mean of e^507.8 had a std of
        3.0e-64 for 2.456e14."""
        if self._log_parts is None or "log_means" not in self._log_parts[1]:
            return out
        slot, parts = self._log_parts
        rows = np.flatnonzero(slot >= 0)
        log_weights = parts["log_weights"][slot[rows]]
        given = parts["log_means"][slot[rows]]
        with np.errstate(divide="ignore"):  # (a point mass's mean 0: -inf)
            log_means = np.where(np.isnan(given), np.log(self.means[rows]), given)
        # (a weight of 0 from a log of -inf takes no part, nor a point mass;
        # a mean beyond the floats, whose weight holds it, is light: a weight
        # of e^-609.7 beside a mean of e^718.9 has a std of 6.93e179)
        with np.errstate(invalid="ignore"):  # (NaN: a mean of its own)
            huge = (log_means > LOG_LARGEST) & (log_weights < np.log(HELD_WEIGHT))
        light = ((log_weights < LOG_LIGHT_WEIGHT) | huge) & (log_weights > -np.inf)
        tiny = (log_means < LOG_SMALLEST_NORMAL) & (log_means > -np.inf)
        # a float32 model's means below float32's normal floats, whose logs
        # the float64 ones hold: ``means`` has the smallest normal float64 or
        # a subnormal float32 of few digits there (a mean of 1.7e-82 gave a
        # std of 9.2e-309 for 1.3e-66)
        exact = (log_means >= LOG_SMALLEST_NORMAL) & (log_means <= LOG_LARGEST)
        exact &= ~np.isnan(given)
        # (a mean beyond the floats beside a larger weight: the moments are
        # inf there, as the floats give them)
        with np.errstate(invalid="ignore"):
            over = (log_means > LOG_LARGEST) & ~light & (log_weights > -np.inf)
        held = np.any(tiny | light | exact | over, axis=1)
        if not np.any(held):
            return out
        rows, log_weights, log_means = rows[held], log_weights[held], log_means[held]
        tiny, light, exact = tiny[held], light[held], exact[held]
        over = np.any(over[held], axis=1)
        weights, means, shapes = (array[rows] for array in self._arrays())
        means = np.where(exact, np.exp(np.where(exact, log_means, 0.0)), means)
        # a row of tiny means and no light weight, in units of e^shift, the
        # largest of its terms w_k mu_k (a Gamma mixture's moments scale with
        # its means): the deviations of its tiny components from the mean
        # are as large as their spreads (where all are tiny, e^-720 and
        # e^-710, a std of 1.3e-313 for 2.4e-313), and matter. (Where a light
        # weight holds a large mean, its share, from its logs, could
        # overflow in those units)
        scaled = np.any(tiny, axis=1) & ~np.any(light, axis=1)
        with np.errstate(invalid="ignore"):  # (-inf + inf: unused, set below)
            terms = np.where(log_weights > -np.inf, log_weights + log_means, -np.inf)
        shift = np.max(terms, axis=1)
        scaled &= np.isfinite(shift)
        shift = np.where(scaled, shift, 0.0)
        if np.any(scaled):
            log_means = log_means - shift[:, None]
            # (used: at most e^88, their w_k at least e^-88; the others' set
            # aside, and a weight of 0 keeps its mean)
            with np.errstate(over="ignore", under="ignore"):
                units = np.exp(log_means)
            used = scaled[:, None] & (log_weights > -np.inf)
            means = np.where(used, units, means)
            tiny = (log_means < LOG_SMALLEST_NORMAL) & (log_means > -np.inf)
        # log(mu^2 / nu)
        log_spreads = 2.0 * log_means - np.log(shapes)
        held = PredictiveGammaMixture(weights, means, shapes)
        held._largest_share = self._largest_share  # (the estimator's dtype)
        moments = with_log_shares(
            held,
            out[rows],
            method,
            np.arange(len(rows)),
            log_weights,
            log_means,
            log_spreads,
            tiny,
            light,
        )
        power = 2.0 if method == "var" else 1.0
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            back = np.exp(np.log(moments) + power * shift)
        out = np.array(out, dtype=float)
        out[rows] = np.where(over, np.inf, np.where(scaled, back, moments))
        return out

    @staticmethod
    def _logpdf_rows(*parameters, **parts):
        return _hurdle_logpdf(*parameters, **parts)

    # (a mean below the floats: its distribution functions from its log, as
    # its density; the smallest normal float in ``means`` gave a cdf of
    # 1.2e-19 for 0.076 at y = 1e-313 beside a mean of e^-720)
    _tails_from_logs = True

    @staticmethod
    def _cdf_rows(*parameters, log_means=None, **parts):
        return _hurdle_cdf(*parameters, log_means=log_means)

    @staticmethod
    def _sf_rows(*parameters, log_means=None, **parts):
        return _hurdle_sf(*parameters, log_means=log_means)

    def ppf(self, q):
        """Quantile ``q`` of each row's mixture (the root of cdf(y) = q).

        The root lies between the smallest and the largest of the components'
        quantiles, and, for a component of weight ``w``, between its quantiles
        ``1 - (1 - q) / w`` and ``q / w`` (where those are probabilities): it
        is found there in ``log y`` by Halley's steps (a few evaluations of the
        distribution function; rows whose bracket reaches past the positive
        floats, or whose steps do not converge, by a vectorized bracketed root
        finder), then over the floats to the one nearest it. Above ``q = 0.5`` the
        survival function is solved for ``1 - q``, which keeps the upper tail's
        digits. Below the smallest normal float (``q < 2.2e-308``, where ``q``
        and the distribution function keep few digits) the root is that of
        ``F / q - 1`` from ``F`` and ``q`` times ``2^1000`` (``q``'s exactly,
        the components' of shape up to 100 from the mantissa and power of two
        of ``x``, larger shapes' from their logarithms): within 2 floats of
        mpmath's at shapes 2 to 60.

        Parameters
        ----------
        q : float or array-like
            Probabilities in [0, 1] (NaN gives NaN, as in scipy.stats),
            broadcast against the rows as ``y`` in
            :meth:`logpdf`: a scalar, one per row, or shape (m, 1) for m
            quantiles per row.

        Returns
        -------
        ndarray
            The quantiles, of the broadcast shape of ``q`` and (n_rows,); ``0``
            for ``q = 0`` and ``inf`` for ``q = 1``, as
            :func:`scipy.stats.gamma.ppf`, and 0 (or ``inf``) where the quantile
            lies beyond the smallest positive (or the largest) float.
        """
        out = self._at_probabilities(q, _hurdle_ppf)
        scaled = self._scaled_rows()
        if scaled is None:
            return out
        # a row whose mean under- or overflowed: the quantiles of its mixture
        # with the means times 2^s (Gamma quantiles scale with the mean),
        # taken from the log means and brought back by 2^-s (the smallest
        # normal float in ``means`` gave ppf(0.25) = 1.37e-308 for 1.25e-313
        # beside a mean of e^-720, and a float32 model's subnormal mean of 2
        # digits 3.58e-44 for 3.52e-44)
        rows, held, powers = scaled
        values = np.broadcast_to(self._rows_last(q, "q"), out.shape)[..., rows]
        found = held._at_probabilities(values, _hurdle_ppf)
        # (beyond the largest float at 2^s, s > 0: left to the stand-in's; at
        # s < 0, beyond the floats)
        beyond = np.isinf(found) & (values < 1) & (powers > 0)
        out[..., rows] = np.where(beyond, out[..., rows], np.ldexp(found, -powers))
        return out

    def _scaled_rows(self):
        """The rows with a component of positive weight whose mean under- or
        overflowed (its log mean in the log parts, :func:`with_log_parts`), as
        a mixture of means ``2^s mu`` (``s`` the least power of two that
        brings them to the normal floats, or where one overflowed the largest
        that brings it within them, negative; the others' times ``2^s``), with
        ``s`` (n_held,), or None where there are none (or their means span
        more than the floats)."""
        if self._log_parts is None:
            return None
        slot, parts = self._log_parts
        if "log_means" not in parts:
            return None
        rows = np.flatnonzero(slot >= 0)
        log_means = parts["log_means"][slot[rows]]
        weights, means, shapes = (array[rows] for array in self._arrays())
        used = (weights > 0) & (means > 0)  # (not the point mass at zero)
        given = ~np.isnan(log_means)
        with np.errstate(divide="ignore"):
            logs = np.where(given, log_means, np.log(means))
        low = np.min(np.where(used, logs, np.inf), axis=1)
        high = np.max(np.where(used, logs, -np.inf), axis=1)
        log_2 = np.log(2.0)
        up = np.maximum(np.ceil((LOG_SMALLEST_NORMAL - low) / log_2) + 1, 0)
        # (a light expert's mean beyond the floats, e^800 at a gate weight of
        # e^-100: the largest float in ``means`` gave ppf(1.15e-47) of 1.05e-41
        # for 0.016, where its cdf takes y / mu from the log mean)
        down = np.minimum(np.floor((LOG_LARGEST - high) / log_2) - 1, 0)
        powers = np.where(down < 0, down, up)
        held = np.any(used & given, axis=1)
        held &= high + powers * log_2 < LOG_LARGEST
        held &= low + powers * log_2 > LOG_SMALLEST_NORMAL
        if not np.any(held):
            return None
        rows, powers = rows[held], powers[held].astype(int)
        logs, given, used = logs[held], given[held], used[held]
        weights, means, shapes = weights[held], means[held], shapes[held]
        with np.errstate(over="ignore"):  # (of weight 0: set to 1 below)
            scaled = np.where(
                given,
                np.exp(logs + powers[:, None] * np.log(2.0)),
                np.ldexp(means, powers[:, None]),
            )
        scaled = np.where(used | (means == 0), scaled, 1.0)
        return rows, PredictiveGammaMixture(weights, scaled, shapes), powers

    def sample(self, n_samples=1, random_state=None):
        """Draw ``n_samples`` values from each row's mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of values drawn per row, at least 1.
        random_state : int, RandomState instance, Generator or None, default=None
            Seeds the draws; pass an int for reproducible samples. A NumPy
            ``Generator`` is used as it is, as by scipy.stats' ``rvs``.

        Returns
        -------
        ndarray of shape (n_samples, n_rows)
            Column ``i`` holds the draws from row ``i``'s mixture; ``inf``
            for a draw past the largest float.
        """
        rng, rows, expert = self._draw_components(n_samples, random_state)
        shape = self.shapes[rows, expert]
        # mu (G / nu) with G ~ Gamma(nu, 1): rng.gamma(nu, mu / nu) in law, but
        # without the scale's overflow (a mean of 1e300 with shape 1e-10); a
        # draw past the largest float is inf, without NumPy's warning
        with np.errstate(over="ignore"):
            return self.means[rows, expert] * (rng.standard_gamma(shape) / shape)


def _hurdle(weights, means):
    """The point masses at zero (components of mean 0) apart: their total
    weight and that of the Gamma components (n_rows,), the Gamma
    components' weights within it (rows of point masses alone: one
    stand-in component, unused) and the means with 1 standing in for 0.

    A row without a point mass (or with point masses of weight 0 alone)
    keeps its weights, of total 1, whatever their sum: its numbers are then
    those of :func:`_mixture_cdf` and :func:`_mixture_ppf`, as where no row
    of the batch has a point mass (the weights over their sum, a float off
    1, moved its quantiles by up to 10 floats, its cdf by one and its log
    density by up to 16 from the row's alone, where other rows had point
    masses)."""
    mass = means == 0
    zero = _component_sums(np.where(mass, weights, 0.0))
    rest = np.where(mass, 0.0, weights)
    # (zero > 0 rather than np.any along the components, which took 1.6
    # times the rest of this function at K = 2)
    total = np.where(zero > 0, _component_sums(rest), 1.0)
    rest = rest / np.where(total > 0, total, 1.0)[:, None]
    rest[total == 0, 0] = 1.0
    return zero, total, rest, np.where(mass, 1.0, means)


def _hurdle_logpdf(y, weights, means, shapes, log_weights=None, log_means=None):
    """:func:`_mixture_logpdf` where components of mean 0 are point masses
    at zero: ``log(w_0)`` at 0 in a row that has one (-inf where its weight
    is 0), else the Gamma components' times their weight; ``log_weights``:
    the gate's, and ``log_means`` (see :func:`_mixture_logpdf`), where
    known."""
    if not np.any(means == 0):
        return _mixture_logpdf(y, weights, means, shapes, log_weights, log_means)
    if log_weights is not None:
        # log sum_k w_k p_k over the Gamma components, and the point masses'
        # log w_0 at 0: the gate's logs, where a weight underflowed to 0
        mass = means == 0
        has = np.any(mass, axis=-1)
        rest = np.where(mass, -np.inf, log_weights)
        positive = np.where(mass, 1.0, means)
        gamma = _mixture_logpdf(y, weights, positive, shapes, rest, log_means)
        zero = _log_component_sums(np.where(mass, log_weights, -np.inf))
        return np.where((y == 0) & has, zero, gamma)
    has = np.any(means == 0, axis=-1)
    zero, total, rest, means = _hurdle(weights, means)
    gamma = _mixture_logpdf(y, rest, means, shapes)
    # (a row of point masses alone at y = 0: log(0) + inf, replaced below)
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = np.log(total) + gamma
        return np.where((y == 0) & has, np.log(zero), positive)


def _hurdle_cdf(y, weights, means, shapes, log_means=None):
    """:func:`_mixture_cdf` with point masses at zero (means of 0)."""
    if not np.any(means == 0):
        return _mixture_cdf(y, weights, means, shapes, log_means)
    zero, total, rest, means = _hurdle(weights, means)
    gamma = _mixture_cdf(y, rest, means, shapes, log_means)
    return np.where(y < 0, 0.0, zero + total * gamma)


def _hurdle_sf(y, weights, means, shapes, log_means=None):
    """Survival functions at ``y`` (broadcast, rows last) of these rows, with
    point masses at zero (means of 0): the Gamma components' exact upper
    tails (``gammaincc`` where ``1 - P`` loses digits); ``log_means`` as in
    :func:`_gamma_tails`."""
    zero, total, rest, positive = _hurdle(weights, means)
    at = np.maximum(y, 0.0)[..., None]
    tails = _gamma_tails(at, positive, shapes, True, log_means)
    gamma = _component_sums(rest * tails)
    return np.where(y < 0, 1.0, total * gamma)


def _hurdle_ppf(q, weights, means, shapes):
    """:func:`_mixture_ppf` with point masses at zero (means of 0): 0 up
    to their weight ``w_0``, above it the Gamma components' quantile of
    ``(q - w_0) / (1 - w_0)`` (from ``1 - q`` above 0.5, which keeps the
    upper tail's digits)."""
    if not np.any(means == 0):
        return _mixture_ppf(q, weights, means, shapes)
    zero, total, rest, means = _hurdle(weights, means)
    scale = np.where(total > 0, total, 1.0)
    # (in a row without a point mass, of scale 1, ``inner`` is q: 1 - q and
    # 1 - (1 - q) are exact above 0.5)
    survival = np.clip((1.0 - q) / scale, 0.0, 1.0)  # exact for q > 0.5
    inner = np.where(q > 0.5, 1.0 - survival, np.clip((q - zero) / scale, 0, 1))
    gamma = _mixture_ppf(inner, rest, means, shapes, survival)
    # (q = 1: the Gamma components' inf, however small their weight)
    return np.where((q <= zero) & ~((q >= 1) & (total > 0)), 0.0, gamma)


def _log1pmx(d):
    """``log(1 + d) - d`` for ``d >= -1``, kept accurate for small ``|d|``."""
    near = np.abs(d) < LOG1PMX_SERIES
    s = np.where(near, d, 0.0)
    # log(1 + d) = 2 atanh(t) with t = d / (2 + d), and 2 t - d = -t d: so
    # log(1 + d) - d = -t d + 2 t (t^2 / 3 + t^4 / 5 + ...), |t| < 1 / 7
    t = s / (2 + s)
    t2 = t * t
    series = 0.0
    for j in range(10, 0, -1):
        series = t2 * (1 / (2 * j + 1) + series)
    with np.errstate(divide="ignore", invalid="ignore"):  # near: set below
        direct = np.log1p(d) - d
    return np.where(near, -t * s + 2 * t * series, direct)


def _log_ratio_term(y, means):
    """``log r - (r - 1)`` with ``r = y / mu``, for finite positive ``y``: from
    ``d = (y - mu) / mu`` (whose difference is exact) near ``r = 1``, from
    ``log y - log mu`` where ``r`` under- or overflows."""
    with np.errstate(over="ignore", under="ignore"):  # not near: set aside
        r = y / means
        d = (y - means) / means
    near = (r >= 0.5) & (r <= 2)
    d = np.where(near, d, 0.0)
    normal = (r >= np.finfo(float).tiny) & (r < np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):  # r = 0 or inf: set below
        log_r = np.where(normal, np.log(r), np.log(y) - np.log(means))
        far = np.where(np.isinf(r), -np.inf, log_r - (r - 1))
    return np.where(near, _log1pmx(d), far)


def _mixture_logpdf(y, weights, means, shapes, log_weights=None, log_means=None):
    """Log densities at ``y`` (broadcast, rows last) of these rows' mixtures;
    ``log_weights``: the gate's, where known (else ``log(weights)``);
    ``log_means``: the log means of the components whose mean under- or
    overflowed (NaN elsewhere), or None."""
    y = y[..., None]
    inside = (y > 0) & (y < np.inf)
    inner = np.where(inside, y, 1.0)
    ratio_term = _log_ratio_term(inner, means)
    log_mu = None
    if log_means is not None:
        # log r - (r - 1) = d - expm1(d), d = log(y / mu), as the experts'
        given = ~np.isnan(log_means)
        log_mu = np.where(given, log_means, np.log(means))
        d = np.log(inner) - log_mu
        with np.errstate(over="ignore"):  # a mean far below y: density 0
            ratio_term = np.where(given, d - np.expm1(d), ratio_term)
    with np.errstate(over="ignore"):  # beyond -1.8e308: a density of 0
        log_components = shapes * ratio_term + shape_terms(shapes) - np.log(inner)
    # at y = 0 scipy's: inf for a shape below 1, log(nu / mu) = -log(mu) for 1
    with np.errstate(divide="ignore"):
        log_mu = np.log(means) if log_mu is None else log_mu
        at_zero = np.where(shapes < 1, np.inf, np.where(shapes == 1, -log_mu, -np.inf))
    log_weights = _log_weights(weights, log_weights)
    log_components = np.where(
        inside, log_components, np.where(y == 0, at_zero, -np.inf)
    )
    # a component of weight 0 adds nothing, also where its density is inf
    with np.errstate(invalid="ignore"):  # -inf + inf: set to -inf
        # (weights > 0 where they come from weights)
        used = log_weights > -np.inf
        log_components = np.where(used, log_weights + log_components, -np.inf)
    # (summed in one order whatever the layout: logsumexp's np.sum moved 49
    # of 300 Fortran-ordered rows' logpdf by a float at K = 8)
    out = _log_component_sums(log_components)
    return np.where(np.isnan(y[..., 0]), np.nan, out)


def _gamma_tails(y, means, shapes, upper=False, log_means=None):
    """The components' distribution functions ``P(nu, nu y / mu)`` at ``y >= 0``
    (broadcast against the components; NaN stays NaN) where ``upper`` (a mask
    broadcast against them) is False, their survival functions where it is
    True: exact there (``gammaincc`` where ``1 - P`` loses digits).
    ``log_means``: the log means of the components whose mean under- or
    overflowed (NaN elsewhere), from which ``y / mu`` is taken there, or None.

    Each element is computed in the one tail asked for. A survival function
    where ``P`` is surely above 1/2 (``x - nu >= sqrt(nu) / 10``: ``P`` above
    0.539 at every shape) comes from ``gammaincc`` alone. ``P > 0.5`` would
    choose ``gammaincc`` there, so the floats are the same, without the cost
    of ``gammainc``.
    """
    with np.errstate(over="ignore", under="ignore"):  # x = inf: P = 1; 0: below
        ratio = y / means
        log_mu = None
        if log_means is not None:
            given = ~np.isnan(log_means)
            log_mu = np.where(given, log_means, np.log(means))
            with np.errstate(divide="ignore"):  # (y = 0: a ratio of 0)
                ratio = np.where(given, np.exp(np.log(y) - log_mu), ratio)
        x = shapes * ratio
    small = (x < TINY_X) | (ratio < TINY_X)  # with y = 0, and where x underflowed
    any_upper = np.any(upper)
    if any_upper:
        x, nu = np.broadcast_arrays(x, shapes)
        upper = np.broadcast_to(upper, x.shape)
        beyond = upper & ~small & (x - nu >= SURE_UPPER * np.sqrt(nu))
        lower = np.full(x.shape, np.nan)
        lower[~beyond] = special.gammainc(nu[~beyond], x[~beyond])
        series = (x < SERIES_X) & (nu <= SERIES_SHAPE) & ~small & ~beyond
    else:
        lower = special.gammainc(shapes, x)
        series = (x < SERIES_X) & (shapes <= SERIES_SHAPE) & ~small
    if np.any(series):
        x_series, nu_series = np.broadcast_arrays(x, shapes)
        lower[series] = _lower_series(nu_series[series], x_series[series])
    gone = (lower == 0) & ~small & (x > 0)
    if np.any(gone):
        x_gone, nu_gone = (a[gone] for a in np.broadcast_arrays(x, shapes))
        lower[gone] = _lower_underflowed(nu_gone, x_gone)
    if np.any(small):
        # (y = 0: log 0; the others, set aside, may overflow)
        with np.errstate(divide="ignore", over="ignore"):
            log_x = np.log(shapes) + np.log(np.where(small, y, 1.0))
            log_x = log_x - (np.log(means) if log_mu is None else log_mu)
            log_lower = shapes * log_x - special.gammaln(shapes + 1)
        log_lower = np.where(small, log_lower, -np.inf)
        with np.errstate(under="ignore"):
            lower = np.where(small, np.exp(log_lower), lower)
        # x^nu from x's mantissa and power of two where the shape allows a
        # series (exp of nu log x, log x near -710, was up to 5e-14 off: the
        # quantiles of shape 1 at q near 2.2e-308 and of shape 0.5 at q near
        # 1e-154 up to 370 and 667 floats from mpmath's)
        exact = small & (shapes <= SERIES_SHAPE) & (y > 0)
        if log_mu is not None:
            exact = exact & ~given
        if np.any(exact):
            exact = np.broadcast_to(exact, lower.shape)
            parts = (np.broadcast_to(a, lower.shape)[exact] for a in (y, means, shapes))
            lower[exact] = _underflowed_lower(*parts)
    if not any_upper:
        return lower
    survival = 1 - lower
    # gammaincc only where 1 - P loses digits (it is 7 times slower than
    # gammainc for shapes below 1)
    exact = beyond | ((lower > 0.5) & ~small & upper)
    survival[exact] = special.gammaincc(nu[exact], x[exact])
    if np.any(small):
        survival = np.where(small, -np.expm1(log_lower), survival)
    return np.where(upper, survival, lower)


def _underflowed_lower(y, means, shapes):
    """P(nu, x) = x^nu / Gamma(nu + 1) (to a few floats) where ``x = nu y /
    mu`` is below the normal floats and ``nu <= SERIES_SHAPE``: ``x^nu`` from
    ``x``'s mantissa and power of two, taken from ``nu``, ``y`` and ``mu``'s
    (:func:`~._distribution._scaled_negative_power`); ``e^-x`` and the
    series' next term, ``x / (nu + 1)``, are below 1e-300."""
    (m_nu, e_nu), (m_y, e_y), (m_mu, e_mu) = (np.frexp(a) for a in (shapes, y, means))
    mantissa, e_x = np.frexp(m_nu * m_y / m_mu)
    with np.errstate(under="ignore"):  # (P below the floats: 0)
        power = _scaled_negative_power(mantissa, e_nu + e_y - e_mu + e_x, -shapes, 0)
        return power / special.gamma(shapes + 1.0)


def _lower_series(shapes, x):
    """P(nu, x) from its series, for ``x < SERIES_X``, ``nu <= SERIES_SHAPE``."""
    term = total = 1.0
    for n in range(1, SERIES_TERMS + 1):
        term = term * x / (shapes + n)
        total = total + term
    return np.power(x, shapes) * np.exp(-x) / special.gamma(shapes + 1) * total


def _lower_underflowed(shapes, x):
    """P(nu, x) where ``gammainc`` gave 0: it does once its prefactor ``x^nu
    e^-x / Gamma(nu)`` is below e^-709.78, though P is a subnormal float down
    to 5e-324 (shapes of 100 and more: quantiles of q below 1e-310 stopped
    there, 6.0e-4 of shapes 100 and 300 at q = 1e-315, where the cdf is 16693
    q). From its series, ``P = x^nu e^-x / Gamma(nu + 1) 1F1(1; nu + 1; x)``,
    in logarithms (x below nu there, where the series converges)."""
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        log_series = np.log(special.hyp1f1(1.0, shapes + 1.0, x))
        log_lower = shapes * np.log(x) - x - special.gammaln(shapes + 1.0)
        return np.exp(log_lower + log_series)


def _log_lower_tails(y, means, shapes, lower):
    """``log P(nu, nu y / mu)`` at ``y >= 0`` (one per row, against the
    components), of all its digits where ``P`` (``lower``, from
    :func:`_gamma_tails`) is below the normal floats: there from the
    logarithm of its series, ``nu log x - x - log Gamma(nu + 1) + log 1F1(1;
    nu + 1; x)`` (``x`` below ``nu`` there, where the series converges), with
    ``log x`` from ``log y - log mu`` where ``x`` underflows."""
    with np.errstate(divide="ignore"):  # (P = 0: set below)
        out = np.log(lower)
    few = lower < np.finfo(float).tiny
    if not np.any(few):
        return out
    y, means, shapes = (a[few] for a in np.broadcast_arrays(y[:, None], means, shapes))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        x = shapes * (y / means)
        log_x = np.where(
            x >= TINY_X, np.log(x), np.log(shapes) + np.log(y) - np.log(means)
        )
        series = np.log(special.hyp1f1(1.0, shapes + 1.0, np.where(y > 0, x, 0.0)))
        log_lower = shapes * log_x - x - special.gammaln(shapes + 1.0) + series
    out[few] = np.where(y > 0, log_lower, -np.inf)
    return out


def _scaled_lower_tails(y, means, shapes, lower):
    """``2^SUBNORMAL_SCALE P(nu, nu y / mu)`` at ``y >= 0`` (one per row,
    against the components; ``lower``: ``P`` from :func:`_gamma_tails`), to a
    few of its floats where ``P`` is below the normal floats and the shape at
    most ``SERIES_SHAPE``: there from ``x^nu e^-x / Gamma(nu + 1) 1F1(1; nu
    + 1; x)`` with ``2^SUBNORMAL_SCALE x^nu`` from ``x``'s mantissa and power
    of two (:func:`~._distribution._scaled_negative_power`); from the
    logarithm of :func:`_log_lower_tails` at larger shapes."""
    with np.errstate(over="ignore"):  # (P below 1: finite)
        out = np.ldexp(lower, SUBNORMAL_SCALE)
    few = lower < np.finfo(float).tiny
    if not np.any(few):
        return out
    y_few, means_few, shapes_few = (
        a[few] for a in np.broadcast_arrays(y[:, None], means, shapes)
    )
    small = shapes_few <= SERIES_SHAPE
    # x = nu y / mu as a mantissa and a power of two (y may be subnormal)
    (m_nu, e_nu), (m_y, e_y), (m_mu, e_mu) = (
        np.frexp(a) for a in (shapes_few, y_few, means_few)
    )
    mantissa, e_x = np.frexp(m_nu * m_y / m_mu)
    exponent = e_nu + e_y - e_mu + e_x
    # (y = 0: a mantissa of 0, set to 0 below)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        x = np.ldexp(mantissa, exponent)
        power = _scaled_negative_power(
            mantissa, exponent, -np.where(small, shapes_few, 1.0), SUBNORMAL_SCALE
        )
        rest = np.exp(-x) * special.hyp1f1(1.0, shapes_few + 1.0, x)
        exact = power * rest / special.gamma(np.where(small, shapes_few, 1.0) + 1.0)
        if not np.all(small):
            log_lower = _log_lower_tails(y, means, shapes, lower)[few]
            logs = np.exp(log_lower + SUBNORMAL_SCALE * np.log(2.0))
            exact = np.where(small, exact, logs)
    out[few] = np.where(y_few > 0, exact, 0.0)
    return out


def _mixture_cdf(y, weights, means, shapes, log_means=None):
    """Distribution functions at ``y`` (broadcast, rows last) of these rows;
    ``log_means`` as in :func:`_gamma_tails`; summed by
    :func:`_component_sums`, whose order does not depend on the layout (np.sum's
    did: 134 of 300 Fortran-ordered rows of K = 8 differed by a float), as
    the quantiles' steps sum."""
    y = np.maximum(y, 0.0)[..., None]  # NaN stays NaN, as scipy's
    return _component_sums(
        weights * _gamma_tails(y, means, shapes, log_means=log_means)
    )


def _mixture_ppf(q, weights, means, shapes, survival=None):
    """Quantiles ``q`` (broadcast, rows last) of these rows' mixtures;
    ``survival`` (as ``q``), where given, is ``1 - q`` to its own relative
    precision, which the upper tail is solved for."""
    shape = np.broadcast_shapes(q.shape, weights.shape[:-1])
    n_experts = weights.shape[-1]
    q = np.broadcast_to(q, shape).ravel()
    survival = 1.0 - q if survival is None else np.broadcast_to(survival, shape).ravel()
    weights, means, shapes = (
        np.broadcast_to(a, shape + (n_experts,)).reshape(-1, n_experts)
        for a in (weights, means, shapes)
    )
    out = np.where(q == 0, 0.0, np.inf)
    todo = np.nonzero((q > 0) & (survival > 0))[0]
    if todo.size:
        out[todo] = _quantiles(
            q[todo], weights[todo], means[todo], shapes[todo], survival[todo]
        )
    return out.reshape(shape)


def _quantiles(q, weights, means, shapes, survival):
    """The floats nearest the quantiles ``q`` in (0, 1), one per row
    (``survival``: ``1 - q``): by Halley's steps in ``log y`` where they
    converge (:func:`_halley_quantiles`), else by the root finder
    (:func:`_root_quantiles`), in a bracket of ``log y`` from the
    components' quantiles."""
    # above 0.5 the survival function is solved for 1 - q (exact there): 1 -
    # cdf keeps only an absolute 1e-16 of the tail
    upper = q > 0.5
    tail = np.where(upper, survival, q)
    # a bracket of log y: the ends from the components of large weight, and
    # where they lack one, the least and the largest of the components'
    # quantiles (cdf_k(y) <= q for all k at the least of them). A row of one
    # component takes its quantile alone, from the inverse of the tail solved
    # for (gammaincinv of q, gammainccinv of 1 - q above 0.5): the weighted
    # ends are its quantiles from both inverses, the same point at twice the
    # cost (K = 1 rows took 0.76 to 0.80 of the time without them)
    low = np.full(q.shape, -np.inf)
    high = np.full(q.shape, np.inf)
    mixed = np.count_nonzero(weights > 0, axis=-1) > 1
    if np.all(mixed):
        low, high = _weighted_bracket(q, survival, weights, means, shapes)
    elif np.any(mixed):
        rows = np.flatnonzero(mixed)
        low[rows], high[rows] = _weighted_bracket(
            q[rows], survival[rows], weights[rows], means[rows], shapes[rows]
        )
    spread = ~(np.isfinite(low) & np.isfinite(high))
    if np.any(spread):
        rows = np.nonzero(spread)[0]
        used = weights[rows] > 0
        log_y = np.full(used.shape, np.nan)
        log_y[used] = _log_quantiles(
            np.broadcast_to(tail[rows, None], used.shape)[used],
            np.broadcast_to(upper[rows, None], used.shape)[used],
            np.broadcast_to(q[rows, None], used.shape)[used],
            means[rows][used],
            shapes[rows][used],
        )
        # (NaN, where an inverse failed, stays: the widest bracket below)
        low[rows] = np.maximum(np.where(used, log_y, np.inf).min(axis=-1), low[rows])
        high[rows] = np.minimum(np.where(used, log_y, -np.inf).max(axis=-1), high[rows])
    # widened past the inverses' rounding; within the floats, and the widest
    # bracket where they failed (checked below, after the root finder)
    low = low - 1e-6 * (1 + np.abs(low))
    high = high + 1e-6 * (1 + np.abs(high))
    low = np.where(np.isnan(low), LOG_SMALLEST, np.clip(low, LOG_SMALLEST, LOG_LARGEST))
    high = np.where(
        np.isnan(high), LOG_LARGEST, np.clip(high, LOG_SMALLEST, LOG_LARGEST)
    )
    out = np.empty(q.size)
    solved, found = _halley_quantiles(upper, tail, weights, means, shapes, low, high)
    out[solved] = found
    rest = np.flatnonzero(~solved)
    if rest.size:
        out[rest] = _root_quantiles(
            *(a[rest] for a in (q, upper, tail, weights, means, shapes, low, high))
        )
    return out


def _halley_quantiles(upper, tail, weights, means, shapes, low, high):
    """The quantiles of the ordinary rows, by Halley's method in ``log y`` on
    ``log F(y) - log q`` (``log S(y) - log(1 - q)`` where ``upper``; ``tail``:
    ``q`` or ``1 - q``), from the middle of the bracket ``(low, high)`` of
    ``log y`` (and kept in it: a step out of it bisects it), then walked over
    the floats of ``y`` to the one of least ``|F(y) / q - 1|``
    (:func:`~skmoe._distribution._walk_to_root`).

    Gamma quantiles are positive and span decades: in ``s = log y`` the
    components' distribution functions are smooth steps, ``dP / ds = g =
    x^nu e^-x / Gamma(nu)`` and ``d^2 P / ds^2 = g (nu - x)`` with ``x = nu y
    / mu``, and a step ``d`` in ``s`` moves ``y`` to ``y e^-d`` (so that ``y``
    keeps all its digits, where ``s`` of 700 keeps 1e-13 of ``y``). Ordinary
    rows: a tail of at least 1e-300 and a bracket within the positive floats.

    Returns the mask of the rows solved and their quantiles; the others are
    left to :func:`_root_quantiles`.
    """
    with np.errstate(over="ignore"):
        lo, hi = np.exp(low), np.exp(high)
    # (an end clipped to the floats' may hold a quantile beyond them: 0 or
    # inf, as :func:`_bisect_floats` takes them)
    fine = (tail >= 1e-300) & (low > LOG_SMALLEST) & (high < LOG_LARGEST)
    fine &= (lo > 0) & np.isfinite(hi)
    solved = np.zeros(tail.shape, dtype=bool)
    if not np.any(fine):
        return solved, np.zeros(0)
    rows = np.flatnonzero(fine)
    w, m, nu, up, ta = weights[rows], means[rows], shapes[rows], upper[rows], tail[rows]
    sign = np.where(up, -1.0, 1.0)

    # (sums over the components by _component_sums, the public cdf's, whose
    # floats do not depend on the other rows: products with ones, as the
    # Gaussian steps' once, went through BLAS, which rounded a row
    # differently in batches of other sizes, so that the quantiles of K = 5
    # rows moved by up to 25 floats with the batch; the sums cost little
    # beside gammainc)
    def tail_pieces(y, w, m, nu, terms, up, sign):
        mass = _component_sums(w * _gamma_tails(y[:, None], m, nu, up[:, None]))
        # the components' densities in s, g = exp(nu (log r - r + 1) + c(nu))
        # with r = y / mu (as their log densities), and their log-derivatives
        # nu - x = nu (1 - r)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            g = np.exp(nu * _log_ratio_term(y[:, None], m) + terms)
            falling = np.where(g > 0, g * (nu * (y[:, None] / m - 1.0)), 0.0)
        density = sign * _component_sums(w * g)
        return mass, density, -sign * _component_sums(w * falling)

    def move(y, step, *_):
        return y * np.exp(-step)

    def geometric_middle(low, high):
        return np.sqrt(low) * np.sqrt(high)

    start = np.exp(low[rows] / 2 + high[rows] / 2)
    x, at_x = _halley_roots(
        tail_pieces,
        [w, m, nu, shape_terms(nu), up, sign],
        (np.clip(start, lo[rows], hi[rows]), lo[rows], hi[rows]),
        sign,
        ta,
        move,
        geometric_middle,
        # (a tail's rounding of several floats of y, as the Student t's)
        bounce=True,
    )
    picked = np.flatnonzero(np.isfinite(x))
    w, m, nu, up, ta, sign = (a[picked] for a in (w, m, nu, up, ta, sign))

    def excess_at(y, part):
        tails = _gamma_tails(y[:, None], m[part], nu[part], up[part, None])
        return sign[part] * (_component_sums(w[part] * tails) / ta[part] - 1.0)

    found, bracketed = _walk_to_root(excess_at, x[picked], at_x[picked], 0.0)
    solved[rows[picked[bracketed]]] = True
    return solved, found


def _root_quantiles(q, upper, tail, weights, means, shapes, low, high):
    """The quantiles of these rows by the root finder in their brackets
    ``(low, high)`` of ``log y``, then bisected over the floats of ``y``
    (:func:`_bisect_floats`); ``upper``, ``tail`` as in :func:`_quantiles`."""

    # below the normal floats, q and the cdf have few digits (q = 1.53e-322,
    # 31 of the least floats: the quantile of shape 4336 was 1.2e-2 off in
    # probability, of shape 2 at q = 1e-321 7.4e-4); there the excess is
    # F / q - 1 from the logs of the components' cdfs
    subnormal = ~upper & (tail < np.finfo(float).tiny)

    def excess(y, index):
        # increasing in y on both branches; y and index are the unfinished
        # elements' (find_root passes only those, with their index)
        tails = _gamma_tails(
            y[:, None], means[index], shapes[index], upper[index, None]
        )
        mass = _component_sums(weights[index] * tails)
        out = np.where(upper[index], tail[index] - mass, mass - q[index])
        few = np.flatnonzero(subnormal[index])
        if few.size:
            rows = index[few]
            # F / q - 1 from F and q times 2^SUBNORMAL_SCALE (q's exactly)
            scaled = _scaled_lower_tails(y[few], means[rows], shapes[rows], tails[few])
            mass = _component_sums(weights[rows] * scaled)
            with np.errstate(over="ignore"):
                ratio = mass / np.ldexp(q[rows], SUBNORMAL_SCALE)
            # (kept finite far above the root: find_root takes inf - inf)
            out[few] = np.minimum(ratio, 1e300) - 1.0
        return out

    index = np.arange(q.size)

    def excess_log(s, index):
        with np.errstate(over="ignore"):  # at LOG_LARGEST exp may round to inf
            return excess(np.exp(s), index)

    eps = np.finfo(float).eps
    res = find_root(
        excess_log,
        (low, high),
        args=(index,),
        tolerances={"xatol": 4 * eps, "xrtol": 4 * eps},
    )
    with np.errstate(over="ignore"):
        ends = np.exp(np.stack(res.bracket))
    # the excess at the bracket's ends, as find_root evaluated it there (at
    # the same floats). find_root stops at an end where the excess is 0, with
    # a bracket still wide: that end is the root
    first_low = ends[0] <= ends[1]
    low_y = np.where(first_low, ends[0], ends[1])
    high_y = np.where(first_low, ends[1], ends[0])
    at_low = np.where(first_low, *res.f_bracket)
    at_high = np.where(first_low, *res.f_bracket[::-1])
    root_low = at_low == 0
    root_high = (at_high == 0) & ~root_low
    low_y = np.where(root_high, high_y, low_y)
    high_y = np.where(root_low, low_y, high_y)
    at_low = np.where(root_high, 0.0, at_low)
    at_high = np.where(root_low, 0.0, at_high)
    # where the components' bracket missed the root (or the quantile is beyond
    # the floats), all of [0, inf]
    valid = (at_low <= 0) & (at_high >= 0)
    low_y = np.where(valid, low_y, 0.0)
    high_y = np.where(valid, high_y, np.inf)
    if not np.all(valid):
        # excess is -q (or tail - sum w, about -1 + tail) at 0, and sum w - q
        # (or tail) at inf
        rows = np.nonzero(~valid)[0]
        at_low[rows] = excess(low_y[rows], rows)
        at_high[rows] = excess(high_y[rows], rows)
    return _bisect_floats(excess, low_y, high_y, at_low, at_high)


def _log_quantiles(p, upper, lower_p, means, shapes):
    """``log y`` at the components' quantiles (arrays of one shape): where
    ``P(nu, nu y / mu) = p``, or where ``upper``, ``1 - P = p``; ``lower_p``
    is ``P`` there, for the series' first term ``x^nu / Gamma(nu + 1)``
    where ``x`` underflows (shape 1e-3 at P = 0.3: 1e-523). NaN where an
    inverse fails."""
    x = np.empty(p.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        x[upper] = special.gammainccinv(shapes[upper], p[upper])
        x[~upper] = special.gammaincinv(shapes[~upper], p[~upper])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_x = np.where(
            x < TINY_X,
            (np.log(lower_p) + special.gammaln(shapes + 1)) / shapes,
            np.log(x),
        )
        return log_x + np.log(means) - np.log(shapes)


def _weighted_bracket(q, survival, weights, means, shapes):
    """Ends of a bracket of ``log y`` at the mixtures' quantiles ``q`` in (0,
    1) (``survival``: ``1 - q``) from their components of large weight.

    ``F >= w_k F_k``, so that ``F(y) >= q`` where ``F_k(y) >= q / w_k``, and
    ``1 - F >= w_k (1 - F_k)``, so that ``F(y) <= q`` where ``1 - F_k(y) >=
    (1 - q) / w_k``: the least of the first quantiles and the largest of the
    second, where those probabilities are in [1e-300, 1 - 1e-3] (there the
    quantiles keep their digits, within the margin of :func:`_quantiles`), else
    ``inf`` and ``-inf``. A dominant component (a weight of 0.95 at ``q =
    0.9``) narrows the bracket from the spread of all the components'
    quantiles to its own between ``1 - (1 - q) / w`` and ``q / w``, and the
    root finder needs fewer steps.
    """
    ends = []
    for tail, upper, fill in ((q, False, np.inf), (survival, True, -np.inf)):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            p = tail[:, None] / weights  # (weights of 0: left out)
        bound = (weights > 0) & (p >= 1e-300) & (p <= 1 - 1e-3)
        log_y = np.full(p.shape, fill)
        if np.any(bound):
            p = p[bound]
            found = _log_quantiles(
                p,
                np.full(p.shape, upper),
                1 - p if upper else p,
                means[bound],
                shapes[bound],
            )
            log_y[bound] = np.where(np.isnan(found), fill, found)
        ends.append(log_y)
    return ends[1].max(axis=-1), ends[0].min(axis=-1)


def _bisect_floats(excess, low, high, at_low, at_high):
    """The float nearest the root of ``excess`` (increasing) between ``low``
    and ``high`` (non-negative, ``excess`` < 0 at ``low`` and >= 0 at
    ``high``), by bisection over the floats between them: their bit patterns,
    as integers, are in the floats' order, so that each step halves the floats
    left (at most 63 steps, from 0 to inf)."""
    low_bits = low.view(np.int64).copy()
    high_bits = high.view(np.int64).copy()
    at_low, at_high = at_low.copy(), at_high.copy()
    active = np.nonzero(high_bits - low_bits > 1)[0]
    while active.size:
        mid_bits = low_bits[active] + (high_bits[active] - low_bits[active]) // 2
        value = excess(mid_bits.view(float), active)
        up = value >= 0
        high_bits[active[up]] = mid_bits[up]
        at_high[active[up]] = value[up]
        # an excess of 0 is the root: both ends there
        down = ~up | (value == 0)
        low_bits[active[down]] = mid_bits[down]
        at_low[active[down]] = value[down]
        active = active[high_bits[active] - low_bits[active] > 1]
    nearer_low = np.abs(at_low) < np.abs(at_high)
    # a root past the largest float (the excess below 0 there) is inf, as
    # documented: by the nearer probability it was the largest float (ppf(0.9)
    # of a mean of 1e308 and shape 1, 2.3e308, gave 1.8e308 for q up to 0.92)
    beyond = np.isinf(high_bits.view(float)) & (at_low != 0)
    return np.where(nearer_low & ~beyond, low_bits, high_bits).view(float)
