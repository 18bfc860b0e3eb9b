"""Expert pruning: during fitting (prune_threshold) and after (prune_experts)."""

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import norm
from sklearn import config_context
from sklearn.base import clone

from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor


def regimes(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    regime = (X[:, 0] > -1).astype(int) + (X[:, 0] > 1)
    y = np.choose(regime, [2 * X[:, 0], -X[:, 1], 0.5 * X[:, 0] + 3])
    return X, y + 0.1 * rng.randn(n), regime


def responsibilities(model, X, y):
    gate = model.predict_gate(X)
    means = model.expert_intercept_ + X @ model.expert_coef_.T
    dens = gate * norm.pdf(y[:, None], means, np.sqrt(model.expert_variance_))
    return dens / dens.sum(axis=1, keepdims=True)


def test_pruning_weighs_the_samples_as_repeated_rows():
    # the share prune_threshold compares is expert_usage_'s, weighted: a
    # regime of 30 rows of weight 10 holds 0.64 of the data, not 0.15 (an
    # unweighted share pruned it, and the weighted fit no longer equalled
    # the fit on the repeated rows)
    rng = np.random.RandomState(0)
    X_a = rng.uniform(-3, 3, (170, 1))
    X_b = rng.uniform(-3, 3, (30, 1))
    X = np.vstack([X_a, X_b])
    y = np.r_[2 * X_a[:, 0], 5 - 2 * X_b[:, 0]] + 0.1 * rng.randn(200)
    weight = np.r_[np.ones(170), np.full(30, 10.0)]
    params = dict(n_experts=2, prune_threshold=0.2, random_state=0)
    weighted = MoERegressor(**params).fit(X, y, sample_weight=weight)
    rows = np.repeat(np.arange(200), weight.astype(int))
    repeated = MoERegressor(**params).fit(X[rows], y[rows])
    assert weighted.n_experts_ == repeated.n_experts_ == 2
    np.testing.assert_allclose(
        np.sort(weighted.expert_usage_), np.sort(repeated.expert_usage_), rtol=1e-4
    )
    assert np.min(weighted.expert_usage_) > 0.3  # (0.15 unweighted)


def test_expert_usage_is_mean_responsibility():
    X, y, _ = regimes()
    weight = np.random.RandomState(0).uniform(0.2, 2, size=len(y))
    model = MoERegressor(n_experts=4, n_init=1, random_state=0)
    model.fit(X, y, sample_weight=weight)
    assert model.n_experts_ == 4
    expected = np.average(responsibilities(model, X, y), axis=0, weights=weight)
    np.testing.assert_allclose(model.expert_usage_, expected, atol=1e-10)
    np.testing.assert_allclose(model.expert_usage_.sum(), 1.0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_pruning_during_fit_finds_the_regimes(solver):
    X, y, regime = regimes()
    three = MoERegressor(n_experts=3, n_init=2, random_state=0).fit(X, y)
    pruned = MoERegressor(
        n_experts=10, prune_threshold=0.15, n_init=2, random_state=0, solver=solver
    ).fit(X, y)
    # every kept expert is one of the three lines (coefficients, intercept),
    # and the experts of each line handle its regime's share of the rows
    lines = np.array([[2.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.5, 0.0, 3.0]])
    fitted = np.column_stack([pruned.expert_coef_, pruned.expert_intercept_])
    distance = np.abs(fitted[:, None, :] - lines[None, :, :]).max(axis=2)
    line = np.argmin(distance, axis=1)
    assert np.all(distance[np.arange(len(line)), line] < 0.15)
    usage = np.bincount(line, weights=pruned.expert_usage_, minlength=3)
    np.testing.assert_allclose(usage, np.bincount(regime) / len(regime), atol=0.03)
    if solver == "em":
        assert pruned.n_experts_ == 3
    assert pruned.gate_coef_.shape == (pruned.n_experts_, 2)
    assert pruned.expert_coef_.shape == (pruned.n_experts_, 2)
    assert np.all(pruned.expert_usage_ >= 0.15)
    np.testing.assert_allclose(pruned.expert_usage_.sum(), 1.0)
    assert pruned.score(X, y) > three.score(X, y) - 0.005
    # BIC counts only the kept experts
    n_kept = pruned.n_experts_
    assert pruned._n_parameters() == 3 * (n_kept - 1) + 4 * n_kept


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_gradient_solver_applies_its_last_pruning_at_max_iter():
    # the last round's verdict was dropped when max_iter ran out: an expert of
    # usage 0.000 beside prune_threshold=0.2 stayed, and the warning then
    # advised prune_threshold > 0
    rng = np.random.RandomState(1)
    X = rng.uniform(-3, 3, (300, 2))
    regime = np.digitize(X[:, 0], [-1, 1])
    y = np.array([-2, 0.2, 3])[regime] * X[:, 0] + 0.3 * rng.randn(300)
    model = MoERegressor(
        n_experts=6,
        prune_threshold=0.2,
        solver="gradient",
        top_k=2,
        max_iter=60,
        random_state=0,
    ).fit(X, y)
    assert model.expert_usage_.min() > 0.2
    assert len(model.log_likelihood_history_) == model.n_iter_
    # the record of the last iteration is the pruned model's
    assert model.log_likelihood_history_[-1] == model.log_likelihood_


def test_pruning_with_constant_gate_like_flexmix():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, 1))
    rising = rng.rand(400) < 0.5
    y = np.where(rising, 2 * X[:, 0], -2 * X[:, 0]) + 0.1 * rng.randn(400)
    model = MoERegressor(
        n_experts=6, gate="constant", prune_threshold=0.2, n_init=2, random_state=0
    ).fit(X, y)
    assert model.n_experts_ == 2
    order = np.argsort(model.expert_coef_[:, 0])
    np.testing.assert_allclose(model.expert_coef_[order, 0], [-2, 2], atol=0.1)
    # the shares of the drawn lines, within a few rows
    shares = [1 - rising.mean(), rising.mean()]
    np.testing.assert_allclose(model.expert_usage_[order], shares, atol=0.02)


