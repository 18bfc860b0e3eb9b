"""sample_weight is honoured in every M-step."""

import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe._em import EMProblem, run_em
from skmoe._math import design_matrix
from skmoe.exceptions import DegenerateFitWarning
from skmoe.experts import (
    EXPERTS,
    GammaExperts,
    GaussianLinearExperts,
    LogisticExperts,
    NegativeBinomialExperts,
    PoissonExperts,
    StudentTLinearExperts,
)
from skmoe.experts.poisson import encode_counts
from skmoe.gates import GATES


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_zero_weight_is_the_same_as_removing_the_sample(Estimator, crossing_lines):
    X, y = crossing_lines
    if Estimator is MoEClassifier:
        y = (y > 0).astype(int)
    weights = np.ones(len(y))
    weights[::3] = 0.0
    model = Estimator(2, random_state=0, n_init=2)
    weighted = model.fit(X, y, sample_weight=weights)
    kept = Estimator(2, random_state=0, n_init=2).fit(X[weights > 0], y[weights > 0])
    # identical up to floating-point summation order (L-BFGS amplifies it a little)
    np.testing.assert_allclose(
        weighted.gate_coef_, kept.gate_coef_, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        weighted.expert_coef_, kept.expert_coef_, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        weighted.log_likelihood_, kept.log_likelihood_, rtol=1e-8
    )


def _family_and_target(family, X, rng):
    """An expert family and a target it models, as the EM problem takes it."""
    n = X.shape[0]
    line = X @ [1.0, -2.0] + np.sign(X[:, 0])
    if family == "gaussian":
        return GaussianLinearExperts(variance_floor=1e-8), line + 0.3 * rng.randn(n)
    if family == "student_t":
        return StudentTLinearExperts(1e-8, df=3.0), line + 0.3 * rng.standard_t(3, n)
    if family == "logistic":
        labels = (X[:, 0] * X[:, 1] > 0).astype(int)
        return LogisticExperts(n_classes=2), np.eye(2)[labels].T
    if family == "gamma":
        amounts = rng.gamma(2.0, np.exp(0.5 * np.sign(X[:, 0]) + 0.3 * X[:, 1]) / 2)
        return GammaExperts(1e-10), np.stack([amounts, np.log(amounts)])
    counts = rng.poisson(np.exp(0.5 + 0.8 * np.sign(X[:, 0]) - 0.3 * X[:, 1]))
    if family == "poisson":
        return PoissonExperts(), encode_counts(counts)
    assert family == "negative_binomial", f"a family without a target: {family}"
    return NegativeBinomialExperts(), encode_counts(counts)


@pytest.mark.parametrize("gate", ["softmax", "constant", "hierarchical"])
@pytest.mark.parametrize("family", sorted(EXPERTS))
def test_integer_weights_equal_repeated_samples_from_the_same_start(gate, family):
    # From the same initial responsibilities, EM with weight 2 is EM on a sample
    # repeated twice (the estimators draw their starts per row, which is why
    # scikit-learn's repetition check is an expected failure, as for KMeans).
    rng = np.random.RandomState(0)
    X = rng.randn(120, 2)
    counts = rng.randint(0, 4, size=120)
    experts, Y = _family_and_target(family, X, rng)
    Y_rep = np.repeat(Y, counts, axis=-1)
    resp = rng.dirichlet([1, 1, 1], size=120).T
    weighted = EMProblem(
        design_matrix(np, X), Y, counts.astype(float), GATES[gate](), experts, 1e-3
    )
    repeated = EMProblem(
        design_matrix(np, np.repeat(X, counts, axis=0)),
        Y_rep,
        np.ones(counts.sum()),
        GATES[gate](),
        experts,
        1e-3,
    )
    b = run_em(repeated, resp=np.repeat(resp, counts, axis=1), max_iter=15, tol=0)
    # overwrite_resp (fit's restarts): the start's responsibilities hold the
    # weighted ones of the first M-step, then the first E-step's
    for overwrite in (False, True):
        given = resp.copy()
        a = run_em(weighted, resp=given, max_iter=15, tol=0, overwrite_resp=overwrite)
        if not overwrite:
            np.testing.assert_array_equal(given, resp)  # the caller's, untouched
        np.testing.assert_allclose(
            a.log_likelihood_history, b.log_likelihood_history, rtol=1e-6
        )
        for name in a.expert_params:
            np.testing.assert_allclose(
                a.expert_params[name], b.expert_params[name], rtol=1e-5, atol=1e-7
            )
        np.testing.assert_allclose(
            a.gate_params["coef"], b.gate_params["coef"], rtol=1e-6, atol=1e-8
        )


def test_weights_change_the_fit(crossing_lines):
    X, y = crossing_lines
    upper = (y > 2 * X[:, 0]).astype(float)  # weight only points above one line
    plain = MoERegressor(1, alpha=0.0).fit(X, y)
    weighted = MoERegressor(1, alpha=0.0).fit(X, y, sample_weight=0.01 + upper)
    ref = np.polyfit(X[:, 0], y, 1, w=np.sqrt(0.01 + upper))
    np.testing.assert_allclose(weighted.expert_coef_[0, 0], ref[0], rtol=1e-6)
    assert abs(weighted.expert_coef_[0, 0] - plain.expert_coef_[0, 0]) > 0.1


def test_log_likelihood_is_weighted(crossing_lines):
    X, y = crossing_lines
    weights = np.random.RandomState(0).uniform(0, 2, size=len(y))
    model = MoERegressor(2, random_state=0).fit(X, y, sample_weight=weights)
    per_sample = model.predict_distribution(X).logpdf(y)
    np.testing.assert_allclose(model.log_likelihood_, np.sum(weights * per_sample))


