"""Repeated measurements (``fit(X, y, groups=g)``): the rows of a group share one
expert, as in R flexmix's ``y ~ x | g``. Checked against the grouped likelihood
written out with scipy, against fits without groups where every group is one
row, against replicated groups for weights, and against finite differences."""

import warnings

import numpy as np
import pytest
import sklearn
from _references import group_joint_log_density, grouped_two_lines, spy_on_auto
from scipy import special, stats
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoEPoissonRegressor,
    MoERegressor,
    bootstrap_lrt,
)
from skmoe._em import EMProblem
from skmoe._gradient import evaluate
from skmoe._groups import Groups
from skmoe._init import initial_responsibilities
from skmoe._math import design_matrix
from skmoe._selection import _sample
from skmoe.exceptions import SkmoeWarning
from skmoe.experts import GaussianLinearExperts
from skmoe.gates import GaussianGate, SoftmaxGate
from skmoe.gates.gaussian import REG_COVAR


def _panel(n_groups=80, seed=0, sizes=(2, 9)):
    """Groups of uneven sizes, each from one of two lines (prior 0.35), with a
    group-level feature z that shifts the prior. Returns X = (z, x), y, groups
    (shuffled rows) and each group's class."""
    rng = np.random.RandomState(seed)
    size = rng.randint(sizes[0], sizes[1], n_groups)
    z_group = rng.randn(n_groups)
    label = rng.rand(n_groups) < special.expit(-0.6 + 1.5 * z_group)
    groups = np.repeat(np.arange(n_groups), size)
    order = rng.permutation(groups.shape[0])
    groups = groups[order]
    x = rng.uniform(-2, 2, groups.shape[0])
    y = np.where(label[groups], 1 + 2 * x, -1 + 0.5 * x)
    y = y + 0.8 * rng.randn(groups.shape[0])
    return np.column_stack([z_group[groups], x]), y, groups, label


def _grouped_log_likelihood(log_prior, log_p, groups):
    """sum_g log sum_k pi_gk prod_{i in g} p_k(y_i); ``log_prior`` (n, K) is
    read at each group's first row."""
    labels = np.unique(groups)
    total = 0.0
    for label in labels:
        rows = np.flatnonzero(groups == label)
        joint = log_prior[rows[0]] + log_p[rows].sum(axis=0)
        total += special.logsumexp(joint)
    return total


def _gaussian_log_p(reg, X, y):
    """log p_k(y_i | x_i), (n, K), from the fitted attributes (expert_coef_
    has zeros for the features the experts do not see)."""
    mean = reg.expert_intercept_ + X @ reg.expert_coef_.T
    return stats.norm.logpdf(y[:, None], mean, np.sqrt(reg.expert_variance_))


def test_grouped_log_likelihood_is_the_written_out_one():
    X, y, groups, _ = _panel()
    reg = MoERegressor(
        2, gate_features=[0], expert_features=[1], alpha=0, random_state=0, tol=1e-10
    ).fit(X, y, groups=groups)
    log_prior = np.log(reg.predict_gate(X))
    expected = _grouped_log_likelihood(log_prior, _gaussian_log_p(reg, X, y), groups)
    assert reg.log_likelihood_ == pytest.approx(expected, rel=1e-10)
    # the criteria are those of the same likelihood, with n the number of rows
    p = 1 + 1 + 2 * 2 + 2  # gate intercept and slope, lines, variances
    assert reg.bic(X, y, groups=groups) == pytest.approx(
        -2 * expected + p * np.log(len(y)), rel=1e-10
    )
    assert reg.aic(X, y, groups=groups) == pytest.approx(-2 * expected + 2 * p)
    # and it found the groups' lines (the rows alone mix them up)
    slopes = np.sort(reg.expert_coef_[:, 1])
    np.testing.assert_allclose(slopes, [0.5, 2.0], atol=0.15)


def test_responsibilities_are_the_groups_posteriors():
    X, y, groups, label = _panel()
    reg = MoERegressor(
        2, gate_features=[0], expert_features=[1], alpha=0, random_state=0
    ).fit(X, y, groups=groups)
    resp = reg.responsibilities(X, y, groups=groups)
    log_prior, log_p = np.log(reg.predict_gate(X)), _gaussian_log_p(reg, X, y)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        joint = log_prior[rows[0]] + log_p[rows].sum(axis=0)
        np.testing.assert_allclose(
            resp[rows], np.tile(special.softmax(joint), (len(rows), 1)), atol=1e-10
        )
    # the posteriors recover most groups' classes
    steep = np.argmax(reg.expert_coef_[:, 1])
    first = np.unique(groups, return_index=True)[1]
    assert np.mean((resp[first, steep] > 0.5) == label) > 0.9
    # without groups each row is on its own: other (row-wise) posteriors, with
    # a warning; groups=np.arange(n) asks for them without one
    with pytest.warns(UserWarning, match="fitted with groups"):
        alone = reg.responsibilities(X, y)
    assert np.abs(alone - resp).max() > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = reg.responsibilities(X, y, groups=np.arange(len(y)))
    np.testing.assert_allclose(rows, alone, atol=1e-12)