# (the warm start's first fit, 6 experts on two lines, may collapse one)
@pytest.mark.filterwarnings("ignore::skmoe.exceptions.DegenerateFitWarning")
def test_verbose_restart_lines_say_how_many_experts_pruning_left(capsys):
    # flexmix's k = 6 with minprior ends at the components left; verbose=1 said
    # only the kept run's log-likelihood, not that a restart lost experts
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, 1))
    rising = rng.rand(400) < 0.5
    y = np.where(rising, 2 * X[:, 0], -2 * X[:, 0]) + 0.1 * rng.randn(400)
    params = dict(gate="constant", n_init=2, random_state=0, verbose=1)
    MoERegressor(6, prune_threshold=0.2, **params).fit(X, y)
    lines = [s for s in capsys.readouterr().out.splitlines() if "Restart" in s]
    assert len(lines) == 2
    # the two drawn lines, each about half of the rows
    assert all(s.endswith(", 2 of 6 experts left (prune_threshold)") for s in lines)
    MoERegressor(2, **params).fit(X, y)  # nothing pruned: nothing said
    lines = [s for s in capsys.readouterr().out.splitlines() if "Restart" in s]
    assert len(lines) == 2 and not any("experts left" in s for s in lines)
    # a warm start from 6 experts fitted without pruning: its line says so too
    model = MoERegressor(6, warm_start=True, **params).fit(X, y)
    assert model.n_experts_ == 6
    capsys.readouterr()
    model.set_params(prune_threshold=0.2).fit(X, y)
    lines = [s for s in capsys.readouterr().out.splitlines() if "Warm start" in s]
    assert len(lines) == 1 and lines[0].endswith(
        f", {model.n_experts_} of 6 experts left (prune_threshold)"
    )
    assert model.n_experts_ < 6


def removed_mass(model, keep_threshold, X):
    removed = model.expert_usage_ < keep_threshold
    assert removed.any() and not removed.all()
    return model.predict_gate(X)[:, removed].sum(axis=1), removed


