"""MoEPoissonRegressor's ``exposure``: the offset ``log(exposure)`` in every
expert's log rate, checked against the Poisson likelihood written out with
scipy, the closed-form Fisher information and scikit-learn's routing."""

import inspect
import re
import warnings
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse
import sklearn
from scipy import optimize, special, stats
from sklearn.base import clone
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import mean_poisson_deviance, r2_score
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    cross_val_predict,
    cross_validate,
)
from sklearn.utils import check_array

from skmoe import MoENegativeBinomialRegressor, MoEPoissonRegressor
from skmoe.experts import PoissonExperts
from skmoe.experts.poisson import encode_counts


def _counts(n=1500, seed=0):
    """Two regimes of log rate per unit exposure, over exposures 0.1 to 5."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    exposure = rng.uniform(0.1, 5, n)
    log_rate = np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2)
    return X, rng.poisson(exposure * np.exp(log_rate)), exposure


def _mixture_log_likelihood(theta, X, y, exposure, n_experts):
    """sum_i log sum_k pi_k Poisson(y_i; exposure_i exp(a_k + b_k x_i)), with
    pi the softmax of (0, theta[:K - 1]) (a constant gate)."""
    logits = np.concatenate([[0.0], theta[: n_experts - 1]])
    coef = theta[n_experts - 1 :].reshape(2, n_experts)
    mean = exposure[:, None] * np.exp(coef[0] + X[:, :1] * coef[1])
    log_p = stats.poisson.logpmf(y[:, None], mean) + special.log_softmax(logits)
    return float(np.sum(special.logsumexp(log_p, axis=1)))


def test_one_expert_is_the_poisson_glm_with_offset():
    X, y, exposure = _counts()
    reg = MoEPoissonRegressor(n_experts=1, alpha=0, tol=1e-12, max_iter=200)
    reg.fit(X, y, exposure=exposure)
    D = np.column_stack([np.ones(len(y)), X])

    def objective(b):
        eta = D @ b + np.log(exposure)
        return -np.sum(y * eta - np.exp(eta)), -D.T @ (y - np.exp(eta))

    best = optimize.minimize(objective, np.zeros(2), jac=True, method="BFGS")
    fitted = np.r_[reg.expert_intercept_, reg.expert_coef_[0]]
    np.testing.assert_allclose(fitted, best.x, atol=1e-6)
    # the inverse Fisher information of the GLM with offset
    rate = exposure * np.exp(D @ best.x)
    se = np.sqrt(np.diag(np.linalg.inv(D.T @ (D * rate[:, None]))))
    out = reg.std_errors(X, y, exposure=exposure)
    np.testing.assert_allclose(
        np.r_[out.expert_intercept_, out.expert_coef_[0]], se, rtol=1e-4
    )
    # the log-likelihood of each sample is the Poisson pmf's
    np.testing.assert_allclose(
        reg.log_likelihood_samples(X, y, exposure=exposure),
        stats.poisson.logpmf(y, rate),
        rtol=1e-9,
    )


def test_em_fit_is_a_maximum_of_the_mixture_likelihood_with_offset():
    X, y, exposure = _counts()
    reg = MoEPoissonRegressor(
        n_experts=2, gate="constant", alpha=0, tol=1e-10, random_state=0
    ).fit(X, y, exposure=exposure)
    pi = reg.predict_gate(X[:1])[0]
    theta = np.r_[np.log(pi[1:] / pi[0]), reg.expert_intercept_, reg.expert_coef_[:, 0]]
    at_fit = _mixture_log_likelihood(theta, X, y, exposure, 2)
    np.testing.assert_allclose(
        at_fit, np.sum(reg.log_likelihood_samples(X, y, exposure=exposure)), rtol=1e-10
    )
    polished = optimize.minimize(
        lambda t: -_mixture_log_likelihood(t, X, y, exposure, 2), theta, method="BFGS"
    )
    assert -polished.fun - at_fit < 1e-4


def test_exposure_unit_shifts_the_intercepts_only():
    X, y, exposure = _counts(n=800)
    params = dict(n_experts=2, random_state=0, tol=1e-10)
    a = MoEPoissonRegressor(**params).fit(X, y, exposure=exposure)
    with warnings.catch_warnings():
        # the check of the fitted means against the counts includes the
        # exposures (without them, these means are 60 times too small)
        warnings.simplefilter("error", UserWarning)
        b = MoEPoissonRegressor(**params).fit(X, y, exposure=exposure / 60)
    # the same optimum, up to the experts' order (the starts see the rates)
    i, j = np.argsort(a.expert_coef_[:, 0]), np.argsort(b.expert_coef_[:, 0])
    np.testing.assert_allclose(
        b.expert_intercept_[j], a.expert_intercept_[i] + np.log(60), atol=1e-5
    )
    np.testing.assert_allclose(b.expert_coef_[j], a.expert_coef_[i], atol=1e-5)
    # the regimes' laws per unit exposure (x < 0: 1 - x, else 1 + x / 2)
    order = np.argsort(a.expert_coef_[:, 0])
    np.testing.assert_allclose(a.expert_coef_[order, 0], [-1, 0.5], atol=0.1)
    np.testing.assert_allclose(a.expert_intercept_, [1, 1], atol=0.1)
    np.testing.assert_allclose(
        b.predict(X, exposure=exposure / 60), a.predict(X, exposure=exposure), rtol=1e-5
    )


@pytest.mark.parametrize("solver", ["em", "sgd"])
def test_the_start_does_not_depend_on_the_exposure_unit(solver):
    # k-means clustered the counts per unit exposure, log1p(y / exposure),
    # which a change of unit changes beyond standardization: in units 1000
    # times smaller, the kept fit had the log-likelihood -655.2, not -696.9
    rng = np.random.RandomState(9)
    X = rng.normal(size=(300, 2))
    exposure = rng.choice([0.2, 1.0, 5.0], 300)
    regime = rng.randint(3, size=300)
    coef = np.array([[0.5, 1.0, -0.5], [1.5, -1.0, 0.3], [0.0, 0.2, 1.0]])
    rate = np.exp(coef[regime, 0] + np.sum(X * coef[regime, 1:], axis=1))
    y = rng.poisson(exposure * rate)
    params = dict(n_experts=3, random_state=0, solver=solver)
    if solver == "sgd":
        params.update(n_init=1, max_iter=30)  # the k-means start alone
    fits = [
        MoEPoissonRegressor(**params).fit(X, y, exposure=unit * exposure)
        for unit in (1.0, 1e-3, 1e3)
    ]
    for fit, unit in zip(fits[1:], (1e-3, 1e3), strict=True):
        # (the likelihood of the counts: the same in any unit)
        np.testing.assert_allclose(
            fit.log_likelihood_, fits[0].log_likelihood_, rtol=1e-6
        )
        np.testing.assert_allclose(
            fit.predict(X, exposure=unit * exposure),
            fits[0].predict(X, exposure=exposure),
            rtol=1e-4,
        )


def test_unit_exposure_is_no_exposure():
    X, y, _ = _counts(n=600)
    a = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X, y)
    b = MoEPoissonRegressor(n_experts=2, random_state=0).fit(
        X, y, exposure=np.ones(len(y))
    )
    np.testing.assert_array_equal(a.expert_coef_, b.expert_coef_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X, exposure=np.ones(len(y))))


def test_predictions_scale_with_exposure():
    X, y, exposure = _counts(n=800)
    reg = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X, y, exposure=exposure)
    mean, std = reg.predict(X, return_std=True, exposure=exposure)
    gate = reg.predict_gate(X)
    mu = exposure[:, None] * np.exp(reg.expert_intercept_ + X @ reg.expert_coef_.T)
    expected_mean = np.sum(gate * mu, axis=1)
    expected_var = np.sum(gate * (mu + (mu - expected_mean[:, None]) ** 2), axis=1)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-10)
    np.testing.assert_allclose(std, np.sqrt(expected_var), rtol=1e-10)
    np.testing.assert_allclose(mean, exposure * reg.predict(X), rtol=1e-12)
    dist = reg.predict_distribution(X[:50], exposure=exposure[:50])
    np.testing.assert_allclose(dist.mean(), expected_mean[:50], rtol=1e-10)
    pmf = np.sum(gate[:50] * stats.poisson.pmf(y[:50, None], mu[:50]), axis=1)
    np.testing.assert_allclose(dist.pmf(y[:50]), pmf, rtol=1e-10)
    # D^2 against a constant rate (the null model with the offset), by hand
    null = exposure * y.sum() / exposure.sum()
    expected = 1 - mean_poisson_deviance(y, expected_mean) / mean_poisson_deviance(
        y, null
    )
    assert reg.score(X, y, exposure=exposure) == pytest.approx(expected, rel=1e-10)


def test_exposures_alone_explain_no_deviance():
    # counts of one constant rate over exposures 0.3 and 3, and a feature
    # unrelated to them: D^2 against a constant count was 0.706 (review); the
    # null model with the offset leaves about 0, as scikit-learn's recipe (the
    # rates y / exposure with sample_weight=exposure) does
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 1))
    exposure = rng.choice([0.3, 3.0], size=2000)
    y = rng.poisson(2 * exposure)
    weight = rng.uniform(0.5, 2, size=2000)
    reg = MoEPoissonRegressor(n_experts=1).fit(X, y, exposure=exposure)
    glm = PoissonRegressor(alpha=0).fit(X, y / exposure, sample_weight=exposure)
    assert abs(reg.score(X, y, exposure=exposure)) < 0.01
    for w in (None, weight):
        ours = reg.score(X, y, sample_weight=w, exposure=exposure)
        recipe = glm.score(
            X, y / exposure, sample_weight=exposure * (1 if w is None else w)
        )
        assert ours == pytest.approx(recipe, abs=1e-6)


@pytest.mark.parametrize(
    "method",
    ["log_likelihood_samples", "responsibilities", "bic", "aic", "icl", "std_errors"],
)
def test_counts_without_exposure_after_fitting_with_it_warn(method):
    # as score: the counts would be compared with rates per unit exposure
    # (bic 1138 with the exposures, 2188 without, in QA's example)
    X, y, exposure = _counts(n=400)
    reg = MoEPoissonRegressor(n_experts=1).fit(X, y, exposure=exposure)
    with pytest.warns(UserWarning, match=f"fitted with exposure, and {method}"):
        unexposed = getattr(reg, method)(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exposed = getattr(reg, method)(X, y, exposure=exposure)
        getattr(MoEPoissonRegressor(n_experts=1).fit(X, y), method)(X, y)
    if method in ("log_likelihood_samples", "bic", "aic", "icl"):
        assert not np.allclose(unexposed, exposed)  # what the warning is about


def test_partial_fit_without_exposure_after_fitting_with_it_warns():
    # a batch without exposures drew the rates per unit exposure to its
    # counts (from 1.8 to 10-29 over five batches at exposure 10), silently
    X, y, exposure = _counts(n=400)
    for start in ("fit", "partial_fit"):
        reg = MoEPoissonRegressor(n_experts=1, solver="sgd", random_state=0)
        getattr(reg, start)(X, y, exposure=exposure)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reg.partial_fit(X, y, exposure=exposure)
        with pytest.warns(UserWarning, match="fitted with exposure, and partial_fit"):
            reg.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = MoEPoissonRegressor(n_experts=1, solver="sgd", random_state=0)
        reg.fit(X, y).partial_fit(X, y)


def test_exposure_and_groups_are_keyword_only():
    # as on every estimator (test_common.py): a positional bic(X, y, groups)
    # once took the labels for exposures (BIC 3944 for 353); the criteria's
    # third positional argument is sample_weight (as score's and std_errors')
    X, y, exposure = _counts(n=200)
    groups = np.arange(len(y)) // 4
    reg = MoEPoissonRegressor(n_experts=1, gate="constant")
    reg.fit(X, y, exposure=exposure, groups=groups)
    for method in ("bic", "aic", "icl", "responsibilities"):
        weights = () if method == "responsibilities" else (None,)
        with pytest.raises(TypeError, match="positional argument"):
            getattr(reg, method)(X, y, *weights, groups)
        getattr(reg, method)(X, y, *weights, exposure=exposure, groups=groups)
    with pytest.raises(TypeError, match="positional argument"):
        MoEPoissonRegressor(n_experts=1).fit(X, y, None, exposure)
    with pytest.raises(TypeError, match="positional argument"):
        reg.std_errors(X, y, None, exposure)


def test_score_without_exposure_after_fitting_with_it_warns():
    X, y, exposure = _counts(n=400)
    reg = MoEPoissonRegressor(n_experts=1).fit(X, y, exposure=exposure)
    with pytest.warns(UserWarning, match="fitted with exposure") as caught:
        reg.score(X, y)
    # the hint works with routing off, scikit-learn's default: turn it on first
    # (set_score_request alone raised "only available when metadata routing
    # is enabled")
    assert "enable_metadata_routing=True" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.score(X, y, exposure=exposure)
        MoEPoissonRegressor(n_experts=1).fit(X, y).score(X, y)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_rates_as_y_warn_that_the_likelihood_depends_on_their_unit(Estimator):
    # scikit-learn's recipe, y / exposure with sample_weight=exposure: the
    # "log-likelihood" of non-integer y changes with the exposure's unit, where
    # the counts' with exposure=... is the same and scipy's Poisson one
    X, y, exposure = _counts(n=600)
    logliks = []
    for unit in (1.0, 12.0):
        with pytest.warns(UserWarning, match="non-integer.*exposure=exposure"):
            reg = Estimator(n_experts=1).fit(
                X, y / (unit * exposure), sample_weight=unit * exposure
            )
        logliks.append(reg.log_likelihood_)
    assert abs(logliks[0] - logliks[1]) > 100
    for unit in (1.0, 12.0):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reg = MoEPoissonRegressor(n_experts=1).fit(
                X, y.astype(float), exposure=unit * exposure
            )
        mean = reg.predict(X, exposure=unit * exposure)
        expected = np.sum(stats.poisson.logpmf(y, mean))
        np.testing.assert_allclose(reg.log_likelihood_, expected, rtol=1e-10)
    # a fraction on a row of weight 0 is no sample: no warning
    weight = np.ones(len(y))
    weight[0] = 0.0
    fractional = y.astype(float)
    fractional[0] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Estimator(n_experts=1).fit(X, fractional, sample_weight=weight)
    with pytest.warns(UserWarning, match=r"such as 0\.5\b"):
        Estimator(n_experts=1).fit(X, fractional)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_the_non_integer_check_sees_y_in_the_dtype_it_is_fitted_in(Estimator):
    # y follows X's dtype: with float32 X, a fraction that float32 rounds away
    # (its spacing is 1 from 2**23 on) is not warned of, and the model fits
    # the rounded counts; float64 X keeps it and warns, naming the value (.4g
    # named 8388654.5 as 8.389e+06)
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 1))
    y = 2.0**23 + rng.poisson(50, 200)
    y[5] += 0.5
    rounded = y.astype(np.float32).astype(np.float64)
    assert np.all(rounded == np.floor(rounded)) and rounded[5] != y[5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = Estimator(n_experts=1).fit(X.astype(np.float32), y)
        counts = Estimator(n_experts=1).fit(X.astype(np.float32), rounded)
    np.testing.assert_array_equal(single.expert_coef_, counts.expert_coef_)
    np.testing.assert_array_equal(single.expert_intercept_, counts.expert_intercept_)
    with pytest.warns(
        UserWarning, match=rf"non-integer values \(such as {float(y[5])!r}\)"
    ):
        Estimator(n_experts=1).fit(X, y)


def test_the_non_integer_warning_names_the_first_fraction():
    # of several non-integer values (on rows of positive weight), the first
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(100, 1))
    y = rng.poisson(3, 100).astype(np.float64)
    y[[3, 7, 9]] = 0.25, 0.75, 1.5
    weight = np.ones(100)
    weight[3] = 0.0
    with pytest.warns(UserWarning, match="non-integer") as caught:
        MoEPoissonRegressor(n_experts=1).fit(X, y, sample_weight=weight)
    (message,) = [str(w.message) for w in caught if "non-integer" in str(w.message)]
    assert "(such as 0.75): " in message


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
@pytest.mark.parametrize(
    "value, dtype, shown",
    [
        (1e-300, np.float64, "1e-300"),
        (1e-45, np.float32, "1e-45"),  # float32's smallest subnormal
        (2e-5, np.float64, "2e-05"),
        (9.99e-5, np.float64, "9.99e-05"),
        (1e-4, np.float64, "0.0001"),  # positional from 1e-4 on
        (5e-4, np.float64, "0.0005"),
        (0.1, np.float32, "0.1"),  # float32's shortest digits
        (1 / 3, np.float64, "0.3333333333333333"),
    ],
)
def test_the_non_integer_warning_names_tiny_values_briefly(
    Estimator, value, dtype, shown
):
    # positional digits wrote 1e-300 with 300 zeros (a warning of 634
    # characters)
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(100, 1)).astype(dtype)
    y = rng.poisson(3, 100).astype(np.float64)
    y[7] = value
    with pytest.warns(UserWarning, match="non-integer") as caught:
        Estimator(n_experts=1).fit(X, y)
    (message,) = [str(w.message) for w in caught if "non-integer" in str(w.message)]
    assert f"(such as {shown}): " in message
    assert len(message) < 400


@pytest.mark.parametrize(
    "exposure, message",
    [
        (np.zeros(300), r"not positive \(300 of 300, such as 0 at row 0\)"),
        (-np.ones(300), r"not positive \(300 of 300, such as -1 at row 0\)"),
        (np.r_[np.ones(7), 0.0, np.ones(292)], r"\(1 of 300, such as 0 at row 7\)"),
        (np.ones(299), r"shape \(299,\)"),
        (np.ones((300, 2)), r"shape \(300, 2\)"),
        (np.full(300, np.nan), "exposure contains NaN"),
        (np.full(300, np.inf), "exposure contains infinity"),
    ],
)
def test_bad_exposure_is_refused(exposure, message):
    X, y, good = _counts(n=300)
    with pytest.raises(ValueError, match=message):
        MoEPoissonRegressor(n_experts=1).fit(X, y, exposure=exposure)
    reg = MoEPoissonRegressor(n_experts=1).fit(X, y, exposure=good)
    for method in (reg.predict, reg.predict_distribution):
        with pytest.raises(ValueError, match=message):
            method(X, exposure=exposure)
    with pytest.raises(ValueError, match=message):
        reg.bic(X, y, exposure=exposure)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_exposure_that_is_not_numbers_is_refused_naming_it(Estimator):
    # a scalar str or dict gave NumPy's "could not convert string to float:
    # np.str_('ab')" / "float() argument must be ..., not 'dict'", a list of
    # str or dicts the same, complex values an error printing the whole
    # array, a 3d or empty one "Found array with dim 3" / "0 sample(s)"
    X, y, good = _counts(n=100)
    n = len(y)
    cases = [
        ("ab", TypeError, r"exposure must be a positive number .*got 'ab' of type str"),
        ({}, TypeError, r"exposure must be a positive number .*got \{\} of type dict"),
        (b"1", TypeError, r"got b'1' of type bytes"),
        (["a"] * n, ValueError, r"exposure must be positive numbers, one per sample"),
        ([{}] * n, TypeError, r"exposure must be positive numbers, one per sample"),
        (
            np.ones(n) + 1j,
            ValueError,
            r"exposure must be .*Complex data not supported$",
        ),
        (np.ones((n, 1, 1)), ValueError, rf"exposure has shape \({n}, 1, 1\)"),
        ([], ValueError, r"exposure has shape \(0,\); expected"),
    ]
    # a SciPy sparse matrix or array, of any shape: refused naming its class
    # (sparse containers have a NumPy dtype, whose kind the check reads first)
    for sparse in (
        scipy.sparse.csr_matrix(np.ones((n, 1))),
        scipy.sparse.csr_array(np.ones((1, n))),
        scipy.sparse.coo_array(np.ones(n)),
    ):
        name = type(sparse).__name__
        message = (
            r"^exposure must be a dense array-like of shape \(n_samples,\) or a "
            rf"number; got a sparse {name}: pass exposure\.toarray\(\)\.ravel\(\)\.$"
        )
        cases.append((sparse, TypeError, message))
    model = Estimator(1, max_iter=5).fit(X, y, exposure=good)
    calls = {
        "fit": lambda e: Estimator(1, max_iter=5).fit(X, y, exposure=e),
        "predict": lambda e: model.predict(X, exposure=e),
        "score": lambda e: model.score(X, y, exposure=e),
        "predict_distribution": lambda e: model.predict_distribution(X, exposure=e),
        "log_likelihood_samples": lambda e: model.log_likelihood_samples(
            X, y, exposure=e
        ),
    }
    for exposure, error, message in cases:
        for call in calls.values():
            with pytest.raises(error, match=message):
                call(exposure)
    # a number, a NumPy scalar or 0-d array: one exposure for every sample
    base = model.predict(X, exposure=np.ones(n))
    for one in (2, 2.0, np.float32(2), np.array(2.0)):
        np.testing.assert_allclose(model.predict(X, exposure=one), 2 * base, rtol=1e-12)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_datetime_and_timedelta_exposures_are_refused(Estimator):
    # NumPy's conversion read datetimes as counts of their unit since 1970
    # (days for datetime64[D]: exposures of 1.8e4; nanoseconds for pandas')
    # and timedeltas as counts of their own unit, whichever it was, and fit
    # them without a word. Refused, in every method, NumPy's, pandas' (a time
    # zone's too) and polars' alike, a timedelta64 scalar too (an integer to
    # the numbers module); the durations as numbers, as the message says,
    # fit as the same floats do
    pd = pytest.importorskip("pandas")
    X, y, good = _counts(n=100)
    n = len(y)
    days = np.round(good * 24 * 3600).astype("timedelta64[s]")
    start = np.datetime64("2020-01-01T00:00:00")
    dates = (start + days).astype("datetime64[D]")
    points = "exposure must be positive numbers, one per sample .*points in time"
    durations = "exposure must be positive numbers, one per sample; got durations"
    cases = [
        (dates, rf"{points}", "datetime64[D]"),
        (pd.Series(start + days), rf"{points}", "datetime64["),
        (pd.Series(start + days).dt.tz_localize("UTC"), rf"{points}", "UTC"),
        (pd.date_range("2020-01-01", periods=n), rf"{points}", "datetime64["),
        (days, durations, "timedelta64[s]"),
        (days.astype("timedelta64[D]"), durations, "timedelta64[D]"),
        (pd.Series(days), durations, "timedelta64["),
        (list(days), durations, "timedelta64[s]"),
        (np.timedelta64(3, "D"), durations, "timedelta64[D]"),
        (np.datetime64("2020-01-01"), points, "datetime64[D]"),
    ]
    # polars' and pyarrow's by their own dtypes, unconverted (polars 1.0.0
    # crashed converting Datetime and Duration values with NumPy 2.1)
    polars = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    milliseconds = days.astype("timedelta64[ms]")
    cases += [
        (polars.Series(start + milliseconds), points, "Datetime(time_unit='ms'"),
        (polars.Series(milliseconds), durations, "Duration(time_unit='ms')"),
        (pa.array(start + milliseconds), points, "timestamp[ms]"),
        (pa.array(milliseconds), durations, "duration[ms]"),
    ]
    model = Estimator(1, max_iter=5).fit(X, y, exposure=good)
    calls = {
        "fit": lambda e: Estimator(1, max_iter=5).fit(X, y, exposure=e),
        "partial_fit": lambda e: Estimator(1, solver="sgd").partial_fit(
            X, y, exposure=e
        ),
        "predict": lambda e: model.predict(X, exposure=e),
        "score": lambda e: model.score(X, y, exposure=e),
        "predict_distribution": lambda e: model.predict_distribution(X, exposure=e),
        "log_likelihood_samples": lambda e: model.log_likelihood_samples(
            X, y, exposure=e
        ),
    }
    for exposure, message, dtype in cases:
        for call in calls.values():
            with pytest.raises(TypeError, match=message) as raised:
                call(exposure)
            assert dtype in str(raised.value)
    # the durations in days, as the message says: numbers, and those of a
    # pandas Series fit as NumPy's
    in_days = days / np.timedelta64(1, "D")
    np.testing.assert_allclose(in_days, np.round(good * 86400) / 86400, rtol=1e-15)
    series = pd.Series(days) / pd.Timedelta(days=1)
    np.testing.assert_array_equal(series.to_numpy(), in_days)
    fitted = Estimator(1, max_iter=5).fit(X, y, exposure=series)
    same = Estimator(1, max_iter=5).fit(X, y, exposure=in_days)
    np.testing.assert_array_equal(fitted.predict(X), same.predict(X))


def test_object_arrays_of_times_are_refused_as_times():
    # object arrays of NumPy's datetime64 or timedelta64 were read as counts
    # of their unit (np.datetime64("2020-01-01") as 18262, days since 1970)
    # and fit without a word; Python's and pandas' datetimes and timedeltas
    # failed to convert, with NumPy's "float() argument must be ..." and no
    # advice. All are times now, named by their type
    import datetime

    pd = pytest.importorskip("pandas")
    X, y, good = _counts(n=40)
    n = len(y)
    read = np.array([np.datetime64("2020-01-01")], dtype=object).astype(float)
    assert read[0] == 18262.0  # (what was fit)
    model = MoEPoissonRegressor(1, max_iter=5).fit(X, y, exposure=good)
    day = datetime.timedelta(days=1)
    points = r"^exposure must be positive numbers, one per sample .*points in time"
    durations = r"^exposure must be positive numbers, one per sample; got durations"
    cases = [
        (
            np.array([np.datetime64("2020-01-01")] * n, dtype=object),
            points,
            "datetime64",
        ),
        (
            np.array([np.timedelta64(1, "D")] * n, dtype=object),
            durations,
            "timedelta64",
        ),
        (
            pd.Series([np.timedelta64(1, "D")] * n, dtype=object),
            durations,
            "timedelta64",
        ),
        ([1.0] * (n - 1) + [np.datetime64("2020-01-01")], points, "datetime64"),
        ([day] * n, durations, "timedelta"),
        ([pd.Timedelta(days=1)] * n, durations, "Timedelta"),
        ([pd.Timestamp("2020-01-01")] * n, points, "Timestamp"),
        ([datetime.date(2020, 1, 1)] * n, points, "date"),
        (day, durations, "timedelta"),
    ]
    for exposure, message, name in cases:
        for call in (
            lambda e: MoEPoissonRegressor(1, max_iter=5).fit(X, y, exposure=e),
            lambda e: model.predict(X, exposure=e),
        ):
            with pytest.raises(TypeError, match=message) as raised:
                call(exposure)
            assert f"objects of type {name}" in str(raised.value)
    # objects that are numbers are as their floats, scanned or not
    for numbers in (good.astype(object), [Decimal(str(v)) for v in good]):
        np.testing.assert_array_equal(
            model.predict(X, exposure=numbers), model.predict(X, exposure=good)
        )
    # and no columns is a shape, not values that are not numbers
    with pytest.raises(ValueError, match=r"^exposure has shape \(40, 0\); expected"):
        model.predict(X, exposure=np.ones((n, 0)))


def test_exposure_conversion_errors_are_named_whatever_their_words():
    # NumPy's conversion errors were passed on as they were where their text
    # held the word "exposure" (taken for scikit-learn's, which name it):
    # strings "exposure" gave NumPy's "could not convert string to float:
    # 'exposure'" alone. Every conversion error is exposure's now, and
    # scikit-learn's NaN and inf errors stay its own
    X, y, good = _counts(n=100)
    n = len(y)
    model = MoEPoissonRegressor(1, max_iter=5).fit(X, y, exposure=good)
    for words in (["exposure"] * n, np.array(["exposure time"] * n)):
        with pytest.raises(
            ValueError,
            match=r"^exposure must be positive numbers, one per sample; got "
            r"values that are not: could not convert string to float",
        ):
            model.predict(X, exposure=words)
    ragged = [1.0, [2.0, 3.0]] + [1.0] * (n - 2)
    with pytest.raises(ValueError, match=r"^exposure must be positive numbers"):
        model.predict(X, exposure=ragged)
    for bad, message in (
        (np.nan, "^Input exposure contains NaN"),
        (np.inf, "^Input exposure contains infinity"),
    ):
        exposure = good.copy()
        exposure[3] = bad
        with pytest.raises(ValueError, match=message) as raised:
            model.predict(X, exposure=exposure)
        # scikit-learn's own words, whole (the fallback check for
        # assume_finite=True adds that scikit-learn's check was skipped)
        with pytest.raises(ValueError) as sklearns:
            check_array(exposure, ensure_2d=False, input_name="exposure")
        assert str(raised.value) == str(sklearns.value)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_complex_and_pandas_na_exposures_in_lists_are_refused_as_arrays_are(
    Estimator,
):
    # a list of complex exposures raised "...; got values that are not:
    # float() argument must be a string or a real number, not 'complex'",
    # where their array gets scikit-learn's "Complex data not supported";
    # pandas' NA in a list or an object Series gave the same float() words
    # ('NAType'), where a NaN gets scikit-learn's "Input exposure contains
    # NaN.": now the array's and the NaN's errors, in fit, predict and score
    pd = pytest.importorskip("pandas")
    X, y, good = _counts(n=100)
    n = len(y)
    model = Estimator(1, max_iter=5).fit(X, y, exposure=good)
    with pytest.raises(ValueError) as complex_array:
        model.predict(X, exposure=good + 1j)
    assert str(complex_array.value).endswith("Complex data not supported")
    nan = good.copy()
    nan[3] = np.nan
    with pytest.raises(ValueError) as nan_error:
        check_array(nan, ensure_2d=False, input_name="exposure")
    na_values = [*good[:3], pd.NA, *good[4:]]
    cases = [
        ([complex(v) for v in good], str(complex_array.value)),
        (na_values, str(nan_error.value)),
        (pd.Series(na_values, dtype=object), str(nan_error.value)),
        (np.array(na_values, dtype=object), str(nan_error.value)),
    ]
    calls = (
        lambda exposure: clone(model).fit(X, y, exposure=exposure),
        lambda exposure: model.predict(X, exposure=exposure),
        lambda exposure: model.score(X, y, exposure=exposure),
    )
    assert n == len(na_values)
    for exposure, words in cases:
        for call in calls:
            with pytest.raises(ValueError) as raised:
                call(exposure)
            assert str(raised.value) == words


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_an_object_exposure_of_arrays_gets_exposures_words_not_numpys(Estimator):
    # an object array of arrays (ragged) got "exposure must be positive
    # numbers, one per sample; got values that are not: setting an array
    # element with a sequence..."; the look for pandas' NA compared the
    # arrays (values != values) and raised NumPy's bare "The truth value of
    # an array with more than one element is ambiguous"
    X, y, good = _counts(n=30)
    model = Estimator(1, max_iter=5).fit(X, y, exposure=good)
    ragged = np.empty(len(y), dtype=object)
    for i in range(len(y)):
        ragged[i] = np.full(1 + i % 2, good[i])
    with pytest.raises(ValueError) as numpys:
        check_array(ragged, ensure_2d=False, dtype=np.float64)
    words = (
        "exposure must be positive numbers, one per sample; got values that "
        f"are not: {str(numpys.value).splitlines()[0]}"
    )
    for call in (
        lambda: clone(model).fit(X, y, exposure=ragged),
        lambda: model.predict(X, exposure=ragged),
        lambda: model.score(X, y, exposure=ragged),
    ):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == words


def test_a_decimal_exposure_is_a_number():
    # Decimal("2.5") was refused ("exposure must be a positive number ...; got
    # Decimal('2.5') of type Decimal"), as scikit-learn's sample_weight takes it
    X, y, good = _counts(n=100)
    model = MoEPoissonRegressor(1, max_iter=5).fit(X, y, exposure=good)
    base = model.predict(X, exposure=np.ones(len(y)))
    # the mean is linear in the exposure
    np.testing.assert_allclose(
        model.predict(X, exposure=Decimal("2.5")), 2.5 * base, rtol=1e-12
    )
    fitted = MoEPoissonRegressor(1, max_iter=5).fit(X, y, exposure=Decimal("2.5"))
    same = MoEPoissonRegressor(1, max_iter=5).fit(X, y, exposure=2.5)
    np.testing.assert_array_equal(fitted.predict(X), same.predict(X))


def test_the_exposure_error_advises_what_fits_the_case():
    # it advised "Drop the rows of no exposure" at predict time too, and for
    # negative exposures
    X, y, good = _counts(n=10)
    zero, negative, both = good.copy(), good.copy(), good.copy()
    zero[[3, 6]] = 0.0
    negative[4] = -2.5
    both[[2, 5]] = 0.0, -0.5
    head = (
        "Some value(s) of exposure are not positive ({}): an exposure (time at "
        "risk, area) multiplies a sample's rate and must be positive. "
    )
    drop = (
        "Drop the rows of no exposure (their counts are 0 and tell nothing of "
        "the rates)."
    )
    sign = (
        "1 of them is negative: is their sign wrong, or are they logs of the "
        "exposures (pass the exposures themselves)?"
    )
    cannot = "These rows cannot be predicted: pass their positive exposures."
    counted = {
        "2 of 10, such as 0 at row 3": (zero, drop),
        "1 of 10, such as -2.5 at row 4": (negative, sign),
        "2 of 10, such as 0 at row 2": (both, f"{sign} {drop}"),
    }
    reg = MoEPoissonRegressor(n_experts=1).fit(X, y, exposure=good)
    for where, (exposure, advice) in counted.items():
        expected = head.format(where) + advice
        for method in (MoEPoissonRegressor(n_experts=1).fit, reg.bic, reg.score):
            with pytest.raises(ValueError) as raised:
                method(X, y, exposure=exposure)
            assert str(raised.value) == expected
        advice = cannot if exposure is zero else f"{cannot} {sign}"
        for method in (reg.predict, reg.predict_distribution):
            with pytest.raises(ValueError) as raised:
                method(X, exposure=exposure)
            assert str(raised.value) == head.format(where) + advice
    twice = good.copy()
    twice[[1, 7]] = -1.0
    with pytest.raises(ValueError, match="2 of them are negative: is their sign"):
        reg.score(X, y, exposure=twice)


def test_cross_validation_routes_exposure_to_fit_and_score():
    X, y, exposure = _counts(n=900)
    folds = KFold(3)
    manual = [
        MoEPoissonRegressor(n_experts=2, random_state=0)
        .fit(X[train], y[train], exposure=exposure[train])
        .score(X[test], y[test], exposure=exposure[test])
        for train, test in folds.split(X)
    ]
    with sklearn.config_context(enable_metadata_routing=True):
        reg = MoEPoissonRegressor(n_experts=2, random_state=0)
        reg.set_fit_request(exposure=True).set_score_request(exposure=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            scores = cross_validate(reg, X, y, params={"exposure": exposure}, cv=folds)
        search = GridSearchCV(reg, {"n_experts": [1, 2]}, cv=folds)
        search.fit(X, y, exposure=exposure)
    np.testing.assert_allclose(scores["test_score"], manual, rtol=1e-12)
    assert search.best_params_ == {"n_experts": 2}


def test_cross_val_predict_drops_the_requested_exposure_and_the_warning_says_so():
    # cross_val_predict routes metadata to fit only: its predictions are the
    # rates per unit exposure, and predict's warning named the scorers alone
    # (and set_score_request, no remedy here); the held-out rows' exposures
    # times them are the counts the folds' models predict
    X, y, exposure = _counts(n=600)
    folds = KFold(3)
    counts = np.empty(len(y))
    for train, test in folds.split(X):
        fitted = MoEPoissonRegressor(n_experts=2, random_state=0).fit(
            X[train], y[train], exposure=exposure[train]
        )
        counts[test] = fitted.predict(X[test], exposure=exposure[test])
    with sklearn.config_context(enable_metadata_routing=True):
        reg = MoEPoissonRegressor(n_experts=2, random_state=0)
        reg.set_fit_request(exposure=True).set_predict_request(exposure=True)
        with pytest.warns(UserWarning, match="cross_val_predict") as record:
            rates = cross_val_predict(
                reg, X, y, cv=folds, params={"exposure": exposure}
            )
    assert len(record) == 3  # once per fold
    assert "multiply its predictions" in str(record[0].message)
    np.testing.assert_allclose(rates * exposure, counts, rtol=1e-12)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_a_scorer_that_drops_the_requested_exposure_warns(Estimator):
    # scikit-learn's scorers named by a string call predict without metadata:
    # with exposure requested for predict, their deviances were those of the
    # rates per unit exposure, silently (-19.2 here against -1.2 for the
    # counts); the warning comes only where exposure is requested and missing
    X, y, exposure = _counts(n=900)
    folds = KFold(3)
    manual = []
    for train, test in folds.split(X):
        fitted = Estimator(n_experts=2, random_state=0).fit(
            X[train], y[train], exposure=exposure[train]
        )
        manual.append(
            mean_poisson_deviance(
                y[test], fitted.predict(X[test], exposure=exposure[test])
            )
        )
    with sklearn.config_context(enable_metadata_routing=True):
        reg = Estimator(n_experts=2, random_state=0).set_fit_request(exposure=True)
        scoring = "neg_mean_poisson_deviance"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            unrequested = cross_validate(
                reg, X, y, params={"exposure": exposure}, cv=folds, scoring=scoring
            )
        reg.set_predict_request(exposure=True)
        with pytest.warns(UserWarning, match="requests it for predict") as record:
            dropped = cross_validate(
                reg, X, y, params={"exposure": exposure}, cv=folds, scoring=scoring
            )
        assert len(record) == 3  # once per fold
        fitted = clone(reg).fit(X, y, exposure=exposure)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fitted.predict(X, exposure=exposure)
            fitted.score(X, y, exposure=exposure)
    # the scores the warning is about: the rates' deviances, not the counts'
    np.testing.assert_allclose(dropped["test_score"], unrequested["test_score"])
    assert np.all(-dropped["test_score"] > 5 * np.array(manual))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fitted without exposure: rates asked
        Estimator(n_experts=1).fit(X, y).predict(X)


def test_estimator_experts_fit_the_offset_model():
    # PoissonRegressor experts on the rates with weights times the exposures
    # fit the same model as the built-in experts with the offset
    X, y, exposure = _counts(n=1000)
    params = dict(n_experts=2, random_state=0, tol=1e-9, max_iter=1000)
    builtin = MoEPoissonRegressor(alpha=0, **params).fit(X, y, exposure=exposure)
    glm = PoissonRegressor(alpha=0, tol=1e-10, max_iter=1000)
    wrapped = MoEPoissonRegressor(expert_estimator=glm, **params)
    wrapped.fit(X, y, exposure=exposure)
    ll = [
        np.sum(m.log_likelihood_samples(X, y, exposure=exposure))
        for m in (builtin, wrapped)
    ]
    assert ll[1] == pytest.approx(ll[0], abs=1e-3)
    np.testing.assert_allclose(
        wrapped.predict(X, exposure=exposure),
        builtin.predict(X, exposure=exposure),
        rtol=1e-3,
    )


def test_partial_fit_learns_the_rates_per_unit_exposure():
    X, y, exposure = _counts(n=1000)
    reg = MoEPoissonRegressor(n_experts=1, solver="sgd", random_state=0)
    for _ in range(20):
        reg.partial_fit(X, y, exposure=exposure)
    glm = MoEPoissonRegressor(n_experts=1, alpha=0).fit(X, y, exposure=exposure)
    np.testing.assert_allclose(reg.expert_coef_, glm.expert_coef_, atol=0.01)
    np.testing.assert_allclose(reg.expert_intercept_, glm.expert_intercept_, atol=0.01)


def test_one_exposure_for_all_and_a_float32_spread():
    X, y, exposure = _counts(n=500)
    reg = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X, y, exposure=exposure)
    np.testing.assert_array_equal(
        reg.predict(X, exposure=30.0), reg.predict(X, exposure=np.full(500, 30.0))
    )
    with pytest.raises(ValueError, match="not positive"):
        reg.predict(X, exposure=0)
    # the square of exposure * spread overflowed float32 where the standard
    # deviation (predict_distribution's) does not (review)
    small = MoEPoissonRegressor(n_experts=2, random_state=0)
    small.fit(X.astype(np.float32), y, exposure=exposure)
    X32 = X[:20].astype(np.float32)
    _, std = small.predict(X32, return_std=True, exposure=1e20)
    expected = small.predict_distribution(X32, exposure=1e20).std()
    assert std.dtype == np.float32 and np.all(np.isfinite(std))
    np.testing.assert_allclose(std, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_float32_exposures_outside_the_range_are_refused_by_every_method(Estimator):
    # fit refused exposures outside float32's range, but predict multiplied by
    # them: predictions of inf (1e40) or 0 (1e-50) with NumPy's overflow
    # warning; products that overflow (3e38 times a mean above 1) too
    X, y, exposure = _counts(n=300)
    X32 = X.astype(np.float32)
    for extreme in (1e40, 1e-50):
        with pytest.raises(ValueError, match="outside float32's range"):
            Estimator(n_experts=1).fit(X32, y, exposure=np.full(300, extreme))
    model = Estimator(n_experts=2, n_init=1, random_state=0)
    model.fit(X32, y, exposure=exposure)
    for extreme in (1e40, 1e-50):
        for return_std in (False, True):
            with pytest.raises(ValueError, match="outside float32's range"):
                model.predict(X32, exposure=extreme, return_std=return_std)
        with pytest.raises(ValueError, match="outside float32's range"):
            model.score(X32, y, exposure=np.full(300, extreme))
    means = model.predict(X32, exposure=1.0)
    assert np.max(means) > 1
    with pytest.raises(ValueError, match="overflow float32: use float64 X"):
        model.predict(X32, exposure=3e38)
    # the predictive distribution (float64) refuses them as predict does: it
    # served them, one row's too, where predict and score raise (RG2)
    for extreme in (1e40, 1e-50):
        at = np.ones(5)
        at[3] = extreme
        for exposures in (extreme, at):
            with pytest.raises(ValueError, match="outside float32's range"):
                model.predict_distribution(X32[:5], exposure=exposures)
    # float64 X: the same exposures are in range, the predictions finite, and
    # the distribution's means predict's
    wide = model.predict(X[:5], exposure=3e38)
    assert wide.dtype == np.float64
    np.testing.assert_allclose(wide, 3e38 * means[:5].astype(np.float64), rtol=1e-5)
    for extreme in (1e40, 1e-50):
        dist = model.predict_distribution(X[:5], exposure=extreme)
        expected = model.predict(X[:5], exposure=extreme)
        np.testing.assert_allclose(dist.mean(), expected, rtol=1e-12)
        np.testing.assert_allclose(
            dist.mean(), extreme * means[:5].astype(np.float64), rtol=1e-5
        )


def _raises_section(method):
    """The text of ``method``'s numpydoc Raises section."""
    doc = inspect.getdoc(method)
    assert "{{" not in doc  # (fill_doc's placeholders all filled)
    return doc.split("Raises\n------\n", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_count_predictions_document_the_errors_they_raise(Estimator):
    # predict had no Raises section and predict_distribution's omitted "the
    # model's outputs overflow" (X far from the training data) and the
    # exposures' range of a float32 model, which both raise: each error
    # raised here is named, in quotes, in the method's Raises section
    X, y, exposure = _counts(n=300)
    model = Estimator(n_experts=2, n_init=1, random_state=0)
    model.fit(X.astype(np.float32), y, exposure=exposure)
    far, X32 = np.array([[1e5]]), X[:5].astype(np.float32)
    raised = {
        "the model's outputs overflow": [
            lambda m: m(far),
            lambda m: m(far.astype(np.float32)),
            lambda m: m(far, exposure=2.0),
        ],
        "exposure has values outside float32's range": [
            lambda m: m(X32, exposure=1e-50),
            lambda m: m(X32, exposure=1e40),
        ],
        "the predicted counts at these exposures overflow": [
            lambda m: m(X[:5], exposure=1e308),
        ],
    }
    for name in ("predict", "predict_distribution"):
        method = getattr(model, name)
        section = _raises_section(getattr(Estimator, name))
        assert section.startswith("ValueError\n")
        for message, calls in raised.items():
            assert f'"{message}"' in " ".join(section.split())
            for call in calls:
                with pytest.raises(ValueError, match=message):
                    call(method)
    assert '"the predictive standard deviation overflows"' in " ".join(
        _raises_section(Estimator.predict).split()
    )
    # one text for both models (fill_doc fills methods' docstrings too)
    for name in ("predict", "predict_distribution"):
        assert _raises_section(getattr(Estimator, name)) == _raises_section(
            getattr(MoEPoissonRegressor, name)
        )


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_exposures_that_overflow_float64_raise_without_numpy_warnings(Estimator):
    # predict leaked NumPy's overflow warning before its error, and
    # predict_distribution raised "rates must be finite" from the distribution
    X, y, exposure = _counts(n=300)
    model = Estimator(n_experts=2, n_init=1, random_state=0)
    model.fit(X, y, exposure=exposure)
    assert np.max(model.predict(X[:5])) > 1  # so 1e308 times it overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for return_std in (False, True):
            with pytest.raises(
                ValueError, match="^predict: .* overflow float64: use exposures in"
            ):
                model.predict(X[:5], exposure=1e308, return_std=return_std)
        with pytest.raises(
            ValueError, match="^predict_distribution: .* overflow float64: use exp"
        ):
            model.predict_distribution(X[:5], exposure=1e308)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_rates_as_y_warn_in_each_partial_fit_batch(Estimator):
    # a stream of rates y / exposure (sample_weight=exposure) has the same
    # likelihood as fit's: each batch with a fraction warns, as fit does,
    # whether it starts the stream or follows a fit or other batches
    X, y, exposure = _counts(n=600)
    rates = y / exposure
    assert np.any(np.floor(rates) != rates)
    model = Estimator(n_experts=2, solver="sgd", random_state=0)
    for rows in (slice(0, 300), slice(300, 600)):
        with pytest.warns(UserWarning, match="non-integer.*exposure=exposure"):
            model.partial_fit(X[rows], rates[rows], sample_weight=exposure[rows])
    counts = Estimator(n_experts=2, solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        counts.fit(X[:300], y[:300].astype(float))
        counts.partial_fit(X[300:], y[300:].astype(float))
    with pytest.warns(UserWarning, match="non-integer.*exposure=exposure"):
        counts.partial_fit(X[300:], rates[300:], sample_weight=exposure[300:])


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"expert_estimator": PoissonRegressor()}, "expert_estimator"),
        ({"top_k": 2, "n_experts": 3}, "dense gate"),
        ({"gate": "gaussian"}, "gate='gaussian'"),
        ({"assignment": "hard"}, "assignment='hard'"),
    ],
)
def test_std_errors_refuses_before_warning_of_missing_exposures(params, reason):
    # it warned that the exposures were missing, then said it was not
    # available for the model whatever the exposures (bic, aic and icl
    # refuse first)
    X, y, exposure = _counts(n=200)
    params = {"n_experts": 2, "n_init": 1, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = MoEPoissonRegressor(**params).fit(X, y, exposure=exposure)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="std_errors") as raised:
            reg.std_errors(X, y)
    assert reason in str(raised.value)
    assert caught == []


