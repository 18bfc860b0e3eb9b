"""The predictive distribution of a mixture-of-experts regressor."""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import special
from scipy.optimize.elementwise import find_root
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)

from ._backend import host
from ._math import expert_sums_in_place, mixture_std
from ._special import STIRLING_FROM, stirling_remainder

#: Rows per chunk of ``ppf``, ``logpdf``, ``pdf``, ``cdf``, ``mean``, ``var``
#: and ``std``: each makes (values, rows, K) temporaries, and ppf's root finder
#: gathers copies of the parameters, which took 3.5 GB for three quantiles of
#: 1e6 rows and 16 experts in one pass (251 MB in chunks, and 1.4 times
#: faster); logpdf at five values per row 4.6 GB (341 MB), std 633 MB (49 MB),
#: var 320 MiB (36 MiB) at 1e6 rows and 8 experts, 1.5 times as fast in
#: repeated calls (5 times in a process's first call).
PPF_ROWS = 65536
#: Elements of a chunk's (values, rows, K) temporaries: the rows per chunk
#: are also at most ``PPF_ELEMENTS / (K m)`` for K components and m values
#: per row, so that a chunk bounds bytes, not rows (a count logpmf of 1e6
#: rows and 8 experts peaked at 77 MiB in chunks of 65536 rows, 26 MiB in
#: 16384); PPF_ROWS rows up to two components and one value per row.
PPF_ELEMENTS = 2 * PPF_ROWS
#: The largest float, to which a Student t quantile's bracket is clipped.
FLOAT_MAX = np.finfo(float).max
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
EPS = np.finfo(float).eps
#: Doublings of a Student t quantile's bracket before :func:`_mixture_ppf` stops
#: widening it: from a scale of 1e-300 to the largest float, 2**2050.
T_MAX_WIDENINGS = 2100
#: |z| / sqrt(df) beyond which a Student t tail is summed from its series in
#: logarithms: past 1.3e154 ``stdtr`` squares z to inf and returned 0 (a Cauchy
#: tail at z = 1e200 is 3.2e-201), and from 316 two terms of the series are
#: exact to 1e-15.
T_FAR = 316.0
#: Student t components of ``df / 2`` below this draw their chi-square from
#: logarithms (see :meth:`PredictiveStudentTMixture.sample`).
SMALL_T_HALF_DF = 0.05
#: z below which :func:`scipy.special.ndtr` returns 0 where the standard
#: normal's distribution function is a subnormal float (from z = -37.68 down to
#: -38.47, where it is 5e-324): :func:`_ndtr` takes it from ``log_ndtr`` there.
NDTR_UNDERFLOW = -37.5


