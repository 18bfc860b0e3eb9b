"""bootstrap_lrt: the statistics against fits made here, the samples' law against
the fitted models' closed forms, and the choice on data of known regimes."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor, bootstrap_lrt
from skmoe._selection import _sample
from skmoe.exceptions import DegenerateFitWarning


def _regimes(n=300, seed=0, slopes=(-2.0, 2.0)):
    """y = slope x + noise, the slope changing at x = 0 (one regime if equal)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    y = np.where(X[:, 0] < 0, *slopes) * X[:, 0] + 0.3 * rng.standard_normal(n)
    return X, y


def _model(**params):
    return MoERegressor(n_init=2, prune_threshold=0.05, random_state=0, **params)


def test_two_regimes_choose_two_experts_with_the_observed_statistics():
    X, y = _regimes()
    result = bootstrap_lrt(
        _model(), X, y, max_experts=3, n_bootstrap=9, significance=0.1, random_state=0
    )
    assert result.n_experts == 2
    # the statistics of fits made here, one per test run
    fits = [_model(n_experts=k).fit(X, y).log_likelihood_ for k in (1, 2, 3)]
    np.testing.assert_allclose(result.statistics, 2 * np.diff(fits), rtol=1e-10)
    # 1 against 2: no sample from the one-expert fit comes near 2 (LL2 - LL1)
    assert result.p_values[0] == pytest.approx(1 / 10)
    assert result.bootstrap_statistics.shape == (2, 9)
    assert result.bootstrap_statistics[0].max() < result.statistics[0] / 10
    # 2 against 3 is not rejected: the p-value counts the samples at or above
    at_or_above = np.count_nonzero(
        result.bootstrap_statistics[1] >= result.statistics[1]
    )
    assert result.p_values[1] == pytest.approx((1 + at_or_above) / 10)
    assert result.p_values[1] > 0.05
    # the returned fit is the two experts' fit
    assert result.estimator.n_experts_ == 2
    np.testing.assert_allclose(result.estimator.log_likelihood_, fits[1], rtol=1e-12)


def test_one_regime_keeps_one_expert():
    X, y = _regimes(slopes=(1.5, 1.5))
    result = bootstrap_lrt(
        _model(alpha=0),
        X,
        y,
        max_experts=3,
        n_bootstrap=9,
        significance=0.1,
        random_state=0,
    )
    assert result.n_experts == 1
    assert result.p_values.shape == (1,)
    assert result.p_values[0] > 0.05
    # the one-expert fit is least squares
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(result.estimator.predict(X), ols.predict(X), rtol=1e-8)


def test_every_test_rejecting_returns_max_experts():
    X, y = _regimes()
    result = bootstrap_lrt(
        _model(), X, y, max_experts=2, n_bootstrap=5, significance=0.2, random_state=0
    )
    assert result.n_experts == 2
    assert result.p_values.tolist() == [pytest.approx(1 / 6)]
    assert result.estimator.n_experts_ == 2


def test_reproducible_serial_and_parallel_and_estimator_unchanged():
    X, y = _regimes(n=200)
    model = _model(n_experts="auto")
    runs = [
        bootstrap_lrt(
            model,
            X,
            y,
            max_experts=2,
            n_bootstrap=4,
            significance=0.2,
            random_state=3,
            n_jobs=n_jobs,
        )
        for n_jobs in (None, None, 2)
    ]
    for run in runs[1:]:
        np.testing.assert_array_equal(
            run.bootstrap_statistics, runs[0].bootstrap_statistics
        )
    other = bootstrap_lrt(
        model, X, y, max_experts=2, n_bootstrap=4, significance=0.2, random_state=4
    )
    assert not np.array_equal(other.bootstrap_statistics, runs[0].bootstrap_statistics)
    assert model.n_experts == "auto"
    assert not hasattr(model, "n_experts_")