@pytest.mark.parametrize("top_k", [None, 3])
def test_prune_experts_regressor_bound(top_k):
    X, y, _ = regimes()
    model = MoERegressor(n_experts=6, n_init=1, random_state=0, top_k=top_k)
    model.fit(X, y)
    threshold = np.sort(model.expert_usage_)[2] + 1e-12  # drop the 3 least used
    X_new = np.random.RandomState(1).uniform(-4, 4, size=(500, 2))
    mass, removed = removed_mass(model, threshold, X_new)
    pruned = model.prune_experts(threshold)
    assert pruned.n_experts_ == 3 and model.n_experts_ == 6
    np.testing.assert_allclose(pruned.expert_usage_.sum(), 1.0)
    means = model.expert_intercept_ + X_new @ model.expert_coef_.T
    spread = means.max(axis=1) - means.min(axis=1)
    change = np.abs(model.predict(X_new) - pruned.predict(X_new))
    factor = 1 if top_k is None else 2
    assert np.all(change <= factor * mass * spread + 1e-9)
    assert change.max() > 0
    # the dense bound is attained in the limit: the change is not vacuously small
    if top_k is None:
        kept = ~removed
        gate = model.predict_gate(X_new)
        renormalized = (gate[:, kept] * means[:, kept]).sum(1) / gate[:, kept].sum(1)
        np.testing.assert_allclose(pruned.predict(X_new), renormalized, atol=1e-10)


@pytest.mark.parametrize("top_k", [None, 2])
def test_prune_experts_classifier_bound(top_k):
    X, y, regime = regimes()
    labels = (y > 1).astype(int) + (y > 3)
    model = MoEClassifier(n_experts=5, n_init=1, random_state=0, top_k=top_k)
    model.fit(X, labels)
    threshold = np.sort(model.expert_usage_)[1] + 1e-12  # drop the 2 least used
    X_new = np.random.RandomState(1).uniform(-4, 4, size=(500, 2))
    mass, removed = removed_mass(model, threshold, X_new)
    pruned = model.prune_experts(threshold)
    change = np.abs(model.predict_proba(X_new) - pruned.predict_proba(X_new))
    assert np.all(change.max(axis=1) <= mass + 1e-12)
    # total variation of the class distribution, too
    assert np.all(0.5 * change.sum(axis=1) <= mass + 1e-12)
    assert change.max() > 0
    if top_k is None:
        gate = model.predict_gate(X_new)[:, ~removed]
        logits = pruned.expert_intercept_[None] + np.einsum(
            "ekd,nd->nek", pruned.expert_coef_, X_new
        )
        expected = (gate[:, :, None] * softmax(logits, axis=2)).sum(1)
        expected /= gate.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(pruned.predict_proba(X_new), expected, atol=1e-12)


def test_prune_experts_keeps_the_most_used():
    X, y, _ = regimes()
    model = MoERegressor(n_experts=3, n_init=1, random_state=0).fit(X, y)
    pruned = model.prune_experts(1.0)
    assert pruned.n_experts_ == 1
    np.testing.assert_allclose(pruned.predict_gate(X), 1.0)
    best = np.argmax(model.expert_usage_)
    np.testing.assert_allclose(pruned.expert_coef_[0], model.expert_coef_[best])


# (the classifier's fit leaves an expert nearly unused: the one pruned here)
@pytest.mark.filterwarnings("ignore::skmoe.exceptions.DegenerateFitWarning")
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_pruned_copy_keeps_the_gate_centred(Estimator):
    # the kept experts' columns of a centred gate no longer summed to zero
    # (here intercepts summing to 58, slopes to 3.9, over two kept experts of
    # four), where the docs (std_errors' Notes) say the stored gate
    # coefficients sum to zero
    X, y, _ = regimes()
    if Estimator is MoEClassifier:
        y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    model = Estimator(n_experts=4, n_init=1, random_state=0).fit(X, y)
    drop = np.argsort(model.expert_usage_)[:2]
    keep = np.setdiff1d(np.arange(4), drop)
    pruned = model.prune_experts(np.sort(model.expert_usage_)[1] + 1e-12)
    assert pruned.n_experts_ == 2
    np.testing.assert_allclose(pruned.gate_intercept_.sum(), 0, atol=1e-12)
    np.testing.assert_allclose(pruned.gate_coef_.sum(axis=0), 0, atol=1e-12)
    # the original gate renormalized over the kept experts (a dense gate)
    gate = model.predict_gate(X)[:, keep]
    expected = gate / gate.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(pruned.predict_gate(X), expected, rtol=1e-9)
    # and the same gate from the stored coefficients
    logits = pruned.gate_intercept_ + X @ pruned.gate_coef_.T
    np.testing.assert_allclose(pruned.predict_gate(X), softmax(logits, axis=1))


