"""scikit-learn's estimator checks over the five estimators."""

import inspect
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import (
    check_n_features_in_after_fitting,
    parametrize_with_checks,
)

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)

# Same reason, same check, as scikit-learn's own KMeans: the random initialization
# draws one label per row, so a sample repeated twice is not the same as a sample
# with weight 2 (a zero weight, by contrast, is exactly a removed sample; see
# tests/test_sample_weight.py).
SAMPLE_WEIGHT_EQUIVALENCE = (
    "sample_weight is not equivalent to removing/repeating samples: restarts "
    "draw per row (and Adam's batches), so the two fits start differently; some "
    "models reach the same optimum anyway on the check's data (constant gates), "
    "others need not"
)


#: Models that need not reach one optimum whatever their start, but do on the
#: check's data under every OpenBLAS kernel tried (Haswell, Nehalem, Prescott,
#: SandyBridge, SkylakeX) and with 1 or 2 threads: the check must pass for them (a
#: change that makes one fail needs a look before it joins the expected failures).
#: Not here, though they pass on this machine: Gamma tree experts (another kernel
#: rounds a split differently: predictions 0.245 apart) and the Gamma gradient
#: solver (1.8e-8 from the check's rtol of 1e-7).
SAME_OPTIMUM_ON_THE_CHECK_DATA = {
    "MoERegressor(gate='hierarchical', n_experts=3, n_init=1, random_state=0)",
}


def _one_line(estimator) -> str:
    return " ".join(repr(estimator).split())


def _one_optimum(estimator) -> bool:
    """Whether the check's fit is one optimum whatever its start, so that the
    sample-weight equivalence must hold (not an expected failure): one expert;
    the regressors' n_experts="auto", which chooses one on the check's data;
    the regressors' constant gate (pipelines.rst says they pass: the check's
    two data sets reach one optimum); one expert beside the point mass at
    zero. Not for solver="sgd"."""
    params = estimator.get_params()
    if params["solver"] == "sgd":
        return False
    n_experts = params["n_experts"]
    regressor = not isinstance(estimator, MoEClassifier)
    if regressor and params["gate"] == "constant":
        return True
    if n_experts == "auto":
        return regressor
    return n_experts == 1 or (params.get("zero_inflated") and n_experts == 2)


#: partial_fit exists once fit has chosen the number of experts, or with an integer
#: n_experts; the check fits n_experts="auto", then calls partial_fit on an unfitted
#: clone, which has none (its AttributeError's cause says to set an integer
#: n_experts or to call fit first; test_auto_partial_fit_check_fails_for_that_reason).
AUTO_PARTIAL_FIT = (
    "partial_fit needs an integer n_experts or a fitted model; the check calls it "
    "on an unfitted clone of a model fitted with n_experts='auto'"
)


def _auto_sgd(estimator) -> bool:
    params = estimator.get_params()
    return params["n_experts"] == "auto" and params["solver"] == "sgd"


def _expected_failed_checks(estimator):
    expected = {}
    if (
        not _one_optimum(estimator)
        and _one_line(estimator) not in SAME_OPTIMUM_ON_THE_CHECK_DATA
    ):
        expected["check_sample_weight_equivalence_on_dense_data"] = (
            SAMPLE_WEIGHT_EQUIVALENCE
        )
    if _auto_sgd(estimator):
        expected["check_n_features_in_after_fitting"] = AUTO_PARTIAL_FIT
    if isinstance(
        estimator.get_params().get("expert_estimator"), DecisionTreeClassifier
    ):
        expected["check_class_weight_classifiers"] = (
            "depth-2 tree experts keep leaves of the down-weighted classes: a "
            "DecisionTreeClassifier(max_depth=2) fitted with the check's class "
            "weights predicts class 0 for 0.78 of its test rows, where the check "
            "asks for 0.87 (it sets min_weight_fraction_leaf on trees themselves)"
        )
    if estimator.get_params()["warm_start"] and not isinstance(
        estimator, MoEClassifier
    ):  # (the classifier's check compares labels, which do not move)
        expected["check_supervised_y_2d"] = (
            "a warm start continues EM from the last fit, so refitting the same "
            "data moves a sharp gate a little further (about 2e-4 relative)"
        )
    return expected


CHECKED = [
    MoERegressor(n_init=2, random_state=0),
    MoEClassifier(n_init=2, random_state=0),
    MoEPoissonRegressor(n_init=2, random_state=0),
    MoEGammaRegressor(n_init=2, random_state=0),
    MoENegativeBinomialRegressor(n_init=2, random_state=0),
]