class _RowMixture:
    """What the per-row mixtures share: rows on the last axis, selection of rows,
    checked values, work in chunks of rows, and the quantile-based methods.

    Subclasses name their per-row ``(n_rows, n_components)`` parameter arrays in
    ``_parameters`` (the mixing weights first), take them in that order, and
    define ``ppf``.
    """

    _parameters: tuple[str, ...] = ("weights",)
    #: ``(slot, parts)`` where the estimators' ``predict_distribution`` found
    #: a gate weight underflowed to 0 (:func:`with_log_parts`), else None:
    #: ``logpdf`` or ``logpmf`` of a row of ``slot >= 0`` sums the gate's
    #: ``log_weights`` (rows ``slot`` of the arrays ``parts``, which may hold
    #: parameters too, or the log rates or means of components whose rate
    #: or mean under- or overflowed) with the components' log densities, as
    #: ``log_likelihood_samples`` (X far out: -6834 from ``log(weights)`` for
    #: its -4714).
    _log_parts = None
    #: the largest float of the dtype the estimator computed in (a float32
    #: model's, :func:`with_log_parts`): the mean leaves out a component of
    #: gate weight 0 whose share ``w_k mu_k`` is beyond it, as ``predict``
    #: does (a float32 model's e^104 was in the mean, 1.47e45, where predict
    #: served the other's 1)
    _largest_share = float(np.finfo(np.float64).max)
    #: names of log parts (:func:`with_log_parts`) that only the moments
    #: read, which ``logpdf`` and ``logpmf`` do not take
    _moment_parts: tuple[str, ...] = ()

    def _arrays(self):
        return tuple(getattr(self, name) for name in self._parameters)

    def __len__(self):
        return self.weights.shape[0]

    def __repr__(self):
        n_rows, n_components = self.weights.shape
        name = type(self).__name__
        return f"{name}(n_rows={n_rows}, n_components={n_components})"

    def __array__(self, dtype=None, copy=None):
        # NumPy took the rows (each one a distribution of one row) for a
        # sequence of sequences and failed at its 64 dimensions
        if dtype is not None and np.dtype(dtype) == object:
            # an object array holds the distribution itself, as any object:
            # np.array([dist, dist], dtype=object) has shape (2,), and
            # holder[:] = [dist, dist] fills an object array
            held = np.empty((), dtype=object)
            held[()] = self
            return held
        raise TypeError(
            f"{type(self).__name__} is a distribution of {len(self)} rows, not an "
            "array: its methods give arrays (mean(), std(), ppf(q), sample(), "
            "...), and list() gives one distribution per row."
        )

    def __getitem__(self, index):
        """The mixture of the rows ``index`` selects (an int: one row, kept 2-D)."""
        rows = index
        if isinstance(index, numbers.Integral) and not isinstance(
            index, bool | np.bool_
        ):
            rows = [index]  # fancy indexing keeps the rows axis
        elif not isinstance(index, slice):
            rows = np.asarray(index) if not isinstance(index, tuple) else None
            if rows is not None and rows.size == 0:
                rows = rows.astype(np.intp)
            if (
                rows is not None
                and rows.ndim == 0
                and np.issubdtype(rows.dtype, np.integer)
            ):
                # a 0-d integer array is an int, as to NumPy's indexing
                rows = rows.reshape(1)
            if rows is None or not (
                rows.ndim == 1
                and (rows.dtype == bool or np.issubdtype(rows.dtype, np.integer))
            ):
                got = (
                    type(index).__name__
                    if rows is None or rows.ndim == 0
                    else f"an array of dtype {rows.dtype} and shape {rows.shape}"
                )
                raise TypeError(
                    f"{type(self).__name__} selects rows only, with an int, a "
                    "slice, a boolean mask or a 1-D array of row indices; got "
                    f"{got}."
                )
        out = type(self)(*(array[rows] for array in self._arrays()))
        if self._log_parts is not None:
            slot, parts = self._log_parts
            out._log_parts = (slot[rows], parts)
            out._largest_share = self._largest_share
        return out

    def _rows_last(self, values, name):
        """``values`` as floats, checked to be numeric and to broadcast against the
        rows (last axis)."""
        array = _numeric(values, name, "biuf")
        values = array.astype(float)
        try:
            np.broadcast_shapes(values.shape, (len(self),))
        except ValueError:
            raise ValueError(
                f"{name} of shape {values.shape} does not broadcast against the "
                f"{len(self)} rows of the distribution: pass a scalar, one value "
                f"per row, or an array whose last axis has length {len(self)}."
            ) from None
        return values

    def _by_rows(self, values, function, parts=None):
        """``function(values, *parameters, **parts)`` (for a Gaussian mixture,
        ``weights, means, scales``), values broadcast against the rows (last
        axis), in chunks of ``PPF_ROWS`` rows at most, and of ``PPF_ELEMENTS``
        (values, rows, components) elements; ``parts``: keyword arrays
        (n_rows, n_components), chunked alike, or None."""
        n_rows = len(self)
        parts = {} if parts is None else parts
        shape = np.broadcast_shapes(values.shape, (n_rows,))
        per_row = math.prod(shape[:-1]) * self.weights.shape[1]
        step = max(1, min(PPF_ROWS, PPF_ELEMENTS // max(per_row, 1)))
        if n_rows <= step:
            return function(values, *self._arrays(), **parts)
        values = np.broadcast_to(values, shape)
        out = np.empty(shape)
        for start in range(0, n_rows, step):
            rows = slice(start, start + step)
            parameters = (array[rows] for array in self._arrays())
            chunk = {name: array[rows] for name, array in parts.items()}
            out[..., rows] = function(values[..., rows], *parameters, **chunk)
        return out

    def _log_density(self, values, function):
        """:meth:`_by_rows` of a log density ``function``, from the gate's log
        weights in the rows that have them (:attr:`_log_parts`)."""
        out = self._by_rows(values, function)
        if self._log_parts is None:
            return out
        slot, parts = self._log_parts
        rows = np.flatnonzero(slot >= 0)
        if rows.size == 0:  # (a selection of rows that kept none)
            return out
        kept = {name: array[slot[rows]] for name, array in parts.items()}
        # parts that are no parameter (log_weights, log rates or means): keywords
        logs = {n: kept.pop(n) for n in list(kept) if n not in self._parameters}
        for name in self._moment_parts:
            logs.pop(name, None)
        arrays = zip(self._parameters, self._arrays(), strict=True)
        held = type(self)(*(kept.get(name, array[rows]) for name, array in arrays))
        values = np.broadcast_to(values, out.shape)[..., rows]
        out[..., rows] = held._by_rows(values, function, logs)
        return out

    def _moment(self, function):
        """``function(values, *parameters)`` of each row (a mean, a variance,
        (n_rows,)), in chunks of ``PPF_ROWS`` rows, ``values`` a placeholder of
        zeros that ``function`` ignores: in one pass its (n_rows, K)
        temporaries held five times the parameters' size."""
        return self._by_rows(np.zeros(len(self)), function)

    def _at_probabilities(self, q, function):
        """``function`` (a ``_mixture_ppf``) of the probabilities ``q``, checked
        to be in [0, 1], by rows; NaN where ``q`` is NaN, as scipy.stats'."""
        q = self._rows_last(q, "q")
        missing = np.isnan(q)
        _check_probabilities(q, missing, "q")
        out = self._by_rows(np.where(missing, 0.5, q), function)
        return np.where(missing, np.nan, out)

    def _draw_components(self, n_samples, random_state):
        """The random generator, the row indices and, for each of ``n_samples``
        draws per row, the component drawn by the weights, (n_samples, n_rows)."""
        # scikit-learn's words for a bad n_samples (GaussianMixture.sample's
        # constraint), rather than NumPy's from deep in rng.uniform; a bool
        # is an Integral to them, and NumPy's error came back
        caller = f"{type(self).__name__}.sample"
        if isinstance(n_samples, bool | np.bool_):
            raise InvalidParameterError(
                f"The 'n_samples' parameter of {caller} must be an int in the "
                f"range [1, inf). Got {n_samples!r} instead."
            )
        validate_parameter_constraints(
            {
                "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
                "random_state": ["random_state", np.random.Generator],
            },
            {"n_samples": n_samples, "random_state": random_state},
            caller_name=caller,
        )
        # a Generator has each method the samplers call, as RandomState
        rng = (
            random_state
            if isinstance(random_state, np.random.Generator)
            else check_random_state(random_state)
        )
        expert = draw_categories(self.weights, n_samples, rng)
        return rng, np.arange(len(self.weights)), expert

    def median(self):
        """Median of each row's mixture.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``ppf(0.5)`` for each row.
        """
        return self.ppf(0.5)

    def interval(self, confidence):
        """Equal-tailed interval holding ``confidence`` of each row's mixture.

        Parameters
        ----------
        confidence : float or array-like
            Probability mass in [0, 1] between the ends, broadcast against the
            rows as ``q`` in :meth:`ppf`.

        Returns
        -------
        low : ndarray of shape (n_rows,)
            ``ppf((1 - confidence) / 2)``, the lower end (for a scalar
            ``confidence``; otherwise of its broadcast shape with (n_rows,)).
        high : ndarray of shape (n_rows,)
            ``ppf((1 + confidence) / 2)``, the upper end, as scipy.stats
            distributions' ``interval``.
        """
        confidence = self._rows_last(confidence, "confidence")
        _check_probabilities(confidence, np.isnan(confidence), "confidence")
        return self.ppf((1 - confidence) / 2), self.ppf((1 + confidence) / 2)


class _ContinuousMixture(_RowMixture):
    """What the per-row mixtures of a continuous family share: density,
    distribution and survival functions, by the functions ``_logpdf_rows``,
    ``_cdf_rows`` and ``_sf_rows`` of (values, *parameters) that subclasses
    set."""

    #: whether ``_cdf_rows`` and ``_sf_rows`` take the rows' log parts
    #: (:func:`with_log_parts`) as keywords, as ``_logpdf_rows`` does
    _tails_from_logs = False

    def logpdf(self, y):
        """Log density of each row's mixture at ``y``.

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows (the last axis): a
            scalar for the same value in every row, shape (n_rows,) for one value
            per row, or shape (m, 1) for m values per row.

        Returns
        -------
        ndarray
            The log density, of the broadcast shape of ``y`` and (n_rows,):
            (n_rows,) for a scalar or one value per row, (m, n_rows) for m values
            per row.
        """
        return self._log_density(self._rows_last(y, "y"), self._logpdf_rows)

    def pdf(self, y):
        """Density of each row's mixture at ``y``.

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows as in :meth:`logpdf`.

        Returns
        -------
        ndarray
            ``exp(logpdf(y))``, of the broadcast shape of ``y`` and (n_rows,);
            ``inf`` where the density exceeds the largest float.
        """
        with np.errstate(over="ignore"):
            return np.exp(self.logpdf(y))

    def cdf(self, y):
        """Cumulative distribution of each row's mixture at ``y``.

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows as in :meth:`logpdf`.

        Returns
        -------
        ndarray
            P(Y <= y) under each row's mixture, of the broadcast shape of ``y``
            and (n_rows,).
        """
        # (scipy's gammainc gave 1 + 2.4e-14 for a Gamma of shape 1e-300)
        values = self._rows_last(y, "y")
        return np.minimum(self._tails(values, self._cdf_rows), 1.0)

    def sf(self, y):
        """Survival function of each row's mixture at ``y``, ``1 - cdf(y)``.

        Summed from the components' upper tails, so that it keeps its digits
        where ``cdf`` rounds to 1 (a standard normal's 1.1e-19 at 9, where
        ``1 - cdf(9)`` is 0).

        Parameters
        ----------
        y : float or array-like
            Values of the target, broadcast against the rows as in :meth:`logpdf`.

        Returns
        -------
        ndarray
            P(Y > y) under each row's mixture, of the broadcast shape of ``y``
            and (n_rows,).
        """
        values = self._rows_last(y, "y")
        return np.minimum(self._tails(values, self._sf_rows), 1.0)

    def _tails(self, values, function):
        """:meth:`_by_rows` of ``function`` (``_cdf_rows`` or ``_sf_rows``),
        given the log parts of the rows that have them where the family takes
        them (``_tails_from_logs``: a Gamma mean below the floats, of which
        ``means`` holds the smallest normal float)."""
        if self._tails_from_logs:
            return self._log_density(values, function)
        return self._by_rows(values, function)


class _LocationScaleMixture(_ContinuousMixture):
    """What the per-row mixtures of a location-scale family share beside
    density and distribution function: quantiles, by :func:`_mixture_ppf`,
    which takes the parameters of either family."""

    def ppf(self, q):
        """Quantile ``q`` of each row's mixture (the root of cdf(y) = q).

        Solved by a vectorized bracketed root finder: the quantile of the mixture
        lies between the smallest and the largest of its components' quantiles.
        Halley's steps from the weighted mean of those quantiles come first
        (Gaussian components, or Student t ones of finite ``df``), which solve
        the ordinary rows in a few evaluations of the distribution function;
        the root finder takes the others.

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
            The quantiles, of the broadcast shape of ``q`` and (n_rows,); ``-inf``
            for ``q = 0`` and ``inf`` for ``q = 1``, and where a heavy tail puts
            the quantile beyond the largest float (Student t of df 0.5 at q =
            1e-160). Where the scales are below the float spacing of the means
            (means of 1e16, scales of 0.1), the float nearest the quantile.
        """
        # in row chunks: the root finder's gathered (elements, K) copies stay small
        return self._at_probabilities(q, _mixture_ppf)


class PredictiveMixture(_LocationScaleMixture):
    """One Gaussian mixture per row: p(y | x_i) = sum_k w_ik N(y; mu_ik, s_ik^2).

    Returned by :meth:`MoERegressor.predict_distribution`. Rows are the last axis
    of every result, as with a frozen :mod:`scipy.stats` distribution whose
    parameters are arrays: ``logpdf(y)`` with ``y`` of shape (n_rows,) scores each
    row at its own ``y``; pass ``y`` of shape (m, 1) to evaluate m values per row,
    giving shape (m, n_rows).

    Indexing selects rows: ``dist[index]``, with ``index`` an int, a slice, a
    boolean mask of length n_rows or an array of row indices, is the
    PredictiveMixture of those rows, in that order. An int gives a mixture of
    one row (so ``dist[i].mean()`` has shape (1,)).

    Parameters
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        Gate probabilities; each row sums to one.
    means : ndarray of shape (n_rows, n_experts)
        Expert means.
    scales : ndarray of shape (n_rows, n_experts)
        Expert standard deviations.

    Attributes
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        The mixing weights of each row, as floats, divided by their sum
        where it is more than 1e-12 from one.
    means : ndarray of shape (n_rows, n_experts)
        The components' means, as floats.
    scales : ndarray of shape (n_rows, n_experts)
        The components' standard deviations, as floats.

    See Also
    --------
    PredictiveStudentTMixture : Its heavy-tailed counterpart, of Student-t
        components (``noise="student_t"``).
    MoERegressor.predict_distribution : The method that returns it.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import PredictiveMixture
    >>> dist = PredictiveMixture([[0.5, 0.5]], [[-1.0, 1.0]], [[1.0, 1.0]])
    >>> dist.mean(), dist.ppf(0.5)
    (array([0.]), array([0.]))
    >>> float(np.round(dist.std()[0], 4))
    1.4142
    >>> dist = PredictiveMixture(
    ...     [[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]],
    ...     [[-1.0, 1.0], [2.0, 0.0], [0.0, 5.0]],
    ...     [[1.0, 1.0], [0.5, 1.0], [1.0, 1.0]],
    ... )
    >>> dist
    PredictiveMixture(n_rows=3, n_components=2)
    >>> dist[1:].mean(), dist[[True, False, True]].mean()
    (array([2., 4.]), array([0., 4.]))
    """

    _parameters = ("weights", "means", "scales")

    @staticmethod
    def _logpdf_rows(*parameters, **parts):
        return _mixture_logpdf(*parameters, **parts)

    @staticmethod
    def _cdf_rows(*parameters):
        return _mixture_cdf(*parameters)

    @staticmethod
    def _sf_rows(y, weights, means, scales):
        # the cdf of the reflection: P(Y > y) = P(-Y < -y)
        return _mixture_cdf(-y, weights, -means, scales)

    def __init__(self, weights, means, scales):
        self.weights, self.means, self.scales = _location_scale(weights, means, scales)

    def mean(self):
        """Mixture mean of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k mu_k`` for each row.
        """
        return self._moment(_mean_rows)

    def var(self):
        """Mixture variance of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k (s_k^2 + (mu_k - mean)^2)`` for each row.
        """
        return self._moment(_variance_rows)

    def std(self):
        """Mixture standard deviation of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            The square root of :meth:`var`, computed so that it stays finite
            where only the variance overflows.
        """
        return self._by_rows(np.zeros(len(self)), _mixture_scale)

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
            Column ``i`` holds the draws from row ``i``'s mixture.
        """
        rng, rows, expert = self._draw_components(n_samples, random_state)
        noise = rng.standard_normal(expert.shape)
        return self.means[rows, expert] + self.scales[rows, expert] * noise


class PredictiveStudentTMixture(_LocationScaleMixture):
    """One Student t mixture per row: p(y | x_i) = sum_k w_ik t(y; df_ik, mu_ik, s_ik).

    Returned by :meth:`MoERegressor.predict_distribution` for Student t
    experts. ``t(y; df, mu, s)`` is the location-scale Student t density,
    :func:`scipy.stats.t` ``(df, loc=mu, scale=s)``; a component of infinite
    ``df`` is the Gaussian N(mu, s^2). Rows are the last axis of every result
    and indexing selects rows, as for :class:`PredictiveMixture`.

    Parameters
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        Gate probabilities; each row sums to one.
    means : ndarray of shape (n_rows, n_experts)
        The experts' centres (locations ``mu``).
    scales : ndarray of shape (n_rows, n_experts)
        The experts' scale parameters ``s`` (not standard deviations: a
        component's is ``s * sqrt(df / (df - 2))`` for ``df > 2``).
    df : float or array-like
        Degrees of freedom, positive, ``np.inf`` for a Gaussian component:
        a scalar, one per expert (shape (n_experts,)), one per row (shape
        (n_rows, 1)), or of shape (n_rows, n_experts).

    Attributes
    ----------
    weights : ndarray of shape (n_rows, n_experts)
        The mixing weights of each row, as floats, divided by their sum
        where it is more than 1e-12 from one.
    means : ndarray of shape (n_rows, n_experts)
        The components' centres, as floats.
    scales : ndarray of shape (n_rows, n_experts)
        The components' scale parameters, as floats.
    df : ndarray of shape (n_rows, n_experts)
        The components' degrees of freedom, as floats (read-only: a scalar
        ``df`` is one value broadcast over the rows and components).

    See Also
    --------
    PredictiveMixture : The Gaussian counterpart (every ``df`` infinite).

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import PredictiveStudentTMixture
    >>> dist = PredictiveStudentTMixture(
    ...     [[0.5, 0.5], [1.0, 0.0]], [[-1.0, 1.0], [2.0, 0.0]], [[1.0, 1.0]] * 2, df=4
    ... )
    >>> dist
    PredictiveStudentTMixture(n_rows=2, n_components=2)
    >>> dist.mean(), dist.var()  # a component's variance: 4 / (4 - 2) = 2
    (array([0., 2.]), array([3., 2.]))
    >>> cauchy = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df=1)
    >>> cauchy.var(), np.round(cauchy.interval(0.5), 12)  # quartiles at -1 and 1
    (array([inf]), array([[-1.],
           [ 1.]]))
    >>> dist[1:].df
    array([[4., 4.]])
    """

    _parameters = ("weights", "means", "scales", "df")

    @staticmethod
    def _logpdf_rows(*parameters, **parts):
        return _t_mixture_logpdf(*parameters, **parts)

    @staticmethod
    def _cdf_rows(*parameters):
        return _t_mixture_cdf(*parameters)

    @staticmethod
    def _sf_rows(y, weights, means, scales, df):
        # the cdf of the reflection: P(Y > y) = P(-Y < -y)
        return _t_mixture_cdf(-y, weights, -means, scales, df)

    def __init__(self, weights, means, scales, df):
        self.weights, self.means, self.scales = _location_scale(weights, means, scales)
        array = _numeric(df, "df", "iuf")  # no bools
        try:
            # a read-only view: a scalar df copied to (n, K) added a third
            # to the distribution's memory
            self.df = np.broadcast_to(array.astype(float), self.weights.shape)
        except ValueError:
            raise ValueError(
                f"df of shape {array.shape} does not broadcast against the "
                f"weights' shape {self.weights.shape}: pass a scalar, one value "
                "per component, or an array of shape (n_rows, n_components)."
            ) from None
        if not np.all(self.df > 0):
            bad = float(self.df[~(self.df > 0)][0])
            raise ValueError(
                f"df must be positive (np.inf for a Gaussian component); got {bad}."
            )

    def mean(self):
        """Mixture mean of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k mu_k`` for each row: the mean where every weighted
            component has ``df > 1``. Where one has ``df <= 1`` the mean does not
            exist, and this is the weighted centre (finite, so that it can serve
            as the point prediction).
        """
        return self._moment(_mean_rows)

    def var(self):
        """Mixture variance of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``sum_k w_k (v_k + (mu_k - mean)^2)`` for each row, with ``v_k = s_k^2
            df_k / (df_k - 2)`` (``s_k^2`` for infinite ``df_k``); ``inf`` where a
            component of positive weight has ``df <= 2``.
        """
        return self._moment(_t_variance_rows)

    def std(self):
        """Mixture standard deviation of each row.

        Returns
        -------
        ndarray of shape (n_rows,)
            The square root of :meth:`var` (``inf`` where a weighted component
            has ``df <= 2``), computed so that it stays finite where only the
            variance overflows.
        """
        return self._by_rows(np.zeros(len(self)), _t_mixture_scale)

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
            Column ``i`` holds the draws from row ``i``'s mixture.
        """
        rng, rows, expert = self._draw_components(n_samples, random_state)
        noise = rng.standard_normal(expert.shape)
        df = self.df[rows, expert]
        student = np.isfinite(df)
        if np.any(student):
            # t = N / sqrt(chi2_df / df), chi2_df = 2 Gamma(df / 2), as NumPy's
            # standard_t draws it (which gives NaN for df inf); the normal draws
            # come first, so that a mixture of infinite df draws as the Gaussian
            half = np.where(student, df, 2.0) / 2
            gamma = rng.standard_gamma(half)
            with np.errstate(divide="ignore", over="ignore"):  # (below 1e-308: inf)
                noise = np.where(student, noise * np.sqrt(half / gamma), noise)
            tiny = student & (half < SMALL_T_HALF_DF)
            if np.any(tiny):
                # Gamma(a) = Gamma(a + 1) U^(1 / a), in logs: at df = 0.01 the
                # draws of Gamma(0.005) underflowed to 0 in 2.8% of cases, and
                # gave t = inf where P(|t| > 1.8e308) is 0.08%
                a = half[tiny]
                log_gamma = np.log(rng.standard_gamma(a + 1.0))
                log_gamma = log_gamma + np.log(rng.random(a.shape)) / a
                with np.errstate(over="ignore", invalid="ignore"):  # (past: inf)
                    factor = np.exp(0.5 * (np.log(a) - log_gamma))
                    noise[tiny] = rng.standard_normal(a.shape) * factor
        with np.errstate(over="ignore", invalid="ignore"):
            return self.means[rows, expert] + self.scales[rows, expert] * noise