@pytest.mark.parametrize("kind", ["gamma", "poisson"])
def test_rows_of_tiny_weight_do_not_count_as_an_experts_samples(kind):
    # 10 rows of weight 1 beside 290 of weight 1e-8: each expert's share of
    # the 300 rows counted as ~100 samples, and "auto" chose 4 Gamma experts
    # (3 Poisson ones) fitting 2 or 3 rows each, where the 10 rows alone give
    # one; with 3 experts, no word (QA)
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (300, 2))
    mean = np.exp(np.where(X[:, 0] > 0, 0.5 * X[:, 0] + 1, -0.5 * X[:, 0]))
    if kind == "gamma":
        Estimator, y = MoEGammaRegressor, rng.gamma(2.0, mean / 2.0)
    else:
        Estimator, y = MoEPoissonRegressor, rng.poisson(mean)
    w = np.full(300, 1e-8)
    w[:10] = 1.0
    alone = Estimator(random_state=0).fit(X[:10], y[:10])
    weighted = Estimator(random_state=0).fit(X, y, sample_weight=w)
    assert weighted.n_experts_ == alone.n_experts_ == 1
    with pytest.warns(UserWarning, match="handle fewer than"):
        Estimator(3, random_state=0).fit(X, y, sample_weight=w)


@pytest.mark.parametrize(
    "Estimator, options",
    [
        (MoEPoissonRegressor, dict(n_experts=1, alpha=0.0)),
        (MoEPoissonRegressor, dict(n_experts=2)),
        (MoEGammaRegressor, dict(n_experts=2, gate="gaussian")),
        (MoERegressor, dict(n_experts=2, gate="gaussian")),
    ],
)
def test_zero_weight_row_far_out_is_left_out(Estimator, options):
    """A zero-weight row whose feature is 1e6: its rate overflowed, and 0 * inf
    stopped the Poisson fit at another optimum (slope 0.023 for 0.490), or
    broke a Gamma model's gaussian gate (FloatingPointError); the Gaussian
    experts' case held before and is checked with them."""
    rng = np.random.RandomState(3)
    X = rng.randn(300, 1)
    y = rng.poisson(3 * np.exp(0.5 * X[:, 0]))
    if Estimator is not MoEPoissonRegressor:  # two regimes of amounts
        z = X[:, 0] / X[:, 0].std()
        y = rng.gamma(2, np.exp(np.where(z > 0, 1.0, -0.5) * z) / 2)
    X[0] = 1e6
    w = np.r_[0.0, np.ones(299)]
    groups = np.repeat(np.arange(150), 2)
    model = Estimator(random_state=0, **options)
    weighted = clone(model).fit(X, y, sample_weight=w)
    dropped = clone(model).fit(X[1:], y[1:])
    np.testing.assert_allclose(weighted.log_likelihood_, dropped.log_likelihood_)
    np.testing.assert_allclose(weighted.predict(X[1:]), dropped.predict(X[1:]))
    if options.get("gate") == "gaussian":
        return
    # with groups: a group of zero weight (rows 0 and 1) leaves the fit too
    w[1] = 0.0
    model.set_params(gate="constant")
    weighted = clone(model).fit(X, y, sample_weight=w, groups=groups)
    dropped = clone(model).fit(X[2:], y[2:], groups=groups[2:])
    np.testing.assert_allclose(weighted.log_likelihood_, dropped.log_likelihood_)


ALL_FIVE = pytest.mark.parametrize(
    "Estimator",
    [
        MoERegressor,
        MoEClassifier,
        MoEPoissonRegressor,
        MoENegativeBinomialRegressor,
        MoEGammaRegressor,
    ],
)


def _two_features_and_targets(Estimator, n):
    """The generator, two standard normal features and a target of
    ``Estimator``'s kind that depends on the first."""
    rng = np.random.RandomState(0)
    X = rng.randn(n, 2)
    signal = X[:, 0] + 0.5 * rng.randn(n)
    y = {
        MoERegressor: signal,
        MoEClassifier: (signal > 0).astype(int),
        MoEPoissonRegressor: rng.poisson(np.exp(X[:, 0])),
        MoENegativeBinomialRegressor: rng.poisson(np.exp(X[:, 0])),
        MoEGammaRegressor: np.exp(signal),
    }[Estimator]
    return rng, X, y


@ALL_FIVE
def test_score_takes_weights_of_any_kind_and_scale(Estimator):
    # a list or Series of weights (as metadata routing passes a DataFrame's
    # column) raised deep in the Array API conversion; weights of 1e307 gave
    # NaN (0.0 for the Gamma): only their ratios matter to a score
    pandas = pytest.importorskip("pandas")
    rng, X, y = _two_features_and_targets(Estimator, 120)
    model = Estimator(2, n_init=1, random_state=0).fit(X, y)
    weight = rng.uniform(0.5, 2.0, 120)
    expected = model.score(X, y, sample_weight=weight)
    assert model.score(X, y, sample_weight=list(weight)) == expected
    assert model.score(X, y, sample_weight=pandas.Series(weight)) == expected
    scaled = np.ldexp(weight, 1018)  # up to 1.8e307: the same ratios exactly
    assert model.score(X, y, sample_weight=scaled) == pytest.approx(expected, 1e-12)
    assert model.score(X, y, sample_weight=3.0) == pytest.approx(model.score(X, y))
    with pytest.raises(ValueError, match="Negative values"):
        model.score(X, y, sample_weight=-weight)
    for bad in (np.nan, np.inf):  # a scalar passes scikit-learn's check
        with pytest.raises(ValueError, match="NaN or infinity"):
            model.score(X, y, sample_weight=bad)


def test_a_nan_weight_is_named():
    # a scalar NaN passes scikit-learn's check: it was said to sum to infinity
    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 2), rng.randn(50)
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        MoERegressor(1).fit(X, y, sample_weight=np.nan)


@ALL_FIVE
def test_score_and_std_errors_leave_out_rows_of_weight_zero(Estimator):
    """As fit does: a zero-weight row with a feature of 1e6 made a Poisson or
    negative binomial score raise (its prediction overflowed), and every
    standard error inf (0 * inf in the Hessian)."""
    rng, X, y = _two_features_and_targets(Estimator, 200)
    model = Estimator(2, n_init=1, alpha=0.0, random_state=0).fit(X, y)
    far = np.vstack([X, [[1e6, 1e6]]])
    y_far = np.r_[y, y[:1]]
    weight = np.r_[rng.uniform(0.5, 2.0, 200), 0.0]
    expected = model.score(X, y, sample_weight=weight[:200])
    assert model.score(far, y_far, sample_weight=weight) == expected
    assert model.score(far, list(y_far), sample_weight=list(weight)) == expected
    with warnings.catch_warnings():  # (the default tol's: not at a maximum)
        warnings.simplefilter("ignore", UserWarning)
        se = model.std_errors(X, y, sample_weight=weight[:200])
        se_far = model.std_errors(far, y_far, sample_weight=weight)
    for name, value in se.items():
        np.testing.assert_array_equal(se_far[name], value)
    short = weight[:-2].copy()
    short[5] = 0.0
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.score(far, y_far[:-2], sample_weight=short)
    if hasattr(model, "_exposure_given"):  # counts: in the caller's numbers
        with pytest.raises(ValueError, match=r"shape \(201, 1\); expected \(201,\)"):
            model.score(far, y_far, sample_weight=weight, exposure=np.ones((201, 1)))


