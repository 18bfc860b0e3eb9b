"""What keeps fits in several threads at once from changing process-wide state:
skmoe's fits enter no ``warnings.catch_warnings`` and hold their own warnings
per thread."""

import os
import sys
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import skmoe
from skmoe import MoEClassifier, MoERegressor, bootstrap_lrt
from skmoe._init import _distinct_rows, _kmeans_labels

SKMOE_DIR = os.path.dirname(os.path.abspath(skmoe.__file__)) + os.sep


@pytest.fixture
def skmoe_catch_warnings(monkeypatch):
    """The skmoe files that enter ``warnings.catch_warnings``: not thread-safe
    (in Python's default builds), where a fit in another thread left this one's
    filters (an ignored ConvergenceWarning, every warning ignored) or its
    record of warnings (every later warning swallowed) in the process."""
    callers = []

    class Recording(warnings.catch_warnings):
        def __init__(self, *args, **kwargs):
            callers.append(sys._getframe(1).f_code.co_filename)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", Recording)
    yield callers
    # (scikit-learn's input checks enter it too: theirs, not skmoe's)


def _own(callers):
    return sorted({path for path in callers if path.startswith(SKMOE_DIR)})


def _regression(n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1]) + 0.1 * rng.randn(n)
    return X, y


def test_a_fit_from_k_means_on_duplicated_rows(skmoe_catch_warnings):
    # 4 distinct rows, 6 experts: k-means had warned of fewer clusters
    X, y = _regression(4)
    X, y = np.repeat(X, 10, axis=0), np.repeat(y, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the collapsing experts' own warnings
        MoERegressor(6, init_params="kmeans", n_init=1, random_state=0).fit(X, y)
    assert _own(skmoe_catch_warnings) == []


def test_a_warm_refit(skmoe_catch_warnings):
    X, y = _regression()
    model = MoERegressor(2, warm_start=True, random_state=0).fit(X, y)
    skmoe_catch_warnings.clear()  # (the refit's alone)
    model.set_params(alpha=1e-3).fit(X, y)
    assert _own(skmoe_catch_warnings) == []


@pytest.mark.parametrize(
    "model",
    [MoERegressor(2, gate="constant"), MoEClassifier(2, solver="sgd")],
    ids=["online-em", "sgd"],
)
def test_partial_fit(model, skmoe_catch_warnings):
    X, y = _regression()
    if isinstance(model, MoEClassifier):
        y = (y > 0).astype(int)
    model.set_params(random_state=0)
    classes = {"classes": [0, 1]} if isinstance(model, MoEClassifier) else {}
    for start in range(0, 120, 40):
        model.partial_fit(X[start : start + 40], y[start : start + 40], **classes)
    assert _own(skmoe_catch_warnings) == []


def test_a_bootstrap_test(skmoe_catch_warnings):
    X, y = _regression(60)
    model = MoERegressor(n_init=1, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=5 does not converge
        bootstrap_lrt(
            model, X, y, max_experts=2, n_bootstrap=2, significance=0.5, random_state=0
        )
    assert _own(skmoe_catch_warnings) == []


def test_bootstrap_warnings_are_still_summarized():
    # the replicates' own warnings, held per thread, come as one summary: the
    # two fits to the data give theirs (1 and 2 experts stopped at max_iter=2),
    # the 6 fits of the 3 bootstrap samples one between them
    X, y = _regression(60)
    model = MoERegressor(n_init=1, max_iter=2, random_state=0)
    with pytest.warns() as caught:
        bootstrap_lrt(
            model, X, y, max_experts=2, n_bootstrap=3, significance=0.5, random_state=0
        )
    messages = [str(w.message) for w in caught]
    assert sum(m.startswith("solver='em' did not converge") for m in messages) == 2
    summaries = [m for m in messages if "bootstrap samples" in m]
    assert len(summaries) == 1
    assert summaries[0].startswith("The fits of 3 of the 3 bootstrap samples")


def test_held_warnings_are_this_threads_and_nest():
    # another thread's warnings pass (held per thread: a fit in another thread
    # lost its warnings to a bootstrap test's), and an inner hold gives its
    # caller's back to the outer one
    from skmoe._warnings import _held_warnings, _warn_user
    from skmoe.exceptions import SkmoeWarning

    with _held_warnings() as outer:
        with pytest.warns(UserWarning, match="from another thread"):
            thread = threading.Thread(target=_warn_user, args=("from another thread",))
            thread.start()
            thread.join()
        with _held_warnings() as inner:
            _warn_user("inner")
        _warn_user("outer")
    assert outer == [("outer", SkmoeWarning)]  # skmoe's own category
    assert inner == [("inner", SkmoeWarning)]


def test_partial_fit_warns_of_feature_names_once():
    # the model's check that it predicts its batch takes the batch as
    # validated: predict's checks warned again (hidden by catch_warnings)
    X, y = _regression()
    frame = pd.DataFrame(X, columns=["a", "b"])
    model = MoERegressor(2, gate="constant", random_state=0).fit(frame, y)
    with pytest.warns(UserWarning, match="valid feature names") as caught:
        model.partial_fit(X[:40], y[:40])
    assert len([w for w in caught if "feature names" in str(w.message)]) == 1


def test_k_means_on_copies_up_to_rounding_does_not_warn():
    # rows a few ulps apart (0.1 + 0.2 and 0.3) are one point to k-means'
    # distances, which warned of fewer clusters than asked for: the count of
    # distinct rows is on a grid of 1e-4 standard deviations
    x = np.r_[np.repeat([0.3, 1.5], 25), [0.1 + 0.2]]
    X, y = np.c_[x, np.round(2 * x)], np.round(np.sin(3 * x), 1)
    Z = np.c_[X, y]
    assert len(np.unique(Z, axis=0)) == 3
    assert _distinct_rows((Z - Z.mean(0)) / Z.std(0), 3) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = _kmeans_labels(X, y, np.ones(51), 3, np.random.RandomState(0))
    assert labels[0] == labels[50] != labels[25]


def test_distinct_rows_counts_up_to_its_limit():
    rows = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    # sorted: the first 1000 rows are one row, which a strided sample passes
    Z = np.repeat(rows, 1000, axis=0)
    assert [_distinct_rows(Z, k) for k in (1, 2, 3, 5)] == [1, 2, 3, 3]
    # one distinct row among 3000, away from the strided sample's rows
    Z = np.zeros((3000, 2))
    Z[1] = 1.0
    assert _distinct_rows(Z, 2) == 2 and _distinct_rows(Z, 4) == 2
    # -0.0 is 0.0, as k-means' distances have it
    assert _distinct_rows(np.array([[0.0], [-0.0]]), 2) == 1


def test_distinct_rows_block_by_block_agree_with_unique(monkeypatch):
    # the scan of all rows a block at a time (past the strided sample) for
    # sorted data of repeated rows, in blocks of 1 to 9 rows: the count is
    # np.unique's on the grid of 1e-4, up to the limit, and a block with new
    # rows, rows seen before, -0.0 for 0.0 and copies a rounding apart counts
    # each once
    from skmoe import _init

    rng = np.random.RandomState(0)
    checked = 0
    for trial in range(40):
        n_distinct = rng.randint(1, 12)
        pool = rng.randint(-3, 4, size=(n_distinct, 3)).astype(float)
        counts = rng.randint(1, 60 if trial % 2 else 6, size=n_distinct)
        counts[rng.randint(n_distinct)] += 300 * (trial % 2 == 0)  # rare rows
        Z = np.repeat(pool, counts, axis=0)
        Z = Z[np.lexsort(Z.T[::-1])]  # sorted: the strided sample misses rows
        if trial % 3 == 0:  # copies of one row a rounding apart, and -0.0
            Z = Z + rng.choice([0.0, 1e-9, -1e-9], size=Z.shape)
            Z[Z == 0.0] = -0.0
        expected = len(np.unique(np.round(Z, 4) + 0.0, axis=0))
        for at_most in (1, 2, 5, 11, 20):
            truth = min(at_most, expected)
            for rows in (1, 2, 3, 9):
                block = rows * at_most * Z.shape[1]
                monkeypatch.setattr(_init, "DISTINCT_BLOCK", block)
                assert _distinct_rows(Z, at_most) == truth, (trial, at_most, rows)
                checked += Z.shape[0] // (8 * at_most) > 1  # (scanned blocks)
    assert checked > 100


def test_k_means_on_fewer_distinct_rows_than_experts_labels_each_row():
    X, y = _regression(4)
    X, y = np.repeat(X, 10, axis=0), np.repeat(y, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # KMeans' warning of fewer clusters
        labels = _kmeans_labels(X, y, np.ones(40), 6, np.random.RandomState(0))
    # each distinct row its own label, the copies of a row the same one
    assert len(np.unique(labels)) == 4
    assert all(len(np.unique(block)) == 1 for block in labels.reshape(4, 10))
