"""skmoe's std_errors against R flexmix's summary(refit(model)).

    python benchmarks/std_errors_flexmix.py

Three mixtures of two regressions on x ~ U(2, 8) (away from 0, so that the
intercepts' standard errors depend on the features' origin), z ~ U(-2, 2), 600 rows:

- ``constant``: Gaussian experts y = 1 + 2x (sd 1, prior 0.4) and y = 20 - x (sd 2),
  fixed priors (flexmix's default concomitant, skmoe's ``gate="constant"``).
- ``gated``: the same experts (sd 1 both), expert 0 with probability
  1 / (1 + exp(-2 z)): flexmix's ``FLXPmultinom(~ z)``, skmoe's
  ``gate_features=[z], expert_features=[x]``.
- ``poisson``: Poisson experts exp(0.2 + 0.3 x) (prior 0.6) and exp(2.5 - 0.2 x),
  fixed priors.

skmoe fits by maximum likelihood (alpha=0, best of 5 starts, tol 1e-10); flexmix
then starts EM from skmoe's responsibilities (``cluster=``, tolerance 1e-10), and
``refit()`` maximizes the likelihood by optim and inverts the Hessian. The table
gives both sides' estimates and standard errors in flexmix's parameterization:
per component the coefficients and log(sigma) (skmoe's from ``expert_variance_``
by the delta method: se(log sigma) = se(variance) / (2 variance)), and the gate's
log-odds of component 2 against 1 (skmoe: twice the centred coefficients of
expert 1, with twice their standard errors). Needs Rscript with flexmix; exits
otherwise. The notes also give skmoe's standard errors at flexmix's estimates
(the model's attributes set to them), which separates the two sides' numerics
from the gap between their maxima.
"""

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from skmoe import MoEPoissonRegressor, MoERegressor

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ["constant", "gated", "poisson"]


def data(kind, n=600, seed=0):
    """Columns (x,) for "constant" and "poisson", (z, x) for "gated"; y."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(2, 8, n)
    z = rng.uniform(-2, 2, n)
    if kind == "poisson":
        first = rng.uniform(size=n) < 0.6
        y = rng.poisson(np.exp(np.where(first, 0.2 + 0.3 * x, 2.5 - 0.2 * x)))
        return x[:, None], y.astype(float)
    if kind == "constant":
        first = rng.uniform(size=n) < 0.4
        noise = np.where(first, 1.0, 2.0)
    else:
        first = rng.uniform(size=n) < 1 / (1 + np.exp(-2 * z))
        noise = np.ones(n)
    y = np.where(first, 1 + 2 * x, 20 - x) + noise * rng.standard_normal(n)
    X = x[:, None] if kind == "constant" else np.column_stack([z, x])
    return X, y


def skmoe(kind, X, y):
    """skmoe's fit, its responsibilities, and its estimates and standard errors
    in flexmix's parameter names."""
    options = dict(alpha=0.0, tol=1e-10, max_iter=5000, n_init=5, random_state=0)
    if kind == "gated":
        options.update(gate_features=[0], expert_features=[1])
    else:
        options.update(gate="constant")
    Model = MoEPoissonRegressor if kind == "poisson" else MoERegressor
    model = Model(n_experts=2, **options).fit(X, y)
    out, seconds = _in_flexmix_names(model, kind, X, y)
    return model, out, seconds


def _in_flexmix_names(model, kind, X, y):
    """``model``'s estimates and standard errors in flexmix's names, and the
    seconds std_errors took."""
    start = time.perf_counter()
    se = model.std_errors(X, y)
    seconds = time.perf_counter() - start
    x = X.shape[1] - 1  # x is the last column
    out = {}
    for k in range(2):
        prefix = f"model.1_Comp.{k + 1}_"
        out[prefix + "coef.(Intercept)"] = (
            model.expert_intercept_[k],
            se.expert_intercept_[k],
        )
        out[prefix + "coef.x"] = (model.expert_coef_[k, x], se.expert_coef_[k, x])
        if kind != "poisson":
            variance = model.expert_variance_[k]
            out[prefix + "log(sigma)"] = (
                0.5 * np.log(variance),
                se.expert_variance_[k] / (2 * variance),
            )
    if kind == "gated":
        out["concomitant_Comp.2.(Intercept)"] = (
            model.gate_intercept_[1] - model.gate_intercept_[0],
            2 * se.gate_intercept_[1],
        )
        out["concomitant_Comp.2.z"] = (
            model.gate_coef_[1, 0] - model.gate_coef_[0, 0],
            2 * se.gate_coef_[1, 0],
        )
    else:
        out["concomitant_Comp.2.alpha"] = (
            model.gate_intercept_[1] - model.gate_intercept_[0],
            2 * se.gate_intercept_[1],
        )
    return out, seconds


