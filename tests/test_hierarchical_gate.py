"""The two-level gate of a hierarchical mixture of experts (gate="hierarchical").

Checked against computations made here from the fitted attributes alone (the
tree's gate and the Gaussian mixture's log-likelihood), finite differences,
and the softmax gate, which it is with two experts.
"""

import numpy as np
import pytest
from _references import central_differences
from scipy.special import log_softmax, logsumexp
from scipy.stats import norm

from skmoe import MoEClassifier, MoERegressor
from skmoe._demo import make_regimes
from skmoe.gates.hierarchical import HierarchicalGate, group_bounds


def tree_gate(model, X):
    """g_k(x) = p_h(x) q_k(x), from the fitted attributes."""
    log_top = log_softmax(X @ model.gate_group_coef_.T + model.gate_group_intercept_, 1)
    within = X @ model.gate_coef_.T + model.gate_intercept_
    bounds = group_bounds(model.n_experts_)
    parts = []
    for h in range(len(bounds) - 1):
        block = within[:, bounds[h] : bounds[h + 1]]
        parts.append(log_top[:, [h]] + log_softmax(block, axis=1))
    return np.exp(np.hstack(parts))


def test_groups_of_consecutive_experts():
    assert group_bounds(1) == [0, 1]
    assert group_bounds(2) == [0, 1, 2]
    assert group_bounds(4) == [0, 2, 4]
    assert group_bounds(5) == [0, 1, 3, 5]
    assert group_bounds(10) == [0, 2, 5, 7, 10]


def test_logits_gradient_matches_finite_differences():
    rng = np.random.RandomState(0)
    design = np.vstack([np.ones(30), rng.randn(2, 30)])
    gate = HierarchicalGate()
    params = {"coef": rng.randn(3, 5), "group_coef": rng.randn(3, 3)}
    weights = rng.rand(5, 30)

    def f(p):  # a function of the logits (log g) with gradient `weights`
        return np.sum(weights * gate.logits(np, design, p))

    grad = gate.logits_gradient(np, design, weights, params)
    for name, numeric in central_differences(f, params).items():
        np.testing.assert_allclose(grad[name], numeric, rtol=1e-6, atol=1e-7)


def test_bic_counts_k_minus_one_gate_columns():
    # the top gate's G - 1 columns and each group's m_h - 1: K - 1 in all, as
    # a flat gate's (K columns gave bic 257.03 for 239.05)
    assert HierarchicalGate().n_parameters(2, 5) == 4 * 3
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(400, 2))
    y = np.where(X[:, 0] < 0, -2, 2) * X[:, 0] + 0.3 * rng.randn(400)
    model = MoERegressor(n_experts=4, gate="hierarchical", random_state=0).fit(X, y)
    log_likelihood = model.log_likelihood_samples(X, y).sum()
    n_parameters = 3 * 3 + 4 * 3 + 4  # gate (K - 1)(d + 1), experts, variances
    np.testing.assert_allclose(
        model.bic(X, y), -2 * log_likelihood + n_parameters * np.log(400), rtol=1e-10
    )


def test_m_steps_climb_to_the_gate_objectives_maximum():
    # the M-step's within-group solve takes log q = log g - log p: given log g,
    # its steps lowered the objective (and a 5-expert fit took 32 iterations)
    from scipy.optimize import minimize

    rng = np.random.RandomState(0)
    n, K = 500, 5
    design = np.vstack([np.ones(n), rng.randn(2, n)])
    resp = rng.dirichlet(np.ones(K), size=n).T
    gate = HierarchicalGate()
    params = gate.initial_params(np, design, K)

    def objective(p):
        return float(np.sum(resp * gate.log_gate(np, design, p)))

    values = [objective(params)]
    for _ in range(30):
        log_gate = gate.log_gate(np, design, params)
        params = gate.m_step(np, design, resp, log_gate, params, 0.0, None)
        values.append(objective(params))
    assert np.all(np.diff(values) >= -1e-9)
    shapes = {name: value.shape for name, value in params.items()}
    sizes = [int(np.prod(shape)) for shape in shapes.values()]

    def unpack(theta):
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        return {
            name: part.reshape(shape)
            for (name, shape), part in zip(shapes.items(), parts, strict=True)
        }

    best = minimize(
        lambda theta: -objective(unpack(theta)),
        np.zeros(sum(sizes)),
        method="BFGS",
        options={"gtol": 1e-8},
    )
    np.testing.assert_allclose(values[-1], -best.fun, rtol=1e-6)


