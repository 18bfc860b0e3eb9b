"""MoERegressor(variance_type="tied") against R flexmix's FLXMRglmfix(varFix=TRUE).

    python benchmarks/tied_variance_flexmix.py

Two data sets, x ~ U(-2, 2), latent classes (fixed priors):

- ``crossing``: 2000 rows, y = 2 x or y = 1 - x (prior 0.5 each) plus noise of
  the same sd 0.5 in both, two experts: the model a tied variance describes.
- ``duplicated``: 60 rows of the same, plus 6 copies each of (0.5, 4) and
  (1.5, 5), three experts. A line through those two points fits 12 rows
  exactly, so an expert with its own variance can collapse onto them: the
  per-expert likelihood is unbounded there, the tied one is not.

flexmix fits ``y ~ x`` with ``FLXMRglmfix(varFix = TRUE)`` (tied) and
``FLXMRglm(family = "gaussian")`` (per expert); skmoe fits ``MoERegressor(K,
gate="constant", variance_type="tied" / "per_expert", alpha=0)``. Both are best
of 5 random starts, tolerance 1e-10. The table gives the total log-likelihood,
the number of parameters p (flexmix's df; skmoe's is checked against K - 1 +
K (D + 1) + 1 when tied and + K per expert, and ``bic(X, y)`` against -2 loglik
+ p log(n)), BIC, the experts' intercepts, slopes, noise sds and priors sorted
by slope, the fit time (flexmix's timed inside R, without R's start-up) and the
warnings given while fitting (skmoe's recorded, flexmix's counted).

flexmix's M-step does not give the maximum-likelihood variance. Tied, it divides
the weighted squared residuals by n - (D + 1) / K (it takes off the first
component's coefficients only); per expert, it multiplies the weighted mean of
expert k by n / (n - (D + 1)). skmoe divides by n (by sum_i w_ik). flexmix's sds
are then larger by about the square root of those factors (the notes print it),
and its log-likelihood a little lower at the same coefficients.

Observed (R 4.2.2, flexmix 2.3.18, n_init / nrep 5): on ``crossing`` both sides
find the same optimum for each model: p = 6 tied and 7 per expert, skmoe's
log-likelihood higher by 1.4e-4 (tied) and 5.7e-4 (per expert), slopes and
intercepts within 1e-5, sds in flexmix's ratio (1.0003 and 1.0006). On
``duplicated`` the tied fits agree up to that divisor, with no warning on either
side: skmoe higher by 2.0e-3, coefficients within 8e-4 (flexmix's sds 0.6%
larger; exact-ML EM started from flexmix's solution lands on skmoe's,
-103.330239). Per expert, both collapse an expert onto the duplicated points
(y = 3.5 + x): flexmix's sd goes to 7e-16 and its log-likelihood to +294,
without a warning; skmoe's sd stops at its floor (1e-3 sd(y), 0.0022), its
log-likelihood at -41.6, and it warns that the expert collapsed. Needs
Rscript with flexmix; exits otherwise.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from skmoe import MoERegressor

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = {"crossing": 2, "duplicated": 3}  # data set: number of experts
VARIANCES = ["tied", "per_expert"]


def data(kind, seed=0):
    """Column (x,) and y; 2000 rows for "crossing", 60 + 12 for "duplicated"."""
    n = 2000 if kind == "crossing" else 60
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, n)
    first = rng.uniform(size=n) < 0.5
    y = np.where(first, 2.0 * x, 1.0 - x) + 0.5 * rng.normal(size=n)
    if kind == "duplicated":
        x = np.concatenate([x, np.repeat([0.5, 1.5], 6)])
        y = np.concatenate([y, np.repeat([4.0, 5.0], 6)])
    return x[:, None], y


def flexmix(X, y, n_experts, variance_type):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        np.savetxt(
            csv, np.column_stack([y, X]), delimiter=",", header="y,x", comments=""
        )
        script = os.path.join(HERE, "tied_variance_fit.R")
        out = subprocess.run(
            ["Rscript", script, csv, str(n_experts), variance_type],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    fields = dict(item.split("=") for item in out.split())

    def floats(key):
        return np.array(fields[key].split(","), dtype=float)

    n_warnings = int(fields["warnings"])
    return {
        "loglik": float(fields["loglik"]),
        "p": int(fields["df"]),
        "bic": float(fields["bic"]),
        "intercepts": floats("intercepts"),
        "slopes": floats("slopes"),
        "sds": floats("sds"),
        "priors": floats("priors"),
        "seconds": float(fields["seconds"]),
        "converged": fields["converged"] == "1",
        "warnings": [f"{n_warnings} R warnings"] if n_warnings else [],
    }


def skmoe(X, y, n_experts, variance_type):
    reg = MoERegressor(
        n_experts=n_experts,
        gate="constant",
        variance_type=variance_type,
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
    order = np.argsort(reg.expert_coef_[:, 0])
    n_features = X.shape[1]
    p = reg._n_parameters()
    expected_p = n_experts - 1 + n_experts * (n_features + 1) + 1
    if variance_type == "per_expert":
        expected_p += n_experts - 1  # K variances instead of one
    assert p == expected_p, (p, expected_p)
    bic = reg.bic(X, y)
    expected = -2 * reg.log_likelihood_ + p * np.log(len(y))
    assert np.isclose(bic, expected, rtol=0, atol=1e-6), (bic, expected)
    logits = reg.gate_intercept_ - np.max(reg.gate_intercept_)
    priors = np.exp(logits) / np.sum(np.exp(logits))
    return {
        "loglik": reg.log_likelihood_,
        "p": p,
        "bic": bic,
        "intercepts": reg.expert_intercept_[order],
        "slopes": reg.expert_coef_[order, 0],
        "sds": np.sqrt(reg.expert_variance_[order]),
        "priors": priors[order],
        "seconds": seconds,
        "converged": reg.converged_,
        "n_iter": reg.n_iter_,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }


def numbers(values, digits=5):
    return ", ".join(f"{v:.{digits}g}" for v in values)


def main():
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: this comparison needs R with flexmix")
    print(
        "| data | variance | fit | loglik | p | BIC | intercepts | slopes on x "
        "| noise sd | priors | seconds | warned |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    notes, messages = [], []
    for kind, n_experts in KINDS.items():
        X, y = data(kind)
        for variance in VARIANCES:
            results = {
                "flexmix": flexmix(X, y, n_experts, variance),
                "skmoe": skmoe(X, y, n_experts, variance),
            }
            for name, r in results.items():
                print(
                    f"| {kind} | {variance} | {name} | {r['loglik']:.6f} | "
                    f"{r['p']} | {r['bic']:.4f} | {numbers(r['intercepts'])} | "
                    f"{numbers(r['slopes'])} | {numbers(r['sds'], 4)} | "
                    f"{numbers(r['priors'], 4)} | {r['seconds']:.2f} | "
                    f"{'yes' if r['warnings'] else 'no'} |"
                )
                messages += [f"{kind}/{variance}/{name}: {w}" for w in r["warnings"]]
            f, s = results["flexmix"], results["skmoe"]
            gap = max(
                np.max(np.abs(f["intercepts"] - s["intercepts"])),
                np.max(np.abs(f["slopes"] - s["slopes"])),
            )
            n, factor = len(y), X.shape[1] + 1
            if variance == "tied":
                factor /= n_experts
            notes.append(
                f"{kind}/{variance}: skmoe - flexmix loglik "
                f"{s['loglik'] - f['loglik']:+.2e}, largest coefficient gap "
                f"{gap:.1e}, flexmix sd / skmoe sd {numbers(f['sds'] / s['sds'])} "
                f"(flexmix's divisor: {np.sqrt(n / (n - factor)):.5f}); "
                f"skmoe n_iter={s['n_iter']} converged={s['converged']}, "
                f"flexmix converged={f['converged']}"
            )
    print()
    print("\n".join(notes))
    if messages:
        print()
        print("\n".join(messages))


if __name__ == "__main__":
    main()
