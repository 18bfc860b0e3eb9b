"""Binomial responses of several trials, as MoEClassifier rows in groups.

An observation of s successes in n trials is n Bernoulli rows (s ones) that
share one expert: ``fit(X, y, groups=...)`` with a group per observation. The
fitted log-likelihood is then the binomial mixture's, less the constant
``sum log C(n, s)``, which scipy's binomial pmf checks here, and the fit is
a maximum of that likelihood, which scipy's optimizer, started there, does not
improve. (flexmix's FLXMRglm(family="binomial") on the same data:
benchmarks/binomial_flexmix.py.)
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logsumexp
from scipy.stats import binom

from skmoe import MoEClassifier


def binomial_data(m=150, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, m)
    trials = rng.randint(5, 30, m)
    first = rng.uniform(size=m) < 0.4
    successes = rng.binomial(trials, expit(np.where(first, 1 + 2 * x, -0.5 - x)))
    return x, successes, trials


def expand(x, successes, trials):
    groups = np.repeat(np.arange(len(x)), trials)
    within = np.arange(len(groups)) - np.repeat(np.cumsum(trials) - trials, trials)
    return x[groups, None], (within < successes[groups]).astype(int), groups


def mixture_loglik(theta, x, successes, trials):
    """Binomial mixture log-likelihood; theta = (logit prior, a_0, b_0, a_1, b_1)."""
    log_prior = -np.logaddexp(0, [-theta[0], theta[0]])  # log of (p, 1 - p)
    terms = [
        log_prior[k] + binom.logpmf(successes, trials, expit(a + b * x))
        for k, (a, b) in enumerate(theta[1:].reshape(2, 2))
    ]
    return logsumexp(terms, axis=0).sum()


def test_grouped_trials_fit_the_binomial_mixture():
    x, successes, trials = binomial_data()
    X, y, groups = expand(x, successes, trials)
    model = MoEClassifier(
        2, gate="constant", alpha=0.0, n_init=5, tol=1e-10, random_state=0
    )
    model.fit(X, y, groups=groups)
    # each expert's logit of success: class 1's column less class 0's
    a = np.diff(model.expert_intercept_, axis=1)[:, 0]
    b = np.diff(model.expert_coef_[:, :, 0], axis=1)[:, 0]
    prior = model.predict_gate(X[:1])[0]
    theta = np.r_[np.log(prior[0] / prior[1]), a[0], b[0], a[1], b[1]]
    total = mixture_loglik(theta, x, successes, trials)
    log_choose = binom.logpmf(successes, trials, 0.5) - trials * np.log(0.5)
    np.testing.assert_allclose(
        model.log_likelihood_ + log_choose.sum(), total, rtol=1e-10
    )
    # a maximum: L-BFGS from the fit gains next to nothing
    better = minimize(lambda t: -mixture_loglik(t, x, successes, trials), theta)
    assert -better.fun - total < 1e-6
    # the slopes of the generating lines
    np.testing.assert_allclose(np.sort(b), [-1.0, 2.0], atol=0.35)


def test_default_restarts_with_groups_find_the_maximum():
    # n_init="auto" restarts 5 times with groups: one k-means start split the
    # repeated x's and ended 80 to 117 nats below the maximum on every seed
    # (slopes -0.35 and 0.52 on seed 1), the maximum being L-BFGS's from it
    for seed in range(1, 4):
        x, successes, trials = binomial_data(seed=seed)
        X, y, groups = expand(x, successes, trials)
        default = MoEClassifier(2, gate="constant", alpha=0.0, random_state=0)
        default.fit(X, y, groups=groups)
        a = np.diff(default.expert_intercept_, axis=1)[:, 0]
        b = np.diff(default.expert_coef_[:, :, 0], axis=1)[:, 0]
        prior = default.predict_gate(X[:1])[0]
        theta = np.r_[np.log(prior[0] / prior[1]), a[0], b[0], a[1], b[1]]
        data = (x, successes, trials)
        total = mixture_loglik(theta, *data)
        better = minimize(lambda t, d=data: -mixture_loglik(t, *d), theta)
        assert -better.fun - total < 0.05
        one = MoEClassifier(2, gate="constant", alpha=0.0, n_init=1, random_state=0)
        one.fit(X, y, groups=groups)
        assert one.log_likelihood_ < default.log_likelihood_ - 10


def test_default_restarts_without_groups_are_one_k_means_start():
    X = np.random.RandomState(0).normal(size=(200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    auto = MoEClassifier(2, random_state=0).fit(X, y)
    one = MoEClassifier(2, n_init=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(auto.expert_coef_, one.expert_coef_)
    assert auto.n_init == "auto"
