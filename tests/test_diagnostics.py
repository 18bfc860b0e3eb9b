"""The rules of ``_diagnostics`` that ``fit`` and ``n_experts="auto"`` judge a
run by, on problems built by hand: two Gaussian experts of a constant gate,
one at y = 0 and one at y = 100 (variance 1), so that each row's
responsibilities are 0 and 1 (exp(-5000) underflows) and each expert's rows
are known."""

from types import SimpleNamespace

import numpy as np
import pytest

from skmoe._diagnostics import _at_lower_bound, _on_copies
from skmoe._em import EMProblem, e_step
from skmoe._math import design_matrix
from skmoe.experts import GaussianLinearExperts
from skmoe.experts.gaussian import COLLAPSE_RANGE
from skmoe.gates import GATES


def _diagnosed(X, y, weight, coef1, floor=1e-10):
    """A problem on (X, y, weight) and a run whose expert 0 is the line y = 0
    and expert 1 has intercept and slopes ``coef1``, both of variance 1."""
    X = np.asarray(X, dtype=float)
    problem = EMProblem(
        design_matrix(np, X),
        np.asarray(y, dtype=float),
        np.asarray(weight, dtype=float),
        GATES["constant"](),
        GaussianLinearExperts(floor),
        0.0,
    )
    coef = np.c_[np.zeros(X.shape[1] + 1), coef1]
    result = SimpleNamespace(
        gate_params={"coef": np.zeros((X.shape[1] + 1, 2))},
        expert_params={"coef": coef, "variance": np.ones(2)},
    )
    return problem, result


def _assigned(problem, result, experts):
    """Assert that each row's responsibility is 1 for its expert in
    ``experts`` (and 0 for the other)."""
    resp = e_step(problem, result.gate_params, result.expert_params)[1]
    np.testing.assert_array_equal(resp, np.eye(2)[:, experts])


def _kish(mass_per_distinct_row):
    mass = np.asarray(mass_per_distinct_row, dtype=float)
    return mass.sum() ** 2 / np.sum(mass**2)


@pytest.mark.parametrize("n_distinct, hit", [(2, True), (3, False)])
def test_an_expert_on_copies_of_as_many_rows_as_coefficients_plus_one_is_not(
    n_distinct, hit
):
    # expert 0 on 20 distinct rows near y = 0; expert 1 on 6 copies each of
    # 2 or 3 distinct rows of the line y = 100 + x (slope 1): its mass sits
    # on 2 or 3 effective distinct rows (the copies count once), for a
    # design of rank 2 (intercept, slope). 3 rows leave its noise one
    # residual degree of freedom (no hit); 2 leave none (a hit). One row of
    # each, of weight 6, is the same
    rng = np.random.RandomState(0)
    x0 = rng.uniform(-3, 3, 20)
    x1 = np.repeat(np.arange(1.0, n_distinct + 1), 6)
    X = np.r_[x0, x1][:, None]
    y = np.r_[0.1 * rng.randn(20), 100 + x1]
    problem, result = _diagnosed(X, y, np.ones(len(y)), [100.0, 1.0])
    _assigned(problem, result, np.repeat([0, 1], [20, len(x1)]))
    effective = _kish(np.full(n_distinct, 6.0))
    rank = np.linalg.matrix_rank(np.c_[np.ones(len(x1)), x1])
    assert (effective, rank) == (n_distinct, 2)
    assert (effective < rank + 1) == hit
    assert _on_copies(problem, result).tolist() == ([1] if hit else [])
    once = np.r_[np.ones(20), np.full(n_distinct, 6.0)]
    X, y = np.r_[X[:20], X[20::6]], np.r_[y[:20], y[20::6]]
    problem, result = _diagnosed(X, y, once, [100.0, 1.0])
    assert _on_copies(problem, result).tolist() == ([1] if hit else [])


@pytest.mark.parametrize("constant, hit", [(True, False), (False, True)])
def test_a_feature_constant_on_an_experts_rows_adds_no_coefficient(constant, hit):
    # two features; expert 1 takes 3 distinct rows of the plane
    # y = 100 + x1 + x2, 4 copies each: 3 effective rows. Where x2 is 0 on
    # them (it varies on expert 0's rows, so that the whole design has rank
    # 3) its mass determines 2 coefficients, and 3 rows leave its noise one
    # degree of freedom: no hit. Where x2 varies on them too, 3 coefficients
    # on 3 rows: a hit
    rng = np.random.RandomState(0)
    X0 = rng.uniform(-3, 3, size=(20, 2))
    X1 = np.repeat([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], 4, axis=0)
    if not constant:
        X1[:, 1] = np.repeat([0.0, 1.0, 3.0], 4)
    X = np.r_[X0, X1]
    y = np.r_[0.1 * rng.randn(20), 100 + X1.sum(axis=1)]
    problem, result = _diagnosed(X, y, np.ones(len(y)), [100.0, 1.0, 1.0])
    _assigned(problem, result, np.repeat([0, 1], [20, 12]))
    design = np.c_[np.ones(len(X)), X]
    mass = np.r_[np.zeros(20), np.ones(12)] / len(X)
    rank = np.linalg.matrix_rank(design * np.sqrt(mass)[:, None])
    assert np.linalg.matrix_rank(design) == 3
    assert rank == (2 if constant else 3)
    effective = _kish(np.full(3, 4 / len(X)))
    assert effective == pytest.approx(3)
    assert (effective < rank + 1) == hit
    assert _on_copies(problem, result).tolist() == ([1] if hit else [])


