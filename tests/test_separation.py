"""Zero counts separated from positive ones at alpha=0: the Poisson and negative
binomial likelihoods then have no maximum, and the fit says so."""

import warnings

import numpy as np
import pytest
from scipy.optimize import linprog
from sklearn.linear_model import PoissonRegressor

from skmoe import MoENegativeBinomialRegressor, MoEPoissonRegressor
from skmoe._separation import separating_direction

pd = pytest.importorskip("pandas")

SEPARATED = "separate zero counts from the others"


def _dummy_zeros(seed=0, n=400):
    """Counts of a log-linear model, set to 0 where a dummy feature is 1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    dummy = (rng.random(n) < 0.2).astype(float)
    y = rng.poisson(np.exp(0.5 + 0.3 * x))
    y[dummy == 1] = 0
    return pd.DataFrame({"x": x, "zeros_only": dummy}), y


def _lp_separates(design, y):
    """Independent check: the most negative sum of ``design.T @ b`` over the zero
    counts, with it 0 on the positive counts, at most 0 on the zeros, and b in
    the unit box (one linear program over b, no null space)."""
    positive, zero = design[:, y > 0].T, design[:, y == 0].T
    found = linprog(
        zero.sum(axis=0),
        A_ub=zero,
        b_ub=np.zeros(len(zero)),
        A_eq=positive,
        b_eq=np.zeros(len(positive)),
        bounds=[(-1, 1)] * design.shape[0],
        method="highs",
    )
    return found.fun < -1e-7


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_separated_zero_counts_at_alpha_zero_warn(Estimator):
    X, y = _dummy_zeros()
    with pytest.warns(UserWarning, match=SEPARATED) as caught:
        model = Estimator(n_experts=2, alpha=0, random_state=0).fit(X, y)
    message = next(str(w.message) for w in caught if SEPARATED in str(w.message))
    assert "['zeros_only']" in message  # by the feature's name, and only it
    # the likelihood has no maximum: the dummy's coefficients ran off, as
    # scikit-learn's unpenalized PoissonRegressor's does on the same data
    assert np.all(model.expert_coef_[:, 1] < -10)
    reference = PoissonRegressor(alpha=0, max_iter=1000).fit(X, y)
    assert reference.coef_[1] < -10


@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_zero_counts_not_separated_or_penalized_do_not_warn(Estimator):
    X, y = _dummy_zeros()
    y_mixed = y.copy()
    y_mixed[np.flatnonzero(X["zeros_only"].to_numpy())[0]] = 1  # one count there
    for X_fit, y_fit, alpha in [(X, y_mixed, 0.0), (X, y, 1e-6)]:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=f".*{SEPARATED}")
            model = Estimator(n_experts=2, alpha=alpha, random_state=0)
            model.fit(X_fit, y_fit)
        assert np.all(np.isfinite(model.expert_coef_))


def test_separation_by_a_combination_of_features():
    # categories A, B, C coded (1, 0), (1, 1), (0, 1), zeros only in B: 0 on
    # A and C and negative on B is 1 - d1 - d2, neither feature alone (x1 > x2
    # is no separation: the positive counts must sit on the boundary)
    rng = np.random.default_rng(1)
    category = rng.integers(0, 3, size=300)
    X = np.c_[category <= 1, category >= 1, rng.normal(size=300)].astype(float)
    y = rng.poisson(2.0, size=300)
    y[category == 1] = 0
    with pytest.warns(UserWarning, match=r"features \[0, 1\] separate"):
        MoEPoissonRegressor(n_experts=1, alpha=0).fit(X, y)
    y[np.flatnonzero(category == 1)[0]] = 1
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=f".*{SEPARATED}")
        MoEPoissonRegressor(n_experts=1, alpha=0).fit(X, y)


@pytest.mark.parametrize("seed", range(40))
def test_separating_direction_agrees_with_a_linear_program(seed):
    # small designs, some separated, some not: the direction found satisfies
    # the definition, and None only where the independent program finds none
    rng = np.random.default_rng(seed)
    n, d = rng.integers(4, 12), rng.integers(2, 5)
    design = np.vstack([np.ones(n), rng.integers(-2, 3, size=(d - 1, n))]).astype(float)
    y = rng.poisson(1.0, size=n)
    y[0], y[1] = 0, 1
    direction = separating_direction(design, y, np.ones(n, bool))
    assert (direction is not None) == _lp_separates(design, y)
    if direction is not None:
        along = design.T @ direction
        assert np.allclose(along[y > 0], 0, atol=1e-9)
        assert np.all(along[y == 0] <= 1e-9) and np.min(along) < -1e-3


@pytest.mark.parametrize("size", [1e-3, 1e-6, 1e-9])
def test_a_separating_column_of_small_values_is_found(size):
    # a column nonzero only at some zero counts, of values near 1e-9: its
    # scale is the size of its values there (it was missed where the scale
    # came from the rows of positive counts alone, where it is 0)
    rng = np.random.RandomState(0)
    y = rng.poisson(2.0, 60).astype(float)
    y[:10] = 0
    column = np.zeros(60)
    column[:10] = size * (1 + rng.rand(10))
    design = np.stack([np.ones(60), rng.randn(60), column])
    direction = separating_direction(design, y, np.ones(60, bool))
    assert direction is not None
    assert direction[2] < 0 and direction[1] == 0


def test_separating_direction_uses_only_the_given_rows():
    # the one positive count in the dummy's group has weight 0: separated
    design = np.array([[1.0] * 6, [0, 0, 1, 1, 0, 1], [0.5, 1, 2, -1, 3, 0]])
    y = np.array([1, 2, 0, 4, 3, 0])
    rows = np.ones(6, bool)
    assert separating_direction(design, y, rows) is None
    rows[3] = False
    direction = separating_direction(design, y, rows)
    assert direction is not None and direction[1] < 0 and direction[2] == 0


@pytest.mark.parametrize("setting", [{}, {"top_k": 1}, {"assignment": "hard"}])
def test_separation_within_the_rows_an_expert_fits_warns(setting):
    # zeros where a dummy is 1 in the regime g < 0 only: the data as a whole
    # are not separated (the dummy's counts are positive where g > 0), but the
    # expert of g < 0 fits those rows alone (a gate of slope 1887, top_k=1,
    # hard assignment), and its coefficient ran to -21 to -30 silently
    rng = np.random.default_rng(0)
    g, x = rng.normal(size=2000), rng.normal(size=2000)
    dummy = (rng.random(2000) < 0.15).astype(float)
    rate = np.where(g < 0, np.exp(0.5 + 0.5 * x), np.exp(-0.3 - 0.4 * x + 0.8 * dummy))
    y = rng.poisson(rate)
    y[(g < 0) & (dummy == 1)] = 0
    X = np.c_[g, x, dummy]
    design = np.vstack([np.ones(2000), X.T])
    assert separating_direction(design, y, np.ones(2000, bool)) is None
    assert _lp_separates(design[:, g < 0], y[g < 0])
    model = MoEPoissonRegressor(2, alpha=0, random_state=0, max_iter=300, **setting)
    with pytest.warns(
        UserWarning, match=r"features \[2\] separate .* experts \[\d\] hold"
    ):
        model.fit(X, y)


def test_every_separating_category_is_named_once():
    # 40 rare categories of zero counts only, 360 others: each is a separating
    # direction (one program of least norm named 1 of the 40), a full one-hot
    # coding's columns with the intercept a direction 0 on every row (named
    # all 11 columns of two categoricals)
    rng = np.random.default_rng(1)
    category = rng.integers(0, 400, 20000)
    onehot = np.zeros((20000, 40))
    rare = category < 40
    onehot[rare, category[rare]] = 1
    kind = rng.integers(0, 3, 20000)
    X = np.c_[onehot, np.eye(3)[kind], rng.normal(size=20000)]
    y = rng.poisson(0.3, 20000)
    y[rare] = 0
    design = np.vstack([np.ones(20000), X.T])
    direction = separating_direction(design, y, np.ones(20000, bool))
    assert np.flatnonzero(direction[1:]).tolist() == list(range(40))
    assert np.all(direction[1:41] < 0)


@pytest.mark.parametrize("separated", [True, False])
def test_many_distinct_zero_rows_take_the_subset_path(separated):
    # 5000 zero counts of distinct values along the direction 0 on the
    # positive counts (more than SUBSET_ROWS): the programs run on a subset
    # first, which gives the direction (verified on all rows), or shows that
    # none separates (one zero count on the other side, which the subset
    # takes: the largest of the sorted rows)
    rng = np.random.default_rng(2)
    n = 6000
    X = rng.normal(size=(n, 5))
    y = rng.poisson(2.0, n) + 1
    y[1000:] = 0
    X[:1000, 0] = 0.0  # feature 0 is 0 on the positive counts
    X[1000:, 0] = -np.abs(X[1000:, 0])  # and at most 0 on the zeros
    if not separated:
        X[-1, 0] = 1e-3  # one zero count on the other side
    design = np.vstack([np.ones(n), X.T])
    direction = separating_direction(design, y, np.ones(n, bool))
    if separated:
        assert np.flatnonzero(direction).tolist() == [1] and direction[1] > 0
        assert np.all(X[y > 0] @ direction[1:] == 0)
    else:
        assert direction is None
        assert not _lp_separates(design, y)


def test_a_feature_beside_its_float32_copy_does_not_separate():
    # their difference, about 3e-8 relative, is not 0 on the positive counts
    # (values of 2.4 along the direction found, against a depth of 0.98 on the
    # one zero count): the maximum exists (coefficients of +-79), no warning
    rng = np.random.default_rng(3)
    x = rng.normal(5, 1, 1000)
    X = np.c_[x, x.astype(np.float32).astype(np.float64)]
    y = rng.poisson(np.exp(1.0 + 0.2 * (x - 5))) + 1
    y[0] = 0
    design = np.vstack([np.ones(1000), X.T])
    assert separating_direction(design, y, np.ones(1000, bool)) is None
    assert not _lp_separates(design, y)


def test_a_nearly_null_direction_far_out_on_the_zeros_does_not_separate():
    # x2 - x1 is noise of 1e-5 on the positive counts and -100 on the zeros:
    # the positive rows' Gram matrix has an eigenvalue about 1e-10 of its
    # largest, not 0 to rounding (the null space's threshold is 10 n eps of
    # it); taken as 0, the direction passed the check of its values on the
    # positive counts (1e-5 against a depth of 1, within 1e-6 of 100 times
    # it) and the fit would warn of a maximum that exists
    rng = np.random.default_rng(0)
    n = 60
    x1 = rng.uniform(1, 3, n)
    y = rng.poisson(3.0, n) + 1
    y[:10] = 0
    x2 = x1 + 1e-5 * rng.normal(size=n)
    x2[:10] = x1[:10] - 100.0
    design = np.stack([np.ones(n), x1, x2])
    assert not _lp_separates(design, y)
    assert separating_direction(design, y, np.ones(n, bool)) is None


def test_a_direction_zero_on_the_positive_counts_beside_noise_is_found():
    # x2 - x1 is 0 on every positive count and 0.01 on one zero count of 1000;
    # x3 is 0 on the positive counts with both signs on the zeros. Rotating
    # out the directions 0 on every row left rounding noise that hid it on 5
    # of 6 seeds (HiGHS found no row that could be negative)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n_pos, n_zero = 300, 1000
        n = n_pos + n_zero
        x1 = rng.normal(size=n)
        x2 = x1.copy()
        x2[n_pos + rng.integers(n_zero)] += 1e-2
        x3 = np.r_[np.zeros(n_pos), rng.normal(size=n_zero)]
        y = np.r_[rng.integers(1, 5, n_pos), np.zeros(n_zero, dtype=int)]
        design = np.vstack([np.ones(n), x1, x2, x3])
        direction = separating_direction(design, y, np.ones(n, bool))
        assert direction is not None, seed
        assert np.flatnonzero(direction).tolist() == [1, 2], seed
        assert _lp_separates(design, y)


def test_a_clean_separation_beside_a_rounded_copy_of_a_column_is_found():
    # two positive counts, a category seen only with zeros (column 2), and a
    # column beside its float32-rounded multiple (columns 3 and 4): the
    # rounding noise, magnified 1e8, let the first program count rows that
    # only huge directions make negative, the second one's direction then
    # failed its check, and the clean separation was missed (a QA fuzz: 21
    # of 6000 designs). Its rows, as the fuzz drew them:
    design = np.array(
        [
            [1.0, 0.0, 0.0, -1.0487451875538696e-08, -1.3033700744327585e00],
            [1.0, 0.0, 0.0, -2.5327922141091009e-06, -3.1477288768369471e02],
            [
                1.0,
                0.0,
                4.398240039972956e-05,
                1.2720844484290009e-05,
                1.5809338689139731e03,
            ],
            [
                1.0,
                1.0349823112242394e-07,
                0.0,
                3.0679182949898435e-06,
                3.8127783687146075e02,
            ],
            [1.0, 0.0, 0.0, -6.1274862925848509e-06, -7.6151788487991587e02],
            [
                1.0,
                0.0,
                4.398240039972956e-05,
                5.712746706204861e-06,
                7.0997445315002426e02,
            ],
            [
                1.0,
                1.0349823112242394e-07,
                0.0,
                3.0471861865614635e-07,
                3.7870126855546864e01,
            ],
            [
                1.0,
                1.0349823112242394e-07,
                0.0,
                2.2865281578717011e-06,
                2.8416744135550601e02,
            ],
            [1.0, 0.0, 0.0, 4.4404323664041039e-06, 5.518525100915208e02],
        ]
    ).T
    y = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1])
    assert _lp_separates(design / np.max(np.abs(design), axis=1)[:, None], y)
    direction = separating_direction(design, y, np.ones(9, bool))
    assert direction is not None
    assert np.flatnonzero(direction).tolist() == [2] and direction[2] < 0


def _lp_separates_without(design, y, columns, negative=None):
    """Independent check: whether some ``b`` with ``b_j = 0`` on ``columns``
    (rows of the design) is 0 on the positive counts, at most 0 on the zero
    counts and below 0 on those of ``negative`` (all zero counts by default):
    the feasibility of ``design.T @ b <= -1`` there (one linear program over
    b, no null space)."""
    positive, zero = design[:, y > 0].T, design[:, y == 0].T
    negative = np.ones(len(zero), bool) if negative is None else negative[y == 0]
    found = linprog(
        np.zeros(design.shape[0]),
        A_ub=zero,
        b_ub=np.where(negative, -1.0, 0.0),
        A_eq=positive,
        b_eq=np.zeros(len(positive)),
        bounds=[(0, 0) if j in columns else (None, None) for j in range(len(design))],
        method="highs",
    )
    return found.status == 0


def test_the_named_columns_each_take_part_in_the_separation():
    # one positive count at x = (0, 0), zero counts at x0 of 0.1 to 2: -x0
    # separates every zero count, and feature 1 is 0 on two of them, so that
    # it alone separates none of those. The direction of least L1 norm,
    # -x0 - 0.45 x1, named feature 1 too ("features [0, 1] separate")
    x0 = np.r_[0.0, 0.1, 0.2, np.repeat([1.0, 2.0], 3)]
    x1 = np.r_[0.0, 2.0, 2.0, np.tile([0.0, 1.0, 2.0], 2)]
    y = np.r_[1, np.zeros(8)]
    design = np.stack([np.ones_like(x0), x0, x1])
    assert _lp_separates_without(design, y, {2})  # feature 1 (row 2) left out
    assert not _lp_separates_without(design, y, {1})  # feature 0 is needed
    direction = separating_direction(design, y, np.ones(9, bool))
    assert np.flatnonzero(direction[1:]).tolist() == [0]
    assert direction[1] < 0
    # random separations: each named column needed beside the other named
    # ones, for the zero counts the direction makes negative
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(40):
        X = np.c_[rng.normal(size=60).round(1), rng.integers(0, 3, (60, 2))]
        b = np.r_[rng.integers(-2, 3), rng.integers(-2, 3, 2) * (rng.random(2) < 0.5)]
        X = X[X @ b <= 0]
        y = np.where(X @ b < 0, 0, 1 + rng.poisson(2, len(X)))
        design = np.r_[np.ones((1, len(X))), X.T]
        direction = separating_direction(design, y, np.ones(len(X), bool))
        if direction is None:
            continue
        named = set((np.flatnonzero(direction[1:]) + 1).tolist())
        negative = direction @ design < 0
        assert _lp_separates_without(design, y, {1, 2, 3} - named, negative)
        for j in named:
            left_out = ({1, 2, 3} - named) | {j}
            assert not _lp_separates_without(design, y, left_out, negative)
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("zero_categories", [(2,), (2, 4)])
def test_categories_of_zero_counts_in_a_full_one_hot_coding_are_named(
    zero_categories,
):
    # a full one-hot coding of 6 categories beside the intercept, categories
    # of zero counts only. Their columns alone separate (-1 there, 0
    # elsewhere); the other categories with the intercept give the same
    # values, and were named instead (category 2's column left out while
    # they stood in for it). With two such categories, the first direction
    # takes both columns; left free while one of them was tried out, the
    # other 4 categories with the intercept stood in for it, and the 4
    # columns not separating were named beside one that does (mutation
    # testing: the columns it does not involve held at 0)
    rng = np.random.default_rng(0)
    category = rng.integers(0, 6, 600)
    onehot = (category[:, None] == np.arange(6)).astype(float)
    X = np.c_[rng.normal(size=600), onehot]
    y = rng.poisson(np.exp(0.3 * X[:, 0]))
    zero = np.isin(category, zero_categories)
    y[zero] = 0
    design = np.vstack([np.ones(600), X.T])
    rows = {c + 2 for c in zero_categories}  # (the categories' rows of design)
    assert _lp_separates_without(design, y, set(range(1, 8)) - rows, zero)
    direction = separating_direction(design, y, np.ones(600, bool))
    assert np.flatnonzero(direction[1:]).tolist() == [c + 1 for c in zero_categories]
    assert np.array_equal(direction @ design < 0, zero)


def test_a_category_of_zero_counts_alone_is_needed_without_a_program(monkeypatch):
    # 12 rare categories of zero counts only among 100 (the others not coded):
    # each category's zero counts have no other column beside the intercept,
    # which the positive counts of uncoded categories hold at 0, so each is
    # needed beside the others; the pruning tried each by a linear program
    # (23 more, beside the two that find the direction)
    rng = np.random.default_rng(3)
    category = rng.integers(0, 100, 3000)
    rare = category < 12
    X = np.c_[np.zeros((3000, 12)), rng.normal(size=3000)]
    X[rare, category[rare]] = 1.0
    y = rng.poisson(1.0, 3000)
    y[rare] = 0
    design = np.vstack([np.ones(3000), X.T])
    for j in range(12):  # independently: each needed beside the others
        assert not _lp_separates_without(design, y, {j + 1, 13}, category == j)
    programs = []

    def counted(*args, **kwargs):
        programs.append(1)
        return linprog(*args, **kwargs)

    monkeypatch.setattr("skmoe._separation.linprog", counted)
    direction = separating_direction(design, y, np.ones(3000, bool))
    assert np.flatnonzero(direction[1:]).tolist() == list(range(12))
    assert np.array_equal(direction @ design < 0, rare)
    assert len(programs) == 2  # the rows that can be negative, the least norm


def test_columns_left_out_on_the_subset_keep_a_direction_of_all_rows(monkeypatch):
    # features 0 and 1 are 0 on the positive counts and at most 0 on the
    # zero ones but for one zero count each, which the subset of rows does
    # not take: -x0 - x1 separates all rows, -x0 or -x1 alone only the
    # subset. Left out on the subset, either column gave a direction that
    # failed on all rows, and the programs ran again over all 5000 zero
    # counts (11 programs against 3)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6000, 5))
    y = rng.poisson(2.0, 6000) + 1
    y[1000:] = 0
    X[:1000, :2] = 0.0
    X[1000:, :2] = -np.abs(X[1000:, :2])
    X[3333, 0] = X[3334, 1] = 1e-3
    design = np.vstack([np.ones(6000), X.T])
    ones = np.ones(6000, bool)
    assert _lp_separates_without(design, y, {3, 4, 5}, y == 0)
    for left_out in ({1, 3, 4, 5}, {2, 3, 4, 5}):  # neither feature alone
        assert not _lp_separates_without(design, y, left_out, ones & (y == 0))
    sizes = []

    def counted(c, *args, **kwargs):
        sizes.append(len(c))
        return linprog(c, *args, **kwargs)

    monkeypatch.setattr("skmoe._separation.linprog", counted)
    direction = separating_direction(design, y, ones)
    assert np.flatnonzero(direction[1:]).tolist() == [0, 1]
    assert np.all(direction @ design[:, y == 0] < 0)
    assert max(sizes) < 5000  # no program over all the zero counts' rows