@pytest.mark.parametrize(
    "estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_rates_that_overflow_fit_and_score_refuses_them(estimator):
    # a count of 3 over an exposure of 1e-320 is a rate of 3e320: the fit
    # failed in k-means ("Input X contains NaN", its start target was NaN),
    # and score gave NaN with NumPy's overflow warning. The likelihood takes
    # the exposures' logs: fit runs; score's D^2 compares rates: it refuses
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1))
    y = rng.poisson(np.exp(1 + 0.5 * X[:, 0])).astype(float)
    exposure = np.ones(200)
    exposure[[4, 7]] = 1e-320
    y[[4, 7]] = [0.0, 3.0]
    message = (
        r"^score: the rates y / exposure overflow float64 at 1 of 200 rows "
        r"\(such as y=3 over exposure 9.99989e-321 at row 7\), and D\^2 "
        "compares the rates: give the exposures in a smaller unit"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        two = estimator(2, random_state=0).fit(X, y, exposure=exposure)
        one = estimator(1, alpha=0.0, tol=1e-10).fit(X, y, exposure=exposure)
        log_likelihood = one.log_likelihood_samples(X, y, exposure=exposure)
        with pytest.raises(ValueError, match=message):
            one.score(X, y, exposure=exposure)
        stream = estimator(2, solver="sgd", random_state=0)
        stream.partial_fit(X, y, exposure=exposure)  # NumPy's overflow warning
    assert np.all(np.isfinite(two.expert_coef_))
    assert np.all(np.isfinite(stream.expert_coef_))
    assert np.all(np.isfinite(log_likelihood))
    if estimator is not MoEPoissonRegressor:
        return
    # the lone Poisson expert maximizes the likelihood of the log-linear
    # rates, with the exposures' logs as offsets (the rate never computed)
    design, offset = np.c_[np.ones(200), X], np.log(exposure)

    def loss(beta):
        eta = design @ beta + offset
        return np.sum(np.exp(eta) - y * eta), design.T @ (np.exp(eta) - y)

    best = optimize.minimize(
        loss, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-10}
    ).x
    fitted = np.r_[one.expert_intercept_, one.expert_coef_.ravel()]
    np.testing.assert_allclose(fitted, best, rtol=2e-5)
    eta = design[7] @ fitted + offset[7]  # row 7's y log(mu) - mu - log(y!)
    expected = 3 * eta - np.exp(eta) - special.gammaln(4.0)
    np.testing.assert_allclose(log_likelihood[7], expected, rtol=1e-12)


