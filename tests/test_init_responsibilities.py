"""fit's init_responsibilities: a start of the user's for the first restart
(R flexmix's ``cluster=``)."""

import re
import warnings

import numpy as np
import pytest
import sklearn
from scipy.stats import norm, poisson
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)


def _far_regimes(seed):
    """Regimes of means 0, 10 and 1000 (sds 1, 3, 100) and no informative
    feature: k-means on y splits the wide regime, and every k-means and random
    start failed (10 seeds of 10; the default "mixed" restarts add one from
    the ranks of y here, see test_regressor)."""
    rng = np.random.RandomState(seed)
    y = np.concatenate(
        [rng.normal(0, 1, 100), rng.normal(10, 3, 100), rng.normal(1000, 100, 100)]
    )
    labels = np.repeat([0, 1, 2], 100)
    true = np.log(
        np.mean([norm.pdf(y, 0, 1), norm.pdf(y, 10, 3), norm.pdf(y, 1000, 100)], axis=0)
    ).sum()
    return np.zeros((300, 1)), y, labels, true


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_recover_far_apart_regimes(seed):
    X, y, labels, true = _far_regimes(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(3, gate="constant", n_init=1, random_state=seed)
        model.fit(X, y, init_responsibilities=labels)
    # at least the true parameters' log-likelihood, up to a few nats
    assert model.log_likelihood_ > true - 3
    order = np.argsort(model.expert_intercept_)
    assert np.allclose(model.expert_intercept_[order], [0, 10, 1000], atol=[1, 2, 40])


def _two_steps(X, y, resp):
    """The Gaussian mixture of regressions' M-step from ``resp``, one E-step
    and one more M-step (a fit of ``max_iter=1``), by scikit-learn and SciPy."""

    def m_step(resp):
        fits = [LinearRegression().fit(X, y, sample_weight=r) for r in resp.T]
        var = [
            np.average((y - f.predict(X)) ** 2, weights=r)
            for f, r in zip(fits, resp.T, strict=True)
        ]
        return fits, np.array(var), resp.mean(axis=0)

    fits, var, share = m_step(resp)
    dens = np.column_stack(
        [
            w * norm.pdf(y, f.predict(X), np.sqrt(v))
            for f, v, w in zip(fits, var, share, strict=True)
        ]
    )
    return m_step(dens / dens.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("soft", [False, True])
def test_one_iteration_from_the_start_is_the_closed_form(soft):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 2))
    labels = rng.randint(3, size=90)
    y = X @ [1.0, 2.0] + 3 * labels + rng.normal(size=90)
    start = np.eye(3)[labels]
    if soft:  # unnormalized rows: divided by their sums
        start = 5 * (start + rng.uniform(0.1, 1, size=start.shape))
    model = MoERegressor(3, gate="constant", n_init=1, max_iter=1, tol=0, alpha=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, init_responsibilities=labels if not soft else start)
    resp = start / start.sum(axis=1, keepdims=True)
    fits, var, share = _two_steps(X, y, resp)
    assert model.n_iter_ == 1
    np.testing.assert_allclose(
        model.expert_intercept_, [f.intercept_ for f in fits], rtol=1e-7
    )
    np.testing.assert_allclose(model.expert_coef_, [f.coef_ for f in fits], rtol=1e-7)
    np.testing.assert_allclose(model.expert_variance_, var, rtol=1e-7)
    gate = np.exp(model.gate_intercept_)
    np.testing.assert_allclose(gate / gate.sum(), share, rtol=1e-7)


