"""class_weight: the classes' weights times the samples', as LogisticRegression's."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from skmoe import MoEClassifier
from skmoe.exceptions import DegenerateFitWarning


def _imbalanced(loader):
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    keep = np.r_[np.where(y == 0)[0][:30], np.where(y != 0)[0]]
    return X[keep], y[keep]


@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris])
@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 1: 0.5}])
def test_one_expert_is_logistic_regression_with_class_weight(loader, class_weight):
    X, y = _imbalanced(loader)
    counts = np.bincount(y)
    if class_weight == "balanced":  # n / (n_classes n_c) per sample: they sum to n
        total = len(y)
    else:
        total = sum(class_weight.get(c, 1.0) * n for c, n in enumerate(counts))
    alpha = 1e-2
    C = (2 if len(counts) == 2 else 1) / (alpha * total)  # see MoEClassifier's Notes
    model = MoEClassifier(
        1, class_weight=class_weight, alpha=alpha, tol=1e-12, max_iter=2000
    ).fit(X, y)
    reference = LogisticRegression(
        C=C, class_weight=class_weight, tol=1e-12, max_iter=10000
    ).fit(X, y)
    np.testing.assert_allclose(
        model.predict_proba(X), reference.predict_proba(X), atol=1e-5
    )
    unweighted = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(X, y)
    assert np.abs(unweighted.predict_proba(X) - reference.predict_proba(X)).max() > 0.01


# L-BFGS stops where the weights' rounding (1e-16) has moved it by up to 1e-5
@pytest.mark.parametrize("solver, rtol", [("em", 1e-6), ("gradient", 1e-3)])
def test_class_weight_is_sample_weight_times_the_classes_weights(solver, rtol):
    X, y = _imbalanced(load_iris)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    sample_weight = np.random.RandomState(0).uniform(0.5, 2, len(y))
    tol = 1e-10 if solver == "gradient" else 1e-5
    params = dict(n_experts=2, solver=solver, n_init=1, tol=tol, random_state=0)
    weighted = MoEClassifier(class_weight={"setosa": 4.0, "virginica": 0.5}, **params)
    weighted.fit(X, labels, sample_weight=sample_weight)
    per_class = np.select([labels == "setosa", labels == "virginica"], [4.0, 0.5], 1.0)
    reference = MoEClassifier(**params).fit(X, labels, sample_weight * per_class)
    np.testing.assert_allclose(
        weighted.predict_proba(X), reference.predict_proba(X), rtol=rtol, atol=1e-12
    )
    # "balanced": n_c is the sum of the class's sample weights
    balanced = MoEClassifier(class_weight="balanced", **params)
    balanced.fit(X, labels, sample_weight=sample_weight)
    sums = np.array([sample_weight[labels == c].sum() for c in np.unique(labels)])
    factor = sample_weight.sum() / (3 * sums)
    per_class = factor[np.unique(labels, return_inverse=True)[1]]
    reference = MoEClassifier(**params).fit(X, labels, sample_weight * per_class)
    np.testing.assert_allclose(
        balanced.predict_proba(X), reference.predict_proba(X), rtol=rtol, atol=1e-12
    )


def test_std_errors_of_a_class_weighted_fit_warn_and_take_its_weights():
    # the unweighted Hessian at the class-weighted optimum is no usual
    # standard error; with the fit's weights as sample_weight they equal the
    # reference fit's (sample weights times the classes' weights)
    X, y = _imbalanced(load_breast_cancer)
    X = X[:, :3]
    class_weight = {0: 3.0, 1: 1.0}
    weighted = MoEClassifier(1, class_weight=class_weight).fit(X, y)
    with pytest.warns(UserWarning, match="fitted with class_weight"):
        weighted.std_errors(X, y)
    fit_weights = compute_sample_weight(class_weight, y)
    reference = MoEClassifier(1).fit(X, y, sample_weight=fit_weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # weights given: no word
        ours = weighted.std_errors(X, y, sample_weight=fit_weights)
    theirs = reference.std_errors(X, y, sample_weight=fit_weights)
    np.testing.assert_allclose(ours.expert_coef_, theirs.expert_coef_, rtol=1e-5)


def test_balanced_raises_the_minority_recall():
    # overlapping classes, 5% of one: unweighted, it is rarely predicted
    rng = np.random.RandomState(0)
    y = (rng.rand(2000) < 0.05).astype(int)
    X = rng.normal(size=(2000, 2)) + 1.5 * y[:, None]
    plain = MoEClassifier(2, random_state=0).fit(X, y)
    balanced = MoEClassifier(2, class_weight="balanced", random_state=0).fit(X, y)
    recall = [recall_score(y, m.predict(X)) for m in (plain, balanced)]
    assert recall[1] > recall[0] + 0.3
    # each expert's odds scaled by n_0 / n_1: the mean log-odds move by about that
    log_odds = [
        np.mean(np.diff(m.predict_log_proba(X), axis=1)) for m in (plain, balanced)
    ]
    shift = np.log(np.sum(y == 0) / np.sum(y == 1))
    np.testing.assert_allclose(log_odds[1] - log_odds[0], shift, rtol=0.2)


def test_partial_fit_takes_a_dict_and_refuses_balanced():
    X, y = _imbalanced(load_iris)
    order = np.random.RandomState(0).permutation(len(y))
    X, y = X[order], y[order]
    weights = {0: 3.0, 2: 0.5}
    model = MoEClassifier(2, solver="sgd", class_weight=weights, random_state=0)
    reference = MoEClassifier(2, solver="sgd", random_state=0)
    for batch in np.array_split(np.arange(len(y)), 4):
        model.partial_fit(X[batch], y[batch], classes=[0, 1, 2])
        per_class = np.array([3.0, 1.0, 0.5])[y[batch]]
        reference.partial_fit(X[batch], y[batch], [0, 1, 2], sample_weight=per_class)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X))
    balanced = MoEClassifier(2, solver="sgd", class_weight="balanced")
    with pytest.raises(ValueError, match="'balanced' is not supported by partial_fit"):
        balanced.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(balanced, "classes_")


def test_class_weight_of_an_unknown_label_is_refused():
    X, y = _imbalanced(load_iris)
    with pytest.raises(ValueError, match=r"not classes: \[7\]; the classes are"):
        MoEClassifier(2, class_weight={0: 2.0, 7: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        MoEClassifier(2, class_weight="uniform").fit(X, y)


def test_class_weight_labels_of_absent_classes_are_ignored_when_all_are_weighted():
    # as LogisticRegression's: a rare class missing from a CV fold's y
    X, y = _imbalanced(load_iris)
    two = y < 2
    full = {0: 2.0, 1: 0.5, 2: 9.0}
    for model in (MoEClassifier, LogisticRegression):
        model(class_weight=full).fit(X[two], y[two])  # no error
    fitted = MoEClassifier(2, class_weight=full, random_state=0).fit(X[two], y[two])
    reference = MoEClassifier(2, random_state=0).fit(
        X[two], y[two], sample_weight=np.array([2.0, 0.5])[y[two]]
    )
    np.testing.assert_allclose(
        fitted.predict_proba(X[two]), reference.predict_proba(X[two]), rtol=1e-10
    )
    # a label of no class beside an omitted class stays refused, as scikit-learn's
    with pytest.raises(ValueError, match=r"not classes: \[2\]"):
        MoEClassifier(2, class_weight={0: 2.0, 2: 9.0}).fit(X[two], y[two])
    with pytest.raises(ValueError, match="not in class_weight"):
        LogisticRegression(class_weight={0: 2.0, 2: 9.0}).fit(X[two], y[two])


@pytest.mark.parametrize("weight", [-1.0, -0.1, np.nan, np.inf, "2"])
def test_negative_or_non_finite_class_weights_are_refused(weight):
    # a negative weight made the fit diverge, with an error that blamed the
    # features' scale or the outputs' overflow; NaN was "sums to infinity" (QA)
    X, y = _imbalanced(load_iris)
    message = "class_weight must map classes to non-negative finite numbers"
    with pytest.raises(ValueError, match=message):
        MoEClassifier(2, class_weight={0: weight, 1: 1.0}).fit(X, y)
    model = MoEClassifier(2, solver="sgd", class_weight={0: weight})
    with pytest.raises(ValueError, match=message):
        model.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(model, "classes_")


def test_class_weight_of_numeric_string_labels():
    # compute_class_weight takes int() of numeric strings: {"0": 5.0} for the
    # labels "0" and "1" was refused (QA); the weights go by the labels
    X, y = _imbalanced(load_breast_cancer)
    labels = y.astype(str)
    params = dict(n_experts=2, n_init=1, random_state=0)
    weighted = MoEClassifier(class_weight={"0": 5.0}, **params).fit(X, labels)
    reference = MoEClassifier(**params).fit(X, labels, np.where(y == 0, 5.0, 1.0))
    np.testing.assert_array_equal(weighted.predict_proba(X), reference.predict_proba(X))


def test_class_weights_that_zero_or_overflow_the_weights_say_so():
    # a batch that class_weight zeroed raised a bare ZeroDivisionError (first
    # call) or "partial_fit diverged"; fit said "n_samples=0 should be >=
    # n_experts=2" (review)
    X, y = _imbalanced(load_iris)
    zero = {0: 0.0, 1: 0.0, 2: 0.0}
    with pytest.raises(ValueError, match="gives every sample of the data a weight"):
        MoEClassifier(2, class_weight=zero).fit(X, y)
    model = MoEClassifier(2, solver="sgd", class_weight={0: 0.0}, random_state=0)
    first = y == 0
    with pytest.raises(ValueError, match="every sample of this partial_fit batch"):
        model.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert not hasattr(model, "classes_")
    model.partial_fit(X, y, classes=[0, 1, 2])
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match="every sample of this partial_fit batch"):
        model.partial_fit(X[first], y[first])
    np.testing.assert_array_equal(model.predict_proba(X), before)
    with pytest.raises(ValueError, match="sum to infinity"):
        MoEClassifier(2, class_weight={0: 1e308}).fit(X, y)


def test_fitted_log_likelihood_and_usage_carry_the_class_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2))
    y = (np.where(X[:, 0] > 0, X[:, 1], -X[:, 1]) + 0.3 * rng.randn(300) > 0.8) * 1
    model = MoEClassifier(2, class_weight="balanced", random_state=0).fit(X, y)
    weight = compute_sample_weight("balanced", y)
    np.testing.assert_allclose(
        model.log_likelihood_, weight @ model.log_likelihood_samples(X, y), rtol=1e-12
    )
    np.testing.assert_allclose(
        model.expert_usage_,
        np.average(model.responsibilities(X, y), axis=0, weights=weight),
        rtol=1e-10,
    )


def test_class_weights_too_small_or_large_to_normalize_are_named():
    # class weights of 1e-300 without sample weights said "sample_weight sums
    # to 1.3e-298, too small to normalize accurately", blaming weights the
    # user had not passed
    X, y = _imbalanced(load_iris)
    info = np.finfo(np.float64)
    for weight, word in [(1e-300, "too small"), (1e200, "too large")]:
        total = weight * len(y)  # every class weighed alike
        assert total < info.tiny / info.eps or total > np.sqrt(info.max)
        classes = {label: weight for label in np.unique(y)}
        message = re.escape(
            f"sample_weight times class_weight sums to {total:.3g}, {word}"
        )
        with pytest.raises(ValueError, match=message):
            MoEClassifier(2, class_weight=classes).fit(X, y)
        model = MoEClassifier(2, solver="sgd", class_weight=classes)
        with pytest.raises(ValueError, match=message):
            model.partial_fit(X, y, classes=np.unique(y))
        # the same weights given as sample_weight are named so
        given = re.escape(f"sample_weight sums to {total:.3g}")
        with pytest.raises(ValueError, match=f"^{given}"):
            MoEClassifier(2).fit(X, y, sample_weight=np.full(len(y), weight))


def test_classes_of_no_positive_weight_are_refused_or_warned_of():
    # sample_weight (or class_weight) of 0 on every sample of a class fitted
    # silently: with two classes, a fit of one class (which y of one class
    # refuses), predict_proba 3e-16 for the other; with three, an intercept
    # without a maximum (QA)
    X, y = _imbalanced(load_iris)
    two = y < 2
    ones = (y[two] == 0).astype(float)
    message = "only one class of positive weight: 0 .sample_weight gives every"
    with pytest.raises(ValueError, match=message):
        MoEClassifier(2).fit(X[two], y[two], sample_weight=ones)
    # named by the weights that gave the 0: class_weight alone, sample_weight
    # alone under "balanced" (which gives no class a weight of 0), or both
    message = r"\(class_weight gives every sample of classes \[1\]"
    with pytest.raises(ValueError, match=message):
        MoEClassifier(2, class_weight={0: 1.0, 1: 0.0}).fit(X[two], y[two])
    with pytest.raises(ValueError, match=r"\(sample_weight gives every sample"):
        MoEClassifier(2, class_weight="balanced").fit(
            X[two], y[two], sample_weight=ones
        )
    message = r"\(sample_weight and class_weight give every sample of classes \[1, 2\]"
    with pytest.raises(ValueError, match=message):
        MoEClassifier(2, class_weight={2: 0.0}).fit(X, y, sample_weight=y != 1)
    # three classes, one of no weight: warned of, and fitted as scikit-learn's
    # multinomial LogisticRegression with these weights (one expert)
    weight = (y < 2).astype(float)
    alpha = 1e-2
    with pytest.warns(DegenerateFitWarning, match=r"classes \[2\] a weight of 0"):
        model = MoEClassifier(1, alpha=alpha, tol=1e-12, max_iter=2000).fit(
            X, y, sample_weight=weight
        )
    reference = LogisticRegression(C=1 / (alpha * weight.sum()), tol=1e-12)
    reference = reference.fit(X, y, sample_weight=weight)
    proba, expected = model.predict_proba(X[two]), reference.predict_proba(X[two])
    assert np.all(proba[:, 2] < 1e-6) and np.all(expected[:, 2] < 1e-6)
    np.testing.assert_allclose(proba[:, :2], expected[:, :2], atol=1e-5)
    # a partial_fit batch without a class is a batch, not a degenerate fit
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        stream = MoEClassifier(2, solver="sgd", random_state=0)
        stream.partial_fit(X, y, sample_weight=weight, classes=[0, 1, 2])