def test_an_overflowing_rate_is_named_in_the_callers_rows():
    # score leaves the rows of weight 0 out before it checks the rates: the
    # message named row 4 of 197 for the caller's row 7 of 200; and float32
    # X's refusal left out the remedy the counts' check gives, float64 X
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1))
    y = rng.poisson(np.exp(1 + 0.5 * X[:, 0])).astype(float)
    model = MoEPoissonRegressor(1).fit(X, y)
    exposure = np.ones(200)
    exposure[7], y[7] = 1e-320, 3.0
    weight = np.ones(200)
    weight[[0, 1, 2]] = 0.0
    message = (
        r"overflow float64 at 1 of 200 rows \(such as y=3 over exposure .* at row 7\)"
    )
    with pytest.raises(ValueError, match=message):
        model.score(X, y, sample_weight=weight, exposure=exposure)
    exposure[7], y[7] = 2e-38, 10.0  # a rate of 5e38, above float32's 3.4e38
    # float64 X fits it: the lone expert is the Poisson regression of the
    # rates weighted by the exposures; float32 X too (the exposures' logs)
    fitted = MoEPoissonRegressor(1, alpha=0.0).fit(X, y, exposure=exposure)
    sklearn_fit = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000)
    sklearn_fit.fit(X, y / exposure, sample_weight=exposure)
    np.testing.assert_allclose(fitted.expert_coef_[0], sklearn_fit.coef_, rtol=1e-5)
    narrow = MoEPoissonRegressor(1, alpha=0.0).fit(
        X.astype(np.float32), y, exposure=exposure
    )
    np.testing.assert_allclose(narrow.expert_coef_[0], sklearn_fit.coef_, rtol=1e-4)