@ALL_FIVE
def test_score_refuses_nan_at_rows_of_weight_zero(Estimator):
    """The rows of weight 0 are left out, but checked as fit and std_errors
    check them: NaN or infinity there scored unseen, where fit and
    scikit-learn's score (LinearRegression's) raise its input errors."""
    from sklearn.linear_model import LinearRegression

    rng, X, y = _two_features_and_targets(Estimator, 120)
    model = Estimator(2, n_init=1, random_state=0).fit(X, y)
    weight = rng.uniform(0.5, 2.0, 120)
    weight[7] = 0.0
    reference = LinearRegression().fit(X, y)
    for bad, words in ((np.nan, "Input X contains NaN"), (np.inf, "infinity")):
        X_bad = X.copy()
        X_bad[7, 1] = bad
        with pytest.raises(ValueError, match=words):  # scikit-learn's words
            reference.score(X_bad, y, sample_weight=weight)
        with pytest.raises(ValueError, match=words):
            model.fit(X_bad, y, sample_weight=weight)
        with pytest.raises(ValueError, match=words) as error:
            model.score(X_bad, y, sample_weight=weight)
        assert Estimator.__name__ in str(error.value) or bad == np.inf
    if Estimator is not MoEClassifier:  # (labels: refused on every row)
        # the words the same NaN gets at a row of positive weight, those of
        # LinearRegression's score (and PoissonRegressor's, GammaRegressor's),
        # "Input contains NaN.", where it said "Input y contains NaN." at a row
        # of weight 0, a None or NaN of an object y too (scored unseen there)
        y_bad = y.astype(float)
        y_bad[7] = np.nan
        with pytest.raises(ValueError) as kept:
            model.score(X, y_bad)
        with pytest.raises(ValueError) as reference_words:
            reference.score(X, y_bad, sample_weight=weight)
        assert str(kept.value) == str(reference_words.value)
        words = "^" + re.escape(str(kept.value)) + "$"
        for missing in (np.nan, None):
            y_object = y.astype(object)
            y_object[7] = missing
            for target in (y_bad, y_object):
                with pytest.raises(ValueError, match=words):
                    model.score(X, target, sample_weight=weight)
    # an unfitted model says so first, as scikit-learn's score (predict's
    # first check), whatever the rows of weight 0 hold
    X_bad = X.copy()
    X_bad[7, 1] = np.nan
    with pytest.raises(NotFittedError):
        LinearRegression().score(X_bad, y, sample_weight=weight)
    with pytest.raises(NotFittedError):
        clone(model).score(X_bad, y, sample_weight=weight)
    # the finite rows of weight 0 still leave the score unchanged
    expected = model.score(
        X[weight > 0], y[weight > 0], sample_weight=weight[weight > 0]
    )
    assert model.score(X, y, sample_weight=weight) == expected


def test_a_zero_weight_on_some_rows_of_a_group_leaves_them_out():
    # refused before ("sample_weight must be the same on every row of a
    # group"), though a zero weight leaves a row out of the fit
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(60), 5)
    responds = rng.rand(60) < 0.5
    X = rng.randn(300, 1)
    y = np.where(responds[groups], 2.0, -2.0) * X[:, 0] + 0.3 * rng.randn(300)
    weight = np.ones(300)
    weight[[0, 3, 7, 11]] = 0.0  # a group's first row among them
    kept = weight > 0
    model = MoERegressor(2, gate="constant", alpha=0.0, tol=1e-10, random_state=0)
    weighted = clone(model).fit(X, y, sample_weight=weight, groups=groups)
    dropped = clone(model).fit(X[kept], y[kept], groups=groups[kept])
    np.testing.assert_allclose(weighted.log_likelihood_, dropped.log_likelihood_)
    np.testing.assert_allclose(weighted.expert_coef_, dropped.expert_coef_)
    se = weighted.std_errors(X, y, sample_weight=weight, groups=groups)
    expected = dropped.std_errors(X[kept], y[kept], groups=groups[kept])
    for name in expected:
        np.testing.assert_allclose(se[name], expected[name], rtol=1e-9)
    weight[1] = 0.5  # positive weights still differ within group 0
    with pytest.raises(ValueError, match="differs within group 0"):
        clone(model).fit(X, y, sample_weight=weight, groups=groups)