def _check_probabilities(values, missing, name):
    """Raise a ValueError naming the first of ``values`` outside [0, 1] (NaN,
    where ``missing``, passes)."""
    outside = ~((values >= 0) & (values <= 1) | missing)
    if np.any(outside):
        raise ValueError(
            f"{name} must be in [0, 1]; got {float(values[outside][0])!r}."
        )


def _numeric(values, name, kinds):
    """``values`` as an array, checked to hold numbers: of a dtype whose kind
    is in ``kinds``, or objects that are real numbers (not bools).
    asarray(None, dtype=float) is NaN and asarray("0.5", dtype=float) 0.5:
    convert only numbers, as scipy.stats distributions would. An Array API
    array is copied to the host (NumPy refused one on another device)."""
    array = np.asarray(host(values))
    numeric = array.dtype.kind in kinds or (
        array.dtype.kind == "O"
        and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
            for v in array.flat
        )
    )
    if not numeric:
        got = type(values).__name__ if array.ndim == 0 else f"dtype {array.dtype}"
        raise TypeError(
            f"{name} must be numeric array-like (a float or an array of "
            f"floats); got {got}."
        )
    return array


def _real_array(values, name, bools=False):
    """``values`` as a float array, refused (by :func:`_numeric`) unless they
    are real numbers: asarray(dtype=float) dropped a complex value's imaginary
    part with a warning, and read numeric strings. Bools only where asked (a
    one-hot weight)."""
    return np.asarray(_numeric(values, name, "biuf" if bools else "iuf"), dtype=float)


def _location_scale(weights, means, scales):
    """The weights, centres and scales of a location-scale mixture as floats,
    checked to be of one shape (n_rows, n_components), the weights normalized
    (:func:`normalized_weights`), the scales positive, the weighted centres
    finite."""
    weights = _real_array(weights, "weights", bools=True)
    means = _real_array(means, "means")
    scales = _real_array(scales, "scales")
    if weights.ndim != 2 or not (weights.shape == means.shape == scales.shape):
        raise ValueError(
            "weights, means and scales must be arrays of the same shape "
            "(n_rows, n_components); got "
            f"{weights.shape}, {means.shape} and {scales.shape}."
        )
    weights = normalized_weights(weights)
    # infinite only for a component of weight 0 (an expert the gate dropped)
    finite = (scales < np.inf) | (weights == 0)
    if not np.all((scales > 0) & finite):
        raise ValueError("scales must be positive, and finite where weighted.")
    # NaN: every moment NaN (and the densities, where its weight is 0)
    if np.any(np.isnan(means)) or not np.all(np.isfinite(means) | (weights == 0)):
        raise ValueError("means must be finite where weighted, and not NaN.")
    return weights, means, scales


def normalized_weights(weights):
    """Mixing weights (n_rows, n_components), checked to be non-negative and to
    sum to one per row within 1e-6, and divided by their sum where it is more
    than 1e-12 from one, so that the distribution function reaches every
    probability below 1 (a row summing to 1 - 1e-7 left a Poisson quantile at
    1 - 1e-9 widening its bracket to inf; a Gaussian cdf passed 1). Rows
    already within rounding are kept as they are, so that a selection of rows
    keeps their values. (The sums by :func:`_component_sums`: np.sum's
    order followed the layout, and of 300 Fortran-ordered rows of K = 8 off
    by up to 1e-8, 110 were divided into other floats than the C-ordered
    ones.)"""
    total = _component_sums(weights)[:, None]
    if np.any(weights < 0):
        row = int(np.argmax((weights < 0).any(axis=1)))
        raise ValueError(
            "weights must be non-negative and sum to one per row; got "
            f"{float(weights[row].min())} in row {row}."
        )
    bad = ~np.isclose(total[:, 0], 1.0, rtol=1e-6)
    if np.any(bad):
        row = int(np.argmax(bad))
        raise ValueError(
            "weights must be non-negative and sum to one per row; got a sum of "
            f"{float(total[row, 0])} in row {row}."
        )
    off = np.abs(total[:, 0] - 1) > 1e-12
    if np.any(off):  # only those rows: np.where made two (n_rows, K) arrays
        weights = weights.copy()
        weights[off] /= total[off]
    return weights


def draw_categories(weights, n_samples, rng):
    """For each row of ``weights`` (n_rows, n_categories), ``n_samples`` draws
    of a category by its weight, (n_samples, n_rows): the first category whose
    cumulative weight exceeds a uniform draw over the row's total."""
    cumulative = np.cumsum(weights, axis=1)
    u = rng.uniform(size=(n_samples, len(weights), 1)) * cumulative[:, -1:]
    return np.minimum((u > cumulative).sum(axis=-1), weights.shape[1] - 1)


def _mixture_mean(weights, means):
    """``sum_k w_k mu_k`` per row, without the NaN of 0 * inf where an expert of
    weight 0 has an infinite mean; summed pairwise in one order
    (:func:`skmoe._math.expert_sums_in_place`), so that a row's mean does not
    depend on the other rows nor on the layout (np.sum's order did: of 300
    rows of K = 8, 162 differed in the last bit between C- and
    Fortran-ordered parameters, as ``predict_distribution``'s are)."""
    terms = weights * np.where(weights > 0, means, 0.0)
    # (in place: the transpose's rows are the components)
    return expert_sums_in_place(terms.T).copy()


def _mean_rows(_, weights, centres, *others):
    """Means of the mixtures of these rows, for :meth:`_RowMixture._moment`
    (the first argument, its placeholder for values, is unused; ``centres``:
    the components' means, the parameter after the weights in every family;
    ``others``: the family's other parameters, which the mean does not
    take)."""
    return _mixture_mean(weights, centres)


def _variance_rows(_, weights, means, scales):
    """Variances of the Gaussian mixtures of these rows, for
    :meth:`_RowMixture._moment`."""
    return _mixture_variance(weights, means, scales)


def _mixture_variance(weights, means, scales):
    """``sum_k w_k (s_k^2 + (mu_k - mean)^2)`` per row, as ``sum (sqrt(w_k)
    s_k)^2 + (sqrt(w_k) (mu_k - mean))^2``: a component of weight 1e-300 at
    1e200 squared its deviation to inf (for a variance of 1e100), and one of
    weight 0 and infinite scale gave NaN; such components take no part."""
    used = weights > 0
    root = np.sqrt(weights)
    mean = _mixture_mean(weights, means)
    with np.errstate(over="ignore", invalid="ignore"):  # unused: set to 0
        deviation = np.where(used, root * (means - mean[:, None]), 0.0)
        spread = np.where(used, root * scales, 0.0)
        terms = np.square(spread, out=spread)
        terms += np.square(deviation, out=deviation)
        return expert_sums_in_place(terms.T).copy()  # (the mean's order)


def _mixture_scale(_, weights, means, scales):
    """Standard deviations of the mixtures of these rows (the first argument, a
    placeholder for :meth:`_RowMixture._by_rows`'s values, is unused)."""
    # in units of each row's largest scale or mean, so that scales below
    # 1e-154 do not square to 0
    mean = _mixture_mean(weights, means)
    used = weights > 0  # experts of weight 0 set no unit (nor NaN)
    deviation = np.where(used, means - mean[:, None], 0.0)
    largest = np.max(np.where(used, np.maximum(scales, np.abs(deviation)), 0), 1)
    unit = np.where((largest > 0) & np.isfinite(largest), largest, 1.0)[:, None]
    relative = deviation / unit
    with np.errstate(over="ignore"):  # an unused expert's: set to 0 below
        variances = np.where(used, (scales / unit) ** 2, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):  # inf scales: below
        std = mixture_std(np, weights.T, relative.T, variances.T, 0 * mean)
    # a used component of infinite scale (a Gamma of mean 1e300 and shape
    # 1e-300): inf, where inf - inf in the units gave NaN
    return np.where(np.isinf(largest), np.inf, unit[:, 0] * std)


def _mixture_logpdf(y, weights, means, scales, log_weights=None):
    """Log densities at ``y`` (broadcast, rows last) of the mixtures of these
    rows; ``log_weights``: the gate's, where known (else ``log(weights)``)."""
    # z or z**2 inf: a density of 0; NaN (inf / inf) at a component of weight 0
    z = _standardized(y, means, scales)
    with np.errstate(over="ignore"):
        z2 = z**2
    log_weights = _log_weights(weights, log_weights)
    log_components = log_weights - 0.5 * z2 - np.log(scales) - 0.5 * np.log(2 * np.pi)
    used = log_weights > -np.inf  # (weights > 0 where they come from weights)
    return _log_component_sums(np.where(used, log_components, -np.inf))