def test_expert_estimator_refuses_rates_that_overflow_unless_weighted_out():
    # expert_estimator's clones are fitted to the rates y / exposure: a rate
    # of 3e320 (5e38 in float32 X's dtype) gave NumPy's overflow warning and
    # sklearn's "Input y contains infinity" from inside the M-step; a row of
    # weight 0 is left out of the fit, and fits
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1))
    y = rng.poisson(np.exp(1 + 0.5 * X[:, 0])).astype(float)
    exposure = np.ones(200)
    exposure[7], y[7] = 1e-320, 3.0
    model = MoEPoissonRegressor(1, expert_estimator=PoissonRegressor(alpha=0.0))
    message = (
        r"^fit: the rates y / exposure overflow float64 at 1 of 200 rows \(such "
        r"as y=3 over exposure 9.99989e-321 at row 7\), and expert_estimator's "
        "clones are fitted to the rates: give the exposures in a smaller unit, "
        r"so that they are larger numbers\.$"
    )
    weight = np.ones(200)
    weight[[0, 1]] = 0.0  # (the row is named in the caller's rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=message):
            clone(model).fit(X, y, sample_weight=weight, exposure=exposure)
        narrow = X.astype(np.float32)
        exposure[7], y[7] = 2e-38, 10.0  # a rate of 5e38 > float32's 3.4e38
        with pytest.raises(ValueError, match=r"float32 at 1 of 200 rows .* at row 7"):
            clone(model).fit(narrow, y, exposure=exposure)
        with pytest.raises(ValueError, match=r"larger numbers, or use float64 X\.$"):
            clone(model).fit(narrow, y, exposure=exposure)
        weight[7] = 0.0
        fitted = clone(model).fit(narrow, y, sample_weight=weight, exposure=exposure)
    # the clone without the rows of weight 0: sklearn's regression of the rates
    kept = weight > 0
    alone = PoissonRegressor(alpha=0.0).fit(
        narrow[kept], y[kept] / exposure[kept], sample_weight=exposure[kept]
    )
    np.testing.assert_allclose(fitted.experts_[0].coef_, alone.coef_, rtol=1e-6)


