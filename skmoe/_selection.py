"""The number of experts by a parametric bootstrap of the likelihood ratio."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from ._base import BaseMixtureOfExperts, _warn_user


@validate_params(
    {
        "estimator": [HasMethods(["fit", "get_params", "set_params"])],
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like"],
        "max_experts": [Interval(Integral, 2, None, closed="left")],
        "n_bootstrap": [Interval(Integral, 1, None, closed="left")],
        "significance": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
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
    **fit_params,
):
    """Choose the number of experts by bootstrap likelihood-ratio tests.

    Tests K experts against K + 1 for K = 1, 2, ... and stops at the first K
    that the data do not reject (McLachlan 1987; R mixtools' ``boot.comp``,
    mclust's ``mclustBootstrapLRT``). Each test fits K and K + 1 experts and
    takes the statistic ``2 (log L(K + 1) - log L(K))``. Its null
    distribution is not chi-squared (a mixture with one expert fewer sits on
    the boundary of the larger one's parameters), so it is drawn: targets are
    sampled from the fitted K-expert model at the same inputs, both models are
    fitted to each sample, and the p-value is ``(1 + #{bootstrap statistics
    >= observed}) / (n_bootstrap + 1)``.

    Parameters
    ----------
    estimator : estimator object
        A :class:`MoERegressor`, :class:`MoEClassifier` or
        :class:`MoEPoissonRegressor`, or a :class:`~sklearn.pipeline.Pipeline`
        whose last step is one; its ``n_experts`` is set to each K tested
        (clones are fitted; ``estimator`` is unchanged). Its other parameters
        apply to every fit: more restarts (``n_init``) make a poor optimum,
        which biases the statistics, less likely.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The inputs, kept in every bootstrap sample.
    y : array-like of shape (n_samples,)
        The targets.
    max_experts : int, default=4
        The largest number of experts: the last test is ``max_experts - 1``
        against ``max_experts``.
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
    **fit_params : dict
        Passed to every ``fit`` (``sample_weight``, ``exposure`` of
        :class:`MoEPoissonRegressor`, or ``step__param`` for a pipeline). The
        samples are drawn at the given exposures.

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
            The p-value of each test run, K = 1, 2, ...
        statistics : ndarray of shape (n_tests,)
            The observed statistics ``2 (log L(K + 1) - log L(K))``.
        bootstrap_statistics : ndarray of shape (n_tests, n_bootstrap)
            The statistics of the bootstrap samples.

    Warns
    -----
    UserWarning
        When an observed statistic is negative (the fit with K + 1 experts
        ended below the one with K: a poor optimum; raise ``n_init``), and
        once per kind of warning the bootstrap fits gave, with their count.

    See Also
    --------
    MoERegressor.bic : The information criterion ``n_experts="auto"`` uses.

    Notes
    -----
    The log-likelihoods are the fitted models' ``log_likelihood_``, weighted
    by the sample weights (and class weights) where there are some, not
    penalized by ``alpha``. Fits at K and K + 1 experts that keep fewer experts
    (``prune_threshold``) are tested as fitted.

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
    model = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(model, BaseMixtureOfExperts):
        raise TypeError(
            "bootstrap_lrt tests the number of experts of a MoERegressor, "
            "MoEClassifier or MoEPoissonRegressor, or of a Pipeline ending in "
            f"one; got {type(model).__name__}."
        )
    if 1 / (n_bootstrap + 1) > significance:
        raise ValueError(
            f"With n_bootstrap={n_bootstrap} the smallest p-value is "
            f"1 / {n_bootstrap + 1}, above significance={significance}: no test "
            "could reject. Raise n_bootstrap to at least "
            f"{math.ceil(1 / significance) - 1}."
        )
    rng = check_random_state(random_state)
    p_values, statistics, drawn = [], [], []
    smaller = _fitted(estimator, 1, X, y, fit_params)
    n_experts = max_experts
    for k in range(1, max_experts):
        larger = _fitted(estimator, k + 1, X, y, fit_params)
        observed = _statistic(smaller, larger)
        if observed < 0:
            _warn_user(
                f"The fit with {k + 1} experts ended {-observed / 2:.4g} below "
                f"the log-likelihood of the fit with {k}: a poor optimum, which "
                "biases the test to keep fewer experts. Raise n_init.",
                UserWarning,
            )
        seeds = rng.randint(np.iinfo(np.int32).max, size=n_bootstrap)
        replicates = Parallel(n_jobs=n_jobs)(
            delayed(_replicate)(estimator, smaller, k, X, fit_params, seed)
            for seed in seeds
        )
        values = np.array([value for value, _ in replicates])
        _summarize_warnings([caught for _, caught in replicates], k)
        p_values.append((1 + np.count_nonzero(values >= observed)) / (n_bootstrap + 1))
        statistics.append(observed)
        drawn.append(values)
        if p_values[-1] > significance:
            n_experts = k
            break
        smaller = larger
    return Bunch(
        n_experts=n_experts,
        estimator=smaller if n_experts < max_experts else larger,
        p_values=np.array(p_values),
        statistics=np.array(statistics),
        bootstrap_statistics=np.array(drawn),
    )


def _summarize_warnings(caught, k):
    """One warning per category that the bootstrap samples' fits gave (``caught``:
    each sample's warnings), with how many samples gave one and the first."""
    count, first = Counter(), {}
    for sample in caught:
        for category in {category for category, _ in sample}:
            count[category] += 1
        for category, message in sample:
            first.setdefault(category, message)
    for category, n in count.items():
        _warn_user(
            f"The fits of {n} of the {len(caught)} bootstrap samples of the test "
            f"of {k} against {k + 1} experts warned ({category.__name__}), first: "
            f"{first[category]}",
            category,
        )


def _with_experts(estimator, n_experts):
    """An unfitted clone of ``estimator`` (a pipeline's last step) with
    ``n_experts`` experts."""
    estimator = clone(estimator)
    if isinstance(estimator, Pipeline):
        return estimator.set_params(
            **{f"{estimator.steps[-1][0]}__n_experts": n_experts}
        )
    return estimator.set_params(n_experts=n_experts)


def _fitted(estimator, n_experts, X, y, fit_params):
    return _with_experts(estimator, n_experts).fit(X, y, **fit_params)


def _log_likelihood(fitted):
    model = fitted[-1] if isinstance(fitted, Pipeline) else fitted
    return model.log_likelihood_


def _statistic(smaller, larger):
    return 2.0 * (_log_likelihood(larger) - _log_likelihood(smaller))


def _sample(fitted, X, fit_params, random_state):
    """Targets drawn from the fitted model at the inputs ``X``."""
    if isinstance(fitted, Pipeline):
        name, model = fitted.steps[-1]
        X = fitted[:-1].transform(X)
        exposure = fit_params.get(f"{name}__exposure", fit_params.get("exposure"))
    else:
        model, exposure = fitted, fit_params.get("exposure")
    rng = check_random_state(random_state)
    if is_classifier(model):
        proba = model.predict_proba(X)
        # the first class whose cumulative probability passes a uniform draw
        cumulative = np.cumsum(proba, axis=1)
        u = rng.uniform(size=(proba.shape[0], 1)) * cumulative[:, -1:]
        index = np.minimum(np.sum(cumulative < u, axis=1), proba.shape[1] - 1)
        return model.classes_[index]
    exposed = {} if exposure is None else {"exposure": exposure}
    return model.predict_distribution(X, **exposed).sample(random_state=rng)[0]


def _replicate(estimator, null, k, X, fit_params, seed):
    """The statistic of one bootstrap sample drawn from the fitted ``null``
    model (``k`` experts), and the warnings its two fits gave."""
    y = _sample(null, X, fit_params, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        smaller = _fitted(estimator, k, X, y, fit_params)
        larger = _fitted(estimator, k + 1, X, y, fit_params)
    return _statistic(smaller, larger), [(w.category, str(w.message)) for w in caught]