def test_one_row_per_group_is_the_fit_without_groups(crossing_lines):
    X, y = crossing_lines
    for solver in ("em", "gradient"):
        params = dict(n_experts=2, alpha=1e-3, random_state=0, solver=solver)
        plain = MoERegressor(**params).fit(X, y)
        grouped = MoERegressor(**params).fit(X, y, groups=np.arange(len(y)))
        assert grouped.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-9)
        np.testing.assert_allclose(grouped.expert_coef_, plain.expert_coef_, rtol=1e-6)
        np.testing.assert_allclose(
            grouped.gate_coef_, plain.gate_coef_, rtol=1e-6, atol=1e-9
        )


def test_group_weight_is_the_group_repeated():
    X, y, groups, _ = _panel(n_groups=50, seed=1)
    repeat = np.random.RandomState(0).randint(1, 4, 50)
    params = dict(n_experts=2, gate="constant", alpha=0, tol=1e-12, random_state=0)
    weighted = MoERegressor(**params).fit(
        X[:, 1:], y, sample_weight=repeat[groups].astype(float), groups=groups
    )
    rows = np.concatenate(
        [np.flatnonzero(groups == g) for g in range(50) for _ in range(repeat[g])]
    )
    copies = np.concatenate(
        [
            np.full(np.sum(groups == g), 100 * g + c)
            for g in range(50)
            for c in range(repeat[g])
        ]
    )
    repeated = MoERegressor(**params).fit(X[rows, 1:], y[rows], groups=copies)
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-8)
    np.testing.assert_allclose(
        np.sort(weighted.expert_coef_[:, 0]),
        np.sort(repeated.expert_coef_[:, 0]),
        rtol=1e-6,
    )


def test_the_constant_gate_is_the_mean_over_groups():
    """The prior's M-step counts each group once, whatever its size: at the
    fixed point the prior is the mean of the groups' posteriors (the rows'
    mean would weigh the large groups more)."""
    X, y, groups, _ = _panel(sizes=(1, 15), seed=2)
    reg = MoERegressor(
        2, gate="constant", alpha=0, tol=1e-12, max_iter=2000, random_state=0
    )
    reg.fit(X[:, 1:], y, groups=groups)
    resp = reg.responsibilities(X[:, 1:], y, groups=groups)
    first = np.unique(groups, return_index=True)[1]
    np.testing.assert_allclose(
        reg.predict_gate(X[:1, 1:])[0], resp[first].mean(axis=0), atol=1e-6
    )
    assert np.abs(resp.mean(axis=0) - resp[first].mean(axis=0)).max() > 1e-3


def test_gradient_with_groups_is_the_derivative_of_the_objective():
    X, y, groups, _ = _panel(n_groups=30, seed=3)
    rng = np.random.RandomState(0)
    problem = EMProblem(
        design_matrix(np, X[:, 1:]),
        y,
        np.ones(len(y)),
        SoftmaxGate(),
        GaussianLinearExperts(variance_floor=1e-6),
        0.01,
        own_gate_design=design_matrix(np, X[:, :1]),
        groups=Groups.from_labels(groups),
    )
    gate = {"coef": rng.randn(2, 2)}
    experts = {"coef": rng.randn(2, 2), "variance": np.exp(rng.randn(2) * 0.3)}
    ev = evaluate(problem, gate, experts)
    step = 1e-6
    for part, params, grads in (
        ("gate", gate, ev.gate_grad),
        ("expert", experts, ev.expert_grad),
    ):
        for name, value in params.items():
            for index in np.ndindex(value.shape):
                up = {k: v.copy() for k, v in params.items()}
                down = {k: v.copy() for k, v in params.items()}
                up[name][index] += step
                down[name][index] -= step
                pair = [
                    evaluate(problem, p, experts)
                    if part == "gate"
                    else evaluate(problem, gate, p)
                    for p in (up, down)
                ]
                numeric = (pair[0].value - pair[1].value) / (2 * step)
                assert grads[name][index] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_em_and_gradient_reach_the_same_grouped_optimum():
    X, y, groups, _ = _panel(seed=4)
    fits = [
        MoERegressor(
            2,
            gate_features=[0],
            expert_features=[1],
            alpha=0,
            solver=solver,
            tol=1e-10,
            max_iter=3000,
            random_state=0,
        ).fit(X, y, groups=groups)
        for solver in ("em", "gradient")
    ]
    assert fits[0].log_likelihood_ == pytest.approx(fits[1].log_likelihood_, abs=1e-5)


def test_em_and_gradient_weigh_the_softmax_gates_penalty_alike_with_groups():
    # a softmax gate's M-step weighs the groups' data (1 / n_g a row, summing
    # to the mean of 1 / n_g) against alpha as the joint objective does: its
    # weights are not divided by their sum, as a gaussian gate's are (that
    # shrank the penalty by the mean group size here: EM 1.75 nats above the
    # gradient solver's optimum, its gate slopes 1.7 times as large)
    X, y, groups, _ = _panel(seed=4)
    fits = [
        MoERegressor(
            2,
            gate_features=[0],
            expert_features=[1],
            alpha=0.05,
            solver=solver,
            tol=1e-10,
            max_iter=3000,
            random_state=0,
        ).fit(X, y, groups=groups)
        for solver in ("em", "gradient")
    ]
    assert fits[0].log_likelihood_ == pytest.approx(fits[1].log_likelihood_, abs=1e-5)
    slopes = [np.sort(np.abs(fit.gate_coef_[:, 0])) for fit in fits]
    np.testing.assert_allclose(slopes[0], slopes[1], rtol=1e-4)