@pytest.mark.parametrize(
    "Estimator, options",
    [
        (MoEPoissonRegressor, dict(solver="sgd")),
        (MoERegressor, dict(gate="constant")),  # online EM
        (MoEClassifier, dict(solver="sgd")),
    ],
)
def test_partial_fit_leaves_out_rows_of_weight_zero(Estimator, options):
    # as fit does: a Poisson stream with a row of weight 0 at [1e6, 1e6]
    # raised "partial_fit diverged"
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2)
    y = {
        MoEPoissonRegressor: rng.poisson(np.exp(0.5 * X[:, 0])),
        MoERegressor: np.where(X[:, 0] > 0, 2.0, -1.0) * X[:, 1] + rng.randn(300),
        MoEClassifier: (X[:, 0] + rng.randn(300) > 0).astype(int),
    }[Estimator]
    far = np.vstack([X, [[1e6, 1e6]]])
    y_far = np.r_[y, y[:1]]
    weight = np.r_[np.ones(300), 0.0]
    streamed = Estimator(2, random_state=0, **options)
    plain = Estimator(2, random_state=0, **options)
    extra = {"classes": [0, 1]} if Estimator is MoEClassifier else {}
    extra_far = dict(extra)
    if Estimator is MoEPoissonRegressor:  # (one exposure per row: those kept)
        exposure = rng.uniform(0.5, 2.0, 300)
        extra, extra_far = {"exposure": exposure}, {"exposure": np.r_[exposure, 1.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            streamed.partial_fit(far, y_far, sample_weight=weight, **extra_far)
            plain.partial_fit(X, y, **extra)
    np.testing.assert_allclose(streamed.predict(X), plain.predict(X), rtol=1e-12)
    if Estimator is MoEPoissonRegressor:  # refused in the caller's numbers
        with pytest.raises(ValueError, match=r"shape \(250,\); expected \(301,\)"):
            streamed.partial_fit(
                far, y_far, sample_weight=weight, exposure=exposure[:250]
            )
        # the rows of weight 0 are checked as fit checks them (then left out)
        with pytest.raises(ValueError, match="exposure are not positive"):
            streamed.partial_fit(
                far, y_far, sample_weight=weight, exposure=np.r_[exposure, 0.0]
            )


def test_a_zero_weight_row_may_differ_from_its_group_in_the_gate_features():
    # the gate's features must be the same on a group's rows; one of weight 0
    # (left out) was held to it too, in fit and std_errors
    rng = np.random.RandomState(1)
    groups = np.repeat(np.arange(60), 5)
    age = rng.randn(60)
    responds = rng.rand(60) < 1 / (1 + np.exp(-2 * age))
    x = rng.randn(300)
    y = np.where(responds[groups], 2.0, -2.0) * x + 0.3 * rng.randn(300)
    X = np.column_stack([x, age[groups]])
    X_bad = X.copy()
    X_bad[7, 1] = 99.0  # in group 1, a row of weight 0
    weight = np.ones(300)
    weight[7] = 0.0
    kept = weight > 0
    model = MoERegressor(
        2, gate_features=[1], expert_features=[0], alpha=0.0, tol=1e-10, random_state=0
    )
    weighted = clone(model).fit(X_bad, y, sample_weight=weight, groups=groups)
    dropped = clone(model).fit(X[kept], y[kept], groups=groups[kept])
    np.testing.assert_allclose(weighted.log_likelihood_, dropped.log_likelihood_)
    se = weighted.std_errors(X_bad, y, sample_weight=weight, groups=groups)
    expected = dropped.std_errors(X[kept], y[kept], groups=groups[kept])
    np.testing.assert_allclose(se.gate_coef_, expected.gate_coef_, rtol=1e-9)
    with pytest.raises(ValueError, match="features differ within group 1"):
        clone(model).fit(X_bad, y, groups=groups)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_zero_weight_is_removal_for_sgd_too(Estimator):
    # fit drops the rows of weight 0 before the mini-batches and the
    # early-stopping split (its docstring said they stayed in: stale, QA)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (300, 1))
    y = np.where(X[:, 0] > 0, 2.0, -2.0) * X[:, 0] + 0.5 * rng.randn(300)
    if Estimator is MoEClassifier:
        y = (y > 0).astype(int)
    weights = np.ones(300)
    weights[::3] = 0.0
    kept = weights > 0
    model = Estimator(2, solver="sgd", max_iter=30, random_state=0)
    weighted = clone(model).fit(X, y, sample_weight=weights)
    dropped = clone(model).fit(X[kept], y[kept])
    assert weighted.n_iter_ == dropped.n_iter_ > 1
    np.testing.assert_array_equal(weighted.expert_coef_, dropped.expert_coef_)
    np.testing.assert_array_equal(weighted.gate_coef_, dropped.gate_coef_)


@pytest.mark.filterwarnings("ignore::UserWarning")  # a sample's small expert
def test_bootstrap_lrt_draws_one_target_per_weighted_row():
    # weights weigh each row's one drawn target (the rows are the units): a
    # weight of 3 on every row triples every statistic of the same draws,
    # where the rows repeated 3 times would draw 3 targets each
    from skmoe import bootstrap_lrt

    rng = np.random.RandomState(0)
    X = rng.randn(60, 1)
    y = X[:, 0] + rng.randn(60)
    model = MoERegressor(n_init=2, prune_threshold=0.05, random_state=0)
    options = dict(max_experts=2, n_bootstrap=9, significance=0.1, random_state=0)
    plain = bootstrap_lrt(model, X, y, **options)
    tripled = bootstrap_lrt(model, X, y, sample_weight=np.full(60, 3.0), **options)
    np.testing.assert_allclose(tripled.statistics, 3 * plain.statistics, rtol=1e-6)
    np.testing.assert_allclose(
        tripled.bootstrap_statistics,
        3 * plain.bootstrap_statistics,
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_array_equal(tripled.p_values, plain.p_values)


def test_an_expert_on_a_few_heavy_rows_has_few_samples():
    # 200 rows of weight 1 on one line, 5 of weight 40 on another: each
    # expert's share is half the weight, 9.75 samples by Kish's number of all
    # rows (400^2 / 8200), above the 6 needed (2 per parameter, a line and a
    # variance); but the second expert's own mass sits on 5 rows of equal
    # weight, Kish's 5 samples, too few: it warns
    rng = np.random.RandomState(0)
    xa, xb = rng.uniform(-3, 0, 200), np.linspace(0.5, 3, 5)
    X = np.r_[xa, xb][:, None]
    y = np.r_[2 * xa + 0.1 * rng.randn(200), 10 - 3 * xb + 0.1 * rng.randn(5)]
    weight = np.r_[np.ones(200), np.full(5, 40.0)]
    assert (5 * 40.0) ** 2 / (5 * 40.0**2) < 2 * 3 < 0.5 * 400**2 / 8200
    with pytest.warns(DegenerateFitWarning, match="fewer than 6 samples") as caught:
        model = MoERegressor(2, random_state=0).fit(X, y, sample_weight=weight)
    k = int(np.argmin(model.expert_coef_[:, 0]))  # the line of slope -3
    assert model.expert_coef_[k, 0] == pytest.approx(-3, abs=0.3)
    assert any(f"Experts [{k}]" in str(w.message) for w in caught)


def test_heavier_rows_elsewhere_do_not_lower_an_experts_samples():
    # 12 rows of weight 1 on one line, 100 of weight 3 on another: the same
    # fit as 3 copies of each of the 100 rows, where the second expert has 12
    # samples of its own (6 needed: a line and a variance). Its share of
    # Kish's number of all rows, 12 / 312 * 312^2 / 912 = 4.1, warned and
    # made n_experts="auto" choose one expert
    rng = np.random.RandomState(0)
    xa, xb = rng.uniform(-3, 0, 100), rng.uniform(0.5, 3, 12)
    X = np.r_[xa, xb][:, None]
    y = np.r_[1 + 2 * xa + 0.3 * rng.randn(100), 8 - 2 * xb + 0.3 * rng.randn(12)]
    weight = np.r_[np.full(100, 3.0), np.ones(12)]
    assert 12 / 312 * 312**2 / 912 < 2 * 3 < 12
    X_copies, y_copies = (
        np.repeat(X, [3] * 100 + [1] * 12, axis=0),
        np.repeat(y, [3] * 100 + [1] * 12),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        copies = MoERegressor(2, random_state=0).fit(X_copies, y_copies)
        weighted = MoERegressor(2, random_state=0).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(
        np.sort(weighted.expert_coef_[:, 0]),
        np.sort(copies.expert_coef_[:, 0]),
        rtol=1e-4,
    )
    # two lines, two experts, as without the weights
    auto = MoERegressor("auto", random_state=0)
    assert auto.fit(X, y, sample_weight=weight).n_experts_ == 2
    assert auto.fit(X, y).n_experts_ == 2


@pytest.mark.parametrize("scale", [1.0, 1e-170, 1e170])
@pytest.mark.parametrize("heavy", [1.0, 3.0, 1e6])
@pytest.mark.parametrize("n_rows", [5, 6])
def test_an_experts_samples_are_its_rows_whatever_the_others_weigh(
    heavy, n_rows, scale
):
    # expert 1 takes n_rows rows of weight 1 (responsibility 1), expert 0 20
    # rows of weight `heavy`: expert 1 has n_rows samples, as on its rows
    # alone (Kish's number of equal weights), and 6 are needed: a warning
    # exactly below 6, whatever the other rows weigh. Every weight times
    # 1e170 or 1e-170 too: Kish's number is unchanged by a common factor,
    # where the weights' squares (1e680 or 1e-680) overflow or underflow
    # unless taken over the largest weight
    from skmoe._diagnostics import _few_samples

    rng = np.random.RandomState(0)
    x0, x1 = rng.uniform(-3, 3, 20), rng.uniform(-3, 3, n_rows)
    X = np.r_[x0, x1][:, None]
    y = np.r_[0.1 * rng.randn(20), 100 + x1 + 0.1 * rng.randn(n_rows)]
    weight = np.r_[np.full(20, heavy), np.ones(n_rows)] * scale
    experts = GaussianLinearExperts(1e-10)
    gate = GATES["constant"]()
    problem = EMProblem(design_matrix(np, X), y, weight, gate, experts, 0.0)
    coef = np.c_[np.zeros(2), [100.0, 1.0]]
    result = SimpleNamespace(
        gate_params={"coef": np.zeros((2, 2))},
        expert_params={"coef": coef, "variance": np.ones(2)},
    )
    few, needed = _few_samples(problem, result)
    assert needed == 2 * (1 + 1 + 1)  # intercept, slope, variance
    assert few.tolist() == ([1] if n_rows < needed else [])


@pytest.mark.parametrize("heavy", [1e160, 1e300])
@pytest.mark.parametrize("n_rows", [5, 6, 30])
def test_an_experts_samples_are_its_rows_beside_rows_1e160_heavier(heavy, n_rows):
    # as above, the other rows 1e160 or 1e300 times heavier: the expert's
    # rows weigh under 1e-154 of the heaviest, whose squares underflowed (its
    # Kish number, n_rows, counted 0: 30 rows said too few)
    from skmoe._diagnostics import _few_samples

    rng = np.random.RandomState(0)
    x0, x1 = rng.uniform(-3, 3, 20), rng.uniform(-3, 3, n_rows)
    X = np.r_[x0, x1][:, None]
    y = np.r_[0.1 * rng.randn(20), 100 + x1 + 0.1 * rng.randn(n_rows)]
    weight = np.r_[np.full(20, heavy), np.ones(n_rows)]
    experts = GaussianLinearExperts(1e-10)
    problem = EMProblem(
        design_matrix(np, X), y, weight, GATES["constant"](), experts, 0.0
    )
    result = SimpleNamespace(
        gate_params={"coef": np.zeros((2, 2))},
        expert_params={
            "coef": np.c_[np.zeros(2), [100.0, 1.0]],
            "variance": np.ones(2),
        },
    )
    few, needed = _few_samples(problem, result)
    assert needed == 6
    assert few.tolist() == ([1] if n_rows < needed else [])


def test_an_expert_of_subnormal_responsibilities_has_few_samples():
    # a constant gate of prior e^-720 (2e-313, a subnormal float) for expert
    # 1, and experts that fit alike: its responsibility is its prior on each
    # of the 30 rows, Kish's number of its rows 30 e^-720 / (1 + e^-720),
    # too few. Its largest mass, scaled by a power of two below the floats'
    # largest exponent (2^1040 is inf), counted NaN samples and no warning
    # (mutation testing)
    from skmoe._diagnostics import _few_samples

    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (30, 1))
    y = 0.1 * rng.randn(30)
    experts = GaussianLinearExperts(1e-10)
    problem = EMProblem(
        design_matrix(np, X), y, np.ones(30), GATES["constant"](), experts, 0.0
    )
    gate = np.zeros((2, 2))
    gate[0, 1] = -720.0
    result = SimpleNamespace(
        gate_params={"coef": gate},
        expert_params={"coef": np.zeros((2, 2)), "variance": np.ones(2)},
    )
    assert 0 < 30 * np.exp(-720.0) < np.finfo(np.float64).smallest_normal
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        few, needed = _few_samples(problem, result)
    assert needed == 6
    assert few.tolist() == [1]


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("heavy", [1.5, 3.0, 7.0, 1e6])
@pytest.mark.parametrize("light", [1.0, 1e-30])
@pytest.mark.parametrize("n_rows", [5, 6])
def test_an_experts_samples_in_float32_are_its_rows(namespace, heavy, light, n_rows):
    # as above in float32, with 7 rows of weight 0: expert 1 takes n_rows
    # rows of weight `light` (responsibility 1, exactly), so Kish's number of
    # its rows is n_rows, and 6 are needed. float32's rounding counted 6 rows
    # 5.9999995 (beside rows of 3, with the rows of weight 0), and the
    # squares of weights 1e-30 of the heaviest underflowed (0 samples)
    from skmoe._diagnostics import _few_samples

    xp = np if namespace == "numpy" else pytest.importorskip(namespace)
    rng = np.random.RandomState(0)
    x0, x1 = rng.uniform(-3, 3, 20), rng.uniform(-3, 3, n_rows)
    X = np.r_[x0, x1, np.zeros(7)][:, None]
    y = np.r_[0.1 * rng.randn(20), 100 + x1 + 0.1 * rng.randn(n_rows), np.zeros(7)]
    weight = np.r_[np.full(20, heavy), np.full(n_rows, light), np.zeros(7)]

    def f32(a):
        return xp.asarray(np.asarray(a, dtype=np.float32))

    experts, gate = GaussianLinearExperts(1e-10), GATES["constant"]()
    design = design_matrix(xp, f32(X))
    problem = EMProblem(design, f32(y), f32(weight), gate, experts, 0.0)
    coef = np.c_[np.zeros(2), [100.0, 1.0]]
    result = SimpleNamespace(
        gate_params={"coef": f32(np.zeros((2, 2)))},
        expert_params={"coef": f32(coef), "variance": f32(np.ones(2))},
    )
    few, needed = _few_samples(problem, result)
    assert needed == 6
    assert few.tolist() == ([1] if n_rows < needed else [])


def test_rows_of_tiny_weight_do_not_raise_an_experts_samples():
    # 24 rows of weight 1, two experts of a constant gate on 3 features (10
    # samples needed each): one takes 8.5 rows' worth and is warned of. Beside
    # 300 rows weighing 1e-8 each (3e-6 of the weight), its share counted the
    # rows of positive weight (115 samples) and Kish's number of its own
    # samples (sum w r)^2 / sum (w r)^2 gave 12.1 (its soft responsibilities
    # spread over the rows): no word. Its share of the effective rows, 8.5.
    rng = np.random.RandomState(0)
    X = rng.randn(24, 3)
    y = rng.randn(24) * np.where(rng.rand(24) < 0.5, 1, 5)
    X_light, y_light = rng.randn(300, 3), rng.randn(300)
    alone = MoERegressor(2, gate="constant", random_state=0)
    with pytest.warns(UserWarning, match="Experts .1. .* fewer than 10 samples"):
        alone.fit(X, y)
    samples = alone.expert_usage_ * 24
    assert samples.min() < 10 < samples.max()
    weight = np.r_[np.ones(24), np.full(300, 1e-8)]
    weighted = MoERegressor(2, gate="constant", random_state=0)
    with pytest.warns(UserWarning, match="Experts .1. .* fewer than 10 samples"):
        weighted.fit(np.vstack([X, X_light]), np.r_[y, y_light], sample_weight=weight)
    np.testing.assert_allclose(weighted.expert_usage_, alone.expert_usage_, atol=1e-4)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_weights_that_round_to_zero_in_float32_are_named(method):
    # float64 weights of 1e-50 for float32 X round to 0 in X's dtype, and
    # scikit-learn's check then said the weights "must contain at least one
    # non-zero number", which they do
    assert np.float32(1e-50) == 0 and np.float32(1e-50 * 1e50) == 1
    rng = np.random.RandomState(0)
    X = rng.randn(120, 2).astype(np.float32)
    y = X[:, 0] + 0.1 * rng.randn(120)
    model = MoERegressor(2, solver="sgd", random_state=0)
    tiny = np.full(120, 1e-50)
    with pytest.raises(ValueError, match="sample_weight has positive values, all too"):
        getattr(clone(model), method)(X, y, sample_weight=tiny)
    with pytest.raises(ValueError, match="all too small for float32"):
        getattr(clone(model), method)(X, y, sample_weight=1e-50)
    # as the message advises: times a constant, the unweighted fit
    scaled = getattr(clone(model), method)(X, y, sample_weight=tiny * 1e50)
    plain = getattr(clone(model), method)(X, y)
    np.testing.assert_array_equal(scaled.predict(X), plain.predict(X))
    # in float64 X, the weights stand as they are (their sum is normalized)
    getattr(clone(model), method)(X.astype(np.float64), y, sample_weight=tiny)
    # a negative weight among them is named as such (it was called one of
    # the positive weights too small for float32), as in float64 X
    negative = np.r_[-1.0, tiny[1:]]
    for dtype in (np.float64, np.float32):
        with pytest.raises(ValueError, match="Negative values in data passed to"):
            getattr(clone(model), method)(X.astype(dtype), y, sample_weight=negative)


@pytest.mark.parametrize(
    "Estimator, solver",
    [(MoERegressor, "em"), (MoERegressor, "sgd"), (MoEClassifier, "sgd")],
)
def test_partial_fit_weights_count_within_each_batch(Estimator, solver):
    # as documented (partial_fit's sample_weight): a batch of rows weighing
    # 100 moves the stream as one of rows weighing 1, unlike weighted least
    # squares on all the rows (and scikit-learn's SGDRegressor.partial_fit)
    from sklearn.linear_model import LinearRegression

    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 1))
    level = np.r_[np.zeros(200), np.full(200, 10.0)]
    y = level + rng.randn(400)
    if Estimator is MoEClassifier:
        y = (y > 5).astype(int) ^ (rng.rand(400) < 0.2)
    gate = "constant" if solver == "em" else "softmax"
    fitted = []
    for heavy in (1.0, 100.0):
        weight = np.r_[np.ones(200), np.full(200, heavy)]
        fitted.append(LinearRegression().fit(X, y, sample_weight=weight).intercept_)
        model = Estimator(2, gate=gate, solver=solver, random_state=0)
        extra = {"classes": [0, 1]} if Estimator is MoEClassifier else {}
        for rows in (slice(0, 200), slice(200, 400)) * 3:
            model.partial_fit(X[rows], y[rows], sample_weight=weight[rows], **extra)
        classifier = Estimator is MoEClassifier
        fitted.append(model.predict_proba(X) if classifier else model.predict(X))
    assert abs(fitted[2] - fitted[0]) > 0.2  # the weights matter to the fit
    np.testing.assert_allclose(fitted[3], fitted[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_partial_fit_first_rows_pool_their_weights(Estimator):
    # as documented (partial_fit's sample_weight): the first rows count their
    # weights across batches. Online EM fits the rows it kept with their
    # weights, as fit on them, once Kish's number of them reaches 5 per
    # parameter (45 for 9); Adam's first 50 rows fix its units with theirs,
    # after which a batch's weights count within it only
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 2))
    y = np.where(np.arange(100) % 20 < 10, 0.0, 10.0) + X[:, 0] + rng.randn(100)
    extra = {}
    if Estimator is MoEClassifier:
        y, extra = (y > 5).astype(int) ^ (rng.rand(100) < 0.2), {"classes": [0, 1]}

    def weights(call, heavy):
        weight = np.ones(100)
        weight[5 * call : 5 * call + 5] = heavy
        return weight

    def stream(model, weight):
        fitted_at = None
        for start in range(0, 100, 5):
            rows = slice(start, start + 5)
            model.partial_fit(X[rows], y[rows], sample_weight=weight[rows], **extra)
            if fitted_at is None and not hasattr(model, "_online_rows"):
                fitted_at = start + 5
                if Estimator is MoERegressor and model.solver == "em":
                    return fitted_at
        if Estimator is MoEClassifier:
            return model.predict_proba(X)
        return model.predict(X)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (few rows)
        if Estimator is MoERegressor:
            weight = weights(1, 3.0)
            model = MoERegressor(2, gate="constant", random_state=0)
            fitted_at = stream(model, weight)
            # the first multiple of 5 rows whose Kish number reaches 45
            kish = [
                w.sum() ** 2 / (w**2).sum()
                for w in (weight[:stop] for stop in range(5, 101, 5))
            ]
            assert fitted_at == 5 * (np.flatnonzero(np.array(kish) >= 45)[0] + 1)
            assert fitted_at > 45  # (45 with weights 1)
            fitted = MoERegressor(2, gate="constant", random_state=0)
            fitted.fit(X[:fitted_at], y[:fitted_at], sample_weight=weight[:fitted_at])
            np.testing.assert_array_equal(model.predict(X), fitted.predict(X))

        def adam(call, heavy):
            model = Estimator(2, solver="sgd", random_state=0)
            return stream(model, weights(call, heavy))

        light = adam(1, 1.0)
        early = adam(1, 100.0)
        late = adam(10, 100.0)  # rows 50 to 54
    assert np.max(np.abs(early - light)) > 1e-3
    np.testing.assert_array_equal(late, light)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 0.1, 1e3, 1e-150])
