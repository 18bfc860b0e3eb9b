"""Warm starts: whether fitted parameters can be continued on new data or
with changed expert estimators, and what changed where they cannot."""

from __future__ import annotations

import math
import numbers
import pickle

import numpy as np
import scipy.sparse

from ._math import weighted_lower_quantiles


class _WarmStartFailed(Exception):
    """Raised inside ``fit`` where a warm start cannot continue the fitted
    parameters on the data; ``fit`` then fits as with ``warm_start=False``."""


#: scikit-learn's checks of X's feature names and count against the fitted
#: model's, which ``validate_data`` runs before (names) and after (count) its
#: checks of the values of X and y
_FEATURE_CHECKS = frozenset({"_check_feature_names", "_check_n_features"})


def _raise_if_features_changed(estimator, error, method, remedy):
    """Raise ``error`` (``validate_data``'s ValueError) again with what to do
    where it was raised by scikit-learn's check of X's feature names or count
    against those of the fitted model that ``method`` continues; return
    otherwise. scikit-learn's message ("is expecting 8 features", "names ...
    passed during fit") does not say that the call continues a fit, nor how to
    fit on the new features. Its other errors (NaN, too few samples, y), also
    where the count differs, stand as they are."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    if trace is None:
        return
    code, module = trace.tb_frame.f_code, trace.tb_frame.f_globals.get("__name__")
    if code.co_name not in _FEATURE_CHECKS or not str(module).startswith("sklearn."):
        return
    fitted_names = getattr(estimator, "feature_names_in_", None)
    fitted_n = getattr(estimator, "n_features_in_", None)
    if fitted_n is None:  # a model pickled without it: its names' count
        fitted_n = len(fitted_names) if fitted_names is not None else "fitted"
    named = " (and their names)" if fitted_names is not None else ""
    raise ValueError(
        f"{error}\n{method} continues the fitted model, whose {fitted_n} "
        f"features{named} X must have; {remedy} to fit on X's features."
    ) from error


#: A warm fit whose features' standard deviations differ from the last fit's by
#: more than this factor, or whose means moved by more than ``WARM_SHIFT_LIMIT``
#: of those deviations, fits as with ``warm_start=False``: parameters fitted in
#: other units (X * 1e8) overflowed, or continued to a poor optimum, often with
#: ``converged_`` and no other word (``python benchmarks/warm_start_moves.py``:
#: R^2 -10893 where a fresh EM fit had 0.99 at X * 200, a classifier's accuracy
#: 0.13 below a fresh fit's and Poisson experts' D^2 4e5 below at X * 30; no
#: gap beyond 0.025 at X * 10, in 3 seeds of 6 models).
WARM_SCALE_RATIO = 10.0
#: As ``WARM_SCALE_RATIO``, for the features' means, in the last fit's standard
#: deviations: every expert and gate whose regimes the data then left behind
#: (two regimes split at x = 0, the features moved by 2 of their standard
#: deviations: R^2 0.14 where a fresh fit had 0.99; a classifier's accuracy
#: 0.19 below a fresh fit's at 1.5; no gap beyond 0.025 at 1).
WARM_SHIFT_LIMIT = 1.0
#: Rows (of positive weight) of a stream started by ``partial_fit`` whose
#: pooled moments a later warm fit compares with; later batches leave them:
#: pooled with every row, 40 rows of X * 200 after 1000 (or 1000 after 1000)
#: moved their spread within ``WARM_SCALE_RATIO`` of X * 200's, and a warm fit
#: on X * 200 continued the stream's parameters to R^2 -2774 (-1023) where a
#: fresh fit had 0.92 (0.89). A reference of the first batch alone, of 10 rows,
#: sent a stationary stream's warm fit afresh in 3% (normal features) to 56%
#: (a feature 90% zeros) of seeds; of 100 rows, 0% to 0.2%.
POOLED_ROWS = 1000
#: As ``WARM_SCALE_RATIO``, for a regressor's y (a count model's rates, y over
#: the exposure): a warm Gaussian fit on y times 300 (EM; 100 for L-BFGS, 10 for
#: Adam) or moved by 30 of its standard deviations ended at R^2 0.14 where a
#: fresh fit from the same seeds had 0.64, with a warning of a collapsed expert.
WARM_TARGET_RATIO = 10.0


#: A count model's rows whose exposure is below this share of the median
#: exposure (:func:`_exposure_floor`) count as of that exposure in the rates
#: that the warm start's and the stream's scale checks judge: one count of 3
#: over an exposure of 1e-4 set the rates' variance (count^2 / exposure), so
#: that a warm fit on rates 20 times as large continued the fit, and one over
#: 1e-10 stretched the range of the rates seen to 3e10, which silenced the
#: runaway check of a stream. (Exposures U(0.01, 1): those below 0.05 count
#: as 0.05; no runaway warning nor warm fallback more on such data.)
RATE_EXPOSURE_SHARE = 0.1


def _exposure_floor(exposure, sample_weight):
    """``RATE_EXPOSURE_SHARE`` times the median of ``exposure`` (one per row)
    over the rows of positive ``sample_weight``, weighted by it, as a float;
    None where no row has weight."""
    exposure = np.asarray(exposure, dtype=np.float64).reshape(-1)
    weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    exposure = np.broadcast_to(exposure, weight.shape)
    rows = weight > 0
    if not np.any(rows):
        return None
    exposure, weight = exposure[rows], weight[rows]
    if np.all(weight == weight[0]):  # the lower median: a partition, not a sort
        middle = (exposure.shape[0] + 1) // 2 - 1
        return RATE_EXPOSURE_SHARE * float(np.partition(exposure, middle)[middle])
    if not np.isfinite(np.sum(weight)):  # (scaled to the largest: a finite sum)
        weight = weight / np.max(weight)
    # the lower weighted median, whatever the weights' scale: the rounded
    # cumsum of the weights over the largest, compared with half its end,
    # took exposure 3 of exposures 1, 2, 3 of weights 0.7, 2.1, 2.8, where 2
    # reaches half the total; the next exposure for 147 of 4000 random
    # integer weightings (scaled by 1e-100 to 1e100), 15 of them by scale
    middle = weighted_lower_quantiles(exposure, (0.5,), weight)[0]
    return RATE_EXPOSURE_SHARE * float(middle)


def _judged_rates(y, exposure, floor):
    """The rates ``y / exposure`` that the scale checks judge: each exposure
    taken at ``floor`` at least (:func:`_exposure_floor`; None: as it is)."""
    exposure = np.asarray(exposure, dtype=np.float64)
    if floor is not None:
        exposure = np.maximum(exposure, floor)
    with np.errstate(over="ignore"):  # a rate of inf: judged as such there
        return np.asarray(y, dtype=np.float64) / exposure


#: A ``partial_fit`` batch (of at least ``_sgd.UNIT_ROWS`` rows) in which a
#: feature spreads more than this many times as wide, or as narrow, as in the
#: rows the model was first fitted on, by both its quantile range and its
#: standard deviation, warns: Adam's steps and online EM's running sums stay in
#: the first units (after X * 1e6, R^2 of -4e11 with Adam, and online EM kept an
#: expert in the former units, without a word). Wide, as one batch's spread is
#: a rough one; a change of units by 1e3 or more. Either spread alone misfired
#: on batches of 50 rows from one distribution: the quantile range on 1% to 11%
#: of the batches of a feature 85% to 90% zero (its 90% quantile on the atom's
#: edge), the standard deviation on Cauchy features; both together on 0.8% at
#: most, for a lognormal of sigma 3 beside 85% zeros.
STREAM_SCALE_RATIO = 100.0
#: Rows (evenly spaced) that :func:`_feature_ranges` takes its quantiles of.
RANGE_ROWS = 1000


def _feature_ranges(X, sample_weight):
    """Two spreads of each feature over the rows of positive weight
    (``RANGE_ROWS`` of them at most, evenly spaced), (2, n_features) float64:
    the range between its 10% and 90% quantiles, and its standard deviation
    (see ``STREAM_SCALE_RATIO``)."""
    rows = np.flatnonzero(np.asarray(sample_weight) > 0)
    rows = rows[:: max(1, -(-rows.shape[0] // RANGE_ROWS))]  # (no copy of X)
    values = np.asarray(X[rows], dtype=np.float64)
    low, high = np.quantile(values, [0.1, 0.9], axis=0)
    with np.errstate(over="ignore", invalid="ignore"):  # (inf: not judged)
        return np.stack([high - low, np.std(values, axis=0)])


def _stream_scale_message(reference, ranges, used, names=None):
    """The warning for a ``partial_fit`` batch whose features' spreads
    (:func:`_feature_ranges`) both differ from ``reference``'s by more than
    ``STREAM_SCALE_RATIO`` times, the same way, in a used column (``used``:
    None for all), as ``(key, message)``, or None. A spread of 0 or inf is
    not judged. The feature is named by ``names`` (``feature_names_in_``),
    else its column. ``key`` names the feature and the way its spread moved
    (not the ratio, which varies from batch to batch): a stream warns of
    each once."""
    reference = np.asarray(reference, dtype=np.float64)
    columns = np.arange(ranges.shape[1]) if used is None else np.asarray(used)
    new, old = ranges[:, columns], reference[:, columns]
    judged = np.all((old > 0) & (new > 0) & np.isfinite(old) & np.isfinite(new), 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = np.where(judged, new / old, 1.0)
    wider = np.all(ratio > STREAM_SCALE_RATIO, axis=0)
    moved = wider | np.all(ratio < 1 / STREAM_SCALE_RATIO, axis=0)
    if not np.any(moved):
        return None
    position = int(np.flatnonzero(moved)[0])
    column = int(columns[position])
    feature = column if names is None else repr(str(names[column]))
    key = ("spread", column, "wider" if wider[position] else "narrower")
    return key, (
        f"partial_fit: X's feature {feature} spreads "
        f"{float(ratio[0, position]):.3g} times as wide in this batch as in the "
        "rows the model was first fitted on (the range of its 10% to 90% "
        "quantiles; its standard deviation moved alike). The parameters, "
        "Adam's steps and online EM's running sums stay in the first rows' "
        "units: transform every batch alike (one scaler, fitted once), or fit "
        "afresh."
    )


def _stored_moments_weights(estimator, totals, rows):
    """Store the weight totals (``totals``: the features', and a regressor's
    targets') of ``estimator``'s moments and their ``rows`` of positive
    weight, which a stream's later batches pool with; or, from
    ``POOLED_ROWS`` rows, neither: the moments then stay as they are."""
    if rows < POOLED_ROWS:
        estimator._fit_moments_weights = tuple(totals)
        estimator._fit_moments_rows = rows
    else:
        vars(estimator).pop("_fit_moments_weights", None)
        vars(estimator).pop("_fit_moments_rows", None)


def _feature_moments(X, sample_weight):
    """The features' weighted means and variances (float64 arrays): the
    variances are also the units a later ``partial_fit`` steps in. A feature
    constant over the rows of positive weight has its value as its mean and a
    variance of exactly 0 (the
    rounding of its mean left about 1e-17 times it, and a warm fit on as many
    other rows of the same constant found it moved by several such standard
    deviations)."""
    mean = np.average(X, axis=0, weights=sample_weight)
    # features near the float's limit: inf here, and the scale check's clear
    # error after it (NumPy's overflow warning came first)
    with np.errstate(over="ignore", invalid="ignore"):
        variance = np.average((X - mean) ** 2, axis=0, weights=sample_weight)
        rows = X if np.all(sample_weight > 0) else X[sample_weight > 0]
        if rows.shape[0] > 0:
            constant = np.max(rows, axis=0) == np.min(rows, axis=0)
            variance = np.where(constant, 0.0, variance)
            # (and its mean its value: batches of one constant, combined by
            # _combined_moments, stay of variance 0)
            mean = np.where(constant, rows[0], mean)
    return mean.astype(np.float64), variance.astype(np.float64)


def _batch_moments(X, sample_weight):
    """:func:`_feature_moments` of a ``partial_fit`` batch, in two products
    with the weights (the features' means, and their squared deviations),
    within rounding of its, which reduces along the rows: 10 ms of a call of
    about 70 ms for a batch of 5000 x 50, against 1 ms here. A feature within
    rounding of constant is checked as there (and given 0 and its value)."""
    X = np.asarray(X)
    weight = np.asarray(sample_weight, dtype=X.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # (inf: not judged)
        total = np.sum(weight)
        mean = (weight @ X) / total
        squares = X - mean
        np.multiply(squares, squares, out=squares)
        variance = (weight @ squares) / total
        del squares
        # (a constant's deviations are its mean's rounding, about an ulp)
        rounding = (X.shape[0] * np.finfo(X.dtype).eps * np.abs(mean)) ** 2
        maybe = np.flatnonzero(variance <= rounding)
    if maybe.size:
        rows = X[:, maybe] if np.all(weight > 0) else X[weight > 0][:, maybe]
        if rows.shape[0] > 0:
            constant = np.max(rows, axis=0) == np.min(rows, axis=0)
            variance[maybe[constant]] = 0.0
            mean[maybe[constant]] = rows[0, constant]
    return mean.astype(np.float64), variance.astype(np.float64)


def _target_moments(values, sample_weight, low, high, moments=_feature_moments):
    """:func:`_feature_moments` of the targets ``values`` (n, 1), whose least
    and largest are ``low`` and ``high``; where their squares could overflow,
    the variance is summed from each row's ``sqrt(weight) * (value - mean)``
    taken at a power of two below the largest, so that a variance below the
    largest float stays finite: a count of 3 over an exposure of 1e-300 (a
    rate of 3e300) made it inf, a scale the check does not judge. (Scaled
    by the largest value instead, the other rows' squares underflowed: 0.0
    for rates of variance 3 beside one of 3e200 of weight 1e-450.)
    ``moments``: :func:`_feature_moments`, or :func:`_batch_moments`."""
    top = max(abs(float(np.min(low))), abs(float(np.max(high))))
    with np.errstate(over="ignore", invalid="ignore"):
        if not (math.isfinite(top) and top > 2.0**500):
            return moments(values, sample_weight)
        shift = -math.frexp(top)[1]  # (exact: a power of two)
        mean, _ = moments(np.ldexp(values, shift), sample_weight)
        mean = np.ldexp(mean, -shift)
        # (the roots of the weights below 1: a subnormal weight keeps its bits)
        root = np.sqrt(np.asarray(sample_weight, dtype=np.float64))
        root = np.ldexp(root, -math.frexp(float(np.max(root)))[1])
        terms = root[:, None] * (values - mean)
        largest = float(np.max(np.abs(terms)))
        if not (math.isfinite(largest) and largest > 0):
            return moments(values, sample_weight)
        scale = math.frexp(largest)[1]
        sums = np.sum(np.ldexp(terms, -scale) ** 2, axis=0) / np.sum(root**2)
        variance = np.ldexp(sums, 2 * scale)
        rows = values[np.asarray(sample_weight) > 0]
        if rows.shape[0] > 0:  # (a constant's 0, as _feature_moments')
            constant = np.max(rows, axis=0) == np.min(rows, axis=0)
            variance = np.where(constant, 0.0, variance)
        return mean, variance.astype(np.float64)


def _combined_moments(first, second):
    """The weighted moments ``(weight, means, variances)`` of two sets of rows
    together, from each set's (its weights' sum, and :func:`_feature_moments`
    or :func:`_target_moments`): the rows of every ``partial_fit`` batch since
    the model was started, which a later warm ``fit`` compares its own with.
    Two sets constant at one value stay of variance exactly 0."""
    (w1, m1, v1), (w2, m2, v2) = first, second
    m1, v1, m2, v2 = (np.asarray(part, dtype=np.float64) for part in (m1, v1, m2, v2))
    total = float(w1) + float(w2)
    share = float(w2) / total
    with np.errstate(over="ignore", invalid="ignore"):  # (inf: not judged)
        delta = m2 - m1
        mean = m1 + share * delta
        variance = (1 - share) * v1 + share * v2 + share * (1 - share) * delta**2
    return total, mean, variance


def _moved_features(
    reference,
    moments,
    used,
    limit=WARM_SCALE_RATIO,
    target=None,
    shift_limit=WARM_SHIFT_LIMIT,
    names=None,
):
    """Why fitted parameters cannot be continued on features of ``moments``
    (means, variances) where the last fit's were ``reference``, or None: a used
    feature (``used``: their columns, None for all) whose standard deviation
    changed by more than ``limit`` times, or whose mean moved by more than
    ``shift_limit`` of the last fit's standard deviations; ``target``: the name
    of the one column's values (y, a count model's rates), or None for
    features, which are named by ``names`` (``feature_names_in_``), else by
    their column."""
    offset, old = (np.asarray(part, dtype=np.float64) for part in reference)
    mean, new = moments
    columns = np.arange(mean.shape[0]) if used is None else np.asarray(used)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.sqrt(new / old)
        shift = np.abs(mean - offset) / np.sqrt(old)
    spread = (old > 0) & (new > 0)
    # a feature constant in one fit only (a variance of exactly 0 in one):
    # another scale; constant in both, it is not judged
    constant = (old == 0) != (new == 0)
    judged = old > 0
    if target:  # a variance that overflows (y of 1e300) is no scale to judge
        finite = np.isfinite(old) & np.isfinite(new)
        spread, constant, judged = spread & finite, constant & finite, judged & finite
    # (a change of exactly limit times stays: its ratio, rounded, came out one
    # float above limit for 9% of random samples)
    limit, shift_limit = limit * (1 + 1e-9), shift_limit * (1 + 1e-9)
    scaled = (spread & ~((ratio <= limit) & (ratio >= 1 / limit))) | constant
    moved = (scaled | (judged & (shift > shift_limit)))[columns]
    if not np.any(moved):
        return None
    column = int(columns[np.flatnonzero(moved)[0]])
    where = f"{target} lie" if target else "X's features lie"
    feature = column if names is None else repr(str(names[column]))
    which = "" if target else f"feature {feature}: "
    place = "on another scale than" if scaled[column] else "elsewhere than"
    if old[column] == 0:
        # constant in the last fit: no standard deviation to count in (the
        # ratio and the shift read "inf times", "moved by nan")
        change = (
            f"{which}constant in the last fit, at {float(offset[column]):.5g}; "
            f"now of standard deviation {float(np.sqrt(new[column])):.5g}"
        )
    elif new[column] == 0:  # constant now: "standard deviation 0 times"
        change = (
            f"{which}constant now, at {float(mean[column]):.5g}; of standard "
            f"deviation {float(np.sqrt(old[column])):.5g} in the last fit"
        )
    else:
        change = (
            f"{which}standard deviation {float(ratio[column]):.5g} times, mean "
            f"moved by {float(shift[column]):.5g} of its standard deviations"
        )
    return (
        f"{where} {place} the last fit's ({change}"
        f"{'' if target else ' there'}), which the fitted parameters were not "
        "fitted for"
    )


def _same_estimator(a, b) -> bool:
    """Whether the estimators ``a`` and ``b`` are of one class with equal
    parameters (nested ones too; random states as equal where both are
    RandomState objects, which ``clone`` copies)."""
    return _estimator_change(a, b) is None


def _estimator_change(a, b) -> str | None:
    """What differs between the estimators ``a`` and ``b`` (see
    :func:`_same_estimator`), in words: the class; the outermost of the
    parameters only one has (steps added or gone); or the innermost
    parameter that differs (a Pipeline's ``ridge__alpha``, not its
    ``steps``). None where nothing does."""
    if type(a) is not type(b):
        return f"a {type(b).__name__}, not a {type(a).__name__}"
    mine, theirs = a.get_params(deep=True), b.get_params(deep=True)
    # (in get_params' order, a Pipeline's steps in theirs: a set's order
    # changed with the hash seed)
    common = [name for name in mine if name in theirs]
    for name in sorted(common, key=lambda n: n.count("__")):
        old, new = mine[name], theirs[name]
        if type(old) is not type(new) and (
            hasattr(old, "get_params") or hasattr(new, "get_params")
        ):  # a step replaced (by another estimator, or "passthrough")
            return f"{name}={_short_repr(new)}, not {_short_repr(old)}"
    if mine.keys() != theirs.keys():  # a step added or dropped

        def outermost(params, names):
            depth = min(name.count("__") for name in names)
            names = [name for name in sorted(names) if name.count("__") == depth]
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            listed = (f"{name}={_short_repr(params[name])}" for name in names[:3])
            return ", ".join(listed) + more

        parts = []
        if theirs.keys() - mine.keys():
            parts.append(f"{outermost(theirs, theirs.keys() - mine.keys())} added")
        if mine.keys() - theirs.keys():
            parts.append(f"{outermost(mine, mine.keys() - theirs.keys())} gone")
        return ", ".join(parts)
    for name in sorted(mine, key=lambda name: -name.count("__")):
        value = mine[name]
        if not _same_value(value, theirs[name]):
            return f"{name}={_short_repr(theirs[name])}, not {_short_repr(value)}"
    return None


def _is_array_api_array(value) -> bool:
    """Whether ``value`` is an array of a namespace other than NumPy's (not a
    NumPy scalar, which has ``__array_namespace__`` too)."""
    return hasattr(value, "__array_namespace__") and not isinstance(
        value, np.generic | np.ndarray
    )


def _short_repr(value, width=80) -> str:
    """``repr(value)`` cut to about ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else f"{text[: width - 3]}..."


