"""shared_features against R flexmix's FLXMRglmfix(fixed = ~ z).

    python benchmarks/shared_flexmix.py

Three data sets of 2000 rows, latent classes (prior 0.5 each), two experts whose
slopes on x differ and whose coefficient on z is the same:

- ``gaussian``: x ~ U(-2, 2), z ~ N(0, 1), y = 1 + 2 x or y = -1 - 2 x, plus
  0.8 z in both, plus noise of sd 0.5.
- ``poisson``: x, z ~ U(-1, 1), y ~ Poisson with log rate 1.5 + 0.8 x or
  0.2 - 0.8 x, plus 0.5 z in both.
- ``binomial``: x ~ U(-2, 2), z ~ N(0, 1), y ~ Bernoulli with log-odds 1 + 2 x
  or -1 - 2 x, plus 1.5 z in both.

flexmix fits ``y ~ x`` (``cbind(y, 1 - y) ~ x`` for binomial: its binomial
family takes the response as the two columns successes, failures) with
``FLXMRglmfix(family = ..., fixed = ~ z)`` (each Gaussian component its own
variance); skmoe fits ``MoERegressor`` / ``MoEPoissonRegressor`` /
``MoEClassifier(2, gate="constant", shared_features=[1], alpha=0)`` on (x, z).
Both are best of 5 random starts, tolerance 1e-10. The table gives the total
log-likelihood, the number of parameters p (flexmix's df; skmoe's is checked
against K - 1 + 2 K + 1, + K variances for Gaussian experts, and ``bic(X, y)``
against -2 loglik + p log(n), the notes print both checks), BIC, the experts'
intercepts, slopes on x, noise sds and priors sorted by slope, the shared
coefficient on z with its standard error (skmoe's ``std_errors(X, y)``;
flexmix's from ``refit()``, which maximizes the likelihood by optim from the EM
fit and inverts its Hessian), the fit time (flexmix's timed inside R, without
R's start-up or refit) and the warnings given while fitting (skmoe's recorded,
flexmix's counted). For binomial the coefficients are log-odds of y = 1 against
y = 0: the classifier stores its two classes' coefficients centred (class 1's
is half the log-odds, class 0's minus half), so the table gives their
difference and twice the standard error of class 1's. The notes give refit's
own estimate of z and the log-likelihood at refit's estimates (evaluated by
skmoe), and for binomial a refit of skmoe at flexmix's stopping rule (below).

flexmix's Gaussian FLXMRglmfix does not give the maximum-likelihood M-step, in
two ways. (1) Its variance of component k is the weighted mean of the squared
residuals times n / (n - 3): the component's number of columns, the shared one
included. flexmix's sds are then larger by about sqrt(2000 / 1997) = 1.00075 and
its log-likelihood a little lower at the same coefficients. (2) It solves the
coefficients as one weighted least squares on the K stacked copies of the data
with weights w_ik, not w_ik / sigma_k^2: where the components' sds differ, its
shared coefficient is not the one that maximizes the likelihood. skmoe weights
by w_ik / sigma_k^2; the notes give both solutions at skmoe's responsibilities.
The Poisson and binomial M-steps (a glm on the stacked data) are the exact ones.

The two tolerances differ in scale: flexmix stops when the total
log-likelihood changes by less than tolerance * (|loglik| + 0.1), skmoe when the
per-sample one changes by at most tol (and three changes in a row did not
grow). Where EM converges slowly, as on the binomial data (about 160
iterations), the stopping point shows in the last digits.

Observed (R 4.2.2, flexmix 2.3.18, n_init / nrep 5, two shared cores): both
sides find the same optimum on all three data sets, with no warning on either
side; p = 8 (Gaussian) and 6 (Poisson, binomial) on both, and skmoe's bic(X, y)
equals -2 loglik + p log(n) (difference 0.0). ``gaussian``: skmoe -2624.725324
against flexmix's -2624.726584, skmoe 1.26e-3 higher; at flexmix's estimates
with its sds divided by 1.00075 (its sds / skmoe's: 1.0008) skmoe is still
2.7e-5 higher, mostly the shared coefficient: z 0.791090 against 0.791157. At
skmoe's responsibilities the w_ik-weighted solve gives 0.791150 (flexmix's), the
w_ik / sigma_k^2 one 0.791090 (skmoe's): the sds are 0.489 and 0.502. The other
coefficients agree within 1.2e-5, the priors within 1e-6; scipy's BFGS started
from skmoe's solution does not raise its log-likelihood. refit's optim stops
short in z (0.791326, a log-likelihood 2.4e-4 below skmoe's); the standard
errors of z agree: 0.011973 (skmoe) and 0.011975 (refit). ``poisson``:
log-likelihoods within 3.2e-7 (-4210.746932), z 0.480620 against 0.480621, the
other coefficients within 2e-5; standard errors of z 0.024907 on both sides.
``binomial``: skmoe -1237.2031767 against flexmix's -1237.2031762 (skmoe 5.0e-7
lower), z 1.568753 against 1.568768, the other coefficients within 1.2e-4, the
priors (0.457, 0.543) within 1.2e-5; both took 162 EM iterations and both stop
short of the maximum, -1237.2031755 (z 1.568821; from tol=0 in skmoe, and from
scipy's BFGS started at skmoe's fit). The gap is the stopping rule: flexmix's
here means a total change below 1.24e-7, skmoe's tol=1e-10 one of 2e-7; skmoe at
the matching tol 6.19e-11 ends 8.6e-9 below flexmix with z 1.568768 (flexmix's).
Standard errors of z 0.150220 on both sides (skmoe's 2 x 0.075110, of the
centred coefficient). skmoe took 0.3-0.8 s a fit (std_errors 0.01 s), flexmix
0.2-1.4 s on Gaussian and Poisson and 5.2 s on binomial (refit another 0.2-0.3
s); the script runs in about 13 s. Needs Rscript with flexmix; exits otherwise.
"""

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ["gaussian", "poisson", "binomial"]
N_EXPERTS = 2