def test_rows_in_any_order_and_labels_of_any_kind():
    X, y, groups, _ = _panel(seed=5)
    reg = MoERegressor(2, gate="constant", alpha=0, random_state=0).fit(
        X[:, 1:], y, groups=groups
    )
    order = np.random.RandomState(1).permutation(len(y))
    names = np.array([f"subject-{g}" for g in groups], dtype=object)
    resp = reg.responsibilities(X[:, 1:], y, groups=groups)
    shuffled = reg.responsibilities(X[order, 1:], y[order], groups=names[order])
    np.testing.assert_allclose(shuffled, resp[order], atol=1e-12)
    assert reg.bic(X[order, 1:], y[order], groups=names[order]) == pytest.approx(
        reg.bic(X[:, 1:], y, groups=groups)
    )


def test_classifier_and_poisson_grouped_likelihoods():
    rng = np.random.RandomState(6)
    n_groups, size = 70, 6
    groups = np.repeat(np.arange(n_groups), size)
    label = rng.rand(n_groups) < 0.4
    x = rng.uniform(-2, 2, n_groups * size)
    X = x[:, None]
    logit = np.where(label[groups], 1 + 2 * x, -1 - 1.5 * x)
    yc = (rng.rand(len(x)) < special.expit(logit)).astype(int)
    clf = MoEClassifier(2, gate="constant", alpha=0, random_state=0, tol=1e-10)
    clf.fit(X, yc, groups=groups)
    log_odds = 2 * (
        clf.expert_intercept_[:, 1] + x[:, None] * clf.expert_coef_[:, 1, 0]
    )
    log_p = np.where(
        yc[:, None] == 1, -np.logaddexp(0, -log_odds), -np.logaddexp(0, log_odds)
    )
    expected = _grouped_log_likelihood(np.log(clf.predict_gate(X)), log_p, groups)
    assert clf.log_likelihood_ == pytest.approx(expected, rel=1e-10)

    exposure = rng.uniform(0.5, 2, len(x))
    rate = exposure * np.exp(np.where(label[groups], 0.5 + x, 1.5 - 0.5 * x))
    yp = rng.poisson(rate)
    pois = MoEPoissonRegressor(2, gate="constant", alpha=0, random_state=0, tol=1e-10)
    pois.fit(X, yp, exposure=exposure, groups=groups)
    mean = exposure[:, None] * np.exp(pois.expert_intercept_ + X @ pois.expert_coef_.T)
    log_p = stats.poisson.logpmf(yp[:, None], mean)
    expected = _grouped_log_likelihood(np.log(pois.predict_gate(X)), log_p, groups)
    assert pois.log_likelihood_ == pytest.approx(expected, rel=1e-10)
    assert pois.bic(X, yp, exposure=exposure, groups=groups) == pytest.approx(
        -2 * expected + 5 * np.log(len(x)), rel=1e-10
    )


def test_std_errors_with_one_row_per_group_are_the_plain_ones(crossing_lines):
    X, y = crossing_lines
    plain = MoERegressor(2, gate="constant", alpha=0, random_state=0).fit(X, y)
    grouped = MoERegressor(2, gate="constant", alpha=0, random_state=0)
    grouped.fit(X, y, groups=np.arange(len(y)))
    a = plain.std_errors(X, y)
    b = grouped.std_errors(X, y, groups=np.arange(len(y)))
    with pytest.warns(UserWarning, match="fitted without them"):
        plain.std_errors(X, y, groups=np.arange(len(y)))
    np.testing.assert_allclose(b.expert_coef_, a.expert_coef_, rtol=1e-5)
    np.testing.assert_allclose(b.gate_intercept_, a.gate_intercept_, rtol=1e-5)


def test_std_errors_of_groups_follow_the_groups_information():
    """Groups of m rows that all share one expert: with well separated lines
    each group's class is known, and the slopes' standard errors are those of
    least squares on the rows of each class, but the prior's is that of a
    proportion of groups (not of rows): m times larger in variance."""
    rng = np.random.RandomState(7)
    n_groups, size = 200, 5
    groups = np.repeat(np.arange(n_groups), size)
    label = rng.rand(n_groups) < 0.5
    x = rng.uniform(-2, 2, n_groups * size)
    y = np.where(label[groups], 6 + 2 * x, -6 - x) + 0.5 * rng.randn(len(x))
    X = x[:, None]
    reg = MoERegressor(2, gate="constant", alpha=0, random_state=0, tol=1e-10)
    reg.fit(X, y, groups=groups)
    se = reg.std_errors(X, y, groups=groups)
    share = reg.predict_gate(X[:1])[0, 1]
    # the log-odds of expert 1 is 2 gate_intercept_[1]: var 1 / (G p (1 - p))
    expected = 0.5 / np.sqrt(n_groups * share * (1 - share))
    assert se.gate_intercept_[1] == pytest.approx(expected, rel=1e-3)
    for k in range(2):
        rows = np.flatnonzero(reg.responsibilities(X, y, groups=groups)[:, k] > 0.5)
        centred = x[rows] - x[rows].mean()
        ols = np.sqrt(reg.expert_variance_[k] / np.sum(centred**2))
        assert se.expert_coef_[k, 0] == pytest.approx(ols, rel=1e-3)