def test_the_grouping_of_the_start_weighs_the_rows_as_repeated_rows():
    # best_grouping scores each grouping of a flat fit's experts by the
    # weighted gate objective: integer weights choose what repeated rows
    # choose (unweighted, 10 of 40 problems grouped otherwise)
    from types import SimpleNamespace

    from scipy.special import softmax

    from skmoe._math import design_matrix
    from skmoe._nesting import best_grouping

    def problem(X, weight):
        return SimpleNamespace(
            gate_design=design_matrix(np, X),
            gate_weight=weight / weight.sum(),
            alpha=1e-6,
        )

    def pairs(order):
        return sorted([tuple(sorted(order[:2])), tuple(sorted(order[2:]))])

    nest = np.array([0, 2, 4])
    for seed in range(40):
        rng = np.random.RandomState(seed)
        X = rng.randn(120, 2)
        resp = softmax(rng.randn(4, 2) @ X.T * 3 + rng.randn(4, 1), axis=0)
        weight = np.round(np.exp(2 * rng.randn(120)) * 3) + 1
        weighted = best_grouping(
            problem(X, weight), resp, nest, np.random.RandomState(0)
        )
        rows = np.repeat(np.arange(120), weight.astype(int))
        repeated = best_grouping(
            problem(X[rows], np.ones(len(rows))),
            resp[:, rows],
            nest,
            np.random.RandomState(0),
        )
        assert pairs(weighted) == pairs(repeated), seed


def test_fitted_log_likelihood_is_the_tree_mixtures():
    X, y = make_regimes(600, random_state=1)
    model = MoERegressor(5, gate="hierarchical", random_state=0).fit(X, y)
    gate = tree_gate(model, X)
    np.testing.assert_allclose(model.predict_gate(X), gate, rtol=1e-10, atol=1e-14)
    means = X @ model.expert_coef_.T + model.expert_intercept_
    log_p = norm.logpdf(y[:, None], means, np.sqrt(model.expert_variance_))
    total = logsumexp(np.log(gate) + log_p, axis=1).sum()
    np.testing.assert_allclose(model.log_likelihood_, total, rtol=1e-10)
    # EM with the tree's M-step never lowers the objective
    assert np.all(np.diff(model.objective_history_) >= -1e-10)
    assert model.gate_group_coef_.shape == (3, 2)
    assert model.gate_coef_.shape == (5, 2)


def test_two_experts_are_the_softmax_gate():
    X, y = make_regimes(400, random_state=2)
    tree = MoERegressor(2, gate="hierarchical", random_state=0).fit(X, y)
    flat = MoERegressor(2, random_state=0).fit(X, y)
    np.testing.assert_allclose(tree.log_likelihood_, flat.log_likelihood_, rtol=1e-9)
    np.testing.assert_allclose(tree.predict(X), flat.predict(X), rtol=1e-7)


