"""Bad input to PredictiveMixture, the displays and the command line gets a clear
error in scikit-learn's words, and far-out inputs get finite, exact answers."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import special, stats

from skmoe import (
    MoERegressor,
    PredictiveGammaMixture,
    PredictiveMixture,
    PredictiveNegativeBinomialMixture,
    PredictivePoissonMixture,
    PredictiveStudentTMixture,
)
from skmoe.__main__ import main
from skmoe.plotting import (
    ConvergenceDisplay,
    ExpertUsageDisplay,
    GateDisplay,
    PredictionBandsDisplay,
)
from skmoe.plotting._utils import input_grid

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def regression_1d():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.1 * rng.randn(200)
    return X, y, MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)


# --- PredictiveMixture.ppf where the scales are below the spacing of the means


def test_ppf_of_components_narrower_than_the_float_spacing():
    # the spacing of floats at 1e16 is 2: a scale of 0.1 makes each component a
    # step, and the bracket's margin of 1e-3 scale rounded away (NaN quantiles)
    dist = PredictiveMixture([[0.5, 0.5]], [[1e16, 1e16 + 64]], [[0.1, 0.1]])
    # each tail quantile is one component's (the other is 640 scales away),
    # rounded to the nearest float; the median is the midpoint, by symmetry
    low = 1e16 + 0.1 * stats.norm.ppf(0.2)
    high = (1e16 + 64) + 0.1 * stats.norm.ppf(0.8)
    assert (low, high) == (1e16, 1e16 + 64)
    np.testing.assert_array_equal(
        dist.ppf([[0.1], [0.5], [0.9]])[:, 0], [low, 1e16 + 32, high]
    )
    np.testing.assert_array_equal(np.ravel(dist.interval(0.8)), [low, high])
    np.testing.assert_array_equal(dist.median(), [1e16 + 32])


def test_ppf_is_the_float_nearest_a_bisected_root():
    # two overlapping components of scale 0.5 a single float spacing (2) apart:
    # the exact quantile 1e16 + d, with d bisected here on the mixture's cdf in
    # units where d is exact, rounds to 1e16 or to 1e16 + 2
    weights, scale = np.array([0.3, 0.7]), 0.5
    dist = PredictiveMixture([weights], [[1e16, 1e16 + 2]], [[scale, scale]])

    def cdf(d):
        return np.sum(weights * stats.norm.cdf([d, d - 2], scale=scale))

    q = np.array([0.05, 0.2, 0.5, 0.8, 0.95])
    expected = []
    for target in q:
        low, high = -10.0, 12.0
        for _ in range(100):
            mid = (low + high) / 2
            low, high = (mid, high) if cdf(mid) < target else (low, mid)
        assert abs(low - 1) > 0.05  # not a tie between the two floats
        expected.append(1e16 + (2.0 if low > 1 else 0.0))
    assert len(set(expected)) == 2  # both floats occur
    np.testing.assert_array_equal(dist.ppf(q[:, None])[:, 0], expected)


def test_ppf_of_means_far_apart_and_of_tiny_scales():
    dist = PredictiveMixture([[0.5, 0.5]], [[-1e300, 1e300]], [[1.0, 1.0]])
    # -1e300 + norm.ppf(0.2) is -1e300 in floats; the median 0 by symmetry
    expected = [-1e300 + stats.norm.ppf(0.2), 0.0, 1e300 + stats.norm.ppf(0.8)]
    np.testing.assert_array_equal(dist.ppf([[0.1], [0.5], [0.9]])[:, 0], expected)
    # the bracket is wider than the largest float
    dist = PredictiveMixture([[0.5, 0.5]], [[-1.7e308, 1.7e308]], [[1e300, 1e300]])
    np.testing.assert_allclose(
        dist.ppf([[0.1], [0.9]])[:, 0],
        [-1.7e308 + 1e300 * stats.norm.ppf(0.2), 1.7e308 + 1e300 * stats.norm.ppf(0.8)],
        rtol=1e-15,
    )
    for scale in [1e-20, 1e-300]:
        dist = PredictiveMixture([[0.5, 0.5]], [[0.0, 1.0]], [[scale, scale]])
        quantiles = dist.ppf([[0.1], [0.25], [0.5], [0.75], [0.9]])[:, 0]
        # the components are 1 / scale scales apart: each tail is one of them
        np.testing.assert_allclose(
            quantiles[[0, 1, 3, 4]],
            [scale * stats.norm.ppf(0.2), 0.0, 1.0, 1.0 + scale * stats.norm.ppf(0.8)],
            rtol=1e-12,
            atol=1e-12 * scale,
        )
        np.testing.assert_allclose(quantiles[2], 0.5, rtol=1e-12)


def test_ppf_of_a_fitted_model_far_from_zero():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (300, 1))
    y = 1e15 + np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.1 * rng.randn(300)
    dist = MoERegressor(2, random_state=0).fit(X, y).predict_distribution(X[:3])
    low, high = dist.interval(0.9)
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    # the ends are the 5% and 95% quantiles: the cdf summed from scipy's normal
    # cdf is within a float spacing (0.125 at 1e15) of them
    for end, q in [(low, 0.05), (high, 0.95)]:
        cdf = lambda y: np.sum(  # noqa: E731
            dist.weights * stats.norm.cdf(y[:, None], dist.means, dist.scales), axis=1
        )
        assert np.all(cdf(np.nextafter(end, -np.inf)) <= q)
        assert np.all(cdf(np.nextafter(end, np.inf)) >= q)


# --- PredictiveMixture: n_samples and values that are not numbers


@pytest.fixture
def mixture():
    return PredictiveMixture(
        [[0.3, 0.7], [1.0, 0.0]], [[-2.0, 1.5], [0.0, 9.0]], [[0.5, 1.2], [2.0, 1.0]]
    )


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, None, "3"])
def test_sample_needs_a_positive_int(mixture, n_samples):
    message = (
        r"The 'n_samples' parameter of PredictiveMixture.sample must be an int in "
        r"the range \[1, inf\)"
    )
    with pytest.raises(ValueError, match=message):
        mixture.sample(n_samples, random_state=0)
    with pytest.raises(TypeError, match=message):  # InvalidParameterError is both
        mixture.sample(n_samples, random_state=0)


def test_sample_takes_numpy_ints(mixture):
    draws = mixture.sample(np.int64(3), random_state=0)
    assert draws.shape == (3, 2)
    np.testing.assert_array_equal(draws, mixture.sample(3, random_state=0))


@pytest.mark.parametrize("method", ["logpdf", "pdf", "cdf"])
@pytest.mark.parametrize("y", [None, "a", [None, 1.0], np.array(["1", "2"])])
def test_densities_need_numeric_y(mixture, method, y):
    # None became NaN: a NaN density, silently
    with pytest.raises(TypeError, match="y must be numeric array-like"):
        getattr(mixture, method)(y)


def test_quantiles_need_numeric_q(mixture):
    with pytest.raises(TypeError, match="q must be numeric array-like"):
        mixture.ppf(None)
    with pytest.raises(TypeError, match="q must be numeric array-like"):
        mixture.ppf("0.5")
    with pytest.raises(TypeError, match="confidence must be numeric array-like"):
        mixture.interval(None)
    # numbers in a list or an object array still go
    np.testing.assert_allclose(
        mixture.cdf(np.array([0.5, 1], dtype=object)),
        [
            0.3 * stats.norm.cdf(0.5, -2, 0.5) + 0.7 * stats.norm.cdf(0.5, 1.5, 1.2),
            stats.norm.cdf(1, 0, 2),
        ],
        rtol=1e-12,
    )


PARAMETERS = {
    PredictiveMixture: ("weights", "means", "scales"),
    PredictiveStudentTMixture: ("weights", "means", "scales", "df"),
    PredictivePoissonMixture: ("weights", "rates"),
    PredictiveNegativeBinomialMixture: ("weights", "rates", "dispersions"),
    PredictiveGammaMixture: ("weights", "means", "shapes"),
}


@pytest.mark.parametrize("bad", [1.5 + 0.5j, "1.5", None])
@pytest.mark.parametrize(
    "Mixture, name",
    [(m, name) for m, names in PARAMETERS.items() for name in names],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_constructors_need_real_numbers(Mixture, name, bad):
    # a complex value lost its imaginary part with NumPy's warning, a numeric
    # string was read as its number, and None became NaN
    good = {"weights": [[0.25, 0.75]], "df": [[3.0, 5.0]]}
    values = {n: good.get(n, [[1.5, 2.0]]) for n in PARAMETERS[Mixture]}
    Mixture(**values)  # well-formed
    values[name] = [[bad, 2.0]] if name != "weights" else [[bad, 0.75]]
    with pytest.raises(TypeError, match=f"{name} must be numeric array-like"):
        Mixture(**values)


def test_constructors_take_one_hot_boolean_weights_and_numbers_in_objects():
    dist = PredictivePoissonMixture(np.array([[False, True]]), [[2.0, 3.0]])
    np.testing.assert_array_equal(dist.weights, [[0.0, 1.0]])
    np.testing.assert_allclose(dist.pmf(1), stats.poisson.pmf(1, 3.0), rtol=1e-14)
    dist = PredictiveMixture(
        np.array([[0.5, 0.5]], dtype=object), [[-1, 1]], [[1, np.int8(2)]]
    )
    np.testing.assert_allclose(
        dist.cdf(0.0), (stats.norm.cdf(1) + stats.norm.cdf(-0.5)) / 2, rtol=1e-14
    )


# --- displays


# 1: one point drew an empty map and an invisible curve
@pytest.mark.parametrize("grid_resolution", [-5, 0, 1, 2.5, "10", None])
def test_displays_need_a_positive_int_grid_resolution(regression_1d, grid_resolution):
    X, y, reg = regression_1d
    for display, name in [
        (GateDisplay, "GateDisplay"),
        (PredictionBandsDisplay, "PredictionBandsDisplay"),
    ]:
        with pytest.raises(
            ValueError,
            match=rf"'grid_resolution' parameter of {name}.from_estimator must be "
            r"an int in the range \[2, inf\)",
        ):
            display.from_estimator(reg, X, grid_resolution=grid_resolution)


@pytest.mark.parametrize("expert", [1.5, "0", -1, np.nan])
def test_gate_display_needs_an_int_expert(regression_1d, expert):
    X, _, reg = regression_1d
    with pytest.raises(
        ValueError, match=r"'expert' parameter of GateDisplay.from_estimator must be"
    ):
        GateDisplay.from_estimator(reg, X, expert=expert)


def test_gate_display_expert_beyond_the_experts(regression_1d):
    X, _, reg = regression_1d
    with pytest.raises(
        ValueError,
        match=r"'expert' parameter of GateDisplay.from_estimator .* \[0, 2\) or None",
    ):
        GateDisplay.from_estimator(reg, X, expert=2)
    display = GateDisplay.from_estimator(reg, X, grid_resolution=10)
    with pytest.raises(TypeError, match="'expert' parameter of GateDisplay.plot"):
        display.plot(expert=1.0)


@pytest.mark.parametrize("eps", [np.nan, np.inf, -1.0, "0.1"])
def test_gate_display_needs_a_finite_non_negative_eps(regression_1d, eps):
    X, _, reg = regression_1d
    with pytest.raises(
        ValueError, match=r"'eps' parameter of GateDisplay.from_estimator must be"
    ):
        GateDisplay.from_estimator(reg, X, eps=eps)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"coverage": "0.9"}, "coverage"),
        ({"coverage": np.nan}, "coverage"),
        ({"coverage": 1.0}, "coverage"),
        ({"band": "iqr"}, "band"),
        ({"band": "std", "n_std": np.nan}, "n_std"),
        ({"band": "std", "n_std": -2.0}, "n_std"),
        ({"band": "std", "n_std": "2"}, "n_std"),
    ],
)
def test_prediction_bands_parameters(regression_1d, params, name):
    X, y, reg = regression_1d
    with pytest.raises(
        ValueError,
        match=rf"'{name}' parameter of PredictionBandsDisplay.from_estimator must be",
    ):
        PredictionBandsDisplay.from_estimator(reg, X, y, **params)


def test_prediction_bands_y_must_fit_x(regression_1d):
    X, y, reg = regression_1d
    with pytest.raises(
        ValueError, match=r"inconsistent numbers of samples: \[200, 5\]"
    ):
        PredictionBandsDisplay.from_estimator(reg, X, y[:5])
    with pytest.raises(ValueError, match=r"y should be a 1d array.*\(200, 2\)"):
        PredictionBandsDisplay.from_estimator(reg, X, np.c_[y, y])
    with pytest.raises(ValueError, match="numeric"):
        PredictionBandsDisplay.from_estimator(reg, X, np.array(["a"] * 200))
    # a column of y is y
    display = PredictionBandsDisplay.from_estimator(
        reg, X, y[:, None], grid_resolution=10
    )
    np.testing.assert_array_equal(display.scatter_.get_offsets(), np.c_[X, y])


def test_grid_over_a_range_beyond_the_largest_float():
    # (1e308 - -1e308) / 4 overflowed in np.linspace: NaN points, then "Input X
    # contains NaN" from the model although X has none
    X = np.array([[-1e308], [1e308]])
    points, (axis,) = input_grid(X, 1, 5, 0.0)
    np.testing.assert_array_equal(axis, [-1e308, -5e307, 0.0, 5e307, 1e308])
    np.testing.assert_array_equal(points[:, 0], axis)
    biggest = np.finfo(float).max
    _, (axis,) = input_grid(np.array([[-biggest], [biggest]]), 1, 3, 0.0)
    np.testing.assert_array_equal(axis, [-biggest, 0.0, biggest])
    with pytest.raises(ValueError, match=r"eps=1e\+308 on each side overflows"):
        input_grid(np.array([[0.0], [biggest]]), 1, 3, 1e308)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_gate_display_over_a_range_beyond_the_largest_float():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(100, 1))
    y = X[:, 0] + 0.1 * rng.randn(100)
    reg = MoERegressor(2, gate="constant", random_state=0).fit(X, y)
    display = GateDisplay.from_estimator(
        reg, np.array([[-1e308], [1e308]]), grid_resolution=5
    )
    grid = 1e308 * np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(display.grid[0], grid)
    np.testing.assert_allclose(display.gate, reg.predict_gate(grid[:, None]))
    # a constant gate: the softmax of the fitted intercepts, everywhere
    expected = special.softmax(np.ravel(reg.gate_intercept_))
    np.testing.assert_allclose(display.gate, np.tile(expected, (5, 1)))


# --- python -m skmoe demo


@pytest.mark.parametrize("seed", ["-1", "99999999999", "4294967296", "abc"])
def test_demo_random_state_out_of_range_is_a_usage_error(seed, capsys, monkeypatch):
    import skmoe._demo

    monkeypatch.setattr(skmoe._demo, "run_demo", pytest.fail)  # never reached
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--random-state", seed])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "argument --random-state" in err
    assert "Traceback" not in err


def test_demo_random_state_bounds_are_accepted(monkeypatch):
    import skmoe._demo

    seen = []
    monkeypatch.setattr(
        skmoe._demo, "run_demo", lambda random_state: seen.append(random_state)
    )
    assert main(["demo", "--random-state", "0"]) == 0
    assert main(["demo", "--random-state", str(2**32 - 1)]) == 0
    assert seen == [0, 2**32 - 1]


def test_version_flag_prints_the_version(capsys):
    import skmoe

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"skmoe {skmoe.__version__}\n"


def test_displays_refuse_bools_for_numbers():
    # an Interval takes True for 1: expert=True added an axis to the gate and
    # failed inside matplotlib; grid_resolution=True drew a one-point grid
    from sklearn.utils._param_validation import InvalidParameterError

    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (100, 1))
    y = np.where(X[:, 0] > 0, X[:, 0], -X[:, 0]) + 0.1 * rng.randn(100)
    model = MoERegressor(2, random_state=0).fit(X, y)
    for params in ({"expert": True}, {"grid_resolution": True}, {"eps": False}):
        with pytest.raises(InvalidParameterError, match="not a bool"):
            GateDisplay.from_estimator(model, X, **params)
    with pytest.raises(InvalidParameterError, match="not a bool"):
        PredictionBandsDisplay.from_estimator(model, X, y, band="std", n_std=True)


def test_prediction_bands_need_one_input_feature():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 2))
    y = X[:, 0] + 0.1 * rng.normal(size=60)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    with pytest.raises(
        ValueError,
        match=r"PredictionBandsDisplay draws one input feature; the estimator "
        r"expects 2\.",
    ):
        PredictionBandsDisplay.from_estimator(reg, X, y)
    plt.close("all")


@pytest.mark.parametrize(
    "measures, name",
    [
        (([0.5, 0.5], [1.0]), "top1_share"),
        (([0.5, 0.3, 0.2], [0.6, 0.4, 0.0], [1.0]), "responsibility_share"),
        (([0.5, 0.5], [0.6, 0.4, 0.0]), "top1_share"),
        (([[0.5, 0.5]], [[0.6, 0.4]]), "mean_gate"),
        ((0.5, 0.5), "mean_gate"),
    ],
)
def test_expert_usage_display_needs_one_value_per_expert(measures, name):
    # a top-1 share of one value was drawn for every expert, a bar of 1.0 beside
    # each mean gate of 0.5 (matplotlib's bar broadcasts it)
    mean_gate, top1_share, *share = measures
    display = ExpertUsageDisplay(
        mean_gate, top1_share, responsibility_share=share[0] if share else None
    )
    with pytest.raises(ValueError, match=f"{name} should hold one value per expert"):
        display.plot()


def test_expert_usage_display_draws_each_measure_once_per_expert():
    display = ExpertUsageDisplay(
        [0.5, 0.3, 0.2], [0.6, 0.4, 0.0], responsibility_share=[0.45, 0.35, 0.2]
    ).plot()
    heights = {k: [b.get_height() for b in v] for k, v in display.bars_.items()}
    assert heights == {
        "mean gate": [0.5, 0.3, 0.2],
        "top-1 share": [0.6, 0.4, 0.0],
        "responsibility share": [0.45, 0.35, 0.2],
    }


@pytest.mark.parametrize(
    "history, shape",
    [(np.ones((3, 2)), (3, 2)), ([[1.0, 2.0, 3.0]], (1, 3)), (3.0, ())],
    ids=["2d", "one-row-2d", "scalar"],
)
def test_convergence_display_needs_one_value_per_iteration(history, shape):
    # a 2-D history drew one line per column, then failed unpacking them,
    # a scalar on len(); now refused before any figure is made
    display = ConvergenceDisplay(history)
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match=rf"one value per iteration.*{shape}"):
        display.plot()
    assert plt.get_fignums() == figures


def test_convergence_display_draws_a_hand_built_history():
    history = [-10.0, -4.0, -3.5]
    display = ConvergenceDisplay(history, xlabel="step").plot()
    np.testing.assert_array_equal(display.line_.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(display.line_.get_ydata(), history)
    assert display.ax_.get_xlabel() == "step"


@pytest.mark.parametrize("ax", ["abc", 1, np.zeros(2)], ids=["str", "int", "array"])
def test_displays_need_matplotlib_axes(ax):
    # each raised AttributeError "'str' object has no attribute 'figure'"
    displays = [
        ConvergenceDisplay([-3.0, -2.0]),
        ExpertUsageDisplay([0.5, 0.5], [0.6, 0.4]),
        GateDisplay([np.linspace(0.0, 1.0, 3)], np.full((3, 2), 0.5)),
        PredictionBandsDisplay(*np.ones((4, 3))),
    ]
    for display in displays:
        with pytest.raises(TypeError, match="ax must be a matplotlib Axes or None"):
            display.plot(ax=ax)
    # subplots' axes are taken, and drawn on
    _, ax = plt.subplots()
    assert ConvergenceDisplay([-3.0, -2.0]).plot(ax=ax).ax_ is ax


@pytest.mark.parametrize(
    "grid, gate, message",
    [
        (
            [np.linspace(0, 1, 5)],
            np.full(5, 0.5),
            r"\(5, n_experts\); got shape \(5,\)",
        ),
        ([np.linspace(0, 1, 5)], np.full((5, 2, 2), 0.5), r"got shape \(5, 2, 2\)"),
        ([np.linspace(0, 1, 5)], np.full((4, 2), 0.5), r"got shape \(4, 2\)"),
        (
            [np.linspace(0, 1, 3), np.linspace(0, 1, 4)],
            np.full((3, 4, 2), 0.5),
            r"\(4, 3, n_experts\); got shape \(3, 4, 2\)",
        ),
        ([np.linspace(0, 1, 3)] * 3, np.full((3, 2), 0.5), "1 or 2 features"),
        ([np.ones((3, 2))], np.full((3, 2), 0.5), "each a 1d array"),
    ],
    ids=["1d-gate", "3d-gate-one-feature", "short-gate", "transposed", "3-grids", "2d"],
)
def test_gate_display_needs_the_gate_laid_out_on_the_grid(grid, gate, message):
    # a 1-D gate raised NumPy's "too many indices for array" after making a
    # figure; a 3-D one over one feature drew two curves per expert
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        GateDisplay(grid, gate).plot()
    assert plt.get_fignums() == figures


def test_gate_display_draws_a_hand_built_gate():
    x, y = np.linspace(0, 1, 3), np.linspace(0, 1, 4)
    gate = np.stack([np.add.outer(y, x) / 2, 1 - np.add.outer(y, x) / 2], axis=-1)
    display = GateDisplay([x, y], gate).plot(expert=0)
    np.testing.assert_allclose(display.surface_.get_array().reshape(4, 3), gate[..., 0])
    curve = GateDisplay([x], np.stack([x, 1 - x], axis=1)).plot()
    np.testing.assert_allclose(curve.lines_[1].get_ydata(), 1 - x)


@pytest.mark.parametrize(
    "curves, data, message",
    [
        ((1.0, 1.0, 1.0, 1.0), {}, r"x should be a 1d array of points; got shape \(\)"),
        ((np.ones((5, 2)),) * 4, {}, r"x should be a 1d array"),
        ((np.ones(5), np.ones(3), np.ones(5), np.ones(5)), {}, r"mean should .*\(3,\)"),
        ((np.ones(5),) * 3 + (np.ones((5, 1)),), {}, r"upper should .*\(5, 1\)"),
        ((np.ones(5),) * 4, {"y": np.ones(5)}, "got None for 5"),
        ((np.ones(5),) * 4, {"X": np.ones(2), "y": np.ones(5)}, "got 2 for 5"),
    ],
    ids=["scalars", "2d", "short-mean", "column-upper", "y-without-X", "short-X"],
)
def test_prediction_bands_display_needs_curves_of_one_length(curves, data, message):
    # scalars raised NumPy's "too many indices for array" from within
    # matplotlib, after making a figure
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        PredictionBandsDisplay(*curves, **data).plot()
    assert plt.get_fignums() == figures


def test_prediction_bands_display_draws_hand_built_curves():
    x = np.linspace(0.0, 1.0, 4)
    display = PredictionBandsDisplay(x, x**2, x**2 - 1, x**2 + 1, X=x, y=x).plot()
    np.testing.assert_array_equal(display.line_.get_ydata(), x**2)
    np.testing.assert_array_equal(display.scatter_.get_offsets(), np.c_[x, x])
