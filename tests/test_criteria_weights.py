"""bic, aic and icl with sample weights: the convention of n_experts="auto"'s
training BIC (the weights rescaled to sum to the n rows of positive weight),
checked against the unweighted criteria on repeated rows (closed form), unit
weights, rows removed, and n_experts_bic_."""

import numpy as np
import pytest
from _references import ESTIMATORS
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)

COUNTS = (MoEPoissonRegressor, MoENegativeBinomialRegressor)


def _data(Estimator, n=240, seed=0):
    """Two regimes in x, the target of the estimator's family; exposures for
    the count models (None otherwise)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    X = x[:, None]
    low = x < 0
    exposure = None
    if Estimator is MoERegressor:
        y = np.where(low, 1 + 2 * x, 3 - x) + rng.normal(0, 0.5, n)
    elif Estimator is MoEClassifier:
        logit = np.where(low, 3 * x + 1, -2 * x + 1)
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    elif Estimator is MoEGammaRegressor:
        mean = np.exp(np.where(low, 0.5 + 0.5 * x, 1 - 0.3 * x))
        y = rng.gamma(4.0, mean / 4.0)
    else:
        exposure = rng.uniform(0.5, 2.0, n)
        rate = np.exp(np.where(low, 0.5 + 0.6 * x, 1.5 - 0.4 * x))
        y = rng.poisson(exposure * rate).astype(float)
    return X, y, exposure


def _kwargs(exposure, rows=None):
    if exposure is None:
        return {}
    return {"exposure": exposure if rows is None else exposure[rows]}


def _fit(Estimator, X, y, w, exposure, **params):
    params = {"n_experts": 2, "random_state": 0, **params}
    return Estimator(**params).fit(X, y, sample_weight=w, **_kwargs(exposure))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_integer_weights_against_repeated_rows(Estimator):
    # the rows repeated w times: L_W = sum_i w_i l_i and W = sum_i w_i rows,
    # bic_rep = -2 L_W + p log W and aic_rep = -2 L_W + 2 p (unweighted), so
    # p and L_W follow from them, and the weighted criteria are
    # -2 (n / W) L_W + p log n and -2 (n / W) L_W + 2 p (icl: as bic, the
    # entropy term weighted as the log-likelihood)
    X, y, exposure = _data(Estimator)
    n = X.shape[0]
    w = np.random.default_rng(1).integers(1, 5, n)
    model = _fit(Estimator, X, y, w, exposure)
    rows = np.repeat(np.arange(n), w)
    repeated = (X[rows], y[rows])
    kw = _kwargs(exposure, rows)
    W = float(w.sum())
    bic_rep = model.bic(*repeated, **kw)
    aic_rep = model.aic(*repeated, **kw)
    icl_rep = model.icl(*repeated, **kw)
    p = (bic_rep - aic_rep) / (np.log(W) - 2)
    assert p == pytest.approx(round(p), abs=1e-6)  # a count, recovered
    kw = _kwargs(exposure)
    scale = n / W
    expected_bic = scale * (bic_rep - p * np.log(W)) + p * np.log(n)
    expected_aic = scale * (aic_rep - 2 * p) + 2 * p
    expected_icl = scale * (icl_rep - p * np.log(W)) + p * np.log(n)
    assert model.bic(X, y, w, **kw) == pytest.approx(expected_bic, rel=1e-10)
    assert model.aic(X, y, w, **kw) == pytest.approx(expected_aic, rel=1e-10)
    assert model.icl(X, y, w, **kw) == pytest.approx(expected_icl, rel=1e-10)
    # and from the rows' log-likelihoods, weighted by hand
    ll = model.log_likelihood_samples(X, y, **kw)
    by_hand = -2 * scale * float(w @ ll) + p * np.log(n)
    assert model.bic(X, y, w, **kw) == pytest.approx(by_hand, rel=1e-10)
    # the weighted criterion is not the unweighted one (the weights matter)
    assert abs(model.bic(X, y, w, **kw) - model.bic(X, y, **kw)) > 1.0


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unit_weights_and_scale_are_the_unweighted_criteria(Estimator):
    X, y, exposure = _data(Estimator)
    n = X.shape[0]
    model = _fit(Estimator, X, y, None, exposure)
    kw = _kwargs(exposure)
    w = np.random.default_rng(2).uniform(0.2, 3.0, n)
    for method in ("bic", "aic", "icl"):
        criterion = getattr(model, method)
        unweighted = criterion(X, y, **kw)
        assert criterion(X, y, np.ones(n), **kw) == pytest.approx(unweighted, rel=1e-12)
        assert criterion(X, y, 7.5, **kw) == pytest.approx(unweighted, rel=1e-12)
        # only the weights' ratios matter
        weighted = criterion(X, y, w, **kw)
        assert criterion(X, y, 1e-3 * w, **kw) == pytest.approx(weighted, rel=1e-12)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_zero_weight_rows_are_rows_removed(Estimator):
    X, y, exposure = _data(Estimator)
    n = X.shape[0]
    rng = np.random.default_rng(3)
    w = rng.uniform(0.5, 2.0, n)
    w[rng.choice(n, 60, replace=False)] = 0.0
    model = _fit(Estimator, X, y, w, exposure)
    kept = np.flatnonzero(w > 0)
    for method in ("bic", "aic", "icl"):
        criterion = getattr(model, method)
        got = criterion(X, y, w, **_kwargs(exposure))
        removed = criterion(X[kept], y[kept], w[kept], **_kwargs(exposure, kept))
        assert got == pytest.approx(removed, rel=1e-12)


def test_zero_weight_row_far_off_is_left_out():
    # unweighted, a target of 1e200 overflows its log-likelihood (an error);
    # at weight 0 it is left out, as fit leaves it out
    X, y, _ = _data(MoERegressor)
    model = _fit(MoERegressor, X, y, None, None)
    far = y.copy()
    far[0] = 1e200
    w = np.ones(len(y))
    w[0] = 0.0
    with pytest.raises(ValueError, match="overflows"):
        model.bic(X, far)
    assert model.bic(X, far, w) == pytest.approx(model.bic(X[1:], y[1:]), rel=1e-12)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_weighted_criterion_is_the_auto_fits_training_bic(Estimator):
    X, y, exposure = _data(Estimator)
    n = X.shape[0]
    w = np.random.default_rng(4).uniform(0.2, 3.0, n)
    w[:10] = 0.0
    model = _fit(
        Estimator, X, y, w, exposure, n_experts="auto", tol=1e-10, max_iter=2000
    )
    # the fit is the candidate of lowest training BIC (two regimes: 2 experts)
    assert model.n_experts_ >= 2
    expected = float(np.min(model.n_experts_bic_))
    got = model.bic(X, y, w, **_kwargs(exposure))
    # EM's log-likelihood is that of its last E-step: within the tolerance
    assert got == pytest.approx(expected, rel=1e-7)


def test_groups_weighted_as_groups_repeated():
    # a group of weight w_g counts as w_g groups (new labels): the groups'
    # log-likelihood sum_g w_g l_g, the rows' count W = sum_i w_i
    rng = np.random.default_rng(5)
    n_groups, size = 40, 3
    groups = np.repeat(np.arange(n_groups), size)
    X, y, _ = _data(MoERegressor, n=n_groups * size, seed=6)
    X = np.repeat(X[::size], size, axis=0)  # the gate sees group-level features
    model = MoERegressor(n_experts=2, random_state=0).fit(X, y, groups=groups)
    w_group = rng.integers(1, 4, n_groups)
    w = w_group[groups]
    n, W = len(y), float(w.sum())
    rows, labels = [], []
    for g in range(n_groups):
        for copy in range(w_group[g]):
            rows.extend(np.flatnonzero(groups == g))
            labels.extend([f"{g}-{copy}"] * size)
    rows, labels = np.asarray(rows), np.asarray(labels)
    bic_rep = model.bic(X[rows], y[rows], groups=labels)
    aic_rep = model.aic(X[rows], y[rows], groups=labels)
    icl_rep = model.icl(X[rows], y[rows], groups=labels)
    p = (bic_rep - aic_rep) / (np.log(W) - 2)
    assert p == pytest.approx(round(p), abs=1e-6)
    scale = n / W
    bic = model.bic(X, y, w, groups=groups)
    icl = model.icl(X, y, w, groups=groups)
    assert bic == pytest.approx(scale * (bic_rep - p * np.log(W)) + p * np.log(n))
    assert icl == pytest.approx(scale * (icl_rep - p * np.log(W)) + p * np.log(n))
    # a weight of 0 on a whole group is the group removed
    w0 = w.astype(float)
    w0[groups < 5] = 0.0
    kept = groups >= 5
    assert model.icl(X, y, w0, groups=groups) == pytest.approx(
        model.icl(X[kept], y[kept], w[kept], groups=groups[kept]), rel=1e-12
    )


def test_bad_weights_are_refused():
    X, y, _ = _data(MoERegressor)
    model = _fit(MoERegressor, X, y, None, None)
    n = len(y)
    with pytest.raises(ValueError, match="Negative values"):
        model.bic(X, y, -np.ones(n))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        model.aic(X, y, np.ones(n + 1))
    with pytest.raises(ValueError, match="non-zero"):
        model.icl(X, y, np.zeros(n))
    with pytest.raises(ValueError, match="NaN"):
        model.bic(X, y, np.r_[np.nan, np.ones(n - 1)])
    groups = np.repeat(np.arange(n // 2), 2)
    grouped = MoERegressor(n_experts=2, gate="constant", random_state=0).fit(
        X, y, groups=groups
    )
    with pytest.raises(ValueError, match="same on every row of a group"):
        grouped.bic(X, y, np.arange(1.0, n + 1), groups=groups)


def test_a_hand_loop_sharing_one_random_state_reproduces_auto():
    # "auto" draws every candidate's restarts from one random state, K = 1,
    # 2, ... in turn: one RandomState instance passed to a fit per K, in that
    # order, makes the same draws (docs/user_guide/choosing_k.rst), and the
    # weighted bic of each is its entry of n_experts_bic_
    X, y, _ = _data(MoERegressor, n=300, seed=7)
    w = np.random.default_rng(8).uniform(0.2, 3.0, len(y))
    params = {"tol": 1e-10, "max_iter": 2000}
    auto = MoERegressor(n_experts="auto", random_state=0, **params).fit(
        X, y, sample_weight=w
    )
    assert np.all(np.isfinite(auto.n_experts_bic_))  # none passed over
    shared = np.random.RandomState(0)
    by_hand = [
        MoERegressor(n_experts=k, random_state=shared, **params)
        .fit(X, y, sample_weight=w)
        .bic(X, y, w)
        for k in range(1, len(auto.n_experts_bic_) + 1)
    ]
    np.testing.assert_allclose(by_hand, auto.n_experts_bic_, rtol=1e-7)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 3.0}])
def test_class_weighted_fit_is_scored_with_the_fits_weights(class_weight):
    # the fit's weights: the sample weights times each row's class weight,
    # with "balanced" counting the classes by the sample weights (the
    # MoEClassifier's class_weight entry)
    X, y, _ = _data(MoEClassifier, n=300, seed=9)
    rng = np.random.default_rng(10)
    # mean weights that differ by class, where "balanced" counted by rows
    # (compute_sample_weight) and by weights disagree
    w = rng.uniform(0.2, 3.0, len(y)) * np.where(y == 0, 2.0, 1.0)
    model = MoEClassifier(
        n_experts="auto",
        class_weight=class_weight,
        random_state=0,
        tol=1e-10,
        max_iter=2000,
    ).fit(X, y, sample_weight=w)
    per_class = compute_class_weight(
        class_weight, classes=model.classes_, y=y, sample_weight=w
    )
    fits = w * per_class[np.searchsorted(model.classes_, y)]
    expected = float(np.min(model.n_experts_bic_))
    assert model.bic(X, y, fits) == pytest.approx(expected, rel=1e-7)
    if class_weight == "balanced":  # the rows' count is not the fit's
        by_rows = w * compute_sample_weight(class_weight, y)
        assert abs(model.bic(X, y, by_rows) - expected) > 1.0