def test_group_folds_under_routing_need_no_request():
    """With metadata routing, groups passed to cross_val_score split the folds
    (as without routing) and do not reach fit unless requested: it raised
    UnsetMetadataPassedError, where every scikit-learn estimator works."""
    X, y, groups, _ = _panel(seed=8)
    model = MoERegressor(2, gate="constant", random_state=0)
    plain = cross_val_score(model, X, y, cv=GroupKFold(3), groups=groups)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_val_score(
            model, X, y, cv=GroupKFold(3), params={"groups": groups}
        )
        requested = cross_val_score(
            clone(model).set_fit_request(groups=True),
            X,
            y,
            cv=GroupKFold(3),
            params={"groups": groups},
        )
    np.testing.assert_array_equal(routed, plain)
    assert not np.allclose(requested, plain)  # the grouped fits differ


def test_search_over_experts_with_group_folds():
    X, y, groups, _ = _panel(seed=8)
    with sklearn.config_context(enable_metadata_routing=True):
        model = MoERegressor(gate="constant", random_state=0, alpha=0)
        model.set_fit_request(groups=True, sample_weight=False)
        pipe = make_pipeline(StandardScaler(), model)
        search = GridSearchCV(
            pipe, {"moeregressor__n_experts": [1, 2]}, cv=GroupKFold(3)
        )
        search.fit(X[:, 1:], y, groups=groups)
    direct = make_pipeline(
        StandardScaler(),
        MoERegressor(
            search.best_params_["moeregressor__n_experts"],
            gate="constant",
            random_state=0,
            alpha=0,
        ),
    ).fit(X[:, 1:], y, moeregressor__groups=groups)
    assert search.best_estimator_[-1].log_likelihood_ == pytest.approx(
        direct[-1].log_likelihood_, rel=1e-12
    )
    plain = make_pipeline(
        StandardScaler(), MoERegressor(2, gate="constant", random_state=0, alpha=0)
    )
    assert plain.fit(X[:, 1:], y)[-1].log_likelihood_ != pytest.approx(
        direct[-1].log_likelihood_
    )


@pytest.mark.parametrize(
    "params, fit, match",
    [
        (dict(gate="softmax"), {}, "features differ within group"),
        (dict(gate="constant", solver="sgd"), {}, "solver='sgd'"),
        (dict(gate="constant"), {"sample_weight": "uneven"}, "differs within group"),
        (dict(gate="constant"), {"groups": "short"}, "one group label per row"),
        (dict(gate="constant"), {"groups": "nan"}, "NaN"),
        (
            dict(gate="constant", n_experts=5),
            {"groups": "four"},
            "4 groups of positive weight, fewer than n_experts=5",
        ),
    ],
)
def test_bad_groups_are_refused(params, fit, match):
    X, y, groups, _ = _panel(n_groups=20, seed=9)
    params = {"n_experts": 2, **params}
    kwargs = {"groups": groups}
    if fit.get("sample_weight") == "uneven":
        kwargs["sample_weight"] = np.where(np.arange(len(y)) == 0, 2.0, 1.0)
    if fit.get("groups") == "short":
        kwargs["groups"] = groups[:-1]
    if fit.get("groups") == "nan":
        kwargs["groups"] = np.where(np.arange(len(y)) == 3, np.nan, groups)
    if fit.get("groups") == "four":
        kwargs["groups"] = groups % 4
    with pytest.raises(ValueError, match=match):
        MoERegressor(**params).fit(X, y, **kwargs)


def test_the_groups_of_some_rows_keep_their_labels():
    # leaving rows out (those of weight 0) keeps the groups' own labels, which
    # messages quote: the zero-inflated Gamma check, which leaves out a row of
    # weight 0, named a mixed group by its internal code, not its label
    labels = np.array(["b", "b", "a", "c", "a", "c", "d"])
    part = Groups.from_labels(labels).take(np.array([2, 3, 4, 6]))
    assert part.labels == ["a", "c", "d"]
    np.testing.assert_array_equal(part.codes, [0, 1, 0, 2])
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(30), 3)
    names = np.array([f"subject-{g}" for g in groups])
    X = rng.normal(size=30)[groups][:, None]
    y = np.where(rng.rand(30)[groups] < 0.3, 0.0, rng.gamma(4.0, 1.0, len(groups)))
    w = np.ones(len(y))
    w[0] = 0.0
    mixed = np.flatnonzero(y[::3] > 0)[5]
    y[3 * mixed] = 0.0  # a zero in a positive group
    model = MoEGammaRegressor(2, zero_inflated=True, n_init=1)
    with pytest.raises(ValueError, match=f"group 'subject-{mixed}' has both"):
        model.fit(X, y, sample_weight=w, groups=names)