#: Other settings, each through every check: the solvers, gates, sparse routing,
#: pruning, chosen features and warm starts keep scikit-learn's contracts too.
CONFIGURED = (
    [
        Estimator(**params)
        for Estimator in (MoERegressor, MoEClassifier)
        for params in (
            dict(n_experts=2, solver="gradient", n_init=1, random_state=0),
            dict(n_experts=1, solver="gradient", random_state=0),
            dict(n_experts=2, solver="sgd", n_init=1, random_state=0),
            dict(n_experts=2, gate="constant", n_init=1, random_state=0),
            dict(n_experts=2, gate="gaussian", n_init=1, random_state=0),
            dict(n_experts=3, gate="hierarchical", n_init=1, random_state=0),
            dict(n_experts=3, top_k=1, prune_threshold=0.1, n_init=1, random_state=0),
            dict(n_experts=2, gate_features=[0], n_init=1, random_state=0),
            dict(n_experts=2, warm_start=True, n_init=1, random_state=0),
        )
    ]
    + [MoERegressor(n_experts=2, variance_type="tied", n_init=1, random_state=0)]
    + [  # SQUAREM
        Estimator(n_experts=2, acceleration="squarem", n_init=1, random_state=0)
        for Estimator in (MoERegressor, MoEClassifier, MoENegativeBinomialRegressor)
    ]
    + [  # classification EM
        Estimator(n_experts=2, assignment="hard", n_init=1, random_state=0)
        for Estimator in (MoERegressor, MoEPoissonRegressor, MoEGammaRegressor)
    ]
    + [  # a point mass at zero beside the Poisson experts
        MoEPoissonRegressor(n_experts=2, zero_inflated=True, n_init=1, random_state=0),
        MoEPoissonRegressor(
            n_experts=3, zero_inflated=True, solver="gradient", random_state=0
        ),
        MoEGammaRegressor(n_experts=2, zero_inflated=True, n_init=1, random_state=0),
        MoENegativeBinomialRegressor(
            n_experts=2, zero_inflated=True, n_init=1, random_state=0
        ),
    ]
    + [  # Student-t noise, Cauchy by Adam
        MoERegressor(n_experts=2, noise="student_t", n_init=1, random_state=0),
        MoERegressor(n_experts=2, noise="student_t", df="auto", n_init=1),
        MoERegressor(
            n_experts=2, noise="student_t", df=1.0, solver="sgd", random_state=0
        ),
    ]
    + [  # coefficients all experts share
        Estimator(n_experts=2, shared_features=[0], n_init=1, random_state=0)
        for Estimator in (
            MoERegressor,
            MoEPoissonRegressor,
            MoEGammaRegressor,
            MoEClassifier,
        )
    ]
    + [
        MoERegressor(
            n_experts=2,
            gate="gaussian",
            gate_covariance_type="diag",
            n_init=1,
            random_state=0,
        )
    ]
    + [
        Estimator(n_experts="auto", solver="sgd", n_init=1, random_state=0)
        for Estimator in (
            MoERegressor,
            MoEClassifier,
            MoEPoissonRegressor,
            MoEGammaRegressor,
        )
    ]
    + [  # experts that are scikit-learn estimators, refitted with weights
        # n_experts="auto": chosen by held-out log-likelihood
        MoERegressor(expert_estimator=LinearRegression(), n_init=1, random_state=0),
        MoERegressor(
            n_experts=2,
            expert_estimator=DecisionTreeRegressor(max_depth=2),
            n_init=1,
            random_state=0,
        ),
        MoEClassifier(
            n_experts=2,
            expert_estimator=LogisticRegression(),
            n_init=1,
            random_state=0,
        ),
        MoEPoissonRegressor(
            n_experts=2,
            expert_estimator=DecisionTreeRegressor(criterion="poisson", max_depth=2),
            n_init=1,
            random_state=0,
        ),
        MoEGammaRegressor(
            n_experts=2,
            expert_estimator=DecisionTreeRegressor(max_depth=2),
            n_init=1,
            random_state=0,
        ),
        # pure leaves: probabilities of exactly 1 in float32
        MoEClassifier(
            n_experts=2,
            expert_estimator=DecisionTreeClassifier(max_depth=2),
            n_init=1,
            random_state=0,
        ),
    ]
    + [
        Estimator(**params)
        for Estimator in (
            MoEPoissonRegressor,
            MoEGammaRegressor,
            MoENegativeBinomialRegressor,
        )
        for params in (
            dict(n_experts=2, solver="gradient", n_init=1, random_state=0),
            dict(n_experts=2, solver="sgd", n_init=1, random_state=0),
            dict(n_experts=2, gate="constant", n_init=1, random_state=0),
            dict(n_experts=2, gate="gaussian", n_init=1, random_state=0),
            dict(n_experts=3, top_k=1, prune_threshold=0.1, n_init=1, random_state=0),
            dict(n_experts=2, gate_features=[0], n_init=1, random_state=0),
            dict(n_experts=2, warm_start=True, n_init=1, random_state=0),
        )
    ]
)


