"""Experts that are scikit-learn estimators (``expert_estimator``): generalized EM
refitting clones with the responsibilities as sample weights."""

import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from _references import spy_on_auto
from numpy.testing import assert_allclose
from scipy.stats import poisson, sem
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.ensemble import IsolationForest, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    GammaRegressor,
    Lasso,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
)
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils._param_validation import InvalidParameterError

from skmoe import MoEClassifier, MoEGammaRegressor, MoEPoissonRegressor, MoERegressor
from skmoe.exceptions import SkmoeWarning
from skmoe.experts.estimator import PROBA_FLOOR


def _dispatch(sklearn):
    """scikit-learn's Array API dispatch, or a skip where SciPy's support is
    off (it needs SCIPY_ARRAY_API=1 before SciPy is imported)."""
    try:
        sklearn.set_config(array_api_dispatch=True)
    except RuntimeError as error:
        pytest.skip(str(error))
    sklearn.set_config(array_api_dispatch=False)
    return sklearn.config_context(array_api_dispatch=True)


def _regimes(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 1]) + 0.3 * rng.randn(n)
    return X, y


def _steps(X, seed=0):
    """A target that is piecewise constant in x0 on each side of x1 = 0."""
    rng = np.random.RandomState(seed)
    left = np.where(X[:, 0] < -1, 2.0, np.where(X[:, 0] < 1, -1.0, 4.0))
    right = np.where(X[:, 0] < 0, 6.0, 0.0)
    return np.where(X[:, 1] < 0, left, right) + 0.1 * rng.randn(X.shape[0])


@pytest.mark.parametrize("variance_type", ["per_expert", "tied"])
def test_linear_regression_experts_are_the_built_in_experts(variance_type):
    # LinearRegression refitted with weights is the built-in M-step at alpha=0:
    # the same starts reach the same optimum (a tied variance pooled over the
    # experts' residuals, not the mean of their variances)
    X, y = _regimes()
    kwargs = dict(
        n_experts=2, alpha=0, tol=1e-10, random_state=0, variance_type=variance_type
    )
    built_in = MoERegressor(**kwargs).fit(X, y)
    wrapped = MoERegressor(expert_estimator=LinearRegression(), **kwargs).fit(X, y)
    assert_allclose(wrapped.log_likelihood_, built_in.log_likelihood_, rtol=1e-10)
    coef = np.array([e.coef_ for e in wrapped.experts_])
    intercept = np.array([e.intercept_ for e in wrapped.experts_])
    assert_allclose(coef, built_in.expert_coef_, atol=1e-7)
    assert_allclose(intercept, built_in.expert_intercept_, atol=1e-7)
    assert_allclose(wrapped.expert_variance_, built_in.expert_variance_, rtol=1e-7)
    assert_allclose(wrapped.gate_coef_, built_in.gate_coef_, atol=1e-7)
    assert_allclose(wrapped.predict(X), built_in.predict(X), atol=1e-7)
    assert not hasattr(wrapped, "expert_coef_")


def test_a_pipeline_takes_the_weights_by_metadata_routing():
    # polynomial experts as a Pipeline, whose fit takes sample_weight only
    # by routing: with a constant gate (which sees no features) they are the
    # built-in experts on the polynomial features
    import sklearn
    from sklearn.preprocessing import PolynomialFeatures

    X, y = _regimes()
    kwargs = dict(
        n_experts=2,
        gate="constant",
        alpha=0,
        tol=1e-10,
        init_params="random",
        n_init=2,
        random_state=0,
    )
    poly = PolynomialFeatures(2, include_bias=False)
    built_in = MoERegressor(**kwargs).fit(poly.fit_transform(X), y)
    with sklearn.config_context(enable_metadata_routing=True):
        expert = make_pipeline(
            PolynomialFeatures(2, include_bias=False),
            LinearRegression().set_fit_request(sample_weight=True),
        )
        wrapped = MoERegressor(expert_estimator=expert, **kwargs).fit(X, y)
        unrouted = make_pipeline(PolynomialFeatures(2), LinearRegression())
        with pytest.raises(ValueError, match="set_fit_request"):
            MoERegressor(2, expert_estimator=unrouted).fit(X, y)
    assert_allclose(wrapped.log_likelihood_, built_in.log_likelihood_, rtol=1e-9)
    coef = np.array([e[-1].coef_ for e in wrapped.experts_])
    assert_allclose(coef, built_in.expert_coef_, atol=1e-6)
    with pytest.raises(ValueError, match="metadata routing on"):
        MoERegressor(2, expert_estimator=expert).fit(X, y)  # routing off


@pytest.mark.parametrize("inner", [LinearRegression(), None])
def test_meta_estimators_pass_the_weights_on_without_routing(inner):
    # with metadata routing off, TransformedTargetRegressor and GridSearchCV
    # pass their fit parameters to the estimator they wrap, which
    # has_fit_parameter does not see: they were refused
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge

    X, y = _regimes()
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    wrapper = TransformedTargetRegressor(regressor=inner)  # None: LinearRegression
    one = MoERegressor(1, expert_estimator=wrapper).fit(X, y, sample_weight=w)
    expected = LinearRegression().fit(X, y, sample_weight=w)
    assert_allclose(one.experts_[0].regressor_.coef_, expected.coef_, rtol=1e-10)
    search = GridSearchCV(Ridge(), {"alpha": [1e-3, 1.0]}, cv=2)
    one = MoERegressor(1, expert_estimator=search).fit(X, y, sample_weight=w)
    alpha = one.experts_[0].best_params_["alpha"]
    expected = Ridge(alpha=alpha).fit(X, y, sample_weight=w)
    assert_allclose(one.experts_[0].best_estimator_.coef_, expected.coef_, rtol=1e-10)
    unweighted = Ridge(alpha=alpha).fit(X, y)
    assert not np.allclose(expected.coef_, unweighted.coef_, rtol=1e-3)
    with pytest.raises(ValueError, match="does not take sample_weight"):
        MoERegressor(
            1, expert_estimator=TransformedTargetRegressor(KNeighborsRegressor())
        ).fit(X, y)


def _voting():
    from sklearn.ensemble import VotingRegressor

    return VotingRegressor([("ridge", Ridge()), ("drop", "drop"), ("lr", Lasso(0.1))])


def _stacking():
    from sklearn.ensemble import StackingRegressor
    from sklearn.model_selection import KFold

    return StackingRegressor(
        [("ridge", Ridge()), ("lasso", Lasso(0.1))],
        final_estimator=LinearRegression(),
        cv=KFold(2),
    )


def _halving():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    return HalvingGridSearchCV(
        Ridge(), {"alpha": [1e-3, 10.0, 300.0]}, cv=2, random_state=0
    )


def _rfe():
    from sklearn.feature_selection import RFE

    return RFE(Ridge(), n_features_to_select=1)


@pytest.mark.parametrize("make", [_voting, _stacking, _halving, _rfe])
def test_ensembles_searches_and_rfe_pass_the_weights_on_without_routing(make):
    # with metadata routing off, scikit-learn 1.9's voting and stacking
    # ensembles (fit(X, y, **fit_params)) give sample_weight to each estimator,
    # and the halving searches and RFE to theirs, as GridSearchCV does: all
    # were refused as not taking sample_weight
    X, y = _regimes()
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    one = MoERegressor(1, expert_estimator=make()).fit(X, y, sample_weight=w)
    by_hand = make().fit(X, y, sample_weight=w)
    assert_allclose(one.experts_[0].predict(X), by_hand.predict(X), rtol=1e-9)
    unweighted = make().fit(X, y).predict(X)
    assert not np.allclose(by_hand.predict(X), unweighted, rtol=1e-3)


def test_a_soft_voting_classifier_takes_the_weights_without_routing():
    from sklearn.ensemble import VotingClassifier

    X, y = _regimes()
    labels = y > 0
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    voting = VotingClassifier(
        [("lr", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=2))],
        voting="soft",
    )
    one = MoEClassifier(1, expert_estimator=voting).fit(X, labels, sample_weight=w)
    by_hand = clone(voting).fit(X, labels, sample_weight=w)
    assert_allclose(one.predict_proba(X), by_hand.predict_proba(X), rtol=1e-9)
    unweighted = clone(voting).fit(X, labels).predict_proba(X)
    assert not np.allclose(by_hand.predict_proba(X), unweighted, rtol=1e-3)


def test_an_ensemble_with_an_estimator_without_weights_is_refused():
    from sklearn.ensemble import StackingRegressor, VotingClassifier
    from sklearn.feature_selection import RFECV

    X, y = _regimes()
    voting = VotingClassifier(
        [("lr", LogisticRegression()), ("knn", KNeighborsClassifier())],
        voting="soft",
    )
    with pytest.raises(ValueError, match="does not take sample_weight"):
        MoEClassifier(2, expert_estimator=voting).fit(X, y > 0)
    final = StackingRegressor(
        [("ridge", Ridge())], final_estimator=KNeighborsRegressor()
    )
    with pytest.raises(ValueError, match="does not take sample_weight"):
        MoERegressor(2, expert_estimator=final).fit(X, y)
    # RFECV's own fit refuses sample_weight without routing
    with pytest.raises(ValueError, match="does not take sample_weight"):
        MoERegressor(2, expert_estimator=RFECV(Ridge())).fit(X, y)


def test_a_prefit_stack_is_refused_before_fitting():
    # a stack with cv="prefit" refits only its final estimator, and EM's clone
    # of it holds unfitted estimators: it was taken and failed with a
    # NotFittedError, nested in a search too
    from sklearn.ensemble import StackingRegressor, VotingRegressor

    X, y = _regimes()
    fitted = Ridge().fit(X, y)
    stack = StackingRegressor(
        [("ridge", fitted)], final_estimator=LinearRegression(), cv="prefit"
    )
    # (by hand: only the final estimator is fitted, to the ridge's predictions)
    meta = fitted.predict(X)[:, None]
    expected = LinearRegression().fit(meta, y).predict(meta)
    assert_allclose(stack.fit(X, y).predict(X), expected, rtol=1e-9)
    nested = [stack, VotingRegressor([("stack", stack), ("ridge", Ridge())])]
    nested.append(GridSearchCV(stack, {"final_estimator__fit_intercept": [True]}))
    for expert in nested:
        with pytest.raises(ValueError, match="cv='prefit'"):
            MoERegressor(2, expert_estimator=expert).fit(X, y)


def test_a_meta_estimator_is_told_how_to_take_the_weights():
    # with routing on, TransformedTargetRegressor takes the weights where its
    # regressor requests them
    import sklearn
    from sklearn.compose import TransformedTargetRegressor

    X, y = _regimes()
    y = np.exp(y / 10)
    kwargs = dict(n_experts=2, gate="constant", alpha=0, n_init=2, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        inner = LinearRegression().set_fit_request(sample_weight=True)
        routed = TransformedTargetRegressor(
            regressor=inner, func=np.log, inverse_func=np.exp
        )
        model = MoERegressor(expert_estimator=routed, **kwargs).fit(X, y)
    # the weights reach the inner regressors: the two experts differ (the same
    # unweighted fit twice otherwise)
    slopes = [e.regressor_.coef_[0] for e in model.experts_]
    assert abs(slopes[0] - slopes[1]) > 0.1
    assert np.all(np.isfinite(model.predict(X)))


def test_a_pipeline_with_a_weighted_step_needs_its_request_too():
    # StandardScaler's fit takes sample_weight, so scikit-learn's routing asks
    # for a request on it as well (the docs' and the error's advice); scaling
    # then changes nothing for unpenalized linear experts
    import sklearn
    from sklearn.preprocessing import StandardScaler

    X, y = _regimes()
    kwargs = dict(n_experts=2, gate="constant", alpha=0, tol=1e-10, random_state=0)
    built_in = MoERegressor(init_params="random", n_init=2, **kwargs).fit(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        unrequested = make_pipeline(
            StandardScaler(), LinearRegression().set_fit_request(sample_weight=True)
        )
        with pytest.raises(Exception, match="StandardScaler"):
            MoERegressor(expert_estimator=unrequested, **kwargs).fit(X, y)
        unrouted = make_pipeline(StandardScaler(), LinearRegression())
        with pytest.raises(ValueError, match="every other step whose fit takes"):
            MoERegressor(expert_estimator=unrouted, **kwargs).fit(X, y)
        expert = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            LinearRegression().set_fit_request(sample_weight=True),
        )
        wrapped = MoERegressor(
            expert_estimator=expert, init_params="random", n_init=2, **kwargs
        ).fit(X, y)
    assert_allclose(wrapped.log_likelihood_, built_in.log_likelihood_, rtol=1e-9)


def test_logistic_regression_experts_are_the_built_in_experts():
    # an unpenalized LogisticRegression refitted with weights solves the
    # built-in experts' M-step at alpha=0 exactly: the same starts reach the
    # same optimum (binary: its one coefficient vector is the difference of
    # the built-in expert's two centred ones)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(600, 2))
    logit = np.where(X[:, 0] < 0, 2 * X[:, 1], -1.5 * X[:, 1] + 1)
    y = (rng.rand(600) < 1 / (1 + np.exp(-logit))).astype(int)
    kwargs = dict(n_experts=2, alpha=0, tol=1e-10, random_state=0)
    built_in = MoEClassifier(**kwargs).fit(X, y)
    logistic = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000)
    wrapped = MoEClassifier(expert_estimator=logistic, **kwargs).fit(X, y)
    assert_allclose(wrapped.log_likelihood_, built_in.log_likelihood_, rtol=1e-9)
    assert_allclose(wrapped.predict_proba(X), built_in.predict_proba(X), atol=1e-4)
    coef = np.array([e.coef_[0] for e in wrapped.experts_])
    difference = built_in.expert_coef_[:, 1] - built_in.expert_coef_[:, 0]
    assert_allclose(coef, difference, atol=1e-4)


def test_one_expert_is_the_estimator_fitted_with_the_sample_weights():
    # one expert has responsibility 1: its clone is fitted with the user's
    # weights themselves, in their own units (a Ridge penalty then means what
    # it means in a plain fit), and its variance is the weighted MSE
    X, y = _regimes()
    weight = np.random.RandomState(1).uniform(0.5, 3.0, size=len(y))
    reg = MoERegressor(n_experts=1, expert_estimator=Ridge(alpha=50.0))
    reg.fit(X, y, sample_weight=weight)
    ridge = Ridge(alpha=50.0).fit(X, y, sample_weight=weight)
    assert_allclose(reg.experts_[0].coef_, ridge.coef_, rtol=1e-10)
    mse = np.average((y - ridge.predict(X)) ** 2, weights=weight)
    assert_allclose(reg.expert_variance_, [mse], rtol=1e-10)
    assert_allclose(reg.predict(X), ridge.predict(X), rtol=1e-10)


@pytest.mark.parametrize("model", ["classifier", "poisson", "gamma"])
def test_one_expert_of_other_models_is_the_estimator_fitted_with_the_weights(model):
    # as the regressor's: one expert's clone is fitted with the user's weights
    # in their own units (they sum to about 520, not 300). The penalties here
    # depend on that sum (scikit-learn's GLMs rescale the weights, so
    # PoissonRegressor or GammaRegressor could not tell): weights in units of
    # the row count would fit coefficients 0.28 or predictions 7% away
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    weight = rng.uniform(0.5, 3.0, 300)
    mean = np.exp(0.5 + 0.5 * X[:, 0])
    if model == "classifier":
        Estimator, inner = MoEClassifier, LogisticRegression(C=0.05)
        y = (X[:, 0] + 0.5 * X[:, 1] + 0.5 * rng.randn(300) > 0).astype(int)
    else:
        Estimator = MoEPoissonRegressor if model == "poisson" else MoEGammaRegressor
        inner = HistGradientBoostingRegressor(
            loss=model, l2_regularization=50.0, max_iter=10, random_state=0
        )
        y = rng.poisson(mean) if model == "poisson" else rng.gamma(3.0, mean / 3.0)
    moe = Estimator(1, expert_estimator=inner, n_init=1, random_state=0)
    moe.fit(X, y, sample_weight=weight)
    plain = clone(inner).fit(X, y, sample_weight=weight)
    if model == "classifier":
        assert_allclose(moe.experts_[0].coef_, plain.coef_, rtol=1e-10)
        assert_allclose(moe.predict_proba(X), plain.predict_proba(X), rtol=1e-10)
    else:
        assert_allclose(moe.experts_[0].predict(X), plain.predict(X), rtol=1e-10)
        assert_allclose(moe.predict(X), plain.predict(X), rtol=1e-10)


