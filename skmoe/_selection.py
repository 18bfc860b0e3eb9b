"""The number of experts by a parametric bootstrap of the likelihood ratio."""

from __future__ import annotations

import copy
import math
import re
import time
from collections import Counter
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    validate_params,
)
from sklearn.utils.parallel import Parallel, delayed

from ._backend import host, to_numpy
from ._base import BaseMixtureOfExperts, _through_steps
from ._distribution import draw_categories
from ._groups import check_groups
from ._poisson import MoEPoissonRegressor
from ._warnings import _held_warnings, _warn_user
from .exceptions import SpuriousExpertWarning

#: A classifier's samples drawn again at most this often to hold every class.
MAX_REDRAWS = 100
_LIST = re.compile(r"\[[^\]]*\]")
_NUMBER = re.compile(r"[-+]?\d[\d.]*(e[-+]?\d+)?")


@validate_params(
    {
        "estimator": [HasMethods(["fit", "get_params", "set_params"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "max_experts": [Interval(Integral, 2, None, closed="left")],
        "n_bootstrap": [Interval(Integral, 1, None, closed="left")],
        "significance": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=False,
)
def bootstrap_lrt(
    estimator,
    X,
    y,
    *,
    max_experts=4,
    n_bootstrap=99,
    significance=0.05,
    random_state=None,
    n_jobs=None,
    verbose=0,
    **fit_params,
):
    """Choose the number of experts by bootstrap likelihood-ratio tests.

    Tests K experts against K + 1 for K = 1, 2, ... (from K = 2 with
    ``zero_inflated=True``, whose point mass at zero is an expert) and stops
    at the first K that the data do not reject (McLachlan 1987; as R
    mclust's ``mclustBootstrapLRT`` and mixtools' ``boot.comp``). Each test
    fits K and
    K + 1 experts and takes the statistic ``2 (log L(K + 1) - log L(K))``. Its
    null distribution is not chi-squared (a mixture with one expert fewer sits
    on the boundary of the larger one's parameters), so it is drawn: targets
    are sampled from the fitted K-expert model at the same inputs, both models
    are fitted to each sample, and the p-value is, as mclust's, ``(1 +
    #{bootstrap statistics >= observed}) / (n_bootstrap + 1)``.

    Parameters
    ----------
    estimator : estimator object
        A :class:`MoERegressor`, :class:`MoEClassifier` (without
        ``class_weight``, which reweights the probabilities the samples would
        be drawn from), :class:`MoEPoissonRegressor`,
        :class:`MoENegativeBinomialRegressor` or :class:`MoEGammaRegressor`,
        or a
        :class:`~sklearn.pipeline.Pipeline` whose last step is one; its
        ``n_experts`` is set to each K tested (clones are fitted;
        ``estimator`` is unchanged). Its other parameters apply to every fit:
        more restarts (``n_init``) make a poor optimum, which biases the
        statistics, less likely.
    X : array-like of shape (n_samples, n_features)
        The inputs, kept in every bootstrap sample (NumPy, pandas, or an
        Array API array under scikit-learn's dispatch, whose fits run on its
        device; the statistics and p-values are NumPy).
    y : array-like of shape (n_samples,)
        The targets.
    max_experts : int, default=4
        The largest number of experts: the last test is ``max_experts - 1``
        against ``max_experts`` (mixtools' ``max.comp`` is the largest K of
        the null instead: ``max.comp=2`` tests up to 2 against 3).
    n_bootstrap : int, default=99
        Bootstrap samples per test; each costs two fits. With B samples the
        smallest p-value is ``1 / (B + 1)``, which must not exceed
        ``significance`` (B at least 19 for 0.05).
    significance : float, default=0.05
        K experts are rejected for K + 1 when the p-value is at most this.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampled targets; pass an int for reproducible results. The
        fits' restarts follow ``estimator``'s own ``random_state``.
    n_jobs : int, default=None
        Bootstrap samples fitted in parallel through joblib; None means 1
        unless in a :obj:`joblib.parallel_backend` context, -1 all processors.
    verbose : int, default=0
        0 prints nothing; 1 a line per test (the statistic, the p-value and
        the seconds it took). The fits print by their own ``verbose``.
    **fit_params : dict
        Passed to every ``fit`` (``sample_weight``, ``exposure`` of
        :class:`MoEPoissonRegressor`, ``groups``, or ``step__param`` for a
        pipeline; not ``init_responsibilities``, a start for one number of
        experts). The samples are drawn at the exposures passed as
        ``exposure`` or ``step__exposure``, and with ``groups`` (or
        ``step__groups``; the null models' gates dense: ``top_k=None`` or at
        least ``max_experts - 1``) each group's rows from one expert, drawn
        from the gate at the group.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the keys:

        n_experts : int
            The first K not rejected for K + 1, or ``max_experts`` if every
            test rejected.
        estimator : estimator object
            ``estimator`` fitted to (X, y) with ``n_experts`` experts.
        p_values : ndarray of shape (n_tests,)
            The p-value of each test run, K = 1, 2, ... (2, 3, ... with
            ``zero_inflated``)
        statistics : ndarray of shape (n_tests,)
            The observed statistics ``2 (log L(K + 1) - log L(K))``.
        bootstrap_statistics : ndarray of shape (n_tests, n_bootstrap)
            The statistics of the bootstrap samples.

    Warns
    -----
    UserWarning
        Once per kind of warning the bootstrap samples' fits gave, in its
        category (a :class:`~skmoe.exceptions.SkmoeWarning` subclass or
        scikit-learn's ``ConvergenceWarning``), with the number of samples
        whose fits gave it and the first (but for the warning of parameters
        that the estimator's settings ignore, which the fits of the data give
        once each). Those of
        scikit-learn's estimators inside the fits (an ``expert_estimator``'s,
        a pipeline step's) are given as they come: catching them takes
        ``warnings.catch_warnings``, which is not thread-safe.

    See Also
    --------
    MoERegressor.bic : The information criterion ``n_experts="auto"`` uses.

    Notes
    -----
    The log-likelihoods are the fitted models' ``log_likelihood_``, weighted
    by the sample weights where there are some, not penalized by ``alpha``.
    Fits at K and K + 1 experts that keep fewer experts (``prune_threshold``)
    are tested as fitted: a fit of K + 1 pruned back to K gives a statistic
    near 0. A negative statistic means that the fit with K + 1 experts is no
    better: a poor optimum (raise ``n_init``) or, with ``alpha`` > 0, the
    penalty of the added expert's coefficients (on separable classes, held by
    the penalty alone, 0.016 per sample in a test). A classifier's sample
    whose rows of positive sample weight miss a class that those rows of ``y``
    hold is drawn again (up to 100 times), so that every fit sees the classes
    of the data; rows of sample weight 0 (as ``sample_weight`` or
    ``step__sample_weight``) keep their labels. Each sample draws one target
    per row, which its ``sample_weight`` then weighs: the rows are the
    independent units. Weights
    that count repeated rows (data compressed to its distinct rows) give
    samples far more variable than the repeated rows' (binary labels at 12
    inputs, 180 rows compressed to 24: a median bootstrap statistic of 33
    against 1.4, and a p-value of 1), so pass such data repeated
    (``np.repeat(X, counts, axis=0)``). Unlike ``boot.comp``, samples whose
    statistic is negative are kept. A :class:`MoEPoissonRegressor`'s (or
    :class:`MoENegativeBinomialRegressor`'s) ``y`` must be counts (rates with
    the exposures as sample weights are refused: pass ``exposure``).

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MoERegressor, bootstrap_lrt
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
    >>> y += 0.3 * rng.standard_normal(300)
    >>> model = MoERegressor(n_init=2, prune_threshold=0.05, random_state=0)
    >>> result = bootstrap_lrt(
    ...     model, X, y, max_experts=3, n_bootstrap=19, random_state=0
    ... )
    >>> result.n_experts
    2
    >>> result.p_values
    array([0.05, 0.55])
    """
    for name, value in (("max_experts", max_experts), ("n_bootstrap", n_bootstrap)):
        if isinstance(value, bool | np.bool_):  # an Integral to validate_params
            raise InvalidParameterError(
                f"The '{name}' parameter of bootstrap_lrt must be an int; got "
                f"{value!r}."
            )
    model = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(model, BaseMixtureOfExperts):
        got = type(model).__name__
        if isinstance(model, type):
            got = f"the class {model.__name__}, not an instance"
        raise TypeError(
            "bootstrap_lrt tests the number of experts of a MoERegressor, "
            "MoEClassifier, MoEPoissonRegressor, MoENegativeBinomialRegressor or "
            "MoEGammaRegressor instance, "
            "or of a Pipeline "
            f"ending in one (for a search, its best_estimator_); got {got}."
        )
    if isinstance(model, MoEPoissonRegressor):
        counts = _host(y).astype(float)
        if not np.all(counts == np.round(counts)):
            raise ValueError(
                "bootstrap_lrt draws counts, and y holds values that are "
                "not whole numbers (rates with the exposures as sample weights?): "
                "pass the counts, with exposure=, so that the samples are drawn "
                "as the data were."
            )
    if getattr(model, "class_weight", None) is not None:
        raise ValueError(
            "bootstrap_lrt draws classes from the fitted probabilities, which "
            f"class_weight={model.class_weight!r} reweights: the samples would "
            "not be drawn from a model of the data. Set class_weight=None."
        )
    start, names = _fit_param(estimator, fit_params, "init_responsibilities")
    if start is not None:
        # one start cannot serve the fits of every K (labels in [0, K + 1)
        # were out of range for the K-expert fit, which named an n_experts
        # the caller never set)
        raise ValueError(
            f"bootstrap_lrt does not take {' or '.join(names)}: it fits 1 to "
            "max_experts experts, and the bootstrap samples, and one start "
            "cannot serve them all. Leave it out (the fits start from "
            "init_params), or fit each number of experts from a start of its "
            "own and compare them by cross-validation."
        )
    if 1 / (n_bootstrap + 1) > significance:
        raise ValueError(
            f"With n_bootstrap={n_bootstrap} the smallest p-value is "
            f"1 / {n_bootstrap + 1}, above significance={significance}: no test "
            "could reject. Raise n_bootstrap to at least "
            f"{math.ceil(1 / significance) - 1}."
        )
    # a zero-inflated model's point mass is one of its experts: from 2
    first = 2 if getattr(model, "zero_inflated", False) else 1
    if max_experts <= first:
        raise ValueError(
            f"max_experts={max_experts} leaves no test: zero_inflated=True "
            "counts the point mass at zero among the experts, so the tests "
            "start at 2 against 3; pass max_experts >= 3."
        )
    rng = check_random_state(random_state)
    p_values, statistics, drawn = [], [], []
    smaller = _fitted(estimator, first, X, y, fit_params)
    _exposure(smaller, fit_params)  # fails before the other fits
    grouped = _groups(smaller, fit_params) is not None  # fails before other fits
    top_k = getattr(_parts(smaller)[0], "top_k", None)
    sparse = top_k is not None and top_k < max_experts - 1  # in a null model
    if sparse and grouped:
        raise ValueError(
            "bootstrap_lrt draws a group's rows from one expert of the dense "
            f"gate, and top_k={top_k} routes the models of up to "
            f"{max_experts - 1} experts it draws from sparsely; with groups, "
            f"set top_k=None or top_k >= {max_experts - 1}."
        )
    n_experts = max_experts
    for k in range(first, max_experts):
        larger = _fitted(estimator, k + 1, X, y, fit_params)
        observed = _statistic(smaller, larger)
        start = time.perf_counter()
        seeds = rng.randint(np.iinfo(np.int32).max, size=n_bootstrap)
        replicates = Parallel(n_jobs=n_jobs)(
            delayed(_replicate)(estimator, smaller, k, X, y, fit_params, seed)
            for seed in seeds
        )
        values = np.array([value for value, _ in replicates])
        _summarize_warnings([caught for _, caught in replicates], k)
        p_values.append((1 + np.count_nonzero(values >= observed)) / (n_bootstrap + 1))
        statistics.append(observed)
        drawn.append(values)
        if verbose:
            print(
                f"{k} against {k + 1} experts: statistic {observed:.6g}, "
                f"p-value {p_values[-1]:.4g} ({n_bootstrap} samples, "
                f"{time.perf_counter() - start:.2f}s)"
            )
        if p_values[-1] > significance:
            n_experts = k
            break
        smaller = larger
    return Bunch(
        n_experts=int(n_experts),
        estimator=smaller if n_experts < max_experts else larger,
        p_values=np.array(p_values),
        statistics=np.array(statistics),
        bootstrap_statistics=np.array(drawn),
    )


def _summarize_warnings(caught, k):
    """One warning per kind (category and message with its numbers left out)
    that the bootstrap samples' fits gave (``caught``: each sample's
    warnings), with how many samples gave one and the first."""
    count, first = Counter(), {}
    for sample in caught:
        kinds = set()
        for category, message in sample:
            if issubclass(category, SpuriousExpertWarning):
                # drawn from the smaller model, the samples have k regimes:
                # a small expert of their k + 1 is spurious by construction
                continue
            kind = (category, _NUMBER.sub("#", _LIST.sub("[#]", message)))
            kinds.add(kind)
            first.setdefault(kind, message)
        count.update(kinds)
    for (category, _), n in count.items():
        _warn_user(
            f"The fits of {n} of the {len(caught)} bootstrap samples of the test "
            f"of {k} against {k + 1} experts warned ({category.__name__}), first: "
            f"{first[category, _]}",
            category,
        )


def _with_experts(estimator, n_experts):
    """An unfitted clone of ``estimator`` (a pipeline's last step) with
    ``n_experts`` experts."""
    estimator = clone(estimator)
    if isinstance(estimator, Pipeline):
        name = estimator.steps[-1][0]
        return estimator.set_params(**{f"{name}__n_experts": n_experts})
    return estimator.set_params(n_experts=n_experts)


def _fitted(estimator, n_experts, X, y, fit_params):
    return _with_experts(estimator, n_experts).fit(X, y, **fit_params)


def _parts(fitted):
    """The mixture of experts of a fitted model or pipeline, and the pipeline's
    transform of the inputs (None for a model)."""
    if isinstance(fitted, Pipeline):
        return fitted[-1], partial(_through_steps, fitted)
    return fitted, None


def _statistic(smaller, larger):
    return 2.0 * (
        _parts(larger)[0].log_likelihood_ - _parts(smaller)[0].log_likelihood_
    )


def _host(array):
    """A NumPy copy of an input (an Array API namespace's, pandas', a list)."""
    return np.asarray(host(array))


def _fit_param(fitted, fit_params, name):
    """The fit parameter ``name`` (or ``step__name`` for a pipeline's last
    step) in ``fit_params``, the names it is looked up by, and None if absent."""
    names = [name]
    if isinstance(fitted, Pipeline):
        names.insert(0, f"{fitted.steps[-1][0]}__{name}")
    value = next((fit_params[n] for n in names if n in fit_params), None)
    return value, names


def _exposure(fitted, fit_params):
    """The exposures to draw counts at: ``exposure`` or ``step__exposure`` in
    ``fit_params``; raise if the model was fitted with exposures passed
    otherwise (metadata routing under another name)."""
    model = _parts(fitted)[0]
    exposure, names = _fit_param(fitted, fit_params, "exposure")
    if exposure is None and getattr(model, "_exposure_given", False):
        raise ValueError(
            "The model was fitted with exposures, which bootstrap_lrt draws the "
            f"samples' counts at; pass them as {' or '.join(names)} (with "
            "metadata routing, request them under the name 'exposure')."
        )
    return exposure


def _groups(fitted, fit_params):
    """The :class:`~skmoe._groups.Groups` of a model fitted with groups,
    from ``groups`` or ``step__groups`` in ``fit_params`` (None for a model
    fitted without); raise if the model was fitted with groups passed
    otherwise (metadata routing under another name)."""
    if not getattr(_parts(fitted)[0], "_fitted_groups", False):
        return None
    groups, names = _fit_param(fitted, fit_params, "groups")
    if groups is None:
        raise ValueError(
            "The model was fitted with groups, whose rows bootstrap_lrt draws "
            f"from one expert; pass them as {' or '.join(names)} (with metadata "
            "routing, request them under the name 'groups')."
        )
    groups = _host(groups)
    return check_groups(groups, len(groups))


def _sample(fitted, X, fit_params, random_state, classes=None, y=None):
    """Targets drawn from the fitted model at the inputs ``X``; a classifier's
    are drawn again until their rows of positive sample weight hold every one
    of ``classes`` that those rows of ``y`` hold, and keep the
    labels ``y`` of the rows of sample weight 0 (which the fits ignore, and
    which may hold a class of probability 0). For a model fitted with groups,
    each group's rows are drawn from one expert, drawn from the group's gate."""
    model, transform = _parts(fitted)
    if transform is not None:
        X = transform(X)
    rng = check_random_state(random_state)
    grouping = _groups(fitted, fit_params)
    if not is_classifier(model):
        exposure = _exposure(fitted, fit_params)
        exposed = {} if exposure is None else {"exposure": exposure}
        dist = model.predict_distribution(X, **exposed)
        if grouping is not None:  # the dense gate: column k is expert k
            chosen = _group_experts(dist.weights, grouping, rng)
            dist = copy.copy(dist)
            dist.weights = np.eye(dist.weights.shape[1])[chosen]
        return dist.sample(random_state=rng)[0]
    if grouping is None:
        proba = to_numpy(model.predict_proba(X))
    else:
        gate = to_numpy(model.predict_gate(X))
        expert_proba = to_numpy(model._expert_proba(X, "bootstrap_lrt"))
    labels = to_numpy(model.classes_)  # a namespace's of Array API dispatch
    weight, _ = _fit_param(fitted, fit_params, "sample_weight")
    ignored, counted = None, slice(None)
    if y is not None and weight is not None:
        ignored = np.flatnonzero(_host(weight) == 0)
        counted = np.flatnonzero(_host(weight) != 0)
        if classes is not None:
            # the classes that the rows of positive weight hold: a sample
            # holding one only in rows of weight 0 held it for no fit, which
            # refuses a class of no weight where it leaves fewer than 2 (a
            # binary y whose rare class was missed: bootstrap_lrt raised)
            classes = classes[np.isin(classes, _host(y)[counted])]
    for _ in range(MAX_REDRAWS):
        if grouping is not None:
            chosen = _group_experts(gate, grouping, rng)
            proba = expert_proba[np.arange(len(chosen)), chosen]
        drawn = labels[draw_categories(proba, 1, rng)[0]]
        if ignored is not None and ignored.size:
            drawn[ignored] = _host(y)[ignored]
        if classes is None or np.isin(classes, drawn[counted]).all():
            return drawn
    raise ValueError(
        f"{MAX_REDRAWS} samples drawn from the fitted model all missed a class "
        "of y: the model gives it too little probability for the fits of the "
        "samples to see it. Merge or drop the rare class."
    )


def _group_experts(weights, grouping, rng):
    """Each row's expert: one drawn per group from the mixture ``weights``
    (n_rows, n_experts) at the group's first row."""
    return draw_categories(weights[grouping.first], 1, rng)[0][grouping.codes]


def _replicate(estimator, null, k, X, y, fit_params, seed):
    """The statistic of one bootstrap sample drawn from the fitted ``null``
    model (``k`` experts) at the data ``(X, y)``, and the warnings its two
    fits gave."""
    classes = getattr(_parts(null)[0], "classes_", None)
    classes = None if classes is None else to_numpy(classes)
    y = _sample(null, X, fit_params, seed, classes, y)
    # skmoe's own warnings (not warnings.catch_warnings, which is not
    # thread-safe); those of scikit-learn's estimators as experts pass
    with _held_warnings() as caught:
        smaller = _fitted(estimator, k, X, y, fit_params)
        larger = _fitted(estimator, k + 1, X, y, fit_params)
    # the parameters the settings ignore, which the fits of the data (of k and
    # k + 1 experts) warned of already: not a finding of the samples
    ignored = {
        _parts(fit)[0]._ignored_parameters_message() for fit in (smaller, larger)
    }
    caught = [(c, str(m)) for m, c in caught if str(m) not in ignored]
    return _statistic(smaller, larger), caught