def data(kind, n=2000, seed=0):
    """Columns (x, z) and y: continuous for "gaussian", counts for "poisson",
    0/1 for "binomial"."""
    rng = np.random.RandomState(seed)
    if kind == "gaussian":
        x = rng.uniform(-2, 2, n)
        z = rng.normal(size=n)
        first = rng.uniform(size=n) < 0.5
        y = np.where(first, 1 + 2 * x, -1 - 2 * x) + 0.8 * z
        y = y + 0.5 * rng.normal(size=n)
    elif kind == "poisson":
        x = rng.uniform(-1, 1, n)
        z = rng.uniform(-1, 1, n)
        first = rng.uniform(size=n) < 0.5
        log_rate = np.where(first, 1.5 + 0.8 * x, 0.2 - 0.8 * x) + 0.5 * z
        y = rng.poisson(np.exp(log_rate)).astype(float)
    else:
        x = rng.uniform(-2, 2, n)
        z = rng.normal(size=n)
        first = rng.uniform(size=n) < 0.5
        log_odds = np.where(first, 1 + 2 * x, -1 - 2 * x) + 1.5 * z
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-log_odds))).astype(float)
    return np.column_stack([x, z]), y


def flexmix(kind, X, y):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        np.savetxt(
            csv, np.column_stack([y, X]), delimiter=",", header="y,x,z", comments=""
        )
        out = subprocess.run(
            ["Rscript", os.path.join(HERE, "shared_fit.R"), csv, kind],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    fields = dict(item.split("=") for item in out.split())

    def floats(key):
        return np.array(fields[key].split(","), dtype=float)

    n_warnings = int(fields["warnings"]) + int(fields["refit_warnings"])
    return {
        "loglik": float(fields["loglik"]),
        "p": int(fields["df"]),
        "bic": float(fields["bic"]),
        "intercepts": floats("intercepts"),
        "slopes": floats("slopes"),
        "shared": float(fields["shared"]),
        "shared_se": float(fields["refit_se"]),
        "sds": floats("sds"),
        "priors": floats("priors"),
        "seconds": float(fields["seconds"]),
        "converged": fields["converged"] == "1",
        "n_iter": int(fields["iter"]),
        "refit": floats("refit"),
        "refit_seconds": float(fields["refit_seconds"]),
        "warnings": [f"{n_warnings} R warnings"] if n_warnings else [],
    }


def log_odds_coefficients(reg):
    """The experts' intercepts and coefficients, of shape (K,) and (K, 2): as
    fitted for regressors; for the classifier, whose two classes' coefficients
    are stored centred (class 1's is half the log-odds, class 0's minus half),
    the log-odds of class 1 against class 0."""
    if isinstance(reg, MoEClassifier):
        return (
            reg.expert_intercept_[:, 1] - reg.expert_intercept_[:, 0],
            reg.expert_coef_[:, 1, :] - reg.expert_coef_[:, 0, :],
        )
    return reg.expert_intercept_, reg.expert_coef_


def skmoe(kind, X, y):
    Model = {
        "gaussian": MoERegressor,
        "poisson": MoEPoissonRegressor,
        "binomial": MoEClassifier,
    }[kind]
    reg = Model(
        n_experts=N_EXPERTS,
        gate="constant",
        shared_features=[1],
        alpha=0.0,
        tol=1e-10,
        max_iter=2000,
        n_init=5,
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.fit(X, y)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    se = reg.std_errors(X, y)
    se_seconds = time.perf_counter() - start
    intercepts, coef = log_odds_coefficients(reg)
    order = np.argsort(coef[:, 0])
    assert np.ptp(reg.expert_coef_[..., 1], axis=0).max() == 0, reg.expert_coef_
    if kind == "binomial":
        centred = reg.expert_coef_[:, 1, 1]
        assert np.array_equal(reg.expert_coef_[:, 0, 1], -centred), reg.expert_coef_
        # se of the log-odds 2 c from that of the centred coefficient c
        shared_se = 2 * se.expert_coef_[0, 1, 1]
    else:
        shared_se = se.expert_coef_[0, 1]
    p = reg._n_parameters()
    expected_p = N_EXPERTS - 1 + N_EXPERTS * 2 + 1
    if kind == "gaussian":
        expected_p += N_EXPERTS  # a noise variance each
    assert p == expected_p, (p, expected_p)
    bic = reg.bic(X, y)
    expected = -2 * reg.log_likelihood_ + p * np.log(len(y))
    assert np.isclose(bic, expected, rtol=0, atol=1e-6), (bic, expected)
    logits = reg.gate_intercept_ - np.max(reg.gate_intercept_)
    priors = np.exp(logits) / np.sum(np.exp(logits))
    sds = np.full(N_EXPERTS, np.nan)
    if kind == "gaussian":
        sds = np.sqrt(reg.expert_variance_[order])
    return reg, {
        "loglik": reg.log_likelihood_,
        "p": p,
        "expected_p": expected_p,
        "bic": bic,
        "bic_gap": bic - expected,
        "intercepts": intercepts[order],
        "slopes": coef[order, 0],
        "shared": coef[0, 1],
        "shared_se": shared_se,
        "sds": sds,
        "priors": priors[order],
        "seconds": seconds,
        "se_seconds": se_seconds,
        "converged": reg.converged_,
        "n_iter": reg.n_iter_,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }


def loglik_at(reg, X, y, intercepts, slopes, shared, sds, log_odds):
    """The log-likelihood of ``reg`` moved to the given estimates (two experts;
    ``log_odds``: the prior of the second against the first; for the classifier,
    intercepts, slopes and shared are log-odds of class 1 against class 0)."""
    moved = copy.deepcopy(reg)
    intercepts = np.array(intercepts, dtype=float)
    coef = np.column_stack([slopes, np.full(N_EXPERTS, shared)])
    if isinstance(reg, MoEClassifier):
        intercepts = np.column_stack([-intercepts, intercepts]) / 2
        coef = np.stack([-coef, coef], axis=1) / 2
    moved.expert_intercept_ = intercepts
    moved.expert_coef_ = coef
    if sds is not None:
        moved.expert_variance_ = np.asarray(sds) ** 2
    moved.gate_intercept_ = np.array([-0.5, 0.5]) * log_odds
    return np.sum(moved.log_likelihood_samples(X, y))


def loglik_at_refit(reg, kind, X, y, refit):
    """The log-likelihood at refit's estimates: z, each component's intercept
    and slope on x, [each log(sigma)], the prior log-odds of component 2."""
    coef = refit[1 : 1 + 2 * N_EXPERTS].reshape(N_EXPERTS, 2)
    sds = None
    if kind == "gaussian":
        sds = np.exp(refit[1 + 2 * N_EXPERTS : 1 + 3 * N_EXPERTS])
    return loglik_at(reg, X, y, coef[:, 0], coef[:, 1], refit[0], sds, refit[-1])


def stacked_shared(reg, X, y, by_variance):
    """The shared coefficient of the experts' joint weighted least squares at
    ``reg``'s responsibilities w_ik: weights w_ik / sigma_k^2 (the likelihood's
    M-step) or w_ik (flexmix's)."""
    weights = reg.responsibilities(X, y)
    if by_variance:
        weights = weights / reg.expert_variance_
    n = len(y)
    designs = []
    for k in range(N_EXPERTS):
        own = np.zeros((n, 2 * N_EXPERTS))
        own[:, 2 * k] = 1.0
        own[:, 2 * k + 1] = X[:, 0]
        designs.append(np.column_stack([own, X[:, 1]]))
    root = np.sqrt(weights.T.ravel())
    solution = np.linalg.lstsq(
        np.vstack(designs) * root[:, None], np.tile(y, N_EXPERTS) * root, rcond=None
    )[0]
    return solution[-1]


def numbers(values, digits=6):
    if np.all(np.isnan(values)):
        return "-"
    return ", ".join(f"{v:.{digits}g}" for v in values)


def main():
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: this comparison needs R with flexmix")
    print(
        "| data | fit | loglik | p | BIC | intercepts | slopes on x | shared z "
        "| se z | noise sd | priors | seconds | warned |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    notes, messages = [], []
    for kind in KINDS:
        X, y = data(kind)
        reg, ours = skmoe(kind, X, y)
        results = {"flexmix": flexmix(kind, X, y), "skmoe": ours}
        for name, r in results.items():
            print(
                f"| {kind} | {name} | {r['loglik']:.6f} | {r['p']} | "
                f"{r['bic']:.4f} | {numbers(r['intercepts'])} | "
                f"{numbers(r['slopes'])} | {r['shared']:.6f} | "
                f"{r['shared_se']:.6f} | {numbers(r['sds'], 4)} | "
                f"{numbers(r['priors'], 4)} | {r['seconds']:.2f} | "
                f"{'yes' if r['warnings'] else 'no'} |"
            )
            messages += [f"{kind}/{name}: {w}" for w in r["warnings"]]
        f, s = results["flexmix"], results["skmoe"]
        gap = max(
            np.max(np.abs(f["intercepts"] - s["intercepts"])),
            np.max(np.abs(f["slopes"] - s["slopes"])),
        )
        at_refit = loglik_at_refit(reg, kind, X, y, f["refit"])
        note = (
            f"{kind}: skmoe - flexmix loglik {s['loglik'] - f['loglik']:+.2e}, "
            f"shared z {s['shared'] - f['shared']:+.1e}, largest other coefficient "
            f"gap {gap:.1e}, priors {np.max(np.abs(f['priors'] - s['priors'])):.1e}; "
            f"skmoe p = {s['p']} (K - 1 + 2K + 1"
            f"{' + K' if kind == 'gaussian' else ''} = {s['expected_p']}), "
            f"bic(X, y) - (-2 loglik + p log n) = {s['bic_gap']:.1e}; "
            f"refit (optim): z {f['refit'][0]:.6f}, loglik at its estimates "
            f"{at_refit:.6f} (skmoe's {s['loglik'] - at_refit:+.1e}), se(z) "
            f"skmoe / refit {s['shared_se'] / f['shared_se']:.5f}; "
            f"skmoe n_iter={s['n_iter']} converged={s['converged']} "
            f"std_errors {s['se_seconds']:.3f} s, flexmix iter={f['n_iter']} "
            f"converged={f['converged']} refit {f['refit_seconds']:.2f} s"
        )
        if kind == "gaussian":
            n = len(y)
            divisor = np.sqrt(n / (n - 3))
            ml_sds = loglik_at(
                reg,
                X,
                y,
                f["intercepts"],
                f["slopes"],
                f["shared"],
                f["sds"] / divisor,
                np.log(f["priors"][1] / f["priors"][0]),
            )
            note += (
                f"; flexmix sd / skmoe sd {numbers(f['sds'] / s['sds'], 5)} "
                f"(flexmix's divisor: {divisor:.5f}); loglik at flexmix's "
                f"estimates with its sds / {divisor:.5f}: {ml_sds:.6f} "
                f"(skmoe's {s['loglik'] - ml_sds:+.1e}); "
                f"joint least squares at skmoe's responsibilities: z "
                f"{stacked_shared(reg, X, y, by_variance=False):.6f} weighted by "
                f"w_ik (flexmix's M-step), "
                f"{stacked_shared(reg, X, y, by_variance=True):.6f} by "
                f"w_ik / sigma_k^2"
            )
        if kind == "binomial":
            # flexmix stops at a change of its total log-likelihood below
            # tolerance * (|loglik| + 0.1); skmoe's tol is per sample
            matched_tol = 1e-10 * (abs(f["loglik"]) + 0.1) / len(y)
            matched = copy.deepcopy(reg).set_params(tol=matched_tol).fit(X, y)
            note += (
                f"; skmoe at flexmix's stopping rule (tol {matched_tol:.2e}): "
                f"loglik {matched.log_likelihood_:.9f} "
                f"(- flexmix's {matched.log_likelihood_ - f['loglik']:+.1e}), "
                f"z {log_odds_coefficients(matched)[1][0, 1]:.6f}, "
                f"n_iter={matched.n_iter_}"
            )
        notes.append(note)
    print()
    print("\n".join(notes))
    if messages:
        print()
        print("\n".join(messages))


if __name__ == "__main__":
    main()