def test_other_restarts_follow_init_params_and_n_init_1_is_the_start_alone():
    X, y, labels, true = _far_regimes(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = MoERegressor(3, gate="constant", n_init=1, max_iter=2, tol=0)
        alone.fit(X, y, init_responsibilities=labels)
        builtin = MoERegressor(
            3, gate="constant", n_init=1, init_params="kmeans", random_state=0
        )
        builtin.fit(X, y)
    # the k-means start fails here; the given one does not
    assert builtin.log_likelihood_ < true - 20
    assert alone.log_likelihood_ > true - 3


def test_grid_search_slices_the_start_per_fold():
    X, y, labels, _ = _far_regimes(0)
    X = np.random.RandomState(0).normal(size=(300, 1))  # noise
    search = GridSearchCV(
        MoERegressor(3, gate="constant", n_init=1),
        {"max_iter": [5, 50]},
        cv=KFold(3, shuffle=True, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a start of all 300 rows given to a fold of 200 would raise
        search.fit(X, y, init_responsibilities=labels)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.log_likelihood_ > -1400


def test_pipeline_passes_the_start_with_and_without_routing():
    X, y, labels, true = _far_regimes(1)
    X = np.random.RandomState(0).normal(size=(300, 1))
    pipe = make_pipeline(StandardScaler(), MoERegressor(3, gate="constant", n_init=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y, moeregressor__init_responsibilities=labels)
        assert pipe[-1].log_likelihood_ > true - 10
        with sklearn.config_context(enable_metadata_routing=True):
            model = MoERegressor(3, gate="constant", n_init=1)
            model.set_fit_request(init_responsibilities=True)
            routed = make_pipeline(StandardScaler(), model)
            routed.fit(X, y, init_responsibilities=labels)
            assert routed[-1].log_likelihood_ > true - 10


def test_groups_average_their_rows_start():
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(60), 5)
    regime = rng.randint(2, size=60)
    X = rng.normal(size=(300, 1))
    y = 5 * regime[groups] + X[:, 0] * (1 + regime[groups]) + rng.normal(size=300)
    labels = regime[groups].copy()
    labels[::5] = 1 - labels[::5]  # one row of each group disagrees: averaged
    model = MoERegressor(2, gate="constant", n_init=1, max_iter=1, tol=0, alpha=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, groups=groups, init_responsibilities=labels)
        # the same as the groups' averaged start, given directly
        resp = np.eye(2)[regime[groups]] * 0.8 + np.eye(2)[1 - regime[groups]] * 0.2
        other = MoERegressor(2, gate="constant", n_init=1, max_iter=1, tol=0, alpha=0)
        other.fit(X, y, groups=groups, init_responsibilities=resp)
    np.testing.assert_allclose(model.expert_coef_, other.expert_coef_, rtol=1e-10)
    np.testing.assert_allclose(model.expert_intercept_, other.expert_intercept_)


def test_zero_weight_rows_are_left_out():
    X, y, labels, _ = _far_regimes(0)
    weight = np.ones(300)
    weight[:10] = 0
    start = np.eye(3)[labels]
    start[:10] = 0  # rows of weight 0 may sum to 0
    kw = dict(n_experts=3, gate="constant", n_init=1, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MoERegressor(**kw).fit(X, y, weight, init_responsibilities=start)
        b = MoERegressor(**kw).fit(X[10:], y[10:], init_responsibilities=labels[10:])
    np.testing.assert_allclose(a.expert_intercept_, b.expert_intercept_)


def test_given_start_replaces_a_warm_start():
    X, y, labels, true = _far_regimes(0)
    model = MoERegressor(
        3,
        gate="constant",
        n_init=1,
        init_params="kmeans",
        warm_start=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)  # the k-means start's poor optimum
        assert model.log_likelihood_ < true - 20
        model.fit(X, y, init_responsibilities=labels)
    assert model.log_likelihood_ > true - 3


@pytest.mark.parametrize(
    "init, kwargs, match",
    [
        (np.zeros(299, dtype=int), {}, "inconsistent numbers of samples"),
        (np.full(300, 3), {}, r"label\(s\) \[3\] out of range"),
        (np.full(300, -1), {}, "out of range"),
        # non-whole floats: the values, not "got dtype float64" (whole-number
        # floats are accepted)
        (
            np.full(300, 0.5),
            {},
            r"whole numbers in \[0, 3\); got 1 value\(s\) .*\(0\.5\)",
        ),
        (
            np.r_[np.zeros(296), 1.25, 0.1, 2.5, 7.75],
            {},
            r"got 4 .* \(0\.1, 1\.25, 2\.5, \.\.\.\)",
        ),
        (np.zeros(300, dtype=bool), {}, "must be integer labels .* got dtype bool"),
        (np.ones((300, 2)), {}, "has 2 columns"),
        (-np.ones((300, 3)), {}, "Negative values"),
        (np.zeros((300, 3)), {}, "sum is 0 or not finite"),
        (np.full((300, 3), np.nan), {}, "NaN"),
        (np.zeros(300, dtype=int), {"n_experts": "auto"}, "set n_experts"),
        (np.zeros(300, dtype=int), {"solver": "sgd"}, "solver='sgd'"),
        # neither labels nor responsibilities: check_array's "Input should have
        # at least 1 dimension" (a TypeError) and "Found array with dim 3"
        ("ab", {}, r"labels of shape \(n_samples,\) or .* got shape \(\)\.$"),
        (2, {}, r"got shape \(\)\.$"),
        (np.ones((300, 3, 1)), {}, r"init_responsibilities .* got shape \(300, 3, 1\)"),
    ],
)
def test_invalid_starts_raise(init, kwargs, match):
    X, y, _, _ = _far_regimes(0)
    model = MoERegressor(**{"n_experts": 3, **kwargs})
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, init_responsibilities=init)
    assert not hasattr(model, "n_experts_")


def test_classifier_experts_follow_the_given_labels():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 1))
    regime = (X[:, 0] > 0).astype(int)
    # regime 0: the class follows a second feature's sign; regime 1: its opposite
    Z = rng.normal(size=(400, 1))
    y = np.where(regime == 0, Z[:, 0] > 0, Z[:, 0] < 0).astype(int)
    XZ = np.column_stack([X, Z])
    kw = dict(n_experts=2, gate_features=[0], expert_features=[1], n_init=1)
    for labels in (regime, 1 - regime):  # the experts in the labels' order
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MoEClassifier(**kw).fit(XZ, y, init_responsibilities=labels)
        assert np.mean(model.responsibilities(XZ, y).argmax(axis=1) == labels) > 0.95
        assert model.score(XZ, y) > 0.95


@pytest.mark.parametrize("Model", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_count_model_starts_from_the_labels(Model):
    rng = np.random.RandomState(0)
    labels = np.repeat([0, 1], 200)
    y = rng.poisson(np.where(labels == 0, 2.0, 200.0)).astype(float)
    X = np.zeros((400, 1))
    model = Model(2, gate="constant", n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, init_responsibilities=labels)
    np.testing.assert_allclose(
        np.sort(np.exp(model.expert_intercept_)),
        [y[:200].mean(), y[200:].mean()],
        rtol=1e-3,
    )
    true = np.log(0.5 * poisson.pmf(y, 2.0) + 0.5 * poisson.pmf(y, 200.0)).sum()
    assert model.log_likelihood_ > true - 3


def test_zero_inflated_counts_the_point_mass_as_column_0():
    rng = np.random.RandomState(0)
    labels = np.repeat([0, 1, 2], 150)  # 0: structural zeros
    y = np.where(labels == 0, 0.0, rng.poisson(np.where(labels == 1, 3.0, 40.0)))
    X = np.zeros((450, 1))
    model = MoEPoissonRegressor(3, zero_inflated=True, gate="constant", n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, init_responsibilities=labels)
        with pytest.raises(ValueError, match="has 2 columns"):
            model.fit(X, y, init_responsibilities=np.eye(2)[(labels > 0).astype(int)])
        # a positive count given to the point mass alone
        with pytest.raises(ValueError, match=r"150 row\(s\) only on experts"):
            model.fit(X, y, init_responsibilities=np.where(labels == 2, 0, labels))
    assert np.isneginf(model.expert_intercept_[0])  # the point mass
    np.testing.assert_allclose(
        np.exp(model.expert_intercept_[1:]), [3.0, 40.0], rtol=0.15
    )
    gate = np.exp(model.gate_intercept_ - model.gate_intercept_.max())
    assert gate[0] / gate.sum() > 0.25


def test_gamma_accepts_a_start():
    rng = np.random.RandomState(0)
    labels = np.repeat([0, 1, 2], 150)
    y = rng.gamma(5.0, np.array([1.0, 100.0, 1e4])[labels] / 5.0)
    X = np.zeros((450, 1))
    model = MoEGammaRegressor(3, gate="constant", n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, init_responsibilities=labels)
    np.testing.assert_allclose(
        np.sort(np.exp(model.expert_intercept_)), [1, 100, 1e4], rtol=0.2
    )


@pytest.mark.parametrize("solver", ["gradient", "em_squarem", "hard"])
def test_other_solvers_use_the_start(solver):
    X, y, labels, true = _far_regimes(0)
    kw = {
        "gradient": {"solver": "gradient"},
        "em_squarem": {"acceleration": "squarem"},
        "hard": {"assignment": "hard"},
    }[solver]
    model = MoERegressor(3, gate="constant", n_init=1, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, init_responsibilities=labels)
    order = np.argsort(model.expert_intercept_)
    assert np.allclose(model.expert_intercept_[order], [0, 10, 1000], atol=[1, 2, 40])


@pytest.mark.parametrize("label", [1e30, -1e30, 3.0])
def test_float_labels_out_of_range_are_named_as_given(label):
    # (a label beyond intp wrapped in the cast: 1e30 was named
    # -9223372036854775808, after NumPy's warning of an invalid cast)
    X, y, labels, _ = _far_regimes(0)
    init = labels.astype(float)
    init[5] = label
    shown = re.escape(str(int(label)) if abs(label) < 2**53 else repr(label))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=rf"label\(s\) \[{shown}\] out of range"):
            MoERegressor(3).fit(X, y, init_responsibilities=init)


@pytest.mark.parametrize("pipeline", [False, True])
def test_bootstrap_lrt_refuses_a_start(pipeline):
    # one start cannot serve the fits of 1 to max_experts experts: the
    # one-expert fit raised that labels [1] were out of range for
    # n_experts=1, a number the caller never set
    from skmoe import bootstrap_lrt

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 1))
    labels = (X[:, 0] > 0).astype(int)
    y = X[:, 0] + 3 * labels + rng.normal(size=60)
    model = MoERegressor(n_init=1)
    name = "init_responsibilities"
    if pipeline:
        model = make_pipeline(StandardScaler(), model)
        name = "moeregressor__init_responsibilities"
    with pytest.raises(ValueError, match=f"does not take {name}"):
        bootstrap_lrt(model, X, y, max_experts=2, n_bootstrap=19, **{name: labels})


def test_a_start_that_leaves_an_expert_empty_says_so():
    # labels 0 and 1 for three experts: the fit warned only that expert 2
    # collapsed (its gate weight 1e-14), not that the start gave it no rows
    from skmoe.exceptions import SkmoeWarning

    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    y = X[:, 0] + 0.1 * rng.randn(200)
    labels = (X[:, 1] > 0).astype(int)
    weight = np.ones(200)
    weight[:5] = 0.0
    labels_dropped = labels.copy()
    labels_dropped[:5] = 2  # expert 2's rows all of weight 0: still empty
    for start, sample_weight in ((labels, None), (labels_dropped, weight)):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            MoERegressor(3, n_init=1, random_state=0).fit(
                X, y, sample_weight=sample_weight, init_responsibilities=start
            )
        empty = [w for w in record if "no responsibility" in str(w.message)]
        assert len(empty) == 1
        assert empty[0].category is SkmoeWarning
        assert "expert(s) [2]" in str(empty[0].message)
    # every expert given rows: no such warning
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        MoERegressor(2, n_init=1, random_state=0).fit(
            X, y, init_responsibilities=labels
        )
    assert not [w for w in record if "no responsibility" in str(w.message)]