def test_the_start_target_of_a_count_far_below_the_mean_exposure():
    # an exposure e^709 below the geometric mean overflowed exp in the
    # k-means start's log1p(y e^-offset) (inf for a count of 3, NaN for 0),
    # though the rate, 3e20, is a float64: fit failed in k-means on NaN
    rng = np.random.RandomState(1)
    X = rng.normal(size=(200, 1))
    y = rng.poisson(np.exp(1 + 0.5 * X[:, 0])).astype(float)
    exposure = np.full(200, 1e300)
    exposure[[3, 9]], y[[3, 9]] = 1e-20, [3.0, 0.0]
    Y = encode_counts(y, exposure)
    offset = np.log(exposure) - np.mean(np.log(exposure))
    assert -offset[3] > np.log(np.finfo(np.float64).max)
    target = PoissonExperts().start_target(Y)
    # log1p(y e^-offset) = log(y) - offset + log1p(e^offset / y), the last
    # term below 1e-300 here; log1p(0) = 0
    np.testing.assert_allclose(target[3], np.log(3.0) - offset[3], rtol=1e-15)
    assert target[9] == 0.0
    near = np.ones(200, dtype=bool)
    near[[3, 9]] = False
    expected = np.log1p(y[near] * np.exp(-offset[near]))
    np.testing.assert_allclose(target[near], expected, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = MoEPoissonRegressor(2, random_state=0).fit(X, y, exposure=exposure)
    assert np.all(np.isfinite(model.expert_coef_))


def test_an_unfitted_model_is_refused_by_the_criteria_and_std_errors():
    # bic, aic, icl and std_errors read fitted attributes before the
    # exposures are checked (without a fitted check there, AttributeError:
    # no 'expert_intercept_', no '_gate_family')
    from sklearn.exceptions import NotFittedError

    X, y, exposure = _counts(n=20)
    reg = MoEPoissonRegressor(n_experts=2)
    for method in (reg.bic, reg.aic, reg.icl, reg.std_errors):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method(X, y, exposure=exposure)


def _exposed_moments(model, X, exposure):
    """The mixture's mean and standard deviation of the counts at these
    exposures, written out from the fitted gate and experts in mpmath at 50
    digits (a negative binomial expert's variance mu + phi mu^2)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    dispersion = getattr(model, "expert_dispersion_", np.zeros(model.n_experts_))
    moments = []
    for x, e in zip(X, exposure, strict=True):
        logits = [
            mpmath.mpf(float(b))
            + mpmath.fsum(
                mpmath.mpf(float(c)) * float(v) for c, v in zip(w, x, strict=True)
            )
            for b, w in zip(model.gate_intercept_, model.gate_coef_, strict=True)
        ]
        top = max(logits)
        gate = [mpmath.exp(logit - top) for logit in logits]
        gate = [g / mpmath.fsum(gate) for g in gate]
        mean_k = [
            mpmath.mpf(float(e))
            * mpmath.exp(
                float(b)
                + mpmath.fsum(
                    mpmath.mpf(float(c)) * float(v) for c, v in zip(w, x, strict=True)
                )
            )
            for b, w in zip(model.expert_intercept_, model.expert_coef_, strict=True)
        ]
        mean = mpmath.fsum(g * mu for g, mu in zip(gate, mean_k, strict=True))
        variance = mpmath.fsum(
            g * (mu + float(phi) * mu**2 + (mu - mean) ** 2)
            for g, mu, phi in zip(gate, mean_k, dispersion, strict=True)
        )
        moments.append((float(mean), float(mpmath.sqrt(variance))))
    return np.array(moments).T


def _far_rows(model, log_rate):
    """Two rows of X, far to each side, where the expert the gate takes there
    (of the steepest gate slope that way) has log rate ``-log_rate`` (at
    negative X) and ``log_rate`` (at positive X)."""
    rows = []
    for side, target in ((-1, -log_rate), (1, log_rate)):
        k = int(np.argmax(side * model.gate_coef_[:, 0]))
        x = (target - model.expert_intercept_[k]) / model.expert_coef_[k, 0]
        assert np.sign(x) == side
        rows.append([x])
    return np.array(rows)


def _regimes(n=300, seed=0):
    """Counts whose log rate falls (X < 0) and rises (X > 0) far from 0."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    exposure = rng.uniform(0.1, 5, n)
    log_rate = np.where(X[:, 0] < 0, 1 + X[:, 0], 1 + X[:, 0] / 2)
    return X, rng.poisson(exposure * np.exp(log_rate)), exposure


@pytest.mark.parametrize("Model", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_predict_where_the_exposure_brings_an_extreme_rate_back(Model):
    # rates per unit exposure that underflow (log rate -800) at an exposure
    # of 1e300, or overflow (800) at 1e-300: predict gave 0 for a mean count
    # of 1e-47 and raised "X is too large" for one of 1e47 (as did
    # predict_distribution). Expected: the mixture's moments written out in
    # mpmath from the fitted parameters
    X, y, exposure = _regimes()
    model = Model(n_experts=2, random_state=0).fit(X, y, exposure=exposure)
    far = np.vstack([_far_rows(model, 800.0), [[0.5]]])
    exposures = np.array([1e300, 1e-300, 2.0])
    assert model.predict(far[:1])[0] == 0.0  # the rate itself underflows
    with pytest.raises(ValueError, match="too large"):
        model.predict(far[1:2])  # and overflows
    mean, std = _exposed_moments(model, far, exposures)
    assert 1e-60 < mean[0] < 1e-30 and 1e30 < mean[1] < 1e60
    np.testing.assert_allclose(model.predict(far, exposure=exposures), mean, rtol=1e-9)
    got_mean, got_std = model.predict(far, exposure=exposures, return_std=True)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-9)
    np.testing.assert_allclose(got_std, std, rtol=1e-9)
    dist = model.predict_distribution(far, exposure=exposures)
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-9)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-9)
    with pytest.raises(ValueError, match="too large"):  # still where they do
        model.predict(far[1:2], exposure=1e-10)
    with pytest.raises(ValueError, match="too large"):
        model.predict_distribution(far[1:2], exposure=1e-10)