def _standardized(y, means, scales):
    """``(y - means) / scales``, ``y`` broadcast with rows last, also where the
    offset overflows but the ratio does not: from the halved offset there
    (y = 1e308, a mean of -1e308 and a scale of 1e300: 2e8, where inf gave a
    Gaussian log density of -inf for -2e16). inf where the ratio overflows,
    NaN where ``y`` and a mean are infinite alike."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = (y[..., None] - means) / scales
        overflowed = np.isinf(z)
        if np.any(overflowed):
            half = y[..., None] / 2 - means / 2
            z = np.where(overflowed & np.isfinite(half), half / scales * 2, z)
    return z


def _log_weights(weights, log_weights):
    """``log_weights`` where given (the gate's), else ``log(weights)``."""
    if log_weights is not None:
        return log_weights
    with np.errstate(divide="ignore"):  # a weight of 0: -inf
        return np.log(weights)


def with_log_parts(distribution, rows, log_weights, *, largest=None, **parts):
    """``distribution`` (an estimator's) with the gate's ``log_weights`` of its
    ``rows`` (n_kept, n_components) for their ``logpdf`` or ``logpmf``, and
    ``parts``, parameters of these rows that stand for the distribution's there
    (:attr:`_RowMixture._log_parts`); ``largest``: the largest float of the
    estimator's dtype, where not float64's (:attr:`_RowMixture._largest_share`)."""
    slot = np.full(len(distribution), -1)
    slot[rows] = np.arange(len(rows))
    distribution._log_parts = (slot, {"log_weights": log_weights, **parts})
    if largest is not None:
        distribution._largest_share = largest
    return distribution


def taking_part(weights, log_weights, log_means, largest, log_exposures=None):
    """Which components (n_rows, n_components) take part in the rows' mean, as
    in the estimator's ``predict``: those of positive ``weights``, and those
    of weight 0 whose share ``w_k mu_k`` (from ``log_weights`` and
    ``log_means``) is at most ``largest`` (the largest float of the
    estimator's dtype). With ``log_exposures`` (n_rows,; the means are
    counts at those exposures e), the share that decides is ``min(e, 1)``
    times the share per unit exposure: at e = e^-20 a share of e^720 per
    unit takes part, as e^700; at e = e^20 one of e^700 takes part too,
    where its counts' share, e^720, is beyond the floats (``predict``
    raises there; ``predict_distribution`` too, where the float64 mean
    overflows)."""
    decisive = log_weights + log_means
    if log_exposures is not None:  # (the share per unit above e = 1)
        decisive = decisive - np.maximum(log_exposures, 0.0)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        return (weights > 0) | (np.exp(decisive) <= largest)


def with_log_shares(
    distribution,
    out,
    method,
    rows,
    log_weights,
    log_means,
    log_spreads,
    tiny,
    light,
    log_exposures=None,
):
    """``out``, ``distribution``'s means (``method`` "mean"), variances
    ("var") or standard deviations ("std"), with those of its ``rows`` from
    the logs of the components that the floats lose there: components
    ``tiny`` (their means below the normal floats) and ``light`` (their gate
    weights below them, or held by the largest float); ``log_weights``,
    ``log_means`` and ``log_spreads`` (the logs of the components' variances)
    are (n_held, n_components), for the ``rows`` held; ``log_exposures``
    (n_held,), where the means are counts at exposures, decide with them
    which components of weight 0 take part in the mean (:func:`taking_part`).

    The other components make a mixture of the distribution's family (a
    light one's weight 0, a tiny one's mean 0), whose moment takes those
    components' shares from their logs: a tiny one's ``w_k mu_k`` and ``w_k
    s_k^2`` (its deviation from the mean stays with the others', at a mean of
    0), a light one's ``w_k mu_k`` and ``w_k (s_k^2 + (mu_k - mean)^2)``
    (about the others' mean, which its ``w_k mu_k`` changes by a fraction
    ``w_k`` of its deviation)."""
    arrays = [array[rows] for array in distribution._arrays()]
    # (the mean's components: one of weight 0 takes part where its share is a
    # float of the estimator's dtype, as in its predict, and none beyond)
    used = taking_part(
        arrays[0], log_weights, log_means, distribution._largest_share, log_exposures
    )
    arrays[0] = np.where(light, 0.0, arrays[0])  # (their share is below)
    arrays[1] = np.where(tiny, 0.0, arrays[1])  # (the means, in every family)
    others = type(distribution)(*arrays)
    held = tiny | light
    out = np.array(out, dtype=float)
    if method == "mean":  # their w_k mu_k from the logs
        log_share = _log_component_sums(
            np.where(held & used, log_weights + log_means, -np.inf)
        )
        with np.errstate(over="ignore"):  # (a mean beyond the floats: inf)
            out[rows] = others.mean() + np.exp(log_share)
        return out
    # a light component's deviation from the mean, |mu - mean| (mu (1 -
    # mean / mu) where mu overflows, below it: mu alone was 2.1e-9 off the
    # std at a mean of 1e300 beside a rate of 4.9e308)
    mean = others.mean()[:, None]
    # (beyond is NaN where mu is below the mean, and unused there: a warning
    # of "invalid value encountered in log1p" came from std() and var())
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        deviation = np.abs(np.exp(log_means) - mean)
        beyond = log_means + np.log1p(-np.exp(np.log(mean) - log_means))
        log_deviation = np.where(np.isfinite(deviation), np.log(deviation), beyond)
    log_terms = log_weights + np.where(
        light, np.logaddexp(log_spreads, 2.0 * log_deviation), log_spreads
    )
    log_share = _log_component_sums(np.where(held, log_terms, -np.inf))
    with np.errstate(over="ignore"):  # (a variance beyond the floats: inf)
        if method == "var":
            out[rows] = others.var() + np.exp(log_share)
        else:
            out[rows] = np.hypot(others.std(), np.exp(0.5 * log_share))
    return out


def _unweighted(weights, components, value):
    """``components`` with ``value`` at components of weight 0, which take no
    part (an infinite mean and scale there gave NaN terms)."""
    return np.where(weights > 0, components, value)


def _ndtr(z):
    """The standard normal distribution function at ``z``, as
    :func:`scipy.special.ndtr`, but also where it is a subnormal float: ndtr
    gives 0 below z = -37.68 (2.9e-316 at z = -38), and quantiles of mixtures
    of q below 1e-310 stopped there (q = 1e-315 of components 0.3 N(2, 0.25)
    and 0.7 N(5, 1): -32.68, whose cdf is 4e-311, for -32.96)."""
    z = np.asarray(z)
    out = special.ndtr(z)
    far = z < NDTR_UNDERFLOW
    if np.any(far):
        out = np.array(out)
        out[far] = np.exp(special.log_ndtr(z[far]))
    return out


def _mixture_cdf(y, weights, means, scales):
    """Distribution functions at ``y`` (broadcast, rows last) of these rows."""
    # z inf: ndtr 0 or 1; NaN (inf / inf) at a component of weight 0
    z = _standardized(y, means, scales)
    # summed as ppf sums them (:func:`_component_sums`), whatever the layout
    return _component_sums(_unweighted(weights, weights * _ndtr(z), 0.0))


def _t_cdf(df, z):
    """Standard Student t distribution functions at ``z`` (broadcast with
    ``df``): the standard normal's where ``df`` is inf (scipy 1.17's stdtr gives
    it too, but an infinite df is not documented for it; NumPy's standard_t
    gives NaN), and from the tail's series past ``T_FAR``."""
    gaussian = np.isinf(df)
    nu, z = np.broadcast_arrays(np.where(gaussian, 1.0, df), z)
    out = np.array(special.stdtr(nu, z))
    far = np.abs(z) > T_FAR * np.sqrt(nu)
    if np.any(far):
        lower = _t_lower_far_at(nu[far], z[far])
        out[far] = np.where(z[far] < 0, lower, 1.0 - lower)
    # stdtr's 0 where the tail is still a subnormal float (df 300: 0 below
    # 5.2e-311, z = -184)
    gone = (out == 0) & (z < 0) & ~far & ~gaussian
    if np.any(gone):
        out[gone] = _t_lower_middle(nu[gone], z[gone])
    # stdtr(1, z) is off by up to 2.3e-9 near 0 (0.5 at z = -3e-10, not 0.5 -
    # 9.8e-11); other df by 2e-16: the Cauchy's own, exact in both tails
    cauchy = nu == 1
    if np.any(cauchy):
        out[cauchy] = np.arctan2(1.0, -z[cauchy]) / np.pi
    if np.any(gaussian):
        out = np.where(gaussian, _ndtr(z), out)
    return out


#: Steps of the continued fraction of :func:`_t_lower_fraction` at most: in the
#: tails it serves (below the normal floats, |z| <= T_FAR sqrt(df), df up to
#: T_FRACTION_DF) it took 1 to 11 steps at df 123 to 3e5.
T_FRACTION_STEPS = 300
#: :func:`_t_lower_middle` takes the continued fraction up to this df, the
#: integral above: the fraction loses 1 - x = z^2 / (df + z^2) to rounding, eps
#: df / z^2 of the tail (3e-13 at df 1e6, 3e-11 at 1e8, NaN from 1e154); the
#: integral, good to 3e-13 from df 130 to 1e308, took twice its time at df 300.
T_FRACTION_DF = 1e5
#: Gauss-Laguerre nodes and weights (20) of :func:`_t_lower_middle`'s integral:
#: 30 and 40 nodes gave the same tails to 1e-15 of themselves at df 130 to 1e308.
T_LAGUERRE = np.polynomial.laguerre.laggauss(20)
#: The power of two by which :func:`_subnormal_tails` scales Student t tails
#: below the normal floats, so that they keep all their digits (5e-324 times
#: 2**600 is 2e-143).
SUBNORMAL_SHIFT = 600


#: From this df up to 100, :func:`_t_log_beta` takes :func:`_t_log_gamma_ratio`:
#: below it the difference of gammaln's was the nearer to mpmath (absolute
#: error of log B, rms over df 1 to 7: 1.4e-16 against 2.3e-16), and the
#: quantiles of df 0.1 to 7 that the ratio moved went away from mpmath's (485
#: of 987 by more than half a float, 330 toward).
T_RATIO_DF = 7.0


def _t_log_beta(df):
    """log B(df / 2, 1 / 2) = log(pi) / 2 - (log Gamma((df + 1) / 2) - log
    Gamma(df / 2)): from df ``T_RATIO_DF`` to 100 from
    :func:`_t_log_gamma_ratio` (to 5e-16; :func:`_t_log_norm`'s difference of
    gammaln's there was 6e-14 off at df 94, scipy's betaln 1.3e-14 at df
    63), else from :func:`_t_log_norm`: its difference of gammaln's below
    ``T_RATIO_DF`` (to 1.1e-15 at df 0.1 to 0.2, 7.3e-16 above, where the
    ratio's steps up left it 8.5e-16 off), its series from df 100 (to
    1e-15; betaln was 7e-10 off at df = 8e5, a difference of gammaln's of
    6e6)."""
    middle = (df >= T_RATIO_DF) & (df < 100)
    series = -_t_log_norm_outer(df) - 0.5 * np.log(df)
    if not np.any(middle):
        return series
    ratio = _t_log_gamma_ratio(np.where(middle, 0.5 * df, 50.0))
    return np.where(middle, 0.5 * math.log(math.pi) - ratio, series)


def _t_log_gamma_ratio(half):
    """``log Gamma(half + 1/2) - log Gamma(half)`` for positive ``half``
    without the difference of log-gammas: from ``STIRLING_FROM`` on ``log(h)
    / 2 + h log1p(1 / (2 h)) - 1/2`` plus the difference of Stirling's
    remainders (:func:`~._special.stirling_remainder`), below from ``h = half
    + n`` there, times ``prod_j (half + j) / (half + j + 1/2)``."""
    shifted = np.array(half, dtype=float, copy=True)
    factor = np.ones_like(shifted)
    for _ in range(int(STIRLING_FROM)):  # half > 0: at most 10 steps up
        low = shifted < STIRLING_FROM
        if not low.any():
            break
        np.multiply(factor, shifted / (shifted + 0.5), out=factor, where=low)
        np.add(shifted, 1.0, out=shifted, where=low)
    value = 0.5 * np.log(shifted) + (shifted * np.log1p(0.5 / shifted) - 0.5)
    remainders = stirling_remainder(shifted + 0.5) - stirling_remainder(shifted)
    return value + remainders + np.log(factor)


def _ratio_parts(numerators, denominators):
    """``prod(numerators) / prod(denominators)`` (positive) as a mantissa in
    [0.5, 1) and a power of two, where the ratio or its parts overflow."""
    mantissa, exponent = np.ones(()), np.zeros((), dtype=int)
    for value, power in [(v, 1) for v in numerators] + [(v, -1) for v in denominators]:
        m, e = np.frexp(value)
        mantissa, exponent = mantissa * m**power, exponent + power * e
    m, e = np.frexp(mantissa)
    return m, exponent + e


def _scaled_negative_power(mantissa, exponent, p, shift):
    """``2**shift (mantissa 2**exponent)**-p`` to a few of its floats, where it
    is below the normal floats without the shift: ``exponent p`` is taken
    exactly (``p`` split into 40 bits and the rest), as ``exp(-p log r)``
    lost ``p log r`` times 1e-16 of itself (7e-14 of a tail of 1e-300)."""
    mantissa_p, exponent_p = np.frexp(p)
    high = np.ldexp(np.round(np.ldexp(mantissa_p, 40)), exponent_p - 40)
    product = exponent * high  # (exact: |exponent| < 2**12)
    whole = np.floor(product)
    fraction = (product - whole) + exponent * (p - high)
    powers = np.clip(shift - whole, -4000, 4000).astype(int)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        value = np.ldexp(np.power(mantissa, -p) * np.exp2(-fraction), powers)
        # 0 below the floats (mantissa**-p overflowed there for a large p)
        negligible = shift - p * (exponent + np.log2(mantissa)) < -1200
    return np.where(negligible, 0.0, value)


def _t_lower_far(df, mantissa, exponent, shift=0):
    """``2**shift P(T <= -|z|)`` for T standard Student t, ``|z| / sqrt(df) =
    mantissa 2**exponent`` above T_FAR (|z| past the largest float too: an
    offset of 1e307 in scales of 0.01, z = 1e309, df 0.5: a tail of 4e-156):
    half the incomplete beta I_x(df / 2, 1 / 2) at x = df / (df + z^2), from
    its series x^a / B(a, 1/2) (1 / a + x / (2 (a + 1)) + 3 x^2 / (8 (a + 2))
    + ...), with x^a = r^-df (1 + 1 / r^2)^-a for r = |z| / sqrt(df).

    r^-df comes from :func:`_scaled_negative_power`: from exp(a log x) the
    quantiles of df 1.5 at q = 1e-300 were 781 floats off mpmath's.
    """
    a = 0.5 * df
    # (in floats scaled to the normal ones, and rounded once to the subnormal
    # ones: a subnormal head times the rest was 10 of their spacings off)
    work = max(shift, SUBNORMAL_SHIFT)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        u = np.ldexp(1.0 / np.square(mantissa), -2 * exponent)  # 1 / r^2
        x = u / (1.0 + u)
        series = 1 / a + x / (2 * (a + 1)) + 3 * x * x / (8 * (a + 2))
        head = _scaled_negative_power(mantissa, exponent, df, work)
        rest = np.exp(-a * np.log1p(u) - _t_log_beta(df))
        return np.ldexp(0.5 * head * rest * series, shift - work)


def _t_lower_far_at(df, z, shift=0):
    """:func:`_t_lower_far` at ``z`` (|z| / sqrt(df) above T_FAR)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # z = +-inf: a tail of 0
        mantissa, exponent = _ratio_parts([np.abs(z)], [np.sqrt(df)])
    return _t_lower_far(df, mantissa, exponent, shift)


def _beta_fraction(a, b, x):
    """The continued fraction of the incomplete beta (DLMF 8.17.22, by Lentz's
    method): ``I_x(a, b) = x^a (1 - x)^b / (a B(a, b))`` times it, converging
    fast for ``x`` well below ``(a + 1) / (a + b + 2)``."""
    tiny = 1e-300
    c = np.ones(x.shape)
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    # (elements held once converged: further steps of 1 +- 1e-16 made them
    # drift while others converged)
    converged = np.zeros(x.shape, dtype=bool)
    for m in range(1, T_FRACTION_STEPS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
            c = 1.0 + numerator / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            step = c * d
            h = np.where(converged, h, h * step)
        converged |= np.abs(step - 1.0) <= EPS
        if np.all(converged):
            break
    return h


def _t_lower_fraction(df, z, shift=0):
    """``2**shift P(T <= -|z|)`` for T standard Student t, df up to
    T_FRACTION_DF and ``|z|`` up to T_FAR sqrt(df) (:func:`_t_lower_middle`):
    half the incomplete beta I_x(df / 2, 1 / 2) at x = df / (df + z^2), from
    its continued fraction (:func:`_beta_fraction`)."""
    a = 0.5 * df
    r2 = np.square(z) / df
    x = 1.0 / (1.0 + r2)
    work = max(shift, SUBNORMAL_SHIFT)  # (rounded once, as in _t_lower_far)
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        log_front = (
            -a * np.log1p(r2)
            + 0.5 * (np.log(r2) - np.log1p(r2))
            - np.log(a)
            - _t_log_beta(df)
            + work * np.log(2.0)
        )
        value = 0.5 * np.exp(log_front) * _beta_fraction(a, 0.5, x)
        return np.ldexp(value, shift - work)


def _t_lower_integral(df, z, shift=0):
    """``2**shift P(T <= -|z|)`` for T standard Student t and ``|z|`` up to
    T_FAR sqrt(df) (:func:`_t_lower_middle`), for a large df: the density f at
    t = |z| times the integral of f(t + v) / f(t) over v > 0, by Gauss-Laguerre
    (``T_LAGUERRE``) in w = v / rate, where ``rate = -(log f)'(t)``
    (``f(t + v) / f(t) = e^-w h(w)``, h smooth: about ``exp(-w^2 / (2 t^2))``
    for a large df). Good to 3e-13 of the tail from df 130 to 1e308."""
    t = np.abs(z)
    nodes, node_weights = T_LAGUERRE
    work = max(shift, SUBNORMAL_SHIFT)  # (rounded once, as in _t_lower_far)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        log_density = _t_log_norm(df) - 0.5 * (df + 1) * np.log1p(t * t / df)
        rate = t / (1 + (t * t - 1) / (df + 1))  # ((df + 1) t / (df + t^2))
        log_front = log_density - np.log(rate) + work * np.log(2.0)
        v = nodes[:, None] / rate
        steps = (2 * t * v + v * v) / (df + t * t)
        h = np.exp(nodes[:, None] - 0.5 * (df + 1) * np.log1p(steps))
        value = np.exp(log_front) * (node_weights @ h)
        # (0 far below the floats, where t^2 or the density underflowed)
        value = np.where(log_front < -1500, 0.0, value)
    return np.ldexp(value, shift - work)


def _t_lower_middle(df, z, shift=0):
    """``2**shift P(T <= -|z|)`` for T standard Student t and ``|z|`` up to
    T_FAR sqrt(df) (a tail below the normal floats: df of 123 or more): from
    the incomplete beta's continued fraction (:func:`_t_lower_fraction`) up
    to df T_FRACTION_DF, from an integral of the density
    (:func:`_t_lower_integral`) above.

    stdtr underflows to 0 where the tail is still a subnormal float (df 300:
    quantiles of q below 5.2e-311 stopped at -179.06 of a mixture whose cdf
    is 5.2e-311 there); the hypergeometric series that took its place was
    3.5e-11 off at df 1e5 (scipy's betaln) and NaN from df 4.5e5 (its
    hyp2f1): the quantile 1e-315 of df 1e6 was -37.726 for -37.981. The
    continued fraction alone, for every df, gave the quantile 1e-310 of df
    1e8 63 floats off, of df 1e20 -47.28 for -37.66.
    """
    out = np.empty(np.shape(z))
    fraction = df <= T_FRACTION_DF
    out[fraction] = _t_lower_fraction(df[fraction], z[fraction], shift)
    out[~fraction] = _t_lower_integral(df[~fraction], z[~fraction], shift)
    return out


def _t_ppf(df, q):
    """Standard Student t quantiles ``q`` (broadcast with ``df``, ``np.inf`` for
    the standard normal's), within 1e-12 or so of themselves."""
    # the upper tail by symmetry, from 1 - q (exact for q >= 0.5)
    upper = q > 0.5
    tail = np.where(upper, 1.0 - q, q)
    gaussian = np.isinf(df)
    nu = np.where(gaussian, 1.0, df)
    with np.errstate(divide="ignore", over="ignore"):  # tail 0: -inf
        z = special.stdtrit(nu, tail)
        # stdtrit fails far out: -4.7e153 for df 0.5 at every q below 1e-78, +inf
        # for df 2.5 at 1e-300 (the quantile is -1.6e120), and +inf at q = 0;
        # there the series' first term, x^a / (2 a B(a, 1/2)) = q with
        # x = df / z^2, off by about x of itself, 1e-12 from |z| = 1e6 sqrt(df).
        # It is taken where |z| > 1e6 sqrt(df), log x < -2 log(1e6): only where
        # log(2 q) < -27.6 a, as a B(a, 1/2) >= 1 (betaln's cost for every
        # element was a fifth of this function's)
        a = 0.5 * nu
        z, nu, a, tail = np.broadcast_arrays(z, nu, a, tail)
        candidates = np.log(2 * tail) < -27.6 * a
        if np.any(candidates):
            a_c, nu_c = a[candidates], nu[candidates]
            log_x = (
                np.log(2 * tail[candidates]) + np.log(a_c) + special.betaln(a_c, 0.5)
            ) / a_c
            far = -np.sqrt(nu_c) * np.exp(-0.5 * log_x)
            z = np.array(z, copy=True)
            z[candidates] = np.where(
                np.abs(far) > 1e6 * np.sqrt(nu_c), far, z[candidates]
            )
    # the median, exactly (SciPy 1.15's stdtrit gives 7e-17 there, off the
    # side of 0 the quantile must keep)
    z = np.where(tail == 0.5, 0.0, z)
    if np.any(gaussian):
        with np.errstate(divide="ignore"):
            z = np.where(gaussian, special.ndtri(tail), z)
    return np.where(upper, -z, z)


def _shared_t_ppf(df, q):
    """``_t_ppf(df, q[..., None])`` (``df`` of rows x components, ``q`` rows
    last), computed once for components that share a row's df and once for
    rows that share their df and q (a fitted model's df is one for all:
    stdtrit took a fifth of ppf's time, K times over)."""
    shape = np.broadcast_shapes(q.shape + (1,), df.shape)
    if df.shape[-1] > 1 and np.all(df == df[..., :1]):
        df = df[..., :1]
    if q.size > 1 and np.all(q == q.flat[0]) and np.all(df == df[:1]):
        q, df = q.flat[:1], df[:1]
    return np.broadcast_to(_t_ppf(df, q[..., None]), shape)


def _shared_t_log_norm(df):
    """:func:`_t_log_norm` of ``df`` (rows x components), once for all rows
    where they share their df (a fitted model's, one per expert)."""
    if df.ndim > 1 and df.shape[0] > 1 and np.all(df == df[:1]):
        return np.broadcast_to(_t_log_norm(df[:1]), df.shape)
    return _t_log_norm(df)


def _t_log_norm(df):
    """log Gamma((df + 1) / 2) - log Gamma(df / 2) - log(pi df) / 2, the log of
    the standard t density at 0: from df ``T_RATIO_DF`` to 100 by
    :func:`_t_log_gamma_ratio` (within 6 floats of mpmath's there, where the
    difference of gammaln's was up to 5.8e-14 off at df 30 to 100, 518 floats,
    and 1e-14 at df 7 to 30), else by :func:`_t_log_norm_outer`."""
    middle = (df >= T_RATIO_DF) & (df < 100)
    if not np.any(middle):
        return _t_log_norm_outer(df)
    # each branch on its own elements (the ratio took 4.8 times the time of
    # gammaln's difference, on 3e5 halves in 3.5 to 50)
    flat, middle = np.ravel(df), np.ravel(middle)
    out = np.empty(flat.shape)
    inner = flat[middle]
    out[middle] = _t_log_gamma_ratio(0.5 * inner) - 0.5 * np.log(np.pi * inner)
    out[~middle] = _t_log_norm_outer(flat[~middle])
    return out.reshape(np.shape(df))


def _t_log_norm_outer(df):
    """:func:`_t_log_norm` outside ``T_RATIO_DF`` to 100: below it the
    difference of gammaln's (within 5 floats of mpmath's at df 0.1 to 7), from
    100 on the series of the gammas' ratio (within a float)."""
    half = df / 2
    # (the branch not kept: pi df overflows from df = 5.7e307, and inf - inf
    # is NaN; NumPy warned 14 times in a fit at df=1e308)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = (
            special.gammaln(half + 0.5)
            - special.gammaln(half)
            - 0.5 * np.log(np.pi * df)
        )
    # from df = 100 the asymptotic series of the gammas' ratio (its next term is
    # 2e-18): their difference kept only 4e-10 at df = 1e6 (gammaln of 5e5 is
    # 6e6) and nothing at 1e15, where this reaches -log(2 pi) / 2
    y = 1 / np.maximum(half, 50.0)
    y2 = y * y
    series = -0.5 * np.log(2 * np.pi) + y * (
        -1 / 8 + y2 * (1 / 192 + y2 * (-1 / 640 + y2 * 17 / 14336))
    )
    return np.where(df >= 100, series, exact)


def _t_variance_factors(df):
    """A t component's variance per squared scale, df / (df - 2): 1 where df is
    inf, inf where df <= 2."""
    with np.errstate(divide="ignore", invalid="ignore"):  # df 2 or inf: set below
        return np.where(np.isinf(df), 1.0, np.where(df > 2, df / (df - 2), np.inf))


def _t_variance_rows(_, weights, means, scales, df):
    """Variances of the Student t mixtures of these rows, for
    :meth:`_RowMixture._moment`: the Gaussian ones' of the components'
    standard deviations."""
    with np.errstate(over="ignore", invalid="ignore"):  # df <= 2: inf
        effective = scales * np.sqrt(_t_variance_factors(df))
    return _mixture_variance(weights, means, effective)


def _t_mixture_scale(_, weights, means, scales, df):
    """Standard deviations of the Student t mixtures of these rows: the Gaussian
    ones' (:func:`_mixture_scale`) of the components' standard deviations."""
    used = weights > 0
    factors = np.sqrt(_t_variance_factors(df))
    with np.errstate(over="ignore", invalid="ignore"):  # beyond 1.8e308: below
        effective = scales * factors
    infinite = used & np.isinf(factors)  # df <= 2
    # a component's std past the largest float, in a mixture's that need not
    # be (scale 1e306, df 2.000001 and weight 1e-10: 1.4e304, not inf)
    overflowed = used & np.isinf(effective) & ~infinite
    unused = infinite | overflowed | ~used
    std = _mixture_scale(_, weights, means, np.where(unused, 1.0, effective))
    if np.any(overflowed):
        # in units of 2**32: the factors are at most 6.7e7, sqrt(df / (df - 2))
        # at the float after 2, and their product with a scale below 2**1024 / 2**32
        # stays finite; exact, but where a centre is subnormal
        rows = np.flatnonzero(np.any(overflowed, axis=-1))
        unit = 2.0**32
        smaller = (scales[rows] / unit) * factors[rows]
        held = _mixture_scale(
            _,
            weights[rows],
            means[rows] / unit,
            np.where(unused[rows] & ~overflowed[rows], 1.0, smaller),
        )
        with np.errstate(over="ignore"):  # a mixture's std past the floats: inf
            std[rows] = unit * held
    return np.where(np.any(infinite, axis=-1), np.inf, std)


def _t_mixture_logpdf(y, weights, means, scales, df, log_weights=None):
    """Log densities at ``y`` (broadcast, rows last) of these rows' Student t
    mixtures; ``log_weights``: the gate's, where known."""
    gaussian = np.isinf(df)
    nu = np.where(gaussian, 1.0, df)
    # z or z**2 inf: a density of 0; NaN (inf / inf) at a component of weight 0
    z = _standardized(y, means, scales)
    with np.errstate(over="ignore"):
        z2 = z**2
        u = np.abs(z) / np.sqrt(nu)
    # log(1 + u^2) as 2 log u past u = 1e150 (to 1e-300), where u^2 overflows:
    # a Cauchy at z = 1e200 has a log density of -922, not -inf
    far = u > 1e150
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # where z itself overflowed (mean -1e300, scale 1e-300, y = 1e300: a
        # log density of -2075, not -inf), log u from the halved offset
        half = np.abs(y[..., None] / 2 - means / 2)
        log_u = np.where(
            np.isinf(u) & np.isfinite(half),
            np.log(half) + math.log(2) - np.log(scales) - 0.5 * np.log(nu),
            np.log(u),
        )
        log1p_u2 = np.where(far, 2 * log_u, np.log1p(u * u))
    log_weights = _log_weights(weights, log_weights)
    kernel = np.where(gaussian, -0.5 * z2, -0.5 * (nu + 1) * log1p_u2)
    log_norm = np.where(gaussian, -0.5 * np.log(2 * np.pi), _shared_t_log_norm(nu))
    # in the Gaussian's order: the same floats as PredictiveMixture's where df is inf
    log_components = log_weights + kernel - np.log(scales) + log_norm
    used = log_weights > -np.inf  # (weights > 0 where they come from weights)
    return _log_component_sums(np.where(used, log_components, -np.inf))


def _t_mixture_cdf(y, weights, means, scales, df):
    """Distribution functions at ``y`` (broadcast, rows last) of these rows'
    Student t mixtures."""
    # z past the floats: set below; NaN (inf / inf) at a component of weight 0
    with np.errstate(over="ignore", invalid="ignore"):
        z = (y[..., None] - means) / scales
    with np.errstate(invalid="ignore"):
        components = _t_cdf_overflowing(df, z, y[..., None] / 2 - means / 2, scales)
    return _component_sums(_unweighted(weights, weights * components, 0.0))


def _t_cdf_overflowing(df, z, half_offset, scales):
    """:func:`_t_cdf` at ``z = 2 half_offset / scales``, also where that ratio
    (or the offset) overflowed to +-inf: from the halved offset where only the
    offset did, and where the ratio did, from the tail's series, with
    log |z| = log |half_offset| + log 2 - log(scales).

    A |z| past the largest float still has a tail (df 0.5, scale 0.01: 4e-156
    at an offset of -1e307, z = -1e309), which a z of -inf made 0: the
    quantile 1e-155 was searched for above -1.8e308 and came out +inf.
    """
    z, offending = _from_half_offset(z, half_offset, scales)
    out = _t_cdf(df, z)
    if offending is not None and np.any(
        overflowed := offending & np.isinf(z) & ~np.isinf(df)  # the ratio too
    ):
        nu = np.broadcast_to(df, z.shape)[overflowed]
        half = np.broadcast_to(half_offset, z.shape)[overflowed]
        scale = np.broadcast_to(scales, z.shape)[overflowed]
        # |z| / sqrt(df) = 2 |half_offset| / (scale sqrt(df))
        parts = _ratio_parts([np.abs(half), 2.0], [scale, np.sqrt(nu)])
        lower = _t_lower_far(nu, *parts)
        out = np.array(out, copy=True)
        out[overflowed] = np.where(z[overflowed] < 0, lower, 1.0 - lower)
    return out


def _from_half_offset(z, half_offset, scales):
    """``z``, and where it is +-inf but ``half_offset`` finite (the offset
    overflowed, not y or a mean), ``2 |half_offset| / scales`` of its sign:
    inf where the ratio overflows too. Means of -+1.7e308 and scales of 1e308
    gave z = inf for 3.15 at y = -1.45e308, and a Gaussian cdf of 0.29959 for
    0.3.

    Returns ``z`` and where it was so (None where nowhere, ``z`` unchanged).
    """
    # an infinite offset (y or a mean of +-inf) keeps its inf
    offending = np.isinf(z) & np.isfinite(half_offset)
    if not np.any(offending):
        return z, None
    with np.errstate(over="ignore"):
        ratio = np.abs(half_offset) / scales * 2
    return np.where(offending, np.copysign(ratio, z), z), offending


def _mixture_ppf(q, weights, means, scales, df=None):
    """Quantiles ``q`` (broadcast, rows last) of the mixtures of these rows: of
    Gaussian components, or of Student t ones with degrees of freedom ``df``."""
    # components of weight 0 neither bound the quantile nor set its units (an
    # unused one with an infinite mean or scale made them infinite or NaN)
    used = weights > 0
    with np.errstate(invalid="ignore", over="ignore"):  # q = 0 or 1: infinite ends
        if df is None:
            z = special.ndtri(q[..., None])
            component_q = means + scales * z
            component_low = component_high = component_q
        else:
            # a t quantile far out is good to 1e-13 or so of itself (its leading
            # term), more than the margin below: widened by 1e-9 of it, and the
            # bracket checked before the root is solved
            z = _shared_t_ppf(df, q)
            component_low = means + scales * np.where(z < 0, z * (1 + 1e-9), z)
            component_high = means + scales * np.where(z > 0, z * (1 + 1e-9), z)
    # widened a little, so that rounding cannot erase the sign change at an end
    # (it does when the extreme quantile belongs to a component of ~0 weight),
    # and by two floats more: 1e-3 of a scale below the spacing of the means
    # (1e16 with scale 0.1) rounds away
    margin = 1e-3 * np.where(used, scales, 0.0).max(axis=-1)
    with np.errstate(invalid="ignore", over="ignore"):  # q = 0 or 1: infinite ends
        lowest = np.where(used, component_low, np.inf).min(axis=-1)
        highest = np.where(used, component_high, -np.inf).max(axis=-1)
        tight_low, tight_high = _weighted_bracket(q, weights, means, scales, df)
        lowest = np.maximum(lowest, tight_low)
        highest = np.minimum(highest, tight_high)
        low = _next(_next(lowest - margin, -np.inf), -np.inf)
        high = _next(_next(highest + margin, np.inf), np.inf)
        # a component's quantile overflows where the mixture's need not (a
        # component of df 0.5 and weight 0.1 at q = 1e-155: -2.5e309, the
        # mixture's -2.5e307; a Gaussian one at 1.7e308 of scale 1e307 and
        # weight 0.5 at q = 0.9: inf, the mixture's 1.784e308, where its
        # bracket's lower end, 1.7841e308 less a margin, was returned): ends
        # within the floats, but for q = 0 or 1
        inner = (q > 0) & (q < 1)
        low = np.where(inner, np.clip(low, -FLOAT_MAX, FLOAT_MAX), low)
        high = np.where(inner, np.clip(high, -FLOAT_MAX, FLOAT_MAX), high)
        done = ~np.isfinite(low) | ~np.isfinite(high)
    q_full = np.broadcast_to(q, low.shape)
    out = np.where(done, low, 0.0)
    if np.any(~done):
        # ordinary rows by Halley's method (a few cdf evaluations, each
        # cheaper than the root finder's), from the components' standardized
        # quantiles z; the others, and any it leaves unsolved, by the root
        # finder below
        solved, found = _halley_quantiles(
            q_full, weights, means, scales, low, high, done, z, df
        )
        out[solved] = found
        done = done | solved
    if np.any(~done):
        rows = np.nonzero(~done)
        parameters = (weights, means, scales) + (() if df is None else (df,))
        gathered = [
            np.broadcast_to(a, low.shape + a.shape[-1:])[rows] for a in parameters
        ]
        weights, means, scales = gathered[:3]
        # where an offset y - mean can overflow (|y| <= 1.8e308: a mean of 2**960
        # or more), z from the halved offset (means of -+1.7e308 and scales
        # 1e308: a Gaussian quantile 0.3 was 1.5e-3 of itself off); always
        # for Student t components, whose cdf takes it past the floats too
        halved = df is not None or bool(
            np.any(np.abs(np.where(weights > 0, means, 0.0)) >= 2.0**960)
        )
        if df is None:

            def component_cdf(z, index, half_offset):
                if half_offset is not None:
                    z = _from_half_offset(z, half_offset, scales[index])[0]
                return _ndtr(z)

        else:
            df = gathered[3]

            def component_cdf(z, index, half_offset):
                return _t_cdf_overflowing(df[index], z, half_offset, scales[index])

        target = q_full[rows]
        # upper quantiles through the survival function: a cdf near 1 keeps
        # only an absolute 1e-16 of the tail (3e-5 of a scale off at 1 - 1e-12)
        upper = target > 0.5
        tail = np.where(upper, 1.0 - target, target)
        sign = np.where(upper, -1.0, 1.0)

        def excess(t, index, origin, unit):
            # y = origin + t * unit. find_root passes only the unfinished
            # elements, with their index; increasing in t on both branches
            # beyond 1.8e308 scales: z = +-inf; NaN (inf / inf) at a
            # component of weight 0, which takes no part
            with np.errstate(over="ignore", invalid="ignore"):
                offset = origin[:, None] - means[index] + t[:, None] * unit[:, None]
                z = sign[index, None] * offset / scales[index]
            # (a t component's cdf is taken past there from log |z|, of the
            # offset halved, which does not overflow where y and the mean do not)
            half_offset = (
                None
                if not halved
                else origin[:, None] / 2
                - means[index] / 2
                + t[:, None] * (unit[:, None] / 2)
            )
            with np.errstate(invalid="ignore"):
                terms = weights[index] * component_cdf(z, index, half_offset)
            mass = _component_sums(_unweighted(weights[index], terms, 0.0))
            # relative to the tail: as a difference of probabilities, the root
            # finder's tolerance on it (the smallest normal float) stopped a
            # quantile of q = 1e-307 at its bracket's end, 1e-3 scales off
            with np.errstate(over="ignore"):
                ratio = mass / tail[index]
            _subnormal_tails(ratio, z, index, half_offset, weights, scales, tail, df)
            return sign[index] * (ratio - 1.0)

        index = np.arange(target.shape[0])
        low, high = low[rows], high[rows]
        largest = np.where(weights > 0, scales, 0.0).max(axis=-1)
        if df is not None:
            low, high, beyond = _widened(excess, low, high, largest)
        else:
            # Gaussian brackets hold the root, but where an end was clipped to
            # the largest float: checked there, and +-inf where it lies beyond
            beyond = np.zeros(index.shape)
            edge = np.flatnonzero(np.maximum(-low, high) == FLOAT_MAX)
            if edge.size:

                def edge_excess(t, i, origin, unit):
                    return excess(t, edge[i], origin, unit)

                low[edge], high[edge], beyond[edge] = _widened(
                    edge_excess, low[edge], high[edge], largest[edge]
                )
        # solved for t = y / unit, in units of a power of two (exact) near each
        # row's largest scale: the root finder's absolute tolerance, 4 * 2.2e-308,
        # stopped it 1e-8 scale off the root for scales of 1e-300; and in units
        # large enough that the bracket's width stays below the largest float
        # (means of -1e308 and 1e308), as the root finder subtracts its ends
        extent = np.maximum(np.abs(low), np.abs(high))
        unit = np.maximum(_power_of_two(largest), _power_of_two(extent) * 2.0**-1020)
        origin = np.zeros(index.shape)
        # (invalid: at q = 5e-324 and df <= 0.01 the root finder's own
        # arithmetic made NaN, taken as lost below, and NumPy's warning leaked)
        with np.errstate(invalid="ignore"):
            res = find_root(
                excess, (low / unit, high / unit), args=(index, origin, unit)
            )
        # a subnormal q (5e-324), whose cdf is 0 at both ends of a bracket
        # 2e-3 scales wide: its middle
        lost = ~np.isfinite(res.x)
        # (halves first: ends of -inf and 1e308, at df=1e-3, overflowed)
        res.x[lost] = ((low / 2 + high / 2) / unit)[lost]
        live = np.where(weights > 0, scales, np.inf)
        x = _nearest_float(res, excess, index, origin, unit, live)
        if df is not None:
            x = _nearest_neighbour(excess, x, index)
        x = np.where(beyond == 0, x, np.copysign(np.inf, beyond))
        out[rows] = x
    return out


#: Halley steps of :func:`_halley_quantiles` before a row is left to the root
#: finder (ordinary rows take 3 to 5; a bisection step where one leaves the
#: bracket)
HALLEY_STEPS = 40
#: Doublings of the step, from one float, by which :func:`_halley_quantiles`
#: looks for the excess's sign change next to its root.
HALLEY_REACH = 40
#: A Halley step where ``|f f''|`` exceeds this times ``f'^2`` (Halley's
#: correction shrinks Newton's step below a third, or turns it) is Newton's:
#: between well-separated components, where ``F`` is flat but for a component's
#: far tail, Halley's steps crept by about ``2 s^2 / |y - mu|`` (K = 8, means
#: N(0, 50), scales near 0.14: 40% of rows unsolved in 40 steps, 29 cdf
#: evaluations per row for 9.0 now), where Newton's leaves the bracket and
#: bisects.
HALLEY_CREEP = 4.0


def _gaussian_pieces(z, _):
    """The standard normal's distribution function at ``z``, its density's
    kernel ``exp(-z^2 / 2)`` and the kernel's log-derivative negated, ``z``,
    for :func:`_halley_quantiles`."""
    return _ndtr(z), np.exp(-0.5 * np.square(z)), z


def _t_pieces(z, df):
    """The standard Student t's distribution function at ``z`` (finite ``df``),
    its density's kernel ``(1 + z^2 / df)^(-(df + 1) / 2)`` and the kernel's
    log-derivative negated, ``(df + 1) z / (df + z^2)``, for
    :func:`_halley_quantiles`."""
    with np.errstate(over="ignore"):  # (z^2 past the floats: a kernel of 0)
        z2 = np.square(z)
        kernel = np.exp(-0.5 * (df + 1.0) * np.log1p(z2 / df))
        slope = (df + 1.0) * z / (df + z2)
    return _t_cdf(df, z), kernel, slope


def _halley_quantiles(q, weights, means, scales, low, high, done, z, df=None):
    """Quantiles ``q`` of the ordinary rows of Gaussian mixtures (``df`` None) or
    Student t ones (finite ``df``), by Halley's method on ``log F(y) - log q``
    (``log S(y) - log(1 - q)`` above 0.5), from the weighted mean of the
    components' quantiles ``means + scales * z``, safeguarded by the bracket
    ``(low, high)`` (a bisection step where a step leaves it), then walked over
    the floats to the one of least ``|F(y) / q - 1|``, the excess that
    :func:`_mixture_ppf`'s root finder solves.

    Ordinary: not ``done``, a tail ``min(q, 1 - q)`` of at least 1e-300, finite
    means and positive finite scales (and finite ``df``), scales above 2**-40
    of the bracket's ends (no step of the cdf between floats), and means and
    ends below 2**960 (offsets ``y - mean`` within the floats). The mixture's
    density and its derivative come from the components' density kernels and
    their log-derivatives (:func:`_gaussian_pieces`, :func:`_t_pieces`), so
    that a step costs about one cdf evaluation; the root finder took 8 to 21
    of them, each 3 to 8 times dearer.

    Returns the mask of the rows solved (of ``q``'s shape) and their quantiles.
    """
    shape = low.shape
    n_experts = weights.shape[-1]
    parameters = (weights, means, scales, z) + (() if df is None else (df,))
    weights, means, scales, z, *rest = (
        np.broadcast_to(a, shape + (n_experts,)) for a in parameters
    )
    with np.errstate(invalid="ignore", over="ignore"):
        extent = np.maximum(np.abs(low), np.abs(high))
        fine = (
            np.all(np.isfinite(means) & np.isfinite(scales) & (scales > 0), axis=-1)
            & (np.min(scales, axis=-1) > 2.0**-40 * extent)
            # (offsets y - mean within the floats: means of -+1.7e308)
            & (np.max(np.abs(means), axis=-1) < 2.0**960)
            & (extent < 2.0**960)
            & (np.minimum(q, 1.0 - q) >= 1e-300)
            & ~done
        )
        if df is not None:
            fine &= np.all(np.isfinite(rest[0]), axis=-1)
    solved = np.zeros(shape, dtype=bool)
    if not np.any(fine):
        return solved, np.zeros(0)
    rows = np.nonzero(fine)
    target = q[rows]
    w, m, s, zq = weights[rows], means[rows], scales[rows], z[rows]
    if df is None:
        pieces, nu, norm = _gaussian_pieces, np.zeros(0), _INV_SQRT_2PI
    else:
        nu = rest[0][rows]
        pieces, norm = _t_pieces, np.exp(_t_log_norm(nu))
    lo, hi = low[rows].copy(), high[rows].copy()
    upper = target > 0.5
    tail = np.where(upper, 1.0 - target, target)
    sign = np.where(upper, -1.0, 1.0)
    inverse_scales = 1.0 / s
    # the density and its slope in units of a power of two near the largest
    # scale: in units of y, their squares under- or overflowed beyond scales
    # of 1e+-154 (every step a bisection, 47 evaluations per row for 8)
    unit = _power_of_two(s.max(axis=-1))
    relative = unit[:, None] * inverse_scales
    density_weights = w * relative * norm
    with np.errstate(invalid="ignore", over="ignore"):
        start = _component_sums(w * (m + s * zq))
    # (a start past the floats, of a heavy tail: the bracket's middle)
    y = np.where(np.isfinite(start), np.clip(start, lo, hi), lo / 2 + hi / 2)
    # z by division, as the cdf, the sf and the walk below take it ((y - m) /
    # -s is the sf's (m - y) / s to the bit): by the scales' inverse, the
    # excess at the steps' last point, where the walk starts, was not the
    # cdf's there, and the walk chose between two floats by excesses of two
    # roundings (4 to 9% of Gaussian quantiles not the float of least |F / q
    # - 1| by the cdf, by up to 1441 eps; 3 to 5% of Student t ones, 75 eps)
    signed_scales = sign[:, None] * s
    with np.errstate(over="ignore"):  # (scales 2**-1000 of the largest)
        parameters = [w, m, signed_scales, density_weights, nu]
        parameters += [density_weights * relative, unit, sign]

    def tail_pieces(y, wa, ma, signed, dw, nua, dwi, ua, ga):
        z = (y[:, None] - ma) / signed
        cdf, kernel, falling = pieces(z, nua)
        mass = _component_sums(wa * cdf)
        density = _component_sums(dw * kernel)
        with np.errstate(invalid="ignore", over="ignore"):
            slope = -_component_sums((dwi * falling) * kernel)
        return mass, ga * density, slope

    def move(y, step, *parameters):
        return y - parameters[6] * step

    x, at_x = _halley_roots(
        tail_pieces,
        parameters,
        (y, lo, hi),
        sign,
        tail,
        move,
        _arithmetic_middle,
        # a step back onto the other end of the bracket, bisected: the t
        # tail's series rounds by several floats of y (df 3, 1 - q of
        # 1e-12: by 6e-15 of itself, a bracket of 9 floats), and a third
        # of such rows bounced between the two ends for all HALLEY_STEPS
        bounce=df is not None,
    )
    ok = np.isfinite(x)
    if not np.any(ok):
        return solved, np.zeros(0)
    picked = np.flatnonzero(ok)
    w, m, s, sign, tail = w[picked], m[picked], s[picked], sign[picked], tail[picked]
    nu = nu[picked] if nu.size else nu

    def excess_at(y, part):
        z = sign[part, None] * (y[:, None] - m[part]) / s[part]
        cdf = _ndtr(z) if df is None else _t_cdf(nu[part], z)
        return sign[part] * (_component_sums(w[part] * cdf) / tail[part] - 1.0)

    x, bracketed = _walk_to_root(excess_at, x[picked], at_x[picked])
    picked = picked[bracketed]
    chosen = tuple(r[picked] for r in rows)
    solved[chosen] = True
    return solved, x


def _component_sums(terms):
    """Sums of ``terms`` (rows, components) over the components, pairwise: the
    sum of the first ``ceil(K / 2)`` columns plus that of the rest, each
    likewise, column by column; each row's sum in the same order whatever the
    other rows, their number and the array's layout (where K = 1, a view of
    the column).

    Not a product with ones (BLAS rounds a row by its place in the batch: of
    300 rows of K = 4 to 8, 17 to 46 came out of ppf up to 355 floats from
    the same rows solved one at a time), nor np.sum, whose order is NumPy's
    own (pairwise along a contiguous row of 8 or more, in turn along a
    strided one) and which over so short an axis took half the time of a
    normal cdf of the terms at K = 2. Pairwise, not in turn: the excess's
    rounding is smaller, and the walk over the floats shorter (Gaussian, K =
    8: 5.35 cdf evaluations per row for 5.63 in turn; K = 6: 5.32 for 5.47).
    """
    n_terms = terms.shape[-1]
    if n_terms == 1:
        return terms[..., 0]
    half = (n_terms + 1) // 2
    return _component_sums(terms[..., :half]) + _component_sums(terms[..., half:])


def _log_component_sums(log_terms):
    """``log(sum(exp(log_terms)))`` over the last axis (the components), as
    :func:`scipy.special.logsumexp` takes it: the largest term out of the sum,
    ``log1p`` of the others over it, plus the log of the largest; but the
    others summed by :func:`_component_sums`, so that a row's log density does
    not depend on the other rows nor on the arrays' layout (logsumexp's
    np.sum added a Fortran-ordered row of 8 or more terms in another order:
    29 to 70 of 400 rows' logpdf at K = 8 and 16 moved by a float). -inf
    where every term is, NaN where one is NaN."""
    top = np.max(log_terms, axis=-1, keepdims=True)
    is_top = log_terms == top
    # (a row of -inf, or of NaN, has no other terms: 0 there, not NaN)
    with np.errstate(invalid="ignore"):
        others = np.where(is_top, 0.0, np.exp(log_terms - top))
    count = np.count_nonzero(is_top, axis=-1)  # (ties all held out)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = _component_sums(others) / count
        return np.log1p(share) + np.log(count) + top[..., 0]


def _arithmetic_middle(low, high):
    """The middle of the brackets ``(low, high)``, without overflow."""
    return low / 2 + high / 2


def _halley_roots(pieces, parameters, start, sign, tail, move, middle, bounce=False):
    """Roots of ``f = log(m(t)) - log(tail)``, one per row, by Halley's method
    (Newton's where Halley's step creeps: ``HALLEY_CREEP``), safeguarded by a
    bracket: a bisection step (``middle(low, high)``) where a step leaves it.
    ``m`` is a row's lower tail ``F`` where ``sign`` is 1, its upper tail ``S``
    where -1, so that the excess ``sign (m / tail - 1)`` increases in ``t``.

    ``pieces(t, *parameters)`` gives ``m`` at the points ``t`` and its first
    two derivatives in the variable of the steps (signed: ``-F'`` for ``S``);
    ``move(t, step, *parameters)`` the point after a step ``step`` in that
    variable (``t - unit step`` where it is ``t / unit``, ``t e^-step`` where
    it is ``log t``). ``parameters`` are arrays of one row each (or empty),
    compacted with the state as rows finish; ``start`` is ``(t, low, high)``,
    the first points and the bracket's ends. ``bounce``: a step that lands
    back on an end of the bracket bisects instead (a tail of several floats'
    rounding, between whose ends the steps bounced).

    Returns the last point of each row, where converged (NaN where not after
    ``HALLEY_STEPS``), and its excess: within the rounding of ``m`` of the root,
    or a bracket of a few floats, which :func:`_walk_to_root` walks to the
    float of least ``|excess|``.
    """
    y, lo, hi = start
    log_tail = np.log(tail)
    x, at_x = np.full(y.shape, np.nan), np.zeros(y.shape)
    # the unfinished rows' parameters and state, compacted as rows finish
    n_parameters = len(parameters)
    state = [np.arange(y.size), *parameters, sign, tail, log_tail, y, lo, hi]
    for _ in range(HALLEY_STEPS):
        if state[0].size == 0:
            break
        active, rest = state[0], state[1 : n_parameters + 1]
        ga, ta, log_ta, ya, la, ha = state[n_parameters + 1 :]
        mass, d1, d2 = pieces(ya, *rest)
        excess = ga * (mass / ta - 1.0)
        # the bracket's ends keep the signs of the excess
        ha = np.where(excess >= 0, ya, ha)
        la = np.where(excess <= 0, ya, la)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            f = np.log(mass) - log_ta
            f1 = d1 / mass
            f2 = d2 / mass - f1**2
            creeping = np.abs(f * f2) > HALLEY_CREEP * (f1 * f1)
            step = np.where(creeping, f / f1, 2.0 * f * f1 / (2.0 * f1 * f1 - f * f2))
            halley = move(ya, step, *rest)
        inside = np.isfinite(halley) & (halley >= la) & (halley <= ha)
        if bounce:
            inside &= (halley == ya) | ((halley != la) & (halley != ha))
        moved = np.where(inside, halley, middle(la, ha))
        # converged: a step of a few floats, an excess at the cdf's rounding
        # (near y = 0 that is many floats), or an exact root; or a bracket of
        # a few floats
        last = np.abs(halley - ya) <= 4 * np.spacing(np.abs(ya))
        last = inside & (last | (np.abs(f) <= 4 * EPS))
        last |= ha - la <= 4 * np.spacing(np.maximum(np.abs(la), np.abs(ha)))
        last |= excess == 0
        # (the step from there is below the cdf's rounding: the walk below
        # takes the float of least excess near it)
        x[active[last]] = ya[last]
        at_x[active[last]] = excess[last]
        state[-3:] = moved, la, ha
        if np.any(last):
            state = [a[~last] if a.size else a for a in state]
    return x, at_x


def _walk_to_root(excess_at, x, at_x, least=-np.inf):
    """The floats next to ``x`` (within the rounding of an increasing
    ``excess_at(y, part)`` of its root; ``at_x`` the excess there) of least
    ``|excess|``, where the excess changes sign between two adjacent floats
    within ``2**HALLEY_REACH`` floats of ``x``.

    The sign change is found by steps of 1, 2, 4, ... floats towards the root
    and bisected to two adjacent floats, of which the one of smaller
    ``|excess|`` is taken (as the root finder's answer, the end of its last
    bracket of smaller ``|excess|``). ``excess_at`` takes the points and the
    indices of their rows. Returns the floats of the rows that have one in
    reach and the mask of those rows (the others are left to the root
    finder, as those whose walk passes the floats or goes below ``least``).
    """
    near, at_near = x.copy(), at_x.copy()
    far, at_far = near.copy(), at_near.copy()
    toward = np.where(at_near > 0, -1.0, 1.0)
    reach = np.ones(x.size)
    searching = np.flatnonzero(at_near != 0)
    lost = np.zeros(x.size, dtype=bool)
    for _ in range(HALLEY_REACH):
        if searching.size == 0:
            break
        with np.errstate(over="ignore"):
            candidate = near[searching] + toward[searching] * reach[searching] * (
                np.spacing(np.abs(near[searching]))
            )
        # (past the floats, or below least: left to the root finder)
        out = ~np.isfinite(candidate) | (candidate < least)
        if np.any(out):
            lost[searching[out]] = True
            searching, candidate = searching[~out], candidate[~out]
        value = excess_at(candidate, searching)
        crossed = (value == 0) | (np.sign(value) != np.sign(at_near[searching]))
        far[searching], at_far[searching] = candidate, value
        stay = searching[~crossed]
        near[stay], at_near[stay] = candidate[~crossed], value[~crossed]
        reach[stay] *= 2
        searching = stay
    bracketed = ~lost
    bracketed[searching] = False
    with np.errstate(invalid="ignore"):
        middle = near / 2 + far / 2
    splitting = np.flatnonzero(bracketed & (middle != near) & (middle != far))
    while splitting.size:
        mid = middle[splitting]
        value = excess_at(mid, splitting)
        same = (np.sign(value) == np.sign(at_near[splitting])) & (value != 0)
        near[splitting[same]], at_near[splitting[same]] = mid[same], value[same]
        far[splitting[~same]], at_far[splitting[~same]] = mid[~same], value[~same]
        middle[splitting] = near[splitting] / 2 + far[splitting] / 2
        splitting = splitting[
            (middle[splitting] != near[splitting])
            & (middle[splitting] != far[splitting])
        ]
    x = np.where(np.abs(at_far) < np.abs(at_near), far, near)[bracketed]
    return x, bracketed


def _subnormal_tails(ratio, z, index, half_offset, weights, scales, tail, df=None):
    """``ratio`` (the mixtures' cdfs at ``z`` over their ``tail``, the excess of
    :func:`_mixture_ppf`), in place, where ``tail`` is below the normal floats:
    there the components' cdfs are subnormal floats, of few digits (one at q =
    5e-324, where the quantile of N(0, 1) came out 1e-3 off). Gaussian
    mixtures (``df`` None) from ``log_ndtr``; Student t ones (finite or
    infinite ``df``) from their components' cdfs times 2**SUBNORMAL_SHIFT
    (:func:`_t_scaled_cdf`), over the tail times as much: from the logs of
    their cdfs the quantiles of df 3 at q = 1e-320 were 4e-5 of themselves
    off (3.6e11 floats), of df 1e6 at 1e-315 -37.726 for -37.981."""
    rows = np.flatnonzero(tail[index] < np.finfo(float).tiny)
    if rows.size == 0:
        return
    z, picked = z[rows], index[rows]
    half = None if half_offset is None else half_offset[rows]
    weights, scales = weights[picked], scales[picked]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gaussian_z = z if half is None else _from_half_offset(z, half, scales)[0]
        if df is None:
            log_terms = np.log(weights) + special.log_ndtr(gaussian_z)
            used = np.where(weights > 0, log_terms, -np.inf)
            log_mass = _log_component_sums(used)
            ratio[rows] = np.exp(log_mass - np.log(tail[picked]))
            return
        scaled = _t_scaled_cdf(df[picked], z, gaussian_z, half, scales)
        mass = _component_sums(_unweighted(weights, weights * scaled, 0.0))
        # (inf where the cdf is 1e308 times the tail, as from the logs)
        ratio[rows] = mass / np.ldexp(tail[picked], SUBNORMAL_SHIFT)


def _t_scaled_cdf(df, z, finite_z, half_offset, scales):
    """Student t distribution functions (``df`` finite or inf) at ``z``, times
    2**SUBNORMAL_SHIFT, of all their digits in lower tails below the normal
    floats: far out from :func:`_t_lower_far`, nearer where stdtr's is subnormal
    from :func:`_t_lower_middle`, of the normal's from ``log_ndtr``; else
    :func:`_t_cdf_overflowing`'s, scaled. ``finite_z``: z from the halved
    offsets where it overflowed (:func:`_from_half_offset`)."""
    shift = SUBNORMAL_SHIFT
    gaussian = np.isinf(df)
    nu = np.where(gaussian, 1.0, df)
    plain = _t_cdf_overflowing(df, z, half_offset, scales)
    out = np.where(
        gaussian,
        np.exp(special.log_ndtr(finite_z) + shift * np.log(2.0)),
        np.ldexp(plain, shift),
    )
    lower = (finite_z < 0) & ~gaussian
    far = lower & (np.abs(finite_z) > T_FAR * np.sqrt(nu))
    if np.any(far):
        if half_offset is None:
            parts = _ratio_parts([np.abs(finite_z)], [np.sqrt(nu)])
        else:  # (|z| / sqrt(df) past the floats too)
            parts = _ratio_parts([np.abs(half_offset), 2.0], [scales, np.sqrt(nu)])
        out[far] = _t_lower_far(nu[far], parts[0][far], parts[1][far], shift)
    middle = lower & ~far & (plain < np.finfo(float).tiny)
    if np.any(middle):
        out[middle] = _t_lower_middle(nu[middle], finite_z[middle], shift)
    return out


def _weighted_bracket(q, weights, means, scales, df=None):
    """Ends of a bracket of the mixtures' quantiles ``q`` from the components
    of large weight: F >= w_k F_k, so that F(y) >= q where F_k(y) >= q / w_k,
    and 1 - F >= w_k (1 - F_k), so that F(y) <= q where 1 - F_k(y) >= (1 - q)
    / w_k. The least of the first and the largest of the second, where the
    components' probabilities are at most 1 - 1e-3 (their quantiles then keep
    their digits, and the margin of :func:`_mixture_ppf` gives the ends a slack
    of more than 1e-6 of probability), else -inf and inf.

    A dominant component (a weight of 0.95 at q = 0.9) narrows the bracket from
    the spread of all the components' quantiles to its own of q / w and 1 - (1
    - q) / w, and the root finder needs fewer steps.
    """
    q = q[..., None]
    inner = (q > 0) & (q < 1) & (weights > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        below = np.where(inner, q / weights, np.nan)  # F_k at the upper end
        above = np.where(inner, (1.0 - q) / weights, np.nan)  # 1 - F_k, lower
        # (quantiles of subnormal probabilities lose their digits)
        upper_ok = (below <= 1 - 1e-3) & (below >= 1e-300)
        lower_ok = above <= 1 - 1e-3
        below = np.where(upper_ok, below, 0.5)
        above = np.where(lower_ok, above, 0.5)
        if df is None:
            z_high, z_low = special.ndtri(below), -special.ndtri(above)
        else:
            # widened by 1e-9 of themselves, as the t quantiles' bracket
            z_high, z_low = _t_ppf(df, below), -_t_ppf(df, above)
            z_high = np.where(z_high > 0, z_high * (1 + 1e-9), z_high * (1 - 1e-9))
            z_low = np.where(z_low < 0, z_low * (1 + 1e-9), z_low * (1 - 1e-9))
        high = np.where(upper_ok, means + scales * z_high, np.inf).min(axis=-1)
        low = np.where(lower_ok, means + scales * z_low, -np.inf).max(axis=-1)
    return low, high


def _widened(excess, low, high, step):
    """Ends ``low`` and ``high`` (one per element of ``excess``) moved out, by
    doubling widths of at least ``step``, until ``excess`` is at most 0 at
    ``low`` and at least 0 at ``high``, within the largest floats.

    Returns the ends and ``beyond``: -1 where the root lies below the lowest
    float, 1 where above the highest, 0 where the ends bracket it.
    """
    low, high = low.copy(), high.copy()
    beyond = np.zeros(low.shape)
    for end, direction in ((low, -1.0), (high, 1.0)):
        other = high if direction < 0 else low

        def wrong(rows, end=end, direction=direction):
            value = excess(np.zeros(rows.size), rows, end[rows], np.ones(rows.size))
            return direction * value < 0

        rows = np.arange(low.size)
        rows = rows[wrong(rows)]
        for _ in range(T_MAX_WIDENINGS):
            if rows.size == 0:
                break
            with np.errstate(over="ignore"):  # beyond the floats: clipped
                # at least the end's float spacing, so that it moves: from
                # -1.8e308 upwards a step of 0.01 left it there
                width = np.maximum(
                    np.maximum(2 * np.abs(high[rows] - low[rows]), step[rows]),
                    np.spacing(np.abs(end[rows])),
                )
                moved = end[rows] + direction * width
            # the root is past this end, which becomes the other one
            other[rows] = end[rows]
            end[rows] = np.clip(moved, -FLOAT_MAX, FLOAT_MAX)
            rows = rows[wrong(rows)]
            # stuck only at the largest float on its own side (one at -1.8e308
            # still short of a root above it had made that root +inf)
            stuck = end[rows] == direction * FLOAT_MAX
            beyond[rows[stuck]] = direction
            rows = rows[~stuck]
    return low, high, beyond


def _nearest_neighbour(excess, x, index, reach=4):
    """Of ``x`` and the ``reach`` floats either side, the one of smallest
    ``|excess|``, where ``x`` is finite.

    The root finder stops within 4 float spacings of the root (its relative
    tolerance): the quantile 0.3 of Cauchy components at -1e6 and 1e6 was two
    floats above the nearest, its cdf 1.1e-10 of q off (6e-12 at the nearest).
    A tolerance of one spacing took 50 times longer, the root finder bisecting
    the rounding of the cdf to its last iteration.
    """
    finite = np.isfinite(x)
    # x first, then outwards: ties keep the nearest to it (x = 0 stays 0, not -2e-323)
    k = np.arange(2 * reach + 1)
    steps = (k + 1) // 2 * np.where(k % 2, -1.0, 1.0)  # 0, -1, 1, -2, ...
    # (the largest floats' spacing overflows, and their candidates are inf,
    # whose excess is NaN and never better: df=1e-3 leaked NumPy's warnings)
    with np.errstate(over="ignore"):
        spacing = np.spacing(np.where(finite, x, 1.0))
    base = np.where(finite, x, 0.0)
    zeros, ones = np.zeros(x.size), np.ones(x.size)
    # one candidate per row at a time, with a running best: all nine at once
    # held (9 rows, K) temporaries in the excess (a peak of 834 MiB for 65536
    # rows of 16 Student-t components, 165 MiB now; benchmarks/posterior_memory.py)
    nearest, smallest = base, np.full(x.size, np.inf)
    for step in steps:
        with np.errstate(over="ignore", invalid="ignore"):
            candidate = base + step * spacing
            value = np.abs(excess(zeros, index, candidate, ones))
        better = np.where(np.isnan(value), False, value < smallest)
        nearest = np.where(better, candidate, nearest)
        smallest = np.where(better, value, smallest)
    return np.where(finite, nearest, x)


def _power_of_two(x):
    """The largest power of two at most ``x`` (positive and finite)."""
    return np.ldexp(1.0, np.frexp(x)[1] - 1)


def _next(x, to):
    """The float after ``x`` towards ``to``, where ``x`` is finite."""
    return np.where(np.isfinite(x), np.nextafter(x, to), x)


def _nearest_float(res, excess, index, origin, unit, scales):
    """The float nearest the root of ``excess`` that ``find_root`` found.

    ``res`` solved for ``t``, ``y = origin + t * unit``; its ``x`` is the end of the
    final bracket of smaller ``|excess|``, right where the excess is near linear
    across the bracket. Where a component's scale is below the float spacing
    there (1e16 with scale 0.1: a step), the root is solved again in units of
    the bracket's width, ``y = low + t * width`` with ``t`` in [0, 1], and
    rounded to the nearer float.
    """
    x = origin + res.x * unit
    low, high = (origin + end * unit for end in res.bracket)
    with np.errstate(over="ignore", invalid="ignore"):  # unfinished: not refined
        width = high - low
    steep = (res.f_x != 0) & (width > 1e-3 * scales.min(axis=-1)) & res.success
    if np.any(steep):
        refine = np.nonzero(steep)[0]
        local = find_root(
            excess,
            (np.zeros(refine.size), np.ones(refine.size)),
            args=(index[refine], low[refine], width[refine]),
            tolerances={"xatol": 1e-6},
        )
        y = low[refine] + local.x * width[refine]
        x[refine] = np.where(local.success, y, x[refine])
    return x
