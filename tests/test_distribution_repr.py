"""The predictive distributions' repr, row selection, array conversion and
random generators."""

import copy

import numpy as np
import pytest
from scipy import stats

from skmoe import (
    MoERegressor,
    PredictiveGammaMixture,
    PredictiveMixture,
    PredictiveNegativeBinomialMixture,
    PredictivePoissonMixture,
    PredictiveStudentTMixture,
)


@pytest.fixture
def mixture():
    rng = np.random.RandomState(0)
    weights = rng.dirichlet([1.0, 2.0, 3.0], size=7)
    means = rng.normal(0, 3, size=(7, 3))
    scales = rng.uniform(0.2, 2.0, size=(7, 3))
    return PredictiveMixture(weights, means, scales)


def _scipy_moments_and_cdf(weights, means, scales, y):
    """Mean, std and P(Y <= y) of each row's mixture, from scipy.stats.norm."""
    mean = np.sum(weights * stats.norm.mean(means, scales), axis=1)
    second = np.sum(weights * (scales**2 + means**2), axis=1)
    cdf = np.sum(weights * stats.norm.cdf(y[:, None], means, scales), axis=1)
    return mean, np.sqrt(second - mean**2), cdf


def test_repr_names_the_shape(mixture):
    assert repr(mixture) == "PredictiveMixture(n_rows=7, n_components=3)"
    assert repr(mixture[2:4]) == "PredictiveMixture(n_rows=2, n_components=3)"
    assert str(mixture[[]]) == "PredictiveMixture(n_rows=0, n_components=3)"


@pytest.mark.parametrize(
    "index, rows",
    [
        (3, [3]),
        (-1, [6]),
        (np.int64(0), [0]),
        (np.array(2), [2]),
        (np.array(-2, dtype=np.int32), [5]),
        (slice(None, 2), [0, 1]),
        (slice(1, None, 3), [1, 4]),
        (slice(None, None, -1), [6, 5, 4, 3, 2, 1, 0]),
        (np.array([True, False, False, True, True, False, False]), [0, 3, 4]),
        ([True, False, False, False, False, False, True], [0, 6]),
        (np.array([5, 0, 5]), [5, 0, 5]),
        ([2, -1], [2, 6]),
    ],
    ids=[
        "int",
        "negative-int",
        "numpy-int",
        "0d-int-array",
        "0d-int32-array-negative",
        "slice",
        "slice-step",
        "reversed",
        "mask",
        "mask-list",
        "index-array",
        "index-list",
    ],
)
def test_indexing_selects_rows(mixture, index, rows):
    selected = mixture[index]
    assert isinstance(selected, PredictiveMixture)
    assert len(selected) == len(rows)
    np.testing.assert_array_equal(selected.weights, mixture.weights[rows])
    np.testing.assert_array_equal(selected.means, mixture.means[rows])
    np.testing.assert_array_equal(selected.scales, mixture.scales[rows])
    y = np.linspace(-2.0, 2.0, 7)
    # the selected rows of the whole distribution ...
    np.testing.assert_allclose(selected.mean(), mixture.mean()[rows], rtol=1e-12)
    np.testing.assert_allclose(selected.std(), mixture.std()[rows], rtol=1e-12)
    np.testing.assert_allclose(
        selected.cdf(y[rows]), mixture.cdf(y)[rows], rtol=1e-12, atol=1e-15
    )
    # ... and the same numbers from scipy's normal distribution
    mean, std, cdf = _scipy_moments_and_cdf(
        mixture.weights[rows], mixture.means[rows], mixture.scales[rows], y[rows]
    )
    np.testing.assert_allclose(selected.mean(), mean, rtol=1e-10)
    np.testing.assert_allclose(selected.std(), std, rtol=1e-10)
    np.testing.assert_allclose(selected.cdf(y[rows]), cdf, rtol=1e-10, atol=1e-15)


def test_an_int_gives_a_one_row_mixture(mixture):
    row = mixture[4]
    assert row.weights.shape == (1, 3)
    assert row.mean().shape == (1,)
    mean, std, cdf = _scipy_moments_and_cdf(
        mixture.weights[4:5], mixture.means[4:5], mixture.scales[4:5], np.array([0.5])
    )
    np.testing.assert_allclose(row.mean(), mean, rtol=1e-10)
    np.testing.assert_allclose(row.std(), std, rtol=1e-10)
    np.testing.assert_allclose(row.cdf(0.5), cdf, rtol=1e-10)
    # iterating goes through the rows one at a time
    rows = list(mixture)
    assert len(rows) == len(mixture)
    np.testing.assert_allclose(
        np.concatenate([r.mean() for r in rows]), mixture.mean(), rtol=1e-12
    )