@parametrize_with_checks(
    CHECKED + CONFIGURED, expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("checked", CHECKED, ids=lambda e: type(e).__name__)
def test_checked_instances_differ_from_the_defaults_only_in_restarts(checked):
    # so that scikit-learn's checks above exercise the defaults
    defaults = type(checked)().get_params()
    differ = {k for k, v in checked.get_params().items() if defaults[k] != v}
    assert differ <= {"n_init", "random_state"}


@pytest.mark.parametrize(
    "estimator", [e for e in CONFIGURED if _auto_sgd(e)], ids=lambda e: type(e).__name__
)
def test_auto_partial_fit_check_fails_for_that_reason(estimator):
    # the expected failure above is partial_fit's refusal before fit, not another
    with pytest.raises(
        AttributeError, match="has no attribute 'partial_fit'"
    ) as raised:
        check_n_features_in_after_fitting(type(estimator).__name__, estimator)
    assert "partial_fit needs an integer n_experts" in str(raised.value.__cause__)


def test_models_that_reach_one_optimum_on_the_check_data_are_checked():
    # every name of the set is a checked model, which the expected failures
    # then leave out (a renamed parameter would quietly xfail the check again)
    names = {_one_line(e) for e in CHECKED + CONFIGURED}
    assert SAME_OPTIMUM_ON_THE_CHECK_DATA <= names


#: The methods whose arguments after the data (X, y, sample_weight; and a
#: classifier's partial_fit's classes, as scikit-learn's) are keyword-only.
DATA_ARGUMENTS = ("X", "y", "sample_weight")
KEYWORD_ONLY_AFTER_DATA = (
    "fit",
    "partial_fit",
    "predict",
    "predict_distribution",
    "score",
    "log_likelihood_samples",
    "responsibilities",
    "bic",
    "aic",
    "icl",
    "std_errors",
)


def _public_estimators():
    import skmoe

    return [
        getattr(skmoe, name)
        for name in skmoe.__all__
        if hasattr(getattr(skmoe, name), "fit")
    ]


def test_every_public_estimator_is_checked_for_keyword_only_arguments():
    assert {e.__name__ for e in _public_estimators()} == {
        "MoEClassifier",
        "MoEGammaRegressor",
        "MoENegativeBinomialRegressor",
        "MoEPoissonRegressor",
        "MoERegressor",
    }


@pytest.mark.parametrize("Estimator", _public_estimators(), ids=lambda e: e.__name__)
def test_arguments_after_the_data_are_keyword_only(Estimator):
    # one rule for all: bic(X, y, groups) took the labels as groups on
    # MoERegressor and failed on MoEPoissonRegressor (keyword-only there)
    for name in KEYWORD_ONLY_AFTER_DATA:
        if not hasattr(Estimator, name):  # MoEClassifier's predict_distribution
            continue
        method = getattr(Estimator, name)
        parameters = list(inspect.signature(method).parameters.values())[1:]
        data = DATA_ARGUMENTS
        if name == "partial_fit" and Estimator is MoEClassifier:
            data = ("X", "y", "classes", "sample_weight")
        positional = [
            p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY
        ]
        assert positional == list(data[: len(positional)]), (name, positional)


@pytest.mark.parametrize("Estimator", _public_estimators(), ids=lambda e: e.__name__)
def test_groups_and_init_responsibilities_are_keyword_only_in_fit(Estimator):
    rng = np.random.RandomState(0)
    X = rng.randn(60, 2)
    groups = np.arange(60) // 3
    if Estimator is MoEClassifier:
        y = (X[:, 0] > 0).astype(int)
    elif Estimator in (MoEPoissonRegressor, MoENegativeBinomialRegressor):
        y = rng.poisson(np.exp(0.5 * X[:, 0]))
    else:
        y = np.exp(0.5 * X[:, 0] + 0.1 * rng.randn(60))
    labels = np.arange(60) % 2
    model = Estimator(n_experts=2, gate="constant", n_init=1, random_state=0)
    with pytest.raises(TypeError, match="positional argument"):
        model.fit(X, y, None, groups)
    with pytest.raises(TypeError, match="positional argument"):
        model.fit(X, y, None, None, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # how well it fits is not the point
        model.fit(X, y, None, groups=groups, init_responsibilities=labels)
    # the groups were read as groups: each group's rows share responsibilities
    resp = np.asarray(model.responsibilities(X, y, groups=groups))
    np.testing.assert_array_equal(resp, resp[groups * 3])
    with pytest.raises(TypeError, match="positional argument"):
        model.responsibilities(X, y, groups)
