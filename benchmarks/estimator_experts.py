"""Experts that are scikit-learn estimators (``expert_estimator``): held-out
scores against the single estimator and the built-in experts, EM with and
without the mended M-step (``ExpertFamily.keep_better``), and the cost of an EM
iteration against the K weighted fits it must make (one process, ratios).

    python benchmarks/estimator_experts.py
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import skmoe.experts.estimator as estimator_module
from skmoe import MoEClassifier, MoERegressor


def steps(n, seed):
    """y piecewise constant in x0 (three levels) where x1 < 0, two levels where
    x1 >= 0: two depth-2 trees, one per side, fit it; one depth-2 tree cannot."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    left = np.where(X[:, 0] < -1, 2.0, np.where(X[:, 0] < 1, -1.0, 4.0))
    right = np.where(X[:, 0] < 0, 6.0, 0.0)
    y = np.where(X[:, 1] < 0, left, right) + 0.1 * rng.randn(n)
    return X, y


def _cv(model, X, y, cv, scoring):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_validate(model, X, y, cv=cv, scoring=scoring)
    means = [float(np.mean(scores[f"test_{name}"])) for name in scoring]
    return means, time.perf_counter() - start


def held_out_regression():
    """5-fold CV R^2: a tree, tree experts and linear experts."""
    X_steps, y_steps = steps(2000, 0)
    X_diabetes, y_diabetes = load_diabetes(return_X_y=True)
    rows = []
    for name, X, y in [
        ("steps", X_steps, y_steps),
        ("diabetes", X_diabetes, y_diabetes),
    ]:
        cv = KFold(5, shuffle=True, random_state=0)
        for depth in (2, 4):
            tree = DecisionTreeRegressor(max_depth=depth, random_state=0)
            models = {
                f"DecisionTreeRegressor(max_depth={depth})": tree,
                f"MoE, 3 experts of depth {depth}": MoERegressor(
                    3, expert_estimator=tree, n_init=2, random_state=0
                ),
            }
            for label, model in models.items():
                (r2,), seconds = _cv(
                    make_pipeline(StandardScaler(), model), X, y, cv, ["r2"]
                )
                rows.append((name, label, r2, seconds))
        linear = MoERegressor(3, n_init=2, random_state=0)
        (r2,), seconds = _cv(make_pipeline(StandardScaler(), linear), X, y, cv, ["r2"])
        rows.append((name, "MoE, 3 linear experts", r2, seconds))
    return rows


def held_out_classification():
    """5-fold stratified CV accuracy and log-loss."""
    rows = []
    for name, load in [
        ("iris", load_iris),
        ("wine", load_wine),
        ("breast cancer", load_breast_cancer),
    ]:
        X, y = load(return_X_y=True)
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
        models = {
            "DecisionTreeClassifier(max_depth=2)": DecisionTreeClassifier(
                max_depth=2, random_state=0
            ),
            "MoE, 3 experts DecisionTreeClassifier(max_depth=2)": MoEClassifier(
                3,
                expert_estimator=DecisionTreeClassifier(max_depth=2),
                n_init=2,
                random_state=0,
            ),
            "LogisticRegression()": LogisticRegression(),
            "MoE, 2 experts LogisticRegression()": MoEClassifier(
                2, expert_estimator=LogisticRegression(), n_init=2, random_state=0
            ),
            "MoE, 2 built-in logistic experts": MoEClassifier(
                2, n_init=2, random_state=0
            ),
        }
        for label, model in models.items():
            (accuracy, log_loss), seconds = _cv(
                make_pipeline(StandardScaler(), model),
                X,
                y,
                cv,
                ["accuracy", "neg_log_loss"],
            )
            rows.append((name, label, accuracy, -log_loss, seconds))
    return rows


