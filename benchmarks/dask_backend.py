"""Grid search and restarts on a Dask cluster through joblib's Dask backend.

Needs ``dask`` and ``distributed`` (not dependencies of skmoe)::

    pip install "dask[array]" distributed
    python benchmarks/dask_backend.py

Runs the same grid search and the same restarts serially and on a ``LocalCluster``
of two worker processes, and prints both results and the largest difference.
"""

import time

import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from skmoe import MoERegressor
from skmoe._demo import make_regimes


def _fits(X, y, n_jobs):
    start = time.perf_counter()
    search = GridSearchCV(
        MoERegressor(random_state=0), {"n_experts": [2, 3, 4]}, cv=3, n_jobs=n_jobs
    ).fit(X, y)
    model = MoERegressor(3, n_init=4, n_jobs=n_jobs, random_state=0).fit(X, y)
    return search, model, time.perf_counter() - start


def main():
    X, y = make_regimes(3000)
    serial_search, serial_model, serial_s = _fits(X, y, None)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster), joblib.parallel_backend("dask"):
        search, model, dask_s = _fits(X, y, -1)
    scores = search.cv_results_["mean_test_score"]
    serial_scores = serial_search.cv_results_["mean_test_score"]
    print(f"serial: best {serial_search.best_params_}, {serial_s:.1f} s")
    print(f"dask:   best {search.best_params_}, {dask_s:.1f} s")
    gap = np.abs(scores - serial_scores).max()
    print(f"largest difference of the grid's scores: {gap:.1e}")
    difference = np.abs(model.predict(X) - serial_model.predict(X)).max()
    print(f"largest difference of the restarts' predictions: {difference:.1e}")


if __name__ == "__main__":
    main()