def test_gamma_tree_experts_never_lower_the_objective():
    # as the regressor's: an expert keeps the better of its refit and its
    # former tree, with the dispersion that goes with it (the refit's made
    # the objective fall up to 8 times in a fit)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(400, 2))
    mean = np.exp(
        np.where(
            X[:, 1] < 0, np.where(X[:, 0] < 0, 1.0, 2.0), np.where(X[:, 0] < 0, 0, 1.5)
        )
    )
    shape = np.where(X[:, 0] * X[:, 1] > 0, 20.0, 2.0)
    y = rng.gamma(shape, mean / shape)
    for seed in range(3):
        model = MoEGammaRegressor(
            3,
            expert_estimator=DecisionTreeRegressor(max_depth=2),
            random_state=seed,
            n_init=1,
            max_iter=200,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(X, y)
        assert np.all(np.diff(model.objective_history_) >= -1e-9)


@pytest.mark.parametrize("alpha", [1e-6, 1e-2])
def test_tree_experts_never_lower_the_objective(alpha):
    # a greedy tree refitted to new weights can fit them worse than the tree
    # before it: after such an M-step each expert keeps the better of the two,
    # so EM's objective never falls (without that, it fell by up to 1.35 nats
    # per sample in one iteration), and at convergence no refit fits an expert's
    # responsibilities better
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(600, 2))
    y = _steps(X)
    reg = MoERegressor(
        n_experts=2,
        expert_estimator=DecisionTreeRegressor(max_depth=2),
        alpha=alpha,
        n_init=1,
        random_state=0,
        tol=1e-8,
    ).fit(X, y)
    assert reg.converged_
    history = np.asarray(reg.objective_history_)
    assert np.all(np.diff(history) >= -1e-8)  # falls beyond tol are mended
    resp = reg.responsibilities(X, y)
    for k, expert in enumerate(reg.experts_):
        refit = DecisionTreeRegressor(max_depth=2).fit(X, y, sample_weight=resp[:, k])
        kept = np.average((y - expert.predict(X)) ** 2, weights=resp[:, k])
        refitted = np.average((y - refit.predict(X)) ** 2, weights=resp[:, k])
        assert kept <= refitted * (1 + 1e-6)
        assert_allclose(reg.expert_variance_[k], kept, rtol=1e-4)
    # two depth-2 trees, one per side of the gate, fit the six steps
    assert reg.score(X, y) > 0.97
    assert DecisionTreeRegressor(max_depth=2).fit(X, y).score(X, y) < 0.8


def test_classifier_experts_never_lower_the_objective_and_score_once():
    # depth-2 trees on iris: keep_better mends dozens of M-steps of this fit;
    # without it the objective falls. Experts that are not monotone score each
    # M-step to see whether it fell: an iteration that it did not lower takes
    # that score, where it scored the same parameters twice (207 evaluations
    # of the objective for this fit's 103 iterations, 57 of them mended; 161
    # now); a mended one scores the mended parameters anew
    import skmoe._em as em_module
    import skmoe.experts.estimator as estimator_module

    X, y = load_iris(return_X_y=True)
    scored, mended = [], []
    objective = em_module.objective
    keep_better = estimator_module.EstimatorExperts.keep_better
    clf = MoEClassifier(
        n_experts=3,
        expert_estimator=DecisionTreeClassifier(max_depth=2),
        n_init=1,
        random_state=4,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            em_module,
            "objective",
            lambda *args, **kwargs: scored.append(1) or objective(*args, **kwargs),
        )
        patch.setattr(
            estimator_module.EstimatorExperts,
            "keep_better",
            lambda self, *args: mended.append(1) or keep_better(self, *args),
        )
        clf.fit(X, y)
    assert len(mended) > 10
    history = np.asarray(clf.objective_history_)
    assert np.all(np.diff(history) >= -clf.tol)  # falls beyond tol are mended
    assert clf.converged_
    # the start, each iteration, and each mended iteration's second score
    assert len(scored) == 1 + clf.n_iter_ + len(mended)


def test_weighted_classifier_experts_never_lower_the_objective():
    # keep_better weighs the former responsibilities by the sample weights:
    # EM must not write the M-step's weighted ones over them (nor the next
    # E-step's), which weighed them twice (a fall of 6e-4, 60 times tol)
    X, y = load_iris(return_X_y=True)
    weight = np.random.RandomState(1).uniform(0.2, 5, len(y))
    clf = MoEClassifier(
        n_experts=3,
        expert_estimator=DecisionTreeClassifier(max_depth=2),
        n_init=1,
        random_state=4,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=weight)
    history = np.asarray(clf.objective_history_)
    assert np.all(np.diff(history) >= -clf.tol)


def test_regressor_predictions_combine_the_fitted_estimators():
    X, y = _regimes()
    reg = MoERegressor(
        n_experts=3, expert_estimator=DecisionTreeRegressor(max_depth=3), n_init=1
    ).fit(X, y)
    gate = reg.predict_gate(X)
    means = np.column_stack([e.predict(X) for e in reg.experts_])  # raw features
    mean = np.sum(gate * means, axis=1)
    variance = np.sum(gate * (reg.expert_variance_ + means**2), axis=1) - mean**2
    got_mean, got_std = reg.predict(X, return_std=True)
    assert_allclose(got_mean, mean, rtol=1e-10)
    assert_allclose(got_std, np.sqrt(variance), rtol=1e-8)
    dist = reg.predict_distribution(X[:5])
    assert_allclose(dist.means, means[:5], rtol=1e-10)
    resid = (y[:, None] - means) ** 2 / reg.expert_variance_
    log_p = -0.5 * (np.log(2 * np.pi * reg.expert_variance_) + resid)
    expected = np.log(np.sum(gate * np.exp(log_p), axis=1))
    assert_allclose(reg.log_likelihood_samples(X, y), expected, rtol=1e-8)


def test_classifier_probabilities_floor_pure_leaves():
    # a pure leaf gives a class probability 0; each expert's probabilities are
    # floored and renormalized, so the log-likelihood stays finite
    X, y = load_iris(return_X_y=True)
    clf = MoEClassifier(
        n_experts=2, expert_estimator=DecisionTreeClassifier(max_depth=2), n_init=2
    ).fit(X, y)
    gate = clf.predict_gate(X)
    expert_proba = []
    for expert in clf.experts_:
        proba = np.maximum(expert.predict_proba(X), PROBA_FLOOR)
        expert_proba.append(proba / proba.sum(axis=1, keepdims=True))
    expected = np.einsum("nk,knc->nc", gate, np.array(expert_proba))
    assert_allclose(clf.predict_proba(X), expected, rtol=1e-10)
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert np.all(np.isfinite(clf.log_likelihood_samples(X, y)))
    assert clf.score(X, y) > 0.95


def test_classifier_top_k_pairs_each_gate_weight_with_its_expert():
    # top_k=2 of 4 tree experts: predict_proba mixes each expert's floored and
    # renormalized probabilities by the renormalized top-2 gate (predict_gate,
    # zero outside the top 2). Taking the selected experts in index order
    # rather than the gate's would pair a weight with the other expert in
    # about half the rows (probabilities up to 0.99995 away)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(300, 2))
    y = (np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.3 * rng.randn(300) > 0).astype(int)
    y = y + (X[:, 1] > 1.5)
    clf = MoEClassifier(
        4,
        top_k=2,
        expert_estimator=DecisionTreeClassifier(max_depth=2),
        n_init=1,
        random_state=0,
    ).fit(X, y)
    gate = clf.predict_gate(X)
    assert np.all(np.sum(gate > 0, axis=1) == 2)
    expert_proba = []
    for expert in clf.experts_:
        proba = np.maximum(expert.predict_proba(X), PROBA_FLOOR)
        expert_proba.append(proba / proba.sum(axis=1, keepdims=True))
    expected = np.einsum("nk,knc->nc", gate, np.array(expert_proba))
    assert_allclose(clf.predict_proba(X), expected, rtol=1e-10, atol=1e-12)


def test_string_labels_and_class_indices():
    # the clones are fitted to class indices; predictions map back to labels
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MoEClassifier(expert_estimator=LogisticRegression(max_iter=1000))
    clf.fit(X, labels)
    assert set(clf.predict(X)) <= set(labels)
    assert np.mean(clf.predict(X) == labels) > 0.95
    assert all(list(e.classes_) == [0, 1, 2] for e in clf.experts_)


def test_zero_weights_remove_samples():
    X, y = _regimes()
    weight = np.ones(len(y))
    weight[::3] = 0
    kwargs = dict(n_experts=2, expert_estimator=LinearRegression(), random_state=0)
    weighted = MoERegressor(**kwargs).fit(X, y, sample_weight=weight)
    keep = weight > 0
    subset = MoERegressor(**kwargs).fit(X[keep], y[keep])
    assert_allclose(weighted.predict(X), subset.predict(X), rtol=1e-8)


def test_expert_features_gate_features_and_top_k():
    X, y = _regimes()
    X = np.column_stack([X, np.random.RandomState(2).randn(len(y))])
    reg = MoERegressor(
        n_experts=3,
        expert_estimator=DecisionTreeRegressor(max_depth=2),
        expert_features=[0, 1],
        gate_features=[0],
        top_k=2,
        n_init=1,
        random_state=0,
    ).fit(X, y)
    assert all(e.n_features_in_ == 2 for e in reg.experts_)
    gate = reg.predict_gate(X)  # the renormalized top 2
    assert np.all(np.sum(gate > 0, axis=1) <= 2)
    means = np.column_stack([e.predict(X[:, :2]) for e in reg.experts_])
    assert_allclose(reg.predict(X), np.sum(gate * means, axis=1), rtol=1e-10)
    dist = reg.predict_distribution(X)
    assert dist.means.shape == (len(y), 2)
    assert_allclose(dist.mean(), reg.predict(X), rtol=1e-10)


@pytest.mark.parametrize("gate", ["constant", "gaussian"])
def test_other_gates(gate):
    X, y = _regimes()
    reg = MoERegressor(
        n_experts=2,
        gate=gate,
        expert_estimator=DecisionTreeRegressor(max_depth=3),
        n_init=1,
        random_state=0,
    ).fit(X, y)
    means = np.column_stack([e.predict(X) for e in reg.experts_])
    assert_allclose(reg.predict(X), np.sum(reg.predict_gate(X) * means, 1))


def test_randomized_estimator_is_seeded_per_expert():
    # a random forest left at random_state=None gets a seed per expert from the
    # model's random_state: refits for the same weights agree, EM converges,
    # and the same random_state gives the same model
    X, y = _regimes(n=300)
    forest = RandomForestRegressor(n_estimators=5, max_depth=3)
    kwargs = dict(n_experts=2, expert_estimator=forest, n_init=1, random_state=3)
    first = MoERegressor(**kwargs).fit(X, y)
    second = MoERegressor(**kwargs).fit(X, y)
    assert first.converged_
    assert_allclose(first.predict(X), second.predict(X))
    seeds = [e.random_state for e in first.experts_]
    assert len(set(seeds)) == 2
    assert forest.random_state is None  # the template is not changed


def test_refits_are_fresh_clones_seeded_as_the_estimator():
    # every M-step fits a new, unfitted clone (the former estimator may be
    # kept), made from a template cloned and seeded once: its fits are
    # scikit-learn's own for the seed a clone of expert_estimator would get
    import copy

    from sklearn.tree import ExtraTreeRegressor

    from skmoe.experts.estimator import RegressorExperts

    X, y = _regimes(n=200)
    weight = np.random.RandomState(5).uniform(0.1, 2.0, len(y))
    cases = [
        (None, lambda k: 10 + k),  # seeded per expert from the family's 10
        (3, lambda k: 3),
        (np.random.RandomState(7), lambda k: np.random.RandomState(7)),
    ]
    for random_state, seed in cases:
        template = ExtraTreeRegressor(max_depth=3, random_state=random_state)
        family = RegressorExperts(template, 1e-6, random_state=10)
        for k in (0, 1, 0, 1):
            estimator = family._clone(k)
            assert not hasattr(estimator, "tree_")
            assert estimator is not family._clone(k)
            fitted = estimator.fit(X, y, sample_weight=weight)
            expected = ExtraTreeRegressor(max_depth=3, random_state=seed(k))
            expected.fit(X, y, sample_weight=weight)
            assert_allclose(fitted.tree_.threshold, expected.tree_.threshold, rtol=0)
            assert_allclose(fitted.predict(X), expected.predict(X), rtol=0)
        if random_state is not None and not isinstance(random_state, int):
            # (the RandomState given is not drawn from)
            assert_allclose(random_state.uniform(size=3), seed(0).uniform(size=3))
        assert template.random_state is random_state  # the template is unchanged
    # another estimator, or a copy of the family with another seed, is cloned
    # from its own template; the original family keeps its seeds
    family = RegressorExperts(ExtraTreeRegressor(max_depth=3), 1e-6, random_state=10)
    assert family._clone(1).random_state == 11
    other = copy.copy(family)
    other.random_state = 20
    assert other._clone(1).random_state == 21
    assert family._clone(1).random_state == 11
    family.estimator = DecisionTreeRegressor(max_depth=1)
    assert family._clone(1).get_params()["max_depth"] == 1
    assert family._clone(1).random_state == 11


def test_prune_pickle_clone_and_grid_search():
    X, y = _regimes()
    reg = MoERegressor(
        n_experts=3, expert_estimator=DecisionTreeRegressor(max_depth=2), n_init=1
    ).fit(X, y)
    usage = reg.expert_usage_
    pruned = reg.prune_experts(np.sort(usage)[1])
    assert pruned.n_experts_ == 2 and len(pruned.experts_) == 2
    kept = np.flatnonzero(usage >= np.sort(usage)[1])
    assert_allclose(pruned.expert_variance_, reg.expert_variance_[kept])
    assert np.all(np.isfinite(pruned.predict(X)))
    loaded = pickle.loads(pickle.dumps(reg))
    assert_allclose(loaded.predict(X), reg.predict(X))
    search = GridSearchCV(
        MoERegressor(n_experts=2, n_init=1, expert_estimator=DecisionTreeRegressor()),
        {"expert_estimator__max_depth": [1, 3], "n_experts": [1, 2]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapse warnings of deep experts
        search.fit(X, y)
    assert search.best_params_ == {"expert_estimator__max_depth": 3, "n_experts": 2}


def test_in_a_pipeline():
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(
        StandardScaler(), MoEClassifier(expert_estimator=LogisticRegression())
    )
    assert model.fit(X, y).score(X, y) > 0.95


def test_warm_start_refits_from_the_fitted_estimators():
    X, y = _regimes()
    reg = MoERegressor(
        n_experts=2,
        expert_estimator=DecisionTreeRegressor(max_depth=2),
        n_init=1,
        random_state=0,
        max_iter=2,
    )
    with pytest.warns(ConvergenceWarning):
        reg.fit(X, y)
    before = reg.log_likelihood_
    reg.set_params(warm_start=True, max_iter=200).fit(X, y)
    assert reg.log_likelihood_history_[0] >= before - 1e-8 * abs(before)
    # switching between kind of experts needs a fresh fit
    reg.set_params(expert_estimator=None)
    with pytest.raises(ValueError, match="warm_start=True continues the fitted"):
        reg.fit(X, y)
    # partial_fit's remedy is fit (warm_start=False alone does not help it)
    reg.set_params(solver="sgd", warm_start=False)
    with pytest.raises(ValueError, match=r"partial_fit .* call fit \(with warm_st"):
        reg.partial_fit(X, y)
    reg.set_params(solver="em").fit(X, y)
    assert hasattr(reg, "expert_coef_") and not hasattr(reg, "experts_")


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(solver="gradient"), "fitted by EM only"),
        (dict(solver="sgd"), "fitted by EM only"),
        (dict(device="cuda"), "device='cuda'"),
    ],
)
def test_refused_options(params, match):
    X, y = _regimes(n=60)
    reg = MoERegressor(
        expert_estimator=LinearRegression(), **{"n_experts": 2, **params}
    )
    with pytest.raises(ValueError, match=match):
        reg.fit(X, y)