def mending(seeds=(0, 1, 2), max_iter=500):
    """Depth-2 tree experts on step data, plain refits against mended M-steps:
    iterations, largest fall of the per-sample objective, final objective."""
    X, y = steps(600, 0)
    rows = []
    for mended in (False, True):
        estimator_module.EstimatorExperts.monotone = not mended  # plain: no mending
        try:
            for seed in seeds:
                model = MoERegressor(
                    2,
                    expert_estimator=DecisionTreeRegressor(max_depth=2),
                    n_init=1,
                    max_iter=max_iter,
                    random_state=seed,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y)
                history = np.asarray(model.objective_history_)
                fall = max(0.0, float(-np.min(np.diff(history), initial=0.0)))
                rows.append(
                    (
                        "mended" if mended else "plain refits",
                        seed,
                        model.n_iter_,
                        model.converged_,
                        fall,
                        float(history[-1]),
                    )
                )
        finally:
            estimator_module.EstimatorExperts.monotone = False
    return rows


def cost(n=20_000, n_experts=4, repeats=3):
    """Seconds per EM iteration against the K weighted fits and K predictions
    an iteration cannot avoid, measured beside it (best of ``repeats``)."""
    X, y = steps(n, 1)
    rows = []
    for label, template in [
        ("DecisionTreeRegressor(max_depth=4)", DecisionTreeRegressor(max_depth=4)),
        ("LinearRegression()", None),
    ]:
        if template is None:
            from sklearn.linear_model import LinearRegression

            template = LinearRegression()
        best_iteration, best_floor = np.inf, np.inf
        for _ in range(repeats):
            runs = {}
            for max_iter in (5, 15):
                model = MoERegressor(
                    n_experts,
                    expert_estimator=template,
                    n_init=1,
                    tol=0,
                    max_iter=max_iter,
                    random_state=0,
                )
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y)
                runs[max_iter] = (time.perf_counter() - start, model.n_iter_)
            (t5, n5), (t15, n15) = runs[5], runs[15]
            best_iteration = min(best_iteration, (t15 - t5) / (n15 - n5))
            weights = np.random.RandomState(0).dirichlet(np.ones(n_experts), size=n).T
            start = time.perf_counter()
            for k in range(n_experts):
                fitted = template.fit(X, y, sample_weight=weights[k])
                fitted.predict(X)
            best_floor = min(best_floor, time.perf_counter() - start)
        rows.append((label, best_iteration, best_floor, best_iteration / best_floor))
    return rows


def main():
    print("Held-out regression (5-fold CV R^2, StandardScaler first)")
    print("| data | model | R^2 | seconds |\n| --- | --- | ---: | ---: |")
    for name, label, r2, seconds in held_out_regression():
        print(f"| {name} | {label} | {r2:.4f} | {seconds:.1f} |")
    print("\nHeld-out classification (5-fold stratified CV, StandardScaler first)")
    print(
        "| data | model | accuracy | log-loss | seconds |\n"
        "| --- | --- | ---: | ---: | ---: |"
    )
    for name, label, accuracy, log_loss, seconds in held_out_classification():
        print(f"| {name} | {label} | {accuracy:.4f} | {log_loss:.4f} | {seconds:.1f} |")
    print("\nMended M-steps (2 depth-2 tree experts, step data, n=600)")
    print(
        "| M-step | seed | iterations | converged | largest fall | final objective |\n"
        "| --- | ---: | ---: | --- | ---: | ---: |"
    )
    for label, seed, n_iter, converged, fall, final in mending():
        print(
            f"| {label} | {seed} | {n_iter} | {converged} | {fall:.3g} | {final:.4f} |"
        )
    print(
        "\nSeconds per EM iteration against K weighted fits + predictions (n=2e4, K=4)"
    )
    print("| expert | EM iteration | K fits + predicts | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for label, iteration, floor, ratio in cost():
        iteration, floor = f"{iteration * 1e3:.1f} ms", f"{floor * 1e3:.1f} ms"
        print(f"| {label} | {iteration} | {floor} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