def test_top_k_keeps_the_largest_tree_gate_values():
    X, y = make_regimes(400, random_state=3)
    model = MoERegressor(4, gate="hierarchical", top_k=2, random_state=0).fit(X, y)
    dense = tree_gate(model, X)
    kept = np.argsort(-dense, axis=1)[:, :2]
    expected = np.zeros_like(dense)
    rows = np.arange(len(X))[:, None]
    expected[rows, kept] = dense[rows, kept] / dense[rows, kept].sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict_gate(X), expected, atol=1e-12)


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_gradient_solvers_fit_the_tree(solver):
    # as well as they fit the flat gate (Adam, 600 rows: R^2 0.83 flat)
    X, y = make_regimes(600, random_state=4)
    em = MoERegressor(4, gate="hierarchical", random_state=0).fit(X, y)
    tree = MoERegressor(4, gate="hierarchical", solver=solver, random_state=0)
    flat = MoERegressor(4, solver=solver, random_state=0)
    tree.fit(X, y)
    flat.fit(X, y)
    assert tree.score(X, y) > flat.score(X, y) - 0.02
    assert tree.log_likelihood_ < em.log_likelihood_ + 1.0


def test_classifier_takes_the_tree_gate():
    X, y = make_regimes(600, random_state=5)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    model = MoEClassifier(4, gate="hierarchical", random_state=0).fit(X, labels)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.predict_gate(X), tree_gate(model, X), atol=1e-12)


def test_pruning_and_std_errors_are_refused():
    X, y = make_regimes(200, random_state=6)
    with pytest.raises(ValueError, match="prune_threshold=0.1 cannot be used"):
        MoERegressor(4, gate="hierarchical", prune_threshold=0.1).fit(X, y)
    model = MoERegressor(4, gate="hierarchical", random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="std_errors is not available"):
        model.std_errors(X, y)
    with pytest.raises(ValueError, match="cannot drop experts"):
        model.prune_experts(1.0)
    # a warm start from another gate's parameters is refused too
    model.set_params(gate="softmax", warm_start=True)
    with pytest.raises(ValueError, match="continues the fitted gate='hierarchical'"):
        model.fit(X, y)


def test_groupings_are_distinct_and_all_tried_when_few():
    from skmoe._nesting import _canonical, _groupings

    for nest, count in (([0, 1, 3], 3), ([0, 2, 4], 3), ([0, 1, 3, 5], 15)):
        sizes = np.diff(nest)
        orders = list(_groupings(nest[-1], sizes, np.random.RandomState(0)))
        keys = {_canonical(order, sizes) for order in orders}
        assert len(orders) == len(keys) == count