def test_rows_of_a_predicted_distribution():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(200)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    dist = reg.predict_distribution(X)
    mask = X[:, 0] > 1
    np.testing.assert_allclose(dist[mask].mean(), reg.predict(X[mask]), rtol=1e-12)
    np.testing.assert_allclose(
        dist[10:20].std(), reg.predict(X[10:20], return_std=True)[1], rtol=1e-12
    )
    np.testing.assert_allclose(
        dist[::50].ppf(0.3), reg.predict_distribution(X[::50]).ppf(0.3), rtol=1e-10
    )


@pytest.mark.parametrize(
    "index",
    [
        (0, 1),
        1.5,
        "a",
        None,
        True,
        np.array([[0, 1]]),
        [0.5],
        Ellipsis,
        np.array(True),
        np.array(1.0),
    ],
    ids=[
        "tuple",
        "float",
        "str",
        "none",
        "bool",
        "2d",
        "float-list",
        "ellipsis",
        "0d-bool-array",
        "0d-float-array",
    ],
)
def test_indexing_refuses_what_is_not_rows(mixture, index):
    with pytest.raises(TypeError, match="selects rows only"):
        mixture[index]


def test_indexing_out_of_range(mixture):
    with pytest.raises(IndexError, match="out of bounds"):
        mixture[7]
    with pytest.raises(IndexError, match="out of bounds"):
        mixture[[0, -8]]
    with pytest.raises(IndexError, match="boolean index"):
        mixture[np.ones(3, dtype=bool)]


def _one_of_each_family():
    """A three-row, two-component distribution of each family, and each row's mean
    written out (sum_k w_k mu_k: every family here is parametrized by its means)."""
    rng = np.random.RandomState(1)
    weights = rng.dirichlet([1.0, 2.0], size=3)
    means = rng.uniform(1.0, 5.0, size=(3, 2))
    spread = rng.uniform(0.5, 2.0, size=(3, 2))
    families = [
        PredictiveMixture(weights, means, spread),
        PredictiveStudentTMixture(weights, means, spread, np.full((3, 2), 5.0)),
        PredictivePoissonMixture(weights, means),
        PredictiveNegativeBinomialMixture(weights, means, spread),
        PredictiveGammaMixture(weights, means, 1.0 / spread),
    ]
    return families, np.sum(weights * means, axis=1)


FAMILIES, FAMILY_MEANS = _one_of_each_family()
FAMILY_IDS = [type(dist).__name__ for dist in FAMILIES]


@pytest.mark.parametrize("dist", FAMILIES, ids=FAMILY_IDS)
def test_a_distribution_is_not_an_array(dist):
    # NumPy took each row (a one-row distribution) for a sequence, without end
    name = type(dist).__name__
    with pytest.raises(TypeError, match=f"{name} is a distribution of 3 rows, not an"):
        np.asarray(dist)
    rows = list(dist)
    assert [len(row) for row in rows] == [1, 1, 1]
    np.testing.assert_allclose([row.mean()[0] for row in rows], FAMILY_MEANS)


@pytest.mark.parametrize("dist", FAMILIES, ids=FAMILY_IDS)
def test_an_object_array_holds_distributions(dist):
    # dtype=object: the distributions themselves, one per element, as NumPy
    # holds any object (the rows' nesting gave shape (2, 3, 1, ..., 1) before)
    held = np.array([dist, dist[1:]], dtype=object)
    assert held.shape == (2,)
    assert held[0] is dist and len(held[1]) == 2
    holder = np.empty(2, dtype=object)
    holder[:] = [dist, dist]
    assert holder[0] is dist and holder[1] is dist


@pytest.mark.parametrize("dist", FAMILIES, ids=FAMILY_IDS)
def test_sample_takes_a_numpy_generator(dist):
    rng = np.random.default_rng(0)
    before = copy.deepcopy(rng.bit_generator.state)
    draws = dist.sample(20000, random_state=rng)
    assert rng.bit_generator.state != before  # drawn from that generator itself
    again = dist.sample(20000, random_state=np.random.default_rng(0))
    np.testing.assert_array_equal(draws, again)
    # the draws' means within five standard errors of the mixtures' means
    standard_error = dist.std() / np.sqrt(20000)
    assert np.all(np.abs(draws.mean(axis=0) - FAMILY_MEANS) < 5 * standard_error)