def test_verbose_prints_a_line_per_test(capsys):
    X, y = _regimes(n=200)
    options = dict(max_experts=3, n_bootstrap=4, significance=0.2, random_state=0)
    result = bootstrap_lrt(_model(), X, y, verbose=1, **options)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(result.p_values) == 2
    assert lines[0].startswith(
        f"1 against 2 experts: statistic {result.statistics[0]:.6g}, p-value 0.2 "
        "(4 samples, "
    )
    bootstrap_lrt(_model(), X, y, **options)
    assert capsys.readouterr().out == ""


def test_sample_weight_reaches_the_fits():
    X, y = _regimes(n=200)
    weight = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    result = bootstrap_lrt(
        _model(),
        X,
        y,
        max_experts=2,
        n_bootstrap=3,
        significance=0.25,
        random_state=0,
        sample_weight=weight,
    )
    fits = [
        _model(n_experts=k).fit(X, y, sample_weight=weight).log_likelihood_
        for k in (1, 2)
    ]
    np.testing.assert_allclose(result.statistics, [2 * (fits[1] - fits[0])], rtol=1e-10)


class _Rescale(TransformerMixin, BaseEstimator):
    """(X - 7) / 100, with a fit that sets no attribute."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return (np.asarray(X) - 7) / 100


def test_pipeline_matches_the_model_on_scaled_inputs():
    X, y = _regimes(n=200)
    X = 100 * X + 7
    scaled = StandardScaler().fit_transform(X)
    options = dict(max_experts=2, n_bootstrap=4, significance=0.2, random_state=0)
    piped = bootstrap_lrt(make_pipeline(StandardScaler(), _model()), X, y, **options)
    plain = bootstrap_lrt(_model(), scaled, y, **options)
    np.testing.assert_allclose(piped.statistics, plain.statistics, rtol=1e-6)
    np.testing.assert_allclose(
        piped.bootstrap_statistics, plain.bootstrap_statistics, rtol=1e-6
    )
    assert piped.estimator[-1].n_experts_ == plain.estimator.n_experts_ == 2
    # a step whose fit sets no attribute: the sub-pipeline before the model
    # looked unfitted (NotFittedError), though the pipeline predicted
    unfitted = bootstrap_lrt(make_pipeline(_Rescale(), _model()), X, y, **options)
    direct = bootstrap_lrt(_model(), (X - 7) / 100, y, **options)
    np.testing.assert_allclose(unfitted.statistics, direct.statistics, rtol=1e-6)


def test_classifier_xor_needs_two_experts():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "other")
    model = MoEClassifier(n_init=2, random_state=0)
    result = bootstrap_lrt(
        model, X, y, max_experts=2, n_bootstrap=4, significance=0.2, random_state=0
    )
    assert result.n_experts == 2
    assert result.p_values[0] == pytest.approx(1 / 5)
    fits = [
        MoEClassifier(n_experts=k, n_init=2, random_state=0).fit(X, y).log_likelihood_
        for k in (1, 2)
    ]
    np.testing.assert_allclose(result.statistics, [2 * (fits[1] - fits[0])], rtol=1e-10)


def _bins(x, n_bins=6):
    return np.digitize(x, np.linspace(x.min(), x.max(), n_bins + 1)[1:-1])


def test_regressor_samples_follow_the_gated_mixture():
    # two experts whose gate switches at x = 0: per bin of x, the draws have
    # the predictive mixture's mean and variance (a sampler ignoring the gate,
    # or the inputs, would put both slopes' draws in every bin)
    X, y = _regimes(n=20000, slopes=(-2.0, 2.0))
    reg = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    draw = _sample(reg, X, {}, 0)
    mean, std = reg.predict(X, return_std=True)
    bins = _bins(X[:, 0])
    for b in np.unique(bins):
        rows = bins == b
        n = rows.sum()
        assert abs(draw[rows].mean() - mean[rows].mean()) < 4 * std[
            rows
        ].max() / np.sqrt(n)
        # the draws' variance about each row's mean: the mixture's variance
        assert np.mean((draw[rows] - mean[rows]) ** 2) == pytest.approx(
            np.mean(std[rows] ** 2), rel=0.1
        )


def test_classifier_samples_follow_each_rows_probabilities():
    rng = np.random.RandomState(0)
    n = 20000
    X = rng.uniform(-2, 2, size=(n, 2))
    p_a = np.where(X[:, 0] > 0, 0.9, 0.2)
    y = np.where(rng.uniform(size=n) < p_a, "a", "b")
    clf = MoEClassifier(n_experts=2, n_init=1, random_state=0).fit(X, y)
    drawn = _sample(clf, X, {}, 0)
    assert set(np.unique(drawn)) == {"a", "b"}
    proba = clf.predict_proba(X)[:, 0]
    bins = _bins(X[:, 0])
    for b in np.unique(bins):
        rows = bins == b
        p = proba[rows].mean()
        share = np.mean(drawn[rows] == "a")
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / rows.sum())


def test_poisson_samples_are_drawn_at_the_exposures():
    rng = np.random.RandomState(0)
    n = 20000
    X = rng.uniform(-3, 3, size=(n, 1))
    exposure = rng.uniform(0.1, 5, n)
    counts = rng.poisson(exposure * np.exp(0.5 + 0.3 * X[:, 0]))
    pois = MoEPoissonRegressor(n_experts=1).fit(X, counts, exposure=exposure)
    drawn = _sample(pois, X, {"exposure": exposure}, 0)
    mean = pois.predict(X, exposure=exposure)
    np.testing.assert_allclose(mean, exposure * np.exp(0.5 + 0.3 * X[:, 0]), rtol=0.1)
    assert np.all(drawn == np.round(drawn))
    for b in np.unique(bins := _bins(exposure)):  # per band of exposure
        rows = bins == b
        z = (drawn[rows] - mean[rows]).sum() / np.sqrt(mean[rows].sum())
        assert abs(z) < 4
    # a model fitted with exposures refuses to draw without them
    with pytest.raises(ValueError, match="pass them as exposure"):
        _sample(pois, X, {}, 0)


def test_a_replicate_recomputed_by_hand():
    X, y = _regimes(n=200)
    result = bootstrap_lrt(
        _model(), X, y, max_experts=2, n_bootstrap=4, significance=0.2, random_state=5
    )
    seeds = np.random.RandomState(5).randint(np.iinfo(np.int32).max, size=4)
    null = _model(n_experts=1).fit(X, y)
    for i in (0, 3):
        y_star = null.predict_distribution(X).sample(random_state=seeds[i])[0]
        fits = [_model(n_experts=k).fit(X, y_star).log_likelihood_ for k in (1, 2)]
        assert result.bootstrap_statistics[0, i] == pytest.approx(
            2 * (fits[1] - fits[0]), rel=1e-10
        )


def test_ties_count_against_rejection(monkeypatch):
    # every statistic equal: p = (1 + B) / (B + 1), the samples at the observed
    # value counted (>=), as mclust
    import skmoe._selection as selection

    monkeypatch.setattr(selection, "_statistic", lambda smaller, larger: 1.5)
    X, y = _regimes(n=100)
    result = bootstrap_lrt(
        _model(), X, y, max_experts=2, n_bootstrap=4, significance=0.2, random_state=0
    )
    assert result.p_values.tolist() == [1.0]
    assert result.n_experts == 1


def test_classifier_samples_missing_a_class_are_drawn_again():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = np.where(X[:, 0] > 0, "a", "b").astype(object)
    y[:2] = "rare"
    model = MoEClassifier(n_init=1, random_state=0)
    null = MoEClassifier(n_experts=1, n_init=1, random_state=0).fit(X, y)
    # some seeds' first draw misses the rare class: those are drawn again
    plain = [_sample(null, X, {}, seed) for seed in range(40)]
    assert any("rare" not in draw for draw in plain)
    for seed in range(40):
        assert "rare" in _sample(null, X, {}, seed, null.classes_)
    result = bootstrap_lrt(
        model, X, y, max_experts=2, n_bootstrap=9, significance=0.1, random_state=0
    )
    assert result.bootstrap_statistics.shape == (1, 9)
    assert np.all(np.isfinite(result.bootstrap_statistics))


def test_class_weight_is_refused():
    X, y = _regimes(n=50)
    model = MoEClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match="class_weight='balanced' reweights"):
        bootstrap_lrt(model, X, y > 0)


def test_exposures_under_another_name_are_refused():
    import sklearn

    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(100, 1))
    exposure = rng.uniform(0.5, 2, 100)
    y = rng.poisson(exposure)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            StandardScaler(),
            MoEPoissonRegressor(random_state=0).set_fit_request(exposure="t"),
        )
        with pytest.raises(ValueError, match="moepoissonregressor__exposure or"):
            bootstrap_lrt(pipe, X, y, n_bootstrap=19, t=exposure)


def test_poisson_exposure_reaches_fits_and_samples():
    rng = np.random.RandomState(3)
    X = rng.uniform(-2, 2, size=(300, 1))
    exposure = rng.uniform(0.1, 5, 300)
    y = rng.poisson(exposure * np.exp(0.5 + 0.3 * X[:, 0]))
    model = MoEPoissonRegressor(n_init=2, prune_threshold=0.05, random_state=0)
    result = bootstrap_lrt(
        model,
        X,
        y,
        max_experts=2,
        n_bootstrap=9,
        significance=0.1,
        random_state=0,
        exposure=exposure,
    )
    fits = [
        MoEPoissonRegressor(n_experts=k, n_init=2, prune_threshold=0.05, random_state=0)
        .fit(X, y, exposure=exposure)
        .log_likelihood_
        for k in (1, 2)
    ]
    np.testing.assert_allclose(result.statistics, [2 * (fits[1] - fits[0])], rtol=1e-10)
    assert result.n_experts == 1


def test_bootstrap_warnings_are_summarized():
    X, y = _regimes()
    model = MoERegressor(n_init=2, random_state=0)  # no pruning: small experts
    with pytest.warns(UserWarning) as record:
        bootstrap_lrt(
            model, X, y, max_experts=3, n_bootstrap=9, significance=0.1, random_state=0
        )
    summaries = [
        str(w.message) for w in record if "bootstrap samples" in str(w.message)
    ]
    assert len(summaries) == 1
    assert "of the 9 bootstrap samples of the test of 2 against 3" in summaries[0]
    assert "fewer than" in summaries[0]


def test_bootstrap_does_not_summarize_ignored_parameters():
    # the fits of the data warn that learning_rate (and df) are ignored; every
    # bootstrap sample's fits, of the same settings, warned it again, in a
    # summary "The fits of 9 of the 9 bootstrap samples ... warned"
    X, y = _regimes()
    model = MoERegressor(learning_rate=0.05, df=3.0, n_init=2, prune_threshold=0.05)
    messages = _bootstrap_messages(model, X, y)
    ignored = [m for m in messages if "learning_rate=0.05 is ignored" in m]
    assert ignored and not any("bootstrap samples" in m for m in ignored)
    assert ignored[0] == model._ignored_parameters_message()


def _bootstrap_messages(model, X, y):
    """The warnings' messages of a bootstrap LRT of 1 against 2 experts on 9
    samples."""
    with pytest.warns(UserWarning) as record:
        bootstrap_lrt(
            model.set_params(random_state=0),
            X,
            y,
            max_experts=2,
            n_bootstrap=9,
            significance=0.1,
            random_state=0,
        )
    return [str(w.message) for w in record]


def test_bootstrap_does_not_summarize_ignored_parameters_naming_n_experts():
    # validation_fraction's message names n_experts (the fits of k and k + 1
    # experts say it in other words): neither is a finding of the samples
    X, y = _regimes()
    model = MoERegressor(validation_fraction=0.3, n_init=1, prune_threshold=0.05)
    messages = _bootstrap_messages(model, X, y)
    ignored = [m for m in messages if "validation_fraction=0.3 is ignored" in m]
    assert not any("bootstrap samples" in m for m in ignored)
    said = {m.split("Got (")[1].split(")")[0] for m in ignored}
    assert said >= {"solver='em', n_experts=1", "solver='em', n_experts=2"}


def test_warnings_of_different_kinds_are_summarized_apart():
    import skmoe._selection as selection

    with pytest.warns(UserWarning) as record:
        selection._summarize_warnings(
            [
                [(UserWarning, "Experts [0] handle 3 samples"), (UserWarning, "x 1")],
                [(UserWarning, "Experts [1, 2] handle 5.5 samples")],
                [],
            ],
            2,
        )
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert messages[0].startswith("The fits of 1 of the 3 bootstrap samples")
    assert messages[0].endswith("first: x 1")
    assert messages[1].startswith("The fits of 2 of the 3 bootstrap samples")
    assert messages[1].endswith("first: Experts [0] handle 3 samples")


def test_a_larger_fit_pruned_back_keeps_the_smaller():
    # three regimes in two features: the fit of 4 experts prunes its fourth and
    # ends 0.003 per sample below the fit of 3 (within EM's tolerance): the
    # negative statistic is kept as it is, and 3 experts are not rejected
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(1000, 2))
    regime = np.digitize(X[:, 0], [-1.0, 1.0])
    coef = np.array([[-3.0, 1.0], [0.5, -2.0], [2.5, 0.5]])
    noise = np.array([0.3, 0.5, 0.2])[regime] * rng.standard_normal(1000)
    y = np.sum(X * coef[regime], axis=1) + np.array([-4.0, 1.0, -3.0])[regime] + noise
    # weights of 1000 scale the log-likelihoods, not the per-sample objective
    weight = np.full(1000, 1000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message="The fits of")
        result = bootstrap_lrt(
            _model(),
            X,
            y,
            max_experts=4,
            n_bootstrap=4,
            significance=0.2,
            random_state=0,
            sample_weight=weight,
        )
    assert result.n_experts == 3
    assert -100 < result.statistics[-1] < 0


def test_poisson_rates_are_refused():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(100, 1))
    exposure = rng.uniform(20, 80, 100)
    counts = rng.poisson(exposure * np.exp(0.5))
    model = MoEPoissonRegressor()
    with pytest.raises(ValueError, match="not whole numbers"):
        bootstrap_lrt(model, X, counts / exposure, sample_weight=exposure)


def test_zero_weight_rows_keep_their_labels():
    # class "c" only in rows of weight 0: the fits give it probability 0, and
    # the samples keep those rows' labels instead of failing to draw it
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = np.where(X[:, 0] > 0, "a", "b")
    y[:3] = "c"
    weight = np.ones(200)
    weight[:3] = 0
    model = MoEClassifier(n_init=1, random_state=0)
    null = MoEClassifier(n_experts=1, n_init=1, random_state=0)
    null.fit(X, y, sample_weight=weight)
    drawn = _sample(null, X, {"sample_weight": weight}, 0, null.classes_, y)
    np.testing.assert_array_equal(drawn[:3], ["c", "c", "c"])
    assert set(drawn[3:]) <= {"a", "b"}
    result = bootstrap_lrt(
        model,
        X,
        y,
        max_experts=2,
        n_bootstrap=4,
        significance=0.2,
        random_state=0,
        sample_weight=weight,
    )
    assert np.all(np.isfinite(result.bootstrap_statistics))


def test_samples_hold_the_classes_in_rows_of_positive_weight():
    # a binary y whose class 1 has one row of positive weight, and all the rows
    # of weight 0: a sample missing it there held it only in rows the fits
    # ignore, and its fits (one class of positive weight) raised, and with them
    # bootstrap_lrt
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 1))
    y = np.zeros(120, dtype=int)
    y[60:] = 1
    y[0] = 1
    weight = np.ones(120)
    weight[60:] = 0
    null = MoEClassifier(n_experts=1, n_init=1, random_state=0)
    null.fit(X, y, sample_weight=weight)
    proba = null.predict_proba(X[:60])[:, 1]
    assert np.prod(1 - proba) > 0.2  # a draw misses class 1 as often
    for seed in range(10):
        drawn = _sample(null, X, {"sample_weight": weight}, seed, null.classes_, y)
        np.testing.assert_array_equal(drawn[60:], y[60:])
        assert 1 in drawn[:60]
    result = bootstrap_lrt(
        MoEClassifier(n_init=1, random_state=0),
        X,
        y,
        max_experts=2,
        n_bootstrap=19,
        random_state=0,
        sample_weight=weight,
    )
    assert np.all(np.isfinite(result.bootstrap_statistics))


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"max_experts": 1}, InvalidParameterError, "max_experts"),
        ({"n_bootstrap": 0}, InvalidParameterError, "n_bootstrap"),
        ({"significance": 1.0}, InvalidParameterError, "significance"),
        # bools are Integrals to scikit-learn's constraint: NumPy's TypeError
        # came from deep in the draws
        ({"n_bootstrap": True}, InvalidParameterError, "n_bootstrap"),
        ({"max_experts": np.True_}, InvalidParameterError, "max_experts"),
    ],
)
def test_bad_parameters(params, error, match):
    X, y = _regimes(n=50)
    with pytest.raises(error, match=match):
        bootstrap_lrt(_model(), X, y, **params)


def test_too_few_samples_to_reject_are_refused():
    X, y = _regimes(n=50)
    with pytest.raises(ValueError, match="n_bootstrap to at least 19"):
        bootstrap_lrt(_model(), X, y, n_bootstrap=18)
    with pytest.raises(ValueError, match="smallest p-value is 1 / 10"):
        bootstrap_lrt(_model(), X, y, n_bootstrap=9, significance=0.099)


def test_other_estimators_are_refused():
    X, y = _regimes(n=50)
    with pytest.raises(TypeError, match="MoERegressor, MoEClassifier"):
        bootstrap_lrt(LinearRegression(), X, y)
    with pytest.raises(TypeError, match="got the class MoERegressor, not an"):
        bootstrap_lrt(MoERegressor, X, y)
    with pytest.raises(TypeError, match="got LinearRegression"):
        bootstrap_lrt(make_pipeline(StandardScaler(), LinearRegression()), X, y)


def test_a_class_too_rare_to_draw_is_refused():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(100, 2))
    y = np.where(X[:, 0] > 0, "a", "b").astype(object)
    y[0] = "rare"
    weight = np.ones(100)
    weight[0] = 1e-9  # its fitted probability: at most 2e-6 a row
    null = MoEClassifier(n_experts=1, n_init=1, random_state=0)
    null.fit(X, y, sample_weight=weight)
    proba = null.predict_proba(X)[:, list(null.classes_).index("rare")]
    assert 1 - np.prod(1 - proba) ** 100 < 0.01  # some draw of 100 holds it
    with pytest.raises(
        ValueError, match=r"100 samples drawn from the fitted model all missed a class"
    ):
        _sample(null, X, {"sample_weight": weight}, 0, null.classes_, y)
    with pytest.raises(ValueError, match="Merge or drop the rare class"):
        bootstrap_lrt(
            MoEClassifier(n_init=1, random_state=0),
            X,
            y,
            max_experts=2,
            n_bootstrap=19,
            random_state=0,
            sample_weight=weight,
        )


def test_samples_need_no_class_that_only_rows_of_weight_zero_hold():
    # class 2 only in rows of sample weight 0: the fits see none of it (its
    # probability near 0), and a sample need not hold it in the rows they
    # count; demanded there, each of the 100 draws missed it and _sample
    # raised. The rows of weight 0 keep their labels
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 1))
    y = np.repeat([0, 1, 2], 30)
    weight = np.where(y == 2, 0.0, 1.0)
    with pytest.warns(DegenerateFitWarning, match=r"classes \[2\] a weight of 0"):
        null = MoEClassifier(n_experts=1, n_init=1, random_state=0)
        null.fit(X, y, sample_weight=weight)
    assert np.all(null.predict_proba(X)[:, 2] < 1e-6)
    for seed in range(3):
        drawn = _sample(null, X, {"sample_weight": weight}, seed, null.classes_, y)
        np.testing.assert_array_equal(drawn[60:], y[60:])
        assert set(drawn[:60]) == {0, 1}