def test_estimators_without_sample_weight_or_probabilities_are_refused():
    X, y = _regimes(n=60)
    reg = MoERegressor(n_experts=2, expert_estimator=KNeighborsRegressor())
    with pytest.raises(ValueError, match="does not take sample_weight") as raised:
        reg.fit(X, y)
    # the examples are regressors for a regressor, classifiers for a classifier
    assert "HistGradientBoostingRegressor" in str(raised.value)
    assert "Classifier" not in str(raised.value)
    clf = MoEClassifier(n_experts=2, expert_estimator=KNeighborsClassifier())
    with pytest.raises(ValueError, match="LogisticRegression, Decision"):
        clf.fit(X, y > 0)
    amounts = MoEGammaRegressor(n_experts=2, expert_estimator=KNeighborsRegressor())
    with pytest.raises(ValueError, match="GammaRegressor, HistGradient"):
        amounts.fit(X, np.exp(y))
    reg.set_params(expert_estimator=make_pipeline(StandardScaler(), Ridge()))
    with pytest.raises(ValueError, match="does not take sample_weight"):
        reg.fit(X, y)
    clf = MoEClassifier(expert_estimator=SVC())  # no predict_proba
    with pytest.raises(InvalidParameterError, match="predict_proba"):
        clf.fit(X, y > 0)


def test_bic_and_std_errors_say_why_they_are_unavailable():
    X, y = _regimes(n=100)
    reg = MoERegressor(n_experts=2, expert_estimator=LinearRegression(), n_init=1)
    reg.fit(X, y)
    assert np.isnan(reg.n_experts_bic_).all()
    for method in (reg.bic, reg.aic, reg.icl):
        with pytest.raises(ValueError, match="no such count"):
            method(X, y)
    with pytest.raises(ValueError, match="std_errors is not available"):
        reg.std_errors(X, y)
    assert not reg.__sklearn_tags__().array_api_support


def test_array_api_input_is_refused():
    xpx = pytest.importorskip("array_api_strict")
    sklearn = pytest.importorskip("sklearn")
    X, y = _regimes(n=60)
    reg = MoERegressor(n_experts=2, expert_estimator=LinearRegression(), n_init=1)
    with _dispatch(sklearn):
        with pytest.raises(ValueError, match="compute on NumPy arrays"):
            reg.fit(xpx.asarray(X), xpx.asarray(y))
    reg.fit(X, y)
    with _dispatch(sklearn):
        with pytest.raises(ValueError, match="namespace"):  # scikit-learn's check
            reg.predict(xpx.asarray(X))


def test_float32():
    X, y = _regimes()
    reg = MoERegressor(
        n_experts=2, expert_estimator=DecisionTreeRegressor(max_depth=3), n_init=1
    ).fit(X.astype(np.float32), y.astype(np.float32))
    assert reg.predict(X.astype(np.float32)).dtype == np.float32
    assert reg.expert_variance_.dtype == np.float32
    assert reg.score(X, y) > 0.9


def _counts(n=600, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 2))
    rate = np.where(X[:, 0] < 0, np.exp(1 + X[:, 1]), np.exp(2 - X[:, 1]))
    return X, rng.poisson(rate)


def test_poisson_regression_experts_are_the_built_in_experts():
    # an unpenalized PoissonRegressor refitted with weights solves the built-in
    # Poisson experts' M-step at alpha=0: the same starts, the same optimum
    X, y = _counts(n=300)
    kwargs = dict(n_experts=2, alpha=0, tol=1e-9, random_state=0)
    built_in = MoEPoissonRegressor(**kwargs).fit(X, y)
    poisson = PoissonRegressor(alpha=0, tol=1e-10, max_iter=1000)
    wrapped = MoEPoissonRegressor(expert_estimator=poisson, **kwargs).fit(X, y)
    assert_allclose(wrapped.log_likelihood_, built_in.log_likelihood_, rtol=1e-7)
    coef = np.array([e.coef_ for e in wrapped.experts_])
    assert_allclose(coef, built_in.expert_coef_, atol=1e-4)
    assert_allclose(wrapped.predict(X), built_in.predict(X), rtol=1e-4)


def test_poisson_tree_experts_predict_their_mixture_of_rates():
    X, y = _counts()
    model = MoEPoissonRegressor(
        n_experts=2,
        expert_estimator=DecisionTreeRegressor(criterion="poisson", max_depth=3),
        n_init=2,
        random_state=0,
    ).fit(X, y)
    assert model.converged_
    history = np.asarray(model.objective_history_)
    assert np.all(np.diff(history) >= -model.tol)
    gate = model.predict_gate(X)
    rates = np.column_stack([e.predict(X) for e in model.experts_])
    assert_allclose(model.predict(X), np.sum(gate * rates, axis=1), rtol=1e-10)
    floor = model._rate_floor
    expected = np.log(
        np.sum(gate * poisson.pmf(y[:, None], np.maximum(rates, floor)), 1)
    )
    assert_allclose(model.log_likelihood_samples(X, y), expected, rtol=1e-8)
    assert model.score(X, y) > 0.7


def test_poisson_tree_experts_under_top_k_mix_the_selected_rates():
    # top_k=2 of 3: predict is each selected tree's rate weighted by the
    # renormalized top-2 gate (predict_gate). Taking the selected experts'
    # rates in index order rather than the gate's would weigh the wrong rate
    # in many rows (predictions up to 18.7 counts away)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(300, 2))
    log_rate = np.where(
        X[:, 0] < -1, 1 + 0.3 * X[:, 1], np.where(X[:, 0] < 1, 0.2, 2 - 0.3 * X[:, 1])
    )
    y = rng.poisson(np.exp(log_rate))
    model = MoEPoissonRegressor(
        3,
        top_k=2,
        expert_estimator=DecisionTreeRegressor(criterion="poisson", max_depth=2),
        n_init=1,
        random_state=0,
    ).fit(X, y)
    gate = model.predict_gate(X)
    assert np.all(np.sum(gate > 0, axis=1) == 2)
    rates = np.column_stack([e.predict(X) for e in model.experts_])
    rates = np.maximum(rates, model._rate_floor)  # (a leaf of zero counts)
    assert_allclose(model.predict(X), np.sum(gate * rates, axis=1), rtol=1e-10)


def test_an_expert_that_top_k_leaves_without_samples_keeps_its_estimator():
    # with top_k an expert can be in no sample's top k: its weights are all
    # zero, which scikit-learn refuses (the fit raised), so it keeps its
    # former estimator
    import skmoe.experts.estimator as estimator_module

    X, y = _regimes(n=60)
    emptied, kept = [], []
    fit_each = estimator_module.EstimatorExperts._fit_each

    def spy(self, X, target, weighted_resp, former):
        estimators = fit_each(self, X, target, weighted_resp, former)
        for k in np.flatnonzero(~np.any(weighted_resp > 0, axis=1)):
            emptied.append(k)
            if former[k] is not None:  # the same fitted object, not a refit
                kept.append(estimators[k] is former[k])
        return estimators

    model = MoERegressor(
        n_experts=10,
        top_k=1,
        expert_estimator=LinearRegression(),
        n_init=1,
        init_params="random",
        random_state=0,
    )
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setattr(estimator_module.EstimatorExperts, "_fit_each", spy)
        warnings.simplefilter("ignore")  # collapsed experts
        model.fit(X, y)
    assert emptied  # the case: some M-step had an expert without samples
    assert kept and all(kept)
    # predictions mix the kept experts' own: each row's routed expert
    gate = model.predict_gate(X)
    assert np.all(np.sum(gate > 0, axis=1) == 1)
    means = np.column_stack([e.predict(X) for e in model.experts_])
    assert_allclose(model.predict(X), np.sum(gate * means, axis=1), rtol=1e-10)


def test_warm_start_with_other_expert_features_is_refused():
    X, y = _regimes()
    X = np.column_stack([X, X[:, 0] ** 2])
    model = MoERegressor(
        2,
        expert_estimator=DecisionTreeRegressor(max_depth=2),
        expert_features=[0, 1],
        n_init=1,
    ).fit(X, y)
    model.set_params(expert_features=[0], warm_start=True)
    with pytest.raises(ValueError, match="fitted on the expert features"):
        model.fit(X, y)


@pytest.mark.parametrize(
    "estimator, expert, target",
    [
        (MoERegressor, LinearRegression(), "real"),
        (MoEClassifier, DecisionTreeClassifier(max_depth=1), "label"),
        (MoEPoissonRegressor, DecisionTreeRegressor(max_depth=1), "count"),
        (MoEGammaRegressor, DecisionTreeRegressor(max_depth=1), "amount"),
    ],
)
def test_experts_without_features_are_refused(estimator, expert, target):
    # every estimator with expert_estimator refuses expert_features=[], and
    # its docstring says so (it once did nowhere)
    X, y = _regimes(n=60)
    y = {
        "real": y,
        "label": (y > np.median(y)).astype(int),
        "count": np.round(np.abs(y)),
        "amount": np.abs(y) + 1.0,
    }[target]
    model = estimator(2, expert_estimator=expert, expert_features=[])
    with pytest.raises(ValueError, match="leaves the experts no features"):
        model.fit(X, y)
    doc = " ".join(estimator.__doc__.split())
    assert "``expert_features`` (at least one: an empty list is refused)" in doc


def test_array_api_input_after_a_fit_with_estimator_experts():
    # the fitted experts_ of a former fit do not stop a fit with the built-in
    # experts from taking Array API input
    xpx = pytest.importorskip("array_api_strict")
    sklearn = pytest.importorskip("sklearn")
    X, y = _regimes(n=100)
    model = MoERegressor(2, expert_estimator=LinearRegression(), n_init=1).fit(X, y)
    model.set_params(expert_estimator=None)
    with _dispatch(sklearn):
        model.fit(xpx.asarray(X), xpx.asarray(y))
    assert not hasattr(model, "experts_")


def test_an_estimator_expert_of_three_rows_on_one_feature_has_few_samples():
    # an estimator's features and intercept stand for its parameters: a line
    # needs 2 * (1 + 1) = 4 samples, and the expert of the 3 rows of the
    # second regime warns
    from skmoe.exceptions import DegenerateFitWarning

    rng = np.random.RandomState(0)
    xa, xb = rng.uniform(-3, 0, 100), np.array([1.0, 2.0, 3.0])
    X = np.r_[xa, xb][:, None]
    y = np.r_[2 * xa + 0.1 * rng.randn(100), 20 - 3 * xb + 0.5 * rng.randn(3)]
    model = MoERegressor(2, expert_estimator=LinearRegression(), random_state=0)
    with pytest.warns(DegenerateFitWarning, match="fewer than 4 samples") as caught:
        model.fit(X, y)
    k = int(np.argmin(model.expert_usage_))
    assert model.expert_usage_[k] * 103 == pytest.approx(3, abs=1e-6)
    assert any(f"Experts [{k}]" in str(w.message) for w in caught)


def test_collapse_warning_names_the_estimators_capacity():
    X, y = _regimes(n=100)
    model = MoERegressor(2, expert_estimator=DecisionTreeRegressor(), n_init=1)
    with pytest.warns(UserWarning, match="Limit the expert_estimator's capacity"):
        model.fit(X, y)


class _ColumnRidge(Ridge):
    """A Ridge whose predictions are a column, (n, 1)."""

    def predict(self, X):
        return super().predict(X)[:, None]


class _TwoOutputs(Ridge):
    def predict(self, X):
        return np.column_stack([super().predict(X)] * 2)


def test_predictions_as_a_column_are_raveled_and_more_outputs_refused():
    # (n, 1) predictions broadcast against y to (K, n, n) arrays before failing
    X, y = _regimes(n=80)
    model = MoERegressor(2, expert_estimator=_ColumnRidge(), n_init=1, random_state=0)
    reference = MoERegressor(2, expert_estimator=Ridge(), n_init=1, random_state=0)
    assert_allclose(model.fit(X, y).predict(X), reference.fit(X, y).predict(X))
    with pytest.raises(ValueError, match="one value per sample"):
        model.set_params(expert_estimator=_TwoOutputs()).fit(X, y)


class _LeavesOutAClass(ClassifierMixin, BaseEstimator):
    """A classifier whose predict_proba has a column fewer than its classes_
    (as libsvm's, for a class of zero weight)."""

    def fit(self, X, y, sample_weight=None):
        self.model_ = LogisticRegression().fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)[:, :-1]

    def predict(self, X):
        return self.model_.predict(X)


def test_classifier_probabilities_that_miss_classes_are_refused():
    X, y = load_iris(return_X_y=True)
    clf = MoEClassifier(2, expert_estimator=_LeavesOutAClass(), random_state=0)
    with pytest.raises(ValueError, match="leaves out classes"):
        clf.fit(X, y)