def at_point(model, kind, X, y, params):
    """skmoe's standard errors (flexmix's names) of ``model`` moved to flexmix's
    estimates ``params``: what is left of the gap once both sides evaluate the
    information at the same point."""
    moved = copy.deepcopy(model)
    x = X.shape[1] - 1
    for k in range(2):
        prefix = f"model.1_Comp.{k + 1}_"
        moved.expert_intercept_[k] = params[prefix + "coef.(Intercept)"][0]
        moved.expert_coef_[k, x] = params[prefix + "coef.x"][0]
        if kind != "poisson":
            moved.expert_variance_[k] = np.exp(2 * params[prefix + "log(sigma)"][0])
    if kind == "gated":
        intercept = params["concomitant_Comp.2.(Intercept)"][0]
        moved.gate_coef_[:, 0] = (
            np.array([-0.5, 0.5]) * params["concomitant_Comp.2.z"][0]
        )
    else:
        intercept = params["concomitant_Comp.2.alpha"][0]
    moved.gate_intercept_ = np.array([-0.5, 0.5]) * intercept
    return _in_flexmix_names(moved, kind, X, y)[0]


def flexmix(kind, X, y, posterior):
    with tempfile.TemporaryDirectory() as tmp:
        csv, post = os.path.join(tmp, "data.csv"), os.path.join(tmp, "post.csv")
        header = "y,z,x" if kind == "gated" else "y,x"
        np.savetxt(
            csv, np.column_stack([y, X]), delimiter=",", header=header, comments=""
        )
        np.savetxt(post, posterior, delimiter=",")
        lines = subprocess.run(
            ["Rscript", os.path.join(HERE, "std_errors_fit.R"), csv, post, kind],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    _, loglik, seconds = lines[0].split()
    params = {}
    for line in lines[1:]:
        name, estimate, se = line.split()
        params[name] = (float(estimate), float(se))
    return float(loglik), params, float(seconds)


def main():
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: this comparison needs R with flexmix")
    print(
        "| data | parameter | estimate skmoe | estimate flexmix | se skmoe "
        "| se flexmix | se ratio |\n|---|---|---|---|---|---|---|"
    )
    notes = []
    for kind in KINDS:
        X, y = data(kind)
        model, ours, seconds = skmoe(kind, X, y)
        loglik, theirs, r_seconds = flexmix(kind, X, y, model.responsibilities(X, y))
        same_point = at_point(model, kind, X, y, theirs)
        ratios, same = [], []
        for name, (estimate, se) in ours.items():
            r_estimate, r_se = theirs[name]
            ratios.append(se / r_se)
            same.append(abs(same_point[name][1] / r_se - 1))
            short = name.replace("model.1_", "").replace("concomitant_", "gate ")
            print(
                f"| {kind} | {short} | {estimate:.6f} | {r_estimate:.6f} | "
                f"{se:.6f} | {r_se:.6f} | {se / r_se:.5f} |"
            )
        notes.append(
            f"{kind}: loglik skmoe {model.log_likelihood_:.6f}, flexmix {loglik:.6f}; "
            f"se ratios within [{min(ratios):.5f}, {max(ratios):.5f}], at "
            f"flexmix's estimates within {max(same):.1e} of 1; "
            f"std_errors {seconds:.3f} s, flexmix EM + refit {r_seconds:.2f} s"
        )
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