def _four_expert_fit(Estimator, params):
    X, y, _ = regimes()
    if Estimator is MoEClassifier:
        y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    elif Estimator is MoEPoissonRegressor:
        rng = np.random.RandomState(1)
        rate = np.exp(np.where(X[:, 0] > 0, 1.5, 0.2 + 0.3 * X[:, 1]))
        y = np.where(rng.rand(len(y)) < 0.3, 0, rng.poisson(rate)).astype(float)
    model = Estimator(n_experts=4, n_init=1, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experts of few samples: the case
        return model.fit(X, y), X, y


@pytest.mark.parametrize(
    "Estimator, params",
    [
        (MoERegressor, {}),
        (MoEClassifier, {}),
        (MoEPoissonRegressor, {"zero_inflated": True}),
    ],
)
def test_pruned_copy_has_the_parameters_of_its_experts(Estimator, params):
    # the copy's n_experts was the original's: MoERegressor(n_experts=4) had 2
    # experts, and its clone (cross_val_score's) or a refit went back to 4
    model, X, y = _four_expert_fit(Estimator, params)
    pruned = model.prune_experts(np.sort(model.expert_usage_)[1] + 1e-12)
    assert pruned.n_experts_ == 2
    assert pruned.get_params()["n_experts"] == 2
    with config_context(print_changed_only=False):  # (2: the default of some)
        assert "n_experts=2," in repr(pruned)
    assert model.get_params()["n_experts"] == 4 and model.n_experts_ == 4
    # a zero-inflated copy keeps the point mass or says zero_inflated=False;
    # either way its parameters are valid for a fit of 2 experts
    if Estimator is MoEPoissonRegressor:
        has_point_mass = bool(np.isneginf(pruned.expert_intercept_).any())
        assert pruned.zero_inflated is has_point_mass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert clone(pruned).fit(X, y).n_experts_ == 2
    # pickled, the copy is the same model with the same parameters
    again = pickle.loads(pickle.dumps(pruned))
    assert again.get_params() == pruned.get_params()
    np.testing.assert_array_equal(again.predict(X), pruned.predict(X))
    # a warm refit continues the pruned experts, without the warning that
    # n_experts changed since the fit
    before = pruned.log_likelihood_samples(X, y).sum()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pruned.set_params(warm_start=True).fit(X, y)
    assert pruned.n_experts_ == 2
    assert not [w for w in caught if "n_experts=" in str(w.message)]
    # EM from the pruned parameters does not lower their log-likelihood (by
    # more than the small penalty alpha=1e-4 can trade)
    after = pruned.log_likelihood_samples(X, y).sum()
    assert after > before - 1e-3 * abs(before)


@pytest.mark.parametrize("threshold", [float("nan"), -0.1, 1.5, "0.1", None, True])
def test_prune_experts_checks_its_threshold(threshold):
    X, y, _ = regimes()
    model = MoERegressor(n_experts=3, n_init=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"threshold must be a float in \[0, 1\]"):
        model.prune_experts(threshold)


def test_sgd_prunes_between_epochs():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(400, 2))
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 1]) + 0.1 * rng.randn(400)
    model = MoERegressor(
        n_experts=8, solver="sgd", prune_threshold=0.2, random_state=0
    ).fit(X, y)
    assert model.n_experts_ <= 4
    assert np.all(model.expert_usage_ >= 0.2)
    expected = responsibilities(model, X, y).mean(axis=0)
    np.testing.assert_allclose(model.expert_usage_, expected, atol=1e-10)
    assert model.score(X, y) > 0.95