def test_a_class_of_zero_weight_is_left_out_of_the_experts_fits():
    # libsvm left a class of zero weight out of predict_proba, not classes_
    # (refused); its rows now never reach the experts, as if removed
    X, y = load_iris(return_X_y=True)
    weight = np.where(y == 2, 0.0, 1.0)
    clf = MoEClassifier(expert_estimator=SVC(probability=True), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SVC's probability is deprecated
        clf.fit(X, y, sample_weight=weight)
        removed = clone(clf).fit(X[y < 2], y[y < 2])
        np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
        proba = clf.predict_proba(X)
        assert np.all(proba[:, 2] <= 1e-9)  # the experts' probability floor
        np.testing.assert_allclose(proba[:, :2], removed.predict_proba(X), atol=1e-4)


def test_a_classifier_is_refused_as_a_regressors_expert():
    X, y = _regimes(n=60)
    model = MoERegressor(2, expert_estimator=DecisionTreeClassifier())
    with pytest.raises(ValueError, match="is a classifier"):
        model.fit(X, y)


@pytest.mark.parametrize(
    "estimator, kind",
    [
        (KMeans(2, n_init=1), "a clusterer"),
        (make_pipeline(StandardScaler(), KMeans(2, n_init=1)), "a clusterer"),
        (IsolationForest(n_estimators=5), "an outlier detector"),
    ],
)
@pytest.mark.parametrize(
    "Model", [MoERegressor, MoEPoissonRegressor, MoEGammaRegressor]
)
def test_a_clusterer_or_outlier_detector_is_refused_as_a_regressors_expert(
    Model, estimator, kind
):
    # their predict gives cluster labels or +-1, which a regressor's experts
    # would have taken for y's mean (KMeans was accepted)
    X, y = _regimes(n=60)
    y = np.abs(y) + 1  # (counts and amounts: positive)
    with pytest.raises(ValueError, match=f"is {kind}; {Model.__name__}'s experts"):
        Model(2, expert_estimator=estimator).fit(X, y)


def test_nested_random_states_are_seeded():
    # a randomized estimator inside a meta-estimator: the same random_state,
    # the same model
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import SGDClassifier

    X, y = load_iris(return_X_y=True)
    expert = CalibratedClassifierCV(SGDClassifier(loss="log_loss"), cv=2)
    kwargs = dict(n_experts=2, expert_estimator=expert, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = MoEClassifier(**kwargs).fit(X, y).predict_proba(X)
        second = MoEClassifier(**kwargs).fit(X, y).predict_proba(X)
    assert_allclose(first, second)


def test_experts_see_their_features_in_the_column_order_of_x():
    X, y = _regimes()
    X = np.column_stack([X, np.random.RandomState(3).randn(len(y))])
    model = MoERegressor(
        2,
        expert_estimator=DecisionTreeRegressor(max_depth=3),
        expert_features=[2, 0],
        n_init=1,
        random_state=0,
    ).fit(X, y)
    means = np.column_stack([e.predict(X[:, [0, 2]]) for e in model.experts_])
    assert_allclose(model.predict(X), np.sum(model.predict_gate(X) * means, axis=1))


def test_dataframe_feature_names_reach_the_estimators():
    # fitted on a DataFrame, the clones know the names of their features:
    # experts_[k].predict takes those columns by name without a warning, and a
    # HistGradientBoostingRegressor can name its categorical features
    pd = pytest.importorskip("pandas")
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = _regimes()
    rng = np.random.RandomState(4)
    frame = pd.DataFrame(
        {"a": X[:, 0], "noise": rng.randn(len(y)), "b": X[:, 1]}
    ).assign(group=rng.randint(0, 3, len(y)).astype(float))
    y = y + frame["group"].to_numpy()
    expert = HistGradientBoostingRegressor(
        max_iter=10, categorical_features=["group"], random_state=0
    )
    model = MoERegressor(
        2,
        expert_estimator=expert,
        expert_features=["a", "b", "group"],
        n_init=1,
        random_state=0,
    ).fit(frame, y)
    for estimator in model.experts_:
        assert list(estimator.feature_names_in_) == ["a", "b", "group"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        means = np.column_stack(
            [e.predict(frame[["a", "b", "group"]]) for e in model.experts_]
        )
        predicted = model.predict(frame)
    assert_allclose(predicted, np.sum(model.predict_gate(frame) * means, axis=1))


def test_categorical_dtypes_reach_the_estimators():
    # a categorical column of the DataFrame reached the clones as floats:
    # HistGradientBoostingRegressor (categorical_features="from_dtype") split
    # the 20 cities as numbers, R^2 0.64 where the plain estimator has 0.91
    pd = pytest.importorskip("pandas")
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    city = rng.integers(0, 20, 600)
    x = rng.normal(size=600)
    y = x + rng.normal(0, 3, 20)[city] + 0.3 * rng.normal(size=600)
    frame = pd.DataFrame({"x": x, "city": pd.Categorical(city + 5)})
    expert = HistGradientBoostingRegressor(random_state=0)
    plain = clone(expert).fit(frame, y)
    assert list(plain.is_categorical_) == [False, True]
    model = MoERegressor(1, expert_estimator=expert, n_init=1).fit(frame, y)
    assert list(model.experts_[0].is_categorical_) == [False, True]
    # one expert, every weight one: the plain estimator's predictions
    assert_allclose(model.predict(frame), plain.predict(frame), rtol=1e-12)
    restored = pickle.loads(pickle.dumps(model))
    assert_allclose(restored.predict(frame), plain.predict(frame), rtol=1e-12)
    # a city the fit did not see: a category of its own, as for the plain
    # estimator (made NaN, it failed experts that refuse missing values), in a
    # DataFrame of other categories or in NumPy X
    new = pd.DataFrame({"x": [0.0, 0.0], "city": pd.Categorical([6, 40])})
    assert_allclose(model.predict(new), plain.predict(new), rtol=1e-12)
    with pytest.warns(UserWarning, match="valid feature names"):
        numeric = model.predict(new.to_numpy(dtype=float))
    assert_allclose(numeric, plain.predict(new), rtol=1e-12)
    ridge = MoERegressor(1, expert_estimator=Ridge(), n_init=1).fit(frame, y)
    assert_allclose(ridge.predict(new), Ridge().fit(frame, y).predict(new), rtol=1e-10)
    # bool and nullable categories: X's floats matched none of them (all NaN)
    for flags in (
        pd.array(city % 2 == 0, dtype=bool),
        pd.array(city % 2 == 0, dtype="boolean"),
        pd.array(city % 2, dtype="Int64"),
    ):
        frame2 = frame.assign(city=pd.Categorical(flags))
        plain2 = clone(expert).fit(frame2, y)
        model2 = MoERegressor(1, expert_estimator=expert, n_init=1).fit(frame2, y)
        assert list(model2.experts_[0].is_categorical_) == [False, True]
        assert_allclose(model2.predict(frame2), plain2.predict(frame2), rtol=1e-12)
    # experts that see the city only, by name, and a gate on x
    model = MoERegressor(
        2,
        expert_estimator=expert,
        gate_features=["x"],
        expert_features=["city"],
        n_init=1,
        random_state=0,
    ).fit(frame, y)
    for estimator in model.experts_:
        assert list(estimator.is_categorical_) == [True]
    # a frame without categories: float features (no categorical one)
    numeric = frame.assign(city=frame["city"].astype(float))
    model = MoERegressor(1, expert_estimator=expert, n_init=1).fit(numeric, y)
    assert model.experts_[0].is_categorical_ is None
    assert clone(expert).fit(numeric, y).is_categorical_ is None


def test_poisson_mean_where_an_unused_experts_predicted_rate_overflows():
    # an estimator's predicted rate can be inf where its gate weight is 0:
    # predict raised (inf in the log-space sum) while predict_distribution
    # gave the other expert's mean
    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 2))
    rate = np.exp(np.where(X[:, 0] > 0, 1 + 0.8 * X[:, 1], 1 - 0.8 * X[:, 1]))
    y = rng.poisson(rate)
    model = MoEPoissonRegressor(
        n_experts=2,
        expert_estimator=PoissonRegressor(alpha=0),
        gate_features=[0],
        expert_features=[1],
        random_state=0,
        n_init=1,
    ).fit(X, y)
    far = np.array([[5000.0, 5500.0]])
    with np.errstate(over="ignore"):
        rates = np.array([e.predict(far[:, [1]])[0] for e in model.experts_])
    gate = model.predict_gate(far)[0]
    assert np.any(np.isinf(rates) & (gate == 0))  # the case
    used = gate > 0
    expected = np.sum(gate[used] * rates[used])
    assert np.isfinite(expected)
    assert_allclose(model.predict(far), [expected], rtol=1e-10)
    assert_allclose(model.predict_distribution(far).mean(), [expected], rtol=1e-10)


def test_collapse_warning_with_a_tied_variance_does_not_advise_it():
    X, y = _regimes(n=100)
    model = MoERegressor(
        2, expert_estimator=DecisionTreeRegressor(), variance_type="tied", n_init=1
    )
    with pytest.warns(UserWarning, match="Limit the expert_estimator") as record:
        model.fit(X, y)
    assert not any("variance_type='tied'" in str(w.message) for w in record)


def test_auto_chooses_the_number_of_experts_by_held_out_log_likelihood():
    # no parameter count, no BIC: each K is fitted on 90% of the samples and
    # scored on the others. One linear expert's score is that of a
    # LinearRegression fitted on the same 90%, with its MSE as the variance
    X, y = _regimes(n=400)
    model = MoERegressor(expert_estimator=LinearRegression(), random_state=0)
    model.fit(X, y)
    assert model.n_experts_ == 2  # the two regimes
    assert np.isnan(model.n_experts_bic_).all()
    scores = model.n_experts_scores_
    assert scores.shape == (4,) and model.n_experts_ == np.argmax(scores) + 1
    # the split: the first draw of the model's random state
    shuffled = np.random.RandomState(0).permutation(len(y))
    valid, train = shuffled[:40], shuffled[40:]
    line = LinearRegression().fit(X[train], y[train])
    variance = np.mean((y[train] - line.predict(X[train])) ** 2)
    expected = np.mean(
        -0.5 * np.log(2 * np.pi * variance)
        - (y[valid] - line.predict(X[valid])) ** 2 / (2 * variance)
    )
    assert_allclose(scores[0], expected, rtol=1e-10)
    # with sample weights: the fit and its held-out score weigh the rows
    weight = np.random.RandomState(3).choice([0.2, 5.0], size=len(y))
    model = MoERegressor(expert_estimator=LinearRegression(), random_state=0)
    scores = model.fit(X, y, sample_weight=weight).n_experts_scores_
    line = LinearRegression().fit(X[train], y[train], sample_weight=weight[train])
    residuals = y[train] - line.predict(X[train])
    variance = np.average(residuals**2, weights=weight[train])
    held_out = -0.5 * np.log(2 * np.pi * variance) - (
        y[valid] - line.predict(X[valid])
    ) ** 2 / (2 * variance)
    assert_allclose(scores[0], np.average(held_out, weights=weight[valid]), rtol=1e-10)
    # a line is one expert
    rng = np.random.RandomState(1)
    X_line = rng.randn(300, 3)
    y_line = X_line @ [1.0, 2.0, 3.0] + rng.randn(300)
    line_model = MoERegressor(expert_estimator=LinearRegression(), random_state=0)
    assert line_model.fit(X_line, y_line).n_experts_ == 1


def test_auto_fits_the_training_part_with_its_weights_in_their_own_units():
    # the candidates are fitted on the training 90% with those rows' weights
    # in their own units (they sum to 874 there, 968 in all): one Ridge
    # expert's score is that of a Ridge fitted on those rows with those
    # weights. A penalty as strong as alpha=2000 tells the units apart: the
    # sum of all rows' weights in place of the training part's would give a
    # score 0.008 nats higher
    X, y = _regimes(n=400)
    weight = np.random.RandomState(3).choice([0.2, 5.0], size=len(y))
    model = MoERegressor(expert_estimator=Ridge(alpha=2000.0), n_init=1, random_state=0)
    scores = model.fit(X, y, sample_weight=weight).n_experts_scores_
    # the split: the first draw of the model's random state
    shuffled = np.random.RandomState(0).permutation(len(y))
    valid, train = shuffled[:40], shuffled[40:]
    ridge = Ridge(alpha=2000.0).fit(X[train], y[train], sample_weight=weight[train])
    residuals = y[train] - ridge.predict(X[train])
    variance = np.average(residuals**2, weights=weight[train])
    held_out = -0.5 * np.log(2 * np.pi * variance) - (
        y[valid] - ridge.predict(X[valid])
    ) ** 2 / (2 * variance)
    assert_allclose(scores[0], np.average(held_out, weights=weight[valid]), rtol=1e-10)


def test_auto_fits_the_chosen_number_of_experts_again_on_all_samples():
    # each candidate is fitted on 90% of the samples, but the chosen number is
    # fitted again on all of them (with their weights): one LinearRegression
    # expert is then a LinearRegression fitted on every row (fitted on the
    # training part alone, its predictions are 0.19 away)
    rng = np.random.RandomState(1)
    X = rng.randn(100, 3)
    y = X @ [1.0, 2.0, 3.0] + rng.randn(100)
    weight = np.random.RandomState(3).choice([0.2, 5.0], size=100)
    model = MoERegressor(expert_estimator=LinearRegression(), n_init=1, random_state=0)
    model.fit(X, y, sample_weight=weight)
    assert model.n_experts_ == 1
    line = LinearRegression().fit(X, y, sample_weight=weight)
    assert_allclose(model.predict(X), line.predict(X), rtol=1e-10)


def test_auto_needs_held_out_samples():
    X, y = _regimes(n=60)
    model = MoERegressor(expert_estimator=LinearRegression(), validation_fraction=0)
    with pytest.raises(ValueError, match="validation_fraction=0 leaves none"):
        model.fit(X, y)
    model.set_params(n_experts=2).fit(X, y)  # an integer needs none
    assert not hasattr(model, "n_experts_scores_")


def test_one_standard_error_rule():
    from skmoe._auto import _one_standard_error

    rng = np.random.RandomState(0)
    base = rng.randn(40)
    weight = np.full(40, 1 / 40)
    noise = rng.randn(40)
    noise = (noise - noise.mean()) / noise.std()  # mean 0, spread 1
    # K=2 short of K=3 by 0.05 on average, with a spread of 1: within one
    # standard error (1 / sqrt(40) = 0.16), so the fewer experts win
    close = np.array([base - 3.0, base - 0.05 + noise, base, base - np.inf])
    assert _one_standard_error(close, weight) == 1
    # short by 1.0 on average: outside it, so the best wins
    far = np.array([base - 3.0, base - 1.0 + 0.1 * noise, base, base - 0.2])
    assert _one_standard_error(far, weight) == 2
    # at the boundary: a mean shortfall just within scipy's standard error of
    # the mean (n - 1 in the variance) keeps the fewer experts, one just beyond
    # it the best. With n in the variance the error would be sqrt(39 / 40) of
    # scipy's, and both would keep the best
    for factor, expected in [(1 - 1e-3, 0), (1 + 1e-3, 1)]:
        shortfall = noise + factor * sem(noise)
        pair = np.array([base - shortfall, base])
        assert _one_standard_error(pair, weight) == expected
    # shortfalls of 1e-7 in every sample (a probability floor's) are within tol
    tiny = np.array([base - 3.0, base - 1e-7, base])
    assert _one_standard_error(tiny, weight, tol=0.0) == 2
    assert _one_standard_error(tiny, weight, tol=1e-5) == 1
    # one held-out sample cannot tell a difference from noise: the fewest
    one = np.array([[-5.0], [-1.0], [-0.5]])
    assert _one_standard_error(one, np.array([1.0])) == 0


def test_one_standard_error_rule_counts_the_weighted_rows_by_kish():
    # 10 held-out rows of weight 1 beside 90 of weight 1e-12: the rule is the
    # unweighted one on the 10 rows, whose standard error is scipy's sem of
    # their shortfalls (Kish's effective number 10, not the 100 rows: with 100
    # the error would be sqrt(9 / 99) of it, and a shortfall within sem kept
    # the best)
    from skmoe._auto import _one_standard_error

    rng = np.random.RandomState(1)
    noise = rng.randn(10)
    noise -= noise.mean()
    weight = np.r_[np.ones(10), np.full(90, 1e-12)]
    weight /= weight.sum()
    base = rng.randn(100)
    for factor, expected in [(1 - 1e-3, 0), (1 + 1e-3, 1)]:
        shortfall = np.r_[noise + factor * sem(noise), np.zeros(90)]
        pair = np.array([base - shortfall, base])
        assert _one_standard_error(pair, weight) == expected


def test_one_standard_error_rule_never_picks_a_candidate_of_nan_mean():
    # held-out log-likelihoods of +inf at one row and -inf at another (a
    # density at a variance of 0 on and off its line) average to NaN: such a
    # candidate is not the best (np.argmax would take the NaN), and the
    # others are compared with each other. Candidate 1 beats 0 by 2 nats at
    # every row (a standard error of 0), so it is the answer
    from skmoe._auto import _one_standard_error

    base = np.random.RandomState(2).randn(20)
    broken = base.copy()
    broken[:2] = [np.inf, -np.inf]
    per_sample = np.array([base - 2.0, base, broken])
    assert _one_standard_error(per_sample, np.full(20, 1 / 20)) == 1


def test_auto_passes_over_a_candidate_with_a_non_finite_held_out_score(
    monkeypatch,
):
    # candidates whose held-out log-likelihood is NaN at a row (fits that
    # broke down; the experts' floors keep a natural fit finite, so the
    # private E-step is wrapped to give them) score -inf and are passed over
    # without a RuntimeWarning (inf - inf in a shortfall's spread); the
    # others are compared by the one-standard-error rule, here recomputed
    # with scipy's sem of the paired shortfalls. A line: one expert, unbroken
    import skmoe._auto

    real = skmoe._auto.e_step
    held_out = {}

    def broken(problem, gate_params, expert_params):
        log_norm, *rest = real(problem, gate_params, expert_params)
        n_experts = gate_params["coef"].shape[1]
        if n_experts <= 2:
            log_norm = log_norm.copy()
            log_norm[0] = np.nan
        held_out[n_experts] = np.asarray(log_norm, dtype=np.float64).copy()
        return (log_norm, *rest)

    rng = np.random.RandomState(1)
    X = rng.randn(300, 3)
    y = X @ [1.0, 2.0, 3.0] + rng.randn(300)
    options = dict(expert_estimator=LinearRegression(), random_state=0)
    plain = MoERegressor(**options).fit(X, y)
    assert plain.n_experts_ == 1
    monkeypatch.setattr(skmoe._auto, "e_step", broken)
    model = MoERegressor(**options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X, y)
    scores = model.n_experts_scores_
    assert np.all(scores[:2] == -np.inf)
    assert_allclose(scores[2:], plain.n_experts_scores_[2:], rtol=1e-12)
    best = max((3, 4), key=lambda k: held_out[k].mean())
    expected = next(
        k
        for k in (3, 4)
        if np.mean(held_out[best] - held_out[k])
        <= sem(held_out[best] - held_out[k]) + model.tol
    )
    assert model.n_experts_ == expected
    assert np.all(np.isfinite(model.predict(X)))
    # every candidate non-finite at a held-out row: the fewest experts
    from skmoe._auto import _one_standard_error

    per_sample = np.array([held_out[k] for k in (1, 2, 3, 4)])
    per_sample[2:, 5] = -np.inf
    weight = np.full(per_sample.shape[1], 1 / per_sample.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert _one_standard_error(per_sample, weight) == 0


def test_auto_leaves_out_held_out_samples_every_candidate_scores_minus_inf():
    # a held-out row far off in X (1e154: its residual's square overflows)
    # scored -inf under every candidate and made every mean -inf, and the
    # one-standard-error rule, with no candidate to compare, kept the fewest
    # experts without a word. The candidates are fitted without the held-out
    # rows, so they are the fits of the same rows with that x ordinary: left
    # out of the comparison, the other 9 choose as those do, with a warning
    X, y, valid = _two_lines_and_held_out_rows()
    options = dict(
        gate="constant", expert_estimator=LinearRegression(), n_init=1, random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sound = MoERegressor(**options).fit(X, y)
    assert not [w for w in caught if "n_experts='auto'" in str(w.message)]
    assert np.all(np.isfinite(sound.n_experts_scores_)) and sound.n_experts_ == 2
    X[valid[0], 0] = 1e154
    y[valid[0]] = 0.0
    model, message = _auto_warning(MoERegressor(**options), X, y)
    assert message.startswith(
        "n_experts='auto' left 1 of its 10 held-out samples out of its comparison: "
        "a candidate scored them a log-likelihood of -inf"
    )
    # the 9 others: finite under every candidate, as in the sound fit, and
    # the same choice
    assert np.all(np.isfinite(model.n_experts_scores_)) and model.n_experts_ == 2
    assert np.isfinite(model.log_likelihood_)
    assert np.all(np.isfinite(model.expert_variance_))


def test_auto_leaves_out_a_held_out_sample_one_candidate_scores_finitely(
    monkeypatch,
):
    # a held-out x of 1e154 under slopes 3 and -2: one expert (slope about
    # 0.5) scores it a finite -1e306, two to four (slopes 3, -2: squares that
    # overflow) -inf. Only -inf at every candidate counted as a far outlier,
    # so 2 to 4 were passed over and one expert was kept without a word. It
    # is left out: the other 9 rows are compared as where that x is ordinary
    # (the same fits), by the one-standard-error rule recomputed with scipy
    from scipy.stats import norm

    _, per_sample = spy_on_auto(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1))
    y = np.where(X[:, 0] > 0, 3 * X[:, 0], -2 * X[:, 0]) + 0.1 * rng.normal(size=100)
    # the held-out rows: auto's first draw from random_state=0
    valid = np.sort(np.random.RandomState(0).permutation(100)[:10])
    options = dict(
        gate="constant", expert_estimator=LinearRegression(), n_init=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MoERegressor(**options).fit(X, y)
    ordinary = per_sample[-1]
    X[valid[0], 0] = 1e154
    y[valid[0]] = 0.0
    # one expert: least squares on the training rows, its MLE variance; the
    # far row's log-density is finite under it
    train = np.setdiff1d(np.arange(100), valid)
    line = LinearRegression().fit(X[train], y[train])
    scale = np.sqrt(np.mean((y[train] - line.predict(X[train])) ** 2))
    with np.errstate(all="ignore"):
        far = norm.logpdf(y[valid[0]] - line.predict(X[valid[:1]]), scale=scale)
    assert np.isfinite(far) and far < -1e300
    model = MoERegressor(**options)
    with np.errstate(all="ignore"), pytest.warns(SkmoeWarning) as record:
        model.fit(X, y)
    (message,) = [
        str(w.message) for w in record if "n_experts='auto'" in str(w.message)
    ]
    assert message.startswith(
        "n_experts='auto' left 1 of its 10 held-out samples out of its comparison"
    )
    scores = per_sample[-1]
    assert_allclose(scores, ordinary[:, 1:], rtol=1e-12)
    assert_allclose(model.n_experts_scores_, scores.mean(axis=1), rtol=1e-12)
    best = int(np.argmax(scores.mean(axis=1)))
    expected = 1 + next(
        k
        for k in range(4)
        if np.mean(scores[best] - scores[k])
        <= sem(scores[best] - scores[k]) + model.tol
    )
    assert model.n_experts_ == expected > 1


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
def test_auto_centers_its_candidates_gates_on_their_training_rows(monkeypatch, gate):
    # the candidates' gates saw the features centered at their mean over
    # every sample, the held-out ones too: a held-out x of 1e10 moved the
    # mean to 1e8, the training rows' gate features lost their digits, and
    # the other held-out rows' scores moved by 0.8 nats (softmax). Centered
    # on the training rows, the candidates are the fits of the same rows
    # whatever that x is: the other 9 rows score as where it is ordinary
    # (that row itself, far below under every candidate, is left out)
    _, per_sample = spy_on_auto(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1))
    y = 5 * np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=100)
    # the held-out rows: auto's first draw from random_state=0
    valid = np.sort(np.random.RandomState(0).permutation(100)[:10])
    options = dict(
        gate=gate, expert_estimator=LinearRegression(), n_init=1, random_state=0
    )
    scores, ordinary = _scores_with_a_far_held_out_x(options, X, y, valid, per_sample)
    assert np.all(np.isfinite(scores[:, 1:]))
    assert_allclose(scores[:, 1:], ordinary[:, 1:], rtol=1e-12)


def _scores_with_a_far_held_out_x(options, X, y, valid, per_sample, column=0):
    # the held-out scores n_experts='auto' compares (per_sample, from
    # spy_on_auto), on X, then with the first held-out row's x at 1e10 in
    # column; the same shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MoERegressor(**options).fit(X, y)
        ordinary = per_sample[-1]
        X[valid[0], column] = 1e10
        MoERegressor(**options).fit(X, y)
    scores = per_sample[-1]
    if scores.shape[1] == ordinary.shape[1] - 1:
        # (that row left out of the comparison: scored more than
        # AUTO_FAR_NATS below every candidate's median held-out score)
        scores = np.insert(scores, 0, np.nan, axis=1)
    assert scores.shape == ordinary.shape
    return scores, ordinary


def test_auto_keeps_the_fewest_where_every_held_out_sample_scores_minus_inf():
    # every held-out x far off (1e154): nothing to compare; the fewest
    # experts are kept, and a warning says so
    X, y, valid = _two_lines_and_held_out_rows()
    X[valid, 0] = 1e154
    y[valid] = 0.0
    model = MoERegressor(
        gate="constant", expert_estimator=LinearRegression(), n_init=1, random_state=0
    )
    model, message = _auto_warning(model, X, y)
    assert message.startswith(
        "n_experts='auto' could not compare its candidates: a candidate scored a "
        "held-out log-likelihood of -inf at each of the 10 held-out samples"
    )
    assert "it kept the fewest experts, 1." in message
    assert model.n_experts_ == 1 and np.all(model.n_experts_scores_ == -np.inf)


def _two_lines_and_held_out_rows():
    # 100 rows of two lines meeting at x=0, and the 10 rows n_experts='auto'
    # holds out at random_state=0 (its first draw), sorted
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1))
    y = 5 * np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=100)
    return X, y, np.sort(np.random.RandomState(0).permutation(100)[:10])