def test_student_t_start_clips_y_at_the_quantiles_of_the_repeated_rows(scale):
    # NumPy's weighted quantile compares the rounded cumsum(w) / sum(w) with
    # q: 90 rows of weight 1e-3 took the 11th smallest y as the 10% quantile
    # (the 9th with weight 1), so the k-means start, and the fit, changed
    # with the weights' scale
    rng = np.random.RandomState(0)
    y = rng.standard_t(3, 90)
    counts = np.array([1, 2, 3] * 30)
    repeated = np.repeat(y, counts)
    for weights, rows in ((np.ones(90), y), (counts.astype(float), repeated)):
        low, high = np.quantile(rows, (0.1, 0.9), method="inverted_cdf")
        start = StudentTLinearExperts(1e-8, df=3.0).start_target(y, scale * weights)
        np.testing.assert_array_equal(start, np.clip(y, low, high))


def test_student_t_fit_is_the_same_for_weights_of_any_common_scale():
    # 60 rows of weight 1e-3 started from another k-means clustering (y clipped
    # at other quantiles): 24 iterations where the unweighted fit took 25,
    # predictions 7e-4 apart
    rng = np.random.RandomState(7)
    X = rng.uniform(-2, 2, size=(60, 1))
    y = np.where(X[:, 0] < 0, 2 * X[:, 0], 1 - X[:, 0]) + 0.3 * rng.standard_t(3, 60)
    params = dict(n_experts=2, noise="student_t", n_init=1, random_state=0)
    plain = MoERegressor(**params).fit(X, y)
    for scale in (1e-3, 1e3):
        weighted = MoERegressor(**params).fit(X, y, sample_weight=np.full(60, scale))
        assert weighted.n_iter_ == plain.n_iter_
        np.testing.assert_allclose(weighted.predict(X), plain.predict(X), atol=1e-12)
        np.testing.assert_allclose(
            weighted.log_likelihood_ / scale, plain.log_likelihood_, rtol=1e-12
        )


