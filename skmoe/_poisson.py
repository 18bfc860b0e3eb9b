"""MoEPoissonRegressor: a mixture of Poisson log-linear experts, for counts."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import math
import numbers

import numpy as np
import scipy.sparse
from scipy import special
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _num_samples,
    assert_all_finite,
    check_array,
    check_consistent_length,
    check_is_fitted,
)

from ._backend import (
    array_namespace,
    as_compute,
    dtype_name,
    host,
    is_numpy_array,
    to_numpy,
)
from ._base import (
    BaseMixtureOfExperts,
    _chunked_sum,
    _float64_rows,
    _mean_square_deviation,
    _row_slices,
    _score_weights,
    _scored_rows,
    _too_few_to_score,
    _Underflow,
)
from ._count_distribution import HELD_WEIGHT, PredictivePoissonMixture
from ._distribution import _component_sums, taking_part, with_log_parts
from ._docstrings import fill_doc
from ._em import e_step
from ._fitting import (
    AUTO_MIN_SAMPLES_PER_PARAMETER,
    _check_finite,
    _check_infinite,
    _check_missing,
    _missing_value_error,
    _refuse_lazy_frames,
    _take_columns,
    _target_column,
    _time_values,
    _Validated,
)
from ._loglink import LogLinkMixin, _left_out, _unweighted_zero
from ._math import (
    WorkArrays,
    by_columns,
    constant_target_score,
    device,
    logsumexp,
    mixture_std,
    sums_in_turn,
)
from ._partial_fit import (
    _pending_rows,
    _reset_pending,
    _streaming_solver,
    _validating_partial_fit,
)
from ._separation import separating_direction
from ._sgd import effective_rows
from ._sparse import selected_linear
from ._warm_start import RATE_EXPOSURE_SHARE, _exposure_floor, _judged_rates
from ._warnings import _listed, _warn_user
from ._zero_inflated import ZeroInflatedMixin
from .exceptions import FeatureScaleWarning
from .experts import PoissonExperts
from .experts._point_mass import ZERO_LOG_RATE, point_mass_columns
from .experts.estimator import (
    CountExperts,
    ExpertEstimatorMethods,
    check_sample_weight_support,
    not_a_regressor,
)
from .experts.poisson import RATE_FLOOR, encode_counts

#: Responsibility above which a row counts as one an expert fits, in the check
#: for zero counts separated among those rows (below it, a row holds back a
#: coefficient of -18 or less: ``log(1e-8)``).
SEPARATED_RESP = 1e-8

#: Largest ``max(y) log(max(y)) n_samples`` as a share of the dtype's largest
#: number: the log-likelihood, a sum of ``y log(rate)``, must not overflow.
COUNT_LIMIT = 1e-3

#: The ``exposure`` entry of the methods that take counts.
EXPOSURE_PARAMETER = """
        exposure : array-like of shape (n_samples,) or float, default=None
            The samples' positive exposures (time at risk, area, population):
            each expert's mean count is ``exposure * exp(x~ . b_k)``, the
            offset ``log(exposure)`` fixed in its log rate (R's ``offset()``,
            glum's ``offset``). None: every exposure is 1. Give the exposures
            of the counts the model was fitted to: the methods that score
            counts warn when a model fitted with exposures is given none."""


def _exposure_doc(doc):
    """``doc`` (a method's numpydoc text) with the ``exposure`` parameter last,
    or before ``groups``."""
    head, tail = doc.split("\n\n        Returns\n", 1)
    if "\n        groups : " in head:
        head, groups = head.split("\n        groups : ", 1)
        tail = f"        groups : {groups}\n\n        Returns\n{tail}"
        return f"{head}{EXPOSURE_PARAMETER}\n{tail}"
    return f"{head}{EXPOSURE_PARAMETER}\n\n        Returns\n{tail}"


#: The Python objects of points in time (``datetime.datetime`` and pandas'
#: ``Timestamp`` are dates; NaT is one too) and of durations (pandas'
#: ``Timedelta`` is a ``timedelta``), in object arrays.
_POINTS = (datetime.date, datetime.time, np.datetime64)
_DURATIONS = (datetime.timedelta, np.timedelta64)


def _refuse_times(dtype, values=None, found=None):
    """Raise a TypeError where ``dtype`` (NumPy's or pandas', a time zone's
    too) is of datetimes or timedeltas, which NumPy's conversion to floats
    read as counts of their unit (days since 1970 for ``datetime64[D]``,
    nanoseconds for a pandas Series' timedeltas), without a word; or where
    ``values``, of an object ``dtype``, hold such objects (NumPy's
    ``datetime64`` and ``timedelta64`` were read as counts of their unit as
    well; Python's and pandas' failed to convert, without this advice); or
    where ``found``, :func:`~skmoe._fitting._time_values`' ``(what, kind)``,
    is not None (times of day are points in time here). Returns the set of
    ``values``' objects' types where it read them (an object ``dtype``), else
    None."""
    kind = getattr(dtype, "kind", None)
    types = None
    points, durations = kind == "M", kind == "m"
    what = f"{dtype} values"
    if found is not None:
        what, kind = found
        points, durations = kind in ("M", "t"), kind == "m"
    if kind == "O" and values is not None:
        # (one pass over the objects: 2 times the conversion's 22 ms per
        # million; numbers' arrays of a numeric dtype are not scanned)
        types = set(map(type, np.asarray(values).ravel()))
        # (pandas' NaT, a datetime's subclass, is a missing value where no
        # time is beside it, as in X: :func:`_is_na`)
        timed = [t for t in types if not _is_nat(t)]
        points = any(issubclass(t, _POINTS) for t in timed)
        durations = any(issubclass(t, _DURATIONS) for t in timed)
        names = sorted(t.__name__ for t in timed if issubclass(t, _POINTS + _DURATIONS))
        what = f"objects of type {', '.join(names)}"
    if points:
        raise TypeError(
            "exposure must be positive numbers, one per sample (each sample's "
            f"time at risk, area, population); got {what}, which are "
            "points in time, not durations: pass each sample's time at risk "
            "as numbers in a unit of your choice, such as "
            "(end - start) / np.timedelta64(1, 'D') for days."
        )
    if durations:
        raise TypeError(
            "exposure must be positive numbers, one per sample; got durations "
            f"({what}), whose unit would be a guess: pass them as "
            "numbers in a unit of your choice, such as "
            "exposure / np.timedelta64(1, 'D') for days (a pandas Series: "
            "exposure / pd.Timedelta(days=1))."
        )
    return types


def _is_na(kind):
    """Whether ``kind``, the type of an object exposure's object, is pandas'
    NA's or NaT's (read from the types :func:`_refuse_times` found: comparing
    the values, ``values != values``, took a second pass and raised NumPy's
    bare "truth value ... is ambiguous" for an object array of arrays, whose
    conversion's error names exposure). A NaT without a time beside it is a
    missing value, as in X, y and sample_weight (it was refused as a point in
    time, where X's got the NaN's error)."""
    return (
        kind.__name__ == "NAType" and kind.__module__.startswith("pandas")
    ) or _is_nat(kind)


def _is_nat(kind):
    """Whether ``kind`` is pandas' NaT's type (a ``datetime``'s subclass)."""
    return kind.__name__ == "NaTType" and kind.__module__.startswith("pandas")


def _not_numbers(error):
    """NumPy's ``error`` converting exposures, as exposure's (its first line:
    complex values' printed the whole array)."""
    first = str(error).splitlines()[0]
    return type(error)(
        f"exposure must be positive numbers, one per sample; got values that "
        f"are not: {first}"
    )


def _check_exposure(exposure, n_samples, dtype=np.float64, predicting=False):
    """``exposure`` as a float64 array of shape (n_samples,), or None; in a
    narrower ``dtype`` (the data's), its values must lie in that one's range.
    ``predicting``: for predict, whose rows of no exposure cannot be dropped
    as the counts of no exposure that fit and the scores are given can."""
    if exposure is None:
        return None
    _refuse_lazy_frames(exposure=exposure)
    exposure = host(exposure)
    given = getattr(exposure, "dtype", None)  # (not the data's dtype)
    values = exposure
    if isinstance(getattr(given, "kind", None), str):  # NumPy's, pandas', SciPy's
        ndim = np.ndim(exposure)  # (sparse: refused below)
    else:  # lists, polars' and pyarrow's arrays, scalars: NumPy's view, once
        if type(exposure).__module__.split(".")[0] in ("polars", "pyarrow"):
            # their times by their dtypes, unconverted (polars 1.0's conversion
            # of Datetime and Duration values crashed with NumPy 2.1)
            _refuse_times(None, found=_time_values(exposure))
        try:
            view = np.asarray(exposure)
        except (TypeError, ValueError) as error:  # (ragged lists: NumPy's words)
            raise _not_numbers(error) from error
        given, ndim, values = view.dtype, view.ndim, view
        if given.kind == "c":  # (a complex array's error, below, not float()'s)
            exposure = view
    # (before the scalars: a NumPy timedelta64 is an integer to numbers)
    types = _refuse_times(given, None if scipy.sparse.issparse(values) else values)
    if types is not None and any(_is_na(t) for t in types):
        # pandas' NA or NaT (float() refused them: NumPy's TypeError): a NaN's
        # error, in scikit-learn's words (None reaches it as a NaN), or under
        # assume_finite=True the words a NaN gets then
        raise _missing_value_error("exposure")
    if ndim == 0:  # one exposure for every sample
        # (a str, dict or other object: NumPy's "could not convert string to
        # float" or "float() argument must be ..., not 'dict'", naming nothing;
        # a Decimal is a number, as scikit-learn's sample_weight takes it:
        # Decimal("2") was refused)
        if not isinstance(exposure, (numbers.Real, decimal.Decimal)) and (
            np.asarray(exposure).dtype.kind not in "biuf"
        ):
            raise TypeError(
                "exposure must be a positive number or an array-like of shape "
                f"(n_samples,); got {exposure!r} of type {type(exposure).__name__}."
            )
        exposure = np.full(n_samples, exposure, dtype=np.float64)
    if scipy.sparse.issparse(exposure):
        raise TypeError(
            "exposure must be a dense array-like of shape (n_samples,) or a "
            f"number; got a sparse {type(exposure).__name__}: pass "
            "exposure.toarray().ravel()."
        )
    try:
        # the conversion alone (any shape and size: the shape's own error
        # below); its errors are NumPy's (strings, objects; complex values,
        # whose message printed the whole array), named here as exposure's
        exposure = check_array(
            exposure,
            ensure_2d=False,
            allow_nd=True,
            ensure_min_samples=0,
            ensure_min_features=0,  # (shape (n, 0): the shape's error below)
            dtype=np.float64,
            ensure_all_finite=False,
            input_name="exposure",
        )
    except (TypeError, ValueError) as error:
        raise _not_numbers(error) from error
    # then scikit-learn's own errors for NaN and inf, naming exposure (which
    # sklearn.set_config(assume_finite=True) skips, as check_array's)
    assert_all_finite(exposure, input_name="exposure")
    if exposure.shape != (n_samples,):
        raise ValueError(
            f"exposure has shape {exposure.shape}; expected ({n_samples},), one "
            "per sample."
        )
    if not np.all(exposure > 0):
        _check_missing(np, exposure, "exposure")
        bad = np.flatnonzero(~(exposure > 0))
        n_negative = int(np.sum(exposure < 0))
        advice = []
        if predicting:
            advice.append(
                "These rows cannot be predicted: pass their positive exposures."
            )
        if n_negative:
            advice.append(
                f"{n_negative} of them {'is' if n_negative == 1 else 'are'} negative: "
                "is their sign wrong, or are "
                "they logs of the exposures (pass the exposures themselves)?"
            )
        if not predicting and n_negative < bad.shape[0]:
            advice.append(
                "Drop the rows of no exposure (their counts are 0 and tell "
                "nothing of the rates)."
            )
        raise ValueError(
            f"Some value(s) of exposure are not positive ({bad.shape[0]} of "
            f"{n_samples}, such as {exposure[bad[0]]:g} at row {bad[0]}): an "
            "exposure (time at risk, area) multiplies a sample's rate and must "
            f"be positive. {' '.join(advice)}"
        )
    # inf, which assume_finite=True lets through, fitted rates of 1e-308
    _check_infinite(np, exposure, "exposure")
    _check_exposure_range(exposure, dtype)
    return exposure


def _check_rates(
    y,
    exposure,
    rows=None,
    n_rows=None,
    *,
    dtype=np.float64,
    method="score",
    reason="D^2 compares the rates",
):
    """Raise where a count over its exposure overflows ``dtype``, for
    ``method``, whose ``reason`` needs the rates: ``score``'s D^2 compares
    them (an exposure of 1e-320 with a count of 3 gave NaN with NumPy's
    overflow warning), and ``fit``'s ``expert_estimator`` clones are fitted to
    them (sklearn's "Input y contains infinity", after NumPy's warning). The
    likelihood, and so fit's own experts, takes the exposures' logs and needs
    no rate. ``rows``: the caller's row numbers of ``y``'s rows, out of
    ``n_rows`` (None: ``y``'s own), for the message."""
    if exposure is None:
        return
    # a chunk of rows at a time (the rates held one more vector of n rows)
    y, top = np.asarray(y, dtype=np.float64), float(np.finfo(dtype).max)
    large = np.empty(y.shape[0], dtype=bool)
    for chunk in _row_slices(y.shape[0]):  # (rows: the caller's, above)
        large[chunk] = ~(_rates(y, exposure, chunk) <= top)
    if np.any(large):
        row = int(np.flatnonzero(large)[0])
        given = row if rows is None else int(rows[row])
        total = y.shape[0] if n_rows is None else n_rows
        # float64 X holds the rates that overflow float32
        wider = ", or use float64 X" if np.dtype(dtype) != np.float64 else ""
        raise ValueError(
            f"{method}: the rates y / exposure overflow {np.dtype(dtype)} at "
            f"{int(np.sum(large))} of {total} rows (such as y={y[row]:g} "
            f"over exposure {exposure[row]:g} at row {given}), and {reason}: "
            "give the exposures in a smaller unit, so that they are larger "
            f"numbers{wider}."
        )


def _check_exposure_range(exposure, dtype):
    """Raise where checked ``exposure`` values lie outside the range of a
    narrower ``dtype`` than float64 (whose subnormal exposures are taken)."""
    info = np.finfo(dtype)
    narrow = info.dtype != np.float64
    if narrow and (np.min(exposure) < info.tiny or np.max(exposure) > info.max):
        raise ValueError(
            f"exposure has values outside {np.dtype(dtype)}'s range: use float64 "
            "X, or exposures in another unit."
        )


def _keep_rows(kept, held, weights, plain):
    """``kept``, the rows of ``predict_distribution`` whose logs it keeps
    (rows, log weights, rates, log rates; or None), with the rows of ``held``
    (a boolean per row, which this clears at rows already kept): their log
    weights, and their rates before the exposures, ``plain``, whose logs
    stand for them (NaN log rates)."""
    if kept is not None:
        held[kept[0]] = False
    if not np.any(held):
        return kept
    rows = np.flatnonzero(held)
    with np.errstate(divide="ignore"):  # (a weight of 0: -inf)
        log_weights = np.log(weights[rows])
    nan = np.full_like(log_weights, np.nan)  # (log rates from the rates)
    extra = (rows, log_weights, plain[rows], nan)
    if kept is not None:
        extra = tuple(map(np.concatenate, zip(kept, extra, strict=True)))
    return extra


def _check_exposed(xp, result, caller="predict"):
    """``result``, predictions at the given exposures (the means, or the means
    and standard deviations; ``predict_distribution``'s rates), where finite;
    raises where the exposures make them overflow the output's dtype."""
    for part in result if isinstance(result, tuple) else (result,):
        if not bool(xp.all(xp.isfinite(part))):
            dtype = dtype_name(part.dtype)
            wider = "" if dtype == "float64" else "float64 X, or "
            raise ValueError(
                f"{caller}: the predicted counts at these exposures overflow "
                f"{dtype}: use {wider}exposures in another unit."
            )
    return result


@fill_doc
class MoEPoissonRegressor(
    ZeroInflatedMixin, LogLinkMixin, RegressorMixin, BaseMixtureOfExperts
):
    """Mixture of Poisson regressions (log link), fitted by EM.

    ``p(y | x) = sum_k g_k(x) Poisson(y; exp(x~ . b_k))``: a gate g(x) weighs K
    Poisson regressions. For counts whose rate follows different log-linear
    laws in different regimes, or that are overdispersed because the
    population mixes such groups (R flexmix's ``FLXMRglm(family =
    "poisson")``; with ``gate="constant"``, a latent-class Poisson regression).
    Each expert is the model of scikit-learn's ``PoissonRegressor``.

    Parameters
    ----------
    n_experts : int or "auto", default="auto"
        Number of experts K. ``"auto"`` fits K = 1, 2, 3 and 4 (each with
        ``n_init`` restarts) and keeps the fit of lowest BIC on the training data
        (``n_experts_bic_``), passing over fits where an expert handles too few
        samples for its parameters: one expert, i.e. a Poisson regression,
        when the counts show no regimes. With ``expert_estimator``, by
        held-out log-likelihood instead (see there; held-out samples
        that a candidate scores ``-inf``, or that every candidate scores
        over 50 nats (more where every candidate's scores spread more than a
        Gaussian's) below its median held-out sample's, far outliers, are
        left out of the comparison, with a warning, and where that is all of
        them the fewest experts are kept).
        A warning says when it chooses 4 while the criterion still improves
        there: fit larger numbers of experts and compare them.

    {{gate_parameter}}

    expert_estimator : estimator object, default=None
        Experts that are clones of this scikit-learn regressor of positive
        means instead of Poisson regressions: ``PoissonRegressor``,
        ``HistGradientBoostingRegressor(loss="poisson")``, a tree with
        ``criterion="poisson"``, any regressor whose ``fit`` takes
        ``sample_weight``. Each EM iteration refits every expert to the counts
        with the samples' weights times their responsibilities (generalized
        EM; with ``exposure``, to the rates ``y / exposure`` with the weights
        times the exposures, the same Poisson deviance); expert k's rate (per
        unit exposure) is its ``predict``, floored at 1e-10 times the
        mean count (at least 1e-10), so that a leaf of zero counts keeps a
        finite log-likelihood. The fitted clones are ``experts_``, on the raw
        ``expert_features`` (at least one: an empty list is refused). Fitted by
        EM on the CPU; ``n_experts="auto"`` chooses K by held-out
        log-likelihood (``n_experts_scores_``), ``alpha`` penalizes the gate
        only (nothing with ``gate="constant"`` or ``"gaussian"``: fit warns
        that it is ignored), and ``bic``, ``aic``, ``icl`` and
        ``std_errors`` are not available. See :ref:`estimator-experts`.

    {{shared_features_parameter}}

    alpha : float, default=1e-6
        {{alpha_meaning}} As for :class:`MoERegressor`, the tiny default
        mostly guards the solves and leaves a sharp gate sharp.

    n_init : int, default=4
        Number of EM restarts; the run with the best penalized log-likelihood is
        kept.

    {{shared_parameters}}

    zero_inflated : bool, default=False
        Whether the first expert is a point mass at zero (a Poisson expert of
        rate 0, with nothing to fit), for counts with more zeros than Poisson
        regimes give (R flexmix's ``FLXMRziglm``, which counts its components
        the same way; with ``n_experts=2``, the zero-inflated Poisson
        regression of R pscl's ``zeroinfl(y ~ x | x)``, its inflation
        probability the gate's). ``n_experts`` counts the point mass:
        ``n_experts="auto"`` tries 2, 3 and 4 (``n_experts_bic_`` entry ``K
        - 2`` for ``K``). The point mass stays the expert of intercept
        ``-inf`` (``expert_intercept_``; its coefficients are 0, its standard
        errors 0) wherever the fit puts it. Not with ``top_k``,
        ``prune_threshold``, ``shared_features`` or ``expert_estimator``;
        ``prune_experts`` may drop it. See :ref:`zero-inflated`. Where the
        counts have few structural zeros, EM creeps along a flat ridge and
        its stop test at ``tol=1e-5`` fires short of the optimum (counts with
        none, 1000 rows: 0.28 nats below the plain Poisson regression it
        contains): ``tol=1e-8`` or ``solver="gradient"`` reach it.

    Attributes
    ----------
    expert_coef_ : ndarray of shape (n_experts_, n_features_in_)
        Coefficients b_k of each expert's log rate.

    expert_intercept_ : ndarray of shape (n_experts_,)
        Intercept of each expert's log rate; ``-inf`` for the point mass at
        zero of ``zero_inflated``.

    experts_ : list of estimators
        With ``expert_estimator``: the fitted clones, one per expert
        (``expert_coef_`` and ``expert_intercept_`` are then not set).

    {{shared_attributes}}

    See Also
    --------
    MoERegressor : Mixture of linear-Gaussian experts.
    MoENegativeBinomialRegressor : Its overdispersed counterpart, each expert
        with its own dispersion.
    sklearn.linear_model.PoissonRegressor : The single-expert model.

    Notes
    -----
    ``y`` may be any non-negative numbers. For counts over different
    exposures (time at risk, area), pass them as ``exposure`` to :meth:`fit`
    and to the methods that take counts: each expert's mean count is then
    ``exposure * exp(x~ . b_k)`` (the offset of R's ``offset()``).
    scikit-learn's recipe for ``PoissonRegressor``, the rates ``y /
    exposure`` with ``sample_weight=exposure``, is exact for one expert only,
    and with its penalty rescaled: ``MoEPoissonRegressor(n_experts=1,
    alpha=a)`` is ``PoissonRegressor(alpha=a / exposure.mean())`` (the mean
    weighted by ``sample_weight``, if any), as skmoe's penalty is relative to
    the mean log-likelihood over rows and scikit-learn's to the sum of the
    exposures. With several experts, the responsibilities are those of other
    distributions, and the fit depends on the exposure's unit. See
    :ref:`counts`. The reported log-likelihoods are those of the Poisson
    distribution, ``y log(mu) - mu - log(y!)``, as R's ``dpois``, so they
    compare with R's flexmix. For a non-integer y (a rate ``y / exposure``),
    ``log(y!)`` is ``gammaln(y + 1)``, where ``dpois`` and
    ``predict_distribution(X).logpmf`` give probability 0, and the
    responsibilities and BIC change with y's scale: :meth:`fit` and
    :meth:`partial_fit` warn; pass counts with ``exposure`` instead.

    :meth:`score` is D^2, the fraction of Poisson deviance explained, as
    ``PoissonRegressor.score``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MoEPoissonRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(600, 1))
    >>> log_rate = np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2)
    >>> y = rng.poisson(np.exp(log_rate))
    >>> reg = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.round(np.sort(reg.expert_coef_[:, 0]), 1)
    array([-1. ,  0.5])
    >>> np.round(reg.predict([[-1.0], [1.0]]), 1)
    array([7.4, 4.5])
    """

    def __init__(
        self,
        n_experts="auto",
        *,
        gate="softmax",
        gate_covariance_type="full",
        gate_features=None,
        expert_features=None,
        expert_estimator=None,
        shared_features=None,
        alpha=1e-6,
        n_init=4,
        init_params="mixed",
        max_iter=500,
        tol=1e-5,
        top_k=None,
        prune_threshold=0.0,
        solver="em",
        assignment="soft",
        acceleration=None,
        balance_coef=0.0,
        noisy_gating=False,
        batch_size="auto",
        learning_rate=0.01,
        validation_fraction=0.1,
        n_iter_no_change=5,
        random_state=None,
        warm_start=False,
        verbose=0,
        n_jobs=None,
        device="cpu",
        zero_inflated=False,
    ):
        super().__init__(
            n_experts=n_experts,
            gate=gate,
            gate_covariance_type=gate_covariance_type,
            gate_features=gate_features,
            expert_features=expert_features,
            alpha=alpha,
            n_init=n_init,
            init_params=init_params,
            max_iter=max_iter,
            tol=tol,
            top_k=top_k,
            prune_threshold=prune_threshold,
            solver=solver,
            assignment=assignment,
            acceleration=acceleration,
            balance_coef=balance_coef,
            noisy_gating=noisy_gating,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            n_jobs=n_jobs,
            device=device,
        )
        self.expert_estimator = expert_estimator
        self.shared_features = shared_features
        self.zero_inflated = zero_inflated

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "expert_estimator": [ExpertEstimatorMethods(["fit", "predict"]), None],
        "shared_features": ["array-like", None],
        "zero_inflated": ["boolean"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True
        return tags

    _target_scale_name = "y's rates (y / exposure)"

    def _target_scale_data(self, y, sample_weight, exposure=None):
        # the rates y / e, weighted by e: the same rates at other exposures
        # are the same data for the fitted parameters; an exposure far below
        # the median counts as a share of it (see RATE_EXPOSURE_SHARE)
        values, weights, _ = super()._target_scale_data(y, sample_weight)
        exposure = _check_exposure(exposure, values.shape[0])
        if exposure is None:  # (exposures of 1)
            return values, weights, RATE_EXPOSURE_SHARE
        floor = _exposure_floor(exposure, sample_weight)
        return _judged_rates(values, exposure, floor), exposure, floor

    def _target_candidates(self, candidates, Y, sample_weight, warm=False):
        # expert_estimator's clones are fitted to the rates (CountExperts'
        # M-step), in X's dtype; rows of weight 0 are left out of the fit
        if self._estimator_experts():
            kept = np.flatnonzero(sample_weight > 0)
            _check_rates(
                np.asarray(Y[0][kept], dtype=np.float64),
                np.exp(np.asarray(Y[3][kept], dtype=np.float64)),
                rows=kept,
                n_rows=Y.shape[1],
                dtype=Y.dtype,
                method="fit",
                reason="expert_estimator's clones are fitted to the rates",
            )
        return super()._target_candidates(candidates, Y, sample_weight, warm)

    def _encode_target(self, y, X, *, fitting, exposure=None):
        y = self._checked_counts(y, X, fitting=fitting)
        exposure = _check_exposure(exposure, y.shape[0], y.dtype)
        return encode_counts(y, exposure).astype(y.dtype, copy=False)

    def _checked_counts(self, y, X, *, fitting, name="y"):
        """The counts y, checked, in X's dtype: the first row of
        :meth:`_encode_target`'s target, which ``score`` takes alone (the
        (4, n_samples) target and its temporaries held 62 MiB for 1e6 rows).
        ``name``: y's in the errors of scikit-learn's check ("": those of
        ``PoissonRegressor.score``, "Input contains NaN.")."""
        if not fitting:  # (numeric strings as fit takes them, not "numeric")
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name=name)
            y = _target_column(y)
            check_consistent_length(X, y)
        given = np.asarray(y)
        with np.errstate(over="ignore"):  # a count too large for X's dtype: below
            y = np.asarray(given, dtype=X.dtype)
        if not np.all(y >= 0):
            _check_missing(np, y, "y")
            raise ValueError(
                f"Some value(s) of y are negative: {type(self).__name__} models "
                "counts, which must be non-negative."
            )
        # the log-likelihood sums y log(rate) ~ y log(y) over the samples
        # the largest as given: the cast to float32 X's dtype made 1e39 "inf"
        top = float(np.max(given if given.dtype.kind in "fiu" else y, initial=0.0))
        if top * max(math.log1p(top), 1.0) * y.shape[0] > COUNT_LIMIT * float(
            np.finfo(y.dtype).max
        ):
            if given.dtype.kind == "f":  # inf, let through by assume_finite=True
                _check_infinite(np, given, "y")
            wider = " or use float64 X" if y.dtype != np.float64 else ""
            raise ValueError(
                f"y has counts too large for {y.dtype} (up to {top:.3g}): their "
                f"log-likelihood overflows. {self._large_count_remedy}{wider}."
            )
        return y

    @_fit_context(prefer_skip_nested_validation=False)  # as the base's fit
    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        exposure=None,
        groups=None,
        init_responsibilities=None,
    ):
        self._fit_with(
            X,
            y,
            sample_weight,
            groups=groups,
            init_responsibilities=init_responsibilities,
            exposure=exposure,
        )
        self._exposure_given = exposure is not None
        return self

    fit.__doc__ = _exposure_doc(BaseMixtureOfExperts.fit.__doc__)

    def partial_fit(self, X, y, sample_weight=None, *, exposure=None):
        given = getattr(self, "_exposure_given", False) and hasattr(self, "n_experts_")
        if given:  # a batch without exposures drew the rates to its counts
            self._warn_unexposed("partial_fit", exposure)
        self._partial_fit_with(X, y, sample_weight, exposure=exposure)
        self._exposure_given = given or exposure is not None
        return self

    partial_fit.__doc__ = _exposure_doc(BaseMixtureOfExperts.partial_fit.__doc__)
    partial_fit = available_if(_streaming_solver)(
        _validating_partial_fit(
            _fit_context(prefer_skip_nested_validation=True)(partial_fit)
        )
    )

    def log_likelihood_samples(self, X, y, *, exposure=None):
        self._warn_unexposed("log_likelihood_samples", exposure)
        return self._log_likelihood_samples(X, y, exposure=exposure)

    def responsibilities(self, X, y, *, exposure=None, groups=None):
        self._warn_unexposed("responsibilities", exposure)
        return self._responsibilities(X, y, groups, exposure=exposure)

    def bic(self, X, y, sample_weight=None, *, exposure=None, groups=None):
        return self._exposed_criterion("bic", X, y, sample_weight, exposure, groups)

    def icl(self, X, y, sample_weight=None, *, exposure=None, groups=None):
        return self._exposed_criterion("icl", X, y, sample_weight, exposure, groups)

    def aic(self, X, y, sample_weight=None, *, exposure=None, groups=None):
        return self._exposed_criterion("aic", X, y, sample_weight, exposure, groups)

    def _exposed_criterion(self, method, X, y, sample_weight, exposure, groups):
        n_parameters = self._n_parameters()  # a refusal before the warning
        self._warn_unexposed(method, exposure)
        return self._criterion(
            method, X, y, sample_weight, groups, n_parameters, exposure=exposure
        )

    def std_errors(
        self, X, y, sample_weight=None, *, exposure=None, groups=None, return_cov=False
    ):
        self._refuse_std_errors()  # before the warning of missing exposures
        self._warn_unexposed("std_errors", exposure)
        return self._std_errors(
            X, y, sample_weight, groups, return_cov=return_cov, exposure=exposure
        )

    def _warn_unexposed(self, method, exposure):
        """Warn where a model fitted with exposures is given counts without
        theirs: they are then compared with the rates per unit exposure."""
        check_is_fitted(self)
        if exposure is None and getattr(self, "_exposure_given", False):
            routing = method == "score"  # the one with a request in a search
            hint = (
                " (in a cross-validation, route it: "
                "sklearn.set_config(enable_metadata_routing=True), then "
                "set_fit_request(exposure=True) and "
                "set_score_request(exposure=True))"
            )
            _warn_user(
                f"{type(self).__name__} was fitted with exposure, and {method} "
                "was called without it: the predictions are the rates per unit "
                "exposure, compared with counts. Pass the samples' exposure"
                f"{hint if routing else ''}."
            )

    for _method in (
        log_likelihood_samples,
        responsibilities,
        bic,
        icl,
        aic,
        std_errors,
    ):
        _method.__doc__ = _exposure_doc(
            getattr(BaseMixtureOfExperts, _method.__name__).__doc__
        )
    del _method

    def _make_experts(self, Y, sample_weight, streaming=False):
        self._all_zero = not np.any(Y[0][sample_weight > 0] > 0)
        if self._all_zero and not streaming:  # partial_fit: _streaming_start warns
            _warn_user(
                "y is all zero: the experts' rates tend to zero, and the fit "
                "stops where their log-likelihood stops changing."
            )
        self._warn_non_integer(Y, sample_weight)
        if (
            self.zero_inflated
            and not streaming
            and not self._all_zero
            and not np.any(Y[0][sample_weight > 0] == 0)
        ):
            _warn_user(
                "y has no zero counts (of positive weight), and zero_inflated=True: "
                "its point mass at "
                "zero handles no sample, and the model is a mixture of the other "
                "experts. Set zero_inflated=False to fit without it."
            )
        if self._estimator_experts():
            kind = not_a_regressor(self.expert_estimator)
            if kind is not None:
                raise ValueError(
                    f"expert_estimator={self.expert_estimator!r} is {kind}; "
                    "MoEPoissonRegressor's experts predict mean counts: give a "
                    "regressor (PoissonRegressor, a tree with criterion='poisson')."
                )
            check_sample_weight_support(
                self.expert_estimator,
                "PoissonRegressor, HistGradientBoostingRegressor(loss='poisson'), "
                "DecisionTreeRegressor(criterion='poisson')",
            )
            return CountExperts(
                self.expert_estimator,
                rate_floor=_estimator_rate_floor(Y, sample_weight),
                weight_total=float(np.sum(sample_weight)),
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                random_state=self._expert_seed(),
            )
        return self._count_family(
            shared=getattr(self, "_shared_rows", ()), zero_inflated=self.zero_inflated
        )

    def _held_out_experts(self, experts, Y, fit_weight):
        """The candidates' estimator experts of ``n_experts="auto"``, with
        the rate floor of the training rows (``fit_weight``), not of every
        row: one held-out count of 1e13 (rates near 0.4, 200 rows) raised the
        floor to 5 and the other 19 held-out rows' score from -1.59 to -3.23
        (two experts), and one of 1e300 scored every held-out row -5e287
        under every candidate, which kept one expert."""
        if not isinstance(experts, CountExperts):
            return experts
        experts = copy.copy(experts)
        experts.rate_floor = _estimator_rate_floor(Y, fit_weight)
        return experts

    def _check_curvature_scale(self, X, offset, Y, sample_weight):
        """Warn where EM's Newton steps overflow at the start: their Hessian
        is the features' weighted Gram matrix with the rates as weights, whose
        diagonal at the pooled start (the mean rate) is the mean count times
        the exposure-weighted mean square of each feature's deviations. Where
        that exceeds X's dtype, every Newton direction is inf or NaN and each
        step is refused (counts up to 1e12 at features of 1e150 kept the
        slopes at 0, where the squares alone passed the check of X)."""
        rows = sample_weight > 0
        if (
            not self._rate_curvature
            or self.solver != "em"
            or self._estimator_experts()
            or not np.any(Y[0][rows] > 0)
        ):
            return
        columns = self._expert_columns
        X = _take_columns(np, X, columns, axis=1)
        offset = _take_columns(np, offset, columns, axis=0)
        # the exposures relative to the largest (at most 1: no new overflow)
        log_exposure = Y[3] - np.max(Y[3][rows])
        relative = sample_weight * np.exp(np.minimum(log_exposure, 0.0))
        variance = _mean_square_deviation(X, offset, relative, check=False)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(np.sum(sample_weight * Y[0]) / np.sum(sample_weight))
        if not mean > 0:  # (products of weights and counts that underflow)
            return
        with np.errstate(divide="ignore"):
            log_size = math.log(mean) + np.log(variance.astype(np.float64))
        top = math.log(float(np.finfo(Y.dtype).max))
        over = np.flatnonzero(log_size > top)
        if not over.shape[0]:
            return
        names = getattr(self, "feature_names_in_", None)
        if columns is not None:
            over = np.asarray(columns)[over]
        shown = [names[j] if names is not None else int(j) for j in over]
        _warn_user(
            f"Features {shown} are too large for the counts (mean {mean:.3g}): "
            "the curvature of EM's Newton steps, the mean count times the "
            f"features' squares, overflows {dtype_name(Y.dtype)}, and those steps "
            "can leave the slopes of the experts of large counts where they "
            "start. Rescale the features, e.g. with "
            "sklearn.preprocessing.StandardScaler.",
            FeatureScaleWarning,
        )

    #: Whether the experts' Newton weights are their rates (Poisson), which
    #: :meth:`_check_curvature_scale` judges; the negative binomial's are
    #: smaller where the dispersion is large.
    _rate_curvature = True

    #: The experts' family (its parameters beside ``coef``: see
    #: :meth:`_set_expert_attributes`).
    _count_family = PoissonExperts
    # (the diabetes target as counts, variance 39 times its mean: "auto"
    # chose 4 experts, 6 scored lower D^2, and the negative binomial's one
    # expert the best held-out log-likelihood)
    _more_experts_hint = (
        " Counts more spread than Poisson ones (overdispersed) make a Poisson "
        "mixture add experts for the extra spread: MoENegativeBinomialRegressor "
        "models it within each expert."
    )
    #: What the error for counts too large for the dtype advises.
    _large_count_remedy = (
        "Fit y / c with sample_weight=c for a large c (the same Poisson model "
        "of the rates)"
    )

    def _streaming_start(self, xp, params, Y, sample_weight):
        # a first batch without counts starts every rate near zero (intercepts
        # of -33), which Adam would raise only by its step size (D^2 -69 after
        # 50 passes over data of mean count 3): they are reset from the next
        # batch that has counts (_update_experts)
        self._count_moments = _count_moments(Y, sample_weight)
        total, counts = self._count_moments
        if counts > 0:
            log_rate = math.log(counts / total)
            return self._few_rows_start(xp, params, log_rate, sample_weight)
        self._rate_pending = _pending_rows(sample_weight)
        _warn_user(
            "The first partial_fit batch has only zero counts: the experts' "
            "rates are set once a batch has counts, from the mean count of all "
            "the rows seen."
        )
        return params

    def _few_rows_start(self, xp, params, log_rate, sample_weight):
        """``params`` with every expert at the batch's rate ``log_rate``, without
        slopes, where the first ``partial_fit`` batch has fewer rows than
        ``AUTO_MIN_SAMPLES_PER_PARAMETER`` per coefficient of the experts: its
        M-step fitted each expert's few counts exactly, with slopes that no
        later batch undid (a first batch of 3 rows, then 8 epochs of 500:
        slopes of 20, means up to 3.5e21). As after a batch of zero counts,
        the next batches set the rates again, until ``UNIT_ROWS`` rows have
        been seen (:meth:`_update_experts`)."""
        gate_params, expert_params = params
        coef = expert_params["coef"]  # (partial_fit refuses expert_estimator)
        zero = point_mass_columns(xp, coef)  # (no coefficients to fit)
        n_poisson = coef.shape[1] - int(xp.sum(xp.astype(zero, xp.int64)))
        needed = AUTO_MIN_SAMPLES_PER_PARAMETER * coef.shape[0] * n_poisson
        if effective_rows(sample_weight) >= needed:
            return params
        self._rate_pending = _pending_rows(sample_weight)
        intercepts = xp.full(
            (1, coef.shape[1]), log_rate, dtype=coef.dtype, device=device(coef)
        )
        # (the point mass at zero stays as it is: intercept ZERO_LOG_RATE)
        intercepts = xp.where(zero[None, :], coef[:1, :], intercepts)
        coef = xp.concat([intercepts, xp.zeros_like(coef[1:, :])], axis=0)
        return gate_params, dict(expert_params, coef=coef)

    def _warn_non_integer(self, Y, sample_weight):
        """Warn where y has non-integer values on rows of positive weight (in
        fit, and in each partial_fit batch).

        It sees y as the model fits it, in X's dtype: float32 X rounds y to
        float32 as it rounds X (to a spacing of at most 1.2e-7 y: every
        fraction away from 2**23 on, odd counts from 2**24 on), and the model
        then fits the rounded values, whose likelihood at integers is that of
        counts. Rates y / exposure, which the warning is for, keep their
        fractions unless they are that large or that fine."""
        counts = Y[0][sample_weight > 0]
        fraction = counts[np.floor(counts) != counts]
        if fraction.shape[0]:
            # the sklearn recipe (y / exposure, sample_weight=exposure) gave
            # n_experts='auto' K = 4, 2 and 1 for exposures in years, months, days
            # (the value in its dtype's shortest digits: .4g showed 8388607.5
            # as 8.389e+06; positional, 1e-300 took 302 characters)
            value = fraction[0]
            if abs(value) >= 1e-4:
                shown = np.format_float_positional(value, trim="-")
            else:
                shown = np.format_float_scientific(value, trim="-")
            _warn_user(
                f"y has non-integer values (such as {shown}): "
                f"{type(self).__name__}'s likelihood is that of counts, and at "
                "other values its responsibilities, log-likelihoods and BIC "
                "(which n_experts='auto' compares) change with y's scale. For "
                "rates y / exposure (scikit-learn's recipe, sample_weight="
                "exposure), fit the counts y with exposure=exposure instead."
            )

    def _update_experts(self, Y, sample_weight):
        # a later partial_fit batch (the first goes through _make_experts)
        self._warn_non_integer(Y, sample_weight)
        previous = getattr(self, "_count_moments", None)
        if previous is None:  # fitted by fit: nothing pending
            return
        batch = _count_moments(Y, sample_weight)
        self._count_moments = (previous[0] + batch[0], previous[1] + batch[1])
        total, counts = self._count_moments
        if _reset_pending(self, "_rate_pending", sample_weight, counts > 0):
            intercept = self.expert_intercept_
            xp = array_namespace(intercept)
            rate = xp.full_like(intercept, math.log(counts / total))
            # (the point mass at zero keeps its intercept, -inf)
            self.expert_intercept_ = xp.where(intercept == -xp.inf, intercept, rate)
            if self._solver_state is not None:  # units from the zero rates
                self._solver_state = dataclasses.replace(self._solver_state, units=None)

    def _collapse_message(self, problem, best):
        message = super()._collapse_message(problem, best)
        floored = self._floored_message(problem, best)
        separated = self._separated_message(problem, best)
        parts = (floored, message, separated)
        return " ".join(part for part in parts if part) or None

    def _separated_message(self, problem, best):
        """A warning where ``alpha=0`` and the zero counts are separated, or
        None: the likelihood then has no maximum, and the experts' coefficients
        grow until EM stops, without a word (-27.7 on a dummy feature that is 1
        on zero counts only, -9.5 at the default ``alpha=1e-6``).

        Separated: a combination ``b`` of the experts' design columns (the
        intercept among them) is 0 on every row of a positive count and at
        most 0 on the zero counts, below 0 on some (R's glm has no check for
        it either; its coefficients run to -20 or so with a warning of fitted
        rates numerically 0). Every expert sees every row with a positive
        responsibility, so each one's coefficients grow along ``b``; an expert
        that sees only some rows (``top_k`` routing, ``assignment="hard"``, or
        responsibilities below ``SEPARATED_RESP`` elsewhere, behind a sharp
        gate) grows along a ``b`` that separates those (a dummy's coefficient
        ran to -21 to -30 in one expert, the data as a whole not separated).
        """
        if self.alpha > 0 or self._estimator_experts() or self._degenerate_target():
            return None
        design = to_numpy(problem.design)
        y = to_numpy(problem.Y[0, :])
        rows = to_numpy(problem.sample_weight) > 0
        coef = to_numpy(best.expert_params["coef"])
        n_experts = coef.shape[1]
        resp = to_numpy(e_step(problem, best.gate_params, best.expert_params)[1])
        if self.assignment == "hard":
            held = np.argmax(resp, axis=0)[None, :] == np.arange(n_experts)[:, None]
        else:  # (0 outside the routed experts with top_k)
            held = resp > SEPARATED_RESP
        holds = rows[None, :] & held
        # a point mass (zero_inflated) fits no coefficients: its rows, the
        # zeros, made every check one per expert
        mass = problem.experts.point_masses(problem.xp, best.expert_params)
        counted = np.flatnonzero(
            np.ones(n_experts, dtype=bool) if mass is None else ~np.asarray(mass)
        )
        everywhere = bool(np.all(holds[counted] == rows[None, :]))
        if everywhere:  # one check for all
            counted = counted[:1]
        found = {k: separating_direction(design, y, holds[k]) for k in counted}
        experts = [int(k) for k, direction in found.items() if direction is not None]
        if not experts:
            return None
        columns = np.flatnonzero(np.any([found[k][1:] != 0 for k in experts], axis=0))
        used = self._expert_columns
        names = getattr(self, "feature_names_in_", None)
        shown = [
            int(j) if names is None else str(names[j])
            for j in (columns if used is None else np.asarray(used)[columns])
        ]
        # the separating features' coefficients (another's slope of 39.3 was
        # reported where the dummy's was -13.1)
        largest = float(np.max(np.abs(coef[1:][columns]), initial=0.0))
        where = "" if everywhere else f" on the rows experts {_listed(experts)} hold"
        return (
            f"With alpha=0, features {shown} separate zero counts from the "
            f"others{where}: a combination of them and the intercept is 0 on "
            "every positive count and negative on some zero counts (as a feature "
            "seen only with zeros is). The likelihood has no maximum: the "
            "experts' means there tend to 0, and their coefficients grow until "
            f"the fit stops (largest {largest:.3g}). Set alpha > 0 for finite, "
            "reproducible coefficients."
        )

    def _floored_message(self, problem, best):
        """A warning where experts given by ``expert_estimator`` all predict
        rates at or below their floor (0 or less: a LinearRegression) at
        training rows of positive counts, or None: such a row's probability
        is that of the floor (-21.7 nats each, a log-likelihood of -1453 for
        a PoissonRegressor's -990, without a word). A floored expert beside
        others that hold the row (a tree's leaf of zeros) is not warned of."""
        if not self._estimator_experts():
            return None
        experts = problem.experts
        log_rates = experts.log_rates(np, problem.design, best.expert_params)
        floored = np.all(log_rates <= math.log(experts.rate_floor), axis=0)
        floored &= (np.asarray(problem.Y[0]) > 0) & (problem.sample_weight > 0)
        count = int(np.count_nonzero(floored))
        if not count:
            return None
        return (
            f"Every expert predicts a rate at or below {experts.rate_floor:.3g} "
            f"(0 or less, as a linear model can) on {count} training rows of "
            "positive counts: their likelihood is that of the floor. Give "
            "expert_estimator a regressor of positive means (PoissonRegressor, "
            "HistGradientBoostingRegressor(loss='poisson'), a tree with "
            "criterion='poisson')."
        )

    def _training_log_means(self, problem, expert_params):
        log_rates = problem.experts.log_rates(problem.xp, problem.design, expert_params)
        return log_rates + problem.Y[3, ...][None, :]  # the exposures'

    def _degenerate_target(self):
        return getattr(self, "_all_zero", False)

    def _set_expert_attributes(self, experts, params):
        # the other kind of experts', from a refit (and the estimators' floor)
        for name in ("expert_coef_", "expert_intercept_", "experts_", "_rate_floor"):
            vars(self).pop(name, None)
        if "estimators" in params:
            self.experts_ = list(params["estimators"])
            self._rate_floor = experts.rate_floor
            return
        intercept = params["coef"][0].copy()
        zero = experts.point_masses(np, params)
        if zero is not None:  # the point mass at zero: rate exp(-inf) = 0
            intercept[zero] = -np.inf
        self.expert_intercept_ = intercept
        self.expert_coef_ = params["coef"][1:].T.copy()

    def _experts_from_attributes(self):
        if hasattr(self, "experts_"):
            experts = CountExperts(
                None,
                self._rate_floor,
                columns=self._expert_columns,
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                remember=False,  # (a new design each call: none to reuse)
            )
            estimators = np.empty(len(self.experts_), dtype=object)
            estimators[:] = self.experts_
            return experts, {"estimators": estimators}
        intercept = self._host_attribute("expert_intercept_")
        zero = np.isneginf(intercept)
        # the point mass at zero, as it was fitted (see ZERO_LOG_RATE)
        intercept = np.where(zero, ZERO_LOG_RATE, intercept).astype(intercept.dtype)
        coef = np.vstack([intercept[None, :], self._host_attribute("expert_coef_").T])
        shared = getattr(self, "_fitted_shared_rows", ())
        return PoissonExperts(shared, zero_inflated=bool(zero.any())), {"coef": coef}

    def _log_rates(self, xp, design, index=None, out=None):
        """The experts' log rates (n_experts_, n_samples), or with ``index``
        (top_k, n_samples) those of each sample's selected experts, in
        ``design``'s namespace, dtype and device; ``out``: a NumPy work array
        of all experts' to write them into (linear experts; estimators make
        their own)."""
        experts, params = self._experts_from_attributes()
        if hasattr(self, "experts_"):  # estimators: all of them, then the chosen
            log_rates = experts.log_rates(xp, design, params)
            if index is None:
                return log_rates
            return np.take_along_axis(log_rates, index, axis=0)
        coef = as_compute(xp, params["coef"], design)
        if index is None:
            return by_columns(xp, coef.T, design, out=out)
        return selected_linear(xp, coef, design, index, 1)[:, 0, :]

    def predict(self, X, *, return_std=False, exposure=None):
        """Predict the mixture mean (and standard deviation) of the counts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        return_std : bool, default=False
            Whether to return the standard deviation of the predictive mixture,
            ``sqrt(sum_k g_k (mu_k + (mu_k - mean)^2))`` (a Poisson expert's
            variance is its mean ``mu_k``).
        exposure : array-like of shape (n_samples,) or float, default=None
            The samples' positive exposures (a float: the same for all): each
            expert's mean count is ``mu_k = exposure * exp(x~ . b_k)``. None:
            every exposure is 1, which predicts the rates per unit exposure
            (with a warning where a model fitted with exposures requests them
            for ``predict`` through metadata routing: a caller dropped them).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)
            Mean of the predictive mixture of each sample, ``sum_k g_k mu_k``,
            each term from its logs: where a gate weight underflows to 0 (X
            far from the training data), its term is the mixture's where it
            is a float, and the expert takes no part where the term is
            beyond the floats (the others' mean); with ``exposure``, where
            the term is beyond the floats both per unit exposure and at the
            exposure (counts beyond the floats whose rate is a float raise,
            as in :meth:`predict_distribution`).
        y_std : ndarray of shape (n_samples,)
            Its standard deviation; only when ``return_std`` is True (which
            raises where it overflows, also where the mean does not).

        Raises
        ------
        {{count_predict_raises}}
        """
        if exposure is None and not isinstance(X, _Validated):
            self._warn_unrouted_exposure()
        return self._predict_counts(X, return_std, exposure)

    def _predict_counts(self, X, return_std, exposure):
        """:meth:`predict` without its warning."""
        if exposure is not None:
            return self._predict_exposed(X, return_std, exposure)
        return self._predict(X, return_std)

    def _warn_unrouted_exposure(self):
        """Warn where a model fitted with exposures, which requests them for
        ``predict`` (metadata routing), predicts without them: a caller that
        does not route them, as ``cross_val_predict`` (which routes metadata
        to ``fit`` only) and scikit-learn's scorers named by a string, which
        call ``predict`` without metadata (their scores then compare rates per
        unit exposure with counts)."""
        if not getattr(self, "_exposure_given", False):
            return
        request = self.get_metadata_routing().predict.requests.get("exposure")
        if request is True or isinstance(request, str):
            # cross_val_predict routes metadata to fit only: the scorers' remedy
            # named alone misled its callers
            _warn_user(
                f"{type(self).__name__} was fitted with exposure and requests it "
                "for predict, but predict was called without it: the predictions "
                "are the rates per unit exposure. Callers that route no metadata "
                "to predict drop it: cross_val_predict (multiply its predictions "
                "by the rows' exposures for counts) and scikit-learn's scorers "
                "named by a string (scoring='neg_mean_poisson_deviance', ...; "
                "score the counts with the default scoring=None and "
                "set_score_request(exposure=True))."
            )

    def _rows_given(self, X, method):
        """The number of rows of ``X``, given to ``method`` (its exposures are
        checked against it before X is validated); where X has none to count
        (a 0-d array, a scalar), the error ``predict`` gives for it,
        scikit-learn's "Expected 2D array, got scalar array instead" (the
        count's TypeError came first, "Input should have at least 1
        dimension", in ``score`` and ``predict_distribution``)."""
        try:
            return _num_samples(X)
        except TypeError:
            self._validate_X_predict(X, method)  # (its error, if it has one)
            raise

    def _predict_exposed(self, X, return_std, exposure):
        """:meth:`predict` with exposures: ``sum_k g_k mu_k`` scales with them,
        and the variance ``sum_k g_k mu_k + sum_k g_k (mu_k - mean)^2`` has a
        part of each degree."""
        check_is_fitted(self)
        rows = self._rows_given(X, "predict")
        exposure = _check_exposure(exposure, rows, predicting=True)
        return self._predict(X, return_std, exposure=exposure)

    def _predict(self, X, return_std, log_mean=False, exposure=None):
        """The mixture's mean (and standard deviation) of the rates, or with
        ``exposure`` (checked, of X's rows) of the counts at those exposures;
        ``log_mean``: the log mean of the rates alone (an expert of gate
        weight 0 left out as at ``exposure``, where given: as the counts'
        mean)."""
        seen = [0]  # the rows of the chunks that compute has been given
        work = WorkArrays()  # (K, n) arrays of the first chunk, for every chunk

        def left_out(xp, log_weight, log_rate, weight, terms, at):
            """:func:`_left_out`'s experts of the terms ``g_k mu_k``; at
            exposures ``at``, decided by the counts' shares: below 1, one of
            e^720 per unit is e^700 at e^-20, the distribution's, where left
            out at 1 it gave the other expert's count, 2.1e-9; above 1 the
            share per unit, so that counts beyond the floats at a larger
            exposure raise, as they did, rather than drop to the others'
            count: 1.65e308 at e^9.7, 1.8e4 at e^9.8. (The shares are
            computed only where a weight is 0.)"""
            if at is None:
                return _left_out(xp, weight, terms)

            def shares():
                low = xp.minimum(xp.log(at), xp.zeros_like(at))
                return xp.exp(log_weight + (log_rate + low[None, :]))

            return _left_out(xp, weight, shares)

        def reusing(log_weight, log_rate, weight):
            """Whether the chunk's mean (and std) may be computed in ``work``
            arrays."""
            parts = (log_weight, log_rate, weight)
            return (
                all(is_numpy_array(a) and a.flags.c_contiguous for a in parts)
                and log_rate.shape == log_weight.shape == weight.shape
                and len({a.dtype for a in parts}) == 1
            )

        def mixture(xp, log_weight, log_rate, weight, index, spread=False, at=None):
            """The mean (and standard deviation, or with ``spread`` the rates'
            spread about the mean, ``sqrt(std^2 - mean)``) of the mixture;
            ``at``: the exposures (of the chunk's rows) whose counts' terms
            decide which experts of gate weight 0 are left out."""
            if index is None:
                reuse = reusing(log_weight, log_rate, weight)
            else:  # (top_k's negative binomial peak rose 0.5 MiB with them)
                reuse = False
            if reuse:
                return reused(log_weight, log_rate, weight, spread, at)
            # each term g_k mu_k in log space: finite where an expert's rate
            # overflows but its weight is small enough to hold it, and where
            # the weight underflowed to 0 (e^-2378.7 beside a log rate of
            # 1402.8: 1.21e251, where leaving it out gave 8.06e78); 0 where
            # the weight is 0 and its term beyond the floats (such an expert
            # takes no part, as in score and fit's overflow warning; an
            # estimator's predicted rate may be inf there); NaN where the
            # gate is (its logits overflowed), which raises below
            terms = xp.exp(log_weight + log_rate)
            unused = left_out(xp, log_weight, log_rate, weight, terms, at)
            mean = sums_in_turn(xp, xp.where(unused, xp.zeros_like(terms), terms))
            if not return_std:
                return (mean,)
            # (the terms dropped, and the rates and excess scales made only
            # here, and one at a time: each a (K, n) array that the standard
            # deviation held above predict's, 2 MiB at 1e6 rows, K=8, 1.6 MiB
            # more for negative binomial experts; the mean alone made the
            # rates' two and never used them)
            del terms, unused
            rate = _unweighted_zero(xp, weight, xp.exp(log_rate))
            excess = self._excess_scales(xp, rate, index)
            # scales: the squares of large unit rates (fitted to exposures
            # near 1e-155) overflow where the standard deviations do not
            if spread:  # (Poisson experts: a column of zeros, broadcast)
                scale = xp.zeros_like(rate[:, :1]) if excess is None else excess
            elif excess is None:  # Poisson experts: hypot(r, 0) is r (C99's
                # Annex F), and the hypot was 17% of this predict at K=8
                scale = xp.sqrt(rate)
            else:
                root = xp.sqrt(rate)
                scale = xp.hypot(root, excess)
                del root, excess
            return mean, mixture_std(xp, weight, rate, None, mean, scales=scale)

        def reused(log_weight, log_rate, weight, spread=False, at=None):
            """:func:`mixture`'s mean (and standard deviation, or spread), the
            same numbers, of all experts, in ``work`` arrays: new (K, n)
            arrays at every chunk were freed and faulted in again (77k minor
            page faults a call of 1e6 rows, K=8, also at exposures; the mean
            alone, 62k to 87k); the rates only for the standard deviation."""
            terms = np.add(log_weight, log_rate, out=work("terms", log_rate))
            np.exp(terms, out=terms)
            unused = left_out(np, log_weight, log_rate, weight, terms, at)
            np.copyto(terms, 0, where=unused)
            mean = sums_in_turn(np, terms)
            del unused
            if not return_std:
                return (mean,)
            rate = np.exp(log_rate, out=work("rate", log_rate))
            np.copyto(rate, 0, where=~(weight > 0))
            total = terms  # (the std's sums' work array)
            if spread:  # (Poisson experts: a column of zeros, broadcast, and
                # no (K, n) work array: one made for nothing at every call)
                scale = self._excess_scales(np, rate, out=terms)
                if scale is None:
                    scale = np.zeros_like(rate[:, :1])
                else:  # (terms holds the scales)
                    total = work("scale", rate)
            else:
                scale = np.sqrt(rate, out=work("scale", rate))
                excess = self._excess_scales(np, rate, out=terms)
                if excess is not None:
                    np.hypot(scale, excess, out=scale)
            std = mixture_std(np, weight, rate, None, mean, scales=scale, work=total)
            return mean, std

        def exposed(xp, log_weight, log_rate, weight, index, design):
            """The outputs at the chunk's exposures: the rates' times them,
            where the mixture's mean rate is a finite normal number, else from
            the log rates plus the exposures' logs (a mean rate that under- or
            overflowed can be ordinary at the exposure: log rate -800 at an
            exposure of 1e300 gave 0 for 1e-47)."""
            start, stop = seen[0], seen[0] + design.shape[1]
            seen[0] = stop
            if start == 0:
                _check_exposure_range(exposure, dtype_name(log_rate.dtype))
            scale = as_compute(xp, exposure[start:stop], log_rate)
            mean, *rest = mixture(
                xp, log_weight, log_rate, weight, index, True, at=scale
            )
            if return_std:  # the mean and the rates' spread about it: hypot, as
                # the square of e * spread overflowed float32 where the standard
                # deviation does not
                result = [
                    scale * mean,
                    xp.hypot(xp.sqrt(scale * mean), scale * rest[0]),
                ]
            else:
                result = [scale * mean]
            info = xp.finfo(mean.dtype)
            tiny, top = info.smallest_normal, info.max
            ordinary = (mean >= tiny) & (mean <= top)  # (NaN: not, and stays)
            if return_std:
                ordinary = ordinary & (xp.abs(rest[0]) <= top)
            if not bool(xp.all(ordinary)):
                shifted = log_rate + xp.log(scale)[None, :]
                # (the exposed rates' standard deviation is the whole of it)
                shifted = mixture(xp, log_weight, shifted, weight, index, False)
                result = [
                    xp.where(ordinary, part, other)
                    for part, other in zip(result, shifted, strict=True)
                ]
            # counts that overflow where the rates did not: the exposures'
            # fault, not X's (whose overflow _map_rows names)
            finite = bool(xp.all(xp.isfinite(result[0])))
            if not finite and bool(xp.any(~xp.isfinite(result[0]) & xp.isfinite(mean))):
                _check_exposed(xp, tuple(result))
            if return_std:
                result = far(xp, log_weight, log_rate, index, result, start)
            return tuple(result) if return_std else result[0]

        def far(xp, log_weight, log_rate, index, result, start=None):
            """``result``, the chunk's means and standard deviations, with the
            latter from the predictive distribution's (:meth:`_far_std`) in
            rows where a gate weight (from a finite log) or an expert's rate
            (at the exposures of the chunk's rows from ``start``, or None) is
            below the smallest normal float, which the float sums lose (a
            weight of e^-942 beside a log rate of 192 gave 5.7e-147 for
            6.6e-122; one of e^-800 beside a rate of 1, 0 for 3.3e-174). Two
            reductions where none is."""
            low = math.log(float(xp.finfo(log_rate.dtype).smallest_normal))
            lowest = float(xp.min(log_rate))
            if start is not None:  # (a bound from the least exposure)
                scale = exposure[start : start + log_rate.shape[1]]
                lowest += math.log(float(np.min(scale)))
            # (and rows whose std is not finite beside a finite mean: a rate
            # beyond the floats, held by a small weight, overflowed the
            # scaled sums; a weight of e^-86.7 beside a log rate of 712.2
            # raised for a std of 2.97e290)
            lost = xp.isfinite(result[0]) & ~xp.isfinite(result[1])
            if not (float(xp.min(log_weight)) < low or lowest < low):
                if not bool(xp.any(lost)):
                    return result
            # (the work arrays let go before this path's own (K, n) arrays:
            # held, they raised the peak by 7.9 MiB at 1e6 rows, K=8)
            work.clear()
            shifted = log_rate
            if start is not None:  # (the exposures' logs in float64)
                log_scale = np.log(scale)
                shifted = log_rate + as_compute(xp, log_scale, log_rate)[None, :]
            # (a zero-inflated model's point mass, of log rate ZERO_LOG_RATE,
            # is no underflow; nor is a weight of 0, from a log of -inf)
            tiny = (shifted < low) & (shifted > 0.5 * ZERO_LOG_RATE)
            held = (log_weight > -xp.inf) & ((log_weight < low) | tiny)
            # (only where the part lost can tell: a lost w (mu (1 + phi mu) +
            # (mu - m)^2) <= w (mu + (1 + phi) mu^2 + m^2) against a variance
            # of at least the mean m, e^-40 of margin for phi; or where m is
            # itself below the normal floats, as the sums then keep few
            # digits. A sharp gate's weights of e^-100 beside rates near 1
            # sent every float32 row here, 5x predict's time, for the same
            # numbers)
            log_mean = xp.log(result[0])[None, :]
            bound = xp.maximum(
                log_weight + xp.maximum(shifted, 2 * shifted) - log_mean,
                log_weight + log_mean,
            )
            eps = float(xp.finfo(log_rate.dtype).eps)
            held = held & ((log_mean < low) | ~(bound < math.log(eps) - 40.0))
            rows = to_numpy(xp.nonzero(xp.any(held, axis=0) | lost)[0])
            if rows.shape[0] == 0:
                return result
            take = xp.asarray(rows, device=device(log_rate))
            std = np.asarray(to_numpy(result[1]), dtype=np.float64).copy()
            log_weights, log_rates = (
                np.asarray(to_numpy(xp.take(part, take, axis=1)).T, np.float64)
                for part in (log_weight, log_rate)
            )
            if start is not None:
                log_rates = log_rates + log_scale[rows, None]
            experts = None if index is None else xp.take(index, take, axis=1)
            std[rows] = self._far_std(
                log_weights, log_rates, None if experts is None else to_numpy(experts).T
            )
            return (result[0], as_compute(xp, std, result[1]))

        def compute(xp, design):
            sparse = self._top_k() is not None
            index = weight = None
            if sparse:  # only the selected experts
                index, log_weight = self._route(xp, design)
                log_rate = self._log_rates(xp, design, index)
            else:  # on NumPy, a softmax gate's logs and weights and the
                # log rates are work arrays (new ones at every chunk were
                # given back by glibc's heap trim and faulted in again: see
                # _work_logs); not beside other gates, whose own (K, n)
                # arrays came on top of them (a gaussian gate, K=8: 24
                # vectors of a chunk more at the peak)
                outs = (None, None, None)
                if self._log_gate_takes_out():
                    names = ("log_weight", "log_rate", "weight")
                    outs = self._work_logs(work, design, names)
                log_weight = self._log_gate(xp, design, out=outs[0])
                log_rate = self._log_rates(xp, design, out=outs[1])
                if outs[2] is not None:  # (then log_weight is outs[0], of
                    # its shape and dtype: the softmax gate's log_gate writes
                    # into the out it is given and returns it)
                    weight = np.exp(log_weight, out=outs[2])
                del outs
            if weight is None:
                weight = xp.exp(log_weight)
            if log_mean:  # log sum_k g_k mu_k, finite where the mean underflows
                minus_inf = xp.asarray(-xp.inf, dtype=log_rate.dtype)
                # (where the weight itself underflows, its log still holds it;
                # -inf where predict leaves the expert out, its weight 0 and
                # its term, at the exposures, beyond the floats; the terms'
                # exp only where a weight is 0)
                terms = log_weight + log_rate
                scale = None
                if exposure is not None:
                    start, stop = seen[0], seen[0] + design.shape[1]
                    seen[0] = stop
                    scale = as_compute(xp, exposure[start:stop], log_rate)

                def shares():
                    if scale is None:
                        return xp.exp(terms)
                    low = xp.minimum(xp.log(scale), xp.zeros_like(scale))
                    return xp.exp(log_weight + (log_rate + low[None, :]))

                unused = _left_out(xp, weight, shares)
                terms = xp.where(unused | (log_weight == minus_inf), minus_inf, terms)
                lowest = float(xp.finfo(log_rate.dtype).min)  # a zero mean
                return xp.clip(logsumexp(xp, terms, axis=0), lowest, None)
            if exposure is not None:
                return exposed(xp, log_weight, log_rate, weight, index, design)
            result = mixture(xp, log_weight, log_rate, weight, index)
            if return_std:
                return far(xp, log_weight, log_rate, index, result)
            return result[0]

        # rates or gates that overflow (X far from the training data) raise in
        # _map_rows
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._map_rows(X, compute, "predict")

    def _far_std(self, log_weights, log_rates, experts):
        """The predictive distribution's standard deviations of rows whose
        gate ``log_weights`` and (exposed) ``log_rates`` (n_rows, n_components,
        float64; ``experts`` as :meth:`_distribution`'s) have weights or
        rates below the smallest normal float: from their logs there
        (:meth:`PredictivePoissonMixture.std`)."""
        with np.errstate(over="ignore", under="ignore"):
            weights, every = np.exp(log_weights), np.exp(log_rates)
        # (each row by its sum in one order, as predict_distribution's: np.sum
        # added a row alone among a chunk's far rows in another order)
        weights = weights / _component_sums(weights)[:, None]
        # (1 stands in for a rate that overflows, as in predict_distribution:
        # its share comes from its log; a component of weight 0 has rate 0)
        every = np.where(np.isfinite(every), every, 1.0)
        dist = self._distribution(weights, np.where(weights > 0, every, 0.0), experts)
        tiny = np.finfo(np.float64).smallest_normal
        odd = ((every < tiny) | (log_rates > -math.log(tiny))) & (
            log_rates > 0.5 * ZERO_LOG_RATE
        )
        dist = with_log_parts(
            dist,
            np.arange(len(dist)),
            log_weights,
            rates=every,
            log_rates=np.where(odd, log_rates, np.nan),
        )
        return dist.std()

    def _excess_scales(self, xp, rate, index=None, out=None):
        """The square roots of the experts' variances beyond their means
        (K, n), at their means ``rate`` (with ``index``, the (top_k, n)
        selected experts'; ``out``: a NumPy array to write them in), or None
        for 0 (Poisson experts)."""
        return None

    def predict_distribution(self, X, *, exposure=None):
        """The predictive Poisson mixture p(y | x) of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        exposure : array-like of shape (n_samples,) or float, default=None
            The samples' positive exposures, which multiply the experts' rates
            (as in :meth:`predict`). None: every exposure is 1.

        Returns
        -------
        distribution : PredictivePoissonMixture
            Vectorized ``mean()``, ``var()``, ``std()``, ``pmf(y)``, ``logpmf(y)``,
            ``cdf(y)``, ``sf(y)``, ``ppf(q)``, ``median()``,
            ``interval(confidence)`` and ``sample(n)``, with the per-row expert
            ``weights`` and ``rates``; held on the host (NumPy) whatever the
            input's namespace. With ``top_k``, each row holds only its
            ``top_k`` selected experts.
            ``logpmf(y)`` sums the gate's log weights with the experts' log
            probabilities, as :meth:`log_likelihood_samples`, also where a gate
            weight underflows in ``weights`` (to 0 or a subnormal float: X far
            from the training data) or a rate in ``rates`` under- or overflows
            (from each expert's log rate there). A rate that an exposure takes
            beyond the floats, beside a gate weight below 1e-12 that keeps the
            row's mean finite, is the largest float in ``rates``; ``mean()``,
            ``var()`` and ``std()`` take its shares from its log.

        Raises
        ------
        {{count_distribution_raises}}

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoEPoissonRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> slope = np.where(X[:, 0] < 0, -0.5, 0.5)  # two regimes of rates
        >>> counts = rng.poisson(np.exp(0.5 + slope * X[:, 0]))
        >>> model = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X, counts)
        >>> dist = model.predict_distribution([[-2.0], [2.0]], exposure=[1.0, 2.0])
        >>> np.round(dist.mean(), 2)
        array([4.59, 8.64])
        >>> dist.ppf(0.9)
        array([ 7., 13.])
        """
        check_is_fitted(self)  # before _top_k reads a fitted attribute
        rows = self._rows_given(X, "predict_distribution")
        exposure = _check_exposure(exposure, rows, predicting=True)

        sparse = self._top_k() is not None
        underflow = _Underflow()
        unchecked = [exposure is not None]  # the exposures' range, at chunk 1

        def compute(xp, design):
            # (each expert's rate and log rate, for a row whose gate weight
            # or rate underflowed)
            if sparse:
                index, log_weight = self._route(xp, design)
                log_rate = self._log_rates(xp, design, index)
            else:  # (the rates before the gate: one array fewer at a time)
                log_rate = self._log_rates(xp, design)
            if unchecked[0]:  # as predict: exposures outside a float32 model's
                # range were served in float64 where predict and score refuse
                unchecked[0] = False
                _check_exposure_range(exposure, dtype_name(log_rate.dtype))
            rate = xp.exp(log_rate)
            log_rate, low = underflow.far(xp, rate, log_rate)
            over = None
            if log_rate is not None:
                # rates that overflowed from a finite log, which a small
                # exposure can bring back (log rate 800 at 1e-300: 1e47), or
                # without one a weight below HELD_WEIGHT hold where the row's
                # mean is finite, as predict gives it (a weight of e^-86.7
                # beside a log rate of 712.2: a std of 2.97e290): kept with
                # their logs, and 1 in their place until then
                over = (rate == xp.inf) & (log_rate < xp.inf)
                if not bool(xp.any(over)):
                    over = None
            if not sparse:
                log_weight = self._log_gate(xp, design)
            if over is not None and exposure is None:
                terms = xp.exp(log_weight + log_rate)
                unused = _left_out(xp, xp.exp(log_weight), terms)
                terms = xp.where(unused, xp.zeros_like(terms), terms)
                held = xp.isfinite(xp.sum(terms, axis=0))[None, :]
                over = over & (log_weight < math.log(HELD_WEIGHT)) & held
                del terms, held
                if not bool(xp.any(over)):
                    over = None
            if over is not None:
                low = over if low is None else low | over
            weight = underflow.exp(xp, log_weight, rate, log_rate, low=low)
            if over is not None:
                rate = xp.where(over, xp.ones_like(rate), rate)
            del log_weight, log_rate, low  # (freed before the outputs)
            rate = _unweighted_zero(xp, weight, rate)
            if sparse:  # (the experts of each row, for their other parameters)
                return (*_float64_rows(weight.T, rate.T), index.T)
            return _float64_rows(weight.T, rate.T)

        # rates that overflow (X far from the training data) raise in _map_rows
        with np.errstate(over="ignore", invalid="ignore"):
            weights, rates, *experts = self._map_rows(
                X, compute, "predict_distribution"
            )
        weights = np.asarray(to_numpy(weights), dtype=np.float64)
        # (each row by its sum in one order, whatever the chunks' layout)
        weights /= _component_sums(weights)[:, None]
        # (in float64, the distribution's dtype: a float32 model's rates times
        # exposures in float32's range can overflow it, 1.68 at 3.4e38 5.7e38)
        rates = np.asarray(to_numpy(rates), dtype=np.float64)
        plain = rates
        grown = None
        if exposure is not None:
            with np.errstate(over="ignore"):  # (raises below)
                rates = rates * exposure[:, None]
            if not np.all(np.isfinite(rates)):
                # rows whose rates the exposures took beyond the floats: kept
                # with their logs (below), which raises where the row's mean
                # overflows too; a weight of e^-131 held a rate of e^722 at an
                # exposure of 1e300, a mean of 4.7e256 that predict serves
                grown = np.any(rates == np.inf, axis=1)
                rates = np.minimum(rates, np.finfo(np.float64).max)
        experts = to_numpy(experts[0]) if sparse else None
        dist = self._distribution(weights, rates, experts)
        kept = underflow.kept()
        tiny = np.finfo(np.float64).smallest_normal
        # (the least rate first: the masks cost 5% of a call at 1e5 rows, K=8)
        if exposure is not None and np.min(rates) < tiny:
            # rows whose rates the exposures took below the normal floats,
            # where no rate nor gate weight under- or overflowed (those are
            # kept): their rates before the exposures, whose logs stand for
            # them (rates of 1e-174 at exposures of 1e-300 became 0, and
            # logpmf(1) -inf for -1090)
            shrunk = (plain > 0) & (rates < tiny)
            shrunk = np.any(shrunk, axis=1)
            kept = _keep_rows(kept, shrunk, weights, plain)
        if grown is not None:
            kept = _keep_rows(kept, grown, weights, plain)
        if kept is None:
            return dist
        # every expert's rate in these rows; those that under- or overflow
        # come from their logs (1 stands in for inf: a negative binomial's
        # log probability is finite there, -5360 at a log mean of 991)
        rows, log_weights, every, log_rates = kept
        with np.errstate(divide="ignore"):  # (NaN: a chunk of normal rates)
            log_rates = np.where(np.isnan(log_rates), np.log(every), log_rates)
        # (in the chunks' dtype, then in float64 after the exposures)
        odd = (every < underflow.tiny) | (every == np.inf)
        if exposure is not None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                every = every * exposure[rows, None]
                log_rates = log_rates + np.log(exposure[rows, None])
        odd |= (every < np.finfo(np.float64).smallest_normal) | (every == np.inf)
        odd &= log_rates > 0.5 * ZERO_LOG_RATE  # (not the point mass at zero)
        # the distribution's rates there from their logs: a rate that
        # underflowed before the exposure can be ordinary after it (log rate
        # -800 at an exposure of 1e300: 1e-47, which mean, cdf, sf, ppf and
        # sample took as 0); components of weight 0 keep their 0
        with np.errstate(over="ignore"):
            restored = np.exp(log_rates)
        used = dist.weights[rows] > 0
        fix = odd & (restored < np.inf) & used
        # rates that overflow at their exposures too (1 stood in for them):
        # the largest float stands for them, and their shares of the mean and
        # variance come from their logs, where the row's mean is finite and
        # their weights are too small for the others' sum to show them
        beyond = odd & (restored == np.inf) & used
        # the components of the mean, as predict's: with them, those of gate
        # weight 0 whose share per unit exposure, times min(e, 1), is a float
        # of the model's dtype (a weight of e^-800 beside a rate of e^1500 at
        # e^20: counts of e^720 that predict refused, where the mean served
        # the other expert's count alone, 4.9e8)
        log_exposures = None if exposure is None else np.log(exposure[rows])
        with np.errstate(invalid="ignore"):  # (-inf + inf: a weight of 0)
            taking = taking_part(
                dist.weights[rows],
                log_weights,
                log_rates,
                underflow.largest,
                log_exposures,
            ) & (log_weights > -np.inf)
        if np.any(odd & (restored == np.inf) & taking):
            with np.errstate(invalid="ignore"):
                log_mean = special.logsumexp(
                    np.where(taking, log_weights + log_rates, -np.inf), axis=1
                )
                heavy = np.any(beyond & ~(log_weights < math.log(HELD_WEIGHT)), axis=1)
            log_largest = math.log(np.finfo(np.float64).max)
            failed = heavy | ~(log_mean < log_largest)
            if np.any(failed):
                # (as predict: the exposures' fault where a row's mean rate,
                # before them, is finite, else X's)
                check = _check_finite
                if exposure is not None:
                    log_rate = log_mean - np.log(exposure[rows])
                    if np.any(log_rate[failed] < log_largest):
                        check = _check_exposed
                check(np, np.array([np.inf]), "predict_distribution")
            fix = fix | beyond
            restored = np.where(beyond, np.finfo(np.float64).max, restored)
        if np.any(fix):
            exposed = np.array(dist.rates)  # (a copy: the rates may be shared)
            exposed[rows] = np.where(fix, restored, exposed[rows])
            dist.rates = exposed
        parts = {} if log_exposures is None else {"log_exposures": log_exposures}
        return with_log_parts(
            dist,
            rows,
            log_weights,
            largest=underflow.largest,
            rates=np.where(np.isfinite(every), every, 1.0),
            log_rates=np.where(odd, log_rates, np.nan),
            **parts,
        )

    def _distribution(self, weights, rates, experts):
        """The predictive distribution of these weights and rates (n_rows,
        n_components), the components those of the experts ``experts`` (with
        top_k; None: all experts, in order)."""
        return PredictivePoissonMixture(weights, rates)

    def score(self, X, y, sample_weight=None, *, exposure=None):
        """D^2, the fraction of Poisson deviance explained, of the predictions.

        ``1 - D(y, y_pred) / D(y, y_null)`` with ``D`` the (weighted) Poisson
        deviance and ``y_null`` the weighted mean of y, as
        ``PoissonRegressor.score``; 1 is best, and it can be negative. With
        ``exposure``, the null model is a constant rate, ``y_null = exposure *
        sum(w y) / sum(w exposure)`` (R's null deviance with the offset; the
        D^2 of the rates ``y / exposure`` with the weights times the
        exposures, scikit-learn's recipe), so that the exposures alone explain
        nothing. Where y is constant (a held-out fold of zero counts), 1 for
        predictions equal to it (to 1e-9 of itself, 1.2e-4 for float32
        predictions) and 0 otherwise, as ``r2_score``
        (``PoissonRegressor.score`` gives NaN); on fewer than two rows (of
        positive weight), NaN with an ``UndefinedMetricWarning``, as
        ``d2_tweedie_score``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            The counts.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        exposure : array-like of shape (n_samples,) or float, default=None
            The samples' positive exposures (see :meth:`predict`). A model
            fitted with exposures warns when it is scored without them: its
            predictions are then rates per unit exposure, not counts. In a
            cross-validation, enable scikit-learn's metadata routing and
            request it for both ``fit`` and ``score``, and keep the default
            ``scoring=None``: scorers named by a string call ``predict``
            without it (see :ref:`counts`; ``predict`` then warns where
            ``exposure`` is requested for it).

        Returns
        -------
        score : float
            D^2 of ``self.predict(X, exposure=exposure)`` against y.
        """
        self._warn_unexposed("score", exposure)
        # checked on all the rows, in the caller's numbers, then those of
        # weight 0 left out (a (n, 1) exposure was reported at the rows kept)
        n_rows, given_weight = self._rows_given(X, "score"), sample_weight
        exposure = _check_exposure(exposure, n_rows)
        # (y's missing values in PoissonRegressor.score's words, "Input
        # contains NaN.", pandas' NA and rows of weight 0 too)
        X, y, sample_weight, exposure = _scored_rows(
            X, y, sample_weight, exposure, estimator=self, metric_y=True
        )
        y_pred = to_numpy(self._predict_counts(X, False, exposure))
        # means that underflowed far from the data: d2_tweedie_score took
        # y / mu = inf for them (-inf and NumPy's overflow warning for y > 4),
        # or, clipped to the smallest normal number, too small a deviance
        normal = np.asarray(y_pred >= np.finfo(y_pred.dtype).smallest_normal)
        dtype = y_pred.dtype  # (float32 predictions: to their resolution)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        counted = None
        if exposure is not None:  # the rates of counts that are normal numbers
            # can under- or overflow (a count of 1e40 at an exposure of 1e-300):
            # the deviance of the counts, below
            counted = normal  # (counts that are normal numbers)
            normal = _normal_rates(y_pred, exposure, counted)
        underflow = not bool(np.all(normal))
        y = self._checked_counts(host(y), y_pred[:, None], fitting=False, name="")
        if _too_few_to_score(y):  # (X and y checked above, by predict and here)
            return float("nan")
        sample_weight = _score_weights(sample_weight, y)
        y = y.astype(np.float64, copy=False)  # (float64 already: no copy)
        exposure = _check_exposure(exposure, y.shape[0])
        # named in the caller's rows, not those of positive weight kept
        kept = None
        if y.shape[0] < n_rows:
            kept = np.flatnonzero(_score_weights(given_weight, np.empty(n_rows)) > 0)
        _check_rates(y, exposure, rows=kept, n_rows=n_rows)
        # with exposures, the rates y / exposure, each weighing its exposure;
        # the rates, their weights and the log terms are made a chunk of rows
        # at a time (:func:`_rates`, :func:`_weights`): whole, they held 3 to
        # 10 more vectors of n rows (112 MiB for 1e6 rows, where the counts
        # and their predictions took 15)
        if underflow:  # the deviance from the log rates of the mixture
            # at the rows where predict's means are normal numbers, their logs:
            # predict leaves out the experts of gate weight 0, whose log terms
            # (an underflowed weight e-1253 times an overflowed rate e2024) made
            # the log mean inf and the score -inf where predict was finite;
            # the mixture's log means at the others alone (of all the rows,
            # they held one more vector of n rows beside the prediction's
            # temporaries, and took a prediction's time), a prediction's chunk
            # of them at a time: their rows of X, copied at once, took X's
            # size again where most rows were far (113 MiB for 1e6 rows, K=8,
            # where predicting all of them took 57)
            far = np.flatnonzero(~normal)
            width = self.n_features_in_ + 1 + 4 * self.n_experts_  # _chunk_rows'
            log_far = []
            for chunk in _row_slices(far.shape[0], width):
                rows = far[chunk]
                at = None if exposure is None else exposure[rows]
                log_mean = self._predict(
                    _safe_indexing(X, rows), False, log_mean=True, exposure=at
                )
                log_far.append((rows, np.asarray(to_numpy(log_mean), np.float64)))
            log_pred = np.empty(y.shape[0])
            for rows in _row_slices(y.shape[0]):
                rate = _rates(y_pred, exposure, rows)
                with np.errstate(divide="ignore"):
                    np.log(rate, out=log_pred[rows], where=normal[rows])
            for rows, log_mean in log_far:
                log_pred[rows] = log_mean
            del log_far
            if counted is None:
                return _poisson_d2(y, log_pred, sample_weight, dtype)
            if _constant_rates(y, exposure, sample_weight):  # (as r2_score)
                rows = _weights(sample_weight, exposure, slice(None)) > 0
                rate = np.exp(log_pred[rows])
                return constant_target_score(_rates(y, exposure, rows), rate, dtype)
            # the deviance of the counts, from their logs where they are normal
            # numbers, else the log rates plus the exposures' logs: that of the
            # rates times the exposures took a rate of e800 at an exposure of
            # 1e-300 as inf (-inf for D^2)
            for rows in _row_slices(y.shape[0]):
                with np.errstate(divide="ignore"):
                    log_count = np.log(y_pred[rows])
                shifted = log_pred[rows] + np.log(exposure[rows])
                log_pred[rows] = np.where(counted[rows], log_count, shifted)

            def total(values):  # sum_i w_i values_i
                return _chunked_sum(lambda rows: sample_weight[rows] * values[rows], n)

            n = y.shape[0]
            null = math.log(total(y) / total(exposure))
            return _poisson_d2(
                y, log_pred, sample_weight, dtype, exposure, log_null=null
            )
        if _constant_rates(y, exposure, sample_weight):
            rows = _weights(sample_weight, exposure, slice(None)) > 0
            return constant_target_score(
                _rates(y, exposure, rows), _rates(y_pred, exposure, rows), dtype
            )
        return _tweedie_d2(y, y_pred, sample_weight, exposure)


def _rates(y, exposure, rows):
    """``y[rows]``, over ``exposure[rows]`` where given (overflowing as
    ``_check_rates`` allowed: to inf, quietly)."""
    if exposure is None:
        return y[rows]
    with np.errstate(over="ignore"):
        return y[rows] / exposure[rows]


def _normal_rates(y_pred, exposure, normal):
    """``normal`` (whether each of the means ``y_pred`` is a normal float)
    where also their rates ``y_pred / exposure`` are normal floats, a chunk
    of rows at a time (:func:`~skmoe._base._row_slices`)."""
    info = np.finfo(np.float64)
    normal = normal.copy()
    for rows in _row_slices(y_pred.shape[0]):
        rate = _rates(y_pred, exposure, rows)
        normal[rows] &= (rate >= info.smallest_normal) & (rate <= info.max)
    return normal


def _weights(sample_weight, exposure, rows):
    """The rates' weights, ``sample_weight[rows]`` times ``exposure[rows]``
    where given."""
    if exposure is None:
        return sample_weight[rows]
    return sample_weight[rows] * exposure[rows]


def _constant_rates(y, exposure, sample_weight):
    """Whether ``y`` (over ``exposure`` where given) is the same at every row
    of positive weight (:func:`_weights`; ``np.ptp`` of them is 0), a chunk
    of rows at a time."""
    least, most = math.inf, -math.inf
    for rows in _row_slices(y.shape[0]):
        rate = _rates(y, exposure, rows)[_weights(sample_weight, exposure, rows) > 0]
        if rate.shape[0]:
            least = min(least, float(np.min(rate)))
            most = max(most, float(np.max(rate)))
    return most - least == 0


def _tweedie_d2(y, y_pred, sample_weight, exposure=None):
    """``d2_tweedie_score(y, y_pred, sample_weight=sample_weight, power=1)``
    (means ``y_pred`` that are positive numbers), its sums over the rows
    taken in row chunks (:func:`~skmoe._base._chunked_sum`), as ``predict``
    makes them: on all the rows at once, it held 9 float64 vectors of n
    rows (70 MiB for 1e6 rows). The same number where the rows fit one chunk
    (262144 rows), else as accurate. ``exposure``: that of the rates ``y /
    exposure`` and ``y_pred / exposure``, weighing ``sample_weight *
    exposure``, each chunk's made from the counts and the exposures."""
    n_rows = y.shape[0]

    def weights(rows):
        return _weights(sample_weight, exposure, rows)

    total = _chunked_sum(weights, n_rows)
    mean = _chunked_sum(lambda rows: _rates(y, exposure, rows) * weights(rows), n_rows)
    mean = mean / total

    def deviance(mu):  # the weighted mean of the unit deviances, as np.average
        def terms(rows):
            at = mu if np.ndim(mu) == 0 else _rates(mu, exposure, rows)
            counts = _rates(y, exposure, rows)
            unit = 2 * (special.xlogy(counts, counts / at) - counts + at)
            return unit * weights(rows)

        return _chunked_sum(terms, n_rows) / total

    return float(1 - deviance(y_pred) / deviance(mean))


def _poisson_d2(
    y, log_pred, sample_weight, dtype=np.float64, exposure=None, log_null=None
):
    """D^2 of the Poisson deviance, ``1 - D(y, mu) / D(y, mean(y))`` with the
    unit deviance ``2 (y log(y / mu) - y + mu)`` taken from the log means
    ``log_pred`` (finite where mu underflows), as ``d2_tweedie_score(power=1)``
    computes it from ``mu`` (the factor 2 cancels); ``log_null``: the null
    model's log rate, whose log means are ``log_null + log(exposure)`` (of
    counts at exposures, whose rates the caller found not constant), in place
    of ``log(mean(y))``. Else 1 or 0 where y is constant, as ``r2_score``.
    The sums over the rows in row chunks (:func:`~skmoe._base._chunked_sum`;
    the null's log means made a chunk at a time): the same number where the
    rows fit one chunk, else as accurate."""
    n_rows = y.shape[0]

    def deviance(log_mu):
        def terms(rows):
            counts = y[rows]
            at = log_mu[rows] if np.ndim(log_mu) else log_mu
            if exposure is not None and not np.ndim(log_mu):  # the null's
                at = log_mu + np.log(exposure[rows])
            counted = counts > 0  # y log(y / mu) is 0 at y = 0, whatever mu
            log_ratio = np.log(np.where(counted, counts, 1.0)) - at
            unit = np.where(counted, counts * log_ratio, 0.0) - counts + np.exp(at)
            return sample_weight[rows] * unit

        return _chunked_sum(terms, n_rows)

    null = log_null
    if null is None:  # (the caller's rates were not constant)
        if _constant_rates(y, None, sample_weight):
            rows = sample_weight > 0
            return constant_target_score(y[rows], np.exp(log_pred[rows]), dtype)
        total = _chunked_sum(lambda rows: sample_weight[rows], n_rows)
        mean = _chunked_sum(lambda rows: y[rows] * sample_weight[rows], n_rows)
        null = math.log(mean / total)  # (np.average's)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(1.0 - deviance(log_pred) / deviance(null))


def _estimator_rate_floor(Y, sample_weight):
    """The rate floor of estimator experts: ``RATE_FLOOR`` times the
    (weighted) mean rate per unit exposure of the encoded counts ``Y``, or
    times 1 where that is below 1."""
    mean = np.sum(sample_weight * Y[0]) / np.sum(sample_weight * np.exp(Y[3]))
    return RATE_FLOOR * max(float(mean), 1.0)


def _count_moments(Y, sample_weight):
    """(weighted sum of the exposures, weighted sum of the counts) of an encoded
    target."""
    exposure = np.exp(Y[3])
    return float(np.sum(sample_weight * exposure)), float(np.sum(sample_weight * Y[0]))