def test_predict_std_where_the_rates_spread_overflows_but_their_mean_holds():
    # a light expert (gate weight e^-46) of a rate that overflows (e^737)
    # beside one of e^55: the mean rate (1.1e300) is a float, the rates'
    # spread about it (e^714) is not; at an exposure of 1e-300 the counts'
    # mean (1.25) and standard deviation (1.2e10) are. The spread's check
    # sends such rows to the log rates (mutation testing: without it,
    # predict raised "X is too large"). Expected: the mixture's moments
    # written out in mpmath from the fitted parameters
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    low = rng.uniform(size=400) < 0.5
    y = rng.poisson(np.exp(np.where(low, 0.5 + 0.8 * X[:, 0], 1.5 + 0.3 * X[:, 1])))
    model = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X, y)
    # the row of log weight -46 and log rate 737 for expert 0 (2 equations)
    system = [model.gate_coef_[0] - model.gate_coef_[1], model.expert_coef_[0]]
    target = [
        -46.0 - (model.gate_intercept_[0] - model.gate_intercept_[1]),
        737.0 - model.expert_intercept_[0],
    ]
    rows = np.array([np.linalg.solve(system, target), [0.5, 0.5]])
    exposures = np.array([1e-300, 2.0])
    rate, rate_std = _exposed_moments(model, rows[:1], [1.0])
    assert 1e290 < rate[0] < 1e305 and rate_std[0] == np.inf  # (the case)
    mean, std = _exposed_moments(model, rows, exposures)
    assert 1.0 < mean[0] < 2.0 and 1e9 < std[0] < 1e11
    got_mean, got_std = model.predict(rows, exposure=exposures, return_std=True)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-9)
    np.testing.assert_allclose(got_std, std, rtol=1e-9)


