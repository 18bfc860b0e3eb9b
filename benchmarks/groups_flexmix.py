"""Repeated measurements (``fit(X, y, groups=g)``) against R flexmix's ``y ~ x | g``.

    python benchmarks/groups_flexmix.py

Four data sets of G = 300 groups of m = 6 rows (1800 rows), two experts; each
group draws one latent class and all its rows come from that class's expert:

- ``gaussian``: class 1 with probability 0.4; x ~ U(-2, 2) per row, y = 1 + 2 x
  (class 1) or -1 + 0.5 x, plus noise of sd 0.8.
- ``gated``: as ``gaussian``, but class 1 with probability 1 / (1 + exp(-2 z))
  for a group-level z ~ N(0, 1) (the same on every row of the group).
- ``poisson``: class 1 with probability 0.4; x ~ U(-1, 1), y ~ Poisson with log
  rate 0.5 + x (class 1) or 1.5 - 0.5 x.
- ``binomial``: class 1 with probability 0.4; x ~ U(-2, 2), y ~ Bernoulli with
  log-odds 1 + 2 x (class 1) or -1 - 1.5 x.

flexmix fits ``y ~ x | g`` (``cbind(y, 1 - y) ~ x | g`` for binomial: its
binomial family takes the response as the two columns successes, failures) with
``FLXMRglm(family = ...)`` (each Gaussian component its own variance), fixed
priors (its default ``FLXPconstant``) or, for ``gated``, ``concomitant =
FLXPmultinom(~ z)``; skmoe fits ``MoERegressor`` / ``MoEPoissonRegressor`` /
``MoEClassifier(2, gate="constant", alpha=0)`` on (x,), and for ``gated``
``MoERegressor(2, gate_features=[0], expert_features=[1], alpha=0)`` on (z, x),
all with ``groups=g``. Both are best of 5 random starts, tolerance 1e-10. For
contrast skmoe also fits the same model without ``groups`` (rows independent).

The table gives per data set and fit the total log-likelihood (for the grouped
fits the groups' one, sum_g log sum_k pi_k(z_g) prod_{i in g} p_k(y_i | x_i),
with the full Gaussian / Poisson constants; for the rows-independent fit the
rows'), the number of parameters p (flexmix's df; skmoe's ``_n_parameters()``,
checked against K - 1 + 2 K, + K variances for Gaussian experts, + 1 gate
coefficient on z for ``gated``), BIC (skmoe's ``bic(X, y, groups=g)``,
flexmix's ``BIC(fit)``; the notes check both against -2 loglik + p log(n): both
take n = 1800 rows, not 300 groups), the experts' intercepts, slopes on x, their
standard errors (skmoe's ``std_errors(X, y, groups=g)``; flexmix's from
``summary(refit(fit))``, which maximizes the likelihood by optim from the EM fit
and inverts its Hessian) and noise sds, sorted by slope; the priors (fixed
gate) or the gate's log-odds of the steeper expert against the other, intercept
and coefficient on z (``gated``), with the standard errors of the log-odds; the
fit time (flexmix's timed inside R, without R's start-up or refit) and whether
a warning was given while fitting (skmoe's recorded, flexmix's counted). For
binomial the coefficients are log-odds of y = 1 against y = 0: the classifier
stores its two classes' coefficients centred (class 1's is half the log-odds),
so the table gives twice class 1's, with twice its standard errors; likewise
the gate's log-odds are twice the centred coefficient of the steeper expert.

The notes check both sides with an independent computation of the groups'
log-likelihood (NumPy / SciPy: scipy.stats densities, sums over each group's
rows, log-sum-exp over the experts) at each side's estimates, and maximize it
with scipy's BFGS started from the better of the two, to show how far below the
maximum each side stopped. They also give the rows-independent fit's estimates
scored by the groups' log-likelihood.

flexmix's Gaussian M-step is not the maximum-likelihood one: FLXMRglm's sigma
is sqrt(sum(w r^2) / mean(w) / (n - rank)), the weighted mean of the squared
residuals times n / (n - 2) with n the number of rows (1800) and rank 2, so
its sds are larger by sqrt(1800 / 1798) = 1.000556 and its log-likelihood lower
by about n (log 1.000556)^2 = 5.6e-4 (the groups' log-likelihood in log sigma_k
has curvature -2 n_k). The notes evaluate flexmix's estimates with its sds
divided by that factor. The Poisson and binomial M-steps (weighted glms) are the
exact ones. The two tolerances differ in scale: flexmix stops when the total
log-likelihood changes by less than tolerance * (|loglik| + 0.1), skmoe when
the per-sample one changes by at most tol (and three changes in a row did not
grow).

Observed (R 4.2.2, flexmix 2.3.18, n_init / nrep 5, two shared cores): both
sides find the same optimum on all four data sets, with no warning on the
grouped fits of either side; p = 7 (gaussian), 8 (gated), 5 (poisson, binomial)
on both; skmoe's bic(X, y, groups=g) and flexmix's BIC(fit) both equal
-2 loglik + p log(1800) (gaps 1e-12 and below 3e-7, the latter R's printing).
The independent computation reproduces each side's own log-likelihood within
4e-10 at its estimates (so both include the full constants), and BFGS started
from skmoe's fit raises it by at most 1.9e-9. ``gaussian``: skmoe -2318.435054
against flexmix's -2318.435612, skmoe 5.58e-4 higher. That is flexmix's sd
divisor: its sds / skmoe's are 1.000556-1.000560, and with its sds divided by
sqrt(1800 / 1798) flexmix's estimates score 3.2e-8 below skmoe's; intercepts
and slopes agree within 2.3e-6, the priors (0.5825, 0.4175) within 1e-5 (prior
log-odds 1.7e-5 apart, 1.4e-4 of its standard error: worth about 1e-8). ``gated``:
-2241.923664 against -2241.924223 (5.59e-4, the same divisor; flexmix's
estimates with its sds scaled back 5.4e-8 below skmoe's), coefficients within
1.3e-6, gate log-odds 0.12667 + 2.22855 z (skmoe; BFGS's maximum 0.126668 +
2.228553 z) against 0.12668 + 2.22862 z: flexmix's z coefficient is 7e-5
off, 2.7e-4 of its standard error 0.259, worth about 4e-8 of log-likelihood
(most of the 5.4e-8 above): where EM stopped on the least determined
parameter. ``poisson``:
-3638.2671087 on both (skmoe 9.2e-10 higher), coefficients within 1.0e-6.
``binomial``: -907.0909832 on both (skmoe 1.1e-9 lower), log-odds within
2.2e-6. The slopes' standard errors agree within 6.2e-5 relative: 0.020083 /
0.025326 (skmoe) against 0.020083 / 0.025327 (refit) on ``gaussian``,
0.022669 / 0.021864 against 0.022670 / 0.021864 on ``gated``, 0.026086 /
0.049907 on ``poisson`` and 0.11258 / 0.14563 on ``binomial`` on both sides;
the gate's log-odds' 0.1179 (gaussian), 0.1563 / 0.2587 (gated), 0.12001
(poisson), 0.11977 (binomial) within 3.2e-5 relative. Fitted without groups
(rows independent), skmoe's log-likelihoods, of the rows and so of another
model, are -2790.98, -2543.00, -3920.18 and -1237.92 (binomial: not converged
in 2000 iterations, a mixture of two Bernoulli regressions on single rows is
barely identified); scored as groups its estimates fall 1.16, 1.60, 7.26 and
155.86 below the grouped fit, and its slopes' standard errors are 1.1-1.5 times
the grouped fit's (4.4-5.4 on binomial). skmoe took 0.04-0.17 s a grouped fit
(std_errors 0.01 s), flexmix 0.18-0.82 s (refit another 0.12-0.21 s); the
rows-independent binomial fit takes 7-8 s, the script about 14 s.
Needs Rscript with flexmix; exits otherwise.
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
from scipy import optimize, special, stats

from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ["gaussian", "gated", "poisson", "binomial"]
N_EXPERTS = 2
N_GROUPS, GROUP_SIZE = 300, 6
OPTIONS = dict(alpha=0.0, tol=1e-10, max_iter=2000, n_init=5, random_state=0)


def data(kind, seed=0):
    """Columns (x,), or (z, x) for "gated" (z the same on a group's rows), y,
    and the groups g: N_GROUPS groups of GROUP_SIZE consecutive rows."""
    rng = np.random.RandomState(seed)
    groups = np.repeat(np.arange(N_GROUPS), GROUP_SIZE)
    n = N_GROUPS * GROUP_SIZE
    z = rng.normal(size=N_GROUPS)
    prior = 1 / (1 + np.exp(-2 * z)) if kind == "gated" else 0.4
    first = (rng.uniform(size=N_GROUPS) < prior)[groups]
    if kind in ("gaussian", "gated"):
        x = rng.uniform(-2, 2, n)
        y = np.where(first, 1 + 2 * x, -1 + 0.5 * x) + 0.8 * rng.normal(size=n)
    elif kind == "poisson":
        x = rng.uniform(-1, 1, n)
        y = rng.poisson(np.exp(np.where(first, 0.5 + x, 1.5 - 0.5 * x)))
        y = y.astype(float)
    else:
        x = rng.uniform(-2, 2, n)
        log_odds = np.where(first, 1 + 2 * x, -1 - 1.5 * x)
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-log_odds))).astype(float)
    X = np.column_stack([z[groups], x]) if kind == "gated" else x[:, None]
    return X, y, groups


def flexmix(kind, X, y, groups):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        header = "y,z,x,g" if kind == "gated" else "y,x,g"
        np.savetxt(
            csv,
            np.column_stack([y, X, groups]),
            delimiter=",",
            header=header,
            comments="",
            fmt="%.17g",
        )
        out = subprocess.run(
            ["Rscript", os.path.join(HERE, "groups_fit.R"), csv, kind],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    fields = dict(item.split("=") for item in out.split())

    def floats(key):
        return np.array(fields[key].split(","), dtype=float)

    slopes = floats("slopes")
    order = np.argsort(slopes)
    # the gate's log-odds of component 2 against 1, turned to those of the
    # steeper component against the other
    sign = 1.0 if order[1] == 1 else -1.0
    n_warnings = int(fields["warnings"]) + int(fields["refit_warnings"])
    return {
        "loglik": float(fields["loglik"]),
        "p": int(fields["df"]),
        "nobs": int(fields["nobs"]),
        "bic": float(fields["bic"]),
        "intercepts": floats("intercepts")[order],
        "slopes": slopes[order],
        "slope_se": floats("slope_se")[order],
        "sds": floats("sds")[order],
        "priors": floats("priors")[order],
        "gate": sign * floats("gate"),
        "gate_se": floats("gate_se"),
        "seconds": float(fields["seconds"]),
        "refit_seconds": float(fields["refit_seconds"]),
        "converged": fields["converged"] == "1",
        "n_iter": int(fields["iter"]),
        "warnings": [f"{n_warnings} R warnings"] if n_warnings else [],
    }


def flexmix_available():
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(
        ["Rscript", "-e", "suppressPackageStartupMessages(library(flexmix))"],
        capture_output=True,
    )
    return check.returncode == 0


def expected_parameters(kind):
    p = N_EXPERTS - 1 + N_EXPERTS * 2
    if kind in ("gaussian", "gated"):
        p += N_EXPERTS  # a noise variance each
    if kind == "gated":
        p += N_EXPERTS - 1  # the gate's coefficient on z
    return p


def skmoe(kind, X, y, groups):
    """Fit with ``groups`` (or, with groups=None, rows independent); the
    estimates sorted by slope on x, as log-odds for the classifier."""
    Model = {
        "gaussian": MoERegressor,
        "gated": MoERegressor,
        "poisson": MoEPoissonRegressor,
        "binomial": MoEClassifier,
    }[kind]
    if kind == "gated":
        reg = Model(N_EXPERTS, gate_features=[0], expert_features=[1], **OPTIONS)
    else:
        reg = Model(N_EXPERTS, gate="constant", **OPTIONS)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.fit(X, y, groups=groups)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught_se:
        warnings.simplefilter("always")
        se = reg.std_errors(X, y, groups=groups)
    se_seconds = time.perf_counter() - start
    x = X.shape[1] - 1  # the column of x
    intercepts, slopes = reg.expert_intercept_, reg.expert_coef_[..., x]
    slope_se = se.expert_coef_[..., x]
    if kind == "binomial":
        # class 1's centred coefficients are half the log-odds
        assert np.allclose(reg.expert_coef_[:, 0], -reg.expert_coef_[:, 1])
        intercepts, slopes, slope_se = (
            2 * intercepts[:, 1],
            2 * slopes[:, 1],
            2 * slope_se[:, 1],
        )
    order = np.argsort(slopes)
    steep = order[1]
    # the centred gate of two experts: the log-odds of the steeper against the
    # other are twice the steeper one's coefficients
    assert np.allclose(reg.gate_intercept_.sum(), 0)
    gate = [2 * reg.gate_intercept_[steep]]
    gate_se = [2 * se.gate_intercept_[steep]]
    if kind == "gated":
        gate.append(2 * reg.gate_coef_[steep, 0])
        gate_se.append(2 * se.gate_coef_[steep, 0])
    priors = special.softmax(reg.gate_intercept_)
    p = reg._n_parameters()
    assert p == expected_parameters(kind), (p, expected_parameters(kind))
    bic = reg.bic(X, y, groups=groups)
    sds = np.full(N_EXPERTS, np.nan)
    if kind in ("gaussian", "gated"):
        sds = np.sqrt(reg.expert_variance_[order])
    return {
        "model": reg,
        "loglik": reg.log_likelihood_,
        "p": p,
        "bic": bic,
        "bic_gap": bic - (-2 * reg.log_likelihood_ + p * np.log(len(y))),
        "intercepts": intercepts[order],
        "slopes": slopes[order],
        "slope_se": slope_se[order],
        "sds": sds,
        "priors": priors[order],
        "gate": np.array(gate),
        "gate_se": np.array(gate_se),
        "seconds": seconds,
        "se_seconds": se_seconds,
        "converged": reg.converged_,
        "n_iter": reg.n_iter_,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught + caught_se],
    }


def grouped_loglik(kind, X, y, groups, r):
    """The groups' log-likelihood sum_g log sum_k pi_k(z_g) prod_{i in g}
    p_k(y_i | x_i) at the estimates ``r`` (sorted by slope; r["gate"] the
    log-odds of expert 1 against expert 0), computed with scipy.stats alone."""
    _, first, codes = np.unique(groups, return_index=True, return_inverse=True)
    x = X[:, -1]
    eta = r["intercepts"][:, None] + r["slopes"][:, None] * x
    if kind in ("gaussian", "gated"):
        log_p = stats.norm.logpdf(y, eta, r["sds"][:, None])
    elif kind == "poisson":
        log_p = stats.poisson.logpmf(y, np.exp(eta))
    else:
        log_p = stats.bernoulli.logpmf(y, special.expit(eta))
    per_group = np.stack([np.bincount(codes, weights=row) for row in log_p])
    gate = r["gate"]
    log_odds = gate[0] + (gate[1] * X[first, 0] if kind == "gated" else 0.0 * first)
    log_gate = np.stack([-np.logaddexp(0, log_odds), -np.logaddexp(0, -log_odds)])
    return np.sum(special.logsumexp(log_gate + per_group, axis=0))


def maximize(kind, X, y, groups, start):
    """BFGS on the groups' log-likelihood (grouped_loglik) from ``start``;
    returns the maximum and the estimates there."""
    gaussian = kind in ("gaussian", "gated")
    K = N_EXPERTS

    def unpack(theta):
        r = {"intercepts": theta[:K], "slopes": theta[K : 2 * K]}
        r["sds"] = np.exp(theta[2 * K : 3 * K]) if gaussian else None
        r["gate"] = theta[3 * K :] if gaussian else theta[2 * K :]
        return r

    parts = [start["intercepts"], start["slopes"]]
    if gaussian:
        parts.append(np.log(start["sds"]))
    theta = np.concatenate(parts + [start["gate"]])
    result = optimize.minimize(
        lambda t: -grouped_loglik(kind, X, y, groups, unpack(t)),
        theta,
        method="BFGS",
        options={"gtol": 1e-7},
    )
    return -result.fun, unpack(result.x)


def numbers(values, digits=6):
    values = np.asarray(values, dtype=float)
    if np.all(np.isnan(values)):
        return "-"
    return ", ".join(f"{v:.{digits}g}" for v in values)


def gate_cell(kind, r):
    if kind == "gated":
        return f"{r['gate'][0]:.5f} + {r['gate'][1]:.5f} z"
    return numbers(r["priors"], 4)


def main():
    if not flexmix_available():
        sys.exit("Rscript with flexmix not found: this comparison needs R with flexmix")
    print(
        "| data | fit | loglik | p | BIC | intercepts | slopes on x | se slopes "
        "| noise sd | priors / gate log-odds | se gate | seconds | warned |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    notes, messages = [], []
    for kind in KINDS:
        X, y, groups = data(kind)
        ours = skmoe(kind, X, y, groups)
        theirs = flexmix(kind, X, y, groups)
        alone = skmoe(kind, X, y, None)
        rows = [
            ("flexmix", theirs),
            ("skmoe", ours),
            ("skmoe, rows independent", alone),
        ]
        for name, r in rows:
            print(
                f"| {kind} | {name} | {r['loglik']:.6f} | {r['p']} | "
                f"{r['bic']:.4f} | {numbers(r['intercepts'])} | "
                f"{numbers(r['slopes'])} | {numbers(r['slope_se'], 5)} | "
                f"{numbers(r['sds'], 5)} | {gate_cell(kind, r)} | "
                f"{numbers(r['gate_se'], 5)} | {r['seconds']:.2f} | "
                f"{'yes' if r['warnings'] else 'no'} |"
            )
            messages += [f"{kind}/{name}: {w}" for w in r["warnings"]]
        s, f = ours, theirs
        n = len(y)
        coefficient_gap = max(
            np.max(np.abs(f["intercepts"] - s["intercepts"])),
            np.max(np.abs(f["slopes"] - s["slopes"])),
        )
        at_s = grouped_loglik(kind, X, y, groups, s)
        at_f = grouped_loglik(kind, X, y, groups, f)
        best, polished = maximize(kind, X, y, groups, s if at_s >= at_f else f)
        at_alone = grouped_loglik(kind, X, y, groups, alone)
        flexmix_bic_gap = f["bic"] - (-2 * f["loglik"] + f["p"] * np.log(f["nobs"]))
        note = (
            f"{kind}: skmoe - flexmix loglik {s['loglik'] - f['loglik']:+.2e}, "
            f"largest coefficient gap {coefficient_gap:.1e}, gate "
            f"{np.max(np.abs(f['gate'] - s['gate'])):.1e}, se slopes skmoe / "
            f"refit {numbers(s['slope_se'] / f['slope_se'], 6)}, se gate "
            f"{numbers(s['gate_se'] / f['gate_se'], 6)}; p = {s['p']} (skmoe) "
            f"{f['p']} (flexmix df), expected {expected_parameters(kind)}; "
            f"bic - (-2 loglik + p log n): skmoe {s['bic_gap']:.1e} (n = {n} "
            f"rows), flexmix {flexmix_bic_gap:.1e} (nobs = {f['nobs']}; "
            f"{N_GROUPS} groups); independent grouped loglik at skmoe's "
            f"estimates {at_s:.7f} (skmoe's own {s['loglik'] - at_s:+.1e}), "
            f"at flexmix's {at_f:.7f} (flexmix's own {f['loglik'] - at_f:+.1e}); "
            f"BFGS maximum {best:.7f} (skmoe {s['loglik'] - best:+.1e}, "
            f"flexmix {f['loglik'] - best:+.1e}) at slopes "
            f"{numbers(polished['slopes'], 8)}, gate {numbers(polished['gate'], 7)}"
            f"; rows-independent fit: loglik {alone['loglik']:.4f} (rows), its "
            f"estimates scored as groups {at_alone:.4f} "
            f"({at_alone - s['loglik']:+.2f} against the grouped fit), se slopes "
            f"{numbers(alone['slope_se'] / s['slope_se'], 3)} times the grouped "
            f"fit's; skmoe n_iter={s['n_iter']} converged={s['converged']} "
            f"std_errors {s['se_seconds']:.3f} s, rows independent n_iter="
            f"{alone['n_iter']} converged={alone['converged']}; flexmix "
            f"iter={f['n_iter']} converged={f['converged']} refit "
            f"{f['refit_seconds']:.2f} s"
        )
        if kind in ("gaussian", "gated"):
            # FLXMRglm's sigma^2: sum(w r^2) / mean(w) / (n - rank), rank 2
            divisor = np.sqrt(n / (n - 2))
            scaled = copy.deepcopy(f)
            scaled["sds"] = f["sds"] / divisor
            at_scaled = grouped_loglik(kind, X, y, groups, scaled)
            note += (
                f"; flexmix sd / skmoe sd {numbers(f['sds'] / s['sds'], 7)} "
                f"(flexmix's divisor sqrt(n / (n - 2)) = {divisor:.7f}); grouped "
                f"loglik at flexmix's estimates with its sds / {divisor:.7f}: "
                f"{at_scaled:.7f} (skmoe's {s['loglik'] - at_scaled:+.1e})"
            )
        notes.append(note)
    print()
    print("\n".join(notes))
    if messages:
        print()
        print("\n".join(messages))


if __name__ == "__main__":
    main()