def test_student_t_noise_floor_does_not_depend_on_the_weights_scale():
    # the floor's 10% and 90% quantiles of y, the same NumPy quantile's
    from scipy.stats import norm

    from skmoe._regressor import _robust_floor

    y = np.random.RandomState(1).standard_t(3, 90)
    low, high = np.quantile(y, (0.1, 0.9), method="inverted_cdf")
    expected = 1e-10 * ((high - low) / (2 * norm.ppf(0.9))) ** 2
    for scale in (1.0, 1e-3, 0.1, 1e-150):
        floor = _robust_floor(y, np.full(90, scale), np.inf, "em")
        np.testing.assert_allclose(floor, expected, rtol=1e-14)


def test_weighted_quantiles_of_integer_weights_take_no_slack_per_row():
    # 1e5 rows of weight 1e6 and one of 1e6 + 1: the 10% and 90% quantiles
    # (exact fractions: the smallest k rows of cumulative weight k * 1e6 at
    # least q of the total, q as 1/10 and 9/10) are the 10001st and 90001st
    # values; a rounding slack of 4 n eps of the total (8.9, where the sums
    # are exact) took the 10000th and 90000th, 0.1 and 0.9 short of q
    from fractions import Fraction
    from math import ceil

    from skmoe._math import weighted_lower_quantiles

    n, weight = 100_000, 1_000_000
    weights = np.full(n, float(weight))
    weights[-1] += 1
    total = n * weight + 1
    values = np.arange(n, dtype=np.float64)[::-1].copy()  # sorted inside
    quantiles = weighted_lower_quantiles(values, (0.1, 0.9), weights[::-1].copy())
    expected = [
        ceil(Fraction(total) * q / weight) - 1
        for q in (Fraction(1, 10), Fraction(9, 10))
    ]
    np.testing.assert_array_equal(quantiles, expected)
    np.testing.assert_array_equal(
        quantiles,
        np.quantile(values, (0.1, 0.9), weights=weights[::-1], method="inverted_cdf"),
    )