@pytest.mark.parametrize("return_std", [False, True])
def test_predict_with_exposure_in_chunks_takes_each_rows_exposure(
    return_std, monkeypatch
):
    # rows in chunks of a few (HOST_CHUNK_BYTES): each chunk's counts are its
    # rows' rates times their own exposures, the unit rates' mean (and the
    # Poisson mixture's variance, mean + exposure^2 spread^2) as in one chunk
    # (mutation testing: each chunk read the first chunk's exposures)
    import skmoe._base

    X, y, exposure = _regimes()
    model = MoEPoissonRegressor(n_experts=2, random_state=0).fit(
        X, y, exposure=exposure
    )
    rng = np.random.RandomState(1)
    rows = rng.uniform(-2, 2, (50, 1))
    exposures = rng.uniform(0.5, 5.0, 50)
    rate, rate_std = model.predict(rows, return_std=True)
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 20)  # a few rows
    out = model.predict(rows, exposure=exposures, return_std=return_std)
    mean = out[0] if return_std else out
    np.testing.assert_allclose(mean, exposures * rate, rtol=1e-12)
    if return_std:  # Var(Y) = E(e mu) + e^2 Var(mu), Var(mu) = std^2 - mean
        spread2 = rate_std**2 - rate
        expected = np.sqrt(exposures * rate + exposures**2 * spread2)
        np.testing.assert_allclose(out[1], expected, rtol=1e-9)


