"""Streaming: online EM (``solver="em"``) against EM on all the rows, and Adam.

Two regimes (y = -2 x0 for x0 < 0, else 3 x0, plus 0.5 x1 and noise 0.3), 20000
training rows streamed in batches of 200 for ``--passes`` passes (the first pass in
order, later ones shuffled; ``--orders`` seeds of the order), 5000 test rows. For
each gate (``"constant"``, ``"gaussian"``), ``MoERegressor(n_experts=2)``:

- ``em``: ``fit`` on all 20000 rows (the reference);
- ``online``: ``partial_fit`` with ``solver="em"``;
- ``sgd``: ``partial_fit`` with ``solver="sgd"`` (constant gate only: the gaussian
  gate is fitted by EM only).

Reports, per method, the largest difference of the sorted expert coefficients
from EM's, the held-out mean log-likelihood less EM's, and the seconds of the
whole stream (or of the fit), all in one process.

    python benchmarks/online_em.py [--passes 3] [--orders 4]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from skmoe import MoERegressor


def regimes(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    slope = np.where(X[:, 0] < 0, -2.0, 3.0)
    return X, slope * X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(n)


def stream(model, X, y, passes, seed, batch=200):
    rng = np.random.RandomState(seed)
    order = np.arange(len(y))
    start = time.perf_counter()
    for _ in range(passes):
        for first in range(0, len(y), batch):
            rows = order[first : first + batch]
            model.partial_fit(X[rows], y[rows])
        order = rng.permutation(len(y))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--orders", type=int, default=4)
    args = parser.parse_args()
    X, y = regimes(20000, 0)
    X_test, y_test = regimes(5000, 1)
    print("gate      method  order  max|coef-em|  heldout-em   seconds")
    for gate in ("constant", "gaussian"):
        start = time.perf_counter()
        em = MoERegressor(2, gate=gate, random_state=0).fit(X, y)
        seconds = time.perf_counter() - start
        reference = em.log_likelihood_samples(X_test, y_test).mean()
        coef = np.sort(em.expert_coef_, axis=0)
        print(f"{gate:9} em      -      {0:11.4f}  {0:10.4f}  {seconds:8.2f}")
        methods = ["online", "sgd"] if gate == "constant" else ["online"]
        for method in methods:
            for seed in range(args.orders):
                solver = "em" if method == "online" else "sgd"
                model = MoERegressor(2, gate=gate, solver=solver, random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    seconds = stream(model, X, y, args.passes, seed)
                error = np.abs(np.sort(model.expert_coef_, axis=0) - coef).max()
                held_out = model.log_likelihood_samples(X_test, y_test).mean()
                print(
                    f"{gate:9} {method:7} {seed:<6} {error:11.4f}  "
                    f"{held_out - reference:10.4f}  {seconds:8.2f}"
                )


if __name__ == "__main__":
    main()
