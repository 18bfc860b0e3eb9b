"""The ways users run skmoe: pipelines, grid search, persistence, parallel restarts."""

import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe._demo import _timed_fit, make_regimes, run_demo


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def _digits_pipeline(**params):
    return make_pipeline(
        StandardScaler(),
        PCA(n_components=32, random_state=0),
        MoEClassifier(random_state=0, n_init=1, **params),
    )


def test_digits_pipeline_accuracy(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    model = _digits_pipeline(n_experts=2).fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.95


def test_grid_search_over_n_experts():
    X, y = make_regimes(n_samples=900, random_state=1)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MoERegressor(n_init=2, random_state=0)),
        {"moeregressor__n_experts": [1, 3]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == {"moeregressor__n_experts": 3}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.5  # three regimes: one line cannot fit them


@pytest.mark.parametrize(
    "Estimator",
    [
        MoERegressor,
        MoEClassifier,
        MoEPoissonRegressor,
        MoEGammaRegressor,
        MoENegativeBinomialRegressor,
    ],
)
def test_grid_search_over_a_numpy_range_of_n_init(Estimator):
    """A grid of NumPy integers (``np.arange``, as users write grids) fits as
    the same grid of Python ints: ``n_init=np.int64(2)`` raised a TypeError
    (a tuple times the numpy.bool its comparison with 1 gave)."""
    rng = np.random.RandomState(0)
    X = rng.randn(90, 2)
    y = (X[:, 0] > 0).astype(int) if Estimator is MoEClassifier else X[:, 0]
    if Estimator in (MoEPoissonRegressor, MoENegativeBinomialRegressor):
        y = rng.poisson(np.exp(0.5 * X[:, 0]))
    elif Estimator is MoEGammaRegressor:
        y = np.exp(0.5 * X[:, 0] + 0.3 * rng.randn(90))
    model = Estimator(n_experts=2, max_iter=20, random_state=0)
    with warnings.catch_warnings():  # (the folds' short fits warn; not the point)
        warnings.simplefilter("ignore")
        searches = [
            GridSearchCV(model, {"n_init": grid}, cv=2).fit(X, y)
            for grid in (np.arange(1, 3), [1, 2])
        ]
    numpy_grid, int_grid = (s.cv_results_["mean_test_score"] for s in searches)
    assert np.all(np.isfinite(int_grid))
    np.testing.assert_array_equal(numpy_grid, int_grid)
    assert isinstance(searches[0].best_params_["n_init"], np.integer)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_pickle_and_joblib_round_trips_predict_identically(
    Estimator, tmp_path, xor_classes
):
    X, y = xor_classes
    if Estimator is MoERegressor:
        y = X[:, 0] * np.sign(X[:, 1])
    model = Estimator(3, n_init=1, random_state=0).fit(X, y)
    from_pickle = pickle.loads(pickle.dumps(model))
    joblib.dump(model, tmp_path / "model.joblib")
    from_joblib = joblib.load(tmp_path / "model.joblib")
    methods = ["predict", "predict_gate"] + (
        ["predict_proba"] if Estimator is MoEClassifier else []
    )
    for method in methods:
        expected = getattr(model, method)(X)
        np.testing.assert_array_equal(getattr(from_pickle, method)(X), expected)
        np.testing.assert_array_equal(getattr(from_joblib, method)(X), expected)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_same_random_state_same_result_for_any_n_jobs(Estimator, xor_classes):
    X, y = xor_classes
    if Estimator is MoERegressor:
        y = X[:, 0] * np.sign(X[:, 1])
    fits = [
        Estimator(3, n_init=3, random_state=7, n_jobs=n_jobs).fit(X, y)
        for n_jobs in (1, 1, 2)
    ]
    for other in fits[1:]:
        np.testing.assert_allclose(
            other.log_likelihood_, fits[0].log_likelihood_, rtol=1e-12
        )
        np.testing.assert_allclose(
            other.expert_coef_, fits[0].expert_coef_, rtol=1e-9, atol=1e-12
        )
        np.testing.assert_allclose(
            other.gate_coef_, fits[0].gate_coef_, rtol=1e-9, atol=1e-12
        )
    # and a different random_state is a different draw
    other_seed = Estimator(3, n_init=1, init_params="random", random_state=8).fit(X, y)
    seven = Estimator(3, n_init=1, init_params="random", random_state=7).fit(X, y)
    assert not np.allclose(
        other_seed.log_likelihood_history_[:3], seven.log_likelihood_history_[:3]
    )


@pytest.mark.parametrize(
    "Estimator",
    [
        MoERegressor,
        MoEClassifier,
        MoEPoissonRegressor,
        MoENegativeBinomialRegressor,
        MoEGammaRegressor,
    ],
)
def test_fit_after_a_partial_fit_stream_is_a_fresh_fit(Estimator):
    # fit starts afresh: an estimator that streamed batches first holds the
    # same state as a new one fitted on the same data (the counts' moments of
    # a Poisson or negative binomial stream stayed after fit)
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(240, 2))
    mean = np.exp(np.where(X[:, 0] > 0, 0.5 * X[:, 1] + 1, -0.3 * X[:, 1]))
    if Estimator is MoERegressor:
        y = np.log(mean) + 0.3 * rng.standard_normal(240)
    elif Estimator is MoEClassifier:
        y = (rng.uniform(size=240) < mean / (1 + mean)).astype(int)
    elif Estimator is MoEGammaRegressor:
        y = rng.gamma(2.0, mean / 2.0)
    else:
        y = rng.poisson(mean).astype(float)
    params = dict(n_experts=2, solver="sgd", random_state=0, n_init=1, tol=1e-3)
    classes = {"classes": [0, 1]} if Estimator is MoEClassifier else {}
    streamed = Estimator(**params)
    for rows in np.array_split(np.arange(240), 4):
        streamed.partial_fit(X[rows], y[rows], **classes)
    streamed.fit(X, y)
    fresh = Estimator(**params).fit(X, y)
    assert sorted(vars(streamed)) == sorted(vars(fresh))
    for name in ("gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(fresh, name))
    np.testing.assert_array_equal(streamed.predict(X), fresh.predict(X))


def test_feature_names_are_kept():
    pd = pytest.importorskip("pandas")
    X, y = make_regimes(n_samples=300)
    frame = pd.DataFrame(X, columns=["speed", "load"])
    model = MoERegressor(2, n_init=1, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(model.feature_names_in_, ["speed", "load"])
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_allclose(model.predict(frame), model.predict(X))


def test_demo_table_beats_linear_models_on_regimes():
    lines = []
    rows = run_demo(out=lines.append)
    scores = {(problem, name.split(" ")[0]): score for problem, name, score, _ in rows}
    assert scores[("regimes (R^2)", "MoERegressor(n_experts=3)")] > 0.85
    assert scores[("regimes (R^2)", "LinearRegression")] < 0.2
    assert scores[("digits (accuracy)", "MoEClassifier")] > 0.95
    assert lines[0].split()[:4] == ["problem", "model", "test", "score"]
    notes = lines[2 + len(rows) :]  # after the header, the rule and the rows
    assert notes[0].startswith("* ")
    assert "whole grid search" in " ".join(line.strip() for line in notes)


@pytest.mark.parametrize(
    "make, load",
    [
        (MoERegressor, load_diabetes),
        (MoEClassifier, load_iris),
        (MoEClassifier, load_wine),
        (MoEClassifier, load_breast_cancer),
    ],
)
def test_default_fit_on_standardized_bundled_data_gives_no_warning(make, load):
    # healthy data at their default parameters: any warning here is noise to
    # every user of scikit-learn's bundled data sets
    X, y = load(return_X_y=True)
    model = make_pipeline(StandardScaler(), make(random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y)


class _WarnsTwice(BaseEstimator):
    """An estimator whose fit gives a ConvergenceWarning and a UserWarning."""

    def fit(self, X, y):
        warnings.warn("stopped at max_iter", ConvergenceWarning, stacklevel=1)
        warnings.warn("a feature is on an odd scale", UserWarning, stacklevel=1)
        return self


def test_demo_counts_convergence_warnings_and_gives_the_others():
    # the demo's record of the fits' warnings kept every other warning from
    # the user (a feature-scale warning would never have been printed)
    X, y = make_regimes(n_samples=20)
    with pytest.warns(UserWarning, match="odd scale") as record:
        _, unconverged = _timed_fit(_WarnsTwice(), X, y)
    assert unconverged == 1  # counted for the table's notes, not given again
    assert [w.category for w in record] == [UserWarning]
    assert record[0].filename == __file__  # at the line that warned


def test_command_line_help():
    result = subprocess.run(
        [sys.executable, "-m", "skmoe", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "demo" in result.stdout


def test_parallel_workers_see_scikit_learns_settings():
    # scikit-learn's configuration is per thread: restarts and bootstrap fits
    # run by joblib see it (here, metadata routing to a pipeline expert that
    # needs it) only if it is passed on to the workers
    import sklearn
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import SplineTransformer

    from skmoe import bootstrap_lrt

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.normal(size=200)
    with sklearn.config_context(enable_metadata_routing=True):
        spline = make_pipeline(
            SplineTransformer(n_knots=4).set_fit_request(sample_weight=False),
            LinearRegression().set_fit_request(sample_weight=True),
        )
        model = MoERegressor(2, expert_estimator=spline, n_init=2, random_state=0)
        with joblib.parallel_backend("threading", n_jobs=2):
            fits = [
                model.set_params(n_jobs=n).fit(X, y).log_likelihood_ for n in (1, 2)
            ]
            tests = [
                bootstrap_lrt(
                    model.set_params(n_jobs=1, n_init=1),
                    X,
                    y,
                    max_experts=2,
                    n_bootstrap=2,
                    significance=0.5,
                    random_state=0,
                    n_jobs=n,
                ).bootstrap_statistics
                for n in (1, 2)
            ]
    assert fits[1] == fits[0]
    np.testing.assert_array_equal(tests[1], tests[0])