@pytest.fixture(scope="module")
def underflowed_rate_brought_back():
    """A Poisson model fitted to :func:`_regimes`, five rows whose first has
    a rate that underflows (log rate -800) at an exposure of 1e300 (a mean
    count of 1e-47), their exposures, and their mean counts written out in
    mpmath (:func:`_exposed_moments`)."""
    X, y, exposure = _regimes()
    model = MoEPoissonRegressor(n_experts=2, random_state=0).fit(
        X, y, exposure=exposure
    )
    rows = np.vstack([_far_rows(model, 800.0)[:1], [[-1.0], [0.0], [1.0], [1.5]]])
    exposures = np.array([1e300, 1.0, 2.0, 0.5, 3.0])
    mean, _ = _exposed_moments(model, rows, exposures)
    assert model.predict(rows[:1])[0] == 0.0 and mean[0] > 1e-60
    return model, rows, exposures, mean


def test_score_where_the_exposure_brings_an_underflowed_rate_back(
    underflowed_rate_brought_back,
):
    # D^2 with a mean count of 1e-47 whose rate (1e-347) underflows: predict's
    # 0 made the score take the log rates there, which held. Expected: the
    # Poisson deviance of the counts against the means written out in
    # mpmath, the null a constant rate (R's offset)
    model, rows, exposures, mean = underflowed_rate_brought_back
    counts = np.array([0, 4, 3, 2, 9])
    null = exposures * counts.sum() / exposures.sum()

    def deviance(mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(counts > 0, counts * np.log(counts / mu), 0.0)
        return np.sum(terms - counts + mu)

    expected = 1 - deviance(mean) / deviance(null)
    score = model.score(rows, counts, exposure=exposures)
    np.testing.assert_allclose(score, expected, rtol=1e-9)


def test_score_of_zero_counts_where_the_exposure_brings_an_underflowed_rate_back(
    underflowed_rate_brought_back,
):
    # all counts 0 (a constant rate) beside a mean rate that underflows at
    # an exposure of 1e300: D^2 of a constant y is r2_score's (0 where the
    # means are not y); the counts' deviance took the log of a zero null
    # mean, a ValueError of math (mutation testing)
    model, rows, exposures, mean = underflowed_rate_brought_back
    counts = np.zeros(5)
    score = model.score(rows, counts, exposure=exposures)
    assert score == r2_score(counts, mean) == 0.0


def test_score_where_a_small_exposure_brings_an_overflowed_rate_back():
    # a mean count of 1e47 whose rate (e800) overflows at an exposure of
    # 1e-300: score raised "X is too large", and from the rates times the
    # exposures would take the deviance as inf. Expected: the Poisson
    # deviance of the counts against the means written out in mpmath
    X, y, exposure = _regimes()
    model = MoEPoissonRegressor(n_experts=2, random_state=0).fit(
        X, y, exposure=exposure
    )
    rows = np.vstack([_far_rows(model, 800.0)[1:], [[-1.0], [0.0], [1.0], [1.5]]])
    exposures = np.array([1e-300, 1.0, 2.0, 0.5, 3.0])
    counts = np.array([3, 4, 3, 2, 9])
    mean, _ = _exposed_moments(model, rows, exposures)
    null = exposures * counts.sum() / exposures.sum()

    def deviance(mu):
        return np.sum(counts * np.log(counts / mu) - counts + mu)

    expected = 1 - deviance(mean) / deviance(null)
    assert -1e60 < expected < -1e30
    score = model.score(rows, counts, exposure=exposures)
    np.testing.assert_allclose(score, expected, rtol=1e-9)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_pandas_nat_among_exposures_is_a_missing_value_as_in_X(Estimator):
    # pandas' NaT among numbers in exposure (a list, an object array or
    # Series; alone too) was refused as "points in time, not durations",
    # where the same NaT in X (or y, sample_weight) is a missing value and
    # gets scikit-learn's error for a NaN: now exposure's NaN error, in fit,
    # predict and score, and under assume_finite=True the words a NaN
    # exposure gets then. Beside a Timestamp it is still a time's TypeError.
    pd = pytest.importorskip("pandas")
    X, y, good = _counts(n=100)
    model = Estimator(1, max_iter=5).fit(X, y, exposure=good)
    nan = good.copy()
    nan[3] = np.nan
    values = [*good[:3], pd.NaT, *good[4:]]
    cases = [
        values,
        np.array(values, dtype=object),
        pd.Series(values, dtype=object),
        np.full(len(y), pd.NaT, dtype=object),
    ]
    calls = (
        lambda exposure: clone(model).fit(X, y, exposure=exposure),
        lambda exposure: model.predict(X, exposure=exposure),
        lambda exposure: model.score(X, y, exposure=exposure),
    )
    for assume_finite in (False, True):
        with sklearn.config_context(assume_finite=assume_finite):
            for call in calls:
                with pytest.raises(ValueError) as nan_error:
                    call(nan)
                words = "^" + re.escape(str(nan_error.value)) + "$"
                assert str(nan_error.value).startswith("Input exposure contains NaN")
                for exposure in cases:
                    with pytest.raises(ValueError, match=words):
                        call(exposure)
                dates = np.array(values, dtype=object)
                dates[5] = pd.Timestamp("2020-01-02")
                with pytest.raises(TypeError, match="points in time"):
                    call(dates)
    # X's NaT: the NaN error of X, as the exposure's is exposure's
    nat_X = X.astype(object)
    nat_X[3, 0] = pd.NaT
    with pytest.raises(ValueError, match=r"^Input X contains NaN\."):
        model.predict(nat_X, exposure=good)