def _auto_warning(model, X, y):
    # the model fitted, and the one warning of its n_experts='auto'
    with np.errstate(all="ignore"), pytest.warns(SkmoeWarning) as record:
        model.fit(X, y)
    (message,) = [
        str(w.message) for w in record if "n_experts='auto'" in str(w.message)
    ]
    return model, message


def test_auto_classifier_keeps_every_class_in_its_fits():
    # the held-out rows stay in the candidates' fits with weight 0, so a class
    # whose only sample is held out is still known to every clone (a
    # LogisticRegression on the training part alone raised "needs samples of
    # at least 2 classes")
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(40, 3))
    y = np.zeros(40, dtype=int)
    y[7] = 1
    seed = next(
        s for s in range(100) if 7 in np.random.RandomState(s).permutation(40)[:4]
    )
    model = MoEClassifier(
        "auto", expert_estimator=LogisticRegression(), n_init=1, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert np.all(np.isfinite(model.n_experts_scores_))
    assert model.classes_.tolist() == [0, 1]
    assert all(expert.classes_.tolist() == [0, 1] for expert in model.experts_)
    proba = model.predict_proba(X)
    assert proba.shape == (40, 2)
    # the lone sample's class stays likelier at its own row than on average,
    # and (an unpenalized intercept's score equation) its mean probability is
    # its share 1/40
    assert proba[7, 1] > 2 / 40
    assert model.n_experts_ == 1  # (one sample of a class: one expert is chosen)
    assert proba[:, 1].mean() == pytest.approx(1 / 40, abs=1e-3)


@pytest.mark.parametrize("family", ["normal", "gamma", "poisson"])
def test_auto_fits_its_candidates_without_the_held_out_rows(monkeypatch, family):
    # n_experts="auto" fits each candidate as if the held-out rows were
    # absent: with one held-out x far out (1e154), the other
    # held-out rows score as they do where that row is ordinary (the same
    # candidates' fits), and one normal expert's score is least squares on the
    # other rows with its MLE variance. Kept in the fits at weight 0, the far
    # row's inf squared residual made every expert's variance NaN (0 * inf:
    # every held-out row scored -inf), a Gamma fit raised "Input
    # sample_weight contains NaN", and the Poisson candidates' fits moved
    from scipy.stats import norm

    held, per_sample = spy_on_auto(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1))
    if family == "normal":
        Estimator, expert = MoERegressor, LinearRegression()
        y = 5 * np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0])
        y += 0.1 * rng.normal(size=100)
    elif family == "gamma":
        Estimator, expert = MoEGammaRegressor, GammaRegressor(alpha=1e-4)
        y = rng.gamma(2.0, np.exp(0.5 + 0.6 * X[:, 0]) / 2)
    else:
        Estimator, expert = MoEPoissonRegressor, PoissonRegressor(alpha=1e-4)
        y = rng.poisson(np.exp(0.5 + 0.6 * X[:, 0])).astype(float)
    params = dict(gate="constant", expert_estimator=expert, random_state=0, n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Estimator("auto", **params).fit(X, y)
    valid, ordinary = held[-1], per_sample[-1]  # (the held-out rows are last)
    assert valid.shape == (10,) and np.all(np.isfinite(ordinary))
    X[valid[0], 0] = 1e154
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        Estimator("auto", **params).fit(X, y)
    np.testing.assert_array_equal(held[-1], valid)  # (one draw, as before)
    scores = per_sample[-1]
    # (the far row, -inf under every candidate, is left out of the comparison)
    assert_allclose(scores, ordinary[:, 1:], rtol=1e-12)
    if family == "normal":
        train = np.setdiff1d(np.arange(100), valid)
        line = LinearRegression().fit(X[train], y[train])
        scale = np.sqrt(np.mean((y[train] - line.predict(X[train])) ** 2))
        residual = y[valid[1:]] - line.predict(X[valid[1:]])
        assert_allclose(scores[0], norm.logpdf(residual, scale=scale), rtol=1e-9)


@pytest.mark.parametrize("n", [3, 4])
def test_auto_on_tiny_data_keeps_one_expert(n):
    # one held-out sample: scores that differ in their 15th digit chose 2 or
    # 3 experts for a line through n points
    X, y = _regimes(n=n)
    model = MoERegressor(expert_estimator=LinearRegression(), n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert model.fit(X, y).n_experts_ == 1


def test_auto_scores_every_candidate_up_to_the_rows_left_to_fit():
    # one of n rows held out (validation_fraction=0.1 rounds up): K up to
    # n - 1 experts are fitted and scored, K above it is -inf (documented);
    # one expert's score is least squares on the other rows, with their MLE
    # variance, at the held-out row
    from scipy.stats import norm

    rng = np.random.RandomState(0)
    for n in (4, 5):
        X = rng.uniform(-3, 3, (n, 1))
        y = X[:, 0] + rng.randn(n)
        model = MoERegressor(
            expert_estimator=LinearRegression(), n_init=1, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        scores = model.n_experts_scores_
        assert np.all(np.isfinite(scores[: n - 1]))
        assert np.all(np.isneginf(scores[n - 1 :]))
        by_hand = []
        for i in range(n):
            rest = np.arange(n) != i
            line = LinearRegression().fit(X[rest], y[rest])
            scale = np.sqrt(np.mean((y[rest] - line.predict(X[rest])) ** 2))
            by_hand.append(norm.logpdf(y[i], line.predict(X[i : i + 1])[0], scale))
        assert np.min(np.abs(np.array(by_hand) - scores[0])) < 1e-6 * abs(scores[0])


@pytest.mark.parametrize(
    "Estimator, expert",
    [
        (MoERegressor, Ridge(alpha=-1.0)),
        (MoERegressor, Ridge(solver="bogus")),
        (MoERegressor, DecisionTreeRegressor(criterion="bogus")),
        (MoEClassifier, LogisticRegression(C=-1.0)),
        (MoEPoissonRegressor, DecisionTreeRegressor(max_depth=-1)),
        (MoEGammaRegressor, DecisionTreeRegressor(max_depth=-1)),
    ],
)
def test_expert_estimator_parameters_are_validated(Estimator, expert):
    # scikit-learn's own error, as its meta-estimators give; Ridge(alpha=-1)
    # fitted silently, Ridge(solver="bogus") failed with an UnboundLocalError
    rng = np.random.RandomState(0)
    X = rng.randn(60, 2)
    y = (X[:, 0] > 0).astype(int) if Estimator is MoEClassifier else np.exp(X[:, 0])
    model = Estimator(2, expert_estimator=expert, n_init=1, random_state=0)
    with pytest.raises(InvalidParameterError, match=r"parameter of \w+ must be"):
        model.fit(X, y)


def test_largest_candidate_warning_names_a_comparison_that_works():
    # it said "e.g. by bic(X, y)", which raises for estimator experts
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(500, 2))
    y = (np.sin(3 * X[:, 0]) + X[:, 1] > 0).astype(int)
    tree = DecisionTreeClassifier(max_depth=2)
    with pytest.warns(UserWarning, match="the most it tries") as caught:
        model = MoEClassifier("auto", expert_estimator=tree, random_state=0)
        model.fit(X, y)
    (message,) = [str(w.message) for w in caught if "most it tries" in str(w.message)]
    assert "log_likelihood_samples on held-out rows" in message
    assert "bic" not in message
    with pytest.raises(ValueError, match="bic, aic and icl count"):
        model.bic(X, y)
    model.log_likelihood_samples(X, y)  # what it names works


def test_count_experts_at_their_floor_on_positive_counts_warn():
    # a LinearRegression predicted rates of 0 or less at 13 rows of positive
    # counts: -21.7 nats each (-1453 against a PoissonRegressor's -990),
    # without a word
    rng = np.random.RandomState(1)
    X = rng.uniform(-2, 2, size=(600, 1))
    y = rng.poisson(np.exp(1.5 * X[:, 0]))
    with pytest.warns(UserWarning, match="on 13 training rows of positive counts"):
        model = MoEPoissonRegressor(1, expert_estimator=LinearRegression()).fit(X, y)
    rates = model.experts_[0].predict(X)
    assert np.count_nonzero((rates <= 0) & (y > 0)) == 13
    for expert in (
        PoissonRegressor(),  # positive rates
        DecisionTreeRegressor(max_depth=3, criterion="poisson"),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            MoEPoissonRegressor(2, expert_estimator=expert, random_state=0).fit(X, y)


def test_gaussian_naive_bayes_experts_fit_without_numpy_warnings():
    # a class of zero weight in an expert has prior 0, whose log in
    # GaussianNB.predict_proba warned 108 times a fit
    from sklearn.naive_bayes import GaussianNB

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = MoEClassifier(
            n_experts=3, top_k=1, expert_estimator=GaussianNB(), random_state=0
        ).fit(X, y)
    assert model.score(X, y) > 0.95


def test_an_expert_estimators_error_names_the_expert():
    # scikit-learn's words alone named neither the expert nor its rows
    X = np.random.RandomState(0).randn(40, 2)
    tree = DecisionTreeRegressor(criterion="poisson", max_depth=2)
    reg = MoEPoissonRegressor(2, expert_estimator=tree, n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skmoe's: y is all zero
        with pytest.raises(ValueError, match="Sum of y is not positive") as raised:
            reg.fit(X, np.zeros(40))
    assert raised.value.__notes__[-1] == (
        "(raised by the clone of expert_estimator that fits expert 0, on 40 of "
        "the 40 rows, weighted by their responsibilities)"
    )


def test_polars_categorical_dtypes_reach_the_estimators():
    # a polars Categorical (or Enum) of numeric strings reached the clones as
    # floats (NumPy reads "5" as 5.0), where the plain estimator given the same
    # frame reads it as categorical; a pandas category column kept its dtype
    pl = pytest.importorskip("polars")
    pytest.importorskip("pandas")
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    city = rng.integers(0, 20, 600)
    x = rng.normal(size=600)
    y = x + rng.normal(0, 3, 20)[city] + 0.3 * rng.normal(size=600)
    names = [str(c + 5) for c in city]
    expert = HistGradientBoostingRegressor(random_state=0)
    for dtype in (pl.Categorical, pl.Enum(sorted(set(names)))):
        frame = pl.DataFrame({"x": x, "city": pl.Series(names, dtype=dtype)})
        plain = clone(expert).fit(frame, y)
        assert list(plain.is_categorical_) == [False, True]
        model = MoERegressor(1, expert_estimator=expert, n_init=1).fit(frame, y)
        assert list(model.experts_[0].is_categorical_) == [False, True]
        # one expert, every weight one: the plain estimator's predictions
        assert_allclose(model.predict(frame), plain.predict(frame), rtol=1e-12)
        # a city the fit did not see: a category of its own, as for the plain
        new = pl.DataFrame(
            {"x": [0.0, 0.0], "city": pl.Series(["6", "40"], dtype=pl.Categorical)}
        )
        if dtype is pl.Categorical:
            assert_allclose(model.predict(new), plain.predict(new), rtol=1e-12)


def test_category_codes_of_numeric_strings_do_not_depend_on_the_rows():
    # categories that are strings ("5") while the experts' values are the
    # floats NumPy reads (5.0): every value was appended to the fit's dtype as
    # an unknown category, in the order of the rows at hand, so an estimator
    # that reads the codes (as LightGBM and XGBoost do) got other codes at
    # predict than at fit; a polars Categorical and a pandas category of
    # strings alike
    pl = pytest.importorskip("polars")
    pd = pytest.importorskip("pandas")
    from sklearn.base import RegressorMixin

    class MeanPerCode(RegressorMixin, BaseEstimator):
        def fit(self, X, y, sample_weight=None):
            codes = X["city"].cat.codes.to_numpy()
            self.means_ = {k: y[codes == k].mean() for k in np.unique(codes)}
            return self

        def predict(self, X):
            codes = X["city"].cat.codes.to_numpy()
            return np.array([self.means_.get(k, np.nan) for k in codes])

    rng = np.random.default_rng(0)
    city = rng.integers(0, 4, 200)
    y = 10.0 * city + rng.normal(size=200)
    x = rng.normal(size=200)
    names = [f"0{c + 5}" if c == 0 else str(c + 5) for c in city]  # "05": 5.0
    means = np.array([y[city == c].mean() for c in range(4)])
    frames = [
        pl.DataFrame({"x": x, "city": pl.Series(names, dtype=pl.Categorical)}),
        pl.DataFrame(
            {
                "x": x,
                "city": pl.Series(names, dtype=pl.Enum(["x", *sorted(set(names))])),
            }
        ),
        pd.DataFrame({"x": x, "city": pd.Categorical(names)}),
    ]
    for frame in frames:
        model = MoERegressor(1, expert_estimator=MeanPerCode(), n_init=1)
        model.fit(frame, y)
        assert_allclose(model.predict(frame), means[city], rtol=1e-12)
        for c in range(4):  # rows of one city only
            rows = np.flatnonzero(city == c)[:3]
            part = frame.iloc[rows] if isinstance(frame, pd.DataFrame) else frame[rows]
            assert_allclose(model.predict(part), means[c], rtol=1e-12)


def test_missing_categories_get_scikit_learns_nan_error():
    # a null in a polars Categorical, a "nan" category of a pandas frame: X
    # contains NaN (scikit-learn's error), not pandas' "categories cannot be
    # null" from the categories the experts are given
    pl = pytest.importorskip("polars")
    pd = pytest.importorskip("pandas")
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    city = rng.integers(0, 6, 300)
    x = rng.normal(size=300)
    y = x + city + 0.3 * rng.normal(size=300)
    frames = [
        pl.DataFrame(
            {
                "x": x,
                "city": pl.Series(
                    [None if c == 5 else str(c + 5) for c in city],
                    dtype=pl.Categorical,
                ),
            }
        ),
        pd.DataFrame(
            {
                "x": x,
                "city": pd.Categorical(["nan" if c == 5 else str(c) for c in city]),
            }
        ),
    ]
    model = MoERegressor(1, expert_estimator=HistGradientBoostingRegressor(), n_init=1)
    for frame in frames:
        with pytest.raises(ValueError, match="Input X contains NaN"):
            model.fit(frame, y)


def test_a_stacking_ensemble_with_its_default_final_estimator_is_taken():
    # final_estimator=None (RidgeCV, LogisticRegression once fitted): scikit-learn
    # hides predict and predict_proba until then, and the parameter check
    # refused the ensemble as not implementing them
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.model_selection import KFold

    X, y = _regimes()
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    stack = StackingRegressor([("ridge", Ridge()), ("lasso", Lasso(0.1))], cv=KFold(2))
    one = MoERegressor(1, expert_estimator=stack).fit(X, y, sample_weight=w)
    by_hand = clone(stack).fit(X, y, sample_weight=w)
    assert_allclose(one.experts_[0].predict(X), by_hand.predict(X), rtol=1e-9)
    labels = y > 0
    stack = StackingClassifier(
        [("lr", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=2))],
        cv=KFold(2),
    )
    one = MoEClassifier(1, expert_estimator=stack).fit(X, labels, sample_weight=w)
    by_hand = clone(stack).fit(X, labels, sample_weight=w)
    assert_allclose(one.predict_proba(X), by_hand.predict_proba(X), rtol=1e-9)


_PREDICT_CALLS = []


class _CountingTree(DecisionTreeRegressor):
    """A tree that counts its ``predict`` calls per fitted instance."""

    def predict(self, X, check_input=True):
        self._calls = getattr(self, "_calls", 0) + 1
        _PREDICT_CALLS.append(self._calls)
        return super().predict(X, check_input=check_input)


def test_each_refit_estimator_predicts_once_in_a_fit():
    # EM asks for a refit's predictions in the M-step's variances, the E-step,
    # keep_better and the restarts' checks: remembered, each clone predicts once
    # on the fit's design (the chosen experts once more, on the final E-step's)
    X, _ = _regimes(600)
    y = _steps(X)
    _PREDICT_CALLS.clear()
    model = MoERegressor(
        2, expert_estimator=_CountingTree(max_depth=2), n_init=3, random_state=0
    ).fit(X, y)
    assert len(_PREDICT_CALLS) >= 2 * model.n_iter_
    assert max(_PREDICT_CALLS) <= 2
    assert _PREDICT_CALLS.count(2) <= model.n_experts_


def test_remembered_predictions_are_those_of_that_estimator_on_that_design():
    from skmoe.experts.estimator import RegressorExperts

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    trees = [
        DecisionTreeRegressor(max_depth=depth).fit(X, X[:, 0] * depth)
        for depth in (1, 3)
    ]
    family = RegressorExperts(DecisionTreeRegressor(), variance_floor=1e-6)
    params = {"estimators": np.array(trees, dtype=object), "variance": np.ones(2)}

    def design(X):
        return np.asfortranarray(np.vstack([np.ones(len(X)), X.T]))

    first, second = design(X), design(X[::-1] + 1.0)
    for x, d in [(X, first), (X[::-1] + 1.0, second), (X, first)]:
        expected = np.stack([tree.predict(x) for tree in trees])
        assert_allclose(family.means(np, d, params), expected, rtol=0, atol=0)
    # a new estimator at the same position is predicted afresh
    refit = dict(params, estimators=np.array(trees[::-1], dtype=object))
    expected = np.stack([tree.predict(X) for tree in trees[::-1]])
    assert_allclose(family.means(np, first, refit), expected, rtol=0, atol=0)
    # the family pickles (joblib's workers) with outputs remembered
    copy = pickle.loads(pickle.dumps(family))
    assert_allclose(copy.means(np, first, refit), expected, rtol=0, atol=0)


class _FullRowsTree(DecisionTreeRegressor):
    """A tree that counts, per fitted instance, its ``predict`` calls on all
    ``n_rows`` rows (not on a block of them)."""

    n_rows = 0
    calls = []

    def predict(self, X, check_input=True):
        if X.shape[0] == self.n_rows:
            self._full = getattr(self, "_full", 0) + 1
            self.calls.append(self._full)
        return super().predict(X, check_input=check_input)


def _full_row_predicts(n_jobs=None, backend=None):
    """The per-instance counts of full-row predictions in a fit of 2 trees."""
    X, _ = _regimes(3000)
    y = _steps(X)
    _FullRowsTree.n_rows, _FullRowsTree.calls = X.shape[0], []
    model = MoERegressor(
        2,
        expert_estimator=_FullRowsTree(max_depth=2),
        n_init=2,
        max_iter=30,
        random_state=0,
        n_jobs=n_jobs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if backend is None:
            model.fit(X, y)
        else:
            from joblib import parallel_backend

            with parallel_backend(backend, n_jobs=n_jobs):
                model.fit(X, y)
    return _FullRowsTree.calls


def test_a_blocked_e_step_leaves_the_remembered_predictions(monkeypatch):
    # an E-step over blocks of rows (E_STEP_BLOCK, 1024 rows at the least)
    # asks for each block's predictions: they are not remembered, and do not
    # evict the full design's, which the variances and keep_better ask for
    import skmoe._em

    monkeypatch.setattr(skmoe._em, "E_STEP_BLOCK", 1)
    calls = _full_row_predicts()
    n_clones = calls.count(1)  # (each instance's first full-row prediction)
    assert n_clones > 50
    assert len(calls) < 1.25 * n_clones


def test_restarts_in_threads_keep_their_own_remembered_predictions():
    # restarts on joblib's threading backend share the family: each thread
    # remembers its own outputs, not evicting another thread's
    calls = _full_row_predicts(n_jobs=2, backend="threading")
    n_clones = calls.count(1)
    assert n_clones > 50
    assert len(calls) < 1.25 * n_clones


def test_remembered_outputs_past_their_byte_budget_are_not_kept(monkeypatch):
    # a classifier's remembered predict_proba, (n_samples, n_classes) per
    # expert, raised a fit's peak memory; past REMEMBERED_BYTES none are kept
    import tracemalloc

    import skmoe.experts.estimator as estimator_module

    rng = np.random.RandomState(0)
    X = rng.standard_normal((6000, 3))
    labels = np.clip(np.floor((X[:, 0] + 3) / 6 * 10), 0, 9).astype(int)

    def fit():
        model = MoEClassifier(
            2,
            expert_estimator=DecisionTreeClassifier(max_depth=3),
            max_iter=5,
            random_state=0,
        )
        tracemalloc.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, labels)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak, model.predict_proba(X)

    remembered, proba = fit()
    monkeypatch.setattr(estimator_module, "REMEMBERED_BYTES", 1, raising=False)
    over_budget, same = fit()
    monkeypatch.setattr(estimator_module, "REMEMBERED_SETS", 0)
    none, _ = fit()
    assert_allclose(same, proba, rtol=0, atol=0)
    # (4 remembered (6000, 10) float64 arrays: 1.9 MB, 1.2 MB more at the peak)
    assert remembered > none + 500_000
    assert over_budget < none + 100_000


def test_log_proba_holds_one_experts_probabilities_at_a_time(monkeypatch):
    # each expert's predict_proba is placed in the (K, C, n) output before the
    # next is computed, as before outputs were remembered (a list of all K
    # held a fourth more memory)
    import tracemalloc

    import skmoe.experts.estimator as estimator_module
    from skmoe.experts.estimator import ClassifierExperts

    monkeypatch.setattr(estimator_module, "REMEMBERED_SETS", 0)
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20000, 3))
    labels = np.clip(np.floor((X[:, 0] + 3) / 6 * 10), 0, 9).astype(int)
    trees = [DecisionTreeClassifier(max_depth=d).fit(X, labels) for d in (1, 2, 3, 4)]
    family = ClassifierExperts(DecisionTreeClassifier(), 10)
    design = np.asfortranarray(np.vstack([np.ones(len(X)), X.T]))
    params = {"estimators": np.array(trees, dtype=object)}
    tracemalloc.start()
    try:
        log_proba = family.log_proba(np, design, params)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    expected = np.log(
        np.maximum(np.stack([t.predict_proba(X).T for t in trees]), 1e-10)
    )
    expected -= np.log(np.sum(np.exp(expected), axis=1, keepdims=True))
    assert_allclose(log_proba, expected, rtol=1e-12, atol=1e-12)
    # (the output, np.maximum's and np.log's temporaries, one expert's columns:
    # 3.35 times the output; with all K columns held, 4.1)
    assert peak < 3.7 * log_proba.nbytes


def test_a_blocked_e_step_is_given_the_remembered_predictions(monkeypatch):
    # the E-step's blocks view runs of the fit's design's columns: they are
    # given those rows of its remembered predictions, not predicted again
    import skmoe._em

    monkeypatch.setattr(skmoe._em, "E_STEP_BLOCK", 1)  # blocks of 1024 rows
    X, _ = _regimes(3000)
    y = _steps(X)
    _PREDICT_CALLS.clear()
    model = MoERegressor(
        2, expert_estimator=_CountingTree(max_depth=2), n_init=2, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    monkeypatch.setattr(skmoe._em, "E_STEP_BLOCK", 2**17)
    expected = MoERegressor(
        2,
        expert_estimator=DecisionTreeRegressor(max_depth=2),
        n_init=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected.fit(X, y)
    n_clones = _PREDICT_CALLS.count(1)  # (each clone's first prediction)
    assert n_clones > 50
    # (blocks predicted afresh: 6.1 predictions per clone)
    assert len(_PREDICT_CALLS) < 1.5 * n_clones
    assert_allclose(model.predict(X), expected.predict(X), rtol=0, atol=0)


def test_views_of_the_remembered_design_are_given_their_rows():
    from skmoe.experts.estimator import RegressorExperts

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    trees = [_CountingTree(max_depth=depth).fit(X, X[:, 0] * depth) for depth in (2, 4)]
    params = {"estimators": np.array(trees, dtype=object), "variance": np.ones(2)}
    full = np.vstack([np.ones(len(X)), X.T])
    for order in ("F", "C"):
        family = RegressorExperts(DecisionTreeRegressor(), variance_floor=1e-6)
        design = np.asarray(full, order=order)
        family.means(np, design, params)  # remembered
        for rows in (slice(0, 100), slice(37, 300), slice(10, 250, 3)):
            expected = np.stack([tree.predict(X[rows]) for tree in trees])
            _PREDICT_CALLS.clear()
            got = family.means(np, design[:, rows], params)
            assert_allclose(got, expected, rtol=0, atol=0)
            # (a run of columns is given its rows; a step is predicted)
            assert len(_PREDICT_CALLS) == (2 if rows.step else 0)
        # a copy of other values, and rows in another order, are predicted
        other = np.asarray(full[:, ::-1][:, :50], order=order)
        expected = np.stack([tree.predict(X[::-1][:50]) for tree in trees])
        assert_allclose(family.means(np, other, params), expected, rtol=0, atol=0)
        view = design[:, ::-1][:, :50]
        assert_allclose(family.means(np, view, params), expected, rtol=0, atol=0)
        view = design[1:][:, 5:60]  # (other features: the intercept row left out)
        with pytest.raises(ValueError):
            family.means(np, view, params)


def _tree_family(n=300, depths=(2, 4), seed=0):
    """A regressor family, counting trees fitted to (n, 2) features, their
    params and the design [1, X]^T."""
    from skmoe.experts.estimator import RegressorExperts

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    trees = [_CountingTree(max_depth=d).fit(X, X[:, 0] * d + X[:, 1]) for d in depths]
    params = {"estimators": np.array(trees, dtype=object), "variance": np.ones(2)}
    family = RegressorExperts(DecisionTreeRegressor(), variance_floor=1e-6)
    return family, params, X, np.vstack([np.ones(n), X.T])


def _predicted_by_hand(params, part):
    """Each estimator's own predict on the features of ``part``, a design, in
    its dtype."""
    X = np.asarray(part[1:].T)
    return np.stack([tree.predict(X) for tree in params["estimators"]]).astype(
        part.dtype
    )


def test_designs_that_are_no_run_of_the_remembered_columns_are_predicted():
    # arrays that share the remembered design's memory but are not a run of
    # its columns (other rows, other dtype, other offsets, past its ends) are
    # predicted afresh, never given remembered rows
    family, params, X, full = _tree_family()
    buffer = np.asarray(np.hstack([full, full[:, ::-1], full[:, :7]]), order="C")
    design = buffer[:, 300:600]  # (the remembered design: a view of a buffer)
    family.means(np, design, params)
    parts = {
        "before its first column": buffer[:, 280:330],
        "past its last column": buffer[:, 580:640],
        "rows misaligned": np.lib.stride_tricks.as_strided(
            design[:, 1:], shape=(3, 50), strides=design.strides
        ),
        "other dtype": design.view(np.int64)[:, 10:60],
    }
    for name, part in parts.items():
        got = family.means(np, part, params)
        assert_allclose(got, _predicted_by_hand(params, part), err_msg=name)
    fortran = np.asfortranarray(full)
    family.means(np, fortran, params)
    # (F-order: one column after another; a run of 3 values from the second)
    misaligned = np.lib.stride_tricks.as_strided(
        fortran[1:], shape=(3, 50), strides=fortran.strides
    )
    assert_allclose(
        family.means(np, misaligned, params), _predicted_by_hand(params, misaligned)
    )
    # fewer rows (features): the estimators refuse them, as on a copy
    with pytest.raises(ValueError, match="features"):
        family.means(np, fortran[:-1][:, 5:60], params)
    # a design whose columns repeat one in memory (a zero stride)
    broadcast = np.broadcast_to(full[:, :1], (3, 300))
    family.means(np, broadcast, params)
    part = broadcast[:, 10:60]
    assert_allclose(family.means(np, part, params), _predicted_by_hand(params, part))


def test_remembered_outputs_are_the_last_two_sets_used():
    # 2 sets of K outputs are kept (the M-step's refits and the estimators
    # they may replace), the least recently used evicted first
    family, params, X, design = _tree_family()
    sets = [params["estimators"]]
    for seed in (1, 2):
        sets.append(_tree_family(seed=seed)[1]["estimators"])
    # (sets[1] and [2] were fitted on other X; they predict on this design)

    def predicts(estimators):
        _PREDICT_CALLS.clear()
        got = family.means(np, design, dict(params, estimators=estimators))
        calls = len(_PREDICT_CALLS)
        expected = np.stack([e.predict(X) for e in estimators])
        assert_allclose(got, expected, rtol=0, atol=0)
        return calls

    assert predicts(sets[0]) == 2
    assert predicts(sets[1]) == 2
    assert predicts(sets[0]) == 0  # two sets kept
    assert predicts(sets[2]) == 2  # evicts sets[1], the least recently used
    assert predicts(sets[0]) == 0
    # (in reverse: a third set's first output would evict the second's)
    assert predicts(sets[1][::-1]) == 2


def test_another_design_of_the_same_size_is_remembered_in_its_place():
    family, params, X, full = _tree_family()
    first, second = np.array(full), np.array(full[:, ::-1])
    expected = _predicted_by_hand(params, second)
    family.means(np, first, params)
    for calls in (2, 0):  # (the second design replaces the first)
        _PREDICT_CALLS.clear()
        assert_allclose(family.means(np, second, params), expected, rtol=0, atol=0)
        assert len(_PREDICT_CALLS) == calls
    del first


def test_remembered_outputs_keep_neither_design_nor_estimators_alive():
    import gc
    import weakref

    family, params, X, design = _tree_family()
    family.means(np, design, params)
    tree, design_ref = weakref.ref(params["estimators"][0]), weakref.ref(design)
    del params, design
    gc.collect()
    assert tree() is None
    assert design_ref() is None


def test_remembered_outputs_within_their_byte_budget(monkeypatch):
    # a set is kept where REMEMBERED_SETS sets of its outputs take at most
    # REMEMBERED_BYTES: (2 sets * 2 experts * 300 rows * 8 bytes) = 9600
    import skmoe.experts.estimator as estimator_module

    for budget, calls in [(9600, 0), (9599, 2)]:
        monkeypatch.setattr(estimator_module, "REMEMBERED_BYTES", budget)
        family, params, X, design = _tree_family()
        family.means(np, design, params)
        _PREDICT_CALLS.clear()
        got = family.means(np, design, params)
        assert len(_PREDICT_CALLS) == calls, budget
        assert_allclose(got, _predicted_by_hand(params, design), rtol=0, atol=0)


class _OwnArrayRegressor(RegressorMixin, BaseEstimator):
    """Predicts, on the rows it was fitted to, an array it holds (as an
    estimator that caches its predictions would)."""

    def fit(self, X, y, sample_weight=None):
        self.values_ = np.array(y, dtype=np.float64)
        return self

    def predict(self, X):
        assert X.shape[0] == self.values_.shape[0]
        return self.values_


def test_remembered_outputs_are_read_only_and_the_estimators_arrays_are_not():
    family, params, X, design = _tree_family()
    own = _OwnArrayRegressor().fit(X, X[:, 0])
    estimators = np.array([own, params["estimators"][0]], dtype=object)
    outputs = family._predicted(design, estimators)
    assert own.values_.flags.writeable  # (the estimator's own array)
    again = family._predicted(design, estimators)
    assert not any(output.flags.writeable for output in again)
    assert_allclose(again[0], X[:, 0], rtol=0, atol=0)
    del outputs


def test_an_estimator_in_place_of_a_collected_one_is_predicted():
    # an estimator collected, a new one may get its id: its outputs are its
    # own, and it counts as the one used last
    import gc

    class _Tagged(_CountingTree):
        # (an object size of its own: the freed address is the next one given)
        __slots__ = tuple(f"_slot{i}" for i in range(45))

    family, _, X, design = _tree_family()
    y = X[:, 0] + X[:, 1]

    def means(tree):
        params = {"estimators": np.array([tree], dtype=object), "variance": [1.0]}
        _PREDICT_CALLS.clear()
        got = family.means(np, design, params)
        calls = len(_PREDICT_CALLS)
        assert_allclose(got[0], tree.predict(X), rtol=0, atol=0)
        return calls

    for _ in range(20):
        first = _Tagged(max_depth=1).fit(X, y)
        means(first)
        second = _Tagged(max_depth=2).fit(X, y)
        means(second)  # (the store: first, second)
        address = id(first)
        del first
        gc.collect()
        third = _Tagged(max_depth=4)
        if id(third) == address:
            break
    else:
        pytest.skip("no collected estimator's id was given again")
    assert means(third.fit(X, y)) == 1
    means(_Tagged(max_depth=3).fit(X, y))  # evicts second, the least recent
    assert means(third) == 0
    assert means(second) == 1


def test_features_are_built_only_for_outputs_not_remembered(monkeypatch):
    family, params, X, design = _tree_family()
    built = []
    features = family.features
    monkeypatch.setattr(family, "features", lambda d: built.append(1) or features(d))
    for _ in range(3):
        family.means(np, design, params)
    assert len(built) == 1


def _counted(Estimator):
    """A subclass of ``Estimator`` whose clones count their predictions in its
    ``calls``."""

    class Counted(Estimator):
        calls = 0

        def predict(self, X):
            type(self).calls += 1
            return super().predict(X)

    return Counted


@pytest.mark.parametrize("model", ["regressor", "poisson"])
def test_bic_aic_and_icl_refuse_estimator_experts_before_predicting(model):
    # they predicted every row (the experts' and the gate's) and then refused;
    # a Poisson model fitted with exposures warned about the missing ones too
    from sklearn.exceptions import NotFittedError

    X, y = _regimes(n=120)
    rows = np.random.RandomState(1).uniform(-3, 3, size=(50, 2))  # not cached
    spy, Estimator, target, fit_params = _counted(LinearRegression), MoERegressor, y, {}
    if model == "poisson":
        spy, Estimator = _counted(PoissonRegressor), MoEPoissonRegressor
        target = np.random.RandomState(2).poisson(np.exp(0.3 * X[:, 0]))
        fit_params = {"exposure": np.full(120, 2.0)}
    reg = Estimator(n_experts=2, expert_estimator=spy(), n_init=1, random_state=0)
    with pytest.raises(NotFittedError):
        reg.bic(rows, target[:50])
    reg.fit(X, target, **fit_params)
    expected = (
        "bic, aic and icl count the model's free parameters, and experts "
        "given by expert_estimator have no such count (a tree's or a "
        "kernel model's is not defined). Compare models by held-out "
        "score or log_likelihood_samples instead."
    )
    for method in (reg.bic, reg.aic, reg.icl):
        spy.calls = 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError) as raised:
                method(rows, target[:50])
        assert str(raised.value) == expected
        assert spy.calls == 0
        assert caught == []
    given = {name: value[:50] for name, value in fit_params.items()}
    reg.log_likelihood_samples(rows, target[:50], **given)  # the spy does count
    assert spy.calls == 2


def test_auto_refuses_a_validation_fraction_that_leaves_nothing_to_fit():
    X, y = _regimes(n=60)
    model = MoERegressor(expert_estimator=LinearRegression(), validation_fraction=0.99)
    # ceil(0.99 * 60) = 60 held out of 60 samples
    with pytest.raises(ValueError, match=r"of the 60 samples of positive weight, 60,"):
        model.fit(X, y)
    assert not hasattr(model, "n_experts_scores_")


def test_auto_verbose_prints_the_held_out_scores_it_keeps(capsys):
    X, y = _regimes(n=60)
    model = MoERegressor(
        expert_estimator=LinearRegression(), verbose=1, n_init=1, random_state=0
    )
    model.fit(X, y)
    printed = capsys.readouterr().out.splitlines()
    scores = [
        float(line.rsplit(" ", 1)[1])
        for line in printed
        if "held-out log-likelihood" in line
    ]
    assert len(scores) == 4
    assert_allclose(scores, model.n_experts_scores_, rtol=1e-5)
    chose = f"chose n_experts={model.n_experts_} (one standard error, tol=1e-05)"
    assert chose in printed
    # 20 samples, 18 held out: 2 to fit, too few for 3 or 4 experts
    model.set_params(validation_fraction=0.9).fit(X[:20], y[:20])
    printed = capsys.readouterr().out.splitlines()
    for n_experts in (3, 4):
        assert f"n_experts={n_experts}: not fitted (too few samples)" in printed
    np.testing.assert_array_equal(model.n_experts_scores_[2:], -np.inf)


def test_an_expert_started_without_rows_is_fitted_with_equal_weights():
    # init_responsibilities giving expert 1 no row: its estimator has no
    # former fit to keep and scikit-learn refuses weights that are all zero,
    # so its first M-step fits it on every row, equally weighted
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = np.where(X[:, 0] > 0, 1 + 2 * X[:, 0], -1 - X[:, 0])
    y = y + 0.1 * rng.normal(size=200)
    model = MoERegressor(
        2, expert_estimator=LinearRegression(), n_init=1, max_iter=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, init_responsibilities=np.zeros(200, dtype=int))
    reference = LinearRegression().fit(X, y)
    for expert in model.experts_:
        np.testing.assert_allclose(expert.coef_, reference.coef_, rtol=1e-12)
        np.testing.assert_allclose(expert.intercept_, reference.intercept_, rtol=1e-12)


def test_an_expert_started_without_rows_is_fitted_with_the_sample_weights():
    # as one expert responsible for every row: the user's weights (they had
    # been dropped, and the fit was unweighted)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = np.where(X[:, 0] > 0, 1 + 2 * X[:, 0], -1 - X[:, 0])
    y = y + 0.1 * rng.normal(size=200)
    weight = np.where(X[:, 0] > 0, 10.0, 0.1)
    model = MoERegressor(
        2, expert_estimator=LinearRegression(), n_init=1, max_iter=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            X, y, sample_weight=weight, init_responsibilities=np.zeros(200, dtype=int)
        )
    reference = LinearRegression().fit(X, y, sample_weight=weight)
    unweighted = LinearRegression().fit(X, y)
    assert not np.allclose(reference.coef_, unweighted.coef_, rtol=0.1)
    np.testing.assert_allclose(model.experts_[1].coef_, reference.coef_, rtol=1e-10)


def test_a_count_expert_started_without_rows_is_fitted_with_the_exposures():
    # a count expert fits the rates y / exposure weighted by the exposures (the
    # offset model); unweighted rates gave a slope of 0.87 against 0.80
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 1))
    exposure = np.exp(rng.uniform(np.log(0.01), np.log(100), 400))
    weight = rng.uniform(0.5, 2.0, 400)
    y = rng.poisson(np.exp(0.5 + 0.8 * X[:, 0]) * exposure)
    model = MoEPoissonRegressor(
        2,
        expert_estimator=PoissonRegressor(alpha=0),
        n_init=1,
        max_iter=1,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            X,
            y,
            sample_weight=weight,
            exposure=exposure,
            init_responsibilities=np.zeros(400, dtype=int),
        )
    reference = PoissonRegressor(alpha=0).fit(
        X, y / exposure, sample_weight=weight * exposure
    )
    unweighted = PoissonRegressor(alpha=0).fit(X, y / exposure)
    assert not np.allclose(reference.coef_, unweighted.coef_, rtol=0.05)
    expert = model.experts_[1]
    np.testing.assert_allclose(expert.coef_, reference.coef_, rtol=1e-6)
    np.testing.assert_allclose(expert.intercept_, reference.intercept_, rtol=1e-6)


