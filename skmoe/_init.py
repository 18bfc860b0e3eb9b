"""Initial responsibilities for EM restarts."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
from scipy import special
from sklearn.cluster import KMeans
from sklearn.utils import check_array, check_consistent_length, check_random_state
from sklearn.utils.validation import check_non_negative

from ._backend import openmp_threads
from ._warnings import _listed

#: Responsibility given to a sample's initial expert; the rest is spread evenly
#: over the others (R flexmix's start: random labels, posteriors 0.9 / 0.1).
HARD_SHARE = 0.9

#: Elements of the comparisons of a block of rows with the distinct rows found
#: (:func:`_distinct_rows`).
DISTINCT_BLOCK = 2**22

#: Elements of a block of rows of [X, target] while it is standardized for
#: k-means (:func:`_column_average`).
STANDARDIZE_BLOCK = 2**20

#: k-means of more rows than this runs on this many, drawn at random (without
#: replacement, among the rows of positive weight, each with its weight) by the
#: restart's random state, for at most KMEANS_MAX_ITER Lloyd iterations, and
#: labels every row by its nearest center; fewer rows are clustered all, for
#: scikit-learn's 300 iterations at most, as before. k-means of all rows, one
#: thread, float32 [X, y = X0 + noise], K=16 (``python
#: benchmarks/kmeans_sample.py``, one run on a loaded machine, so rough): 10.1 s
#: at 1e6 x 8 (a 1e6-row fit's EM iteration costs 0.2 to 0.4 s), 136 s at 1e6 x
#: 64, 18.9 s at 2e5 x 64; with the sample and the cap 0.69 s at 1e6 x 8 and
#: 1.4 to 3.1 s at D=64 (a reviewer, in one process: 0.49 s and 1.93 s at 1e6
#: rows, 0.31 and 1.31 s at 2e5). The draw and the labelling of 1e6 x 65 take
#: 0.06 and 0.20 s, and the peak memory falls (597 against 992 MB at 1e6 x 64:
#: k-means++ and scikit-learn's tolerance run on the sample). 1e5 rows are 6000
#: to a cluster at K=16; up to them (the test suite, benchmarks at 1e5 rows)
#: fits are unchanged, bit for bit. A rare point (10 rows in 3e5) can be missed
#: by the sample, leaving fewer clusters than experts; EM's random part of the
#: responsibilities separates the experts, as for duplicated points.
KMEANS_ROWS = 100_000

#: Lloyd iterations of k-means of a sample of the rows (KMEANS_ROWS): EM
#: refines the start; k-means of a 1e5-row sample of 1e6 x 65 (K=16) took
#: 7.1 s uncapped (scikit-learn's 300 iterations, unconverged) and 1.1 s capped.
#: Fits from the sample, against all rows (n_init=1, "kmeans", default tol and
#: max_iter; 4e4 rows, a sample of 4000, a harder test than 1e5 of 1e6;
#: 30 seeds): log-likelihood per sample on regimes of K=3 and 8 -0.002 and
#: +0.021 in the mean (EM's optima either way: worst -0.053 and -0.100, best
#: +0.247), on y = X0 + noise -0.00002, a classifier's (4 regimes) -0.001,
#: worst -0.082 (another k-means seed on all rows: -0.001, worst -0.082); the
#: cap changed these by under 0.0003.
KMEANS_MAX_ITER = 30

#: Rows of the standardized [X, y] that agree to this many decimals are one
#: point to the k-means start (a ten-thousandth of a standard deviation).
DISTINCT_DECIMALS = 4

#: Rows of the standardized [X, y] farther than this many (weighted)
#: standard deviations out in some column are left out of the start's
#: k-means and labelled by their nearest center, as are rows of weight under
#: 2**-200 of the largest (:func:`_unplaceable`). Only rows of a weight share
#: below 1 / FAR_OUT**2 (1e-8) can be that far out: three rows of weight 1e-30
#: beside 90 of weight 1, the only ones of some class, stood 5e15 out (6e10 at
#: 1e-20), and k-means' distances (differences of squared norms) lost the
#: other rows' digits: all of them fell in one cluster, on every seed of 10,
#: with scikit-learn's warning of fewer clusters than asked for.
FAR_OUT = 1e4


def initial_responsibilities(
    X,
    target,
    sample_weight,
    n_experts,
    method,
    random_state,
    groups=None,
    one_thread=True,
) -> np.ndarray:
    """Soft responsibilities (n_samples, n_experts) for one EM restart.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,) or (n_samples, n_outputs) or None
        The target as numbers (one-hot for classes); k-means clusters ``[X,
        target]``. Not read by ``"random"`` (None there).
    sample_weight : ndarray of shape (n_samples,)
        Samples with zero weight take no part in the initialization, so that a zero
        weight is the same as leaving the sample out.
    n_experts : int
    method : {"kmeans", "ranks", "random"}
        ``"kmeans"`` labels by k-means on the standardized ``[X, target]``
        (above :data:`KMEANS_ROWS` rows, k-means of a random sample of them,
        every row labelled by its nearest center; rows of a negligible
        weight that k-means cannot place, :data:`FAR_OUT`, labelled so too);
        ``"ranks"`` the same on the ranks of ``target`` alone, without X
        (:func:`_ranks`), and gives each sample wholly to its expert
        (:data:`HARD_SHARE` is for the others): a Gaussian or Student's t
        regressor's extra restart where :func:`spread_ratio` is large, a Gamma
        regressor's where :func:`log_separation` is;
        ``"random"`` draws a random label for each sample.
    random_state : numpy.random.RandomState
    groups : Groups or None
        Rows that share one expert: ``"random"`` draws a label per group,
        ``"kmeans"`` gives a group the label most of its rows get.
    one_thread : bool
        Run k-means with one OpenMP thread, as NumPy fits run BLAS (see
        :func:`~skmoe._backend.openmp_threads`); a fit on another namespace (a
        GPU's) passes False, and k-means, which runs on the host, uses every
        core: on an H200 machine's 16 host cores a 1e6 x 8, K=16 fit's first
        iteration took 3.7 s against 9.3 s with one thread.
    """
    n_samples = X.shape[0]
    labels = np.zeros(n_samples, dtype=np.intp)
    active = sample_weight > 0
    if n_experts > 1:
        if method in ("kmeans", "ranks"):
            every = bool(np.all(active))  # no copy of X where all rows take part
            weight = sample_weight if every else sample_weight[active]
            part = target if every else target[active]
            if method == "ranks":  # y's ranks alone: a feature of no use split
                # far-apart regimes by its values (see _ranks)
                part, X = _ranks(part, weight), X[:, :0]
            labels[active] = _kmeans_labels(
                X if every else X[active],
                part,
                weight,
                n_experts,
                random_state,
                one_thread,
            )
            if groups is not None:  # each group its rows' most common label
                counts = np.zeros((groups.n_groups, n_experts))
                np.add.at(counts, (groups.codes[active], labels[active]), 1)
                labels = np.argmax(counts, axis=1)[groups.codes]
        elif groups is not None:  # a label for each group of positive weight
            drawn = np.zeros(groups.n_groups, dtype=np.intp)
            kept = active[groups.first]
            drawn[kept] = random_state.randint(n_experts, size=int(kept.sum()))
            labels = drawn[groups.codes]
        else:
            labels[active] = random_state.randint(n_experts, size=int(active.sum()))
    # "ranks": no share of the others' rows, which on another scale can drag
    # an expert's start (see _ranks)
    share = HARD_SHARE if n_experts > 1 and method != "ranks" else 1.0
    resp = np.full(
        (n_samples, n_experts), (1 - share) / max(n_experts - 1, 1), dtype=X.dtype
    )
    resp[np.arange(n_samples), labels] = share
    return resp


def _kmeans_labels(X, target, sample_weight, n_experts, random_state, one_thread=True):
    # one copy of [X, target] in their float dtype, standardized in place (the
    # former chain of column_stack, astype and arithmetic held about 4 copies
    # of X at once; a float64 copy of a float32 X held the start's peak of a
    # 1e5 x 50 float32 fit at 105.8 MB against float64's 125.9, 65.0 in float32);
    # "ranks" (float64, no X) stays float64: in float32 its k-means broke ties
    # otherwise, 21 of 50 starts' labels and 3 of 12 fits' n_iter_ changed
    target = np.reshape(target, (X.shape[0], -1))
    dtype = np.result_type(X.dtype, target.dtype, np.float32)
    Z = np.empty((X.shape[0], X.shape[1] + target.shape[1]), dtype=dtype)
    Z[:, : X.shape[1]] = X
    Z[:, X.shape[1] :] = target
    # each column in units of its largest value first: squares of targets of
    # 1e155 overflowed, and k-means saw no target
    rows = max(1, STANDARDIZE_BLOCK // Z.shape[1])
    scale = np.zeros(Z.shape[1])
    for start in range(0, Z.shape[0], rows):
        np.maximum(scale, np.max(np.abs(Z[start : start + rows]), axis=0), out=scale)
    Z /= np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    mean = _column_average(Z, sample_weight, rows)
    Z -= mean
    std = np.sqrt(_column_average(Z, sample_weight, rows, square=True))
    std = np.where(std > 0, std, 1.0)
    Z /= std
    # how far out each column can reach: its values were within 1 of 0
    reach = np.where(np.isfinite(scale), 1.0 + np.abs(mean), np.inf) / std
    # duplicated points can leave fewer distinct points than experts: as many
    # clusters as points (KMeans warns of fewer clusters than asked for, and
    # warnings.catch_warnings, which hid that, is not thread-safe); EM copes,
    # the random part of the responsibilities separates the experts
    fit_rows, fit_weight = Z, sample_weight
    left_out = _unplaceable(Z, sample_weight, reach)
    if Z.shape[0] > KMEANS_ROWS or left_out is not None:
        # k-means of a random sample of the rows, then every row labelled by
        # its nearest center (KMEANS_ROWS); of the rows it can place alone
        # (FAR_OUT), the others labelled so
        random_state = check_random_state(random_state)
        drawn = sample_weight > 0
        drawn = np.flatnonzero(drawn if left_out is None else drawn & ~left_out)
        if drawn.shape[0] > KMEANS_ROWS:
            drawn = np.sort(random_state.choice(drawn, KMEANS_ROWS, replace=False))
        fit_rows, fit_weight = Z[drawn], sample_weight[drawn]
    n_clusters = _distinct_rows(fit_rows, n_experts)
    kmeans = KMeans(
        n_clusters=n_clusters, n_init=1, random_state=random_state, copy_x=False
    )
    if Z.shape[0] > KMEANS_ROWS:
        kmeans.set_params(max_iter=KMEANS_MAX_ITER)
    if left_out is not None:  # (the squares of rows 4e155 out overflowed)
        np.clip(Z, -FAR_OUT, FAR_OUT, out=Z)
    with openmp_threads() if one_thread else nullcontext():
        kmeans.fit(fit_rows, sample_weight=fit_weight)
        return kmeans.labels_ if fit_rows is Z else kmeans.predict(Z)


def _unplaceable(Z, sample_weight, reach):
    """The rows (bool, (n,)) of the standardized ``Z`` that the start's
    k-means cannot place, or None where there are none: those more than
    ``FAR_OUT`` standard deviations out in some column, whose squared norms
    drown the other rows' distances, and those of weight under 2**-200 of
    the largest, whose products with squared distances underflowed in
    k-means++ (rows of weight 1e-310 beside rows of weight 1 left fewer
    clusters than asked for, with scikit-learn's warning; as in
    :func:`log_separation`). Both are of a negligible share of the weight.
    Only the columns whose ``reach``, a bound on their values' sizes, is
    beyond ``FAR_OUT`` are read, and in them only the rows of weight under
    2 / FAR_OUT**2 of the sum, a block of rows at a time: a row's weight
    times its squared distance is part of the weighted variance, so no
    heavier row can be that far out (the 2 for the sums' rounding). A pass
    over Z took 0.1 to 0.3 s at 1e6 x 9, a seventh of the start's time; a
    column of values far from 0 beside their spread (1e3 + 1e-3 noise)
    passes the bound, and reading each such column of every row took 16 ms
    at 1e6 x 9 (0.54 s for 32 of 33 columns, 28% of the start)."""
    far = np.zeros(Z.shape[0], dtype=bool)
    columns = np.flatnonzero(reach > FAR_OUT)
    if columns.shape[0] > 0:
        can = sample_weight < np.sum(sample_weight) * (2.0 / FAR_OUT**2)
        rows = max(1, STANDARDIZE_BLOCK // Z.shape[1])
        for start in range(0, Z.shape[0], rows):  # blocks with such rows
            if np.any(can[start : start + rows]):
                part, out = Z[start : start + rows], far[start : start + rows]
                for column in columns:
                    out |= np.abs(part[:, column]) > FAR_OUT
        far &= can
    with np.errstate(under="ignore"):
        light = sample_weight < np.max(sample_weight) * 2.0**-200
    far |= light & (sample_weight > 0)  # (rows of weight 0: k-means' as before)
    return far if np.any(far) else None


def _ranks(target, sample_weight):
    """Each column of ``target`` as the weighted mid-ranks of its values (the
    weight below a value and half the weight at it; tied values share one),
    for the ``"ranks"`` start: k-means on ``y`` itself splits a regime of
    wide spread and merges narrow ones far from it (three regimes of 100
    rows at means 0, 10 and 1000, standard deviations 1, 3 and 100: the
    fit ended 90 nats below the true parameters), where ranks give each
    regime its share of the axis. k-means clusters the ranks alone: on
    ``[X, ranks]`` a feature of pure noise split the regimes in 1 fit of 10.
    The 0.05 shares that a start gives each sample's other experts are
    left out too: 100 rows at 1000 gave the experts of 0 and 10 means near
    50 and 60 and standard deviations near 220, and EM merged them."""
    target = np.reshape(target, (target.shape[0], -1))
    ranks = np.empty(target.shape, dtype=np.float64)
    for column in range(target.shape[1]):
        values, inverse = np.unique(target[:, column], return_inverse=True)
        at = np.bincount(
            np.ravel(inverse), weights=sample_weight, minlength=len(values)
        )
        ranks[:, column] = (np.cumsum(at) - at / 2)[np.ravel(inverse)]
    return ranks


#: The ``"ranks"`` restart is added to a Gaussian or Student's t
#: regressor's restarts where the spreads of ``y`` in ``n_experts`` bins of
#: equal weight (its quantiles) differ, largest to smallest standard
#: deviation, by this many times what the same bins of a normal distribution
#: give (:func:`spread_ratio`).
#: Regimes of means 0 and 1000 (sds 1 and 100), and 0, 10 and 1000 (sds 1, 3
#: and 100), with or without a feature, scored 36 to 118 on 10 seeds; the
#: diabetes target 0.7 to 1.8 (K=2 to 8), make_regression's and the
#: benchmarks' regimes up to 2.2 (K up to 16), regimes of sds 0.5, 1 and 20
#: with features 7, Student's t of 3 degrees of freedom up to 7.9 (K=16), a
#: lognormal (sigma 1) 7 to 18 at K=2 to 4 and 11 to 46 at K=8 and 16.
SPREAD_RATIO = 20.0


def spread_ratio(target, sample_weight, n_experts) -> float:
    """How far the spreads of ``target`` (one column) differ across
    ``n_experts`` bins of equal weight: the largest standard deviation in a
    bin over the smallest, divided by the same ratio for a normal
    distribution's bins (the extreme bins of a normal distribution are wider
    than its middle ones: 2.2 times at 3 bins, 9 at 16). Regimes of spreads
    that differ by orders of magnitude score in the tens to hundreds, where
    k-means of ``y`` splits the wide regime and merges narrow ones.
    A row of weight ``w`` fills the interval ``[c - w, c]`` of the cumulative
    weight ``c`` and gives each bin the part of ``w`` that falls in it, as
    ``w`` repeated rows of weight 1 would (integer ``sample_weight`` is
    repeated rows): a row given wholly to the bin of its midpoint moved a
    row of weight 3 across an edge, 21.46 against 19.74 for its repeats.
    Returns 0 where a bin has no spread (ties), fewer than 2 bins, or fewer
    than ``2 * n_experts`` distinct values of positive weight."""
    y = np.ravel(target)
    weight = np.asarray(sample_weight, dtype=np.float64)
    active = weight > 0
    y, weight = y[active], weight[active]
    order = np.argsort(y, kind="stable")
    y, weight = y[order].astype(np.float64), weight[order]
    if y.size and not (np.isfinite(y[-1]) and np.isfinite(y[0])):
        return 0.0  # (fit refuses such y first)
    if n_experts < 2 or np.count_nonzero(np.diff(y)) + 1 < 2 * n_experts:
        return 0.0
    # pieces between the rows' ends and the bins' edges: each lies in one row
    # and one bin (at most n + n_experts - 1 of them, some of length 0)
    ends = np.cumsum(weight)
    total = ends[-1]
    edges = total * (np.arange(1, n_experts) / n_experts)
    # an edge goes before the first row end at or after it: it ends a piece
    # of that row, in the bin below the edge
    inside = np.minimum(np.searchsorted(ends, edges), y.shape[0] - 1)
    points = np.insert(ends, inside, edges)
    rows = np.insert(np.arange(y.shape[0]), inside, inside)
    is_edge = np.insert(np.zeros(y.shape[0], dtype=np.intp), inside, 1)
    bins = np.cumsum(is_edge) - is_edge
    part, y = np.diff(points, prepend=0.0), y[rows]
    totals = np.bincount(bins, weights=part, minlength=n_experts)
    if np.any(totals <= 0):
        return 0.0
    # a bin of one value (a heavy row or a run of ties) has no spread: its
    # weighted mean rounds off the value (17 rows of -0.74 in 2 bins: 4.6e15)
    held = part > 0
    low = np.full(n_experts, np.inf)
    high = np.full(n_experts, -np.inf)
    np.minimum.at(low, bins[held], y[held])
    np.maximum.at(high, bins[held], y[held])
    if not np.all(low < high):
        return 0.0
    # each bin's values, then their differences from its mean, in units of a
    # power of two near their largest (exactly the same ratio): a Gamma
    # amount of 1e200 overflowed the squares, with NumPy's warnings, and
    # squares of differences of 1e-300 underflowed to 0 (a ratio of 0)
    exponent = np.frexp(np.maximum(np.abs(low), np.abs(high)))[1]
    y = np.ldexp(y, -exponent[bins])
    means = np.bincount(bins, weights=part * y, minlength=n_experts) / totals
    difference = y - means[bins]
    largest = np.zeros(n_experts)
    np.maximum.at(largest, bins[held], np.abs(difference[held]))
    unit = np.frexp(largest)[1]
    squares = np.ldexp(difference, -unit[bins]) ** 2
    spread = np.ldexp(
        np.sqrt(
            np.bincount(bins, weights=part * squares, minlength=n_experts) / totals
        ),
        exponent + unit,
    )
    if not (np.all(np.isfinite(spread)) and np.min(spread) > 0):
        return 0.0
    with np.errstate(over="ignore"):  # spreads of 1e300 and 1e-300: inf
        ratio = np.max(spread) / np.min(spread) / _normal_spread_ratio(n_experts)
    return float(min(ratio, np.finfo(np.float64).max))


#: The Gamma regressor adds the ``"ranks"`` restart where k-means of
#: ``log(y)`` leaves at most 1/this of the share of its variance within
#: clusters that bins of equal probability of a normal distribution leave
#: (:func:`log_separation`). Gamma regimes of shape 25 at means 1, 10 and 1000
#: (100 rows each) scored 38 to 46 on 10 seeds, of shape 4 5.8 to 7.2 (sizes
#: 200/50/50 to 140/140/20: 2.5 and up); single Gamma regimes of shape 0.3 to
#: 5, with or without features, 0.65 to 1.71 on 6000 data sets (K=2 to 4).
LOG_SEPARATION = 2.5


def log_separation(target, sample_weight, n_experts) -> float:
    """How well ``log(target)`` (positive, one column) falls apart into
    ``n_experts`` clusters: the share of its variance that 1-d k-means
    (scikit-learn's, from the bins of equal weight) leaves within clusters,
    as a fraction of the share that the same number of bins of equal
    probability leave for a normal distribution, inverted. A unimodal
    ``log(y)`` scores about 1; regimes of means orders of magnitude apart,
    each narrow on the log scale, score in the tens, and ``inf`` where
    ``log(y)`` has at most ``n_experts`` distinct values. Returns 0 where
    ``log(y)`` has no spread, fewer than 2 experts or rows of positive
    weight, or a target that is not positive and finite."""
    y = np.ravel(target)
    weight = np.asarray(sample_weight, dtype=np.float64)
    active = weight > 0
    y, weight = y[active].astype(np.float64), weight[active]
    if n_experts < 2 or y.size < 2 or not np.all((y > 0) & np.isfinite(y)):
        return 0.0
    # weights scaled by a power of two (exact) to at most 1, so their sum
    # can't overflow; rows under 2**-200 of the largest weight go as of no
    # weight: their products underflowed in k-means, which lost clusters
    weight = np.ldexp(weight, -np.frexp(np.max(weight))[1])
    kept = weight >= 2.0**-200
    y, weight = y[kept], weight[kept]
    # the distinct values of log(y), each of its rows' total weight: ties
    # (and log's) are one point, so k-means has no more clusters than points
    # (sklearn's ConvergenceWarning) and integer weights score as repeated rows
    z, index = np.unique(np.log(y), return_inverse=True)
    weight = np.bincount(index, weights=weight)
    if z.size < 2:
        return 0.0
    weight = weight / np.sum(weight)
    total = np.sum(weight * (z - np.sum(weight * z)) ** 2)
    if not total > 0:
        return 0.0
    if z.size <= n_experts:
        return float(np.inf)  # a cluster for each value: nothing left within
    # k-means from the means of bins of equal weight (each value by its
    # midpoint's cumulative weight), in one OpenMP thread as the starts'
    middle = np.cumsum(weight) - weight / 2
    labels = np.minimum((middle * n_experts).astype(np.intp), n_experts - 1)
    mass = np.bincount(labels, weights=weight, minlength=n_experts)
    centers = np.bincount(labels, weights=weight * z, minlength=n_experts)
    centers = np.unique(centers[mass > 0] / mass[mass > 0])
    if centers.size < 2:
        return 0.0
    kmeans = KMeans(n_clusters=centers.size, init=centers[:, None], n_init=1)
    with openmp_threads():
        kmeans.fit(z[:, None], sample_weight=weight)
    within = kmeans.inertia_ / total
    reference = _normal_within_share(n_experts)
    return float(np.inf) if within <= 0 else float(reference / within)


def _normal_within_share(n_bins) -> float:
    """The share of a standard normal distribution's variance within
    ``n_bins`` bins of equal probability (0.363 at 2 bins, 0.207 at 3)."""
    return float(np.mean(_normal_bin_variances(n_bins)))


def _normal_spread_ratio(n_bins) -> float:
    """The largest over the smallest standard deviation of a standard normal
    distribution in ``n_bins`` bins of equal probability."""
    var = _normal_bin_variances(n_bins)
    return float(np.sqrt(np.max(var) / np.min(var)))


def _normal_bin_variances(n_bins) -> np.ndarray:
    """(n_bins,) the variances of a standard normal distribution within its
    ``n_bins`` bins of equal probability."""
    edges = special.ndtri(np.linspace(0.0, 1.0, n_bins + 1))
    density = np.exp(-(edges**2) / 2) / np.sqrt(2 * np.pi)  # 0 at +-inf
    tail = np.where(np.isfinite(edges), edges, 0.0) * density
    p = 1.0 / n_bins
    mean = (density[:-1] - density[1:]) / p
    return 1 + (tail[:-1] - tail[1:]) / p - mean**2


def _column_average(Z, weights, rows, square=False):
    """``np.average(Z, axis=0, weights=weights)`` (of ``Z**2`` where ``square``)
    bit for bit, from blocks of ``rows`` rows: NumPy sums the rows of a C-ordered
    array one after another, so each block's sum starts from the sum so far.
    ``np.average`` held a weighted copy of ``Z`` (and ``Z**2`` beside it): three
    float64 copies of ``[X, target]`` at once, the peak of a fit at 64 features.
    A single column is summed pairwise, not row after row: ``np.average``'s own.
    The sums are float64 whatever ``Z``'s dtype (a float32 ``Z`` is the start of a
    float32 fit): float32 sums of 1e5 rows (unit weights) of a column 1000 + 0.01
    noise put its mean 2.2 standard deviations off, and k-means missed the two
    clusters of that column (labels agreeing with them on 50.2% of the rows,
    99.9% with float64 sums). Their blocks (8 MB) and the weights are float64."""
    weights = np.asarray(weights, dtype=np.result_type(weights.dtype, np.float64))
    if Z.shape[1] < 2:
        return np.average(Z**2 if square else Z, axis=0, weights=weights)
    weights = np.broadcast_to(weights, (1,) + weights.shape).swapaxes(-1, 0)
    dtype = np.result_type(Z.dtype, weights.dtype)
    scale = weights.sum(axis=0, dtype=dtype)  # np.average's own sum of the weights
    if np.any(scale == 0.0):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    total = stacked = None
    for start in range(0, Z.shape[0], rows):
        part = Z[start : start + rows]
        if square:
            part = part**2
        n_rows = part.shape[0]
        if total is None:
            total = np.multiply(part, weights[start : start + n_rows], dtype=dtype)
            total = total.sum(axis=0)
        else:  # the sum so far, then this block's rows
            if stacked is None:
                stacked = np.empty((rows + 1, Z.shape[1]), dtype=dtype)
            stacked[0] = total
            np.multiply(
                part,
                weights[start : start + n_rows],
                out=stacked[1 : n_rows + 1],
                dtype=dtype,
            )
            total = stacked[: n_rows + 1].sum(axis=0)
    return total / scale


def _distinct_rows(Z, at_most) -> int:
    """The number of distinct rows of the standardized ``Z``, up to
    ``at_most``, on a grid of ``10**-DISTINCT_DECIMALS`` (rows a few ulps
    apart, as 0.1 + 0.2 and 0.3, are one to k-means' distances, and it warned
    of fewer clusters; two on either side of a midpoint of the grid still
    count as two). First among rows spread over Z (sorted data repeats
    its first rows); where those are fewer, the rows found so far are
    compared with every row, a block of rows at a time (``np.unique`` of all
    the rows sorted them: 5.7 s for 1e6 x 21 of 8 distinct rows, 60% of the
    k-means run; the blocks 0.28 s, 11%: ``python
    benchmarks/distinct_rows.py``)."""
    step = max(1, Z.shape[0] // (8 * at_most))
    found = np.unique(np.round(Z[::step], DISTINCT_DECIMALS), axis=0)[:at_most]
    if found.shape[0] >= at_most or step == 1:
        return found.shape[0]
    rows = max(1, DISTINCT_BLOCK // (at_most * Z.shape[1]))
    for start in range(0, Z.shape[0], rows):
        block = np.round(Z[start : start + rows], DISTINCT_DECIMALS)
        seen = np.any(np.all(block[:, None, :] == found[None, :, :], axis=2), axis=1)
        if not np.all(seen):
            new = np.unique(block[~seen], axis=0)[: at_most - found.shape[0]]
            found = np.concatenate([found, new])
            if found.shape[0] >= at_most:
                break
    return found.shape[0]


def check_init_responsibilities(init, n_samples, n_experts, sample_weight, dtype):
    """``fit``'s ``init_responsibilities`` as responsibilities (n_samples,
    n_experts) of ``dtype``, rows summing to 1: integer labels in ``[0,
    n_experts)`` give hard ones (1 on the label, 0 elsewhere), an array of
    ``n_experts`` non-negative columns is divided by its rows' sums (which
    must be positive and finite on the rows of positive ``sample_weight``;
    the others are left out of the fit, and given uniform rows here)."""
    # (an array's own ndim: np.ndim converts, which a GPU array refuses)
    ndim = init.ndim if hasattr(init, "ndim") else np.ndim(init)
    if ndim not in (1, 2):
        # (check_array's "Input should have at least 1 dimension ..." and
        # "Found array with dim 3, while dim <= 2 is required" named nothing)
        raise ValueError(
            "init_responsibilities must be labels of shape (n_samples,) or "
            "responsibilities of shape (n_samples, n_experts); got shape "
            f"{tuple(init.shape) if hasattr(init, 'shape') else np.shape(init)}."
        )
    init = check_array(
        init,
        ensure_2d=False,
        dtype=None,
        ensure_all_finite=True,
        input_name="init_responsibilities",
    )
    if init.ndim == 1:
        if np.issubdtype(init.dtype, np.floating) and not np.all(
            init == np.round(init)
        ):
            # (the dtype alone, "got dtype float64", did not say what was wrong
            # where whole-number floats are accepted)
            fractional = np.unique(init[init != np.round(init)])
            shown = ", ".join(f"{value:.6g}" for value in fractional[:3].tolist())
            more = ", ..." if fractional.shape[0] > 3 else ""
            raise ValueError(
                "init_responsibilities of shape (n_samples,) must be labels of "
                f"the experts, whole numbers in [0, {n_experts}); got "
                f"{fractional.shape[0]} value(s) that are not whole numbers "
                f"({shown}{more}). Pass an array of shape (n_samples, "
                "n_experts) for soft responsibilities."
            )
        if not (
            np.issubdtype(init.dtype, np.integer)
            or np.issubdtype(init.dtype, np.floating)
        ):
            raise ValueError(
                "init_responsibilities of shape (n_samples,) must be integer "
                f"labels of the experts in [0, {n_experts}); got dtype "
                f"{init.dtype}. Pass an array of shape (n_samples, n_experts) "
                "for soft responsibilities."
            )
        check_consistent_length(np.empty(n_samples), init)
        # out of range before the cast, which wraps labels beyond intp (1e30
        # was reported as -9223372036854775808, with NumPy's cast warning)
        bad = np.unique(init[(init < 0) | (init >= n_experts)]).tolist()
        if bad:
            if np.issubdtype(init.dtype, np.floating):  # whole numbers: as ints
                bad = [int(label) if abs(label) < 2**53 else label for label in bad]
            raise ValueError(
                f"init_responsibilities has label(s) {bad} out of range: "
                f"labels must be in [0, {n_experts}) for n_experts={n_experts}."
            )
        resp = np.zeros((n_samples, n_experts), dtype=dtype)
        resp[np.arange(n_samples), init.astype(np.intp)] = 1.0
        return resp
    # (check_array refused 0-d and 3-d arrays)
    init = check_array(init, dtype=np.float64, input_name="init_responsibilities")
    check_consistent_length(np.empty(n_samples), init)
    if init.shape[1] != n_experts:
        raise ValueError(
            f"init_responsibilities has {init.shape[1]} columns, but the model "
            f"is expecting n_experts={n_experts} columns, one per expert."
        )
    check_non_negative(init, "init_responsibilities")
    with np.errstate(over="ignore"):
        totals = init.sum(axis=1)
    empty = ~((totals > 0) & np.isfinite(totals)) & (sample_weight > 0)
    if np.any(empty):
        rows = np.flatnonzero(empty)
        raise ValueError(
            f"init_responsibilities has {rows.size} row(s) of positive weight "
            f"whose sum is 0 or not finite (rows {rows[:10].tolist()}): each "
            "row needs a positive, finite responsibility of some expert."
        )
    resp = np.full((n_samples, n_experts), 1.0 / n_experts)
    kept = (totals > 0) & np.isfinite(totals)
    resp[kept] = init[kept] / totals[kept, None]
    return resp.astype(dtype, copy=False)


def unused_experts_message(start):
    """The text of a warning where a checked start (n_samples, K), on the rows
    of positive weight, gives some expert no responsibility, or None: labels
    0 and 1 for three experts left the third empty, and the fit warned of a
    collapse (its variance at the floor, its gate weight 1e-14) without a
    word of the start."""
    unused = np.flatnonzero(~(start.sum(axis=0) > 0))
    if not unused.size:
        return None
    return (
        f"init_responsibilities gives expert(s) {_listed(unused)} no "
        "responsibility on any row of positive weight: they start empty, and "
        "EM seldom gives such an expert rows back (a warning that it collapsed "
        "or is unused may follow). Give every expert some rows, or use fewer "
        "experts."
    )


def group_average(resp, groups):
    """``resp`` (n_samples, K) with each row replaced by the average of its
    group's rows (``groups``: a :class:`~skmoe._groups.Groups`)."""
    sums = np.zeros((groups.n_groups, resp.shape[1]), dtype=np.float64)
    np.add.at(sums, groups.codes, resp)
    counts = np.bincount(groups.codes, minlength=groups.n_groups)
    return (sums / counts[:, None])[groups.codes].astype(resp.dtype, copy=False)


def possible_start(experts, start, Y, rows):
    """``fit``'s ``init_responsibilities`` (checked; of the rows ``rows`` of
    positive weight) with nothing on experts that cannot have a row (a point
    mass at zero where y is not zero; for a Gamma model, the other experts
    where it is), rows divided by their sums again; raises where a row
    keeps nothing."""
    shape = (start.shape[0], start.shape[1] - experts.n_point_masses)
    possible = experts.start_responsibilities(np.ones(shape, start.dtype), Y) > 0
    start = np.where(possible, start, 0.0)
    totals = start.sum(axis=1)
    empty = rows[totals <= 0]
    if empty.size:
        raise ValueError(
            f"init_responsibilities puts {empty.size} row(s) only on experts "
            f"that cannot have them (rows {empty[:10].tolist()}): the point "
            "mass at zero (column or label 0 with zero_inflated=True) takes "
            "only zeros, and for a Gamma model the other experts take only "
            "positive amounts."
        )
    return start / totals[:, None]
