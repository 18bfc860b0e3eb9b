"""gate_features / expert_features against R flexmix's concomitant variables.

    python benchmarks/concomitant_flexmix.py

Data: z ~ U(-2, 2) decides the regime (z > 0), y = 2 x + 1 or -1.5 x - 1 plus noise
0.5, and three noise columns; 2000 rows. flexmix fits ``y ~ x`` with
``concomitant = FLXPmultinom(~ z)`` (best of 5 random starts, tolerance 1e-10);
skmoe fits ``MoERegressor(2, gate_features=[z], expert_features=[x], alpha=0)``
(maximum likelihood, as flexmix), and the model on all columns for comparison.
Both report the total log-likelihood and the number of parameters; the same model
should reach the same optimum. Needs Rscript with flexmix; exits otherwise.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from skmoe import MoERegressor

HERE = os.path.dirname(os.path.abspath(__file__))


def data(n=2000, seed=0):
    rng = np.random.RandomState(seed)
    z = rng.uniform(-2, 2, n)
    x = rng.normal(size=n)
    y = np.where(z > 0, 2 * x + 1, -1.5 * x - 1) + 0.5 * rng.normal(size=n)
    return np.column_stack([z, x, rng.normal(size=(n, 3))]), y


def main():
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: this comparison needs R with flexmix")
    X, y = data()
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "data.csv")
        header = "y,z,x,a,b,c"
        np.savetxt(
            csv, np.column_stack([y, X]), delimiter=",", header=header, comments=""
        )
        start = time.perf_counter()
        out = subprocess.run(
            ["Rscript", os.path.join(HERE, "concomitant_fit.R"), csv],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        r_seconds = time.perf_counter() - start
    print(f"flexmix (5 starts, {r_seconds:.1f} s with R's start-up): {out}")
    options = dict(alpha=0.0, tol=1e-10, n_init=5, random_state=0)
    for name, extra in [
        (
            "skmoe, gate on z, experts on x",
            dict(gate_features=[0], expert_features=[1]),
        ),
        ("skmoe, all five columns for both", {}),
    ]:
        start = time.perf_counter()
        model = MoERegressor(2, **options, **extra).fit(X, y)
        seconds = time.perf_counter() - start
        slopes = np.sort(model.expert_coef_[:, 1])
        print(
            f"{name} ({seconds:.1f} s): loglik={model.log_likelihood_:.6f} "
            f"parameters={model._n_parameters()} "
            f"gate_slope={np.ptp(model.gate_coef_[:, 0]):.3f} "
            f"slopes={np.round(slopes, 5)} "
            f"sigmas={np.round(np.sort(np.sqrt(model.expert_variance_)), 5)} "
            f"BIC={model.bic(X, y):.2f}"
        )


if __name__ == "__main__":
    main()
