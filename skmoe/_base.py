"""BaseMixtureOfExperts: parameters, the EM fit template, shared predictions."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import inspect
import math
import time
import warnings
from abc import ABCMeta, abstractmethod
from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, _fit_context, clone, is_regressor
from sklearn.exceptions import (
    ConvergenceWarning,
    UndefinedMetricWarning,
)
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._auto import ExpertCountMixin
from ._backend import (
    _identity,
    array_namespace,
    as_compute,
    blas_threads,
    device_of,
    dtype_name,
    float_dtypes,
    host,
    is_numpy_array,
    select_backend,
    to_numpy,
    widest_float,
)
from ._diagnostics import (
    _at_lower_bound,
    _few_samples,
    _gate_collapsed,
    _nan_parameters,
    _own_rows,
    _spurious_experts,
)
from ._distribution import with_log_parts
from ._em import (
    EMProblem,
    FitResult,
    e_step,
    expert_usage,
)
from ._fitting import (
    AUTO_MIN_SAMPLES_PER_PARAMETER,
    CLASS_WEIGHTED,
    _categorical_columns,
    _check_finite,
    _check_float_range,
    _check_infinite,
    _check_missing,
    _check_weight_scale,
    _column_target,
    _feature_offset,
    _labels_present,
    _object_target_as_float,
    _refuse_lazy_frames,
    _refuse_times,
    _refused_times_X,
    _take_columns,
    _unchanged_on_failure,
    _unchecked_nan,
    _Validated,
)
from ._gradient import evaluate
from ._groups import check_groups
from ._init import (
    check_init_responsibilities,
    group_average,
    possible_start,
    unused_experts_message,
)
from ._math import design_matrix, device
from ._online import (
    OnlineState,
    statistics_of,
    supports,
)
from ._partial_fit import _IGNORED, PartialFitMixin
from ._restarts import _fit_restart, summary
from ._sgd import (
    effective_rows,
    held_out_count,
    held_out_rows,
    without_rows,
)
from ._solvers import SOLVERS, SolverOptions, check_solver_options, solve
from ._sparse import is_sparse, scatter_log_weights
from ._std_errors import StdErrorsMixin
from ._warm_start import (
    POOLED_ROWS,
    WARM_TARGET_RATIO,
    _estimator_change,
    _feature_moments,
    _feature_ranges,
    _moved_features,
    _raise_if_features_changed,
    _stored_moments_weights,
    _target_moments,
    _WarmStartFailed,
)
from ._warnings import _held_warnings, _listed, _warn_user
from .exceptions import (
    DegenerateFitWarning,
    FeatureScaleWarning,
    SkmoeWarning,
    SpuriousExpertWarning,
)
from .experts._point_mass import ZERO_LOG_RATE
from .gates import GATES, GaussianGate, HierarchicalGate, SoftmaxGate
from .gates.gaussian import COVARIANCE_TYPES, REG_COVAR

#: Every gate family's fitted attributes (a refit with another gate drops
#: the earlier gate's).
_GATE_ATTRIBUTES = sorted(
    {name for gate in GATES.values() for name in gate.attribute_names}
)

#: Rows of a GPU prediction are processed in chunks of about this many bytes.
PREDICT_CHUNK_BYTES = 2**28
#: The same for predictions computed where the input lives (the CPU, or Array API
#: input): bounds the (n_experts, n_outputs, rows) temporaries of a dense model,
#: which also makes it faster (2 cores, 200k x 32 rows, 128 experts, 3 classes:
#: predict_proba 3.0 s in one piece, 0.55-0.7 s in chunks of 2**23-2**24 bytes;
#: sparse models, which want longer chunks, count n_experts values per row).
HOST_CHUNK_BYTES = 2**24


#: Experts whose usage is below one sample's worth by more than this are
#: reported unused.
UNUSED_TOL = 1e-9


#: Fitting warns when a feature's standard deviation is below SMALL_FEATURE_STD and
#: ``alpha > PENALTY_SHARE * std**2``: the penalty, in the features' units, then
#: shrinks its coefficients more than at unit scale, for which the defaults were
#: tuned (regime data, 3 experts: test R^2 0.984 at unit scale, 0.967 at 0.1,
#: 0.876 at 0.01; wine: accuracy 0.99 at 1, 0.96 at 0.03, 0.63 at 0.01).
SMALL_FEATURE_STD, PENALTY_SHARE = 0.1, 1e-4
#: The same for a fitted model whose only penalized coefficients are one
#: linear Gaussian expert's (``MoERegressor`` with one expert): a ridge
#: regression whose penalty, per standardized feature, is ``alpha / std**2``.
#: It warns where that is above RIDGE_PENALTY_SHARE. 5-fold CV R^2, 3 seeds,
#: raw against StandardScaler'd: diabetes as loaded (sd 0.048, alpha / std**2
#: 4.4e-4) 0.4813 vs 0.4812, times 0.1 (0.044) 0.4820; make_regression times
#: 0.01 (0.012) 0.9894 vs 0.9895, times 0.003 (0.13) 0.9787, times 0.001
#: (1.2) 0.7294. A gate's coefficients are held back sooner (the regime data
#: times 0.1, alpha / std**2 3.2e-5: 0.954 vs 0.970), so a model with a
#: penalized gate keeps PENALTY_SHARE.
RIDGE_PENALTY_SHARE = 1e-2
#: Rows per block of the feature-scale check.
SCALE_CHECK_ROWS = 65536


def _balanced_objective(problem, result, options) -> float:
    """The objective that the ``"gradient"`` and ``"sgd"`` solvers maximize
    with ``balance_coef``, at ``result``'s parameters over all of
    ``problem``'s rows: ``result.objective`` (the penalized objective, which
    the histories record) less the load-balancing loss."""
    ev = evaluate(
        problem,
        result.gate_params,
        result.expert_params,
        balance_coef=options.balance_coef,
    )
    return float(result.objective) - (float(ev.objective) - float(ev.value))


def _no_features(spec) -> bool:
    """Whether ``gate_features`` (or ``expert_features``) ``spec`` chooses no
    feature: an empty list, or a boolean mask of no True (None: all)."""
    if spec is None or isinstance(spec, str):
        return False
    values = np.asarray(spec)
    return values.size == 0 or (values.dtype == bool and not np.any(values))


def _differs(value, default) -> bool:
    """Whether a parameter's ``value`` is not its ``default`` (of a type
    that ``==`` may not compare: a value of another type differs)."""
    try:
        return bool(value != default)
    except (TypeError, ValueError):
        return True


def _in_words(phrases, last="or") -> str:
    """``["a", "b", "c"]`` as ``"a, b or c"`` (``last``: the word before
    the last phrase)."""
    phrases = list(phrases)
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + f" {last} " + phrases[-1]


def _feature_columns(spec, n_features, names, parameter):
    """The sorted column indices ``spec`` chooses (``gate_features`` or
    ``expert_features``) as a tuple of ints (an array would have to follow the
    fitted attributes' namespace under Array API dispatch), or None where it
    chooses every feature."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        names_given = [isinstance(c, str) for c in spec]
        if any(names_given) and not all(names_given):
            # np.asarray would turn the others into strings: "1" for 1
            raise ValueError(
                f"{parameter} mixes feature names with other entries: {spec!r}. "
                "Pass only feature names or only column indices."
            )
        flags = [isinstance(c, (bool, np.bool_)) for c in spec]
        if any(flags) and not all(flags):
            # np.asarray made True the index 1: [True, 1] chose column 1
            raise ValueError(
                f"{parameter} mixes booleans with other entries: {spec!r}. Pass "
                "a boolean mask of one entry per feature, or column indices."
            )
    chosen = np.asarray(spec)
    if chosen.ndim != 1:
        raise ValueError(
            f"{parameter} must be a 1-d list of column indices, feature names or "
            f"a boolean mask; got an array of shape {chosen.shape}."
        )
    if chosen.size == 0:
        columns = np.zeros(0, dtype=np.intp)
    elif chosen.dtype.kind == "b":
        if chosen.shape[0] != n_features:
            raise ValueError(
                f"{parameter} is a boolean mask of {chosen.shape[0]} entries, but X "
                f"has {n_features} features."
            )
        columns = np.flatnonzero(chosen)
    elif chosen.dtype.kind in "iu":
        outside = chosen[(chosen < -n_features) | (chosen >= n_features)]
        if outside.size:
            raise ValueError(
                f"{parameter} has column indices {outside.tolist()} outside the "
                f"range of X's {n_features} features."
            )
        columns = np.unique(chosen % n_features)
        if columns.shape[0] < chosen.shape[0]:
            raise ValueError(
                f"{parameter} names a column more than once: {spec!r} (with "
                f"{n_features} features); pass each column once."
            )
    elif chosen.dtype.kind in "UO" and all(isinstance(c, str) for c in chosen):
        if names is None:
            raise ValueError(
                f"{parameter} names features, but X has no feature names (it is "
                "not a DataFrame with string column names); pass column indices."
            )
        position = {name: j for j, name in enumerate(names)}
        unknown = [str(c) for c in chosen if c not in position]
        if unknown:
            raise ValueError(
                f"{parameter} names features {unknown} that are not among X's "
                f"columns {[str(name) for name in names]}."
            )
        columns = np.unique([position[c] for c in chosen])
        if columns.shape[0] < chosen.shape[0]:
            raise ValueError(
                f"{parameter} names a feature more than once: {spec!r}; pass "
                "each feature once."
            )
    else:
        raise ValueError(
            f"{parameter} must hold column indices (int), feature names (str) or "
            f"a boolean mask; got {spec!r}."
        )
    return None if columns.shape[0] == n_features else tuple(map(int, columns))


def _early_stopping_split(problem, sample_weight, n_experts, options, random_state):
    """``solver="sgd"``'s problem and the weights its restarts start from, with
    the rows early stopping holds out at weight 0 (a ``TrainingRows``: the
    k-means or random start and the first M-step leave them out, and
    ``run_sgd`` scores them): one draw from ``random_state`` for all restarts,
    none where no row is held out (``validation_fraction=0``, or too few rows,
    where the training objective is watched). Raises where fewer rows than
    ``n_experts`` are left to start from."""
    fraction = options.validation_fraction
    n_positive = int(np.count_nonzero(sample_weight > 0))
    if held_out_count(n_positive, fraction) == 0:
        return problem, sample_weight
    held_out = held_out_rows(problem, fraction, random_state)
    n_valid = held_out.shape[0]
    if n_positive - n_valid < n_experts:
        raise ValueError(
            f"validation_fraction={fraction} holds out {n_valid} of the "
            f"{n_positive} samples of positive weight, leaving "
            f"{n_positive - n_valid} to start and train n_experts={n_experts} "
            "on; lower it (0 watches the training objective)."
        )
    start_weight = sample_weight.copy()
    start_weight[held_out] = 0
    return without_rows(problem, held_out), start_weight


def _through_steps(pipeline, X):
    """X through a fitted pipeline's steps before its last, as its ``predict``
    takes it. ``pipeline[:-1].transform`` is not that: the sub-pipeline is
    judged fitted by its own last step, and a stateless transformer there (a
    FunctionTransformer-like step whose fit sets no attribute) raised
    NotFittedError where the pipeline predicted."""
    for _, step in pipeline.steps[:-1]:
        if step is not None and step != "passthrough":
            X = step.transform(X)
    return X


def _fresh_fit_remedy(method):
    """What fits new parameters where ``method`` (a warm start or
    ``partial_fit``) would continue the fitted ones."""
    if method.startswith("warm"):
        return "set warm_start=False"
    return "call fit (with warm_start=False)"


def _score_weights(sample_weight, y):
    """The sample weights of a ``score``: checked as ``fit``'s (one per row of
    ``y``, non-negative; a list, Series or scalar too), as float64 on the
    host, and scaled by the power of two that brings the largest below 1. A
    score depends on their ratios alone, which that keeps exactly: weights of
    1e307 overflowed its sums (NaN, or 0.0 for a Gamma's D^2). None: ones."""
    if sample_weight is None:
        return np.ones(_num_samples(host(y)))
    weight = _check_sample_weight(
        host(sample_weight),
        np.empty(_num_samples(host(y))),
        dtype=np.float64,
        ensure_non_negative=True,
    )
    if not np.all(np.isfinite(weight)):  # (a scalar passes scikit-learn's check)
        if np.ndim(sample_weight) and get_config()["assume_finite"]:
            if np.isnan(weight).any():  # (the words of pandas' NA there, and
                # of NaN in X and y then: assume_finite=True let it through)
                raise ValueError(_unchecked_nan("sample_weight"))
        raise ValueError("sample_weight contains NaN or infinity.")
    top = float(np.max(weight, initial=0.0))
    if top > 0:
        weight = np.ldexp(weight, -math.frexp(top)[1])
    return weight


class _TakenRows:
    """The rows ``rows`` (indices) of an encoded target ``Y`` (an array or an
    object whose ``[..., start:stop]`` is the encoded rows: the classifier's
    one-hot rows), made for the slices of ``[..., start:stop]``."""

    def __init__(self, Y, rows):
        self.Y, self.rows = Y, rows

    def __getitem__(self, key):
        _, rows = key  # (..., a slice of the rows)
        return self.Y[..., self.rows[rows]]


def _row_slices(n_rows, width=8):
    """Slices of ``n_rows`` rows in chunks of about ``HOST_CHUNK_BYTES`` of
    ``width`` float64 temporaries per row, as
    :meth:`BaseMixtureOfExperts._map_rows` bounds a prediction's."""
    rows = max(1, HOST_CHUNK_BYTES // (8 * width))
    return [slice(start, min(start + rows, n_rows)) for start in range(0, n_rows, rows)]


def _chunked_sum(terms, n_rows):
    """The sum over ``n_rows`` rows of ``terms(rows)`` (a slice of them, an
    array of their terms), taken in the chunks of :func:`_row_slices` and
    added with ``math.fsum``: a score's elementwise terms over all the rows
    held 9 to 16 float64 vectors of n rows at once (124 MiB for 1e6 rows,
    twice X's 8 features). One chunk gives ``np.sum`` of the terms exactly;
    more, a sum as accurate (each chunk's pairwise sum, their totals added
    exactly)."""
    totals = [float(np.sum(terms(rows))) for rows in _row_slices(n_rows)]
    return _add_totals(totals)


def _add_totals(totals):
    """The sum of chunks' totals (floats): the one itself, else ``math.fsum``'s
    (inf, or NaN for inf - inf, as ``np.sum`` has them where fsum raises)."""
    if len(totals) == 1:
        return totals[0]
    try:
        return math.fsum(totals)
    except (OverflowError, ValueError):
        return float(np.sum(totals))


def _scored_rows(
    X, y, sample_weight, *per_row, estimator=None, inputs=None, metric_y=False
):
    """``X``, ``y`` (None passes), the weights of :func:`_score_weights` (one
    per row of y, or of X without y; None stays None) and the per-row arrays
    ``per_row`` (None or a scalar passes) of a ``score`` or a display,
    without the rows of weight 0, which ``fit`` leaves out too: a far row of
    weight 0 made a Poisson ``score`` raise (its prediction overflowed) or
    NaN (``0 * inf``). ``estimator``: the model whose ``score`` this is (X
    its own features, not a pipeline's): the rows left out are then checked
    by :func:`_check_left_out`, after ``inputs`` (a display's: the raw rows
    through a pipeline's steps before it) where given. ``metric_y``: y's
    missing values get the words of a metric's check of y, which names no
    input ("Input contains NaN.", r2_score's, as a None or NaN among the rows
    kept gets in ``MoERegressor.score``; pandas' NA, and a NaN at a row of
    weight 0, said "Input y contains NaN." there), not fit's."""
    _refuse_lazy_frames(X=X, y=y, sample_weight=sample_weight)
    # (X: the estimator's predict checks it, after a pipeline's steps)
    numeric = estimator is not None and is_regressor(estimator)
    _refuse_times(
        y=y if numeric else None,
        sample_weight=sample_weight,
        unnamed=("y",) if metric_y else (),
    )
    if sample_weight is None:
        return (X, y, None, *per_row)
    weight = _score_weights(sample_weight, X if y is None else y)
    rows = np.flatnonzero(weight > 0)
    if rows.shape[0] in (0, weight.shape[0]):
        return (X, y, weight, *per_row)
    arrays = [a for a in per_row if a is not None and np.ndim(a) > 0]
    check_consistent_length(X, y, weight, *arrays)
    if estimator is not None:
        left_out = np.flatnonzero(weight == 0)
        _check_left_out(estimator, X, y, left_out, inputs, "" if metric_y else "y")

    def take(a):
        return a if a is None or np.ndim(a) == 0 else _safe_indexing(a, rows)

    return (take(X), take(y), weight[rows], *(take(a) for a in per_row))


def _check_left_out(estimator, X, y, rows, inputs=None, y_name="y"):
    """Raise scikit-learn's errors, as ``fit`` and ``predict`` do, for NaN or
    infinity in X, or in a numeric y, at the ``rows`` of weight 0 that a
    ``score`` leaves out (they passed unseen: a NaN in X scored, where
    ``fit`` and scikit-learn's ``score`` raise); ``predict`` checks the
    others. Labels are the classifier's to check (``_labels_present``).
    ``inputs``: takes those rows of X to the estimator's own input.
    ``y_name``: y's name in the error ("": a metric's words, "Input contains
    NaN.")."""
    check_is_fitted(estimator)  # (predict's first check)
    left = _safe_indexing(X, rows)
    if inputs is not None:
        left = inputs(left)
    check_array(left, dtype=float_dtypes(left), input_name="X", estimator=estimator)
    if y is None:
        return
    left = np.asarray(host(_safe_indexing(y, rows)))
    if left.dtype.kind == "O":  # (a None or NaN among objects passed unseen)
        try:
            left = left.astype(np.float64)
        except (TypeError, ValueError):  # (not numbers: not this check's)
            return
    if left.dtype.kind in "fc":
        check_array(left, ensure_2d=False, dtype=None, input_name=y_name)


def _information_shares(X, offset, sample_weight, information, penalized, shares):
    """``shares`` of :func:`_feature_scale_message` with those of the
    ``penalized`` columns set for a lone GLM expert of Fisher information
    ``information`` per row: its penalty shrinks a column's coefficient as a
    ridge regression's, by alpha over the column's information-weighted
    variance (``information``: a callable that returns it, or None), so the
    warning is given where alpha exceeds RIDGE_PENALTY_SHARE
    of that (for Poisson experts about the variance times the mean count;
    Gamma experts' is the variance: their penalty is divided by the
    dispersion). One Poisson or Gamma expert on the diabetes data as loaded
    (sd 0.048) warned though its fit was scikit-learn's unpenalized one's
    (D^2 0.513077 against PoissonRegressor's 0.513077, 0.479312 against
    GammaRegressor's 0.479327). Diabetes' features times 0.1 to 1e-3: it
    warns where the penalty costs D^2 2e-3 or more, with two misses near
    the threshold (3e-3: Poisson counts of mean 0.05, negative binomial)."""
    # (rates or features whose products overflow: those columns keep theirs)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        columns = np.flatnonzero(penalized)
        every = columns.size == X.shape[1]  # (no copy of X's columns)
        variance = _mean_square_deviation(
            _take_columns(np, X, None if every else columns, axis=1),
            offset[columns],
            sample_weight,
            check=False,
        )
        # only the columns the warning can name (a standard deviation below
        # SMALL_FEATURE_STD) are weighed, and the information (a callable)
        # is computed for them alone: with standardized features a
        # partial_fit call of 5000 x 50 rows took 3 ms (35%) more
        small = (variance > 0) & (np.sqrt(variance) < SMALL_FEATURE_STD)
        columns, variance = columns[small], variance[small]
        if columns.size == 0:
            return shares
        information = information()
        if information is None:
            return shares
        weight = sample_weight * information
        total = float(np.sum(weight))
        if not (np.isfinite(total) and total > 0):
            return shares
        part = _take_columns(np, X, columns, axis=1)
        centre = (weight / total) @ part
        curvature = (total / float(np.sum(sample_weight))) * _mean_square_deviation(
            part, centre, weight, check=False
        )
        ratio = curvature / variance
    measured = np.isfinite(ratio)
    shares = np.array(shares, dtype=float)
    shares[columns[measured]] = RIDGE_PENALTY_SHARE * ratio[measured]
    return shares


def _too_few_to_score(y, score="D^2") -> bool:
    """Whether a D^2 (or other ``score``) is undefined on the rows of ``y``
    (fewer than two, after :func:`_scored_rows`), which it then says as
    scikit-learn's ``d2_tweedie_score`` does, to return NaN: one row counted
    as a constant target, and scored 0 or 1 (0 on every fold of a
    leave-one-out)."""
    if _num_samples(y) >= 2:
        return False
    warnings.warn(
        f"{score} score is not well-defined with less than two samples.",
        UndefinedMetricWarning,
        stacklevel=3,
    )
    return True


def _mean_square_deviation(X, offset, sample_weight, check=True):
    """The weighted mean square of X's deviations from ``offset``, per column
    (n_features,); raise where it overflows X's dtype (values too large to
    fit), unless ``check`` is False (then inf there)."""
    # in blocks of rows: no n x D temporaries (two of them took 1.1 s at 1e6 x 64)
    # the weights normalized first: a sum of 20000 float32 squares of 9e34
    # overflowed where their mean, what the fit's normalized weights meet, did not
    dtype = np.result_type(X.dtype, sample_weight.dtype)
    variance = np.zeros(X.shape[1], dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        share = (sample_weight / np.sum(sample_weight)).astype(dtype, copy=False)
        for start in range(0, X.shape[0], SCALE_CHECK_ROWS):
            part = X[start : start + SCALE_CHECK_ROWS] - offset
            part *= part
            variance += share[start : start + SCALE_CHECK_ROWS] @ part
    if check and not np.all(np.isfinite(variance)):
        _check_missing(np, X, "X")
        raise ValueError(
            "X has values too large to fit: their squares overflow "
            f"{X.dtype}. Rescale the features, e.g. with "
            "sklearn.preprocessing.StandardScaler."
        )
    return variance


def _feature_scale_message(
    X, offset, sample_weight, alpha, names=None, share=PENALTY_SHARE
):
    """The warning, or None, where the penalty ``alpha`` swamps small-scale
    features (the remedy being a StandardScaler in front of the estimator),
    given as a :class:`~skmoe.exceptions.FeatureScaleWarning`; raise when their squares
    overflow or underflow: a variance below a million times the smallest
    normal number, where the squares of deviations of a thousandth of a
    standard deviation are subnormal and lose their digits (with the softmax
    gate, X * 1e-154 fitted at R^2 0.72 instead of 0.996, X * 1e-150 as well as
    X), and where the gaussian gate's covariance loading, 1e-6 of the
    variance, would be subnormal. Nothing else in a fit depends on the
    features' scales.

    Indicator columns (only 0 and 1) are left out: a one-hot encoding is their
    natural unit, and a rare category's small standard deviation made every fit
    of a grid search warn (the penalty shrinks its coefficient as
    ``LogisticRegression``'s does, which does not warn). The message names the
    columns and not their values, the same for every fold of a search (each fit
    shows it again: scikit-learn's input checks, in ``catch_warnings``, reset
    Python's record of the warnings shown; 5 times in a 5-fold
    ``cross_val_score``) and for every batch of a ``partial_fit`` stream, which
    gives it once (:meth:`BaseMixtureOfExperts._warn_once_in_stream`).

    ``share``: the warning is given where ``alpha > share * std**2`` (beside
    the standard deviation below SMALL_FEATURE_STD); a sequence gives each
    column its own (RIDGE_PENALTY_SHARE for the columns only a ridge-like
    expert's penalty reaches)."""
    if X.shape[0] < 2 or np.sum(sample_weight) == 0:
        return None
    variance = _mean_square_deviation(X, offset, sample_weight)
    rows = sample_weight > 0
    info = np.finfo(X.dtype)
    floor = float(info.smallest_normal) / REG_COVAR
    vanished = [
        j
        for j in np.flatnonzero(variance < floor)
        if np.ptp(X[rows, j]) > 0  # varies, yet its squares underflow
    ]
    if vanished:
        shown = [names[j] if names is not None else int(j) for j in vanished]
        raise ValueError(
            f"Features {shown} vary, but their squares underflow {X.dtype} (their "
            f"variances are below {floor:.3g}): the fit would take them for "
            "constants or lose their digits. Rescale the features, e.g. with "
            "sklearn.preprocessing.StandardScaler."
        )
    if alpha <= 0:
        return None
    std = np.sqrt(variance)
    share = np.broadcast_to(np.asarray(share, dtype=float), variance.shape)
    small = (std > 0) & (std < SMALL_FEATURE_STD) & (alpha > share * variance)
    # a column constant over the rows has no spread to judge: its deviation
    # from a stream's offset (the first batch's mean) is a shift, and
    # standardized digits streamed in 5 batches were told to standardize
    # the pixel that one batch had all at 0 (0.07 from that offset)
    columns = [
        j
        for j in np.flatnonzero(small)
        if not _is_indicator(X, j) and np.ptp(X[rows, j]) > 0
    ]
    if not columns:
        return None
    shown = [names[j] if names is not None else int(j) for j in columns]
    return (
        f"Features {shown} have a standard deviation below "
        f"{SMALL_FEATURE_STD}: the penalty alpha, in the features' units (its "
        "defaults are meant for standardized features), shrinks their "
        "coefficients. Standardize the features, e.g. with "
        "sklearn.preprocessing.StandardScaler in a pipeline, or lower alpha."
    )


def _is_indicator(X, j) -> bool:
    """Whether column ``j`` of X holds only zeros and ones (in blocks of rows,
    stopping at the first other value)."""
    for start in range(0, X.shape[0], SCALE_CHECK_ROWS):
        column = X[start : start + SCALE_CHECK_ROWS, j]
        if not np.all((column == 0) | (column == 1)):
            return False
    return True


def _gaussian_gate(estimator):
    """``gate_log_density`` exists for a gate that models x: the fitted gate,
    or before fitting the ``gate`` parameter, is ``"gaussian"``."""
    if hasattr(estimator, "_gate_family"):
        gaussian = isinstance(estimator._fitted_gate(), GaussianGate)
        named = "the fitted gate"
    else:
        gaussian, named = estimator.gate == "gaussian", f"gate={estimator.gate!r}"
    if not gaussian:
        raise AttributeError(
            "gate_log_density needs gate='gaussian', the gate that models the "
            f"density of X; {named} models y given X only."
        )
    return True


#: Predictions on designs of fewer entries keep NumPy's threading: the
#: single-threaded BLAS of :func:`_inference_threads` costs about 27 us a call
#: (threadpoolctl's limit set and restored), 18% of a one-row predict.
SMALL_DESIGN = 2**16


def _inference_threads(design):
    """:func:`blas_threads` for a prediction's design (d, n), but for a small
    one."""
    if design.shape[0] * design.shape[1] < SMALL_DESIGN:
        return nullcontext()
    return blas_threads(design)


def _float64_rows(*parts):
    """One chunk's NumPy outputs in float64, the predictive distributions'
    dtype (other namespaces' as they are, cast on the host): a float32
    model's whole (n, K) outputs cast after the chunks were joined held both
    copies (206 against 145 MiB for a float64 model at 1e6 rows, K=8)."""
    return tuple(
        part.astype(np.float64, copy=False) if isinstance(part, np.ndarray) else part
        for part in parts
    )


class _Underflow:
    """The rows where a gate weight underflowed (to 0, or below the smallest
    normal float, few digits) from a finite log (X far from the training data),
    with their log weights and further parts, taken by :meth:`_map_rows`'s
    ``compute`` from each chunk it sees (in order): the predictive
    distribution's log density sums them, as ``log_likelihood_samples``
    (:func:`with_log_parts`), and holds nothing more where none underflows.
    Also the rows where an expert's rate or mean underflowed (:meth:`far`),
    with its logs."""

    def __init__(self):
        self.seen, self.rows, self.parts = 0, [], []
        #: the smallest normal float of the chunks' dtype (float32's: a
        #: subnormal float32 rate is a normal float64 one, of fewer digits)
        self.tiny = float(np.finfo(np.float64).smallest_normal)
        #: the largest float of the chunks' dtype (float32's: a share of the
        #: mean beyond it is beyond predict's, :func:`with_log_parts`)
        self.largest = float(np.finfo(np.float64).max)

    def far(self, xp, value, log_value):
        """``log_value`` (an expert's log rates or means, K or top_k by
        n_chunk) where a ``value`` under- or overflowed, else None (the
        host's ``log(value)`` stands for it, to the last digit, and the chunk
        holds one array fewer); with the rows' mask of values that underflowed
        from a finite log (for :meth:`add`), or None."""
        smallest = xp.finfo(value.dtype).smallest_normal
        self.tiny = max(self.tiny, float(smallest))
        # a log below log(smallest) or above -log(smallest) (708.4: beyond
        # the largest float from 709.8); -inf, a point mass's, needs no log
        bound = -math.log(float(smallest))
        if not (bool(xp.any(log_value < -bound)) or bool(xp.any(log_value > bound))):
            return None, None
        # a zero-inflated model's point mass (log value ZERO_LOG_RATE, as
        # point_mass_columns finds it) is no underflow: its rate 0 is exact
        low = (value < smallest) & (log_value > 0.5 * ZERO_LOG_RATE)
        return log_value, (low if bool(xp.any(low)) else None)

    def exp(self, xp, log_weight, *parts, low=None):
        """``exp(log_weight)``, after :meth:`add`."""
        weight = xp.exp(log_weight)
        self.add(xp, weight, log_weight, *parts, low=low)
        return weight

    def add(self, xp, weight, log_weight, *parts, low=None):
        """Take those of a chunk's ``weight``, ``log_weight`` and ``parts``
        (K or top_k, n_chunk; a part None: NaN) of the rows where a weight
        underflowed or ``low`` (a mask from :meth:`far`, or None) holds."""
        info = xp.finfo(weight.dtype)
        self.largest = min(self.largest, float(info.max))
        tiny = weight < info.smallest_normal
        if bool(xp.any(tiny)) or low is not None:  # (the one check where none)
            lost = xp.any(tiny & (log_weight > -math.inf), axis=0)
            if low is not None:
                lost = lost | xp.any(low, axis=0)
            index = xp.nonzero(lost)[0]
            self.rows.append(to_numpy(index) + self.seen)
            taken = [
                None if part is None else to_numpy(xp.take(part, index, axis=1).T)
                for part in (log_weight, *parts)
            ]
            shape = (index.shape[0], weight.shape[0])
            self.parts.append(
                [
                    np.full(shape, np.nan) if part is None else part.astype(np.float64)
                    for part in taken
                ]
            )
        self.seen += weight.shape[1]

    def kept(self):
        """The rows taken and their log weights and parts (n_kept, K), or None."""
        rows = np.concatenate(self.rows) if self.rows else ()
        if len(rows) == 0:
            return None
        return rows, *(np.concatenate(part) for part in zip(*self.parts, strict=True))

    def keep(self, distribution):
        """``distribution`` with the log weights taken (:meth:`kept`)."""
        kept = self.kept()
        return distribution if kept is None else with_log_parts(distribution, *kept)


class _Rows:
    """An output assembled from row chunks: written into one preallocated NumPy
    array, or joined once at the end in other namespaces."""

    def __init__(self, first, n_rows):
        self.parts, self.filled, self.array = [], 0, None
        if isinstance(first, np.ndarray):
            self.array = np.empty((n_rows, *first.shape[1:]), dtype=first.dtype)

    def add(self, part):
        if self.array is None:
            self.parts.append(part)
        else:
            self.array[self.filled : self.filled + part.shape[0]] = part
            self.filled += part.shape[0]

    def result(self):
        if self.array is not None:
            return self.array
        return array_namespace(self.parts[0]).concat(self.parts, axis=0)


class BaseMixtureOfExperts(
    ExpertCountMixin,
    StdErrorsMixin,
    PartialFitMixin,
    BaseEstimator,
    metaclass=ABCMeta,
):
    """Base class for mixtures of experts fitted by EM.

    Owns the fit template (validation, one random state, the ``n_init`` loop run
    through joblib, keeping the best run, one ConvergenceWarning) and the
    plumbing shared by predictions. Subclasses say how the target is encoded,
    which expert family they use, and how expert parameters map to attributes.
    """

    # metadata routing: fit's groups are not requested by default, so that
    # with routing enabled cross_val_score(..., params={"groups": g}) with a
    # GroupKFold splits by them (scikit-learn's name for the splitter's
    # groups), where it raised UnsetMetadataPassedError;
    # set_fit_request(groups=True) gives them to fit as well (without
    # routing, scikit-learn gives params to fit and groups= to the splitter)
    __metadata_request__fit = {"groups": False}  # noqa: RUF012

    _parameter_constraints: dict = {
        "n_experts": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "gate": [StrOptions(set(GATES))],
        "gate_covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "gate_features": ["array-like", None],
        "expert_features": ["array-like", None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"mixed", "kmeans", "random"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "top_k": [Interval(Integral, 1, None, closed="left"), None],
        "prune_threshold": [Interval(Real, 0, 1, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "assignment": [StrOptions({"soft", "hard"})],
        "acceleration": [StrOptions({"squarem"}), None],
        "balance_coef": [Interval(Real, 0, None, closed="left")],
        "noisy_gating": ["boolean"],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
    }

    def __init__(
        self,
        n_experts=3,
        *,
        gate="softmax",
        gate_covariance_type="full",
        gate_features=None,
        expert_features=None,
        alpha=1e-4,
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
    ):
        self.n_experts = n_experts
        self.gate = gate
        self.gate_covariance_type = gate_covariance_type
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.alpha = alpha
        self.n_init = n_init
        self.init_params = init_params
        self.max_iter = max_iter
        self.tol = tol
        self.top_k = top_k
        self.prune_threshold = prune_threshold
        self.solver = solver
        self.assignment = assignment
        self.acceleration = acceleration
        self.balance_coef = balance_coef
        self.noisy_gating = noisy_gating
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.device = device

    #: Integer parameters, for which a bool (an Integral to Python) is refused.
    _integer_parameters = (
        "n_experts",
        "n_init",
        "max_iter",
        "top_k",
        "batch_size",
        "n_iter_no_change",
    )

    #: Parameters that take a number, which a bool is to Python but not here
    #: (scikit-learn's Interval(Real) lets True through as 1)
    _real_parameters: tuple[str, ...] = (
        "alpha",
        "tol",
        "prune_threshold",
        "balance_coef",
        "learning_rate",
        "validation_fraction",
    )

    def _validate_params(self):
        super()._validate_params()
        for name in self._integer_parameters + self._real_parameters:
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)):
                kind = "an int" if name in self._integer_parameters else "a number"
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be "
                    f"{kind}, not a bool. Got {value!r} instead."
                )

    # -- hooks for subclasses -------------------------------------------------------

    @abstractmethod
    def _encode_target(self, y, X, *, fitting, **target):
        """Return the target as the expert family expects it (float, X's dtype);
        ``target``: what else the public method took about the target (the
        Poisson regressor's ``exposure``)."""

    def _encode_target_rows(self, y, X, **target):
        """:meth:`_encode_target` of a prediction's y, as an array or an
        object whose ``[..., start:stop]`` is the encoded rows (the
        classifier's one-hot rows, made a chunk at a time)."""
        return self._encode_target(y, X, fitting=False, **target)

    @abstractmethod
    def _make_experts(self, Y, sample_weight, streaming=False):
        """The ExpertFamily for this estimator and training target (``streaming``:
        the first batch of ``partial_fit``)."""

    def _streaming_start(self, xp, params, Y, sample_weight):
        """The parameters ``partial_fit`` starts from, given the first batch's
        initial M-step, its encoded target and weights (unchanged by default)."""
        return params

    def _update_experts(self, Y, sample_weight):
        """Update what the expert family learnt from the data with a later
        ``partial_fit`` batch (nothing by default)."""

    @abstractmethod
    def _experts_from_attributes(self):
        """The fitted ExpertFamily and its parameters, rebuilt from attributes."""

    @abstractmethod
    def _set_expert_attributes(self, experts, params):
        """Store fitted expert parameters as public attributes (NumPy arrays)."""

    # -- fitting --------------------------------------------------------------------

    # False: expert_estimator's parameters are validated when its clones are
    # fitted, as scikit-learn's meta-estimators do (Ridge(alpha=-1) fitted
    # silently, Ridge(solver="bogus") failed with an UnboundLocalError)
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, *, groups=None, init_responsibilities=None):
        """Fit the mixture of experts with the chosen ``solver``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, honoured in every M-step. A zero
            weight is the same as removing the sample, with every solver (the
            rows of weight 0 are dropped before the starts, the SGD solver's
            mini-batches and its early-stopping split). Only the weights'
            ratios matter to the fitted parameters, but not to an
            ``expert_estimator``'s, which each refit is given in the units of
            these weights (its own penalty or leaf sizes then mean what they
            mean in a plain fit). With ``solver="em"`` or ``"gradient"``, an
            integer weight is the same as repeating the row from the same
            start, but not overall: the random starts (and the SGD solver's
            mini-batches) draw per row, and ``n_experts="auto"`` rescales the
            weights to sum to the rows of positive weight.
        groups : array-like of shape (n_samples,), default=None
            Repeated measurements: a label per row (numbers or strings), and
            all rows with one label come from the same expert (R flexmix's
            ``y ~ x | g``; a latent class model for longitudinal or panel
            data). The E-step then gives each group one set of
            responsibilities, from the gate at the group and the product of its
            rows' likelihoods. The gate must see features that are the same on
            every row of a group (``gate="constant"``, or ``gate_features``
            naming such features), and ``sample_weight`` must be the same
            on the rows of positive weight of each group: it weighs the group
            (as flexmix's; a zero weight leaves a row out). Not with
            ``solver="sgd"``. See :ref:`groups`.
        init_responsibilities : array-like, default=None
            Of shape (n_samples,) or (n_samples, n_experts).
            A start of your own for the first restart, in place of
            ``init_params``'s (R flexmix's ``cluster``): integer labels in
            ``[0, n_experts)`` give hard responsibilities (1 on the label's
            expert, 0 on the others); an array of ``n_experts`` non-negative
            columns is divided by its rows' sums, each of which must be
            positive and finite (on rows of positive ``sample_weight``; rows
            of weight 0 are left out, as everywhere). The other ``n_init - 1``
            restarts follow ``init_params``, and the best run is kept:
            ``n_init=1`` fits from this start alone. ``n_experts`` must be a
            number (not ``"auto"``), and counts the columns; with
            ``zero_inflated=True`` (of the count and Gamma regressors),
            column (label) 0 is the point mass at zero. With ``groups``,
            each group starts from the average of its rows'
            responsibilities. It replaces a ``warm_start``'s fitted
            parameters (the fit starts afresh from it). Not with
            ``solver="sgd"``. See :ref:`restarts`.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_with(
            X,
            y,
            sample_weight,
            groups=groups,
            init_responsibilities=init_responsibilities,
        )

    def _fit_with(
        self, X, y, sample_weight, groups=None, init_responsibilities=None, **target
    ):
        """:meth:`fit`, with the target's other data (see :meth:`_encode_target`)."""
        _refuse_lazy_frames(X=X, y=y, sample_weight=sample_weight, groups=groups)
        # (a list of numbers converted once, as predict's)
        X = _refused_times_X(X, self)
        self._refuse_times(None, y, sample_weight)
        if init_responsibilities is not None:
            if self.n_experts == "auto":
                raise ValueError(
                    "init_responsibilities fixes the number of experts (its labels' "
                    "range or its columns), and n_experts='auto' chooses it; set "
                    "n_experts to that number."
                )
            if self.solver == "sgd":
                raise ValueError(
                    "init_responsibilities is not supported with solver='sgd', "
                    "which starts from random parameters; use solver='em' or "
                    "'gradient'."
                )
        # a start of the user's replaces the fitted parameters of a warm start
        warm = (
            self.warm_start
            and hasattr(self, "converged_")
            and init_responsibilities is None
        )
        # parameter combinations fail before the data touch any fitted state
        if self.assignment == "hard" and not is_regressor(self) and groups is None:
            # benchmarks/hard_assignment.py: on iris and wine every expert
            # kept one class, and on two classes of the regimes accuracy fell
            raise ValueError(
                "assignment='hard' needs groups with a classifier: on rows of one "
                "label each, hard assignments let each expert take the samples "
                "of one class, a fixed point of classification EM where the gate "
                "alone classifies (a multinomial logistic regression). Use "
                "assignment='soft', or pass groups (one per observation of "
                "several trials: binomial responses)."
            )
        ignored = self._ignored_parameters_message()
        if warm:
            self._check_warm_gate()
            self._check_warm_experts()
            self._solver_options(self.n_experts_)
        else:
            for n_experts in self._candidates(None):
                self._solver_options(n_experts)
        with _unchanged_on_failure(self):
            # a new model: a later partial_fit stream warns afresh, and of
            # the parameters it ignores where set_params changed them since
            # (fit warned of those it ignores itself, and read the others)
            ignored_later = self._ignored_parameters_message("partial_fit")
            self._stream_warnings = frozenset({_IGNORED, (_IGNORED, ignored_later)})
            vars(self).pop("_stream_y_range", None)
            if warm:
                messages = self._warm_fit(X, y, sample_weight, groups, target)
            else:
                messages = self._fit(
                    X,
                    y,
                    sample_weight,
                    False,
                    groups=groups,
                    init_responsibilities=init_responsibilities,
                    **target,
                )
        if ignored:
            messages = [(ignored, SkmoeWarning), *messages]
        for message, category in messages:  # after the fit: it stands if one raises
            _warn_user(message, category)
        return self

    def _conditional_parameters(self, method="fit"):
        """The parameters that only a setting of other parameters uses, as
        (names, where they are used, the setting, whether it holds) tuples:
        where it does not, ``method`` (``"fit"`` or ``"partial_fit"``) never
        reads them. A setting of None: ``method`` never reads them where it
        does not hold (``partial_fit``, neither online EM nor Adam's epochs,
        has no early stopping; Adam's epochs have no restarts, iterations to
        a tolerance or pruning, which online EM's first fit has)."""
        gate = (
            ("gate_covariance_type",),
            "when gate is 'gaussian'",
            f"gate={self.gate!r}",
            self.gate == "gaussian",
        )
        if method == "partial_fit":
            return [
                gate,
                (
                    ("batch_size", "learning_rate"),
                    "when solver is 'sgd'",
                    f"solver={self.solver!r}",
                    self.solver == "sgd",
                ),
                (  # Adam's epoch per call; online EM's first fit reads them
                    # (n_init=1 asks for the one start Adam's stream makes;
                    # a conditional, not a tuple times the comparison: that of
                    # a NumPy integer, as a search's np.arange gives, is a
                    # numpy.bool, which a tuple cannot be multiplied by)
                    (("n_init",) if self.n_init != 1 else ())
                    + ("init_params", "max_iter", "tol", "prune_threshold"),
                    "by fit, not by partial_fit with solver='sgd'",
                    None,
                    self.solver != "sgd",
                ),
                (  # (fit with solver="em" does not read them either)
                    ("n_iter_no_change", "validation_fraction"),
                    "by fit with solver='sgd', not by partial_fit",
                    None,
                    False,
                ),
            ]
        solver = f"solver={self.solver!r}"
        held_out = "when solver is 'sgd'"  # validation_fraction's other use
        penalty = []
        if "expert_estimator" in self._get_param_names():
            held_out += " or n_experts is 'auto' with expert_estimator"
            solver += (
                f", n_experts={self.n_experts!r}"
                if self.n_experts != "auto"
                else ", expert_estimator=None"
            )
            # estimators have penalties of their own, and a constant or
            # gaussian gate no coefficients that alpha shrinks (alpha=0.5
            # fitted bit for bit as the default, without a word), nor a gate
            # of no features, its intercepts alone (alpha=10 alike)
            used = (
                "with the built-in experts (expert_estimator=None) or "
                "gate='softmax' or 'hierarchical'"
            )
            # (the class alone: a Pipeline's repr spans lines)
            setting = f"expert_estimator={type(self.expert_estimator).__name__}(...), "
            if self.gate in ("constant", "gaussian"):
                setting += f"gate={self.gate!r}"
            else:
                # (gate_features=None, the default, chooses every feature)
                used += " over at least one gate feature"
                setting += f"gate_features={self.gate_features!r}"
            penalty.append(
                (
                    ("alpha",),
                    used,
                    setting,
                    not self._estimator_experts()
                    or (
                        self.gate not in ("constant", "gaussian")
                        and not _no_features(self.gate_features)
                    ),
                )
            )
        return [
            gate,
            (
                ("batch_size", "learning_rate", "n_iter_no_change"),
                "when solver is 'sgd'",
                f"solver={self.solver!r}",
                self.solver == "sgd",
            ),
            (
                ("validation_fraction",),
                held_out,
                solver,
                self.solver == "sgd"
                or (self.n_experts == "auto" and self._estimator_experts()),
            ),
            *penalty,
        ]

    def _ignored_parameters_message(self, method="fit"):
        """The warning, as scikit-learn's ``LogisticRegression`` gives for an
        ``l1_ratio`` without ``penalty="elasticnet"``, that parameters set
        away from their defaults are ignored by the setting of others
        (:meth:`_conditional_parameters`) in ``method``, or "" where none is
        (a parameter at its default says nothing: a grid over ``solver`` need
        not reset ``learning_rate``)."""
        defaults = inspect.signature(type(self).__init__).parameters
        sentences = []
        for names, used, setting, holds in self._conditional_parameters(method):
            if holds:
                continue
            names = [
                name
                for name in names
                if name in defaults
                and _differs(getattr(self, name), defaults[name].default)
            ]
            if not names:
                continue
            values = [f"{name}={getattr(self, name)!r}" for name in names]
            plural = len(names) > 1
            got = "; " if setting is None else f". Got ({setting}); "
            sentences.append(
                f"{_in_words(names, 'and')} parameter{'s are' if plural else ' is'} "
                f"only used {used}{got}"
                f"{_in_words(values, 'and')} {'are' if plural else 'is'} ignored."
            )
        return " ".join(sentences)

    def _warm_fit(self, X, y, sample_weight, groups, target):
        """:meth:`_fit` continuing the fitted parameters, or, where they cannot
        be continued, as with ``warm_start=False``, whose warnings replace the
        warm attempt's own (a changed ``n_experts`` said to be ignored, which the
        fresh fit takes; a feature-scale warning given twice). scikit-learn's
        warnings (its input checks', an ``expert_estimator``'s) are given in
        both."""
        try:
            with _held_warnings() as early:
                self._warn_ignored_n_experts("warm_start=True", "set warm_start=False")
                self._warn_ignored_settings("warm_start=True")
                messages = self._fit(X, y, sample_weight, True, groups=groups, **target)
        except _WarmStartFailed as failed:
            # the fitted parameters cannot continue on this data: as a fit with
            # warm_start=False (which refits every fitted state)
            afresh = (
                f"warm_start=True: {failed}; fitted as with warm_start=False instead."
            )
            try:
                for n_experts in self._candidates(None):
                    self._solver_options(n_experts)
                messages = self._fit(
                    X, y, sample_weight, False, groups=groups, **target
                )
            except Exception as error:  # say why a warm fit started afresh
                error.add_note(
                    f"warm_start=True: {failed}; the fit as with "
                    "warm_start=False that followed raised this error."
                )
                raise
            return [(afresh, SkmoeWarning), *messages]
        for message, category in early:  # the warm fit stands: its warnings
            _warn_user(message, category)
        return messages

    def _warn_ignored_n_experts(self, method, remedy):
        """Warn where ``n_experts`` changed since the last fit, which ``method``
        ignores as it continues the fitted experts (set_params(n_experts=4)
        and a warm refit kept 2 experts without a word)."""
        fitted = getattr(self, "_fitted_n_experts_param", self.n_experts)
        if self.n_experts in (fitted, self.n_experts_):
            # (the fitted number itself, set after pruning or n_experts="auto")
            return
        _warn_user(
            f"{method} continues the {self.n_experts_} fitted experts and ignores "
            f"n_experts={self.n_experts!r}, set after the fit of "
            f"n_experts={fitted!r}; {remedy} to fit n_experts="
            f"{self.n_experts!r} from new starts."
        )

    def _warn_ignored_gate_settings(self):
        """Warn where ``gate_covariance_type`` changed since the fit of a
        Gaussian gate, which :meth:`partial_fit` ignores as it continues the
        fitted covariances' form (:meth:`_streaming_gate`), as it ignores a
        changed ``variance_type``: set_params(gate_covariance_type="diag")
        turned the fitted full covariances diagonal at the next batch,
        without a word."""
        fitted = self._fitted_gate()
        if not isinstance(fitted, GaussianGate) or self.gate != "gaussian":
            return
        if fitted.covariance_type == self.gate_covariance_type:
            return
        kept, value = fitted.covariance_type, self.gate_covariance_type
        _warn_user(
            f"partial_fit continues the fitted gate of gate_covariance_type="
            f"{kept!r} and ignores gate_covariance_type={value!r}, set after the "
            f"fit; call fit to fit gate_covariance_type={value!r}."
        )

    def _streaming_gate(self):
        """The gate family :meth:`partial_fit` continues a fitted model with:
        ``gate``'s (a changed one's parameters conformed to it), but a
        Gaussian gate keeps its fitted covariances' form (see
        :meth:`_warn_ignored_gate_settings`)."""
        fitted = self._fitted_gate()
        if isinstance(fitted, GaussianGate) and self.gate == "gaussian":
            return fitted
        return self._make_gate()

    def _warn_ignored_settings(self, method):
        """Warn where parameters of the experts' family changed since the
        fit, which ``method`` ignores as it continues the fitted experts (none
        by default)."""

    def _check_warm_gate(self, method="warm_start=True"):
        """A warm start (or ``partial_fit``) continues the fitted gate's
        parameters: raise if ``gate`` now names a family with other parameters."""
        fitted = type(self._fitted_gate())
        if GATES[self.gate].attribute_names != fitted.attribute_names:
            names = {family: name for name, family in GATES.items()}
            raise ValueError(
                f"{method} continues the fitted gate={names[fitted]!r}, whose "
                f"parameters gate={self.gate!r} does not have; "
                f"{_fresh_fit_remedy(method)} to fit the new gate from scratch."
            )

    def _check_warm_experts(self, method="warm_start=True"):
        """A warm start continues the fitted experts: raise if they were
        estimators and ``expert_estimator`` is now None, or the reverse."""
        fitted = hasattr(self, "experts_")
        if fitted == self._estimator_experts():
            return
        was = "clones of expert_estimator" if fitted else "the built-in experts"
        raise ValueError(
            f"{method} continues the fitted experts, {was}, which "
            f"expert_estimator={getattr(self, 'expert_estimator', None)!r} does "
            f"not; {_fresh_fit_remedy(method)} to fit the new experts from scratch."
        )

    #: What :meth:`_target_scale_data` returns, in the warm start's fallback
    #: warning.
    _target_scale_name = "y's values"

    def _target_scale_data(self, y, sample_weight, **target):
        """The values (n,) whose weighted moments a warm fit compares with the
        last fit's, and their weights besides ``sample_weight`` (n,), both
        float64: y and ones by default; and the exposure floor of a count
        model's rates (``_warm_start._exposure_floor``), which a later
        ``partial_fit`` stream's runaway check keeps, or None."""
        values = np.asarray(y, dtype=np.float64).reshape(-1)
        return values, np.ones_like(values), None

    def _target_scale_values(self, y, every, rows, sample_weight, target):
        """The targets' values (m, 1) and weights (m,) that the warm start's
        scale check takes the moments of (:meth:`_target_scale_data`), with
        their least and largest and the exposure floor: at the rows ``rows``
        (None: all) of positive weight, whose ``sample_weight`` (m,) is given
        (``every``: one per row of ``y``), and without the rows whose value
        overflows where some do not."""
        values, weights, floor = self._target_scale_data(y, every, **target)
        values = values.reshape(-1, 1)
        if rows is not None:
            values, weights = values[rows], weights[rows]
        weights = sample_weight * weights
        low, high = np.min(values, axis=0), np.max(values, axis=0)
        if not np.all(np.isfinite(high)):
            # a count over an exposure so small that its rate overflows
            # (3 over 1e-310) has no rate to judge a scale by: its inf
            # made the moments inf and NaN, and the range inf, and both
            # checks fell silent
            finite = np.isfinite(values[:, 0])
            if np.any(finite):
                values, weights = values[finite], weights[finite]
                low, high = np.min(values, axis=0), np.max(values, axis=0)
        return values, weights, low, high, floor

    def _weigh_targets(self, Y, sample_weight, *, streaming):
        """The sample weights that ``fit`` (``partial_fit``: ``streaming``)
        uses for the encoded target ``Y``: ``sample_weight`` here, times the
        class weights in :class:`MoEClassifier`."""
        return sample_weight

    def _fit(
        self,
        X,
        y,
        sample_weight,
        warm,
        feature_names=None,
        groups=None,
        init_responsibilities=None,
        **target,
    ):
        """Fit (see :meth:`fit`); returns the warnings to give, as (message,
        category) pairs. ``feature_names``: X's (an array here), from
        ``partial_fit``'s validation of its DataFrames."""
        for name in (
            "_sgd_random_state",
            "_streamed",
            "_variance_pending",
            "_rate_pending",
            "_dispersion_pending",
            "_count_moments",
            "_online_rows",
            "_stream_y_range",
        ):
            vars(self).pop(name, None)  # partial_fit's, which starts afresh
        y = _column_target(y, self)
        if is_regressor(self):
            y = _object_target_as_float(y)
        else:
            _labels_present(y)
        categories = _categorical_columns(X)
        try:
            X, y = validate_data(
                self,
                X,
                y,
                dtype=float_dtypes(X),
                # C order: the weighted means that center the features sum in
                # memory order, and a Fortran X (a DataFrame's values) moved
                # them by an ulp, which EM took to 5e-12 in float64, 1e-3 in
                # float32
                order="C",
                y_numeric=is_regressor(self),
                reset=not warm,  # a warm start needs the features it was fitted on
            )
        except ValueError as error:
            if warm:
                _raise_if_features_changed(
                    self, error, "warm_start=True", "set warm_start=False"
                )
            raise
        self._feature_categories = categories
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        self._check_numpy_input(X, "fit", fitting=True)
        backend = select_backend(X, self._compute_device(), fitting=True)
        self._choose_features(X.shape[1])
        self._check_top_k_gate(self.n_experts_ if warm else max(self._candidates(None)))
        X_host = to_numpy(X)  # initialization (k-means) and targets run on the host
        y = host(y)
        _check_float_range(
            host(sample_weight),
            X_host.dtype,
            "sample_weight",
            "divide the weights by a constant (only their ratios matter to the fit)",
            weights=True,
        )
        sample_weight = _check_sample_weight(
            host(sample_weight), X_host, dtype=X_host.dtype, ensure_non_negative=True
        )
        _check_weight_scale(sample_weight)
        # (a warm fit's: the fitted number of experts, whatever n_experts says)
        candidates = self._candidates(int(np.count_nonzero(sample_weight)), warm)
        Y = self._encode_target(y, X_host, fitting=True, **target)
        weighted = self._weigh_targets(Y, sample_weight, streaming=False)
        if weighted is not sample_weight:  # class weights
            sample_weight = weighted
            _check_weight_scale(sample_weight, CLASS_WEIGHTED)
            candidates = self._candidates(int(np.count_nonzero(sample_weight)), warm)
        candidates = self._target_candidates(candidates, Y, sample_weight, warm)
        grouping = None
        if groups is not None:
            grouping = self._check_groups(groups, X_host, sample_weight)
            self._check_group_targets(grouping, Y, sample_weight)
            candidates = self._group_candidates(
                grouping, sample_weight, candidates, warm
            )
        start = None
        if init_responsibilities is not None:  # (n_experts is a number here)
            start = check_init_responsibilities(
                host(init_responsibilities),
                X_host.shape[0],
                self.n_experts,
                sample_weight,
                X_host.dtype,
            )
        # a zero weight leaves the row out: dropped here, where its arithmetic
        # could still reach the fit (0 * inf of a rate that overflows at a far
        # feature value stopped a Poisson fit at another optimum)
        rows = np.flatnonzero(sample_weight > 0)
        dropped = rows.shape[0] < sample_weight.shape[0]
        if dropped:
            X_host, Y, sample_weight = X_host[rows], Y[..., rows], sample_weight[rows]
            if grouping is not None:
                grouping = grouping.take(rows)
            if start is not None:
                start = start[rows]
        if start is not None and grouping is not None:
            start = group_average(start, grouping)
        experts = self._make_experts(Y, sample_weight)
        if start is not None and experts.n_point_masses:
            start = possible_start(experts, start, Y, rows)
        gate = self._make_gate()
        X_compute = X if backend.to_output is _identity else backend.to_compute(X)
        if dropped:
            xp = backend.xp
            X_compute = xp.take(
                X_compute, xp.asarray(rows, device=device(X_compute)), axis=0
            )
        moments = _feature_moments(X_host, sample_weight)
        reference = getattr(self, "_fit_moments", None) if warm else None
        if reference is not None and len(reference[0]) == X_host.shape[1]:
            used = self._used_columns()
            moved = _moved_features(
                reference,
                moments,
                used,
                names=getattr(self, "feature_names_in_", None),
            )
            if moved is not None:
                raise _WarmStartFailed(moved)
        target_moments = None
        if is_regressor(self):
            every = sample_weight  # (one per row of y, those of weight 0 too)
            if dropped:
                every = np.zeros(np.shape(y)[0])
                every[rows] = sample_weight
            scaled = self._target_scale_values(
                y, every, None if not dropped else rows, sample_weight, target
            )
            values, weights, low, high, floor = scaled
            # a later partial_fit stream's runaway check judges its means
            # against these targets too (see _runaway_message)
            count = effective_rows(sample_weight)
            self._stream_y_range = (low, high, count, floor)
            # (amounts near the largest float: their sums overflow, a scale
            # the check does not judge; NumPy's warning said nothing more)
            target_moments = _target_moments(values, weights, low, high)
            target_weight = float(np.sum(weights))
            reference = getattr(self, "_fit_target_moments", None) if warm else None
            if reference is not None:
                moved = _moved_features(
                    reference,
                    target_moments,
                    None,
                    WARM_TARGET_RATIO,
                    target=self._target_scale_name,
                    shift_limit=WARM_TARGET_RATIO,
                )
                if moved is not None:
                    raise _WarmStartFailed(moved)
        fitted_estimator = getattr(self, "_fitted_expert_estimator", None)
        if warm and fitted_estimator is not None and self._estimator_experts():
            # each M-step keeps an expert's former estimator where the new one
            # fits worse: LinearRegression experts stayed after
            # set_params(expert_estimator=Ridge(alpha=1e4)), without a word
            change = _estimator_change(fitted_estimator, self.expert_estimator)
            if change is not None:
                raise _WarmStartFailed(
                    "expert_estimator differs from the one the fitted experts "
                    f"are clones of: {change}"
                )
        # centered features (see design_matrix); intercepts are moved back below
        if not warm or not hasattr(self, "_feature_offset"):
            self._feature_offset = _feature_offset(X_host, sample_weight)
        if not warm or not hasattr(self, "_feature_spread"):
            # a warm fit after partial_fit, which sets the offset alone: the
            # spread is what later partial_fit calls take Adam's units from
            # (one row of features of scale 1e3 then took R^2 from 0.97 to -3)
            self._feature_spread = tuple(moments[1].tolist())
        if not warm or not hasattr(self, "_feature_range"):
            # what partial_fit's batches are compared with (the spread above:
            # the units of Adam's steps)
            ranges = _feature_ranges(X_host, sample_weight)
            self._feature_range = tuple(map(tuple, ranges.tolist()))
        offset = np.asarray(self._feature_offset, dtype=X_host.dtype)
        # the refusals (squares that overflow or underflow) before the fit;
        # the warning after it, on the coefficients the fitted model penalizes
        self._check_feature_scales(X_host, offset, sample_weight, fitted=False)
        self._check_curvature_scale(X_host, offset, Y, sample_weight)
        X_scales, offset_scales = X_host, offset
        used = self._used_columns()
        X_host = _take_columns(np, X_host, used, axis=1)  # what the starts cluster
        offset = as_compute(backend.xp, offset, X_compute)
        design, own_gate_design = self._designs(backend.xp, X_compute, offset, experts)
        problem = EMProblem(
            design,
            backend.to_compute(Y),
            backend.to_compute(sample_weight),
            gate,
            experts,
            float(self.alpha),
            self.top_k,
            own_gate_design,
            grouping,
        )
        if warm:
            options = self._solver_options(self.n_experts_)
            best = self._warm_run(problem, options, offset)
            failure = self._warm_failure(problem, best)
            if failure is not None:
                raise _WarmStartFailed(failure)
            for name in ("n_experts_bic_", "n_experts_scores_", "df_bic_"):
                vars(self).pop(name, None)  # it chose no number of experts
        else:
            self._given_start = start  # the first restart's (_best_restart)
            try:
                best, bics = self._fit_candidates(
                    problem, X_host, Y, sample_weight, candidates
                )
            finally:
                vars(self).pop("_given_start", None)
            if _nan_parameters(problem, best):
                raise ValueError(
                    "fit broke down: every restart's fitted parameters became NaN "
                    "(values whose squares or products overflow the dtype). "
                    "Rescale the features and y (e.g. with "
                    "sklearn.preprocessing.StandardScaler), or fit in float64."
                )
            self.n_experts_bic_ = bics
        messages = [(self._collapse_message(problem, best), DegenerateFitWarning)]
        if (
            messages[0][0] is None
            and not self._degenerate_target()
            and not self.balance_coef
        ):
            # (an expert the collapse warning names is not named twice; a
            # balance loss keeps experts in use on purpose: 16 experts of
            # top_k=2 and balance_coef=1 on six regimes were warned of one of
            # share 0.033, with a notebook's words that it evens out usage)
            spurious = self._spurious_message(problem, best)
            messages.append((spurious, SpuriousExpertWarning))
        if start is not None:  # its cause first, where the start left one out
            messages.insert(0, (unused_experts_message(start), SkmoeWarning))
        chose = not warm and len(candidates) > 1  # a warm fit chooses no number
        if chose:
            message = self._largest_candidate_message(
                candidates, best, grouped=grouping is not None
            )
            messages.append((message, SkmoeWarning))
        if chose and best.gate_params["coef"].shape[1] > 1:
            messages.append(
                (
                    self._duplicates_message(
                        X_host, Y, sample_weight, best.gate_params["coef"].shape[1]
                    ),
                    SkmoeWarning,
                )
            )
        online = self.solver == "em" and supports(problem.gate, problem.experts)
        if best.solver_state is None and online and grouping is None:
            # the sums online EM continues from (partial_fit with solver="em")
            state = statistics_of(problem, best.gate_params, best.expert_params)
            best = dataclasses.replace(best, solver_state=state)
        self._set_fitted(problem, best, offset)
        # the features' moments, which the next warm fit's must stay near
        # (tuples of floats, as _feature_offset: no array to follow the
        # fitted attributes' namespace)
        self._fit_moments = tuple(tuple(part.tolist()) for part in moments)
        # (and the weights they are of, which a stream's batches add to)
        weight_totals = [float(np.sum(sample_weight))]
        vars(self).pop("_fitted_expert_estimator", None)
        if self._estimator_experts():  # what the experts are clones of
            self._fitted_expert_estimator = clone(self.expert_estimator)
        if target_moments is not None:  # (and y's)
            self._fit_target_moments = tuple(
                tuple(part.tolist()) for part in target_moments
            )
            weight_totals.append(target_weight)
        # partial_fit's first batch: its stream adds to them, up to
        # POOLED_ROWS rows; a fit's rows stand alone: pooled with a few rows
        # of another scale, their spread moved within the check's (1000 rows,
        # then 40 of X * 200 by partial_fit: a warm fit on X * 200 continued
        # the fit's parameters to R^2 -3e4, where a fresh fit had 0.92)
        rows = int(np.count_nonzero(np.asarray(sample_weight) > 0))
        _stored_moments_weights(
            self, weight_totals, rows if self._streams() else POOLED_ROWS
        )
        self._fitted_solver = self.solver  # set_params may change the parameter
        self._fitted_acceleration = self.acceleration  # (and the displays')
        self._history_parts = None  # (see _partial_fit: a new history)
        self._fitted_tol = self.tol  # (std_errors' advice)
        self._fitted_max_iter = self.max_iter  # (and whether it ran out)
        self._fitted_balance_coef = self.balance_coef
        if not warm:  # the n_experts the fitted experts came from
            self._fitted_n_experts_param = self.n_experts
        self._fitted_groups = grouping is not None
        self._attributes_to(X)
        streams = self._streams()  # (whose first batch gives it at once)
        scales = self._check_feature_scales(
            X_scales,
            offset_scales,
            sample_weight,
            stream=streams,
            information=lambda: self._lone_expert_information(
                problem, best.gate_params, best.expert_params
            ),
        )
        messages.insert(0, (scales, FeatureScaleWarning))
        messages.append((self._convergence_message(best), ConvergenceWarning))
        return [(message, category) for message, category in messages if message]

    def _check_groups(self, groups, X, sample_weight):
        """:class:`Groups` of ``fit``'s ``groups``, checked against the model
        and the data (X on the host, all its features)."""
        if self.solver == "sgd":
            raise ValueError(
                "groups needs whole groups in every step; solver='sgd' draws "
                "mini-batches of rows. Use solver='em' or solver='gradient'."
            )
        grouping = check_groups(host(groups), X.shape[0])
        self._check_group_weights(grouping, sample_weight)
        self._check_group_gate(grouping, X, self.gate, sample_weight)
        return grouping

    def _check_group_targets(self, grouping, Y, sample_weight):
        """Raise where the encoded target ``Y`` has groups of ``grouping``
        that no expert can take whole (none by default)."""

    def _check_group_weights(self, grouping, sample_weight):
        """Raise if ``sample_weight`` differs within a group of ``grouping``
        on its rows of positive weight (a zero weight leaves a row out)."""
        rows = np.flatnonzero(sample_weight > 0)
        if rows.shape[0] < sample_weight.shape[0]:
            grouping, sample_weight = grouping.take(rows), sample_weight[rows]
        uneven = grouping.varies(sample_weight)
        if len(uneven):
            label = grouping.labels[uneven[0]]
            cause = (
                " (class_weight weighs the rows by class)"
                if getattr(self, "class_weight", None) is not None
                else ""
            )
            raise ValueError(
                "sample_weight must be the same on every row of a group (it "
                "weighs the group; a zero weight leaves a row out); it differs "
                f"within group {label!r}{cause}."
            )

    def _check_group_gate(self, grouping, X, gate, sample_weight=None):
        """Raise if the gate (the ``gate`` parameter's value) sees features
        that differ within a group of ``grouping`` (X on the host), on the rows
        of positive ``sample_weight`` (None: all; a zero weight leaves a row
        out)."""
        if gate == "constant":
            return
        if sample_weight is not None:
            rows = np.flatnonzero(sample_weight > 0)
            if rows.shape[0] < sample_weight.shape[0]:
                grouping, X = grouping.take(rows), X[rows]
        gate_X = _take_columns(np, X, self._gate_columns, axis=1)
        varying = grouping.varies(gate_X)
        if len(varying):
            label = grouping.labels[varying[0]]
            raise ValueError(
                "with groups, the gate must see features that are the same on "
                "every row of a group (it gives the group one prior); its "
                f"features differ within group {label!r}. Use gate='constant', "
                "or gate_features naming group-level features."
            )

    def _predict_groups(self, groups, X, method, sample_weight=None):
        """:class:`Groups` of a method's ``groups`` (None: None), checked
        against the fitted gate on the rows of positive ``sample_weight``
        (None: all); raises where ``method`` needs the groups of a model
        fitted with them."""
        if groups is None:
            needs = method in ("bic", "aic", "icl", "std_errors")
            if needs and getattr(self, "_fitted_groups", False):
                raise ValueError(
                    f"{method}: this model was fitted with groups, and its "
                    "likelihood is that of the groups; pass the groups of X's rows "
                    "(groups=np.arange(n_samples) makes each row its own group)."
                )
            if method == "responsibilities" and getattr(self, "_fitted_groups", False):
                # rows of one group went to different experts (35% of the
                # groups of a repeated-measurements fit), without a word
                _warn_user(
                    "responsibilities: this model was fitted with groups, and "
                    "without them each row is its own group: its posterior sees "
                    "its own target only, and a group's rows can go to different "
                    "experts. Pass the groups of X's rows for the groups' "
                    "posteriors (R flexmix's), or groups=np.arange(n_samples) "
                    "for the rows'."
                )
            return None
        grouping = check_groups(host(groups), X.shape[0])
        names = {family: name for name, family in GATES.items()}
        self._check_group_gate(
            grouping, X, names[type(self._fitted_gate())], sample_weight
        )
        return grouping

    def _group_candidates(self, grouping, sample_weight, candidates, warm=False):
        """``candidates`` (numbers of experts) limited by the number of groups
        with a positive weight, as they are by the number of rows. ``warm``:
        a warm fit's, the fitted number of experts alone."""
        n_active = np.unique(grouping.codes[sample_weight > 0]).shape[0]
        if (warm or self.n_experts != "auto") and n_active < candidates[0]:
            # (a warm fit's remedy is no fewer experts: it ignores n_experts)
            of, remedy = f"n_experts={self.n_experts}", "pass fewer experts or more"
            if warm:
                of = (
                    f"the {candidates[0]} fitted experts that warm_start=True continues"
                )
                remedy = "set warm_start=False, or pass more"
            raise ValueError(
                f"groups has {n_active} groups of positive weight, fewer than "
                f"{of}; {remedy} groups."
            )
        kept = [k for k in candidates if k <= n_active]
        if not kept:  # "auto" from 2 experts (zero_inflated) over one group
            raise ValueError(
                f"groups has {n_active} groups of positive weight, fewer than "
                f"the {candidates[0]} experts n_experts='auto' fits at least; "
                "pass more groups."
            )
        return kept

    def _choose_features(self, n_features):
        """Resolve ``gate_features`` and ``expert_features`` for X's features."""
        names = getattr(self, "feature_names_in_", None)
        if self.gate_features is not None and self.gate == "constant":
            raise ValueError(
                "gate='constant' sees no features: gate_features must be None "
                f"(got {self.gate_features!r}); use gate='softmax' for a gate on "
                "chosen features."
            )
        self._gate_columns = _feature_columns(
            self.gate_features, n_features, names, "gate_features"
        )
        self._expert_columns = _feature_columns(
            self.expert_features, n_features, names, "expert_features"
        )
        if self._expert_columns == () and self._estimator_experts():
            raise ValueError(
                f"expert_features={self.expert_features!r} leaves the experts no "
                "features, which expert_estimator's estimators need to be "
                "fitted; give them features, or use the built-in experts "
                "(expert_estimator=None), which then have constant means."
            )
        self._shared_rows = self._choose_shared(n_features, names)

    def _choose_shared(self, n_features, names):
        """The rows of the experts' design (1 + the position among the expert
        features) of ``shared_features``, whose coefficients all experts share;
        () for estimators without the parameter."""
        spec = getattr(self, "shared_features", None)
        self._shared_columns = ()
        if spec is None:
            return ()
        columns = _feature_columns(spec, n_features, names, "shared_features")
        if columns is None:  # every feature
            columns = tuple(range(n_features))
        self._shared_columns = columns
        if not columns:
            return ()
        if self._estimator_experts():
            raise ValueError(
                f"shared_features={spec!r} shares coefficients between the "
                "built-in linear experts; experts given by expert_estimator have "
                "none. Leave shared_features=None, or expert_estimator=None."
            )
        expert = self._expert_columns
        if expert is not None and not set(columns) <= set(expert):
            unseen = [c for c in columns if c not in expert]
            if names is not None:
                unseen = [str(names[c]) for c in unseen]
            raise ValueError(
                f"shared_features={spec!r} includes features the experts do not "
                f"see (expert_features={self.expert_features!r}): {unseen}. "
                "Shared features must be among the expert features."
            )
        return tuple(1 + (c if expert is None else expert.index(c)) for c in columns)

    def _check_top_k_gate(self, n_experts):
        """Raise for ``top_k`` below ``n_experts`` (the most experts this fit
        or ``partial_fit`` call has) with a gate on no features."""
        if self._gate_columns == () and is_sparse(self.top_k, n_experts):
            raise ValueError(
                f"top_k={self.top_k} has no meaning with gate_features="
                f"{self.gate_features!r}: a gate that sees no features is the "
                "same for every sample (as "
                "gate='constant'), so every sample would keep the same top_k "
                "experts. Give the gate features, or leave top_k=None."
            )

    #: Whether the experts are linear Gaussian ones, whose penalty divided by
    #: the noise variance makes one of them a ridge regression
    #: (RIDGE_PENALTY_SHARE).
    _ridge_experts = False

    def _penalized_columns(self, n_features):
        """Which of the ``n_features`` columns have coefficients that ``alpha``
        penalizes in the fitted model (a boolean mask), and the share of
        :func:`_feature_scale_message` for each: the gate's, where the fitted
        gate has penalized coefficients (more than one expert under a softmax
        or hierarchical gate), and the experts' unless they are
        ``expert_estimator``'s (trees have no coefficients), with
        RIDGE_PENALTY_SHARE for a single linear Gaussian expert beside no
        penalized gate (a ridge regression). With ``expert_estimator`` and one
        expert or an unpenalized gate, none: the penalty shrinks nothing, and
        the warning (given on every default fit of scikit-learn's diabetes
        data, whose auto choice is one expert) said it did."""

        def mask(columns):
            out = np.zeros(n_features, dtype=bool)
            out[slice(None) if columns is None else np.asarray(columns, np.intp)] = True
            return out

        # (a partial_fit stream's first batch: the parameters' numbers)
        n_experts = getattr(self, "n_experts_", self.n_experts)
        single = n_experts == 1
        family = getattr(self, "_gate_family", None) or self._make_gate()
        gate = self.gate != "constant" and family.penalized and not single
        penalized = mask(self._gate_columns) if gate else mask(())
        share = np.full(n_features, PENALTY_SHARE)
        if not self._estimator_experts():
            experts = mask(self._expert_columns)
            if single and self._ridge_experts:
                share[experts] = RIDGE_PENALTY_SHARE
            penalized |= experts
        return penalized, share

    def _lone_expert_information(self, problem, gate_params, expert_params):
        """The Fisher information per row of ``problem`` of the one expert of
        ``expert_params`` (``ExpertFamily.information_weights``), or None:
        several experts, ``expert_estimator``'s, or a family that does not
        measure it."""
        if gate_params["coef"].shape[1] != 1 or self._estimator_experts():
            return None
        return problem.experts.information_weights(
            problem.xp, problem.design, problem.Y, expert_params
        )

    def _used_columns(self):
        """The features the gate or the experts see (None: all)."""
        gate = () if self.gate == "constant" else self._gate_columns
        parts = (gate, self._expert_columns)
        if any(columns is None for columns in parts):
            return None
        return np.union1d(*parts).astype(np.intp)

    def _check_feature_scales(
        self,
        X,
        offset,
        sample_weight,
        spread=True,
        stream=False,
        fitted=True,
        information=None,
    ):
        """The message of :func:`_feature_scale_message` on the features the
        model uses, named by their names or their columns in X, or None
        (``spread=False``: only the refusal of values whose squares overflow,
        for rows too few to tell the features' spreads). ``stream``: a
        ``partial_fit`` batch, which gives the warning itself unless its stream
        gave it before (:meth:`_warn_once_in_stream`), and returns None.
        ``fitted``: judged on the fitted model's penalized coefficients
        (:meth:`_penalized_columns`); else only the refusals, before a fit.
        ``information``: a callable that returns a lone expert's Fisher
        information per row (:meth:`_lone_expert_information`), which weighs
        its shares (:func:`_information_shares`), or None."""
        used = self._used_columns()
        if not spread:
            _mean_square_deviation(
                _take_columns(np, X, used, axis=1),
                _take_columns(np, offset, used, axis=0),
                sample_weight,
            )
            return
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = list(range(X.shape[1]))
        alpha, share = (float(self.alpha) if fitted else 0.0), PENALTY_SHARE
        if fitted:
            penalized, shares = self._penalized_columns(X.shape[1])
            if information is not None:
                shares = _information_shares(
                    X, offset, sample_weight, information, penalized, shares
                )
            if np.all(penalized):  # (no copy of X's columns: all of them)
                used, share = None, shares
            elif np.any(penalized):
                used, share = np.flatnonzero(penalized), shares[penalized]
            else:
                alpha = 0.0  # no coefficient to shrink: the refusals alone
        message = _feature_scale_message(
            _take_columns(np, X, used, axis=1),
            _take_columns(np, offset, used, axis=0),
            sample_weight,
            alpha,
            [names[j] for j in (range(X.shape[1]) if used is None else used)],
            share,
        )
        if message is None or not stream:
            return message
        self._warn_once_in_stream(message, message)
        return None

    def _check_curvature_scale(self, X, offset, Y, sample_weight):
        """Warn where the experts' Newton steps cannot be taken at this scale
        of the features (none by default; see the count regressors')."""

    def _warn_once_in_stream(self, key, message, category=FeatureScaleWarning):
        """Give ``message`` (a warning of ``category``) unless the ``partial_fit``
        stream gave the warning of ``key`` before: a stream of small-scale
        features warned at every batch (20 identical warnings for 20 batches,
        with Python's default filter: scikit-learn's input checks, in
        ``catch_warnings``, reset its record of the warnings shown), as did a
        changed ``n_experts`` that partial_fit ignores. The keys given are held
        until :meth:`fit` starts a new model, and restored with the rest of the
        estimator where a batch fails."""
        given = vars(self).get("_stream_warnings", frozenset())
        if key in given:
            return
        _warn_user(message, category)
        self._stream_warnings = given | {key}

    def _designs(self, xp, X, offset, experts):
        """The experts' design matrix of X centered at ``offset`` (not centered
        for ``experts`` that see raw features), and the gate's own (None where
        the gate sees the same features, centered)."""

        def build(columns, centered=True):
            return design_matrix(
                xp,
                _take_columns(xp, X, columns, axis=1),
                _take_columns(xp, offset, columns, axis=0) if centered else None,
            )

        design = build(self._expert_columns, experts.centered)
        if self._gate_columns == self._expert_columns and experts.centered:
            return design, None
        return design, build(self._gate_columns)

    def _convergence_message(self, best):
        """The text of a ConvergenceWarning for the kept run, or None."""
        if best.converged:
            return None
        kept = f"solver={self.solver!r} did not converge"
        if best.message:  # the solver knows why (a line search, SGD's epochs)
            return f"{kept} in the kept run: {best.message}."
        if best.n_iter >= self.max_iter:
            coef = best.gate_params["coef"]
            single = coef.dtype == array_namespace(coef).float32
            remedy = (
                "increase max_iter (epochs), loosen tol (now "
                f"{self.tol}) or lower n_iter_no_change (now {self.n_iter_no_change})"
                if self.solver == "sgd"
                else f"increase max_iter, loosen tol (now {self.tol}) or raise alpha"
                # std_errors needs a maximum: a tighter tol, not a looser one
                "; before std_errors, raise max_iter rather than loosen tol"
            )
            return (
                f"{kept} in max_iter={self.max_iter} iterations in the kept run; "
                f"{remedy}."
                + (
                    " In float32 the objective's changes are rounded at about "
                    "1e-7 per sample: fit float64 data for a tol this small."
                    if single and self.tol < 1e-6
                    else ""
                )
            )
        return (
            f"{kept} in the kept run (it stopped after {best.n_iter} of "
            f"max_iter={self.max_iter} iterations)."
        )

    def _collapse_message(self, problem, best):
        """The text of a warning when experts of the kept run (of several) sit at
        a lower bound of their parameters, or None."""
        gate_message = self._gate_collapse_message(problem, best)
        if gate_message is not None:
            return gate_message
        n_experts = best.gate_params["coef"].shape[1]
        if self._degenerate_target():
            return None
        if n_experts < 2:
            return self._single_collapse_message(problem, best)
        if self.assignment == "hard" or is_sparse(problem.top_k, n_experts):
            # an expert that classification EM (or top_k routing) left
            # without samples sits at its lower bounds too: say why (crossing
            # lines with noise sd 1.5 were said to have collapsed onto a few
            # values of y; top_k=1 experts with no data, to inflate the score)
            unused = self._unused_message(problem, best)
            if unused is not None:
                return unused
        collapsed = _at_lower_bound(problem, best)
        if len(collapsed) == 0:
            return self._few_samples_message(problem, best)
        names = ", ".join(f"expert_{name}_" for name in problem.experts.lower_bounds())
        if self._estimator_experts():
            return (
                f"Experts {_listed(collapsed)} of the kept run collapsed: their "
                f"{names} sits at its lower bound, as an estimator that fits its "
                "samples exactly (a deep tree) gives. Its likelihood is then "
                "unbounded; the bound stops it, but the likelihood and score "
                "are inflated. Limit the expert_estimator's capacity (max_depth, "
                "min_samples_leaf, a penalty): one that fits any samples exactly "
                "collapses whatever the number of experts. Where it fits only a few "
                "samples so, fewer experts"
                + (
                    " may do."
                    if getattr(self, "variance_type", "tied") == "tied"
                    else " or variance_type='tied' may do."
                )
            )
        n_coef = problem.design.shape[0]
        n_rows = int(np.count_nonzero(to_numpy(problem.sample_weight) > 0))
        rows, distinct = _own_rows(problem, best, collapsed)
        spikes = (rows > 0) & (distinct == 1)
        if n_coef >= n_rows and not np.all(spikes):
            # more coefficients than rows: one expert fits them all exactly,
            # and fewer experts or a tied variance (the advice below) cannot
            # help (50 x 200 said "copies, a spike"); unless each collapsed
            # expert holds one value of y alone on the rows it takes (a
            # spike, which a larger alpha does not undo)
            return (
                f"Experts {_listed(collapsed)} of the kept run collapsed: each has "
                f"{n_coef} coefficients for {n_rows} samples, so that it fits its "
                f"samples exactly and its {names} sits at or near its lower bound; "
                "the likelihood, and score, bic and aic with it, are inflated and "
                "predictive intervals far too narrow. Fit more samples, fewer "
                "features (expert_features) or a larger alpha."
            )
        # an expert whose own rows (those it takes) hold fewer than
        # AUTO_MIN_SAMPLES_PER_PARAMETER distinct values of y per coefficient,
        # and mostly distinct ones (not copies), fits them (nearly) exactly
        # though all rows together are more: 300 x 60 in five experts of 59
        # to 61 rows each said "copies, a spike" and advised a tied variance.
        # A spike, or copies of a few points, keep that text
        own = (
            ~spikes
            & (distinct < AUTO_MIN_SAMPLES_PER_PARAMETER * n_coef)
            & (2 * distinct > rows)
        )
        parts = []
        if np.any(own):
            parts.append(
                self._share_collapse_message(
                    problem, best, collapsed[own], rows[own], names, n_rows
                )
            )
        # enough distinct values per coefficient: no few values fitted
        # exactly; a bound set by y's spread (the variance floor of regimes
        # 1e6 apart with noise variance 0.75) holds them. Not "mostly
        # distinct": float32 rounds y near 1e6 to steps of 0.0625, and one
        # such regime of 201 rows holds 98 values
        many = ~spikes & (distinct >= AUTO_MIN_SAMPLES_PER_PARAMETER * n_coef)
        floor = None
        if np.any(many):
            floor = self._floor_collapse_message(
                problem, best, collapsed[many], rows[many], distinct[many]
            )
        if floor is None:
            many[:] = False
        else:
            parts.append(floor)
        if not np.all(own | many):
            parts.append(
                self._copies_collapse_message(best, collapsed[~own & ~many], names)
            )
        return " ".join(parts)

    def _spurious_message(self, problem, best):
        """The text of a warning when experts of the kept run handle under 5%
        of the data and add less to the log-likelihood than BIC charges for
        them (see :func:`_spurious_experts`), or None."""
        hits = _spurious_experts(problem, best)
        if not hits:
            return None
        parts = [
            f"expert {k} (share {share:.3f}) "
            + (
                f"adds {drop:.1f} to the log-likelihood"
                if drop >= 0
                # (top_k: the others' top k may fit better without it)
                else f"takes {-drop:.1f} from the log-likelihood"
            )
            + f", less than the {price:.1f} its parameters cost"
            for k, share, drop, price in hits[:3]
        ]
        if len(hits) > 3:
            parts.append(f"and {len(hits) - 3} more such experts")
        text = "; ".join(parts)
        remedies = ["a refit with prune_threshold=0.05", "prune_experts(0.05)"]
        if self.n_experts != "auto" and not self._streams():
            remedies.append("n_experts='auto'")
        return (
            f"{text[0].upper()}{text[1:]} (p log(n) / 2, as bic counts "
            "them): without it, the other experts unchanged and the gate "
            "renormalized, the model's BIC is lower even before a refit. Such "
            "a small expert is often spurious (more experts than the data "
            f"hold); try {_in_words(remedies)}."
        )

    def _floor_collapse_message(self, problem, best, experts, rows, distinct):
        """The text of a warning when ``experts`` (indices), of ``rows`` rows
        of their own each holding ``distinct`` values of y, sit at a lower
        bound that the spread of y sets, or None where the experts' lower
        bound does not come from y's spread (the default)."""
        return None

    def _share_collapse_message(self, problem, best, experts, rows, names, n_rows):
        """The text of a warning when ``experts`` (indices) collapsed on
        ``rows`` of their own each (those they take, of ``n_rows`` of positive
        weight), with fewer than ``AUTO_MIN_SAMPLES_PER_PARAMETER`` per
        coefficient: they fit them (nearly) exactly, and fewer experts (more
        rows each), fewer features or a larger alpha are the remedies."""
        n_coef = problem.design.shape[0]
        low, high = int(rows.min()), int(rows.max())
        count = f"{low}" if low == high else f"{low} to {high}"
        words = ["more samples", "fewer features (expert_features)", "a larger alpha"]
        n_kept = best.gate_params["coef"].shape[1]
        if n_kept > 1 + int(getattr(self, "zero_inflated", False)):
            words.append("fewer experts")
            if self.n_experts != "auto" and not self._streams():
                words.append("n_experts='auto' (which passes over such fits)")
        return (
            f"Experts {_listed(experts)} of the kept run collapsed: each has "
            f"{n_coef} coefficients for {count} samples of its own (those it "
            f"takes, of the {n_rows}), so that it fits them (nearly) exactly and "
            f"its {names} sits at or near its lower bound; the likelihood, and "
            "score, bic and aic with it, are inflated and predictive intervals "
            "far too narrow. Try "
            f"{_in_words(words)}."
        )

    def _copies_collapse_message(self, best, experts, names):
        """The text of a warning when ``experts`` (indices) collapsed onto a
        few distinct values of y (copies, a spike)."""
        return (
            f"Experts {_listed(experts)} of the kept run collapsed: each fits "
            "a few distinct values of y (copies, a spike) almost exactly, so that its "
            f"{names} sits at or near its lower bound. An expert that fits its "
            "samples exactly (duplicated points, a few outliers) has an "
            "unbounded likelihood; the bound stops it, but the likelihood, and "
            "score, bic and aic with it, are inflated. Try "
            + _in_words(
                self._remedies(
                    best.gate_params["coef"].shape[1],
                    ["variance_type='tied' (Gaussian experts)"],
                )
            )
            + "."
        )

    def _single_collapse_message(self, problem, best):
        """The text of a warning when a single expert collapsed (it fits its
        samples exactly: as many coefficients as samples, 3 rows and 2
        features, gave a noise variance of 1.3e-6 for a y of std 0.46, a 90%
        interval 0.004 wide and no word), or None."""
        if len(_at_lower_bound(problem, best)) == 0:
            return None
        names = ", ".join(f"expert_{name}_" for name in problem.experts.lower_bounds())
        return (
            f"The expert fits its samples (almost) exactly, so that its {names} "
            "sits at or near its lower bound: with as many coefficients as "
            "distinct samples (or a flexible expert_estimator), the noise is not "
            "estimable. Predictive intervals, predict(return_std=True) and "
            "std_errors are then far too narrow, and the likelihood, score, bic "
            "and aic inflated. Fit more samples, fewer features or a larger alpha."
        )

    def _few_samples_message(self, problem, best):
        """The text of a warning when experts of the kept run handle fewer than
        ``AUTO_MIN_SAMPLES_PER_PARAMETER`` samples per parameter of their own
        (see :meth:`_collapsed`), or None: an expert with too few samples for
        its coefficients fits them (nearly) exactly, and its predictions can be
        extreme away from them, where its gate is small but not zero; no
        parameter reaches a bound to say so."""
        if not is_regressor(self):
            # a logistic expert's probabilities stay bounded away from its
            # samples, and its many coefficients ((d + 1)(C - 1): 585 on the
            # digits) are held by the penalty: an expert of 51 wine samples
            # (56 needed) predicts as well as one expert does. Only experts
            # that the fit left without data are worth a word (iris, K=4: two)
            return self._unused_message(problem, best)
        few, needed = _few_samples(problem, best)
        if len(few) == 0:
            return None
        # a linear expert's coefficients; an estimator's features, as a scale
        unit = "feature and intercept" if self._estimator_experts() else "parameter"
        n_kept = best.gate_params["coef"].shape[1]
        # a noise parameter fitted to the few residuals comes out small: 20
        # rows, 3 experts of 3 coefficients, one of 4 rows had a variance
        # 3.6e-5 for a noise of 0.09, and 90% intervals covered 42% of new rows
        # (a tied variance is pooled over all the experts' residuals)
        names = ", ".join(f"expert_{name}_" for name in problem.experts.lower_bounds())
        if getattr(problem.experts, "tied", False):
            names = ""
        noise = (
            f" (and their {names} is likely too small, their predictive intervals "
            "too narrow)"
            if names
            else ""
        )
        return (
            f"Experts {_listed(few)} of the kept run handle fewer than {needed} "
            f"samples ({AUTO_MIN_SAMPLES_PER_PARAMETER} per {unit} of their "
            f"own): their parameters are barely determined{noise}, and their "
            "predictions can be extreme away from those samples. Try "
            f"{_in_words(self._remedies(n_kept))}."
        )

    def _unused_message(self, problem, best):
        """The text of a warning when experts of the kept run handle less than
        one sample each (their weighted share of the samples with a positive
        weight), or None: the model then uses fewer experts than it has."""
        usage = expert_usage(problem, best.gate_params, best.expert_params)
        samples = to_numpy(usage) * np.count_nonzero(to_numpy(problem.sample_weight))
        # (to rounding: two experts of two samples had shares of 0.5 - 1e-17)
        unused = np.flatnonzero(samples < 1 - UNUSED_TOL)
        if len(unused) == 0:
            return None
        n_experts = len(samples)
        fixed = problem.experts.point_masses(problem.xp, best.expert_params)
        if fixed is not None and fixed[unused].any():
            return (
                f"The point mass at zero (expert {int(np.flatnonzero(fixed)[0])}) "
                "handles less than one sample's worth of the (weighted) data: "
                "the other experts account for the zeros, or there are none. "
                "Fit without zero_inflated=True."
            )
        return (
            f"Experts {_listed(unused)} of the kept run handle less than one "
            "sample's worth of the (weighted) data each: the model uses "
            f"{n_experts - len(unused)} of its "
            f"{n_experts} experts. Fit fewer experts"
            + (
                ", or drop these with prune_experts(threshold), a share of the "
                "data below which an expert goes (expert_usage_ gives each "
                "expert's share)."
                if self._prunable()
                else "."
            )
        )

    def _streams(self):
        """Whether the fit under way is ``partial_fit``'s first fit of a batch
        (which refuses ``n_experts="auto"``, so its warnings do not advise it)."""
        return getattr(self, "_streaming_fit", False)

    def _prunable(self):
        """Whether the experts can be pruned (not under a hierarchical gate,
        whose groups their number fixes): the warnings' remedies say so."""
        return not isinstance(self._make_gate(), HierarchicalGate)

    def _remedies(self, n_kept, extra=()):
        """What tames experts with too little data, as a list of phrases for
        a warning about a fit that kept ``n_kept`` experts: fewer experts
        where a model can have fewer (not below one, or a zero-inflated
        model's two), ``n_experts="auto"`` where it is not on already, a less
        flexible ``expert_estimator``, pruning where the experts can be
        pruned, then ``extra``; more samples where nothing else is left."""
        words = []
        # (n_experts="auto" never passes over its smallest candidate)
        fewer = n_kept > 1 + int(getattr(self, "zero_inflated", False))
        if fewer:
            words.append("fewer experts")
        if self._estimator_experts():
            words.append("a less flexible expert_estimator (max_depth, a penalty)")
        elif self.n_experts != "auto" and fewer and not self._streams():
            words.append("n_experts='auto' (which passes over such fits)")
        if self._prunable():
            words.append("prune_threshold > 0")
        words.extend(extra)
        return words or ["more samples"]

    def _gate_collapse_message(self, problem, best):
        """The text of a warning when the gate of the kept run (of several
        experts) collapsed (see :func:`_gate_collapsed`), or None."""
        gate_collapsed = _gate_collapsed(problem, best)
        if len(gate_collapsed) == 0 or best.gate_params["coef"].shape[1] < 2:
            return None
        return (
            f"Experts {_listed(gate_collapsed)} of the kept run collapsed in "
            "the gaussian gate: their samples share a value of a gate "
            "feature (a binary or discrete one, duplicated rows) or lie on a "
            "line, so their covariance of the inputs sits at its floor. The "
            "joint likelihood of X and y that EM maximizes, and compares "
            "restarts by, is then inflated without bound by their density of "
            "X, and no restart avoided it. The fit of y given X (predict, "
            "score, bic) may still be sound, with the gate splitting on that "
            "value; to model X's density, give the gate continuous features "
            "(gate_features), or use gate='softmax'."
        )

    #: What else may make the criterion fall with every expert (a sentence
    #: after the advice of :meth:`_largest_candidate_message`), or "".
    _more_experts_hint = ""

    def _duplicates_message(self, X, Y, sample_weight, n_experts):
        """The text of a warning where ``n_experts="auto"`` chose several
        experts on data of which at least half the rows (of positive weight)
        repeat others, for a continuous target; None otherwise."""
        if not self._continuous_target:
            return None
        rows = np.column_stack([X, np.reshape(Y, (X.shape[0], -1))])
        rows = np.ascontiguousarray(rows[sample_weight > 0])
        distinct = np.unique(
            rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
        )
        n_rows, n_distinct = rows.shape[0], distinct.shape[0]
        if n_distinct > n_rows / 2:
            return None
        return (
            f"n_experts='auto' chose {n_experts} experts on data whose "
            f"{n_rows} rows hold only {n_distinct} distinct (X, y) pairs. "
            "Every row counts as a sample in BIC (and a held-out row's "
            "copies are among the fitted rows), so copies favour more "
            "experts. If the copies stand for weights, pass each row once "
            "with its count as sample_weight (BIC then counts the rows given)."
        )

    #: Whether y is continuous (Gaussian experts), so that rows repeating
    #: others are copies rather than observations that tie.
    _continuous_target = False

    def _degenerate_target(self) -> bool:
        """Whether the target is degenerate (a constant y), which ``fit`` has
        warned about already."""
        return False

    def _best_restart(
        self, problem, X_host, Y, sample_weight, n_experts, options, random_state
    ):
        """The run with the best penalized objective among ``n_init`` restarts
        (less the load-balancing loss, with ``balance_coef``)."""
        # restarts travel to joblib's workers by pickling: NumPy only
        n_jobs = self.n_jobs if is_numpy_array(problem.design) else 1
        starts = self._restart_plan(random_state, grouped=problem.groups is not None)
        if n_experts == 1 and options.solver != "sgd":
            starts = starts[:1]  # one expert has one optimum: restarts repeat it
        fitting, start_weight = problem, sample_weight
        if options.solver == "sgd":
            fitting, start_weight = _early_stopping_split(
                problem, sample_weight, n_experts, options, random_state
            )
        given = getattr(self, "_given_start", None)  # fit's init_responsibilities
        if given is not None:
            starts[0] = ("init_responsibilities", starts[0][1])
        elif self._ranks_start(Y, sample_weight, n_experts, options):
            # one restart more, from k-means of the ranks of y (see _ranks_start)
            starts.append(("ranks", starts[0][1]))
        results = Parallel(n_jobs=n_jobs)(
            delayed(_fit_restart)(
                fitting,
                X_host,
                Y,
                start_weight,
                n_experts,
                method,
                seed,
                index,
                options,
                given if index == 0 else None,
            )
            for index, (method, seed) in enumerate(starts)
        )
        # a gate that models x (gate="gaussian") can raise its joint likelihood
        # without bound by collapsing onto a feature's value: runs that did not
        # collapse first
        # (and a run whose numerics broke down, NaN parameters, comes last)
        sound = [
            r
            for r in results
            if not (math.isnan(r.objective) or _nan_parameters(problem, r))
        ]
        intact = [r for r in sound if len(_gate_collapsed(problem, r)) == 0]
        runs = intact or sound or results
        if options.balance_coef > 0 and len(runs) > 1:
            # the objective the gradient solvers maximized, less the balance
            # loss: compared without it (as objective_history_ records it),
            # 4 experts at balance_coef=0.3 kept a run that left an expert
            # unused (usage 0/0.25/0.26/0.5) over one of usage 0.23 to 0.27,
            # 0.004 nats per sample behind in the likelihood and 0.145 ahead
            # in the objective maximized
            return max(runs, key=lambda r: _balanced_objective(problem, r, options))
        return max(runs, key=lambda result: result.objective)

    def _ranks_start(self, Y, sample_weight, n_experts, options) -> bool:
        """Whether to add a restart from k-means of the ranks of ``y``: with
        ``init_params="mixed"``, built-in experts, a solver other than sgd and
        more than one expert, where :meth:`_far_apart_regimes` says ``y``
        shows them."""
        return (
            self.init_params == "mixed"
            and getattr(self, "expert_estimator", None) is None
            and options.solver != "sgd"
            and n_experts > 1
            and self._far_apart_regimes(Y, sample_weight, n_experts)
        )

    def _far_apart_regimes(self, Y, sample_weight, n_experts) -> bool:
        """Whether the encoded target ``Y`` shows regimes that k-means of
        ``[X, y]`` would split wrongly (no model's by default; see
        :class:`~skmoe.MoERegressor`'s and :class:`~skmoe.MoEGammaRegressor`'s)."""
        return False

    def _n_restarts(self, grouped):
        """The number of EM restarts, ``n_init`` (``grouped``: a fit with
        ``groups``)."""
        return self.n_init

    def _restart_plan(self, random_state, grouped=False):
        """(init method, seed) for each restart, drawn from one random state."""
        n_init = self._n_restarts(grouped)
        seeds = random_state.randint(np.iinfo(np.int32).max, size=n_init)
        if self.init_params == "mixed":
            methods = ["kmeans"] + ["random"] * (n_init - 1)
        else:
            methods = [self.init_params] * n_init
        return list(zip(methods, seeds, strict=True))

    def _solver_options(self, n_experts, prunes=True) -> SolverOptions:
        """The solver settings for ``n_experts`` experts, checked to go together
        (``prunes=False``: for Adam's epochs of ``partial_fit``, which ignore
        ``prune_threshold``, and warn so, rather than refuse it)."""
        options = SolverOptions(
            solver=self.solver,
            assignment=self.assignment,
            acceleration=self.acceleration,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            prune_threshold=self.prune_threshold if prunes else 0.0,
            balance_coef=self.balance_coef,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            noisy_gating=self.noisy_gating,
        )
        auto = self.n_experts == "auto"
        check_solver_options(options, self.gate, self.top_k, n_experts, auto)

        self._check_expert_estimator()
        return options

    def _online_em(self) -> bool:
        """Whether ``partial_fit`` with ``solver="em"`` runs online EM: experts
        and gate whose M-step takes running sums of the data (none by default)."""
        return False

    def _estimator_experts(self) -> bool:
        """Whether the experts are clones of ``expert_estimator``."""
        return getattr(self, "expert_estimator", None) is not None

    def _check_expert_estimator(self):
        """Raise for options that ``expert_estimator`` does not support."""
        if not self._estimator_experts():
            return
        named = f"expert_estimator={self.expert_estimator!r}"
        if self.solver != "em":
            raise ValueError(
                f"{named} is fitted by EM only: each M-step refits its clones "
                f"with sample weights, and they have no gradient; got "
                f"solver={self.solver!r}. Use solver='em'."
            )
        if self.device == "cuda":
            raise ValueError(
                f"{named} fits scikit-learn estimators on the CPU; device='cuda' "
                "is for the built-in experts. Use device='cpu' (or 'auto')."
            )
        if self.acceleration is not None:
            raise ValueError(
                f"acceleration={self.acceleration!r} extrapolates the experts' "
                f"coefficients, which {named} does not expose. Set "
                "acceleration=None."
            )

    def _expert_seed(self) -> int:
        """The seed from which estimator experts' clones draw their own
        ``random_state`` (see ``EstimatorExperts``), from ``random_state``."""
        random_state = check_random_state(self.random_state)
        return int(random_state.randint(np.iinfo(np.int32).max // 2))

    def _expert_feature_names(self):
        """The names of the features the experts see, where X had names and
        pandas is installed: estimator experts are then fitted on, and predict
        from, DataFrames with these columns. None otherwise."""
        names = getattr(self, "feature_names_in_", None)
        if names is None or importlib.util.find_spec("pandas") is None:
            return None
        columns = self._expert_columns
        chosen = names if columns is None else [names[j] for j in columns]
        return tuple(str(name) for name in chosen)

    def _expert_categories(self):
        """The pandas dtypes of the categorical columns among the features the
        experts see (see :meth:`_expert_feature_names`), by name, or None."""
        names = self._expert_feature_names()
        categories = getattr(self, "_feature_categories", None)
        if names is None or not categories:
            return None
        return {name: categories[name] for name in names if name in categories}

    def _compute_device(self):
        """``device``, or "cpu" for estimator experts (which run on the host)."""
        return "cpu" if self._estimator_experts() else self.device

    def _check_numpy_input(self, X, method, fitting=False):
        """Raise for Array API input to a model whose experts are estimators
        (``fitting``: the experts ``expert_estimator`` asks for, not the
        fitted ones)."""
        estimators = self._estimator_experts() if fitting else hasattr(self, "experts_")
        if is_numpy_array(X) or not estimators:
            return
        raise ValueError(
            f"{method}: expert_estimator experts are scikit-learn estimators that "
            f"compute on NumPy arrays; got {type(X).__module__}."
            f"{type(X).__qualname__} input under array_api_dispatch. Pass NumPy "
            "input, or turn array_api_dispatch off."
        )

    def _warm_run(self, problem, options, offset):
        """Continue from the fitted parameters, on the centered ``problem``."""
        gate_params, expert_params = self._warm_params(
            problem, *self._fitted_start(problem.xp, problem.design, offset)
        )
        # coefficients shared_features now shares start at their experts' mean
        params = gate_params, problem.experts.tie(problem.xp, expert_params)
        start = time.perf_counter()
        # parameters that overflow on this data give a non-finite
        # log-likelihood, which fit answers (NumPy's warnings said nothing)
        with blas_threads(problem.design), np.errstate(all="ignore"):
            result = solve(
                problem,
                options,
                params=params,
                random_state=check_random_state(self.random_state),
            )
        if self.verbose >= 1:
            print(f"Warm start: {summary(result, start, self.n_experts_)}")
        return result

    def _warm_failure(self, problem, best):
        """Why the warm run ``best`` cannot stand, or None: the fitted
        parameters on features of another scale (X * 1e8) overflowed, and EM
        stopped at once with a log-likelihood of NaN and the old coefficients,
        silently."""
        if not math.isfinite(best.log_likelihood):
            return (
                "the fitted parameters give this data a log-likelihood of "
                f"{best.log_likelihood}"
            )
        return None

    def _warm_params(self, problem, gate_params, expert_params):
        """The fitted parameters a warm ``fit`` starts from, made to suit
        ``problem``'s families (which follow the current parameters; unchanged
        by default)."""
        return gate_params, expert_params

    def _fitted_start(self, xp, like, offset, conform=True):
        """The fitted (gate, expert) parameters to continue from: for the
        features each part sees, centered at ``offset`` (all features' offsets),
        in ``like``'s namespace, dtype and device. ``conform``: made to fit the
        ``gate`` parameter's family (a warm start's), else as fitted."""
        gate = self._fitted_gate()
        fitted_columns = getattr(self, "_fitted_gate_columns", self._gate_columns)
        if isinstance(gate, GaussianGate) and fitted_columns != self._gate_columns:
            raise ValueError(
                "warm_start=True continues the fitted gate='gaussian', whose "
                f"densities are over the gate features {fitted_columns} (None: "
                f"all), not {self._gate_columns}; set warm_start=False to fit "
                "other gate_features."
            )
        gate_params = gate.from_attributes(self._gate_attributes(), self._gate_columns)
        gate_params = {name: as_compute(xp, v, like) for name, v in gate_params.items()}
        shift = _take_columns(xp, offset, self._gate_columns, axis=0)
        gate_params = gate.shift(xp, gate_params, shift)
        # a gate with the same attributes but other constraints (softmax to
        # constant: no slopes) takes the fitted one's parameters as it can
        if conform:
            gate_params = self._make_gate().conform(xp, gate_params)
        experts, expert_params = self._experts_from_attributes()
        columns = self._expert_columns
        fitted_columns = getattr(self, "_fitted_expert_columns", columns)
        if hasattr(self, "experts_") and fitted_columns != columns:
            raise ValueError(
                "warm_start=True continues the fitted expert_estimator clones, "
                f"which were fitted on the expert features {fitted_columns} "
                f"(None: all), not {columns}; set warm_start=False to fit other "
                "expert_features."
            )
        group = experts.params_to(xp, experts.restrict(expert_params, columns), like)
        shift = _take_columns(xp, offset, columns, axis=0)
        return gate_params, experts.shift(xp, group, shift)

    def _set_fitted(self, problem, result: FitResult, offset=None):
        """Fitted attributes from ``result``, whose coefficients are for features
        centered at ``offset`` (None: not centered)."""
        usage = expert_usage(problem, result.gate_params, result.expert_params)
        xp, gate, experts = problem.xp, problem.gate, problem.experts
        gate_params, expert_params = result.gate_params, result.expert_params
        # shared coefficients exactly equal (the solvers keep them equal to
        # rounding)
        expert_params = experts.tie(xp, expert_params)
        columns = self._expert_columns
        if offset is not None:
            shift = _take_columns(xp, offset, self._gate_columns, axis=0)
            gate_params = gate.shift(xp, gate_params, shift, -1.0)
            shift = _take_columns(xp, offset, columns, axis=0)
            expert_params = experts.shift(xp, expert_params, shift, -1.0)
        expert_params = {name: to_numpy(value) for name, value in expert_params.items()}
        # zeros for the features the experts do not see
        expert_params = experts.expand(expert_params, columns, self.n_features_in_)
        gate_params = {name: to_numpy(value) for name, value in gate_params.items()}
        # softmax coefficients centred over the experts, as EM leaves them
        # (Adam's steps drift; the gate is the same)
        gate_params = gate.centred(gate_params)
        for name in _GATE_ATTRIBUTES:  # another gate's, from an earlier fit
            vars(self).pop(name, None)
        attributes = gate.to_attributes(
            gate_params, self._gate_columns, self.n_features_in_
        )
        for name, value in attributes.items():
            setattr(self, name, value)
        n_experts = int(gate_params["coef"].shape[1])
        self._set_expert_attributes(experts, expert_params)
        self.log_likelihood_ = result.log_likelihood
        # the result's own lists (partial_fit extends them in place)
        self.log_likelihood_history_ = result.log_likelihood_history
        self.objective_history_ = result.objective_history
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.n_experts_ = n_experts
        # what predictions use: set_params after fitting must not change them
        self._gate_family = problem.gate
        self._fitted_gate_columns = self._gate_columns
        self._fitted_expert_columns = self._expert_columns
        self._fitted_shared_rows = tuple(getattr(experts, "shared", ()))
        self._fitted_shared_columns = self._shared_columns
        self._fitted_top_k = problem.top_k
        # in the fit's dtype, as the other fitted arrays
        self.expert_usage_ = to_numpy(usage).astype(gate_params["coef"].dtype)
        self._solver_state = result.solver_state
        self._fitted_alpha = float(problem.alpha)  # what std_errors differentiates
        self._fitted_assignment = self.assignment  # std_errors, ConvergenceDisplay

    def _attributes_to(self, like):
        """Move the fitted array attributes to ``like``'s namespace and device.

        Under scikit-learn's Array API dispatch, fitted attributes live where the
        training data lived (as scikit-learn's own estimators do); NumPy input,
        on the CPU or a GPU, keeps NumPy attributes.
        """
        public = [
            (name, value)
            for name, value in vars(self).items()
            if name.endswith("_") and not name.startswith("_")
        ]
        if isinstance(like, np.ndarray):
            # attributes a partial_fit on another namespace left there, which
            # this call does not set (classes_: indexing it with a NumPy
            # argmax raised)
            for name, value in public:
                if not isinstance(value, np.ndarray) and hasattr(value, "__dlpack__"):
                    setattr(self, name, to_numpy(value))
            return
        xp, dev = array_namespace(like), device_of(like)
        # float32 on a device without float64 (the fit's histories are float64)
        narrow = widest_float(xp, like) != xp.float64
        for name, value in public:
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                # (not string labels or names)
                if narrow and value.dtype == np.float64:
                    value = value.astype(np.float32)
                setattr(self, name, xp.asarray(value, device=dev))

    def _host_attribute(self, name):
        """A fitted array attribute as a NumPy array, wherever it lives."""
        return to_numpy(getattr(self, name))

    # -- prediction plumbing --------------------------------------------------------

    def _gate_attributes(self):
        """The fitted gate's attributes, as host NumPy arrays."""
        names = self._fitted_gate().attribute_names
        return {name: self._host_attribute(name) for name in names}

    def _gate_params(self, xp, like):
        """The fitted gate's parameters for the gate's features (not centered),
        in ``like``'s namespace, dtype and device."""
        gate = self._fitted_gate()
        params = gate.from_attributes(self._gate_attributes(), self._gate_columns)
        return {name: as_compute(xp, value, like) for name, value in params.items()}

    def _gate_design(self, xp, design):
        """The rows of X's design matrix (not centered) that the gate sees."""
        columns = getattr(self, "_gate_columns", None)
        if columns is None:
            return design
        rows = [0] + [column + 1 for column in columns]
        index = xp.asarray(rows, dtype=xp.int64, device=device_of(design))
        return xp.take(design, index, axis=0)

    def _refuse_times(self, X, y, sample_weight=None):
        """:func:`_refuse_times` for ``X``, ``y`` (a regressor's: class labels
        may be datetimes, as scikit-learn's classifiers take them) and
        ``sample_weight``."""
        _refuse_times(
            X=X, y=y if is_regressor(self) else None, sample_weight=sample_weight
        )

    def _validate_X_predict(self, X, method="predict"):
        """Validated X and the backend to compute its predictions on (as it is
        where it comes as :class:`_Validated`)."""
        if isinstance(X, _Validated):
            X = X.X
        else:
            check_is_fitted(self)
            _refuse_lazy_frames(X=X)
            X = _refused_times_X(X, self)
            X = validate_data(self, X, dtype=float_dtypes(X), reset=False)
        check_same_namespace(X, self, attribute="expert_usage_", method=method)
        self._check_numpy_input(X, method)
        device = "cpu" if hasattr(self, "experts_") else self.device
        return X, select_backend(X, device, fitting=False)

    def _promotes(self, X) -> bool:
        """Whether X is float32 for a float64 model, which then computes in
        float64 (as NumPy's promotion and ``LinearRegression``: it computed in
        float32 and returned float32)."""
        fitted = getattr(self, self._fitted_gate().attribute_names[0])
        single = X.dtype == array_namespace(X).float32
        return single and fitted.dtype == array_namespace(fitted).float64

    def _promoted(self, xp, X):
        """``X`` (rows of the input, in ``xp``) in the dtype the model computes
        in: one chunk at a time, so that a large float32 X is not copied whole."""
        return xp.astype(X, xp.float64) if self._promotes(X) else X

    def _map_rows(self, X, compute, method, every_expert=False):
        """Apply ``compute(xp, design)`` to X and return outputs as the caller's.

        ``design`` is X's transposed design matrix in the compute namespace;
        ``method`` names the public method, for error messages.
        Rows go in chunks (:meth:`_chunk_rows`, whose ``every_expert`` this
        is); ``compute`` may return an
        array or a tuple of arrays, each with the rows first. NumPy outputs are
        written into one array as the chunks come (a join of the chunks would
        hold every chunk and the result at once, and copy them strided).
        """
        X, backend = self._validate_X_predict(X, method)
        xp = backend.xp
        on_host = backend.to_output is _identity  # NumPy on the CPU, or Array API
        promotes = self._promotes(X)
        dtype = xp.float64 if promotes else None  # the design's: widened as copied
        rows = self._chunk_rows(X, on_host, promotes, every_expert)

        # outputs that overflow raise _check_finite's error, which names the
        # cause: NumPy's warnings on the way (a gaussian gate at |x| of 1e155
        # gave three) only repeated it
        def quiet():  # (an errstate is entered once)
            return np.errstate(over="ignore", invalid="ignore", divide="ignore")

        if on_host and X.shape[0] <= rows:
            design = design_matrix(xp, X, dtype=dtype)
            with quiet(), _inference_threads(design):  # (as fit: see _backend)
                result = compute(xp, design)
            _check_finite(xp, result, method, design)
            return result
        outputs = None
        for start in range(0, X.shape[0], rows):
            stop = min(start + rows, X.shape[0])  # the standard has no clipping
            chunk = backend.to_compute(X[start:stop, ...])
            design = design_matrix(xp, chunk, dtype=dtype)
            with quiet(), _inference_threads(design):
                result = compute(xp, design)
            _check_finite(xp, result, method, design)
            parts = result if isinstance(result, tuple) else (result,)
            if not on_host:
                parts = tuple(backend.to_output(part) for part in parts)
            if outputs is None:
                outputs = [_Rows(part, X.shape[0]) for part in parts]
            for output, part in zip(outputs, parts, strict=True):
                output.add(part)
        joined = tuple(output.result() for output in outputs)
        return joined if isinstance(result, tuple) else joined[0]

    def _chunk_rows(self, X, on_host=True, promotes=None, every_expert=False):
        """Rows per chunk: per-expert temporaries of about ``HOST_CHUNK_BYTES``
        (``PREDICT_CHUNK_BYTES`` for NumPy input computed on a GPU);
        ``promotes``: :meth:`_promotes` of X, where the caller knows it;
        ``every_expert``: whether the computation takes every expert's outputs
        with ``top_k`` too (the E-step's), not only the routed experts'."""
        outputs = self._n_outputs()  # per expert
        top_k = self._top_k()
        if top_k is None or every_expert or hasattr(self, "experts_"):
            # (estimators: all of them predict, then the routed are taken)
            per_row = self.n_experts_ * outputs
        else:
            # the gate's logits and the routed experts' outputs: each row's
            # top_k by n_classes scores, counted as one output per expert
            # before, took chunks of 48770 rows and peaks of 255 MiB where the
            # dense classifier's 653 rows took 7 MiB (100 classes, 8 experts)
            per_row = self.n_experts_ + top_k * outputs
        width = X.shape[1] + 1 + 4 * per_row
        budget = HOST_CHUNK_BYTES if on_host else PREDICT_CHUNK_BYTES
        if promotes is None:
            promotes = self._promotes(X)
        bits = 64 if promotes else array_namespace(X).finfo(X.dtype).bits
        itemsize = bits // 8
        return max(1, budget // (itemsize * width))

    def _n_outputs(self):
        """Outputs per expert (classes for the classifier), for chunk sizes."""
        return 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = not self._estimator_experts()
        return tags

    def _log_gate(self, xp, design, out=None):
        """log g_k(x_i), (n_experts, n_samples); the renormalized top k if sparse.
        ``out``: a NumPy work array of that shape and the design's dtype that
        the softmax gate of all experts writes into (others make their own)."""
        gate = self._fitted_gate()
        gate_design = self._gate_design(xp, design)
        params = self._gate_params(xp, design)
        if self._top_k() is not None:
            # the experts predict's routing selects: a selection from the log
            # gate (truncate) broke ties that subtracting the log-sum-exp made
            # of logits 1 ulp apart otherwise (predict_gate named expert 1
            # where predict used expert 2, 3 of 416 points on gate boundaries)
            index, log_weight = gate.route(xp, gate_design, params, self._top_k())
            return scatter_log_weights(xp, index, log_weight, self.n_experts_)
        if out is not None and self._log_gate_takes_out():
            return gate.log_gate(xp, gate_design, params, out=out)
        return gate.log_gate(xp, gate_design, params)

    def _log_gate_takes_out(self):
        """Whether :meth:`_log_gate` writes into an ``out`` given: the softmax
        gate of all experts (others make their own)."""
        return self._top_k() is None and type(self._fitted_gate()) is SoftmaxGate

    def _work_logs(self, work, design, names):
        """``work``'s (n_experts_, n_samples) arrays ``names`` in ``design``'s
        dtype, for a chunk's per-expert arrays of all experts (the log gate,
        as :meth:`_log_gate`'s ``out``, the experts' logs, ...), or Nones
        where ``design`` is not a NumPy array. Made together at the first
        chunk, before any of its other arrays: new ones at every chunk were
        left at the heap's top, given back by glibc's trim and faulted in
        again (39k minor faults a call of the Gamma predict(return_std=True),
        3e5 rows, K=32)."""
        if not is_numpy_array(design):
            return (None,) * len(names)
        shape = (self.n_experts_, design.shape[1])
        return tuple(work.shaped(name, shape, design.dtype) for name in names)

    def _top_k(self):
        """The ``top_k`` fitted with, if it drops experts of the model, else None."""
        top_k = self._fitted_top_k
        return top_k if is_sparse(top_k, self.n_experts_) else None

    def _fitted_gate(self):
        """The gate family the model was fitted with (``gate`` may have changed)."""
        family = self._gate_family
        return family() if isinstance(family, type) else family  # a type: pickles

    def _make_gate(self):
        """The gate family ``gate`` (and ``gate_covariance_type``) name."""
        if self.gate == "gaussian":
            return GaussianGate(self.gate_covariance_type)
        return GATES[self.gate]()

    def _route(self, xp, design):
        """Selected experts and their log sparse-gate weights, both (top_k, n)."""
        gate_params = self._gate_params(xp, design)
        gate_design = self._gate_design(xp, design)
        return self._fitted_gate().route(xp, gate_design, gate_params, self._top_k())

    def predict_gate(self, X):
        """Gate probabilities: how much each expert counts for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        gate : ndarray of shape (n_samples, n_experts_)
            The gate values g_k(x_i); each row sums to one.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> np.round(model.predict_gate([[-2.0], [2.0]]), 3)
        array([[1., 0.],
               [0., 1.]])
        """
        return self._map_rows(
            X, lambda xp, design: xp.exp(self._log_gate(xp, design)).T, "predict_gate"
        )

    @available_if(_gaussian_gate)
    def gate_log_density(self, X):
        """Log-density of the inputs under the gaussian gate (``gate="gaussian"``).

        ``log p(x) = log sum_k a_k N(x; m_k, S_k)`` over the gate's features:
        the Gaussian mixture of the inputs that the gate is part of, as
        scikit-learn's ``GaussianMixture.score_samples``. Low values mark
        inputs far from the training data, where the gate extrapolates (it
        then gives the expert of the widest region).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log p(x_i)``, in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.normal(size=(500, 1))
        >>> y = np.where(np.abs(X[:, 0]) < 1, 0.0, X[:, 0]) + rng.normal(0, 0.1, 500)
        >>> reg = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
        >>> bool(reg.gate_log_density([[0.0]])[0] > reg.gate_log_density([[6.0]])[0])
        True
        """

        def compute(xp, design):
            gate_design = self._gate_design(xp, design)
            params = self._gate_params(xp, design)
            return self._fitted_gate().log_marginal(xp, gate_design, params)

        return self._map_rows(X, compute, "gate_log_density")

    def _posterior_rows(
        self, X, y, method, groups=None, keep="all", sample_weight=None, **target
    ):
        """log p(y_i | x_i), shape (n_samples,), and the responsibilities, shape
        (n_samples, n_experts_), under the fitted model, as NumPy arrays, and the
        validated X. Computed in row chunks, as predictions are: one E-step over
        all rows would hold several (n_experts, n_samples) arrays. ``keep``:
        ``"all"`` the responsibilities, ``"max"`` each row's largest (n_samples,),
        ``"none"`` None (bic, aic and log_likelihood_samples kept every row's
        responsibilities, and a copy: a peak of 628 MiB at 3e5 rows and 128
        experts, 25.5 MiB now; ``benchmarks/posterior_memory.py``).
        ``sample_weight`` (the criteria's; None: unweighted): checked as
        ``score``'s, the same on a group's rows, and the rows of weight 0 left
        out, as ``fit`` leaves them out; the rows' results are then of the rows
        of positive weight alone. Also returns the weights of the rows kept
        (scaled by a power of two, as ``score``'s; None where unweighted) and
        their :class:`Groups` (None without groups)."""
        _refuse_lazy_frames(y=y, groups=groups, sample_weight=sample_weight)
        self._refuse_times(None, y, sample_weight)
        X, backend = self._validate_X_predict(X, method)
        xp = backend.xp
        X_host = to_numpy(X)
        # y in the dtype the model computes in (its length and dtype are all
        # that the encoding takes from X)
        like = np.empty((X_host.shape[0], 0)) if self._promotes(X_host) else X_host
        Y = self._encode_target_rows(host(y), like, **target)
        X_rows = X_host if backend.to_output is not _identity else X
        experts, expert_params = self._experts_from_attributes()
        experts = copy.copy(experts)
        experts.exact_tails = True  # the model's values, not the solvers' guard
        weight = None
        if sample_weight is not None:
            weight = _score_weights(sample_weight, y)
        grouping = self._predict_groups(groups, X_host, method, weight)
        if weight is not None:
            if grouping is not None:
                self._check_group_weights(grouping, weight)
            kept = np.flatnonzero(weight > 0)
            if kept.shape[0] < weight.shape[0]:
                # left out, as fit leaves them: a far row's log-likelihood
                # could overflow, and 0 * inf is NaN
                weight, X_host = weight[kept], X_host[kept]
                Y = _TakenRows(Y, kept)
                if grouping is not None:
                    grouping = grouping.take(kept)
                if is_numpy_array(X):  # on the host (a GPU's chunks move there)
                    X_rows = X_host
                else:  # Array API input: taken on its device
                    X_rows = xp.take(X, xp.asarray(kept, device=device_of(X)), axis=0)
        # a group's rows in one E-step
        rows = X_host.shape[0]
        if grouping is None:  # (the E-step takes every expert's densities)
            rows = self._chunk_rows(X_host, every_expert=True)
        n_rows = X_host.shape[0]
        log_norm = resp_rows = None  # made in the E-step's dtype at the first chunk
        for start in range(0, n_rows, rows):
            stop = min(start + rows, X_host.shape[0])  # the standard has no clipping
            rows_in = self._promoted(xp, backend.to_compute(X_rows[start:stop, ...]))
            design = design_matrix(xp, rows_in)
            problem = EMProblem(
                design,
                as_compute(xp, Y[..., start:stop], design),
                xp.ones(design.shape[1], dtype=design.dtype, device=device_of(design)),
                self._fitted_gate(),
                experts,
                float(self.alpha),
                self._top_k(),
                self._gate_design(xp, design),
                grouping,
            )
            params = (
                self._gate_params(xp, design),
                experts.params_to(xp, expert_params, design),
            )
            # an overflow is raised just below
            with np.errstate(all="ignore"), _inference_threads(design):
                chunk, resp, _ = e_step(problem, *params)
            chunk = to_numpy(chunk)
            if log_norm is None:
                log_norm = np.empty(n_rows, dtype=chunk.dtype)
                shape = {"max": (n_rows,), "all": (n_rows, self.n_experts_)}
                if keep in shape:
                    resp_rows = np.empty(shape[keep], dtype=chunk.dtype)
            finite = np.all(np.isfinite(chunk))
            log_norm[start:stop] = chunk
            if keep == "max":
                resp = to_numpy(xp.max(resp, axis=0))
                resp_rows[start:stop] = resp
            elif keep == "all":
                resp = to_numpy(resp)
                resp_rows[start:stop] = resp.T
            finite = finite and (keep == "none" or np.all(np.isfinite(resp)))
            if not finite:
                _check_missing(xp, design, "X")
                _check_infinite(np, Y[..., start:stop], "y")
                raise ValueError(
                    f"{method}: X or y has values so far from the model's "
                    f"predictions that their log-likelihood overflows "
                    f"{dtype_name(chunk.dtype)}. Rescale them as the training data "
                    "were."
                )
        return log_norm, resp_rows, X, weight, grouping

    def _like(self, X, array):
        """A NumPy result in the namespace and on the device of validated X, in
        X's dtype, but float64 for float32 X given to a float64 model (as
        NumPy's results: :meth:`_promotes`)."""
        if is_numpy_array(X):
            return array
        xp = array_namespace(X)
        dtype = xp.float64 if self._promotes(X) else X.dtype
        return xp.asarray(array, dtype=dtype, device=device_of(X))

    def log_likelihood_samples(self, X, y):
        """Log-likelihood of each sample under the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Target values.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            ``log p(y_i | x_i) = log sum_k g_k(x_i) p_k(y_i | x_i)``, in nats
            (the renormalized top ``top_k`` gate with sparse routing). Each
            row on its own and unweighted: after a fit with ``sample_weight``
            or ``groups``, their sum on the training data is not
            ``log_likelihood_``, which weighs the rows, or is the groups'
            likelihood (each group's rows from one expert).

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> np.round(model.log_likelihood_samples([[-2.0], [2.0]], [4.0, 4.0]), 3)
        array([0.368, 0.277])
        >>> bool(np.isclose(model.log_likelihood_samples(X, y).sum(),
        ...                 model.log_likelihood_))
        True
        """
        return self._log_likelihood_samples(X, y)

    def _log_likelihood_samples(self, X, y, **target):
        rows = self._posterior_rows(
            X, y, "log_likelihood_samples", keep="none", **target
        )
        log_likelihood, _, X, _, _ = rows
        return self._like(X, log_likelihood)

    def responsibilities(self, X, y, *, groups=None):
        """Posterior probability of each expert given the input and its target.

        ``r_ik = g_k(x_i) p_k(y_i | x_i) / sum_j g_j(x_i) p_j(y_i | x_i)``: the
        E-step's responsibilities (R flexmix's ``posterior``), where
        :meth:`predict_gate` is the prior ``g_k(x_i)`` that does not see ``y``.
        Their arg max over experts is a hard assignment of the samples to the
        experts (flexmix's ``clusters``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Target values.
        groups : array-like of shape (n_samples,), default=None
            The rows' groups, as in :meth:`fit`: each row then gets its
            group's responsibilities, which see all the group's targets. None:
            every row is its own group; for a model fitted with groups, with a
            warning (``groups=np.arange(n_samples)`` asks for that).

        Returns
        -------
        responsibilities : ndarray of shape (n_samples, n_experts_)
            Each row sums to one; with ``top_k``, at most ``top_k`` non-zeros.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> np.round(model.responsibilities([[-2.0], [2.0]], [4.0, 4.0]), 3)
        array([[1., 0.],
               [0., 1.]])
        """
        return self._responsibilities(X, y, groups)

    def _responsibilities(self, X, y, groups=None, **target):
        rows = self._posterior_rows(X, y, "responsibilities", groups, **target)
        _, resp, X, _, _ = rows
        return self._like(X, resp)

    def _n_parameters(self):
        """The fitted model's number of free parameters; raises for experts
        that have no count (``expert_estimator``'s), before any prediction."""
        check_is_fitted(self)
        experts, _ = self._experts_from_attributes()
        n_experts = self.n_experts_
        gate_columns = getattr(self, "_gate_columns", None)
        expert_columns = getattr(self, "_expert_columns", None)
        n_expert_parameters = experts.n_parameters(
            self.n_features_in_ if expert_columns is None else len(expert_columns),
            n_experts,
        )
        if n_expert_parameters is None:
            raise ValueError(
                "bic, aic and icl count the model's free parameters, and experts "
                "given by expert_estimator have no such count (a tree's or a "
                "kernel model's is not defined). Compare models by held-out "
                "score or log_likelihood_samples instead."
            )
        return n_expert_parameters + self._fitted_gate().n_parameters(
            self.n_features_in_ if gate_columns is None else len(gate_columns),
            n_experts,
        )

    def bic(self, X, y, sample_weight=None, *, groups=None):
        """Bayesian information criterion of the fitted model on (X, y).

        ``-2 log p(y | X) + p log(n)`` with p the number of free parameters and
        n the number of samples; lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights (None: unweighted). Each row's log-likelihood is
            weighted, the weights rescaled to sum to the number n of rows of
            positive weight, and n is that number: the convention of
            ``n_experts="auto"``, whose ``n_experts_bic_`` is this criterion
            of each candidate on the training data and weights. Only the
            weights' ratios matter: unit weights give the unweighted criterion,
            and a row of weight 0 counts as left out. So integer weights are
            not repeated rows: with W the weights' sum, the criterion on the
            rows repeated (``np.repeat(X, w, axis=0)``) is ``(W / n) (bic -
            p log n) + p log W``, and :meth:`aic`'s ``(W / n) (aic - 2 p) + 2
            p``. With groups, the same on a group's rows (a group repeated is
            then that many groups). As :meth:`std_errors`, a model fitted with
            ``class_weight`` is scored with these weights alone.
        groups : array-like of shape (n_samples,), default=None
            The rows' groups, as in :meth:`fit`: the criterion is then that of
            the groups' likelihood (n stays the number of rows, as R
            flexmix's). Required for a model fitted with groups.

        Returns
        -------
        bic : float
            The criterion on (X, y), in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> round(model.bic(X, y), 1)
        107.2
        >>> round(model.bic(X, y, sample_weight=np.full(200, 3.0)), 1)
        107.2
        """
        return self._criterion("bic", X, y, sample_weight, groups)

    def _criterion(
        self, method, X, y, sample_weight=None, groups=None, n_parameters=None, **target
    ):
        """The criterion ``method`` ("bic", "icl" or "aic") of the fitted model
        on (X, y), its rows weighted by ``sample_weight`` (None: unweighted) as
        the training BIC of ``n_experts="auto"`` weighs them
        (:meth:`~skmoe._auto.ExpertCountMixin._fit_candidates`)."""
        if n_parameters is None:  # a refusal before the predictions
            n_parameters = self._n_parameters()
        keep = "max" if method == "icl" else "none"
        rows = self._posterior_rows(
            X, y, method, groups, keep=keep, sample_weight=sample_weight, **target
        )
        log_likelihood, largest, _, weight, grouping = rows
        terms = [log_likelihood]
        if method == "icl":  # each sample assigned to its most responsible expert
            with np.errstate(divide="ignore"):  # a zero can only lose the arg max
                assigned = np.log(largest)
            if grouping is not None:  # one assignment per group, over its rows
                assigned = assigned * grouping.share(np, assigned)
            terms.append(assigned)
        n_samples = log_likelihood.shape[0]
        if weight is None:  # each term summed alone, as before the weights
            # (the sum of their sum moved a float32 model's icl by 6.6e-6)
            total = sum(float(np.sum(term)) for term in terms)
        else:  # weights summing to n (only their ratios matter)
            scale = n_samples / float(np.sum(weight))
            total = scale * sum(float(weight @ term) for term in terms)
        if method == "aic":
            return -2 * total + 2 * n_parameters
        return -2 * total + n_parameters * float(np.log(n_samples))

    def icl(self, X, y, sample_weight=None, *, groups=None):
        """Integrated completed likelihood criterion of the fitted model on (X, y).

        :meth:`bic` with the log-likelihood of the completed data: each sample
        assigned to its most responsible expert, ``-2 (log p(y | X) +
        sum_i log r_i,c_i) + p log(n)`` with ``c_i`` the arg max of the
        responsibilities ``r_i`` (Biernacki et al., 2000; R flexmix's ``ICL``).
        It adds to BIC a penalty for experts that overlap, so it prefers
        well-separated experts; lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights (None: unweighted), as in :meth:`bic`: each row's
            log-likelihood and its ``log r_i,c_i`` are weighted alike, the
            weights rescaled to sum to the number n of rows of positive
            weight. On the rows repeated, the criterion is ``(W / n) (icl -
            p log n) + p log W`` (W: the weights' sum).
        groups : array-like of shape (n_samples,), default=None
            The rows' groups, as in :meth:`fit`: the criterion is then that of
            the groups' likelihood (n stays the number of rows, as R
            flexmix's). Required for a model fitted with groups.

        Returns
        -------
        icl : float
            The criterion on (X, y), in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> round(model.icl(X, y), 1)  # bic (107.2) - 2 sum_i log max_k r_ik
        107.4
        """
        return self._criterion("icl", X, y, sample_weight, groups)

    def aic(self, X, y, sample_weight=None, *, groups=None):
        """Akaike information criterion of the fitted model on (X, y).

        ``-2 log p(y | X) + 2 p``; lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights (None: unweighted), as in :meth:`bic`: the
            log-likelihood's rows weighted, the weights rescaled to sum to the
            number of rows of positive weight.
        groups : array-like of shape (n_samples,), default=None
            The rows' groups, as in :meth:`fit`: the criterion is then that of
            the groups' likelihood (n stays the number of rows, as R
            flexmix's). Required for a model fitted with groups.

        Returns
        -------
        aic : float
            The criterion on (X, y), in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> round(model.aic(X, y), 1)
        80.9
        """
        return self._criterion("aic", X, y, sample_weight, groups)

    # -- pruning a fitted model, and incremental fitting ------------------------------

    def prune_experts(self, threshold):
        """A copy of the fitted model without its rarely used experts.

        Removes the experts whose ``expert_usage_`` is below ``threshold`` (the
        most used expert is always kept, and the most used other expert
        beside a zero-inflated model's point mass at zero; a zero-inflated
        Gamma model keeps its point mass; a copy without the point mass has
        ``zero_inflated=False``) and renormalizes
        the gate over the others, without refitting. A model with
        ``gate="hierarchical"`` keeps all its experts (its groups depend on
        their number): a threshold that would drop any raises a ValueError.

        Parameters
        ----------
        threshold : float
            Smallest usage share an expert needs to be kept.

        Returns
        -------
        pruned : estimator
            A new fitted estimator with ``n_experts_`` experts, and the
            parameter ``n_experts=n_experts_`` (so that its repr, :meth:`get_params`,
            a :func:`~sklearn.base.clone`'s fit and a refit have as many
            experts; with ``warm_start=True`` a refit continues the pruned
            experts); its other parameters are the original's (but
            ``zero_inflated``, as above). ``expert_usage_``
            is the kept experts' shares renormalized, and the training
            diagnostics (``log_likelihood_``, histories) are those of the
            original fit; ``n_experts_bic_`` and, where the fit set them,
            ``n_experts_scores_`` (``expert_estimator`` experts) and
            ``df_bic_`` (:class:`MoERegressor`'s ``df="auto"``), which
            compared other numbers of experts or degrees of freedom, are
            dropped (:meth:`bic` scores the pruned model).

        Notes
        -----
        Let ``m(x)`` be the gate weight (:meth:`predict_gate`) the original model
        gives the removed experts at x. Then at every x, the predictive
        distributions of the original and pruned models differ in total
        variation by at most ``m(x)`` (with a dense gate, the original is
        ``(1 - m) * pruned + m * removed``; with ``top_k`` the experts that take
        the removed ones' places have smaller gate values). Consequently each
        class probability of a classifier moves by at most ``m(x)``, and a
        regressor's mean by at most ``m(x)`` times the spread of the experts'
        means at x (twice that with ``top_k``). Averaged over the training data,
        ``m`` is the removed experts' usage share when the gate is dense.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # a spare expert of few samples
        ...     spare = MoERegressor(n_experts=3, random_state=0).fit(X, y)
        >>> np.round(spare.expert_usage_, 3)
        array([0.535, 0.023, 0.442])
        >>> pruned = spare.prune_experts(0.1)
        >>> pruned.n_experts_, pruned.get_params()["n_experts"]
        (2, 2)
        """
        check_is_fitted(self)
        if (
            not isinstance(threshold, Real)
            or isinstance(threshold, bool)
            or not 0 <= threshold <= 1
        ):
            raise ValueError(
                f"threshold must be a float in [0, 1], the smallest usage share an "
                f"expert needs to be kept; got {threshold!r}."
            )
        usage = self._host_attribute("expert_usage_")
        keep = np.flatnonzero(usage >= threshold)
        if keep.size == 0:
            keep = np.array([int(np.argmax(usage))])
        experts, expert_params = self._experts_from_attributes()
        fixed = experts.point_masses(np, expert_params)
        if fixed is not None and fixed[keep].all() and not fixed.all():
            # a point mass at zero alone gives every positive target the
            # probability 0: the most used other expert stays too
            others = np.flatnonzero(~fixed)
            keep = np.sort(np.r_[keep, others[np.argmax(usage[others])]])
        if fixed is not None and experts.zeros_need_point_mass:
            # Gamma experts give a zero no probability: the point mass stays
            # (pruned, the model could not score its own zeros)
            keep = np.union1d(keep, np.flatnonzero(fixed))
        gate = self._fitted_gate()
        gate_params = gate.from_attributes(self._gate_attributes(), self._gate_columns)
        # the kept experts' softmax coefficients centred again, as a fit's
        gate_params = gate.centred(gate.select(np, gate_params, keep))
        pruned = copy.deepcopy(self)
        attributes = gate.to_attributes(
            gate_params, self._gate_columns, self.n_features_in_
        )
        for name, value in attributes.items():
            setattr(pruned, name, value)
        pruned._set_expert_attributes(experts, experts.select(np, expert_params, keep))
        if fixed is not None and not fixed[keep].any():
            # the point mass went: the copy's parameters describe what it is
            # (with zero_inflated=True, partial_fit and a warm fit refused it)
            pruned.set_params(zero_inflated=False)
        pruned.n_experts_ = int(keep.size)
        # the copy's parameters describe it: its repr, get_params, a clone's
        # fit (cross_val_score on it) and a refit have n_experts_ experts, where
        # they went back to the original's n_experts (or its "auto" search)
        # (set as __init__ sets it: set_params's get_params made a prune of 16
        # experts 1.4 times as long)
        pruned.n_experts = pruned._fitted_n_experts_param = pruned.n_experts_
        pruned.expert_usage_ = usage[keep] / usage[keep].sum()
        state = self._solver_state
        # online EM's sums of the kept experts; Adam's moments, which mix the
        # experts, start afresh
        pruned._solver_state = (
            state.select(keep) if isinstance(state, OnlineState) else None
        )
        vars(pruned).pop("_online_rows", None)  # refitted with n_experts
        for name in ("n_experts_bic_", "n_experts_scores_", "df_bic_"):
            vars(pruned).pop(name, None)  # the scores of other models
        pruned._attributes_to(self.expert_usage_)
        return pruned
