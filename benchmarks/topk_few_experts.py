"""Sparse (``top_k=2``) against dense prediction at 4 to 128 experts.

Run: ``OMP_NUM_THREADS=1 python benchmarks/topk_few_experts.py`` (about two
minutes on 2 cores). For a regressor and a 3-class classifier on 2 and 32
features, each model is fitted for two EM iterations (only its size matters),
then both predict 200000 rows; the speed-up is the median of 3 ratios of
(dense, sparse) times taken in turn, each the best of 3 runs. At few experts
routing costs more than it saves, so the ratio is below 1 there.
"""

from __future__ import annotations

import warnings

import numpy as np
from bench_topk import best_time  # (this script's folder is on sys.path)

from skmoe import MoEClassifier, MoERegressor


def main():
    warnings.simplefilter("ignore")  # two iterations: collapse warnings
    rng = np.random.RandomState(0)
    for name, Estimator in [("reg", MoERegressor), ("clf", MoEClassifier)]:
        for n_features in [2, 32]:
            X = rng.normal(size=(2000, n_features))
            y = X[:, 0] * np.sign(X[:, 1]) + 0.1 * rng.normal(size=2000)
            if Estimator is MoEClassifier:
                y = np.digitize(y, [-0.5, 0.5])
            X_new = rng.normal(size=(200_000, n_features))
            for n_experts in [4, 8, 16, 32, 128]:
                models = {
                    top_k: Estimator(
                        n_experts=n_experts,
                        top_k=top_k,
                        n_init=1,
                        max_iter=2,
                        init_params="random",
                        random_state=0,
                    ).fit(X, y)
                    for top_k in (None, 2)
                }
                method = "predict" if Estimator is MoERegressor else "predict_proba"
                dense_predict = getattr(models[None], method)
                sparse_predict = getattr(models[2], method)
                ratios = []
                for _ in range(3):
                    dense = best_time(lambda f=dense_predict, X=X_new: f(X))
                    sparse = best_time(lambda f=sparse_predict, X=X_new: f(X))
                    ratios.append(dense / sparse)
                print(
                    f"{name} D={n_features} K={n_experts}: dense {dense * 1e3:.0f} ms, "
                    f"top_k=2 {sparse * 1e3:.0f} ms, speed-up {np.median(ratios):.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
