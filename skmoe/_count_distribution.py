"""The predictive distribution of a mixture of Poisson experts."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ._distribution import (
    _component_sums,
    _log_component_sums,
    _log_weights,
    _mean_rows,
    _mixture_scale,
    _mixture_variance,
    _real_array,
    _RowMixture,
    normalized_weights,
    with_log_shares,
)
from ._gamma_distribution import _log_ratio_term

#: Rates above which :meth:`PredictivePoissonMixture.sample` draws from the
#: normal approximation N(mu, mu), rounded: NumPy's Poisson sampler refuses
#: rates above about 9.2e18, and at 1e15 the two laws differ by less than the
#: float spacing of the counts' standard deviation allows to see.
SAMPLE_NORMAL_RATE = 1e15
#: Doublings of a quantile's bracket before :func:`_mixture_ppf` gives up
#: widening it (a bracket then spans every float).
MAX_WIDENINGS = 2100
#: Quantiles q with ``1 - q`` below this are found by the survival function
#: (sf(y) <= 1 - q), whose digits the distribution function's rounding loses
#: there (an absolute error of a few 1e-16 is 1e-6 of such a tail).
SF_TAIL = 1e-10
#: A Poisson's distribution functions more than ``BETA_LIMIT_SDS`` standard
#: deviations above its mean are those of a negative binomial of the same mean
#: and ``theta = mu / BETA_LIMIT_Q`` (``p = 1 - BETA_LIMIT_Q``), for means
#: within ``BETA_LIMIT_RATES``. scipy's ``pdtrc`` keeps its digits below (to
#: 1e-14 up to 4.5 sd at means to 1e13, 1e-11 at 3e5 and 5 sd) and at
#: smaller means; beyond the upper mean, theta would overflow. (``betainc``
#: there took ten times as long as ``pdtrc``: a ppf of 2000 rows 0.65 s.)
BETA_LIMIT_Q = 1e-60
BETA_LIMIT_RATES = (1e4, 1e240)
BETA_LIMIT_SDS = 4.0
#: Largest ``phi mu`` at which a negative binomial component whose incomplete
#: beta function scipy loses is taken as its Poisson limit.
POISSON_LIMIT = 1e-16
#: Largest ``min(a, b)`` (of counts + 1 and ``1 / phi``) at which
#: :func:`_beta_probabilities` takes a complement of 1/2 or more as ``1 -
#: betainc`` (double) in place of ``betaincc`` (long double, 10 to 20 times
#: slower). Against mpmath, ``1 - betainc`` there was up to 201 eps off (4.5e-14
#: relative at a = 8.94, b = 9, x = 0.4946, where betaincc was within 1 eps;
#: betainc's own lower tail there, which the other tail always took, is as far
#: off), up to 49 eps at a and b from 11 to 30, and up to 41 eps for the
#: smaller to 30 and the larger to 1e15; with both above 30 it grew to 460 eps
#: at 1e4 to 1e6 and 11000 eps at 1e6 to 1e9.
FAST_BETA_LIMIT = 30.0
#: Dispersion inverses ``theta`` below which a negative binomial component
#: whose ``phi mu`` overflows takes its rising factorial's logarithm from its
#: series in theta (see :func:`_beyond_the_floats`).
SMALL_THETA = 1e-3
#: The log of the smallest normal float: a component of a lower log rate has
#: its rate as 0 or a subnormal float in ``rates``, and its share of the
#: variance from its log (:meth:`PredictivePoissonMixture._with_tiny_rates`).
LOG_SMALLEST_NORMAL = math.log(np.finfo(np.float64).smallest_normal)
#: The log of float32's smallest normal float: a component of a lower log gate
#: weight has its weight as 0 or a float of few digits in ``weights`` (those
#: of a float32 model's gate underflow there), and its share of the variance
#: from its log (:meth:`PredictivePoissonMixture._with_tiny_rates`).
LOG_LIGHT_WEIGHT = math.log(np.finfo(np.float32).smallest_normal)
#: The log of the largest float: a component of a higher log rate (at a large
#: exposure) and a gate weight below ``HELD_WEIGHT`` has the largest float in
#: ``rates``, and its shares of the mean and variance from its logs
#: (:meth:`PredictivePoissonMixture._with_tiny_rates`); the others' weights,
#: which then sum to one within 1e-12, are not rescaled.
LOG_LARGEST = math.log(np.finfo(np.float64).max)
HELD_WEIGHT = 1e-12


class PredictivePoissonMixture(_RowMixture):
    """One Poisson mixture per row: P(Y = y | x_i) = sum_k w_ik Poisson(y; mu_ik).

    Returned by :meth:`MoEPoissonRegressor.predict_distribution`. The counterpart
    of :class:`PredictiveMixture` for counts, with the methods of a frozen
    discrete :mod:`scipy.stats` distribution whose parameters are arrays:
    ``pmf`` and ``logpmf`` in place of ``pdf`` and ``logpdf``, and integer
    quantiles (``ppf(q)`` is the smallest count ``y`` with ``cdf(y) >= q``, as
    :func:`scipy.stats.poisson.ppf`, returned as floats). Rows are the last axis
    of every result: ``pmf(y)`` with ``y`` of shape (n_rows,) scores each row at
    its own ``y``; pass ``y`` of shape (m, 1) for m values per row, giving shape
    (m, n_rows). Indexing selects rows, as for :class:`PredictiveMixture`.

    Parameters
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        Gate probabilities; each row sums to one.
    rates : ndarray of shape (n_rows, n_experts)
        The experts' Poisson rates (means), finite and non-negative.

    Attributes
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        The mixing weights of each row, as floats, divided by their sum
        where it is more than 1e-12 from one.
    rates : ndarray of shape (n_rows, n_experts)
        The components' rates, as floats.

    See Also
    --------
    PredictiveMixture : The Gaussian counterpart, for :class:`MoERegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import PredictivePoissonMixture
    >>> weights, rates = [[0.5, 0.5], [1.0, 0.0]], [[1.0, 9.0], [4.0, 1.0]]
    >>> dist = PredictivePoissonMixture(weights, rates)
    >>> dist
    PredictivePoissonMixture(n_rows=2, n_components=2)
    >>> dist.mean(), dist.var()
    (array([5., 4.]), array([21.,  4.]))
    >>> dist.median(), dist.interval(0.8)
    (array([3., 4.]), (array([0., 2.]), array([11.,  7.])))
    >>> float(np.round(dist.pmf(0)[0], 5))  # (exp(-1) + exp(-9)) / 2
    0.184
    """

    _parameters = ("weights", "rates")
    #: the rows' log exposures, where ``predict_distribution`` kept the logs
    #: of rows at exposures: which components of gate weight 0 take part in
    #: the mean (:meth:`_with_tiny_rates`)
    _moment_parts = ("log_exposures",)

    def __init__(self, weights, rates):
        self.weights = _real_array(weights, "weights", bools=True)
        self.rates = _real_array(rates, "rates")
        if self.weights.ndim != 2 or self.weights.shape != self.rates.shape:
            raise ValueError(
                "weights and rates must be arrays of the same shape "
                f"(n_rows, n_components); got {self.weights.shape} and "
                f"{self.rates.shape}."
            )
        self.weights = normalized_weights(self.weights)
        if not np.all((self.rates >= 0) & np.isfinite(self.rates)):
            raise ValueError("rates must be finite and non-negative.")

    def mean(self):
        """Mixture mean of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k mu_k`` for each row.
        """
        return self._with_tiny_rates(self._moment(_mean_rows), "mean")

    def var(self):
        """Mixture variance of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k (mu_k + (mu_k - mean)^2)`` for each row (a Poisson
            component's variance is its mean); inf where it exceeds the
            largest float (:meth:`std` stays finite there).
        """

        def var(values, weights, rates):
            return _mixture_variance(weights, rates, _scales(rates))

        return self._with_tiny_rates(self._moment(var), "var")

    def std(self):
        """Mixture standard deviation of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            The square root of :meth:`var`, computed so that it stays finite
            where only the variance overflows.
        """

        def std(values, weights, rates):
            return _mixture_scale(values, weights, rates, _scales(rates))

        return self._with_tiny_rates(self._by_rows(np.zeros(len(self)), std), "std")

    def _with_tiny_rates(self, out, method):
        """``out``, the rows' means (``method`` "mean"), variances ("var")
        or standard deviations ("std"), where the estimator's
        ``predict_distribution`` kept the logs of components whose rates or
        gate weights underflowed below the normal floats
        (:func:`with_log_parts`; 0 or a subnormal float in ``rates`` or
        ``weights``, the weights of a float32 model's gate below float32's,
        or rates beyond the floats): there those components' share of the
        mean (``w_k mu_k``) or variance is taken from their logs and added to
        the others'. A component of a tiny rate gives ``w_k mu_k (1 + phi_k mu_k)`` (its
        deviation from the mean stays with the others', at a rate of 0); one
        of a tiny weight ``w_k (mu_k (1 + phi_k mu_k) + (mu_k - mean)^2)``
        (about the others' mean, which its ``w_k mu_k`` changes by a
        fraction ``w_k`` of its deviation). A row of log rate -886 had a std
        of 0 for its 3.5e-193, and one whose weight of e^-750 held a rate of
        e^600 a std of 1 for 5.2e97. The mean leaves out, as ``predict``
        does, components whose weight in ``weights`` is 0 and whose share is
        beyond the floats; a subnormal weight of e^-720 beside a rate of
        e^576 gives its 2.9e-63 from the logs, and one of e^-750 (0) its
        7.2e-66. With exposures e (``log_exposures`` among the parts), the
        share that decides is ``min(e, 1)`` times the share per unit exposure,
        as in ``predict`` (:func:`taking_part`)."""
        parts = self._log_parts[1] if self._log_parts is not None else {}
        log_rates = parts.get("log_rates")
        if log_rates is None:
            return out
        slot = self._log_parts[0]
        rows = np.flatnonzero(slot >= 0)
        log_rates = log_rates[slot[rows]]
        log_weights = parts["log_weights"][slot[rows]]
        with np.errstate(invalid="ignore"):  # (NaN: a rate of its own)
            tiny = log_rates < LOG_SMALLEST_NORMAL
            # a rate beyond the floats (at a large exposure), whose weight
            # holds it: the largest float stands for it in ``rates``
            huge = (log_rates > LOG_LARGEST) & (log_weights < math.log(HELD_WEIGHT))
        # (a weight of 0 from a log of -inf takes no part)
        light = ((log_weights < LOG_LIGHT_WEIGHT) | huge) & (log_weights > -np.inf)
        # (a rate beyond the floats beside a larger weight, for which 1 stood
        # in: the moments are inf there, as the floats give them)
        with np.errstate(invalid="ignore"):
            over = (log_rates > LOG_LARGEST) & ~light & (log_weights > -np.inf)
        held = np.any(tiny | light | over, axis=1)
        if not np.any(held):
            return out
        rows, log_rates, tiny = rows[held], log_rates[held], tiny[held]
        log_weights, light = log_weights[held], light[held]
        over = np.any(over[held], axis=1)
        # the rates of their own (the distribution's are 0 at a weight of 0)
        rates = parts["rates"][slot[rows]]
        with np.errstate(divide="ignore"):  # (a rate of 0: -inf)
            log_rates = np.where(np.isnan(log_rates), np.log(rates), log_rates)
        log_spread = log_rates  # log(mu (1 + phi mu))
        dispersions = getattr(self, "dispersions", None)
        if dispersions is not None:  # a negative binomial's 1 + phi mu
            with np.errstate(divide="ignore"):  # (a dispersion of 0)
                log_phi = np.log(dispersions[rows])
                log_spread = log_spread + np.logaddexp(0.0, log_phi + log_rates)
        log_exposures = parts.get("log_exposures")
        if log_exposures is not None:
            log_exposures = log_exposures[slot[rows]]
        out = with_log_shares(
            self,
            out,
            method,
            rows,
            log_weights,
            log_rates,
            log_spread,
            tiny,
            light,
            log_exposures=log_exposures,
        )
        out[rows[over]] = np.inf
        return out

    def logpmf(self, y):
        """Log probability of each row's mixture at the count ``y``.

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows (the last axis): a
            scalar for the same value in every row, shape (n_rows,) for one value
            per row, or shape (m, 1) for m values per row.

        Returns
        -------
        ndarray
            The log probabilities, of the broadcast shape of ``y`` and
            (n_rows,); ``-inf`` where ``y`` is not a non-negative integer.
        """
        # weights left summing to 1 + 1e-13 gave log P(0) = 1e-13 > 0 with all
        # rates 0 (as cdf, held at the probabilities' bound)
        values = self._rows_last(y, "y")
        return np.minimum(self._log_density(values, _mixture_logpmf), 0.0)

    def pmf(self, y):
        """Probability of each row's mixture at the count ``y``.

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows as in :meth:`logpmf`.

        Returns
        -------
        ndarray
            ``exp(logpmf(y))``, of the broadcast shape of ``y`` and (n_rows,).
        """
        return np.exp(self.logpmf(y))

    def cdf(self, y):
        """Cumulative distribution of each row's mixture at ``y``.

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows as in :meth:`logpmf`.

        Returns
        -------
        ndarray
            P(Y <= y) under each row's mixture (a step function of ``y``), of
            the broadcast shape of ``y`` and (n_rows,).
        """
        # (scipy's betainc gave 1 + 3.4e-14 at a dispersion of 1e300)
        return np.minimum(self._by_rows(self._rows_last(y, "y"), _mixture_cdf), 1.0)

    def sf(self, y):
        """Survival function of each row's mixture at ``y``, ``1 - cdf(y)``.

        Summed from the components' upper tails, so that it keeps its digits
        where ``cdf`` rounds to 1 (a Poisson of mean 1 above 30: 4.6e-35,
        where ``1 - cdf(30)`` is 0).

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows as in :meth:`logpmf`.

        Returns
        -------
        ndarray
            P(Y > y) under each row's mixture (a step function of ``y``), of
            the broadcast shape of ``y`` and (n_rows,).
        """
        return np.minimum(self._by_rows(self._rows_last(y, "y"), _mixture_sf), 1.0)

    def ppf(self, q):
        """Quantile ``q`` of each row's mixture: the smallest count with cdf >= q.

        Found by bisection over the counts, between brackets widened from the
        components' normal approximations until the mixture's distribution
        function crosses ``q``. Within ``SF_TAIL`` (1e-10) of 1, where the
        distribution function's rounding is no longer small against ``1 - q``,
        the smallest count with survival function ``<= 1 - q`` instead, which
        keeps the tail's digits; so ``ppf(cdf(k))`` is ``k`` (or the first
        count of a flat stretch of the cdf ending at ``k``) for ``cdf(k) < 1 -
        1e-10``, and can be ``k + 1`` above.

        Parameters
        ----------
        q : float or array-like
            Probabilities in [0, 1] (NaN gives NaN, as in scipy.stats),
            broadcast against the rows as ``y`` in
            :meth:`logpmf`: a scalar, one per row, or shape (m, 1) for m
            quantiles per row.

        Returns
        -------
        ndarray
            The quantiles as floats, of the broadcast shape of ``q`` and
            (n_rows,); ``-1`` for ``q = 0`` and ``inf`` for ``q = 1``, as
            :func:`scipy.stats.poisson.ppf`.
        """
        return self._at_probabilities(q, _mixture_ppf)

    def sample(self, n_samples=1, random_state=None):
        """Draw ``n_samples`` counts from each row's mixture.

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
            Column ``i`` holds the draws from row ``i``'s mixture, as floats.
            Rates above ``SAMPLE_NORMAL_RATE`` (1e15) draw from the rounded
            normal approximation N(mu, mu).
        """
        rng, rows, expert = self._draw_components(n_samples, random_state)
        return _poisson_draws(rng, self.rates[rows, expert])


def _poisson_draws(rng, rate):
    """Poisson counts (as floats) of the rates ``rate``; from the rounded
    normal approximation above ``SAMPLE_NORMAL_RATE``."""
    large = rate > SAMPLE_NORMAL_RATE
    out = rng.poisson(np.where(large, 0.0, rate)).astype(float)
    if np.any(large):
        noise = rng.standard_normal(int(large.sum()))
        # a rate past the largest float (a negative binomial's Gamma draw
        # times a mean near it) is a count past it: inf, where inf - inf
        # gave NaN for the draws of negative noise (8% of the draws at a mean
        # of 1e308 and phi = 1)
        with np.errstate(invalid="ignore"):
            normal = np.round(rate[large] + np.sqrt(rate[large]) * noise)
        out[large] = np.where(np.isinf(rate[large]), np.inf, normal)
    return out


class PredictiveNegativeBinomialMixture(PredictivePoissonMixture):
    """One negative binomial mixture per row: sum_k w_ik NB(y; mu_ik, phi_k).

    Row i's probability of a count y is ``P(Y = y | x_i) = sum_k w_ik NB(y;
    mu_ik, phi_k)``. Returned by
    :meth:`MoENegativeBinomialRegressor.predict_distribution`.
    Component k is the negative binomial distribution of mean ``mu`` and
    variance ``mu + phi mu^2`` (R's ``dnbinom(y, size = 1 / phi, mu = mu)``,
    :func:`scipy.stats.nbinom` with ``n = 1 / phi`` and ``p = 1 / (1 + phi
    mu)``); a dispersion of 0 is a Poisson component, a mean of 0 a point mass
    at zero. The methods are those of :class:`PredictivePoissonMixture`.

    Parameters
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        Gate probabilities; each row sums to one.
    rates : ndarray of shape (n_rows, n_experts)
        The experts' mean counts ``mu``, finite and non-negative.
    dispersions : ndarray of shape (n_rows, n_experts)
        The experts' dispersions ``phi``, finite and non-negative.

    Attributes
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        The mixing weights of each row, as floats, divided by their sum
        where it is more than 1e-12 from one.
    rates : ndarray of shape (n_rows, n_experts)
        The components' means, as floats.
    dispersions : ndarray of shape (n_rows, n_experts)
        The components' dispersions, as floats.

    See Also
    --------
    PredictivePoissonMixture : Its Poisson counterpart.

    Notes
    -----
    ``cdf`` and ``ppf`` are the regularized incomplete beta function
    ``I_p(1 / phi, y + 1)`` of :func:`scipy.special.betainc` (in its
    complementary form where ``phi mu`` is below 1, which keeps the digits near
    the Poisson limit), and carry its error: up to 5e-8 relative at means of
    1e9 and ``phi`` near 0.05 (3e-9 at 1e8, 4e-11 at 1e6). ``logpmf`` is exact
    to about 1e-12.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import PredictiveNegativeBinomialMixture
    >>> weights, means = [[0.5, 0.5]], [[2.0, 10.0]]
    >>> dist = PredictiveNegativeBinomialMixture(weights, means, [[0.5, 0.1]])
    >>> dist.mean(), dist.var()  # each component's variance is mu + phi mu^2
    (array([6.]), array([28.]))
    >>> dist.ppf([0.05, 0.5, 0.95])
    array([ 0.,  5., 16.])
    """

    _parameters = ("weights", "rates", "dispersions")

    def __init__(self, weights, rates, dispersions):
        super().__init__(weights, rates)
        self.dispersions = _real_array(dispersions, "dispersions")
        if self.dispersions.shape != self.weights.shape:
            raise ValueError(
                "dispersions must have the shape of the weights "
                f"{self.weights.shape}; got {self.dispersions.shape}."
            )
        if not np.all((self.dispersions >= 0) & np.isfinite(self.dispersions)):
            raise ValueError("dispersions must be finite and non-negative.")

    def var(self):
        """Mixture variance of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k (mu_k + phi_k mu_k^2 + (mu_k - mean)^2)`` for each row;
            inf where it exceeds the largest float (means of about 1e154 and
            more), as ``scipy.stats.nbinom``'s; :meth:`std` stays finite there.
        """

        def var(values, weights, rates, dispersions):
            return _mixture_variance(weights, rates, _scales(rates, dispersions))

        return self._with_tiny_rates(self._moment(var), "var")

    def std(self):
        """Mixture standard deviation of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            The square root of :meth:`var`, computed so that it stays finite
            where only the variance overflows.
        """

        def std(values, weights, rates, dispersions):
            scales = _scales(rates, dispersions)
            return _mixture_scale(values, weights, rates, scales)

        return self._with_tiny_rates(self._by_rows(np.zeros(len(self)), std), "std")

    # (logpmf, pmf, cdf and ppf: the Poisson mixture's, whose functions take
    # the dispersions too)

    def sample(self, n_samples=1, random_state=None):
        """Draw ``n_samples`` counts from each row's mixture.

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
            Column ``i`` holds the draws from row ``i``'s mixture, as floats:
            a Poisson count of rate ``mu G``, with ``G`` a Gamma of mean 1 and
            variance ``phi`` (1 for a dispersion of 0). Rates above
            ``SAMPLE_NORMAL_RATE`` (1e15) draw from the rounded normal
            approximation N(mu G, mu G); ``inf`` where ``mu G`` exceeds the
            largest float.
        """
        rng, rows, expert = self._draw_components(n_samples, random_state)
        rate = self.rates[rows, expert]
        dispersion = self.dispersions[rows, expert]
        nb = dispersion > 0
        shape = 1.0 / np.where(nb, dispersion, 1.0)
        with np.errstate(over="ignore"):  # past the largest float: inf
            rate = np.where(nb, rate * rng.gamma(shape, 1.0 / shape), rate)
        return _poisson_draws(rng, rate)


def _scales(rates, dispersions=None):
    """The components' standard deviations, ``sqrt(mu)`` or (negative
    binomial) ``sqrt(mu + phi mu^2)`` as ``sqrt(mu) sqrt(1 + phi mu)``, finite
    where ``mu^2`` overflows (from 1.3e154); ``sqrt(phi) mu`` where ``phi mu``
    overflows (1/(phi mu) below the floats' spacing), finite below the
    largest float (phi = 1e4, the fitted ceiling, at mu = 2.2e304: inf for
    2.2e306)."""
    if dispersions is None:
        return np.sqrt(rates)
    with np.errstate(over="ignore"):
        out = np.sqrt(rates) * np.sqrt(1.0 + dispersions * rates)
        if not np.all(out < np.inf):  # (the one check where none overflows)
            out = np.where(out < np.inf, out, np.sqrt(dispersions) * rates)
    return out


def _mixture_logpmf(
    y, weights, rates, dispersions=None, log_weights=None, log_rates=None
):
    """Log probabilities at ``y`` (broadcast, rows last) of these rows'
    mixtures (of negative binomial components with ``dispersions``);
    ``log_weights``: the gate's, where known (else ``log(weights)``);
    ``log_rates``: the log rates of the components whose rate under- or
    overflowed (NaN elsewhere), or None."""
    log_weights = _log_weights(weights, log_weights)
    # scipy's logpmf is NaN at an infinite count, which has probability 0
    counts = np.where(np.isinf(y), -1.0, y)[..., None]
    at = np.maximum(counts, 0.0)
    log_pmf = _log_probabilities(at, rates, dispersions, log_rates)
    log_pmf = np.where(counts < 0, -np.inf, log_pmf)
    # (in one order whatever the layout: logsumexp's np.sum moved 24 of 300
    # Fortran-ordered Poisson rows' logpmf by a float at K = 8)
    return _log_component_sums(log_weights + log_pmf)


def _mixture_cdf(y, weights, rates, dispersions=None, upper=False):
    """Distribution functions (``upper``: survival functions) at ``y``
    (broadcast, rows last) of these rows' mixtures (of negative binomial
    components with ``dispersions``); summed by :func:`_component_sums`, whose
    order does not depend on the layout (np.sum's did: 121 of 300
    Fortran-ordered Poisson rows' cdf of K = 8 differed by a float), as the
    quantiles' test sums."""
    counts = np.floor(y[..., None])  # NaN stays NaN, as scipy's
    tail = _probabilities(np.maximum(counts, 0), rates, dispersions, upper)
    before_zero = 1.0 if upper else 0.0
    return _component_sums(weights * np.where(counts < 0, before_zero, tail))


def _mixture_sf(y, weights, rates, dispersions=None):
    """:func:`_mixture_cdf`'s survival functions."""
    return _mixture_cdf(y, weights, rates, dispersions, upper=True)


def _probabilities(counts, rates, dispersions=None, upper=False):
    """P(Y <= counts) (``upper``: P(Y > counts)) (counts >= 0) of Poisson
    components, or of negative binomial ones of these ``dispersions`` (phi;
    0: Poisson): the regularized incomplete beta function ``I_p(theta, counts
    + 1)`` at ``p = theta / (theta + mu)`` (``upper``: its complement).

    One tail only: a quantile's search and ``cdf`` or ``sf`` take one, and
    the two had cost twice one (``betainc`` and ``betaincc``, ``pdtr`` and
    ``pdtrc``)."""
    nb = None if dispersions is None else dispersions > 0
    if nb is None or not np.all(nb):
        out = _poisson_probabilities(counts, rates, upper)
    if nb is None:
        return out
    if nb.size and not np.any(nb):  # (no rows: np.all was True, out unset)
        return np.where(nb, 0.0, out)  # (the broadcast shape, as before)
    phi = np.where(nb, dispersions, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = phi * rates
        p, q = 1.0 / (1.0 + scaled), scaled / (1.0 + scaled)
        nb_out = _beta_probabilities(counts + 1.0, 1.0 / phi, p, q, upper)
        # scipy's betainc gives NaN from counts of about 1e155; there (p
        # below 1e-154) I_p(theta, b) is the Gamma cdf P(theta, b p) but for
        # terms of the size of p
        lost = np.isnan(nb_out)
        if np.any(lost):
            x = (counts + 1.0) * p
            gamma_tail = special.gammaincc if upper else special.gammainc
            fallback = gamma_tail(1.0 / phi, x)
            # it is NaN too for theta = 1 / phi above about 1e155, where the
            # Gamma's, meant for p near 0, gave P(Y <= 1) 0 and P(Y > 1) 1 at
            # mu = 0.3 and phi = 1e-158; there, at phi mu below
            # POISSON_LIMIT, the Poisson limit (finite counts: NaN stays NaN)
            poisson = lost & (phi < 1e-100) & (scaled < POISSON_LIMIT)
            poisson = poisson & np.isfinite(counts)
            if np.any(poisson):
                limit = _poisson_probabilities(counts, rates, upper)
                fallback = np.where(poisson, limit, fallback)
            nb_out = np.where(lost, fallback, nb_out)
        # phi mu below the normal floats (a mean below 2.2e-300 at phi of
        # 1e-8): q = phi mu / (1 + phi mu) kept few of its digits, or none,
        # and betaincc's P(Y > 0) was 1.2% off at mu = 1e-320, phi = 1e-3, and
        # 0 at 3e-315, phi = 1e-10; there the Poisson limit is the negative
        # binomial to phi mu / 2 of itself
        tiny = np.finfo(np.float64).smallest_normal
        subnormal = nb & (scaled < tiny)
        if np.size(phi) and np.min(phi) < tiny:  # (the one check, mostly)
            # phi itself below the normal floats (1 / phi overflows from
            # 5.6e-309): betainc of theta = inf gave P(Y > y) = 1 at every
            # count (ppf inf) at mu = 1e10, phi = 1e-310; the Poisson limit
            # there too, at any phi mu: where it passes POISSON_LIMIT, mu is
            # past 4.5e291, the counts' spacing past 1e275 and the standard
            # deviation below 4e154, whose factor sqrt(1 + phi mu) no count
            # resolves (P(Y <= 2 mu) was 0 at mu = 1e300, phi = 1e-309)
            subnormal |= nb & (phi < tiny)
        if np.any(subnormal):
            limit = _poisson_probabilities(counts, rates, upper)
            nb_out = np.where(subnormal, limit, nb_out)
        huge = nb & np.isinf(scaled) & np.isfinite(rates)
        if np.any(huge):
            nb_out = np.where(
                huge, _beyond_the_floats(counts + 1.0, phi, rates)[upper], nb_out
            )
    return nb_out if np.all(nb) else np.where(nb, nb_out, out)


def _poisson_probabilities(counts, rates, upper=False):
    """P(Y <= counts) (``upper``: P(Y > counts)) (counts >= 0) of Poisson
    components of these ``rates``."""
    out = np.array((special.pdtrc if upper else special.pdtr)(counts, rates), ndmin=1)
    beta = counts > rates + BETA_LIMIT_SDS * np.sqrt(rates)
    beta = beta & (rates >= BETA_LIMIT_RATES[0])
    beta = np.broadcast_to(beta & (rates <= BETA_LIMIT_RATES[1]), out.shape)
    if np.any(beta):
        # the upper tail as the negative binomial limit of theta = mu /
        # BETA_LIMIT_Q: scipy's pdtrc, a Gamma's lower tail of large shape,
        # lost P(Y > mu + 5 sd) from means of 1e6 (3% at 1e7, 72% at 1e9);
        # the limit's own error, about (y - mu)^2 / theta, is nil
        k = np.broadcast_to(counts, out.shape)[beta] + 1.0
        theta = np.broadcast_to(rates, out.shape)[beta] / BETA_LIMIT_Q
        out[beta] = _beta_probabilities(
            k, theta, 1.0 - BETA_LIMIT_Q, BETA_LIMIT_Q, upper
        )
    smallest = np.finfo(np.float64).smallest_normal
    if upper and np.size(rates) and np.min(rates) < smallest:  # (the one check)
        # scipy's pdtrc(0, mu) is 0 for means below the normal floats, where
        # P(Y > 0) = 1 - exp(-mu) is mu to the last digit
        tiny = (counts == 0) & (rates < smallest)
        out = np.where(tiny, rates, out)
    lost = np.isnan(out)
    if np.any(lost):
        # scipy's pdtr is NaN for counts of 1e306 at a mean of 1e300 (a
        # median bracket's end); there the Poisson's spread, sqrt(mu), is far
        # below a count's rounding: its normal approximation
        with np.errstate(all="ignore"):
            z = (counts + 0.5 - rates) / np.sqrt(rates)
        out = np.where(lost, special.ndtr(-z if upper else z), out)
    return out


def _beyond_the_floats(k, phi, rates):
    """``I_p(theta, k)`` and its complement where ``phi mu`` overflows (p =
    1 / (1 + phi mu) below 5.6e-309, for which p rounded to 0 and the cdf to 0
    everywhere: a median of NaN), from ``log p = -log(phi) - log(mu)``: ``p^theta
    Gamma(theta + k) / (Gamma(theta + 1) Gamma(k))`` while ``k p`` is below
    1e-15 (its relative error), else the Gamma limit ``P(theta, k p)``."""
    theta = 1.0 / phi
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_p = -(np.log(phi) + np.log(rates))
        log_x = np.log(k) + log_p
        # Gamma(theta + k) / Gamma(k) by poch, which keeps its digits where
        # gammaln's difference lost them (its size, k log k, swamped theta
        # log k: at phi = 10 and mu = 1e308 the cdf was 1.0 for 1.3e-21 at y
        # = 1e100, 30% low at 1e15, and NaN, inf - inf, from 2.6e305); theta
        # is below 1 here (phi mu overflows), so that poch stays finite
        rising = np.log(special.poch(k, theta)) - special.gammaln(theta + 1.0)
        # small theta: the series of log(Gamma(k + theta) / (Gamma(k) Gamma(1 +
        # theta))) in theta, whose terms keep the digits that rounding poch and
        # 1 + theta near 1 loses (sf within 8e-15 of mpmath's, relatively,
        # for theta from 1e-300 to 0.999, either side of SMALL_THETA: the
        # most near k p = 1e-15, from the rounding of theta log p)
        small = theta < SMALL_THETA
        if np.any(small):
            rising = np.where(small, _log_rising_series(k, theta), rising)
        log_series = theta * log_p + rising
        # x = k p as k / phi / mu, to two roundings where it is used (k p of
        # 1e-15 at least, mu above 1 where phi mu overflows): exp(log x) lost
        # 1e-13 of it and of P(theta, x) (theta = 0.9, mu = 1.6e308)
        x = k / phi / rates
        near = log_x < math.log(1e-15)
        upper_gamma = special.gammaincc(theta, x)
        # the Gamma limit's lower tail as 1 - Q where Q is below 1/2: scipy's
        # gammainc was some 4e-15 off near 1 for small theta (1 + 2e-15 at
        # theta = 1e-20, x = 1e-14, 1 - 3.7e-15 at x = 4.1e-15, where P is 1 -
        # 3e-19), a cdf that fell as y rose past the switch from the series
        lower_gamma = np.where(
            upper_gamma < 0.5, 1.0 - upper_gamma, special.gammainc(theta, x)
        )
        lower = np.where(near, np.minimum(np.exp(log_series), 1.0), lower_gamma)
        # the upper tail by expm1, not 1 - lower: 1 - I_p rounded to 0 where it
        # is theta log(1 / (k p)) or so (0 for 7.4e-18 at mu = 1e300, phi = 1e20)
        above = np.where(near, -np.expm1(log_series), upper_gamma)
    return lower, above


def _log_rising_series(k, theta):
    """``log(Gamma(k + theta) / (Gamma(k) Gamma(1 + theta)))`` for ``theta``
    below :data:`SMALL_THETA`, by its Taylor series in theta to the fifth
    power: the n-th coefficient is ``polygamma(n - 1, k) / n! - (-1)^n
    zeta(n) / n`` (``psi(k) + euler_gamma`` for n = 1). The sixth term's
    coefficient is below 0.2, a relative error of a few 1e-16 at theta =
    1e-3 (to the fourth power, 2e-13)."""
    zeta = special.zeta([2.0, 3.0, 4.0, 5.0])
    terms = (
        special.psi(k) + np.euler_gamma,
        (special.polygamma(1, k) - zeta[0]) / 2.0,
        (special.polygamma(2, k) + 2.0 * zeta[1]) / 6.0,
        (special.polygamma(3, k) - 6.0 * zeta[2]) / 24.0,
        (special.polygamma(4, k) + 24.0 * zeta[3]) / 120.0,
    )
    out = terms[-1]
    for term in terms[-2::-1]:  # Horner's rule
        out = term + theta * out
    return theta * out


def _beta_probabilities(k, theta, p, q, upper=False):
    """``I_p(theta, k)`` (``upper``: its complement) (a negative binomial's
    P(Y <= k - 1), or P(Y > k - 1), ``p = theta / (theta + mu)``, ``q = 1 -
    p`` given apart), from ``v = I_x(a, b)`` at the smaller of p and q (``I_q(k,
    theta) = 1 - I_p(theta, k)`` where p is above 1/2: near the Poisson limit p
    rounds within 1e-16 of 1, which cost 1 - p, and the cdf, eight digits at
    phi mu = 1e-8).

    The complement ``1 - v`` is scipy's ``betaincc`` (long double, 10 to 20
    times ``betainc``'s time: a cdf of 1e6 rows took 5.9 s for its sf's 0.8
    s) where a and b both pass :data:`FAST_BETA_LIMIT` (betainc's error grows
    with them), without ``betainc``, and where ``1 - v`` is below 1/2 (a
    cancellation); elsewhere ``1 - v``, v being at most 1/2. (``betainc`` at
    the larger of p and q, y, whose ``1 - y`` scipy takes for x, was up to 150
    ulp off where betaincc was within 1, at a = 4, b = 22.5.)"""
    swap = p > 0.5
    a, b = np.where(swap, k, theta), np.where(swap, theta, k)
    x = np.where(swap, q, p)
    # the complement where swapped, v elsewhere (the lower tail)
    complement = swap != upper
    a, b, x, complement = np.broadcast_arrays(a, b, x, complement)
    large = complement & (np.minimum(a, b) > FAST_BETA_LIMIT)
    if not np.any(large):
        return _beta_tails(a, b, x, complement)
    # betaincc alone there: betainc's v would be thrown away (it cost a cdf at
    # theta = 1000 13 to 17% over betaincc's time)
    out = np.empty(a.shape)
    out[large] = special.betaincc(a[large], b[large], x[large])
    rest = ~large
    out[rest] = _beta_tails(a[rest], b[rest], x[rest], complement[rest])
    return out


def _beta_tails(a, b, x, complement):
    """``I_x(a, b)`` (``complement``: ``1 - I_x(a, b)``) of arrays of one
    shape, by scipy's ``betainc``, but for complements below 1/2, where ``1 -
    betainc`` cancels (and where betainc is NaN): ``betaincc``'s."""
    v = special.betainc(a, b, x)
    out = np.where(complement, 1.0 - v, v)
    slow = complement & ~(v <= 0.5)
    if np.any(slow):
        out[slow] = special.betaincc(a[slow], b[slow], x[slow])
    return out


def _mixture_ppf(q, weights, rates, dispersions=None):
    """Quantiles ``q`` (broadcast, rows last) of these rows' mixtures (of
    negative binomial components with ``dispersions``): the smallest count
    ``y`` with ``cdf(y) >= q``."""
    shape = np.broadcast_shapes(q.shape, weights.shape[:-1])
    n_experts = weights.shape[-1]
    q = np.broadcast_to(q, shape).ravel()

    def flat(a):
        return np.broadcast_to(a, shape + (n_experts,)).reshape(-1, n_experts)

    parameters = [flat(a) for a in (weights, rates)]
    if dispersions is not None:
        parameters.append(flat(dispersions))
    out = np.where(q == 0, -1.0, np.inf)
    todo = np.nonzero((q > 0) & (q < 1))[0]
    if todo.size:
        out[todo] = _counts_at(q[todo], *(a[todo] for a in parameters))
    return out.reshape(shape)


def _counts_at(q, weights, rates, dispersions=None):
    """The smallest counts whose mixture cdf reaches ``q`` in (0, 1), one per
    row (of negative binomial components with ``dispersions``)."""
    # cdf(y) >= q, the definition; within SF_TAIL of 1, where the cdf's
    # rounding is no longer small against 1 - q, sf(y) <= 1 - q instead, which
    # keeps the tail's digits (the sf test for all q > 0.5 was one count too
    # high at q = cdf(k) for 1 in 4 counts, where 1 - q rounded below sf(k))
    tail = 1.0 - q
    by_sf = tail < SF_TAIL

    def reached(y, rows):
        # each row from the one tail it tests
        out = np.empty(rows.size, dtype=bool)
        for upper in (False, True):
            part = by_sf[rows] == upper
            if not np.any(part):
                continue
            some = rows[part]
            counts = np.maximum(y[part], 0)[:, None]
            shape = None if dispersions is None else dispersions[some]
            terms = _probabilities(counts, rates[some], shape, upper)
            mass = _component_sums(weights[some] * terms)
            out[part] = mass <= tail[some] if upper else mass >= q[some]
        return out

    # a bracket (low, high] from the components' normal approximations,
    # widened until cdf(low) < q <= cdf(high)
    z = special.ndtri(q)[:, None]
    # (spreads beyond the floats, phi mu of 1e309: within them, where 0 * inf
    # made the median NaN)
    largest = np.finfo(float).max
    spread = np.minimum(_scales(rates, dispersions), largest)
    # from the components of positive weight only (every row has one): one
    # of weight 0 takes no part in the cdf, and a rate of 1e300 there had
    # the bisection run over 1e300 counts (a median of 2000 rows 1.8 s, for
    # 0.015 s without it)
    used = weights > 0
    with np.errstate(over="ignore"):
        guess = rates + z * spread
        pad = 2.0 + z[:, 0] ** 2 + 0.1 * np.max(np.where(used, spread, 0.0), axis=-1)
        least = np.min(np.where(used, guess, np.inf), axis=-1)
        low = np.maximum(np.floor(least - pad), -1.0)
        # (a count of 0 at least: a widely spread negative binomial's guess
        # for a low q is below 0, and widening a negative bracket ran off to
        # -inf)
        most = np.max(np.where(used, guess, -np.inf), axis=-1)
        high = np.maximum(np.ceil(most + pad), 0.0)
    # (a guess that overflowed, z spreads of 1e308 above 0.5: no lower end,
    # where low = high = the largest float had returned it, for a quantile
    # of 0 at mu = phi = 1e300)
    low = np.where(np.isfinite(low), low, -1.0)
    low, high = np.minimum(low, largest), np.minimum(high, largest)
    rows = np.arange(q.size)
    # Each widening moves an end by one float at least: a bracket narrower
    # than the floats' spacing (low = high = 1e40 at a mean of 1e40, whose
    # standard deviation, 1e20, is below it) stood still through the
    # MAX_WIDENINGS steps (a ppf of 100 rows 1.5 s, for 0.002 s at 1e20)
    # (only the rows whose end moved are tested again: the others' stays)
    wrong = rows
    for _ in range(MAX_WIDENINGS):
        wrong = wrong[reached(low[wrong], wrong) & (low[wrong] >= 0)]
        if not wrong.size:
            break
        wider = low[wrong] - (high[wrong] - low[wrong])
        wider = np.minimum(wider, np.nextafter(low[wrong], -np.inf))
        low[wrong] = np.maximum(wider, -1.0)
    short = rows
    for _ in range(MAX_WIDENINGS):
        short = short[~reached(high[short], short)]
        if not short.size:
            break
        # to the largest float, then to inf where the quantile lies beyond
        # the floats (sf(largest float) above 1 - q: its quantile), without
        # NumPy's overflow warning; a doubling that overflowed went to inf
        # past a quantile below the largest float (inf for 1.47e308 at q = 1
        # - 2^-53, mean 4e306, phi = 1)
        with np.errstate(over="ignore"):
            wider = high[short] + (high[short] - low[short]) + 1.0
            wider = np.maximum(wider, np.nextafter(high[short], np.inf))
        high[short] = np.where(high[short] < largest, wider.clip(max=largest), np.inf)
    # bisection over the counts: cdf(low) < q <= cdf(high)
    active = rows[high - low > 1]
    while active.size:
        mid = low[active] + np.floor((high[active] - low[active]) / 2)
        inside = (mid > low[active]) & (mid < high[active])  # past 2**53: done
        active, mid = active[inside], mid[inside]
        hit = reached(mid, active)
        high[active[hit]] = mid[hit]
        low[active[~hit]] = mid[~hit]
        active = active[high[active] - low[active] > 1]
    return high


def _log_probabilities(counts, rates, dispersions=None, log_rates=None):
    """log P(Y = counts) (counts >= 0, finite) of Poisson components, or of
    negative binomial ones of these ``dispersions`` (phi; 0: Poisson), in
    forms that keep the digits scipy's lose (``poisson.logpmf`` gave 0, for
    -19.3, at y = mu = 1e16; ``nbinom.logpmf`` lost 6.6e-7 at a dispersion of
    1e-7): Poisson components from their rates, ``y (log r - (r - 1))`` plus
    the count's terms with ``r = mu / y``; negative binomial ones by the
    experts' :func:`skmoe.experts.negative_binomial.log_probability`. A count
    that is not whole has probability 0, as a positive one at a rate of 0; a
    NaN count gives NaN, as scipy's. ``log_rates``: the log rates of the
    components whose rate under- or overflowed (to 0, a subnormal float or
    inf), NaN elsewhere, or None: those components from them (at a log rate
    of -857 and y = 3, -2571.8 where the rate of 0 gave -inf)."""
    from .experts.negative_binomial import log_probability
    from .experts.poisson import encode_counts

    integer = np.floor(counts) == counts
    shape = np.broadcast_shapes(counts.shape, rates.shape)
    # the counts' terms at the counts' own shape, (..., rows, 1) from
    # _mixture_logpmf, broadcast against the components below: encoded at the
    # broadcast shape, they were K times the work and 4 K float64 per row (a
    # logpmf of 1e6 rows and 8 experts peaked at 90.8 MiB)
    whole = np.where(integer, counts, 0.0)
    Y = encode_counts(whole.ravel())
    y, log_y, base = (a.reshape(whole.shape) for a in Y[:3])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        nb = np.zeros(1, dtype=bool) if dispersions is None else dispersions > 0
        if nb.size == 0 or not np.all(nb):  # (no rows: the Poisson's)
            # Poisson components from their rates, y (log r - (r - 1)) + base
            # with r = mu / y, whose difference mu - y is exact near r = 1:
            # from the log rates (the experts' form) rounding cost 1e-3 at mu =
            # 1e20, and their overflow guard, linear above 8e303, gave a
            # log-probability of +1.8e302 at y = mu = 1e304
            mu = np.broadcast_to(rates, shape)
            used = (y > 0) & (mu > 0)
            ratio = _log_ratio_term(np.where(used, mu, 1.0), np.where(used, y, 1.0))
            out = np.where(y > 0, y * ratio + base, -mu)
            if log_rates is not None:
                # y d - (mu - y) + base with d = log(mu / y), as the experts'
                d = log_rates - log_y
                low = np.where(y > 0, y * d - y * np.expm1(d) + base, -np.exp(d))
                out = np.where(np.isnan(log_rates), out, low)
        if np.any(nb):
            theta = 1.0 / np.where(nb, dispersions, 1.0)
            eta = np.log(rates)
            if log_rates is not None:
                eta = np.where(np.isnan(log_rates), eta, log_rates)
            nb_out = log_probability(np, y, log_y, base, eta, theta)
            # counts near the largest float beside a small dispersion: inf -
            # inf in the terms (NaN at 1e306 for phi = 1e-8), where the log
            # probability is below -1e305: -inf, as the Poisson's there
            nb_out = np.where(np.isnan(nb_out) & np.isfinite(y), -np.inf, nb_out)
            out = np.where(nb, nb_out, out) if not np.all(nb) else nb_out
    at_zero = np.where(y == 0, 0.0, -np.inf)  # a rate of 0: a point mass at 0
    positive = rates > 0
    if log_rates is not None:
        positive = positive | ~np.isnan(log_rates)
    out = np.where(positive, out, at_zero)
    return np.where(integer, out, np.where(np.isnan(counts), np.nan, -np.inf))