class _SlotsLeastSquares:
    """Weighted least squares with ``__slots__``: no weak references to it."""

    __slots__ = ("coef_", "fit_intercept", "intercept_", "n_features_in_")

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    def __sklearn_tags__(self):
        return LinearRegression().__sklearn_tags__()

    def get_params(self, deep=True):
        return {"fit_intercept": self.fit_intercept}

    def set_params(self, **params):
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X)
        root = np.sqrt(np.ones(len(y)) if sample_weight is None else sample_weight)
        design = np.column_stack([np.ones(len(X)), X]) * root[:, None]
        beta = np.linalg.lstsq(design, np.asarray(y) * root, rcond=None)[0]
        self.intercept_, self.coef_ = beta[0], beta[1:]
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return self.intercept_ + np.asarray(X) @ self.coef_


def test_estimators_without_weak_references_fit_as_linear_regression():
    # an expert estimator that cannot be weakly referenced is not remembered
    # with its outputs (which are recomputed): the fit is LinearRegression's
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = np.where(X[:, 0] > 0, 1 + 2 * X[:, 0], -1 - X[:, 0])
    y = y + 0.1 * rng.normal(size=200)
    fits = [
        MoERegressor(2, expert_estimator=estimator, random_state=0).fit(X, y)
        for estimator in (_SlotsLeastSquares(), LinearRegression())
    ]
    assert fits[0].log_likelihood_ == pytest.approx(fits[1].log_likelihood_, rel=1e-12)
    for ours, reference in zip(fits[0].experts_, fits[1].experts_, strict=True):
        np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=1e-10)
        np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-10)