def test_weighted_quantiles_of_integer_weights_summing_to_2_53():
    # integer weights of total 2**53 still add exactly (the bound is <=, not
    # <): they are compared exactly, not within 4 n eps of the total (16).
    # Weights 2**52 -+ 12: the first row's cumulative weight is 12 short of
    # half the total, so the median is the second value, as NumPy's
    # inverted_cdf gives (cumsum / total is exact at a power of two)
    from fractions import Fraction

    from skmoe._math import weighted_lower_quantiles

    weights = np.array([2.0**52 - 12, 2.0**52 + 12])
    assert weights.sum() == 2.0**53
    values = np.array([0.0, 1.0])
    got = weighted_lower_quantiles(values, (0.5,), weights)
    assert Fraction(int(weights[0])) < Fraction(1, 2) * int(weights.sum())
    np.testing.assert_array_equal(got, [1.0])
    np.testing.assert_array_equal(
        got, np.quantile(values, (0.5,), weights=weights, method="inverted_cdf")
    )


def test_weighted_quantiles_of_weights_not_all_integers_take_slack_per_row():
    # one weight of 1 and 2999 of 0.1: not integer weights (one integer among
    # them does not make the sums exact), so the cumulative sums' rounding,
    # up to 4 n eps of the total, is slack. At q = (the first k rows' weight,
    # exactly) / total the k-th value is the quantile (the rows repeated ten
    # times, exact fractions); 4 eps of the total, as for integer weights,
    # took the (k+1)-th where the sums of 0.1 rounded low
    from fractions import Fraction

    from skmoe._math import weighted_lower_quantiles

    n = 3000
    weights = np.full(n, 0.1)
    weights[0] = 1.0
    values = np.arange(n, dtype=np.float64)
    tenths = np.full(n, 1)
    tenths[0] = 10
    total = Fraction(int(tenths.sum()), 10)
    cumulative = np.cumsum(weights)
    for k in (799, 805, 1500, 2500):
        # q: the float nearest the first k rows' share of the total
        q = float(Fraction(int(tenths[:k].sum()), 10) / total)
        # (the rounded sums fall short of q of the rounded total: the slack
        # decides)
        assert cumulative[k - 1] < q * cumulative[-1]
        got = weighted_lower_quantiles(values, (q,), weights)
        np.testing.assert_array_equal(got, [k - 1], err_msg=f"k={k}")