def test_pruned_copy_drops_the_original_choice_of_n_experts():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (400, 2))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.3 * rng.randn(400)
    model = MoERegressor(n_experts="auto", random_state=0).fit(X, y)
    assert hasattr(model, "n_experts_bic_")
    pruned = model.prune_experts(0.5)
    # n_experts_bic_ scored other models; the pruned one's BIC is bic()
    assert not hasattr(pruned, "n_experts_bic_")
    assert hasattr(model, "n_experts_bic_")
    # the copy's n_experts is its number, not the original's search (whose
    # clone refitted "auto"); the original keeps its own
    assert pruned.get_params()["n_experts"] == pruned.n_experts_
    assert model.get_params()["n_experts"] == "auto"


def test_pruned_copy_warns_of_the_original_n_experts_set_again():
    # the copy records n_experts_ as the n_experts it was fitted with: setting
    # the original's 4 again and refitting warm kept 2 experts without a word
    # (the copy's record was the original's 4, so nothing had changed)
    model, X, y = _four_expert_fit(MoERegressor, {})
    pruned = model.prune_experts(np.sort(model.expert_usage_)[1] + 1e-12)
    pruned.set_params(n_experts=4, warm_start=True)
    words = "continues the 2 fitted experts and ignores n_experts=4, set after "
    with pytest.warns(UserWarning, match=words + "the fit of n_experts=2"):
        pruned.fit(X, y)
    assert pruned.n_experts_ == 2


def test_clone_of_a_pruned_auto_model_streams_its_number_of_experts():
    # n_experts="auto" hides partial_fit until a fit (it chooses in fit); the
    # clone of a pruned copy has the copy's integer, so it streams that many
    # experts from the first batch
    X, y, _ = regimes()
    model = MoERegressor(gate="constant", random_state=0).fit(X, y)
    pruned = model.prune_experts(np.sort(model.expert_usage_)[-1] - 1e-12)
    assert pruned.n_experts_ == 1 < model.n_experts_
    assert not hasattr(clone(model), "partial_fit")
    streamed = clone(pruned)
    for rows in np.array_split(np.arange(len(y)), 3):
        streamed.partial_fit(X[rows], y[rows])
    assert streamed.n_experts_ == 1


@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_pruning_with_groups_counts_each_group_once(solver):
    # 25 subjects of one row and 25 of 20 rows, one class each: the first
    # class holds half the groups (flexmix's prior, which its minprior
    # compares) and 0.05 of the rows; pruning by rows dropped it (QA)
    rng = np.random.default_rng(3)
    sizes = np.r_[np.full(25, 1), np.full(25, 20)]
    groups = np.repeat(np.arange(50), sizes)
    X = rng.uniform(0, 10, (len(groups), 1))
    first = np.repeat(np.arange(50) < 25, sizes)
    y = np.where(first, 1 + 2 * X[:, 0], 12 - X[:, 0]) + rng.normal(0, 1, len(groups))
    model = MoERegressor(
        2,
        gate="constant",
        alpha=0.0,
        prune_threshold=0.05,
        solver=solver,
        random_state=0,
    ).fit(X, y, groups=groups)
    assert model.n_experts_ == 2
    # the groups' posteriors by hand: the product of each group's densities
    means = model.expert_intercept_ + X @ model.expert_coef_.T
    log_dens = norm.logpdf(y[:, None], means, np.sqrt(model.expert_variance_))
    per_group = np.zeros((50, 2))
    np.add.at(per_group, groups, log_dens)
    per_group += np.log(model.predict_gate(X[:1]))
    post = np.exp(per_group - per_group.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    group_share, row_share = post.mean(axis=0), post[groups].mean(axis=0)
    assert row_share.min() < 0.05 < group_share.min()
    # (to EM's stopping tolerance)
    np.testing.assert_allclose(model.predict_gate(X[:1])[0], group_share, atol=2e-3)


def test_pruning_keeps_an_expert_whose_share_equals_the_threshold():
    # "below the threshold": a share of exactly 0.25 (of 4 equal rows, each
    # counted once) stays at prune_threshold=0.25
    from types import SimpleNamespace

    from skmoe._em import prune_smallest

    problem = SimpleNamespace(xp=np, gate_weight=np.full(4, 0.25))
    resp = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    assert prune_smallest(problem, None, None, resp, 0.25) is None
    assert prune_smallest(problem, None, None, resp[::-1], 0.25) is None