def _number_kind(value) -> str | None:
    """``"b"``, ``"i"``, ``"f"`` or ``"c"`` for a boolean, an integer, a real or
    a complex number, or a NumPy, pandas or sparse array of them (by its
    dtype); None for anything else (an Array API array, whose namespace
    refuses to compare such kinds, a list, a string)."""
    if _is_array_api_array(value):
        return None
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(kind, str):
        return {"u": "i"}.get(kind, kind) if kind in "buifc" else None
    if isinstance(value, bool):
        return "b"
    for kind, numbers_type in (
        ("i", numbers.Integral),
        ("f", numbers.Real),
        ("c", numbers.Complex),
    ):
        if isinstance(value, numbers_type):
            return kind
    return None


def _same_value(a, b) -> bool:
    """Whether two parameter values are equal: estimators as
    :func:`_same_estimator` (one in a ``param_grid``), classes by identity,
    lists and tuples item by item (a Pipeline's steps), arrays of one shape
    and equal entries (not broadcast), NaN equal to NaN (an imputer's
    missing_values), pandas objects by their ``equals`` (a ColumnTransformer's
    ``df.columns``), sparse matrices and Array API arrays entry by entry,
    objects without equality (a column selector, a frozen distribution, a CV
    splitter) by their pickles; values that do not compare count as
    different. Numbers of other kinds differ though they compare equal:
    ``max_features=1`` (one feature) is not ``1.0`` (all of them), nor is a
    boolean mask ``[True, False]`` (column 0) the indices ``[1, 0]``."""
    if a is b:
        return True
    if isinstance(a, type) or isinstance(b, type):
        return False  # (two classes: not the same one)
    if hasattr(a, "get_params") or hasattr(b, "get_params"):
        return type(a) is type(b) and _same_estimator(a, b)
    kinds = _number_kind(a), _number_kind(b)
    if None not in kinds and kinds[0] != kinds[1]:
        return False  # (1 == 1.0 and True == 1, elementwise too)
    if scipy.sparse.issparse(a) or scipy.sparse.issparse(b):
        if not (scipy.sparse.issparse(a) and scipy.sparse.issparse(b)):
            return False
        if a.shape != b.shape:
            return False
        try:  # (in CSR, which every format converts to and which indexes)
            a, b = a.tocsr(), b.tocsr()
            rows, columns = (a != b).nonzero()  # (scipy warns of == only)
            if rows.size == 0:
                return True
            # (NaN equal to NaN, as for NumPy arrays)
            here = np.asarray(a[rows, columns]).ravel()
            there = np.asarray(b[rows, columns]).ravel()
            return bool(np.all(np.isnan(here) & np.isnan(there)))
        except Exception:  # (1-D arrays, entries that do not compare)
            try:
                return bool(np.array_equal(a.toarray(), b.toarray(), equal_nan=True))
            except Exception:
                return False
    if isinstance(a, dict) and isinstance(b, dict):  # (a param_grid)
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, np.random.RandomState) and isinstance(b, np.random.RandomState):
        return True
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:  # (a list against an array: its numbers' kind as an array's)
            kinds = _number_kind(np.asarray(a)), _number_kind(np.asarray(b))
        except (ValueError, TypeError):  # (ragged lists)
            return False
        if None not in kinds and kinds[0] != kinds[1]:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # (objects, strings)
            return bool(np.array_equal(a, b))
    if type(a) is type(b) and callable(getattr(a, "equals", None)):  # pandas
        try:  # (clone deep-copies them; == compares them elementwise)
            return bool(a.equals(b))
        except Exception:
            return False
    if type(a) is type(b) and _is_array_api_array(a):  # torch, CuPy
        try:
            xp = a.__array_namespace__()
            if a.shape != b.shape:
                return False
            same = a == b
            if xp.isdtype(a.dtype, "real floating"):  # NaN equal to NaN
                same = same | (xp.isnan(a) & xp.isnan(b))
            return bool(xp.all(same))
        except Exception:
            return False
    if type(a).__eq__ is object.__eq__:  # identity only, which clone's copies
        # never have (their reprs may hold addresses, or abbreviate arrays)
        if type(a) is not type(b):
            return False
        try:
            return pickle.dumps(a) == pickle.dumps(b)
        except Exception:  # (a lambda, a lock: clone keeps them as they are)
            return False
    try:
        if bool(a == b):
            return True
    except Exception:  # (an elementwise ==, or one that raises)
        return False
    real = float | np.floating
    return isinstance(a, real) and isinstance(b, real) and a != a and b != b