@pytest.mark.parametrize("gap", [12.0, 16.0])
def test_a_negligible_leak_of_an_experts_mass_adds_no_coefficient(gap):
    # as above, x2 constant on expert 1's 3 rows (4 copies each), expert 1's
    # line at y = gap + x1 + x2, 12 or 16 above expert 0's rows: its
    # responsibility for them is 1e-11 or 1e-26 (less than 1e-9 of its mass in
    # all), which put x2's coefficient in the rank of its weighted design (3,
    # NumPy's tolerance being 1e-13 on singular values): 3 effective rows for
    # 3 coefficients, a hit. Its own rows' design has rank 2
    rng = np.random.RandomState(0)
    X0 = rng.uniform(-3, 3, size=(20, 2))
    X1 = np.repeat([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], 4, axis=0)
    X = np.r_[X0, X1]
    y = np.r_[0.1 * rng.randn(20), gap + X1[:, 0]]
    problem, result = _diagnosed(X, y, np.ones(len(y)), [gap, 1.0, 1.0])
    resp = e_step(problem, result.gate_params, result.expert_params)[1]
    leak = resp[1, :20].sum() / resp[1].sum()
    assert 0 < leak < 1e-9
    design = np.c_[np.ones(len(X)), X]
    assert np.linalg.matrix_rank(design * np.sqrt(resp[1])[:, None]) == 3
    assert np.linalg.matrix_rank(design[20:]) == 2
    assert _kish(resp[1, 20:].reshape(3, 4).sum(axis=1)) == pytest.approx(3)
    assert _on_copies(problem, result).tolist() == []


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_rows_of_equal_negligible_mass_stay_or_go_together(order):
    # as above (x2 = 0 on expert 1's 3 rows, 4 copies each), plus two rows
    # on its line at x1 = 2 of weight 1e-8 each, x2 = 0 and x2 = 5: expert
    # 1's mass on each is 1e-8 / 12.00000002 = 8.3e-10 of its total, under
    # RANK_NEGLIGIBLE_SHARE (1e-9), and on both 1.7e-9, over it. Dropping
    # one of them by the rows' order put x2's coefficient in or out of the
    # rank (3 or 2) as the row with x2 = 5 came first or second: a hit in
    # one order and none in the other. Both stay: rank 3 for 3 effective
    # rows, a hit in either order
    rng = np.random.RandomState(0)
    X0 = rng.uniform(-3, 3, size=(20, 2))
    X1 = np.repeat([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], 4, axis=0)
    light = np.array([[2.0, 0.0], [2.0, 5.0]])[order]
    X = np.r_[X0, X1, light]
    y = np.r_[0.1 * rng.randn(20), 100 + X1[:, 0], 100 + light[:, 0]]
    weight = np.r_[np.ones(32), 1e-8, 1e-8]
    problem, result = _diagnosed(X, y, weight, [100.0, 1.0, 0.0])
    resp = e_step(problem, result.gate_params, result.expert_params)[1]
    mass = resp[1] * weight / np.sum(resp[1] * weight)
    assert mass[-2] == mass[-1]
    assert mass[-1] < 1e-9 < mass[-2] + mass[-1]
    assert mass[:20].sum() < 1e-300  # (expert 0's rows: none of its mass)
    design = np.c_[np.ones(len(X)), X][20:]
    assert np.linalg.matrix_rank(design * np.sqrt(mass[20:])[:, None]) == 3
    assert _kish(np.r_[np.full(3, 4.0), 1e-8, 1e-8]) == pytest.approx(3)
    assert _on_copies(problem, result).tolist() == [1]


def test_a_collapse_weighs_the_residuals_by_sample_weight_as_copies_do():
    # expert 1 takes 3 rows on the line y = 100 + x of weight 1000 each and
    # 2 rows 0.01 off it of weight 1: its residual variance weighted by
    # sample_weight is 2e-4 / 3002 = 6.7e-8, within COLLAPSE_RANGE (1e4) of
    # the floor 1e-10, and its rows hold 5 distinct values of y, fewer than
    # COLLAPSE_ROWS (2) per parameter of its own (3): it collapsed, as it
    # does with the heavy rows repeated 1000 times. Unweighted, the
    # residuals' variance is 2e-4 / 5 = 4e-5, beyond the range
    rng = np.random.RandomState(0)
    x0, x1 = rng.uniform(-3, 3, 20), np.array([1.0, 2.0, 3.0, 1.5, 2.5])
    y0, y1 = 0.1 * rng.randn(20), 100 + x1 + np.r_[0, 0, 0, 0.01, -0.01]
    w1 = np.r_[1000.0, 1000.0, 1000.0, 1.0, 1.0]
    floor = 1e-10
    residual = y1 - (100 + x1)
    weighted = np.sum(w1 * residual**2) / np.sum(w1)
    unweighted = np.mean(residual**2)
    assert weighted < COLLAPSE_RANGE * floor < unweighted
    X, y = np.r_[x0, x1][:, None], np.r_[y0, y1]
    problem, result = _diagnosed(X, y, np.r_[np.ones(20), w1], [100.0, 1.0], floor)
    _assigned(problem, result, np.repeat([0, 1], [20, 5]))
    assert _at_lower_bound(problem, result).tolist() == [1]
    copies = np.r_[np.ones(20, dtype=int), w1.astype(int)]
    X, y = np.repeat(X, copies, axis=0), np.repeat(y, copies)
    problem, result = _diagnosed(X, y, np.ones(len(y)), [100.0, 1.0], floor)
    assert _at_lower_bound(problem, result).tolist() == [1]
