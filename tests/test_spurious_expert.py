"""SpuriousExpertWarning: an expert of a share under 0.05 that adds less to the
log-likelihood (removed without a refit, the gate renormalized) than BIC
charges for its parameters; and partial_fit's word that it does not prune."""

import re
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from skmoe import MoERegressor
from skmoe.exceptions import SkmoeWarning, SpuriousExpertWarning


def _two_lines(rng, n=600, share=0.4):
    x = rng.uniform(0, 10, n)
    first = rng.random(n) < share
    y = np.where(first, 1 + 2 * x, 12 - x) + rng.normal(0, 1, n)
    return x.reshape(-1, 1), y


def _spurious(model, *args, **kwargs):
    """``model`` fitted to ``args``, and the SpuriousExpertWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*args, **kwargs)
    return model, [w for w in caught if w.category is SpuriousExpertWarning]


def _log_densities(model, X, y):
    """log N(y; x b_k + c_k, s_k^2) of each Gaussian expert, (n, K)."""
    mean = model.expert_intercept_[None, :] + X @ model.expert_coef_.T
    sd = np.sqrt(np.broadcast_to(np.ravel(model.expert_variance_), mean.shape[1:]))
    return norm.logpdf(y[:, None], mean, sd[None, :])


def _drop(log_gate, log_density, k):
    """log-likelihood lost by removing expert k, the gate renormalized over the
    others (log_gate, log_density: (rows or groups, K))."""
    keep = np.arange(log_gate.shape[1]) != k
    full = logsumexp(log_gate + log_density, axis=1)
    others = log_gate[:, keep] - logsumexp(log_gate[:, keep], axis=1, keepdims=True)
    return float(np.sum(full - logsumexp(others + log_density[:, keep], axis=1)))


@pytest.mark.parametrize("seed", [2, 8])
def test_a_spurious_small_expert_warns_with_its_loss_and_price(seed):
    # T5's data (two lines, noise sd 1): 3 experts at these seeds keep a run
    # with an expert of 7 to 11 rows and sd 0.04 to 0.05
    X, y = _two_lines(np.random.default_rng(0))
    model, caught = _spurious(MoERegressor(3, gate="constant", random_state=seed), X, y)
    assert len(caught) == 1
    message = str(caught[0].message)
    found = re.search(
        r"Expert (\d) \(share ([\d.]+)\) adds ([\d.]+) .* than the ([\d.]+) ", message
    )
    k, share, drop, price = int(found[1]), *map(float, found.group(2, 3, 4))
    assert model.expert_usage_[k] < 0.05
    assert share == pytest.approx(model.expert_usage_[k], abs=5e-4)
    # recomputed from the gate and the Gaussian densities (rounded to 0.1)
    log_gate = np.log(model.predict_gate(X))
    expected = _drop(log_gate, _log_densities(model, X, y), k)
    assert drop == pytest.approx(expected, abs=0.05 + 1e-9)
    # intercept, slope and variance, and a constant gate's share: 4 parameters
    assert price == pytest.approx(4 * np.log(600) / 2, abs=0.05 + 1e-9)
    assert expected < 4 * np.log(600) / 2
    assert "prune_threshold=0.05" in message and "n_experts='auto'" in message
    # and the model without it (before a refit) has the lower bic
    pruned = model.prune_experts(model.expert_usage_[k] + 1e-9)
    assert pruned.n_experts_ == 2
    assert pruned.bic(X, y) < model.bic(X, y)


def test_groups_count_the_groups_likelihood():
    # rows in pairs, each pair of one line: the expert takes whole groups
    rng = np.random.default_rng(3)
    n_groups = 300
    x = rng.uniform(0, 10, 2 * n_groups)
    first = np.repeat(rng.random(n_groups) < 0.4, 2)
    y = np.where(first, 1 + 2 * x, 12 - x) + rng.normal(0, 1, 2 * n_groups)
    X, groups = x.reshape(-1, 1), np.repeat(np.arange(n_groups), 2)
    hits = []
    for seed in range(12):
        model = MoERegressor(3, gate="constant", random_state=seed)
        model, caught = _spurious(model, X, y, groups=groups)
        if caught:
            hits.append((model, str(caught[0].message)))
    assert hits, "no seed kept a spurious expert"
    for model, message in hits:
        pattern = r"Expert (\d) .* adds ([\d.]+) .* than the ([\d.]+) "
        found = re.search(pattern, message)
        k, drop, price = int(found[1]), float(found[2]), float(found[3])
        # the groups' likelihood: the gate once per group, the densities summed
        log_gate = np.log(model.predict_gate(X[::2]))
        density = _log_densities(model, X, y).reshape(n_groups, 2, 3).sum(axis=1)
        assert drop == pytest.approx(_drop(log_gate, density, k), abs=0.05 + 1e-9)
        # n is the rows, as bic's
        assert price == pytest.approx(4 * np.log(2 * n_groups) / 2, abs=0.05 + 1e-9)


@pytest.mark.parametrize("gate", ["constant", "softmax"])
def test_well_specified_fits_do_not_warn(gate):
    # two lines, two experts: RT5 saw no warning in 150 data sets per gate
    for seed in range(20):
        X, y = _two_lines(np.random.default_rng(1000 + seed))
        _, caught = _spurious(MoERegressor(2, gate=gate, random_state=seed), X, y)
        assert caught == [], seed


def test_a_genuine_small_wide_component_does_not_warn():
    # a third line of share 0.04, far from the others, of their noise: its
    # expert has a share under 0.05, and adds far more than its price
    small = 0
    for seed in range(10):
        rng = np.random.default_rng(1000 + seed)
        x = rng.uniform(0, 10, 600)
        c = rng.choice(3, 600, p=[0.48, 0.48, 0.04])
        y = np.choose(c, [1 + 2 * x, 12 - x, 25 + 0.2 * x]) + rng.normal(size=600)
        model = MoERegressor(3, gate="constant", random_state=seed)
        model, caught = _spurious(model, x.reshape(-1, 1), y)
        assert caught == [], seed
        small += np.min(model.expert_usage_) < 0.05
    assert small >= 5  # the share test passed; the likelihood decided


def test_n_experts_auto_gives_no_warning_of_its_candidates():
    # seed 2's three experts warn alone (above); "auto" chooses two and is quiet
    X, y = _two_lines(np.random.default_rng(0))
    model = MoERegressor("auto", gate="constant", random_state=2)
    model, caught = _spurious(model, X, y)
    assert model.n_experts_ == 2 and caught == []


def test_pruning_silences_it():
    X, y = _two_lines(np.random.default_rng(0))
    model = MoERegressor(3, gate="constant", prune_threshold=0.05, random_state=2)
    model, caught = _spurious(model, X, y)
    assert np.min(model.expert_usage_) >= 0.05 and caught == []


def test_partial_fit_says_once_that_later_calls_do_not_prune():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, 1))
    y = np.where(rng.rand(400) < 0.5, 2, -2) * X[:, 0] + 0.1 * rng.randn(400)
    model = MoERegressor(6, gate="constant", n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X, y)
    model.set_params(prune_threshold=0.3)
    with pytest.warns(SkmoeWarning, match=r"prune_threshold=0.3 is applied by fit"):
        model.partial_fit(X, y)
    # experts under the threshold stay: nothing pruned them
    assert model.n_experts_ == 6 and np.min(model.expert_usage_) < 0.3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.partial_fit(X, y)
    assert not [w for w in caught if "prune_threshold" in str(w.message)]
    # without a threshold, no word
    model.set_params(prune_threshold=0.0)
    fresh = MoERegressor(6, gate="constant", n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.partial_fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh.partial_fit(X, y)
    assert not [w for w in caught if "prune_threshold" in str(w.message)]


@pytest.mark.parametrize(
    "params",
    [
        {"n_experts": 3},
        {"n_experts": 4, "top_k": 2},
        {"n_experts": 3, "gate": "gaussian"},
    ],
)
def test_drop_equals_the_likelihood_lost_by_prune_experts_copy(monkeypatch, params):
    # every expert evaluated (share limit 1): the closed form (dense gates) and
    # the E-step of the rows routing to the expert (top_k) against the public
    # log-likelihood of prune_experts' copy without the smallest expert
    import skmoe._base as base
    import skmoe._diagnostics as diagnostics

    monkeypatch.setattr(diagnostics, "SPURIOUS_SHARE", 1.0)
    seen = []
    monkeypatch.setattr(
        base,
        "_spurious_experts",
        lambda problem, result: (
            seen.append(diagnostics._small_experts(problem, result)) or []
        ),
    )
    X, y = _two_lines(np.random.default_rng(5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(random_state=1, **params).fit(X, y)
    usage = np.asarray(model.expert_usage_)
    k = int(np.argmin(usage))
    pruned = model.prune_experts(np.sort(usage)[:2].mean())
    assert len(pruned.expert_usage_) == len(usage) - 1
    expected = np.sum(
        model.log_likelihood_samples(X, y) - pruned.log_likelihood_samples(X, y)
    )
    (drop,) = [hit[2] for hit in seen[-1] if hit[0] == k]
    assert drop == pytest.approx(expected, rel=1e-9, abs=1e-8)