def tree_regions(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    right = X[:, 0] > 0
    region = 2 * right + np.where(right, X[:, 1] > -1, X[:, 1] > 1)
    y = np.array([0.0, 3.0, -2.0, 1.0])[region] + X[:, 0]
    return X, y + 0.3 * rng.normal(size=n)


def test_every_seed_finds_the_tree():
    # the user guide's regions: grouped in the k-means labels' order, 7 of 10
    # seeds kept two experts no top-gate line separates in one group (held-out
    # -0.47, below the flat gate's -0.26); the start now groups a flat fit's
    # experts as the top gate best separates them
    X, y = tree_regions(2000, 0)
    X_test, y_test = tree_regions(2000, 1)
    flat = MoERegressor(4, random_state=0).fit(X, y)
    floor = np.mean(flat.log_likelihood_samples(X_test, y_test))
    for seed in range(5):
        tree = MoERegressor(4, gate="hierarchical", random_state=seed).fit(X, y)
        assert np.mean(tree.log_likelihood_samples(X_test, y_test)) > floor + 0.01


def test_verbose_shows_the_flat_start(capsys):
    # each restart's flat softmax fit was not shown: a restart's time and
    # iterations did not add up (review)
    X, y = tree_regions(500, 0)
    MoERegressor(4, gate="hierarchical", n_init=2, verbose=1, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    starts = [line for line in lines if "flat softmax start" in line]
    restarts = [line for line in lines if line.startswith("Restart")]
    assert len(starts) == len(restarts) == 2
    assert "at most 100 iterations" in starts[0]
    # each start comes before its restart's line
    assert lines.index(starts[0]) < lines.index(restarts[0]) < lines.index(starts[1])


def test_groupings_stop_once_all_are_seen():
    # 4 experts in two groups of 2: 4! / (2! 2!) / 2! = 3 distinct groupings
    # (the groups' order does not count); once all 3 are seen, no more draws
    from skmoe._nesting import _canonical, _groupings

    class Counting(np.random.RandomState):
        draws = 0

        def permutation(self, *args):
            Counting.draws += 1
            return super().permutation(*args)

    sizes = np.array([2, 2])
    orders = list(_groupings(4, sizes, Counting(0)))
    assert len({_canonical(o, sizes) for o in orders}) == len(orders) == 3
    assert Counting.draws < 100  # (the cap is 50 * ALL_GROUPINGS = 15000)


@pytest.mark.parametrize(
    "sizes, expected",
    # 9! / (3!^3 3!) = 280 and 8! / (2!^4 4!) = 105: all of them; 10! / (5!^2
    # 2!) = 126 all too; 10! / (2!^5 5!) = 945: MAX_GROUPINGS (200) of them
    [((3, 3, 3), 280), ((2, 2, 2, 2), 105), ((5, 5), 126), ((2, 2, 2, 2, 2), 200)],
)
def test_groupings_are_all_of_them_up_to_300(sizes, expected):
    from skmoe._nesting import _canonical, _groupings

    sizes = np.array(sizes)
    orders = list(_groupings(int(sizes.sum()), sizes, np.random.RandomState(0)))
    assert len({_canonical(order, sizes) for order in orders}) == expected
    assert len(orders) == expected


def test_top_gate_score_is_the_penalized_maximum():
    # _top_gate_fit's score: the maximum over the softmax gate's parameters of
    # sum(targets * log_gate) - penalty, found here by scipy's BFGS
    from scipy.optimize import minimize

    from skmoe._nesting import _top_gate_fit
    from skmoe.gates.softmax import SoftmaxGate

    rng = np.random.default_rng(1)
    n = 200
    x = rng.standard_normal(n)
    design = np.vstack([np.ones(n), x])
    p = 1 / (1 + np.exp(-2 * x))
    targets = np.vstack([p, 1 - p]) * rng.uniform(0.5, 1.5, n)
    alpha = 5.0
    gate = SoftmaxGate()
    template = gate.initial_params(np, design, 2)

    def negative(flat):
        params = {"coef": flat.reshape(template["coef"].shape)}
        log_gate = gate.log_gate(np, design, params)
        return -(np.sum(targets * log_gate) - gate.penalty(np, params, alpha))

    best = minimize(negative, np.zeros(template["coef"].size), method="BFGS")
    np.testing.assert_allclose(
        _top_gate_fit(design, targets, alpha), -best.fun, rtol=1e-8
    )
    assert gate.penalty(np, {"coef": best.x.reshape(template["coef"].shape)}, alpha) > 1


def test_flat_start_runs_at_most_max_iter(capsys):
    # the hierarchical gate's flat softmax start takes at most max_iter EM
    # iterations (and FLAT_ITER): its verbose line says how many it took
    import re
    import warnings

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = np.where(X[:, 0] > 0, 1.0, -1.0) * np.where(X[:, 1] > 0, 2.0, 1.0)
    y = y + 0.3 * rng.standard_normal(400)
    model = MoERegressor(4, gate="hierarchical", max_iter=3, verbose=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    start = [line for line in lines if "flat softmax start" in line][0]
    assert "at most 3 iterations" in start
    assert int(re.search(r"after (\d+) iterations", start).group(1)) <= 3


def test_the_grouping_scores_the_groups_gates_too():
    # the gate of a two-level tree of nine experts (three strips of x0, each
    # split along x1 at its own cuts) as responsibilities: scored by the top
    # gate alone, the grouping mixed experts of two strips in a group (seed
    # 0); the tree gate's whole M-step objective (top and groups' gates)
    # finds the tree
    from types import SimpleNamespace

    from scipy.special import softmax

    from skmoe._math import design_matrix
    from skmoe._nesting import _canonical, best_grouping

    def strips(x, cuts, sharp=6.0):
        logits = [sharp * (j * x - sum(cuts[:j])) for j in range(len(cuts) + 1)]
        return softmax(np.stack(logits, axis=1), axis=1)

    nest = np.array([0, 3, 6, 9])
    tree = ((0, 1, 2), (3, 4, 5), (6, 7, 8))
    for seed in range(3):
        rng = np.random.RandomState(seed)
        X = rng.uniform(-3, 3, size=(2000, 2))
        top = strips(X[:, 0], [-1.0, 1.0])
        within = [[0.0, 0.5], [-1.5, 1.0], [1.0, 1.5]]
        gate = np.hstack(
            [top[:, [h]] * strips(X[:, 1], cuts) for h, cuts in enumerate(within)]
        )
        problem = SimpleNamespace(
            gate_design=design_matrix(np, X),
            gate_weight=np.full(2000, 1 / 2000),
            alpha=1e-6,
        )
        order = best_grouping(problem, gate.T, nest, np.random.RandomState(0))
        assert _canonical(order, np.diff(nest)) == tree, seed


def test_four_experts_take_the_tree_gates_best_grouping():
    # with four experts all three groupings are scored with the groups'
    # gates: the start keeps the one whose tree gate, fitted by the
    # hierarchical gate's own M-step (as many Newton steps from its initial
    # parameters), has the highest penalized objective (the top gate's
    # objective alone chose another in 6 of these 20 problems)
    from types import SimpleNamespace

    from scipy.special import softmax

    from skmoe._math import design_matrix
    from skmoe._nesting import SCORE_STEPS, _canonical, best_grouping

    def objective(design, weighted, order, alpha):
        gate = HierarchicalGate()
        params = gate.initial_params(np, design, 4)
        log_gate = gate.log_gate(np, design, params)
        for _ in range(SCORE_STEPS):
            params = gate.m_step(
                np, design, weighted[order], log_gate, params, alpha, None, 1
            )
            log_gate = gate.log_gate(np, design, params)
        return np.sum(weighted[order] * log_gate) - gate.penalty(np, params, alpha)

    nest, sizes = np.array([0, 2, 4]), np.array([2, 2])
    orders = [np.array(o) for o in ([0, 1, 2, 3], [0, 2, 1, 3], [0, 3, 1, 2])]
    for seed in range(20):
        rng = np.random.RandomState(seed)
        design = design_matrix(np, rng.randn(300, 2))
        resp = softmax(rng.randn(4, 3) @ design * 3, axis=0)
        problem = SimpleNamespace(
            gate_design=design, gate_weight=np.full(300, 1 / 300), alpha=1e-6
        )
        scores = [objective(design, resp / 300, o, 1e-6) for o in orders]
        order = best_grouping(problem, resp, nest, np.random.RandomState(0))
        expected = orders[int(np.argmax(scores))]
        assert _canonical(order, sizes) == _canonical(expected, sizes), seed


@pytest.mark.parametrize("n_samples", [1, 2, 50])
def test_log_gate_in_place_is_top_times_within(n_samples):
    # log g_k = log p_h(k) + log q_k from scipy's log-softmax of each level
    rng = np.random.RandomState(1)
    n_experts, d = 7, 4
    design = np.vstack([np.ones(n_samples), rng.standard_normal((d - 1, n_samples))])
    params = {
        "coef": rng.standard_normal((d, n_experts)),
        "group_coef": rng.standard_normal((d, 3)),
    }
    bounds = group_bounds(n_experts)
    top = log_softmax(params["group_coef"].T @ design, axis=0)
    within = params["coef"].T @ design
    expected = np.vstack(
        [
            log_softmax(within[bounds[h] : bounds[h + 1]], axis=0) + top[h]
            for h in range(len(bounds) - 1)
        ]
    )
    gate = HierarchicalGate()
    np.testing.assert_allclose(gate.log_gate(np, design, params), expected, rtol=1e-12)
