"""The categories of skmoe's warnings (skmoe.exceptions): what each fit gives,
and that a filter by category silences that kind alone."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MoEClassifier, MoERegressor
from skmoe.exceptions import DegenerateFitWarning, FeatureScaleWarning, SkmoeWarning


def _caught(fit):
    """The categories of the warnings ``fit()`` gives, in order."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [w.category for w in caught]


def test_the_categories_are_user_warnings():
    # pytest.warns(UserWarning) and filters on UserWarning keep matching them
    assert issubclass(SkmoeWarning, UserWarning)
    for category in (DegenerateFitWarning, FeatureScaleWarning):
        assert issubclass(category, SkmoeWarning)
    assert not issubclass(DegenerateFitWarning, FeatureScaleWarning)
    assert not issubclass(FeatureScaleWarning, DegenerateFitWarning)


def test_features_on_a_small_scale_give_a_feature_scale_warning():
    X, y = load_diabetes(return_X_y=True)  # columns of norm 1: sd 0.048
    # a hundredth of that: 5-fold CV R^2 0.28 against 0.48 standardized
    fit = lambda: MoERegressor(n_experts=1).fit(X * 0.01, y)  # noqa: E731
    assert _caught(fit) == [FeatureScaleWarning]
    X = StandardScaler().fit_transform(X)
    assert _caught(lambda: MoERegressor(n_experts=1).fit(X, y)) == []


def test_unused_experts_give_a_degenerate_fit_warning():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = MoEClassifier(n_experts=6, random_state=0)
    with pytest.warns(DegenerateFitWarning, match="handle less than one sample") as got:
        model.fit(X, y)
    # the experts it names are those of less than one sample's share
    named = str(got[0].message).split("]")[0].removeprefix("Experts [")
    unused = np.flatnonzero(model.expert_usage_ * X.shape[0] < 1)
    assert [int(k) for k in named.split(", ")] == unused.tolist()


def test_filtering_one_category_silences_that_kind_alone():
    # a grid search over the number of experts, every other warning an error
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), MoEClassifier(random_state=0))
    search = GridSearchCV(
        model, {"moeclassifier__n_experts": [1, 6]}, cv=3, error_score="raise"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DegenerateFitWarning):
            search.fit(X, y)
        warnings.simplefilter("ignore", DegenerateFitWarning)
        search.fit(X, y)
    assert search.best_params_ == {"moeclassifier__n_experts": 1}


def test_other_warnings_are_skmoe_warnings_and_convergence_is_scikit_learns():
    X = np.linspace(-1, 1, 60).reshape(-1, 1)
    constant = _caught(
        lambda: MoERegressor(n_experts=2, random_state=0).fit(X, np.ones(60))
    )
    assert constant == [SkmoeWarning]  # not a subclass's: the base class itself
    noise = np.random.RandomState(0).standard_normal(60)
    y = np.where(X[:, 0] > 0, X[:, 0], -X[:, 0]) + 0.1 * noise
    model = MoERegressor(n_experts=2, max_iter=1, random_state=0)
    assert _caught(lambda: model.fit(X, y)) == [ConvergenceWarning]
    # a warm fit that cannot continue, fitted afresh
    model = MoERegressor(n_experts=2, warm_start=True, random_state=0).fit(X, y)
    assert _caught(lambda: model.fit(X * 1e8, y)) == [SkmoeWarning]


def test_auto_advice_on_copied_rows_is_a_skmoe_warning():
    # every row 5 times, a tied variance: "auto" chose its largest number
    # with BIC still falling, on rows of which a fifth are distinct; both
    # warnings advise a comparison (no degenerate fit): the base class itself
    rng = np.random.RandomState(0)
    X = rng.randn(20, 1)
    y = 2 * X[:, 0] + 0.5 * rng.randn(20)
    copies = np.repeat(X, 5, 0), np.repeat(y, 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MoERegressor(variance_type="tied", random_state=0).fit(*copies)
    kinds = {"the most it tries": None, "only 20 distinct (X, y) pairs": None}
    for w in caught:
        (kind,) = [kind for kind in kinds if kind in str(w.message)]
        kinds[kind] = w.category
    assert kinds == dict.fromkeys(kinds, SkmoeWarning)