def test_a_grouped_model_asks_for_its_groups():
    X, y, groups, _ = _panel(n_groups=30, seed=10)
    reg = MoERegressor(2, gate="constant", random_state=0).fit(
        X[:, 1:], y, groups=groups
    )
    for method in ("bic", "aic", "icl", "std_errors"):  # the groups' criteria
        with pytest.raises(ValueError, match="fitted with groups"):
            getattr(reg, method)(X[:, 1:], y)
    with pytest.raises(ValueError, match="fitted with groups"):
        reg.partial_fit(X[:, 1:], y)
    # per row, as predict: each row's mixture on its own
    log_prior = np.log(reg.predict_gate(X[:, 1:]))
    expected = special.logsumexp(log_prior + _gaussian_log_p(reg, X[:, 1:], y), axis=1)
    np.testing.assert_allclose(reg.log_likelihood_samples(X[:, 1:], y), expected)
    # a model fitted on rows, asked about groups, gives its grouped criterion
    # only where its gate is the same within groups
    gated = MoERegressor(2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features differ within group"):
        gated.bic(X, y, groups=groups)


@pytest.mark.parametrize("method", ["random", "kmeans"])
def test_starts_give_each_group_one_expert(method):
    X, y, groups, _ = _panel(n_groups=40, seed=11)
    grouping = Groups.from_labels(groups)
    resp = initial_responsibilities(
        X, y, np.ones(len(y)), 3, method, np.random.RandomState(0), grouping
    )
    labels = np.argmax(resp, axis=1)
    first = labels[grouping.first][grouping.codes]
    np.testing.assert_array_equal(labels, first)
    assert len(np.unique(labels[grouping.first])) == 3
    if method == "kmeans":  # the label most of the group's rows get alone
        alone = np.argmax(
            initial_responsibilities(
                X, y, np.ones(len(y)), 3, method, np.random.RandomState(0)
            ),
            axis=1,
        )
        for g in range(40):
            counts = np.bincount(alone[groups == g], minlength=3)
            assert counts[labels[groups == g][0]] == counts.max()


def test_labels_written_otherwise_give_the_same_fit():
    """Groups are numbered by their first rows: the fit depends on the
    partition and the row order, not on the labels' type or sort order."""
    X, y, groups, _ = _panel(n_groups=40, seed=12)
    params = dict(n_experts=2, gate="constant", init_params="random", n_init=3)
    fits = [
        MoERegressor(random_state=0, **params).fit(X[:, 1:], y, groups=labels)
        for labels in (groups, np.array([f"s{-g}" for g in groups]))
    ]
    # a column of labels, as y of that shape, with scikit-learn's warning
    with pytest.warns(DataConversionWarning, match="column-vector groups"):
        column = MoERegressor(random_state=0, **params)
        fits.append(column.fit(X[:, 1:], y, groups=groups[:, None]))
    for fit in fits[1:]:
        assert fit.log_likelihood_ == fits[0].log_likelihood_
    bad = [
        (np.column_stack([groups, groups]), "1d array"),
        (np.array([1, "a"] * (len(y) // 2) + [1] * (len(y) % 2), object), "one type"),
        (np.array([None] + list(groups[1:]), dtype=object), "missing"),
        (np.array([np.nan, np.nan] + list(groups[2:]), dtype=object), "missing"),
        (np.array([None] * len(groups), dtype=object), "missing"),
        (np.where(groups == 0, np.inf, groups.astype(float)), "missing"),
        (np.where(groups == 0, -np.inf, groups.astype(float)), "missing"),
        (
            np.where(groups == 0, np.datetime64("NaT"), np.datetime64("2020-01-01"))
            + groups.astype("timedelta64[D]"),
            "missing",
        ),
    ]
    for labels, match in bad:
        with pytest.raises(ValueError, match=match):
            MoERegressor(**params).fit(X[:, 1:], y, groups=labels)


def test_balance_loss_counts_groups():
    """The switch loss's shares are of the groups (each counted once), as the
    gate sees them: c K sum_k f_k P_k with f_k the share of groups whose top
    expert is k and P_k their mean gate value."""
    X, y, groups, _ = _panel(n_groups=30, seed=13, sizes=(1, 12))
    grouping = Groups.from_labels(groups)
    problem = EMProblem(
        design_matrix(np, X[:, 1:]),
        y,
        np.ones(len(y)),
        SoftmaxGate(),
        GaussianLinearExperts(variance_floor=1e-6),
        0.0,
        own_gate_design=design_matrix(np, X[:, :1]),
        groups=grouping,
    )
    rng = np.random.RandomState(0)
    gate = {"coef": rng.randn(2, 2)}
    experts = {"coef": rng.randn(2, 2), "variance": np.ones(2)}
    loss = (
        evaluate(problem, gate, experts).value
        - evaluate(problem, gate, experts, balance_coef=0.3).value
    )
    logits = np.column_stack([np.ones(len(y)), X[:, 0]]) @ gate["coef"]
    prior = special.softmax(logits, axis=1)[grouping.first]  # (G, K)
    top = np.eye(2)[np.argmax(prior, axis=1)]
    assert loss == pytest.approx(0.3 * 2 * np.sum(top.mean(0) * prior.mean(0)))


def test_gaussian_gate_objective_counts_each_group_once():
    """With gate="gaussian" EM maximizes the joint likelihood: the groups'
    log p(y_g | x_g) plus each group's log p(z_g) once, per row."""
    X, y, groups, _ = _panel(n_groups=60, seed=14)
    X = X + np.array([50.0, 0.0])  # the gate's feature far from 0
    reg = MoERegressor(
        2,
        gate="gaussian",
        gate_features=[0],
        expert_features=[1],
        alpha=0,
        random_state=0,
        tol=1e-10,
    ).fit(X, y, groups=groups)
    first = np.unique(groups, return_index=True)[1]
    joint = reg.log_likelihood_ + np.sum(reg.gate_log_density(X)[first])
    assert reg.objective_history_[-1] == pytest.approx(joint / len(y), rel=1e-9)
    # the loading is REG_COVAR of the variance of z over the groups, each once
    gate = GaussianGate()
    weight = Groups.from_labels(groups).share(np, np.ones(len(y))) / len(y)
    design = design_matrix(np, X[:, :1])
    np.testing.assert_allclose(
        gate.prepare(np, design, weight, 0.0), REG_COVAR * np.var(X[first, 0])
    )


@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-9), (np.float32, 5e-7)])
def test_gaussian_gate_objective_where_group_weights_sum_near_one(dtype, rel):
    """20000 groups over 20001 rows: the gate's weights sum to 1 - 5e-5, and
    EM's objective is still the groups' joint likelihood per row (it was
    log(20000 / 20001) * 20000 / 20001 = -5e-5 below it; in float32 too,
    where 5e-5 was within the rounding allowed a sum of weights)."""
    rng = np.random.RandomState(17)
    n_groups = 20000
    groups = np.r_[0, np.arange(n_groups)]  # one group of two rows
    z = rng.randn(n_groups)
    label = z + 0.5 * rng.randn(n_groups) > 0
    x = rng.randn(len(groups))
    y = np.where(label[groups], 1 + 2 * x, -1 + 0.5 * x) + 0.5 * rng.randn(len(x))
    X, y = np.column_stack([z[groups], x]).astype(dtype), y.astype(dtype)
    reg = MoERegressor(
        2,
        gate="gaussian",
        gate_features=[0],
        expert_features=[1],
        alpha=0,
        n_init=1,
        random_state=0,
        tol=1e-10,
    ).fit(X, y, groups=groups)
    first = np.unique(groups, return_index=True)[1]
    density = reg.gate_log_density(X)[first]
    joint = reg.log_likelihood_ + np.sum(density, dtype=np.float64)
    assert reg.objective_history_[-1] == pytest.approx(joint / len(y), rel=rel)


def test_gaussian_gate_collapse_onto_one_group_warns():
    """An expert on one large group sits at its covariance floor (REG_COVAR of
    z's variance over the groups): the collapse check reads the data's
    variances under the same weights. By rows (17x smaller here) it missed it."""
    rng = np.random.RandomState(9)
    z = np.r_[rng.randn(60), 0.0]  # 60 groups of one row, one of 1000 at z=0
    groups = np.repeat(np.arange(61), np.r_[np.ones(60, dtype=int), 1000])
    x = rng.randn(len(groups))
    y = np.where(groups == 60, 3 + 0.5 * x, -x) + 0.3 * rng.randn(len(groups))
    X = np.column_stack([z[groups], x])
    reg = MoERegressor(2, gate="gaussian", gate_features=[0], random_state=0)
    with pytest.warns(UserWarning, match=r"Experts \[\d\] of the kept run collapsed"):
        reg.fit(X, y, groups=groups)
    variances = np.ravel(reg.gate_covariances_)
    np.testing.assert_allclose(variances.min(), REG_COVAR * np.var(z), rtol=1e-6)


def test_bootstrap_draws_a_group_from_one_expert():
    """Lines 100 apart: each group's drawn targets all lie about one line,
    chosen per group at the gate's rates."""
    rng = np.random.RandomState(15)
    n_groups, size = 400, 4
    groups = np.repeat(np.arange(n_groups), size)
    label = rng.rand(n_groups) < 0.3
    X = rng.uniform(-1, 1, (n_groups * size, 1))
    y = np.where(label[groups], 100.0, 0.0) + X[:, 0] + 0.1 * rng.randn(len(groups))
    reg = MoERegressor(2, gate="constant", random_state=0).fit(X, y, groups=groups)
    drawn = _sample(reg, X, {"groups": groups}, 0)
    high = (drawn > 50).reshape(n_groups, size)
    assert np.all(high == high[:, :1])
    share = reg.predict_gate(X[:1])[0, np.argmax(reg.expert_intercept_)]
    assert abs(high[:, 0].mean() - share) < 3 * np.sqrt(share * (1 - share) / n_groups)
    # a classifier: one expert answers 1, the other 0
    labels = label[groups].astype(int)
    clf = MoEClassifier(2, gate="constant", random_state=0)
    clf.fit(X, labels, groups=groups)
    drawn = _sample(clf, X, {"groups": groups}, 0, classes=np.array([0, 1]))
    assert np.all(drawn.reshape(n_groups, size) == drawn.reshape(n_groups, size)[:, :1])


def test_bootstrap_lrt_with_groups_finds_the_classes():
    X, y, groups, _ = _panel(n_groups=40, seed=16)
    result = bootstrap_lrt(
        MoERegressor(gate="constant", random_state=0, n_init=2),
        X[:, 1:],
        y,
        max_experts=3,
        n_bootstrap=19,
        random_state=0,
        groups=groups,
    )
    assert result.n_experts == 2
    assert result.p_values[0] == pytest.approx(0.05)
    assert result.p_values[1] > 0.05
    direct = MoERegressor(2, gate="constant", random_state=0, n_init=2)
    direct.fit(X[:, 1:], y, groups=groups)
    assert result.estimator.log_likelihood_ == pytest.approx(direct.log_likelihood_)
    sparse = MoERegressor(gate_features=[0], expert_features=[1], top_k=1)
    with pytest.raises(ValueError, match="top_k=None"):
        bootstrap_lrt(sparse, X, y, max_experts=3, n_bootstrap=19, groups=groups)


def test_bootstrap_lrt_with_groups_takes_top_k_that_keeps_the_nulls_dense():
    # the samples are drawn from the null models, of up to max_experts - 1
    # experts: top_k = max_experts - 1 routes them densely (every expert
    # kept) and runs; top_k = max_experts - 2 would route one sparsely
    X, y, groups, _ = _panel(n_groups=40, seed=16)
    sparse = MoERegressor(
        gate_features=[0], expert_features=[1], top_k=1, n_init=1, random_state=0
    )
    with warnings.catch_warnings():
        # (top_k=1 leaves an expert empty in some samples' fits)
        warnings.filterwarnings("ignore", "The fits of", UserWarning)
        result = bootstrap_lrt(
            sparse, X, y, max_experts=2, n_bootstrap=19, random_state=0, groups=groups
        )
    # the null of one expert: the grouped likelihood of a single line is the
    # rows' own, OLS's with the MLE variance
    ols = LinearRegression().fit(X[:, 1:], y)
    residual = y - ols.predict(X[:, 1:])
    null = np.sum(stats.norm.logpdf(residual, scale=np.sqrt(np.mean(residual**2))))
    larger = clone(sparse).set_params(n_experts=2).fit(X, y, groups=groups)
    expected = 2 * (larger.log_likelihood_ - null)
    np.testing.assert_allclose(result.statistics, [expected], rtol=1e-6)
    with pytest.raises(ValueError, match="top_k=1 routes the models of up to 2"):
        bootstrap_lrt(sparse, X, y, max_experts=3, n_bootstrap=19, groups=groups)


def test_bootstrap_lrt_needs_the_groups_by_name():
    X, y, groups, _ = _panel(n_groups=30, seed=17)
    with sklearn.config_context(enable_metadata_routing=True):
        model = MoERegressor(gate="constant", random_state=0)
        model.set_fit_request(groups="subject", sample_weight=False)
        pipe = make_pipeline(StandardScaler(), model)
        with pytest.raises(ValueError, match="under the name 'groups'"):
            bootstrap_lrt(
                pipe, X[:, 1:], y, max_experts=2, n_bootstrap=19, subject=groups
            )


def test_held_out_choice_of_experts_holds_out_whole_groups(monkeypatch):
    """n_experts="auto" with estimator experts scores held-out groups: with one
    row per group it is the choice without groups; with groups, no group is
    split between the fit and the validation."""
    import skmoe._auto as auto

    X, y, groups, _ = _panel(n_groups=60, seed=18)
    params = dict(
        n_experts="auto",
        gate="constant",
        random_state=0,
        expert_estimator=LinearRegression(),
        validation_fraction=0.25,
    )
    plain = MoERegressor(**params).fit(X[:, 1:], y)
    single = MoERegressor(**params).fit(X[:, 1:], y, groups=np.arange(len(y)))
    np.testing.assert_array_equal(single.n_experts_scores_, plain.n_experts_scores_)
    held = []
    original = auto._sub_problem
    monkeypatch.setattr(
        auto,
        "_sub_problem",
        lambda p, rows, w: held.append(rows) or original(p, rows, w),
    )
    grouped = MoERegressor(**params).fit(X[:, 1:], y, groups=groups)
    rows = held[-1]  # (the held-out rows: the training rows come first)
    chosen = np.unique(groups[rows])
    np.testing.assert_array_equal(
        np.sort(rows), np.flatnonzero(np.isin(groups, chosen))
    )
    assert len(chosen) == 15  # a quarter of the 60 groups
    assert grouped.n_experts_ == 2
    assert np.all(np.isfinite(grouped.n_experts_scores_[:3]))
    # a score is the mean log-likelihood of the held-out rows (each group
    # weighs as its rows): for one expert, least squares on the other rows
    # with its MLE variance, by hand
    train = np.setdiff1d(np.arange(len(y)), rows)
    line = LinearRegression().fit(X[train, 1:], y[train])
    scale = np.sqrt(np.mean((y[train] - line.predict(X[train, 1:])) ** 2))
    residual = y[rows] - line.predict(X[rows, 1:])
    expected = np.mean(stats.norm.logpdf(residual, scale=scale))
    assert grouped.n_experts_scores_[0] == pytest.approx(expected, rel=1e-9)
    # one held-out group has no standard error: refused, not K = 1 silently
    few = np.arange(len(y)) % 10
    with pytest.raises(ValueError, match="no standard error"):
        MoERegressor(**{**params, "validation_fraction": 0.1}).fit(
            X[:, 1:], y, groups=few
        )


def test_held_out_choice_of_experts_leaves_out_a_far_group(monkeypatch):
    """A held-out group with a far row (x = 1e154 in its last row, not the one
    that stands for it) scores -inf under two to four experts and a finite
    -1e306 under one: it is left out of the comparison, with a warning, and
    the other groups are compared as where that x is ordinary: each group
    weighs as its rows' weights (unequal sizes and weights, shuffled labels),
    renormalized over the groups kept."""
    held, per_sample = spy_on_auto(monkeypatch)
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 6, size=40)
    labels = rng.permutation(np.repeat(rng.permutation(1000)[:40], sizes))
    codes = np.unique(labels, return_inverse=True)[1]
    X = rng.normal(size=(len(labels), 1))
    y = np.where(codes % 2 == 0, 3 * X[:, 0], -2 * X[:, 0])
    y += 0.2 * rng.normal(size=len(labels))
    weight = rng.uniform(0.5, 2.0, size=40)[codes]
    params = dict(
        gate="constant",
        expert_estimator=LinearRegression(),
        random_state=0,
        n_init=1,
        validation_fraction=0.25,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sound = MoERegressor(**params).fit(X, y, sample_weight=weight, groups=labels)
    valid, ordinary = held[-1], per_sample[-1]
    # the held-out groups in the order of their first rows (the columns)
    kept, first = np.unique(labels[valid], return_index=True)
    kept = kept[np.argsort(first)]
    assert ordinary.shape == (4, len(kept)) and np.all(np.isfinite(ordinary))
    far = max(kept, key=lambda g: np.sum(labels == g))
    X[np.flatnonzero(labels == far)[-1], 0] = 1e154
    with np.errstate(all="ignore"), pytest.warns(SkmoeWarning) as record:
        model = MoERegressor(**params).fit(X, y, sample_weight=weight, groups=labels)
    (message,) = [
        str(w.message) for w in record if "n_experts='auto'" in str(w.message)
    ]
    assert message.startswith(
        f"n_experts='auto' left 1 of its {len(kept)} held-out groups out of its "
        "comparison"
    )
    np.testing.assert_array_equal(held[-1], valid)
    others = kept != far
    np.testing.assert_allclose(per_sample[-1], ordinary[:, others], rtol=1e-12)
    group_weight = np.array([weight[labels == g].sum() for g in kept[others]])
    expected = ordinary[:, others] @ (group_weight / group_weight.sum())
    np.testing.assert_allclose(model.n_experts_scores_, expected, rtol=1e-12)
    assert model.n_experts_ == sound.n_experts_ > 1


def test_icl_with_groups_counts_each_groups_assignment_once():
    # ICL of grouped data: -2 (sum_g log sum_k exp L_gk + sum_g log max_k r_gk)
    # + p log(n_rows) = -2 sum_g max_k L_gk + p log(n_rows), with L_gk the
    # group's joint log-density under expert k; BIC the same with the
    # log-sum-exp; p = (K - 1) + K (D + 1) + K for a constant gate
    # overlapping: the entropy matters
    X, y, groups, first, _ = grouped_two_lines(noise=0.8)
    model = MoERegressor(2, gate="constant", random_state=0).fit(X, y, groups=groups)
    joint = group_joint_log_density(model, X, y, first)
    n_parameters = 1 + 2 * 2 + 2
    penalty = n_parameters * np.log(len(y))
    bic = -2 * np.sum(special.logsumexp(joint, axis=1)) + penalty
    icl = -2 * np.sum(np.max(joint, axis=1)) + penalty
    assert icl - bic > 1.0
    np.testing.assert_allclose(model.bic(X, y, groups=groups), bic, rtol=1e-10)
    np.testing.assert_allclose(model.icl(X, y, groups=groups), icl, rtol=1e-10)


def test_pandas_na_in_object_groups_is_a_missing_label():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 2))
    y = X[:, 0]
    groups = np.array(["a", "b"] * 20, dtype=object)
    groups[3] = pd.NA  # (NA != NA is NA, whose truth value raises)
    with pytest.raises(ValueError, match=r"groups contains missing labels"):
        MoERegressor(n_experts=2).fit(X, y, groups=groups)
