"""Identities a user expects of the fits: y's units, the features' and the
classes' order, a constant exposure."""

import numpy as np
import pytest

from skmoe import (
    MoEClassifier,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)

# short fits (max_iter of 12 to 25) of three experts on two regimes, one of
# them thin: the identities hold at every iteration
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::skmoe.exceptions.DegenerateFitWarning"),
]


def _regimes(n=120, seed=1):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3)
    y = np.where(X[:, 0] > 0, X @ [1, -2, 0.5] + 1, X @ [-1, 0.5, 2] - 1)
    return X, y + 0.3 * rng.randn(n), rng.dirichlet([1, 1, 1], size=n)


@pytest.mark.parametrize(
    "options",
    [
        dict(gate="softmax", solver="em"),
        dict(gate="softmax", solver="em", top_k=2, variance_type="tied"),
        dict(gate="gaussian", solver="em", noise="student_t"),
        dict(gate="hierarchical", solver="em"),
        dict(gate="softmax", solver="gradient", noise="student_t"),
    ],
)
def test_regression_follows_y_through_an_affine_map(options):
    # y -> a y + b: means a m + b, standard deviations |a| s, the same R^2,
    # and the log-likelihood less n log|a| (the density's Jacobian)
    X, y, resp = _regimes()
    params = dict(n_experts=3, max_iter=25, n_init=1, random_state=0, **options)
    base = MoERegressor(**params).fit(X, y, init_responsibilities=resp)
    mean, std = base.predict(X, return_std=True)
    for a, b in [(1e3, -5.0), (1e-3, 7.0), (-2.0, 0.0)]:
        model = MoERegressor(**params).fit(X, a * y + b, init_responsibilities=resp)
        assert model.n_iter_ == base.n_iter_
        moved, spread = model.predict(X, return_std=True)
        np.testing.assert_allclose((moved - b) / a, mean, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(spread / abs(a), std, rtol=1e-8)
        np.testing.assert_allclose(model.score(X, a * y + b), base.score(X, y))
        np.testing.assert_allclose(
            model.log_likelihood_ + len(y) * np.log(abs(a)),
            base.log_likelihood_,
            rtol=1e-8,
        )


@pytest.mark.parametrize("solver", ["em", "gradient", "sgd"])
def test_permuted_features_predict_the_same(solver):
    X, y, resp = _regimes()
    order = [2, 0, 1]
    params = dict(n_experts=3, solver=solver, max_iter=25, random_state=0)
    start = {} if solver == "sgd" else {"init_responsibilities": resp}
    base = MoERegressor(n_init=1, **params).fit(X, y, **start)
    permuted = MoERegressor(n_init=1, **params).fit(X[:, order], y, **start)
    np.testing.assert_allclose(
        permuted.predict(X[:, order]), base.predict(X), atol=1e-9
    )
    # the permuted fit's column j is the feature order[j]
    np.testing.assert_allclose(
        permuted.expert_coef_, base.expert_coef_[:, order], rtol=1e-7, atol=1e-9
    )


@pytest.mark.parametrize(
    "solver, options",
    [
        ("em", {}),
        ("gradient", {}),
        ("sgd", {"validation_fraction": 0.0}),
        ("sgd", {}),
    ],
)
def test_relabelled_classes_give_the_same_probabilities(solver, options):
    # ints, permuted ints, strings, a pandas Categorical (its categories in
    # another order, one unused) and a Series: the same probabilities, the
    # columns in the order of classes_ (sorted, as LogisticRegression's).
    # (sgd's early stopping holds out 15 rows per class, of shares 6.6, 3.8
    # and 4.6: the extra row of the tied 0.6s went by the labels' order, and
    # the permuted labels' fit stopped after 6 epochs, not 20, 0.55 apart)
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.randn(150, 2)
    y = np.where(X[:, 0] > 0, (X[:, 1] > 0).astype(int), 2 * (X[:, 1] < 0.3))
    names = np.array(["zeta", "alpha", "mid"])
    params = dict(n_experts=2, solver=solver, max_iter=20, random_state=0, **options)
    base = MoEClassifier(**params).fit(X, y)
    proba = base.predict_proba(X)
    labels = [
        (np.array([2, 0, 1])[y], np.array([2, 0, 1])),
        (names[y], names),
        (
            pd.Categorical(names[y], categories=["mid", "unused", "zeta", "alpha"]),
            names,
        ),
        (pd.Series(names[y]), names),
    ]
    for relabelled, label_of in labels:
        model = MoEClassifier(**params).fit(X, relabelled)
        np.testing.assert_array_equal(model.classes_, np.sort(label_of))
        columns = np.searchsorted(model.classes_, label_of)
        np.testing.assert_allclose(
            model.predict_proba(X)[:, columns], proba, rtol=1e-6, atol=1e-7
        )
        np.testing.assert_array_equal(model.predict(X), label_of[base.predict(X)])


def test_sgd_holds_out_the_same_rows_of_relabelled_classes():
    # the stratified split's counts are the floors of n_valid * size / n, one
    # more for the largest remainders (exact fractions here); which of the
    # classes of tied remainders gets it must not follow the labels' order
    from fractions import Fraction
    from itertools import permutations
    from types import SimpleNamespace

    from skmoe._sgd import held_out_rows
    from skmoe.experts import LogisticExperts

    rng = np.random.RandomState(0)
    for sizes in [(66, 38, 46), (6, 6), (7, 7, 7), (1, 4, 4)]:
        n, k = sum(sizes), len(sizes)
        n_valid = round(0.1 * n)
        shares = [Fraction(n_valid * size, n) for size in sizes]
        floors = [int(share) for share in shares]
        y = rng.permutation(np.repeat(np.arange(k), sizes))
        for seed in range(5):
            held = []
            for relabel in permutations(range(k)):
                problem = SimpleNamespace(
                    sample_weight=np.ones(n),
                    Y=np.eye(k)[np.array(relabel)[y]].T,
                    experts=LogisticExperts(k),
                )
                held.append(held_out_rows(problem, 0.1, np.random.RandomState(seed)))
            for rows in held[1:]:
                np.testing.assert_array_equal(rows, held[0])
            extra = np.bincount(y[held[0]], minlength=k) - floors
            assert extra.sum() == n_valid - sum(floors) and set(extra) <= {0, 1}
            given = [
                share - floor
                for share, floor, e in zip(shares, floors, extra, strict=True)
                if e
            ]
            not_given = [
                s - f for s, f, e in zip(shares, floors, extra, strict=True) if not e
            ]
            assert min(given, default=1) >= max(not_given, default=0)


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
@pytest.mark.parametrize("zero_inflated", [False, True])
def test_one_exposure_for_all_rows_moves_the_intercepts_by_its_log(
    Estimator, zero_inflated
):
    # a rate per unit exposure: exposure c on every row is the unit 1 / c,
    # each count expert's intercept less log(c), the same likelihood, and
    # the counts predicted with that exposure the same
    rng = np.random.RandomState(0)
    X = rng.randn(100, 2)
    y = rng.poisson(np.exp(0.5 + 0.8 * np.sign(X[:, 0]) - 0.3 * X[:, 1]))
    if zero_inflated:
        y = y * (rng.rand(100) > 0.3)
    resp = rng.dirichlet([1, 1, 1], size=100)
    params = dict(n_experts=3, n_init=1, max_iter=12, zero_inflated=zero_inflated)
    base = Estimator(**params).fit(X, y, init_responsibilities=resp)
    counts = np.isfinite(base.expert_intercept_)  # (not the point mass's)
    assert counts.sum() == 3 - zero_inflated
    for c in (1e-3, 7.0, 1e3):
        exposure = np.full(100, c)
        model = Estimator(**params).fit(
            X, y, exposure=exposure, init_responsibilities=resp
        )
        np.testing.assert_allclose(
            model.expert_intercept_[counts] + np.log(c),
            base.expert_intercept_[counts],
            atol=1e-6,
        )
        np.testing.assert_allclose(model.expert_coef_, base.expert_coef_, atol=1e-6)
        np.testing.assert_allclose(
            model.log_likelihood_, base.log_likelihood_, rtol=1e-8
        )
        np.testing.assert_allclose(
            model.predict(X, exposure=exposure), base.predict(X), rtol=1e-6
        )
        np.testing.assert_allclose(
            model.score(X, y, exposure=exposure), base.score(X, y), atol=1e-8
        )


def test_partial_fit_noise_check_takes_the_lower_median_at_any_weight_scale():
    # the noise check of a partial_fit batch (Gaussian experts): its rows'
    # median square must exceed a Gaussian's at `above` (chi2(1)'s median
    # times above^2). 100 rows whose 50th smallest square is half that and
    # the 51st twice it: the lower median, as NumPy's inverted_cdf quantile
    # of the unweighted squares (the rows repeated by equal weights), is
    # below, so no scale of all-equal weights follows the batch; the
    # rounded cumsum of 100 weights of 0.3, 0.7 or 0.01 took the 51st and
    # followed it. Squares moved so that the lower median is twice it: every
    # scale follows.
    from scipy.stats import chi2

    from skmoe.experts import GaussianLinearExperts

    above = 1.0
    level = chi2(1).median() * above**2
    experts = GaussianLinearExperts(1e-10)
    params = {"coef": np.zeros((2, 1)), "variance": np.ones(1)}
    design = np.ones((2, 100))
    for middle, followed in ((0.5, False), (2.0, True)):
        squares = np.r_[np.full(49, 0.01), middle * level, 2 * level, np.full(49, 9.0)]
        y = np.sqrt(squares)[::-1].copy()  # (sorted inside)
        median = np.quantile(squares, 0.5, method="inverted_cdf")
        assert (median > level) == followed
        assert np.mean(squares) > above**2  # the pooled check passes
        for c in (1.0, 0.3, 0.7, 0.01, 1e3):
            shown = experts.batch_noise(
                np,
                design,
                y,
                np.ones((1, 100)),
                np.full(100, c),
                params,
                0.0,
                above,
                -1e3,
            )
            assert (shown is not None) == followed, c
            if followed:
                np.testing.assert_allclose(shown["variance"], np.mean(squares))


def test_exposure_floor_is_the_lower_weighted_median_at_any_weight_scale():
    # a count model's exposure floor: RATE_EXPOSURE_SHARE of the exposures'
    # lower weighted median, the exposure of the row whose cumulative weight
    # first reaches half the total (by exact fractions of the integer
    # weights). Exposures 1, 2, 3 of weights 1, 3, 4 (or 1, 5, 6): 2, whose
    # cumulative weight is half exactly; the rounded cumsum of the weights
    # over the largest, times 0.7 (or 0.1, 1/3), took 3
    from fractions import Fraction

    from skmoe._warm_start import RATE_EXPOSURE_SHARE, _exposure_floor

    exposure = np.array([3.0, 1.0, 2.0])
    for weights in ([4, 1, 3], [6, 1, 5]):
        # the lower median by exact fractions
        total = sum(Fraction(w) for w in weights)
        cumulative = Fraction(0)
        for row in np.argsort(exposure):
            cumulative += weights[row]
            if 2 * cumulative >= total:
                break
        assert exposure[row] == 2.0
        for c in (1.0, 0.7, 0.1, 1 / 3, 1e-3, 1e3):
            floor = _exposure_floor(exposure, c * np.array(weights, dtype=float))
            assert floor == RATE_EXPOSURE_SHARE * exposure[row], (weights, c)