def test_an_expert_estimator_without_get_params_gets_clones_error():
    # (the check for a prefit stacking ensemble reads get_params: without it,
    # an AttributeError had come before scikit-learn's clone error)
    class NoParameters:
        def __sklearn_tags__(self):
            return LinearRegression().__sklearn_tags__()

        def fit(self, X, y, sample_weight=None):
            return self

        def predict(self, X):
            return np.zeros(len(X))

    X, y = np.arange(40.0).reshape(20, 2), np.arange(20.0)
    with pytest.raises(TypeError) as expected:
        clone(NoParameters())
    with pytest.raises(TypeError, match="get_params") as got:
        MoERegressor(2, expert_estimator=NoParameters()).fit(X, y)
    message = str(expected.value).split(" (type")[1]
    assert message in str(got.value)


class _WithExtra(RegressorMixin, BaseEstimator):
    """LinearRegression with one more parameter, of any type."""

    def __init__(self, extra=None):
        self.extra = extra

    def fit(self, X, y, sample_weight=None):
        self.fitted_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.fitted_.predict(X)


class _EqualsRaises:
    """A pandas-like value whose ``equals`` raises."""

    def equals(self, other):
        raise RuntimeError("cannot compare")


class _EqualityRaises:
    """A value whose ``==`` raises."""

    __hash__ = None

    def __eq__(self, other):
        raise RuntimeError("cannot compare")