@pytest.mark.parametrize(
    "power, gap, q",
    [(52, 4, 0.5), (52, 2, 0.5), (52, 1, 0.5), (53, 1, 0.5), (53, 2, 0.75)]
    + [(53, 1, 0.25), (51, 1, 1.0), (53, 1, 1.0)],
)
def test_weighted_quantiles_of_large_integer_weights_take_only_qs_rounding(
    power, gap, q
):
    # integer weights of total 2**power whose first cumulative weight is gap
    # short of q of the total (q exact, a float): the quantile is the second
    # value (exact fractions; NumPy's inverted_cdf, whose cumsum / total is
    # exact at a power of two). A slack of 4 eps of the total (4 at 2**52)
    # took the first for 2**51 -+ 4, and 2 eps of q times it (1 at 2**52 for
    # the median) for 2**51 -+ 1, and at q = 1 for 2**51 - 1 and 1
    from fractions import Fraction

    from skmoe._math import weighted_lower_quantiles

    total = 2**power
    first = int(Fraction(q) * total) - gap
    weights = np.array([first, total - first], dtype=np.float64)
    values = np.array([0.0, 1.0])
    assert Fraction(first) < Fraction(q) * int(weights.sum())  # (the case)
    got = weighted_lower_quantiles(values, (q,), weights)
    np.testing.assert_array_equal(got, [1.0])
    np.testing.assert_array_equal(
        got, np.quantile(values, (q,), weights=weights, method="inverted_cdf")
    )


@pytest.mark.parametrize("decimal", ["0.1", "0.9"])
@pytest.mark.parametrize("short", [0, 1])
def test_weighted_quantiles_of_large_integer_weights_at_decimal_q(decimal, short):
    # a decimal q (0.1, 0.9) is not its float: integer weights near 2**53
    # whose first cumulative weight reaches the decimal's share of the total
    # exactly (short 0: the first value, though the float 0.1 is above 1/10)
    # or falls half a unit short of it (short 1: the second value, where a
    # slack of 2 eps of q times the total took the first at 0.9). Expected:
    # exact fractions of the decimal, and NumPy's inverted_cdf
    from fractions import Fraction

    from skmoe._math import weighted_lower_quantiles

    share = Fraction(decimal)
    # a total of 10 m (exact share) or 10 m + 5 (a share of k + 1/2) near 2**53
    total = 10 * ((2**53 - 5) // 10) + 5 * short
    first = int(share * total)  # floor: short of the share by 0 or 1/2
    assert share * total - first == Fraction(short, 2)  # (the case)
    weights = np.array([first, total - first], dtype=np.float64)
    assert weights.sum() == total
    values = np.array([0.0, 1.0])
    got = weighted_lower_quantiles(values, (float(share),), weights)
    np.testing.assert_array_equal(got, [float(short)])
    np.testing.assert_array_equal(
        got,
        np.quantile(values, (float(share),), weights=weights, method="inverted_cdf"),
    )
