"""Experts that are scikit-learn estimators, refitted with weights (generalized EM).

Each expert is a clone of one estimator that accepts ``sample_weight``. The
M-step refits expert k with ``sample_weight = w_i r_ik``; a regressor's
prediction is the mean of a Gaussian whose variance is the weighted mean
squared residual, a classifier's ``predict_proba`` gives the probabilities
of the classes. The estimators see the raw features (the features the
experts were given), NumPy arrays on the host, so that ``experts_[k].predict``
works on the user's own data.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.feature_selection import RFE, RFECV
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metadata_routing import get_routing_for_object
from sklearn.utils.validation import has_fit_parameter

from ._base import Array, ExpertFamily, Params
from .gamma import DISPERSION_CEILING, best_dispersion, excess, shape_terms

#: Smallest probability a classifier expert gives a class: an expert that rules
#: a class out (a pure leaf of a tree) would otherwise give its samples a
#: log-likelihood of -inf. Each expert's probabilities are floored and then
#: renormalized, so that they still sum to one.
PROBA_FLOOR = 1e-10
#: Sets of K experts whose outputs on the fit's design an :class:`EstimatorExperts`
#: remembers (the M-step's refits and the estimators they may replace): EM asks
#: for the same estimator's predictions on the same design several times (the
#: M-step's variances, the E-step, ``keep_better``, the restart's checks), 8.4
#: times per estimator in a fit of 2 depth-2 trees to 1500 rows; 0 remembers none.
REMEMBERED_SETS = 2
#: Most bytes of those outputs remembered (a set of a classifier's
#: ``predict_proba``, (n_samples, n_classes) per expert, is larger than the
#: E-step's own arrays): past it, none are. On 60000 rows of 10 classes and 2
#: experts they raised a fit's peak memory from 48.8 to 62.6 MiB; at that size
#: a prediction's own work outweighs what it repeats (validation).
REMEMBERED_BYTES = 2**24
#: Weights below this fraction of an expert's total reach its estimator's
#: ``fit`` as exactly 0: EM leaves an expert's foreign rows responsibilities
#: such as 1e-25, and a scikit-learn tree scores a split that cuts off such
#: rows from its node's sums less its child's, a difference of rounding (of
#: the order of 1e-16 times the total) that the weights' last bits decide, so
#: that a fit differed between NumPy's AVX-512 and AVX2 kernels. Rows of
#: weight 0 are removed from a tree. The floor is relative to the total, as that
#: rounding is (a floor of eps times the largest weight left the user guide's
#: tree fit 3e-4 apart in log-likelihood between the two; this one, 0). The
#: largest weight is at least the total over n_samples, so an expert with any
#: weight keeps some.
WEIGHT_FLOOR = 1e-12


def _predictions(estimator, X, dtype) -> np.ndarray:
    """``estimator.predict(X)`` as a 1-d array of ``dtype`` (a column of one
    output is raveled; more outputs are refused)."""
    predicted = np.asarray(estimator.predict(X), dtype=dtype)
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted[:, 0]
    if predicted.shape != (X.shape[0],):
        raise ValueError(
            f"expert_estimator {estimator!r} predicted an array of shape "
            f"{predicted.shape} for {X.shape[0]} samples; an expert must predict "
            "one value per sample."
        )
    return predicted


def _columns_of(part, whole) -> slice | None:
    """The columns ``whole[:, rows]`` that ``part`` views, as the slice
    ``rows``, or None where ``part`` is not such a view (a copy, other strides,
    other memory): with ``whole``'s strides, ``part[i, j]`` lies at the address
    of ``whole[i, start + j]``."""
    if (
        not isinstance(part, np.ndarray)
        or not isinstance(whole, np.ndarray)
        or part.dtype != whole.dtype
        or part.ndim != 2
        or part.shape[0] != whole.shape[0]
        or part.strides != whole.strides
        or whole.strides[1] <= 0
        or not np.may_share_memory(part, whole)
    ):
        return None
    step = whole.strides[1]
    offset = part.ctypes.data - whole.ctypes.data
    start, rest = divmod(offset, step)
    if rest or start < 0 or start + part.shape[1] > whole.shape[1]:
        return None
    return slice(start, start + part.shape[1])


def _takes_sample_weight(estimator) -> bool:
    """Whether ``estimator.fit`` takes ``sample_weight``: in its signature;
    with metadata routing on, by routing it (a Pipeline whose last step
    requests it); with routing off, by passing its fit parameters to the
    estimator it wraps, as TransformedTargetRegressor, RFE and the searches do
    (the halving ones too), or to each of its estimators, as the voting and
    stacking ensembles do (``has_fit_parameter`` does not see their
    ``**fit_params``)."""
    if has_fit_parameter(estimator, "sample_weight"):
        return True
    if sklearn.get_config()["enable_metadata_routing"]:
        return get_routing_for_object(estimator).consumes("fit", ["sample_weight"])
    if isinstance(estimator, TransformedTargetRegressor):
        inner = estimator.regressor
        return _takes_sample_weight(LinearRegression() if inner is None else inner)
    if isinstance(estimator, BaseSearchCV) or (
        isinstance(estimator, RFE) and not isinstance(estimator, RFECV)
    ):  # (RFECV refuses fit parameters without routing)
        return _takes_sample_weight(estimator.estimator)
    voting = isinstance(estimator, VotingRegressor | VotingClassifier)
    if voting or isinstance(estimator, StackingRegressor | StackingClassifier):
        # each estimator but "drop" is given the weights, and so is a stack's
        # final estimator (its default, RidgeCV or LogisticRegression, takes them)
        inner = [e for _, e in estimator.estimators if not _is_drop(e)]
        if not voting and estimator.final_estimator is not None:
            inner.append(estimator.final_estimator)
        return all(_takes_sample_weight(e) for e in inner)
    return False


def _prefit_stack(estimator) -> bool:
    """Whether ``estimator`` is or holds a stacking ensemble with
    ``cv="prefit"`` (its clone's estimators are unfitted, and never refitted)."""
    if not hasattr(estimator, "get_params"):
        return False
    parts = [estimator, *estimator.get_params(deep=True).values()]
    return any(
        isinstance(part, StackingRegressor | StackingClassifier)
        and isinstance(part.cv, str)
        and part.cv == "prefit"
        for part in parts
    )


class ExpertEstimatorMethods(HasMethods):
    """``HasMethods`` for ``expert_estimator``, which also sees the methods of
    a stacking ensemble whose ``final_estimator`` is None: its default
    (RidgeCV, LogisticRegression) gives them, but scikit-learn hides them
    (``available_if`` on the final estimator) until it is fitted."""

    def is_satisfied_by(self, val):
        if isinstance(val, StackingRegressor | StackingClassifier) and (
            val.final_estimator is None
        ):
            final = (
                RidgeCV()
                if isinstance(val, StackingRegressor)
                else LogisticRegression()
            )
            return callable(getattr(val, "fit", None)) and all(
                callable(getattr(final, m, None)) for m in self.methods if m != "fit"
            )
        return super().is_satisfied_by(val)


def _is_drop(estimator) -> bool:
    """Whether an ensemble's entry is ``"drop"`` (left out of its fit)."""
    return isinstance(estimator, str) and estimator == "drop"


def check_sample_weight_support(estimator, examples):
    """Raise unless ``estimator.fit`` takes ``sample_weight``
    (:func:`_takes_sample_weight`). ``examples``: estimators that suit the
    model, for the message."""
    if _prefit_stack(estimator):
        raise ValueError(
            f"expert_estimator={estimator!r} holds a stacking ensemble with "
            "cv='prefit', whose estimators are not refitted: EM fits a clone of "
            "the expert (unfitted) to each expert's responsibilities. Give the "
            "stack a cross-validation splitter (cv=5, KFold(5)) instead."
        )
    if _takes_sample_weight(estimator):
        return
    raise ValueError(
        f"expert_estimator={estimator!r} does not take sample_weight in fit, "
        "which EM needs: each M-step refits every expert with the samples' "
        "responsibilities as weights. Use an estimator whose fit accepts "
        f"sample_weight ({examples}, ...). A Pipeline takes it with metadata "
        "routing on (sklearn.set_config(enable_metadata_routing=True)) and the "
        "inner estimator's set_fit_request(sample_weight=True) (in a Pipeline, its "
        "last step's, and a request of True or False on every other step whose "
        "fit takes sample_weight: StandardScaler, SplineTransformer)."
    )


def not_a_regressor(estimator):
    """The kind of an estimator whose tags say it is no regressor (its
    ``predict`` gives labels, not a mean): "a classifier", "a clusterer" or "an
    outlier detector"; None for a regressor or an estimator without a type."""
    kinds = {
        "classifier": "a classifier",
        "clusterer": "a clusterer",
        "outlier_detector": "an outlier detector",
    }
    return kinds.get(get_tags(estimator).estimator_type)


class EstimatorExperts(ExpertFamily):
    """Experts that are clones of a scikit-learn estimator.

    Parameters: ``estimators``, an object array (K,) of fitted clones (None
    before the first M-step), and for regression ``variance`` (K,). They are
    host-side Python objects, so the family runs on NumPy only and has no
    gradient: it is fitted by EM.

    Each M-step refits every expert's clone with the new weights, as
    generalized EM does. A weighted fit that is not an exact maximizer of the
    likelihood (a tree's greedy splits) can fit the new weights worse than the
    expert it replaces, and EM's objective then falls: with depth-2 trees on
    step data it fell by up to 1.35 nats per sample in one iteration, and no
    run converged in 500 (``benchmarks/estimator_experts.py``). So after an
    M-step that lowered the objective by more than ``tol``, each expert keeps
    the better of its refit and its former estimator under that M-step's
    weights (:meth:`keep_better`): a generalized EM step, after which the
    objective cannot fall. Only after a fall, because a penalized estimator's
    refit (LogisticRegression's) fits a little worse than its former self in
    likelihood at most iterations (its penalty does not shrink with an
    expert's weights), yet leads EM higher: on iris with 2 experts, keeping
    the better one at every M-step dropped 33 of 52 refits and ended at a
    log-likelihood of -12.46, against -9.87 with plain refits.

    Parameters
    ----------
    estimator : estimator object
        The template, cloned for every expert at every M-step (from a
        seeded clone made once per expert, see :meth:`_template`).
    weight_total : float, default=1.0
        The sum of the sample weights of the fit: an expert is refitted with
        ``sample_weight = weight_total * weighted_resp[k]``, i.e. ``w_i r_ik``
        in the units of the user's weights, so that an estimator's own
        penalty or leaf sizes mean what they mean in a plain fit (rows of
        weight 0 for an expert still reach it: HistGradientBoosting counts
        them in ``min_samples_leaf``, see the user guide).
    columns : tuple of int or None, default=None
        The columns of the design's features the estimators see (None: all).
        Fitting gives the experts' own design; predictions give all features.
    feature_names : tuple of str or None, default=None
        The names of the features the estimators see, for a model fitted on a
        DataFrame (and pandas installed): the clones are then fitted on, and
        predict from, DataFrames with these columns.
    categories : dict or None, default=None
        The pandas ``CategoricalDtype`` of each of those columns that had one
        in the fit's DataFrame (by name): its values are given the estimators
        as that dtype again, so that one that reads categories from the dtypes
        (``HistGradientBoostingRegressor``'s default
        ``categorical_features="from_dtype"``) still finds them.
    random_state : int, default=0
        Seed of expert k's clone is ``random_state + k`` where the estimator
        has a ``random_state`` parameter left at None: a randomized estimator
        (a random forest) then gives the same fit for the same weights, which
        EM needs to converge.
    remember : bool, default=True
        Whether the estimators' outputs on a design are remembered
        (:meth:`_outputs`). False for a family rebuilt from a fitted model's
        attributes: each prediction builds it and its design afresh, so
        nothing is asked twice, and the bookkeeping cost 10 to 20 us a call.
    """

    #: The estimators see the raw features: the fit's design is not centered.
    centered = False
    #: A weighted refit need not raise an expert's likelihood: keep_better.
    monotone = False

    def __init__(
        self,
        estimator,
        *,
        weight_total=1.0,
        columns=None,
        random_state=0,
        feature_names=None,
        categories=None,
        remember=True,
    ):
        self.estimator = estimator
        self.weight_total = float(weight_total)
        self.columns = columns
        self.random_state = int(random_state)
        self.feature_names = feature_names
        self.categories = categories
        self.remember = bool(remember)
        self._forget()

    def _forget(self):
        """Start with no remembered outputs (see :meth:`_outputs`)."""
        # per thread: restarts run in threads (joblib's threading backend)
        # would otherwise evict each other's (1226 predict calls became 1953
        # for 8 restarts on 2 threads)
        self._local = threading.local()

    def __getstate__(self):
        # (thread-local storage does not pickle: joblib's workers start afresh)
        state = dict(vars(self))
        state.pop("_local", None)
        state.pop("_templates", None)  # (made again where needed)
        return state

    def __setstate__(self, state):
        vars(self).update(state)
        self._forget()

    def _memory(self, design: Array):
        """This thread's remembered outputs on ``design``, an OrderedDict by
        ``id(estimator)``, or None where outputs on it are not remembered;
        and the rows of those outputs that are ``design``'s (None: all).

        One design at a time: a design with fewer samples than the
        remembered one while that lives (a block of the E-step, see
        ``skmoe._em.E_STEP_BLOCK``; held-out rows) is computed afresh and
        leaves the remembered outputs as they are (blocks evicted them, and
        a fit of 40000 rows and 4 experts predicted as often as without them),
        except where it views a run of the remembered design's columns (a
        block): it is given those rows of the remembered outputs.
        """
        local = self._local
        current = getattr(local, "design", None)
        current = None if current is None else current()
        if current is design:
            return local.outputs, None
        if current is not None and design.shape[1] < current.shape[1]:
            rows = _columns_of(design, current)
            return (None, None) if rows is None else (local.outputs, rows)
        try:
            local.design = weakref.ref(design)
        except TypeError:  # (an array without weak references: not kept)
            return None, None
        local.outputs = OrderedDict()
        return local.outputs, None

    def _outputs(self, design: Array, estimators, output):
        """``output(estimator, X)`` for each of ``estimators`` on ``design``'s
        features X (built once, and only where some output is not remembered),
        one at a time (a generator: each may be used and dropped before the
        next is computed).

        An output is remembered for the same estimator object on the same
        ``design`` object (by weak references to both: a new array, or an
        estimator collected, is computed afresh), read-only, for the
        ``REMEMBERED_SETS * len(estimators)`` estimators used last, in each
        thread, on one design at a time (:meth:`_memory`), where they take at
        most ``REMEMBERED_BYTES``. Fitted clones are not refitted in place
        (each M-step fits new ones), so the outputs are those the estimators
        give again.
        """
        capacity = REMEMBERED_SETS * len(estimators) if self.remember else 0
        memory, rows = self._memory(design) if capacity else (None, None)
        X = None
        for estimator in estimators:
            entry = None if memory is None else memory.get(id(estimator))
            if entry is not None and entry[0]() is estimator:
                memory.move_to_end(id(estimator))
                yield entry[1] if rows is None else entry[1][rows]
                continue
            if X is None:
                X = self.features(design)
            value = output(estimator, X)
            yield value
            if memory is None or rows is not None:  # (a block's: not kept)
                continue
            if capacity * value.nbytes > REMEMBERED_BYTES:
                continue
            try:
                reference = weakref.ref(estimator)
            except TypeError:  # (an object without weak references: not kept)
                continue
            # a read-only view: the caller's array (maybe the estimator's
            # own) keeps its flags
            kept = value.view()
            kept.flags.writeable = False
            memory[id(estimator)] = (reference, kept)
            # (a collected estimator's entry of the same id stood earlier)
            memory.move_to_end(id(estimator))
            while len(memory) > capacity:
                memory.popitem(last=False)

    def _predicted(self, design: Array, estimators):
        """Each estimator's ``predict`` on ``design``'s features, (n_samples,)
        in the design's dtype (remembered: see :meth:`_outputs`)."""
        dtype = design.dtype
        outputs = self._outputs(
            design, estimators, lambda e, X: _predictions(e, X, dtype)
        )
        return list(outputs)

    # -- the features the estimators see -----------------------------------------

    def features(self, design: Array):
        """X as the estimators see it, (n_samples, n_features), from ``design``:
        a pandas DataFrame with ``feature_names`` where the model was fitted
        on named features (so that the clones know them), its ``categories``
        columns categorical again, else NumPy."""
        X = np.asarray(design[1:].T)
        if self.columns is not None:
            X = X[:, list(self.columns)]
        if self.feature_names is None:
            return X
        import pandas as pd

        frame = pd.DataFrame(X, columns=list(self.feature_names), copy=False)
        for name, dtype in (self.categories or {}).items():
            # (the values are the categories' own, as NumPy read them); values
            # the fit did not see are categories too, after the fit's: made
            # NaN, they failed estimators that refuse missing values
            values = frame[name].to_numpy()
            known = dtype.categories
            categories = np.asarray(known.to_numpy())
            # in the categories' own (NumPy) dtype where that loses nothing:
            # bool categories matched no float, and every value became NaN
            if categories.dtype.kind in "biuf":
                with np.errstate(invalid="ignore", over="ignore"):
                    cast = values.astype(categories.dtype)
                if np.array_equal(cast, values):
                    values = cast
            unseen = ~np.isin(values, categories)
            if np.any(unseen):
                extra = np.unique(values[unseen]).tolist()
                dtype = pd.CategoricalDtype([*known, *extra], ordered=dtype.ordered)
            frame[name] = pd.Categorical(values, dtype=dtype)
        return frame

    def _clone(self, k: int):
        """Expert k's clone, each ``random_state`` left at None in it (nested
        ones too, as in a ``CalibratedClassifierCV``) seeded for expert k.

        A clone of expert k's template (:meth:`_template`), which is never
        fitted: the same parameters, and the same state of a ``RandomState``
        given as ``random_state`` (a clone deep-copies it), as a clone of
        ``estimator`` seeded afresh. Each M-step still fits a new clone (the
        former estimator is kept where a refit fits worse, and outputs are
        remembered by estimator, see :meth:`_outputs`).
        """
        return clone(self._template(k))

    def _template(self, k: int):
        """Expert k's unfitted clone of ``estimator``, seeded, made once per
        ``estimator`` and ``random_state``: its ``get_params(deep=True)`` and
        ``set_params`` at every refit took half of :meth:`_clone`'s time (a
        depth-2 tree: 458 against 231 us, where its clone and weighted fit to
        1000 rows took 3.2 ms), 5 to 7% of a fit of such trees as experts."""
        key = (self.estimator, self.random_state)
        templates = getattr(self, "_templates", None)
        # (a new dict, not an update, where the key changed: copy.copy of a
        # family shares the dict)
        if templates is None or templates[0] is not key[0] or templates[1] != key[1]:
            templates = self._templates = (*key, {})
        template = templates[2].get(k)
        if template is None:
            template = clone(self.estimator)
            unseeded = {
                name: self.random_state + k
                for name, value in template.get_params(deep=True).items()
                if (name == "random_state" or name.endswith("__random_state"))
                and value is None
            }
            template = templates[2][k] = template.set_params(**unseeded)
        return template

    def _fit_each(self, X, target, weighted_resp, former):
        """A clone fitted to ``target`` with each expert's weights.

        An expert with no weight left (``top_k`` routes no sample to it, or
        its responsibilities underflow) keeps its ``former`` estimator: every
        estimator fits its zero-weight objective, and scikit-learn refuses
        weights that are all zero. Weights below ``WEIGHT_FLOOR`` times the
        expert's total are given as 0 (see there). Before any fit (None), it
        is fitted as if responsible for every row: with the experts' weights
        summed, the samples' own (times the exposures of count experts:
        unweighted, a Poisson expert's slope was 0.87 where the exposures give
        0.80).
        """
        weights = np.asarray(weighted_resp) * self.weight_total
        floor = WEIGHT_FLOOR * np.sum(weights, axis=1, keepdims=True)
        weights = np.where(weights < floor, 0.0, weights)
        estimators = np.empty(weights.shape[0], dtype=object)
        for k in range(weights.shape[0]):
            try:
                if np.any(weights[k] > 0):
                    estimator = self._clone(k).fit(X, target, sample_weight=weights[k])
                elif former[k] is not None:
                    estimator = former[k]
                else:
                    every = np.sum(weights, axis=0)
                    estimator = self._clone(k).fit(X, target, sample_weight=every)
            except Exception as error:
                # the estimator's own words name neither the expert nor its
                # rows (a Poisson tree's "Sum of y is not positive")
                rows = int(np.count_nonzero(weights[k] > 0))
                how = (
                    f"{rows} of the {weights.shape[1]} rows, weighted by their "
                    "responsibilities"
                    if rows
                    else f"all {weights.shape[1]} rows, with their own weights"
                )
                error.add_note(
                    "(raised by the clone of expert_estimator that fits expert "
                    f"{k}, on {how})"
                )
                raise
            estimators[k] = estimator
        return estimators

    # -- the contract ---------------------------------------------------------------

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        # the first M-step, from initial responsibilities, fits them
        return {"estimators": np.full(n_experts, None, dtype=object)}

    def gradient(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        raise NotImplementedError(
            "experts given by expert_estimator are fitted by EM only."
        )

    def keep_better(self, xp, design, Y, weighted_resp, params, former) -> Params:
        new = np.sum(weighted_resp * self.log_likelihood(xp, design, Y, params), 1)
        old = np.sum(weighted_resp * self.log_likelihood(xp, design, Y, former), 1)
        kept = np.where(old > new, former["estimators"], params["estimators"])
        return dict(params, estimators=kept)

    def select(self, xp, params: Params, keep: Array) -> Params:
        keep = np.asarray(keep)
        return {name: np.asarray(value)[keep] for name, value in params.items()}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        return 0.0  # the estimators' own penalties are theirs

    def n_parameters(self, n_features: int, n_experts: int):
        return None  # an estimator has no count of free parameters in general

    def shift(self, xp, params: Params, offset: Array, sign: float = 1.0) -> Params:
        return params  # the estimators see raw features

    def restrict(self, params: Params, columns) -> Params:
        return params  # the estimators see their own columns only

    def expand(self, params: Params, columns, n_features: int) -> Params:
        return params

    def params_to(self, xp, params: Params, like: Array) -> Params:
        return {
            name: value if value.dtype == object else np.asarray(value, like.dtype)
            for name, value in params.items()
        }


class RegressorExperts(EstimatorExperts):
    """Regressors with Gaussian noise: ``y | x, k ~ N(f_k(x), s2_k)``.

    ``f_k`` is the clone's ``predict``; ``s2_k`` the weighted mean squared
    residual of its fit, floored at ``variance_floor`` (and at most
    ``VARIANCE_RANGE`` times it), pooled over the experts with ``tied``.
    """

    def __init__(self, estimator, variance_floor, tied=False, **options):
        super().__init__(estimator, **options)
        from .gaussian import VARIANCE_RANGE

        self.variance_floor = variance_floor
        self.variance_ceiling = variance_floor * VARIANCE_RANGE
        self.tied = tied

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        params = super().initial_params(xp, design, Y, n_experts)
        params["variance"] = np.ones(n_experts, dtype=design.dtype)
        return params

    def means(self, xp, design: Array, params: Params) -> Array:
        """Each expert's prediction, (n_experts, n_samples)."""
        return np.stack(self._predicted(design, params["estimators"]))

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        variance = params["variance"][:, None]
        resid = Y[None, :] - self.means(xp, design, params)
        return -0.5 * (math.log(2 * math.pi) + np.log(variance) + resid**2 / variance)

    def m_step(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        estimators = self._fit_each(
            self.features(design), Y, weighted_resp, params["estimators"]
        )
        refit = {"estimators": estimators}
        return self._with_variance(design, Y, weighted_resp, refit)

    def keep_better(self, xp, design, Y, weighted_resp, params, former) -> Params:
        # with the variance at its optimum, an expert's part of the objective
        # falls as its weighted sum of squared residuals grows
        new = self._squared_residuals(design, Y, weighted_resp, params)
        old = self._squared_residuals(design, Y, weighted_resp, former)
        estimators = np.where(old < new, former["estimators"], params["estimators"])
        kept = {"estimators": estimators}
        return self._with_variance(design, Y, weighted_resp, kept, np.minimum(old, new))

    def _squared_residuals(self, design, Y, weighted_resp, params):
        """Each expert's weighted sum of squared residuals, (K,)."""
        means = self.means(np, design, params)
        return np.sum(weighted_resp * (Y[None, :] - means) ** 2, axis=1)

    def _with_variance(self, design, Y, weighted_resp, params, ssr=None):
        """``params`` with the variances that maximize the M-step's objective."""
        if ssr is None:
            ssr = self._squared_residuals(design, Y, weighted_resp, params)
        mass = np.sum(weighted_resp, axis=1)
        tiny = float(np.finfo(design.dtype).smallest_normal)
        if self.tied:
            variance = np.full_like(ssr, np.sum(ssr) / max(np.sum(mass), tiny))
        else:
            variance = ssr / np.clip(mass, tiny, None)
        variance = np.clip(variance, self.variance_floor, self.variance_ceiling)
        return dict(params, variance=variance.astype(design.dtype))

    def lower_bounds(self) -> dict[str, float]:
        return {"variance": float(self.variance_floor)}

    def upper_bounds(self) -> dict[str, float]:
        return {"variance": float(self.variance_ceiling)}


class ClassifierExperts(EstimatorExperts):
    """Classifiers: ``p_k(y = c | x)`` is the clone's ``predict_proba``.

    The clones are fitted to the class indices 0, ..., C - 1 (all of them, rows
    of zero weight included, so every clone knows every class); each expert's
    probabilities are floored at ``PROBA_FLOOR`` and renormalized.
    """

    #: ``n_experts="auto"`` fits its candidates with the held-out rows at
    #: weight 0 (not without them), so that every clone knows every class
    clones_see_every_class = True

    def __init__(self, estimator, n_classes, **options):
        super().__init__(estimator, **options)
        self.n_classes = n_classes

    def log_proba(self, xp, design: Array, params: Params) -> Array:
        """log p_k(c | x) as an (n_experts, n_classes, n_samples) array."""
        estimators = params["estimators"]

        def output(estimator, X):
            classes = np.asarray(estimator.classes_, dtype=np.intp)
            # a class of zero weight in an expert (as EM's responsibilities
            # give) has prior 0: GaussianNB's log of it warned 108 times a fit
            with np.errstate(divide="ignore"):
                columns = np.asarray(estimator.predict_proba(X), design.dtype)
            if columns.shape != (X.shape[0], classes.shape[0]):
                raise ValueError(
                    f"expert_estimator={self.estimator!r} gave predict_proba of "
                    f"shape {columns.shape} for {X.shape[0]} samples and "
                    f"{classes.shape[0]} classes_: it leaves out classes whose "
                    "samples all have zero weight (as libsvm does), which happens "
                    "to an expert's responsibilities. Use an estimator whose "
                    "probabilities cover all its classes_."
                )
            return columns

        outputs = self._outputs(design, estimators, output)
        proba = np.zeros(
            (len(estimators), self.n_classes, design.shape[1]), design.dtype
        )
        # (filled one expert at a time: a list of every expert's probabilities
        # took log_proba's peak memory from 3.35 to 4.1 times its output's)
        for k, (estimator, columns) in enumerate(zip(estimators, outputs, strict=True)):
            classes = np.asarray(estimator.classes_, dtype=np.intp)
            proba[k, classes] = columns.T
        proba = np.maximum(proba, PROBA_FLOOR)
        return np.log(proba) - np.log(np.sum(proba, axis=1, keepdims=True))

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        return np.sum(self.log_proba(xp, design, params) * Y[None, :, :], axis=1)

    def m_step(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        labels = np.argmax(np.asarray(Y), axis=0)
        X = self.features(design)
        former = params["estimators"]
        return {"estimators": self._fit_each(X, labels, weighted_resp, former)}


class CountExperts(EstimatorExperts):
    """Regressors of counts: ``y | x, k ~ Poisson(f_k(x))``.

    ``f_k`` is the clone's ``predict`` (an estimator of positive means:
    ``PoissonRegressor``, ``HistGradientBoostingRegressor(loss="poisson")``,
    a tree with ``criterion="poisson"``), floored at ``rate_floor`` so that a
    leaf of zero counts, or a negative prediction, keeps a finite
    log-likelihood. The clones are fitted to the rates ``y / exposure`` with
    the weights times the exposures (rows 0 and 3 of the target of
    ``poisson.encode_counts``): for a model of Poisson deviance, the same
    objective as the counts with the offset ``log(exposure)``; expert k's mean
    count is then ``exposure f_k(x)``.
    """

    def __init__(self, estimator, rate_floor, **options):
        super().__init__(estimator, **options)
        self.rate_floor = float(rate_floor)

    def log_rates(self, xp, design: Array, params: Params) -> Array:
        """log f_k(x) as an (n_experts, n_samples) array, floored."""
        rates = np.stack(self._predicted(design, params["estimators"]))
        return np.log(np.maximum(rates, self.rate_floor))

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        from .poisson import log_likelihood

        eta = self.log_rates(xp, design, params) + np.asarray(Y[3])[None, :]
        return log_likelihood(np, eta, Y, self.exact_tails)

    def m_step(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        exposure = np.exp(np.asarray(Y[3]))
        X = self.features(design)
        former = params["estimators"]
        weighted_resp = np.asarray(weighted_resp) * exposure[None, :]
        rates = np.asarray(Y[0]) / exposure
        return {"estimators": self._fit_each(X, rates, weighted_resp, former)}


class AmountExperts(EstimatorExperts):
    """Regressors of positive amounts: ``y | x, k ~ Gamma(mean f_k(x), shape
    1 / phi_k)``.

    ``f_k`` is the clone's ``predict`` (an estimator of positive means:
    ``GammaRegressor``, ``HistGradientBoostingRegressor(loss="gamma")``, a
    tree), floored at ``mean_floor`` so that a negative or zero prediction
    keeps a finite log-likelihood; ``phi_k`` the maximum-likelihood
    dispersion of its fit (:func:`skmoe.experts.gamma.best_dispersion`). The
    target is ``gamma``'s: rows ``y`` and ``log(y)``.
    """

    def __init__(self, estimator, mean_floor, dispersion_floor, **options):
        super().__init__(estimator, **options)
        self.mean_floor = float(mean_floor)
        self.dispersion_floor = float(dispersion_floor)

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        params = super().initial_params(xp, design, Y, n_experts)
        params["dispersion"] = np.ones(n_experts, dtype=design.dtype)
        return params

    def floor(self, dtype) -> float:
        """The least mean in ``dtype``: ``mean_floor``, and at least its
        smallest normal number (1e-46 was 0 in float32)."""
        return max(self.mean_floor, float(np.finfo(dtype).smallest_normal))

    def log_means(self, xp, design: Array, params: Params) -> Array:
        """log f_k(x) as an (n_experts, n_samples) array, floored."""
        means = np.stack(self._predicted(design, params["estimators"]))
        return np.log(np.maximum(means, means.dtype.type(self.floor(means.dtype))))

    def _excesses(self, design, Y, params, exact=False):
        d = np.asarray(Y[1])[None, :] - self.log_means(np, design, params)
        return excess(np, d, ratio=False, exact=exact)[0]

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        shape = 1.0 / np.asarray(params["dispersion"], dtype=np.float64)
        terms = shape_terms(shape).astype(design.dtype)[:, None]
        shape = shape.astype(design.dtype)[:, None]
        excess = self._excesses(design, Y, params, self.exact_tails)
        return terms - shape * excess - np.asarray(Y[1])[None, :]

    def m_step(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        estimators = self._fit_each(
            self.features(design), np.asarray(Y[0]), weighted_resp, params["estimators"]
        )
        return self._with_dispersion(design, Y, weighted_resp, params, estimators)

    def keep_better(self, xp, design, Y, weighted_resp, params, former) -> Params:
        # with the dispersion at its optimum, an expert's part of the objective
        # falls as its weighted sum of excesses grows
        new = self._total_excess(design, Y, weighted_resp, params)
        old = self._total_excess(design, Y, weighted_resp, former)
        estimators = np.where(old < new, former["estimators"], params["estimators"])
        return self._with_dispersion(
            design, Y, weighted_resp, former, estimators, np.minimum(old, new)
        )

    def _total_excess(self, design, Y, weighted_resp, params):
        """Each expert's weighted sum of excesses, (K,)."""
        return np.sum(weighted_resp * self._excesses(design, Y, params), axis=1)

    def _with_dispersion(
        self, design, Y, weighted_resp, former, estimators, total=None
    ):
        """The parameters of ``estimators`` with the dispersions that maximize
        the M-step's objective (``former``'s where an expert has no weight)."""
        params = {"estimators": estimators, "dispersion": former["dispersion"]}
        if total is None:
            total = self._total_excess(design, Y, weighted_resp, params)
        mass = np.sum(weighted_resp, axis=1)
        former_dispersion = np.asarray(former["dispersion"], dtype=np.float64)
        dispersion = best_dispersion(
            mass, total, former_dispersion, self.dispersion_floor
        )
        return dict(params, dispersion=dispersion.astype(design.dtype))

    def lower_bounds(self) -> dict[str, float]:
        return {"dispersion": self.dispersion_floor}

    def upper_bounds(self) -> dict[str, float]:
        return {"dispersion": DISPERSION_CEILING}