@pytest.mark.parametrize(
    "before, after, same",
    [
        (scipy.sparse.eye(2, format="csr"), scipy.sparse.eye(2, format="csr"), True),
        (scipy.sparse.eye(2, format="csr"), scipy.sparse.eye(3, format="csr"), False),
        # 1-D sparse arrays: (a != b).nonzero() gives one index array
        (
            scipy.sparse.coo_array([1.0, 0, 2]),
            scipy.sparse.coo_array([1.0, 0, 2]),
            True,
        ),
        (
            scipy.sparse.coo_array([1.0, 0, 2]),
            scipy.sparse.coo_array([1.0, 0, 3]),
            False,
        ),
        # values that cannot be compared count as changed
        (_EqualsRaises(), _EqualsRaises(), False),
        (_EqualityRaises(), _EqualityRaises(), False),
    ],
)
def test_warm_start_compares_expert_estimator_parameters(before, after, same):
    # a changed expert_estimator parameter refits afresh, with a warning, as a
    # fit with warm_start=False; an equal one continues the fitted experts
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1))
    y = X[:, 0] + 0.1 * rng.normal(size=100)
    model = MoERegressor(
        2, expert_estimator=_WithExtra(before), warm_start=True, random_state=0
    ).fit(X, y)
    model.set_params(expert_estimator=_WithExtra(after))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(X, y)
    afresh = [w for w in record if "fitted as with warm_start=False" in str(w.message)]
    if same:
        assert not afresh
        return
    assert "expert_estimator differs" in str(afresh[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold = MoERegressor(2, expert_estimator=_WithExtra(after), random_state=0)
        cold.fit(X, y)
    assert model.log_likelihood_ == pytest.approx(cold.log_likelihood_, rel=1e-12)


@pytest.mark.parametrize("cls", [MoEPoissonRegressor, MoEGammaRegressor])
def test_a_refit_with_built_in_experts_keeps_nothing_of_the_estimators(cls):
    # a fit with expert_estimator, then one with the built-in experts: the
    # estimators' floor of the means stayed behind (_rate_floor, _mean_floor)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 2))
    mean = np.exp(0.5 * X[:, 0])
    y = rng.poisson(mean) if cls is MoEPoissonRegressor else rng.gamma(2.0, mean / 2)
    params = dict(n_experts=2, n_init=1, max_iter=20, random_state=0)
    refit = cls(expert_estimator=DecisionTreeRegressor(max_depth=2), **params)
    fresh = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit.fit(X, y)
        refit.set_params(expert_estimator=None).fit(X, y)
        fresh.fit(X, y)
    assert sorted(vars(refit)) == sorted(vars(fresh))
    assert refit.log_likelihood_ == fresh.log_likelihood_
    np.testing.assert_array_equal(refit.expert_coef_, fresh.expert_coef_)


class _RecordingTree(DecisionTreeRegressor):
    """A tree that records the weights of each of its fits."""

    def fit(self, X, y, sample_weight=None, check_input=True):
        _FIT_WEIGHTS.append(np.array(sample_weight, copy=True))
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)


_FIT_WEIGHTS = []


def test_weights_below_the_floor_reach_the_estimators_as_zero():
    # EM leaves an expert's foreign rows responsibilities such as 1e-25; the
    # clones get them as exactly 0 below WEIGHT_FLOOR times the expert's total
    from skmoe.experts.estimator import WEIGHT_FLOOR

    X, _ = _regimes(600)
    y = _steps(X)
    _FIT_WEIGHTS.clear()
    MoERegressor(
        2, expert_estimator=_RecordingTree(max_depth=2), n_init=1, random_state=0
    ).fit(X, y)
    assert len(_FIT_WEIGHTS) > 10
    tiny = zeros = 0
    for weight in _FIT_WEIGHTS:
        positive = weight[weight > 0]
        tiny += np.count_nonzero(positive < WEIGHT_FLOOR * np.sum(weight))
        zeros += np.count_nonzero(weight == 0)
    assert tiny == 0  # (20038 of this fit's weights, before the floor)
    assert zeros > 0.1 * X.shape[0] * len(_FIT_WEIGHTS)


def test_a_tree_expert_fits_as_if_rows_of_tiny_weight_were_removed():
    # rows of weight 1e-25 are not removed from a scikit-learn tree: it may cut
    # them off on rounding residue (without the floor, this tree's node split at
    # 2.48 where the removed rows' tree splits at 1.20); below the floor they
    # are given as 0, which the tree removes
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (400, 2))
    y = np.sign(X[:, 0]) + 0.1 * rng.normal(size=400)
    weight = rng.uniform(0.1, 1, 400)
    far = X[:, 0] > 2.5
    tiny = np.where(far, 1e-25 * rng.uniform(size=400), weight)
    tree = DecisionTreeRegressor(max_depth=2, random_state=0)
    model = MoERegressor(n_experts=1, expert_estimator=tree).fit(
        X, y, sample_weight=tiny
    )
    removed = clone(tree).fit(X[~far], y[~far], sample_weight=weight[~far])
    fitted = model.experts_[0].tree_
    np.testing.assert_array_equal(fitted.feature, removed.tree_.feature)
    assert_allclose(fitted.threshold, removed.tree_.threshold)
    assert_allclose(model.predict(X), removed.predict(X), rtol=1e-12)


_STEPS_FIT = """
import numpy as np
from sklearn.tree import DecisionTreeRegressor
from skmoe import MoERegressor
rng = np.random.RandomState(1024)
X = rng.uniform(-3, 3, (500, 2))
left = np.select([X[:, 0] < -1, X[:, 0] < 1], [2.0, -1.0], 4.0)
right = np.where(X[:, 0] < 0, 6.0, 0.0)
y = np.where(X[:, 1] < 0, left, right) + 0.1 * rng.normal(size=500)
tree = DecisionTreeRegressor(max_depth=2)
model = MoERegressor(2, expert_estimator=tree, random_state=24).fit(X, y)
print(repr(model.log_likelihood_), model.n_iter_, *model.predict(X[:50]))
"""


def test_tree_experts_fit_alike_under_numpys_avx512_and_avx2_kernels():
    # given as 1e-25, the weights' last bits (NumPy's kernels) decided which rows
    # a tree cut off: this fit's log-likelihood differed by 0.0036 between the
    # two (on a CPU without AVX-512 both runs take AVX2, and agree anyway)
    runs = []
    for disabled in ["", "X86_V4 AVX512_ICL"]:
        env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=disabled)
        result = subprocess.run(
            [sys.executable, "-c", _STEPS_FIT],
            capture_output=True,
            text=True,
            env=env,
            cwd=Path(__file__).parents[1],
        )
        assert result.returncode == 0, result.stderr
        runs.append(np.array(result.stdout.split(), dtype=float))
    # (the gate's numerics still differ in their last bits)
    assert_allclose(runs[0], runs[1], rtol=1e-10)


@pytest.mark.parametrize(
    "model",
    [
        MoERegressor(gate="softmax", expert_estimator=LinearRegression()),
        MoERegressor(gate="gaussian", expert_estimator=LinearRegression()),
        MoERegressor(gate="hierarchical", expert_estimator=LinearRegression()),
        MoEClassifier(gate="softmax", expert_estimator=LogisticRegression()),
    ],
    ids=["softmax", "gaussian", "hierarchical", "classifier"],
)
def test_auto_refits_the_chosen_number_centered_as_fit(model):
    # the final refit on all the samples ran on the candidates' gate design,
    # centered at the training rows' mean, and the fitted gate was given back
    # with fit's offset (every sample's mean): its predictions and
    # log_likelihood_samples were not those of the fit (features of mean
    # (3, -1): -48.48 against log_likelihood_ -44.95, R^2 0.931 against 0.985).
    # The model's own log-likelihood of its training data is the fit's
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2)) + [3.0, -1.0]
    y = np.where(X[:, 0] > 3, 3 * X[:, 1], -2 * X[:, 1]) + 0.3 * rng.normal(size=200)
    if isinstance(model, MoEClassifier):
        y = (y > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.set_params(n_experts="auto", random_state=1).fit(X, y)
    assert model.n_experts_ > 1
    assert_allclose(
        np.sum(model.log_likelihood_samples(X, y)), model.log_likelihood_, rtol=1e-9
    )


def test_auto_prints_the_scores_it_compared(capsys):
    # verbose printed each candidate's held-out mean with the rows it then
    # left out of the comparison (x=1e154: -inf at each candidate, where
    # n_experts_scores_ are the other 9 rows' finite means); it prints those
    X, y, valid = _two_lines_and_held_out_rows()
    X[valid[0], 0] = 1e154
    y[valid[0]] = 0.0
    model = MoERegressor(
        gate="constant",
        expert_estimator=LinearRegression(),
        n_init=1,
        random_state=0,
        verbose=1,
    )
    model, _ = _auto_warning(model, X, y)
    printed = capsys.readouterr().out.splitlines()
    scores = [
        float(line.rsplit(" ", 1)[1])
        for line in printed
        if "held-out log-likelihood" in line
    ]
    assert np.all(np.isfinite(model.n_experts_scores_))
    assert_allclose(scores, model.n_experts_scores_, rtol=1e-5)
    chose = [i for i, line in enumerate(printed) if line.startswith("chose")]
    held = [i for i, line in enumerate(printed) if "held-out log" in line]
    assert len(held) == 4 and chose == [held[-1] + 1]


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
@pytest.mark.parametrize("expert_features", [None, [0]], ids=["all", "other"])
def test_auto_centers_gate_features_of_their_own(monkeypatch, gate, expert_features):
    # gate_features other than the experts' columns were left centered at
    # every sample's mean, the held-out rows' included: a held-out x of 1e10
    # in the gate's column moved the other held-out rows' scores. They are
    # rebuilt centered on the training rows, as the experts' own columns: the
    # other 9 rows score as where that x is ordinary
    _, per_sample = spy_on_auto(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))  # (the gate's column 2, the experts' 0)
    y = 5 * np.where(X[:, 2] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=100)
    valid = np.sort(np.random.RandomState(0).permutation(100)[:10])
    options = dict(
        gate=gate,
        gate_features=[2],
        expert_features=expert_features,
        expert_estimator=LinearRegression(),
        n_init=1,
        random_state=0,
    )
    scores, ordinary = _scores_with_a_far_held_out_x(
        options, X, y, valid, per_sample, column=2
    )
    assert np.all(np.isfinite(scores[:, 1:]))
    assert_allclose(scores[:, 1:], ordinary[:, 1:], rtol=1e-12)


@pytest.mark.parametrize("offset", [1e3, 1e150])
@pytest.mark.parametrize(
    "expert", [LinearRegression(), DecisionTreeRegressor(max_depth=3)]
)
def test_auto_leaves_out_a_held_out_sample_every_candidate_scores_far_below(
    monkeypatch, expert, offset
):
    # one held-out y 1000 off (noise 0.3), scored finitely by every candidate
    # (about -3e4 under one expert, -5e6 under two), made both the mean of the
    # paired differences and its standard error: it alone chose one expert
    # for two regimes (as it does here with the rule off). Over 50 nats
    # below every candidate's median held-out score, it is left out with a
    # warning: the other 19 rows are compared as where it is ordinary (the
    # same fits), and the choice is theirs. 1e150 off: the candidates' noise
    # variance floor was 1e-10 times the variance of every y, the held-out
    # one too (1e286): all rows scored -332 under every candidate. It is the
    # training rows' y's
    from scipy.stats import norm

    import skmoe._auto as auto

    _, per_sample = spy_on_auto(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = 5 * np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.3 * rng.normal(size=200)
    # the held-out rows: auto's first draw from random_state=0
    valid = np.sort(np.random.RandomState(0).permutation(200)[:20])
    options = dict(expert_estimator=expert, n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ordinary = MoERegressor(**options).fit(X, y)
    scores = per_sample[-1]
    # two regimes: BIC of linear experts chooses 2 as well (a reference)
    assert ordinary.n_experts_ > 1
    if isinstance(expert, LinearRegression):
        assert MoERegressor(n_init=1, random_state=0).fit(X, y).n_experts_ == 2
    y[valid[0]] += offset
    # one expert: least squares on the training rows, its MLE variance; the
    # far row's log-density is finite and far below
    train = np.setdiff1d(np.arange(200), valid)
    line = LinearRegression().fit(X[train], y[train])
    scale = np.sqrt(np.mean((y[train] - line.predict(X[train])) ** 2))
    far = norm.logpdf(y[valid[0]] - line.predict(X[valid[:1]]), scale=scale)
    assert -np.inf < far < -1000
    monkeypatch.setattr(auto, "AUTO_FAR_NATS", np.inf, raising=False)  # (off)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert MoERegressor(**options).fit(X, y).n_experts_ == 1
    assert np.all(np.isfinite(per_sample[-1])) and per_sample[-1].shape[1] == 20
    monkeypatch.undo()
    _, per_sample = spy_on_auto(monkeypatch)
    model, message = _auto_warning(MoERegressor(**options), X, y)
    assert message.startswith(
        "n_experts='auto' left 1 of its 20 held-out samples out of its comparison"
    )
    # (the threshold it applied: 50 nats, more where every candidate's
    # held-out scores spread more than a Gaussian's, as trees' do)
    words = re.search(r"more than ([0-9.e+]+) nats below its median held-out", message)
    assert words is not None and float(words[1]) >= 50
    assert_allclose(per_sample[-1], scores[:, 1:], rtol=1e-12)
    assert model.n_experts_ == ordinary.n_experts_


@pytest.mark.parametrize("offset", [1e13, 1e300])
def test_auto_poisson_candidates_take_their_rate_floor_from_their_training_rows(
    monkeypatch, offset
):
    # MoEPoissonRegressor's estimator experts floor their rates at 1e-10
    # times the mean count: of every row, the held-out ones too, the
    # candidates' rate floor was 5 with one held-out count of 1e13 (rates
    # near 0.4), and the other 19 held-out rows' scores moved (two experts'
    # mean -1.59 -> -3.23); one of 1e300 scored every held-out row -5e287
    # under every candidate and kept one expert. The candidates are fits of
    # the training rows: the other held-out rows score as where that count
    # is ordinary (it is left out of the comparison, far under every one)
    _, per_sample = spy_on_auto(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = rng.poisson(np.exp(-1 + 2 * np.abs(X[:, 0]))).astype(float)
    valid = np.sort(np.random.RandomState(0).permutation(200)[:20])
    options = dict(
        expert_estimator=PoissonRegressor(alpha=1e-6), n_init=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ordinary = MoEPoissonRegressor(**options).fit(X, y)
    scores = per_sample[-1]
    assert ordinary.n_experts_ > 1  # (two regimes)
    y[valid[0]] += offset
    model, message = _auto_warning(MoEPoissonRegressor(**options), X, y)
    assert message.startswith(
        "n_experts='auto' left 1 of its 20 held-out samples out of its comparison"
    )
    assert_allclose(per_sample[-1], scores[:, 1:], rtol=1e-12)
    assert model.n_experts_ == ordinary.n_experts_


def test_auto_keeps_ordinary_overdispersed_counts_in_its_comparison(monkeypatch):
    # counts near 1e4 with gamma-distributed rates (shape 20: a variance of
    # mu + mu^2 / 20, 25 times the mean's square root), fitted by Poisson
    # experts: the Poisson log-likelihood of an ordinary count lies hundreds
    # of nats below the median one's (the interquartile range of the held-out
    # scores is too). A fixed 50 nats left ordinary held-out counts out and
    # changed the choice; scaled by the scores' spread against a Gaussian's,
    # none is left out, and the choice is that of no rule at all
    import skmoe._auto as auto

    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 1))
    mean = 1e4 * np.exp(0.5 * np.abs(X[:, 0]))
    y = rng.poisson(mean * rng.gamma(20, 1 / 20, size=150)).astype(float)
    valid = np.sort(np.random.RandomState(1).permutation(150)[:15])
    # (ordinary: every held-out count within 4 sd of its mean, by the
    # gamma-Poisson variance)
    z = (y[valid] - mean[valid]) / np.sqrt(mean[valid] + mean[valid] ** 2 / 20)
    assert np.all(np.abs(z) < 4)
    options = dict(
        expert_estimator=PoissonRegressor(alpha=1e-6), n_init=1, random_state=1
    )

    def fitted(**constants):
        for name, value in constants.items():
            monkeypatch.setattr(auto, name, value)
        with warnings.catch_warnings(record=True) as record, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            model = MoEPoissonRegressor(**options).fit(X, y)
        monkeypatch.undo()
        left = [
            str(w.message) for w in record if "held-out samples out" in str(w.message)
        ]
        return model.n_experts_, left

    unscaled, left = fitted(GAUSSIAN_SCORE_IQR=np.inf)  # (a fixed 50 nats)
    assert left and left[0].startswith("n_experts='auto' left ")
    off, none = fitted(AUTO_FAR_NATS=np.inf)
    assert not none and unscaled != off
    assert fitted() == (off, [])
