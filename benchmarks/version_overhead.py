"""Ordinary fits and predicts of this tree's skmoe against older commits'.

    python benchmarks/version_overhead.py 59be748 9735174 d729893 --rounds 7

Each commit's ``skmoe`` (``git archive``) is imported under its own name
(``skmoe_<rev>``) beside the working tree's, in one process, and every workload
runs the versions in turn, round after round (the order reversed every other
round), on the same data. The table gives each version's best CPU time
(``time.process_time``), the working tree's time over each older one's,
``n_iter_`` (a different count is a different optimum path, not a slowdown:
compare ms per iteration then) and whether the predictions are bitwise the
same. Run it with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``.
"""

import argparse
import hashlib
import importlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_regression

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_versions(revs):
    """``{label: module}``: the working tree's skmoe, then each rev's, renamed."""
    sys.path.insert(0, ROOT)
    mods = {"HEAD": importlib.import_module("skmoe")}
    tmp = tempfile.mkdtemp(prefix="skmoe_versions_")
    for rev in revs:
        blob = subprocess.run(
            ["git", "-C", ROOT, "archive", rev, "skmoe"],
            capture_output=True,
            check=True,
        ).stdout
        name = f"skmoe_{rev}"
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(os.path.join(tmp, rev), filter="data")
        os.rename(os.path.join(tmp, rev, "skmoe"), os.path.join(tmp, name))
        sys.path.insert(0, tmp)
        mods[rev] = importlib.import_module(name)
    return mods


def data():
    rng = np.random.default_rng(0)
    Xs, ys = make_regression(2000, 5, noise=5.0, random_state=0)
    ys = ys + 40 * np.sign(Xs[:, 0])
    Xl, yl = make_regression(20000, 10, noise=5.0, random_state=1)
    yl = yl + 40 * np.sign(Xl[:, 0]) * Xl[:, 1]
    Xd, yd = load_digits(return_X_y=True)
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = (Xb - Xb.mean(0)) / Xb.std(0)
    Xp = rng.normal(size=(1500, 4))
    mu = np.exp(0.5 * Xp[:, 0] + np.where(Xp[:, 1] > 0, 0.8, -0.3))
    yp = rng.poisson(mu).astype(float)
    yg = rng.gamma(3.0, mu / 3.0)
    Xa, ya = make_regression(600, 3, noise=3.0, random_state=2)
    ya = ya + 30 * np.sign(Xa[:, 0])
    return {
        "small": (Xs, ys), "large": (Xl, yl), "digits": (Xd, yd),
        "cancer": (Xb, yb), "poisson": (Xp, yp), "gamma": (Xp, yg), "auto": (Xa, ya),
    }  # fmt: skip


# name: (estimator, data, parameters)
FITS = {
    "reg 2000x5 K=3": ("MoERegressor", "small", {"n_experts": 3}),
    "reg 20000x10 K=4": ("MoERegressor", "large", {"n_experts": 4}),
    "clf digits K=4": ("MoEClassifier", "digits", {"n_experts": 4}),
    "clf cancer K=3": ("MoEClassifier", "cancer", {"n_experts": 3}),
    "poisson 1500x4 K=2": ("MoEPoissonRegressor", "poisson", {"n_experts": 2}),
    "gamma 1500x4 K=2": ("MoEGammaRegressor", "gamma", {"n_experts": 2}),
    "reg auto 600x3": ("MoERegressor", "auto", {"n_experts": "auto"}),
    "reg tol=0 30 it 2000x5 K=3": (
        "MoERegressor", "small", {"n_experts": 3, "tol": 0, "max_iter": 30},
    ),
    "reg tol=0 30 it 20000x10 K=4": (
        "MoERegressor", "large", {"n_experts": 4, "tol": 0, "max_iter": 30},
    ),
    "clf tol=0 30 it digits K=4": (
        "MoEClassifier", "digits", {"n_experts": 4, "tol": 0, "max_iter": 30},
    ),
}  # fmt: skip
# name: (fit whose model predicts, method, rows)
PREDICTS = {
    f"{method} {rows} row{'s' * (rows > 1)} ({fit})": (fit, method, rows)
    for rows in (1, 10000)
    for fit, method in [
        ("reg 2000x5 K=3", "predict"),
        ("clf digits K=4", "predict_proba"),
        ("clf cancer K=3", "predict"),
    ]
}


#: CPU time of this process: single-threaded BLAS (OMP_NUM_THREADS=1) on a shared
#: machine, where wall time counts the other processes' turns on the cores
clock = time.process_time


def digest(a):
    return hashlib.sha1(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


def n_iter(model):
    return int(np.max(model.n_iter_))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("revs", nargs="+", help="older commits to compare with")
    p.add_argument("--rounds", type=int, default=7, help="best of this many")
    p.add_argument("--only", default="", help="comma-separated substrings of names")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    mods = load_versions(a.revs)
    labels = list(mods)
    D = data()
    keep = [s for s in a.only.split(",") if s]

    def wanted(name):
        return not keep or any(s in name for s in keep)

    rows = []
    models = {}
    for name, (est, key, params) in FITS.items():
        X, y = D[key]
        best = dict.fromkeys(labels, np.inf)
        rounds = a.rounds if X.shape[0] < 10000 and params["n_experts"] != "auto" else 3
        for r in range(rounds if wanted(name) else 1):
            for label in labels if r % 2 == 0 else labels[::-1]:
                model = getattr(mods[label], est)(random_state=0, **params)
                t = clock()
                model.fit(X, y)
                best[label] = min(best[label], clock() - t)
                models[name, label] = model
        if wanted(name):
            its = {lab: n_iter(models[name, lab]) for lab in labels}
            out = {lab: digest(models[name, lab].predict(X)) for lab in labels}
            rows.append((name, best, its, out))
    for name, (fit, method, n) in PREDICTS.items():
        if not wanted(name):
            continue
        X = D[FITS[fit][1]][0]
        Xr = np.resize(X, (n, X.shape[1]))
        inner = 300 if n == 1 else 5
        best = dict.fromkeys(labels, np.inf)
        for r in range(a.rounds):
            for label in labels if r % 2 == 0 else labels[::-1]:
                f = getattr(models[fit, label], method)
                t = clock()
                for _ in range(inner):
                    f(Xr)
                best[label] = min(best[label], (clock() - t) / inner)
        out = {lab: digest(getattr(models[fit, lab], method)(Xr)) for lab in labels}
        rows.append((name, best, dict.fromkeys(labels, ""), out))

    head = ["workload", "HEAD ms (n_iter)"]
    for rev in a.revs:
        head += [f"{rev} ms (n_iter)", f"HEAD/{rev}"]
    head.append("same output")
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for name, best, its, out in rows:

        def cell(lab, best=best, its=its):
            it = f" ({its[lab]})" if its[lab] != "" else ""
            return f"{1e3 * best[lab]:.3f}{it}"

        cells = [name, cell("HEAD")]
        for rev in a.revs:
            cells += [cell(rev), f"{best['HEAD'] / best[rev]:.3f}"]
        cells.append(
            "/".join("y" if out[rev] == out["HEAD"] else "n" for rev in a.revs)
        )
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
