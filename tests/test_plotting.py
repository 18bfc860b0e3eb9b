"""skmoe.plotting: what each display draws equals what the model computes."""

import itertools
import os
import subprocess
import sys
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sklearn
from scipy import special, stats
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import TransformedTargetRegressor, make_column_transformer
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skmoe import MoEClassifier, MoERegressor
from skmoe.plotting import (
    ConvergenceDisplay,
    ExpertUsageDisplay,
    GateDisplay,
    PredictionBandsDisplay,
)

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _regimes_1d(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0] - 1) + 0.2 * rng.randn(n)
    return X, y


@pytest.fixture(scope="module")
def regression_1d():
    X, y = _regimes_1d()
    return X, y, MoERegressor(n_experts=3, n_init=2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def classification_2d():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "opposite")
    return X, y, MoEClassifier(n_experts=4, n_init=2, random_state=0).fit(X, y)


def test_importing_plotting_does_not_import_matplotlib():
    code = "import sys, skmoe.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_gate_1d_lines_are_predict_gate_on_the_grid(regression_1d):
    X, _, reg = regression_1d
    display = GateDisplay.from_estimator(reg, X, grid_resolution=50)
    grid = np.linspace(X.min(), X.max(), 50)
    expected = reg.predict_gate(grid[:, None])
    assert len(display.lines_) == reg.n_experts
    for k, line in enumerate(display.lines_):
        np.testing.assert_allclose(line.get_xdata(), grid)
        np.testing.assert_allclose(line.get_ydata(), expected[:, k])
        assert line.get_label() == f"expert {k}"
    assert display.ax_.figure is display.figure_


def test_gate_1d_single_expert_on_given_axes(regression_1d):
    X, _, reg = regression_1d
    _, ax = plt.subplots()
    display = GateDisplay.from_estimator(reg, X, expert=1, ax=ax, grid_resolution=20)
    assert display.ax_ is ax and display.figure_ is ax.figure
    assert len(display.lines_) == 1 and len(ax.get_lines()) == 1
    grid = np.linspace(X.min(), X.max(), 20)[:, None]
    np.testing.assert_allclose(
        display.lines_[0].get_ydata(), reg.predict_gate(grid)[:, 1]
    )
    with pytest.raises(ValueError, match=r"'expert' parameter .* \[0, 3\) or None"):
        display.plot(expert=3)
    n_figures = len(plt.get_fignums())
    for expert in (5, -1):  # one range for both (-1's was [0, inf))
        with pytest.raises(
            ValueError, match=r"GateDisplay.from_estimator must .* \[0, 3\)"
        ):
            GateDisplay.from_estimator(reg, X, expert=expert, grid_resolution=20)
    assert len(plt.get_fignums()) == n_figures  # refused before drawing


@pytest.mark.parametrize("n_features", [1, 2])
def test_gate_of_a_single_expert_is_one(n_features):
    # n_experts="auto" picks one expert on data without regimes; the display
    # refused every such model (an empty range of expert indices)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (200, n_features))
    y = 2 * X[:, 0] + rng.randn(200)
    model = MoERegressor(random_state=0).fit(X, y)
    assert model.n_experts_ == 1
    display = GateDisplay.from_estimator(model, X, grid_resolution=20)
    np.testing.assert_array_equal(display.gate, 1.0)
    GateDisplay.from_estimator(model, X, expert=0, grid_resolution=20)
    with pytest.raises(ValueError, match=r"in the range \[0, 1\)"):
        GateDisplay.from_estimator(model, X, expert=1, grid_resolution=20)


def test_gate_2d_draws_the_dominant_expert(classification_2d):
    X, _, clf = classification_2d
    display = GateDisplay.from_estimator(clf, X, grid_resolution=30, eps=0.1)
    x0 = np.linspace(X[:, 0].min() - 0.1, X[:, 0].max() + 0.1, 30)
    x1 = np.linspace(X[:, 1].min() - 0.1, X[:, 1].max() + 0.1, 30)
    xx0, xx1 = np.meshgrid(x0, x1)
    gate = clf.predict_gate(np.column_stack([xx0.ravel(), xx1.ravel()]))
    drawn = np.asarray(display.surface_.get_array()).reshape(30, 30)
    np.testing.assert_array_equal(drawn, np.argmax(gate, axis=1).reshape(30, 30))
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == [f"expert {k}" for k in range(4)]


def test_gate_2d_single_expert_map(classification_2d):
    X, _, clf = classification_2d
    display = GateDisplay.from_estimator(clf, X, grid_resolution=25, expert=2)
    xx0, xx1 = np.meshgrid(
        np.linspace(X[:, 0].min(), X[:, 0].max(), 25),
        np.linspace(X[:, 1].min(), X[:, 1].max(), 25),
    )
    gate = clf.predict_gate(np.column_stack([xx0.ravel(), xx1.ravel()]))[:, 2]
    np.testing.assert_allclose(np.asarray(display.surface_.get_array()).ravel(), gate)
    assert len(display.figure_.axes) == 2  # the axes and its colorbar


def test_gate_through_a_pipeline_uses_the_raw_input_space():
    X, y = _regimes_1d(n=300)
    X = 10 * X + 50
    pipe = make_pipeline(
        StandardScaler(), MoERegressor(n_experts=2, n_init=1, random_state=0)
    ).fit(X, y)
    display = GateDisplay.from_estimator(pipe, X, grid_resolution=40)
    grid = np.linspace(X.min(), X.max(), 40)[:, None]
    np.testing.assert_allclose(display.lines_[0].get_xdata(), grid[:, 0])
    expected = pipe[-1].predict_gate(pipe[0].transform(grid))
    np.testing.assert_allclose(display.gate, expected)


def test_displays_through_a_pipeline_with_a_stateless_step():
    # pipeline[:-1].transform judged the sub-pipeline by its last step, which
    # a transformer whose fit sets no attribute left "not fitted": every
    # display (and bootstrap_lrt) raised NotFittedError where predict worked
    class Square(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return np.asarray(X) ** 2

    X, y = _regimes_1d(n=200)
    pipe = make_pipeline(Square(), MoERegressor(n_experts=2, n_init=1, random_state=0))
    pipe.fit(X, y)
    display = GateDisplay.from_estimator(pipe, X, grid_resolution=20)
    grid = np.linspace(X.min(), X.max(), 20)[:, None]
    np.testing.assert_allclose(display.gate, pipe[-1].predict_gate(grid**2))
    ExpertUsageDisplay.from_estimator(pipe, X, y)
    PredictionBandsDisplay.from_estimator(pipe, X, y)


def test_displays_through_a_stateless_step_that_adds_features():
    # the pipeline has no n_features_in_, and the last step's count (of
    # transformed features, 2) refused the one raw feature
    class AddSquare(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            X = np.asarray(X)
            return np.c_[X, X**2]

    X, y = _regimes_1d(n=200)
    model = MoERegressor(n_experts=2, n_init=1, random_state=0)
    pipe = make_pipeline(AddSquare(), model).fit(X, y)
    display = GateDisplay.from_estimator(pipe, X, grid_resolution=20)
    grid = np.linspace(X.min(), X.max(), 20)[:, None]
    np.testing.assert_allclose(display.gate, model.predict_gate(np.c_[grid, grid**2]))
    bands = PredictionBandsDisplay.from_estimator(pipe, X, y, grid_resolution=20)
    np.testing.assert_allclose(bands.line_.get_ydata(), pipe.predict(grid))
    with pytest.raises(ValueError, match="X has 4 features"):  # pipe checks
        GateDisplay.from_estimator(pipe, np.c_[X, X], grid_resolution=20)


def test_gate_display_refuses_a_constant_feature_without_eps():
    # a map of height 0 was drawn blank
    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    y = X[:, 0] + 0.1 * rng.randn(200)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    flat = X.copy()
    flat[:, 1] = 0.5
    with pytest.raises(ValueError, match="feature 1 is constant.*eps > 0"):
        GateDisplay.from_estimator(reg, flat)
    display = GateDisplay.from_estimator(reg, flat, eps=1.0, grid_resolution=5)
    np.testing.assert_allclose(display.grid[1], np.linspace(-0.5, 1.5, 5))


def test_gate_display_colours_every_expert_apart():
    # matplotlib's "C10" is "C0": experts 0 and 10 were drawn alike, in the
    # map, its legend and the curves
    from matplotlib.colors import to_rgba

    rng = np.random.RandomState(0)
    grid = [np.linspace(0, 1, 4), np.linspace(0, 1, 3)]
    for n_experts in (3, 12, 25):
        gate = special.softmax(rng.randn(3, 4, n_experts), axis=-1)
        display = GateDisplay(grid, gate).plot()
        colours = [
            to_rgba(p.get_facecolor()) for p in display.ax_.get_legend().get_patches()
        ]
        assert len(set(colours)) == n_experts
        # each patch is the map's colour of its expert
        cmap, norm = display.surface_.get_cmap(), display.surface_.norm
        np.testing.assert_allclose(colours, [cmap(norm(k)) for k in range(n_experts)])
        lines = GateDisplay(grid[:1], gate[0]).plot().lines_
        assert len({to_rgba(line.get_color()) for line in lines}) == n_experts
    # a cmap of the caller's recolours the legend as the map: expert k at
    # (k + 0.5) / K of it (the map spans -0.5 to K - 0.5)
    display = GateDisplay(grid, gate[..., :3]).plot(cmap="viridis")
    patches = display.ax_.get_legend().get_patches()
    np.testing.assert_allclose(
        to_rgba(patches[2].get_facecolor()), plt.get_cmap("viridis")(2.5 / 3)
    )


def test_gate_display_takes_an_array_of_feature_names():
    # `names or default` raised NumPy's "truth value of an array" for two
    grid = [np.linspace(0, 1, 4), np.linspace(0, 1, 3)]
    gate = np.full((3, 4, 2), 0.5)
    display = GateDisplay(grid, gate, feature_names=np.array(["age", "income"])).plot()
    assert (display.ax_.get_xlabel(), display.ax_.get_ylabel()) == ("age", "income")


@pytest.mark.parametrize(
    "coverage, label",
    [
        (0.995, "99.5%"),
        (0.975, "97.5%"),
        (0.9, "90%"),
        (0.004, "0.4%"),
        (0.9999999, "99.99999%"),
        (1 - 1e-12, "99.9999999999%"),
    ],
)
def test_band_label_keeps_the_coverage_digits(coverage, label):
    # rounded to a whole percent: 0.995 read "100%", 0.004 "0%"; to 6
    # significant digits, 0.9999999 read "100%"
    X, y = _regimes_1d(n=200)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    display = PredictionBandsDisplay.from_estimator(reg, X, coverage=coverage)
    assert display.band_.get_label() == f"{label} predictive interval"


def test_gate_uses_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _regimes_1d(n=200)
    frame = pd.DataFrame(X, columns=["temperature"])
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(frame, y)
    display = GateDisplay.from_estimator(reg, frame, grid_resolution=10)
    assert display.ax_.get_xlabel() == "temperature"


def test_displays_refuse_columns_other_than_the_fitted_ones():
    # the grid was built over X's columns by position and then named as in
    # the fit: b's range drawn as a's, silently
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {"a": rng.uniform(-2, 2, 200), "b": rng.uniform(100, 200, 200)}
    )
    y = np.where(frame["a"] > 0, frame["a"], -frame["a"]) + 0.1 * rng.randn(200)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(frame, y)
    GateDisplay.from_estimator(reg, frame, grid_resolution=5)
    for other in (frame[["b", "a"]], frame.rename(columns={"b": "c"})):
        with pytest.raises(ValueError, match="feature names should match"):
            GateDisplay.from_estimator(reg, other, grid_resolution=5)
    one = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(frame[["a"]], y)
    with pytest.raises(ValueError, match="feature names should match"):
        PredictionBandsDisplay.from_estimator(one, frame[["b"]])


def test_displays_read_the_names_of_other_dataframes():
    # a PyArrow Table's ``columns`` are its data, which were compared with the
    # fitted names: every Table was refused ("X has ['[\n  [\n    0.12...")
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(-2, 2, 200), rng.uniform(100, 200, 200)])
    y = np.where(X[:, 0] > 0, X[:, 0], -X[:, 0]) + 0.1 * rng.randn(200)
    table = pa.table({"a": X[:, 0], "b": X[:, 1]})
    reference = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    expected = GateDisplay.from_estimator(reference, X, grid_resolution=5).gate
    for frame in (table, pl.DataFrame(X, schema=["a", "b"])):
        reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(frame, y)
        display = GateDisplay.from_estimator(reg, frame, grid_resolution=5)
        np.testing.assert_array_equal(display.gate, expected)
        assert display.ax_.get_xlabel() == "a"
    one = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(
        table.select(["a"]), y
    )
    band = PredictionBandsDisplay.from_estimator(one, table.select(["a"]), y=y)
    assert band.ax_.get_xlabel() == "a"
    with pytest.raises(ValueError, match="must be in the same order"):
        GateDisplay.from_estimator(reg, table.select(["b", "a"]), grid_resolution=5)


def _name_frames(X):
    """X (two columns) in DataFrames whose column names ``predict`` takes,
    warns about or refuses: by library and kind of names."""
    pd = pytest.importorskip("pandas")
    frames = {
        "pandas, fitted names": pd.DataFrame(X, columns=["a", "b"]),
        "pandas, reordered": pd.DataFrame(X[:, ::-1], columns=["b", "a"]),
        "pandas, other names": pd.DataFrame(X, columns=["a", "c"]),
        "pandas, integers": pd.DataFrame(X),
        "pandas, MultiIndex": pd.DataFrame(
            X, columns=pd.MultiIndex.from_tuples([("a", "x"), ("b", "y")])
        ),
        "pandas, mixed types": pd.DataFrame(X, columns=["a", 1]),
        "NumPy": X,
    }
    for module, make in (
        ("polars", lambda pl, names: pl.DataFrame(X, schema=names, orient="row")),
        ("pyarrow", lambda pa, names: pa.table(dict(zip(names, X.T, strict=True)))),
    ):
        library = pytest.importorskip(module)
        frames[f"{module}, fitted names"] = make(library, ["a", "b"])
        frames[f"{module}, other names"] = make(library, ["a", "c"])
    return frames


def _names_outcome(call):
    """What ``call()`` does about feature names: the type and message of its
    error, or None, and the messages of its UserWarnings about names (each
    once, in order)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
            error = None
        except (TypeError, ValueError) as exc:
            error = (type(exc), str(exc))
    messages = []
    for w in caught:
        text = str(w.message)
        if "feature names" in text and text not in messages:
            messages.append(text)
    return error, messages


def _name_models(X, y, frame):
    """Fitted on NumPy and on a named frame: a mixture, and pipelines whose
    first step (or the mixture behind a passthrough) sees the raw input."""

    def mixture():
        return MoERegressor(n_experts=2, n_init=1, max_iter=20, random_state=0)

    models = {}
    for fitted_on, data in (("NumPy", X), ("frame", frame)):
        models[f"mixture on {fitted_on}"] = mixture().fit(data, y)
        models[f"scaler pipeline on {fitted_on}"] = make_pipeline(
            StandardScaler(), mixture()
        ).fit(data, y)
        models[f"passthrough pipeline on {fitted_on}"] = make_pipeline(
            "passthrough", mixture()
        ).fit(data, y)
    return models


def test_displays_check_feature_names_as_predict_does():
    # the displays compared names of their own: a model fitted on strings was
    # refused a frame of integer or MultiIndex columns, where predict warns,
    # and one fitted without names drew a frame of mixed-type names, where
    # predict raises TypeError; none warned as predict does
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (150, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(150)
    frames = _name_frames(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (convergence)
        models = _name_models(X, y, frames["pandas, fitted names"])
    one_X = X[:, :1]
    pd = pytest.importorskip("pandas")
    one_frames = {
        "fitted names": pd.DataFrame(one_X, columns=["a"]),
        "other names": pd.DataFrame(one_X, columns=["c"]),
        "integers": pd.DataFrame(one_X),
        "mixed types": pd.DataFrame(np.c_[one_X, one_X], columns=["a", 1]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_models = _name_models(one_X, y, one_frames["fitted names"])
    checked = 0
    for models_, frames_, bands in (
        (models, frames, False),
        (one_models, one_frames, True),
    ):
        for (model_name, model), (frame_name, frame) in itertools.product(
            models_.items(), frames_.items()
        ):
            expected = _names_outcome(lambda m=model, f=frame: m.predict(f))
            # (predict's own outcomes, as scikit-learn documents them)
            named = model_name.endswith("frame")
            if "mixed types" in frame_name or (named and "other" in frame_name):
                assert expected[0] is not None, (model_name, frame_name)
            elif "NumPy" in frame_name or "integers" in frame_name:
                assert expected == (None, [expected[1][0]] if named else [])
            displays = [
                lambda m=model, f=frame: ExpertUsageDisplay.from_estimator(m, f),
                lambda m=model, f=frame: GateDisplay.from_estimator(
                    m, f, grid_resolution=3
                ),
            ]
            if bands:
                displays.append(
                    lambda m=model, f=frame: PredictionBandsDisplay.from_estimator(
                        m, f, grid_resolution=3
                    )
                )
            for display in displays:
                assert _names_outcome(display) == expected, (model_name, frame_name)
                plt.close("all")
                checked += 1
    assert checked > 100


@pytest.mark.parametrize("columns", ["integers", "MultiIndex"])
def test_displays_draw_unnamed_columns_by_position_with_predict_s_warning(columns):
    # refused ("the estimator was fitted on ['a', 'b'], X has ['0', '1']")
    # where predict warns and predicts by position
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (150, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(150)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0)
    reg.fit(pd.DataFrame(X, columns=["a", "b"]), y)
    names = [0, 1] if columns == "integers" else [("a", "x"), ("b", "y")]
    frame = pd.DataFrame(X, columns=pd.Index(names))
    message = "X does not have valid feature names, but MoERegressor was fitted"
    with pytest.warns(UserWarning, match=message):
        reg.predict(frame)
    with pytest.warns(UserWarning, match=message):
        display = GateDisplay.from_estimator(reg, frame, grid_resolution=4)
    axes = [np.linspace(X[:, j].min(), X[:, j].max(), 4) for j in range(2)]
    grid = pd.DataFrame(
        np.column_stack([a.ravel() for a in np.meshgrid(*axes)]), columns=["a", "b"]
    )
    np.testing.assert_array_equal(
        display.gate, reg.predict_gate(grid).reshape(4, 4, -1)
    )
    assert display.ax_.get_xlabel() == "a"


def test_displays_refuse_mixed_type_names_as_predict_does():
    # drawn, for a model fitted without names, where predict raises TypeError
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (100, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(100)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    frame = pd.DataFrame(X, columns=["a", 0])
    match = "all input features have string names"
    with pytest.raises(TypeError, match=match):
        reg.predict(frame)
    with pytest.raises(TypeError, match=match):
        GateDisplay.from_estimator(reg, frame, grid_resolution=4)


def test_a_function_transformer_first_step_checks_names_as_predict_does():
    # a FunctionTransformer (validate=False) records X's names at fit but
    # checks none in transform: predict checks them where its output meets
    # the next step; the displays checked X's against the transformer's, and
    # refused names (ValueError, TypeError) that predict read by position
    from sklearn.preprocessing import FunctionTransformer

    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (150, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(150)
    frame = pd.DataFrame(X, columns=["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (convergence)
        to_array = make_pipeline(
            FunctionTransformer(np.asarray),
            MoERegressor(n_experts=2, n_init=1, random_state=0),
        ).fit(frame, y)
        same_frame = make_pipeline(
            FunctionTransformer(np.tanh),
            MoERegressor(n_experts=2, n_init=1, random_state=0),
        ).fit(frame, y)
    axes = [np.linspace(X[:, j].min(), X[:, j].max(), 4) for j in range(2)]
    grid = np.column_stack([a.ravel() for a in np.meshgrid(*axes)])
    for columns in (["b", "a"], ["c", "d"], ["a", 0]):
        other = pd.DataFrame(X, columns=columns)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            to_array.predict(other)  # by position, silently
            display = GateDisplay.from_estimator(to_array, other, grid_resolution=4)
        np.testing.assert_array_equal(
            display.gate, to_array[-1].predict_gate(grid).reshape(4, 4, -1)
        )
    # the transformer keeps the frame: the mixture checks its names in predict
    with pytest.raises(ValueError, match="should match those"):
        same_frame.predict(frame[["b", "a"]])
    with pytest.raises(ValueError, match="should match those"):
        GateDisplay.from_estimator(same_frame, frame[["b", "a"]])
    message = "X does not have valid feature names, but MoERegressor was fitted"
    with pytest.warns(UserWarning, match=message):
        same_frame.predict(X)
    with pytest.warns(UserWarning, match=message):
        GateDisplay.from_estimator(same_frame, X, grid_resolution=4)


@pytest.mark.filterwarnings("ignore::skmoe.exceptions.DegenerateFitWarning")
def test_gate_rejects_more_than_two_features():
    rng = np.random.RandomState(0)
    X = rng.randn(100, 3)
    reg = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, X[:, 0])
    match = r"1 or 2 features; .* expects 3, and its gate sees all of them .*gate_f"
    with pytest.raises(ValueError, match=match):
        GateDisplay.from_estimator(reg, X)
    X4 = rng.randn(100, 4)
    reg.set_params(gate_features=[0, 1, 2]).fit(X4, X4[:, 0])
    with pytest.raises(ValueError, match="expects 4, and its gate sees 3 of them"):
        GateDisplay.from_estimator(reg, X4)
    reg = MoERegressor(n_experts=2, gate="constant", n_init=1).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="its gate sees none of them"):
        GateDisplay.from_estimator(reg, X)


def _four_features(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 4))
    y = np.where(X[:, 1] + X[:, 3] > 0, 2 * X[:, 0], -X[:, 2])
    return X, y + 0.1 * rng.randn(n)


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
@pytest.mark.parametrize("columns", [[1], [3, 1]])
def test_gate_draws_the_gate_features_of_a_wider_input(gate, columns):
    # a model of 4 features whose gate sees 1 or 2 of them was refused ("draws
    # inputs with 1 or 2 features"), though its gate depends on those only
    X, y = _four_features()
    reg = MoERegressor(
        n_experts=2, gate=gate, gate_features=columns, n_init=1, random_state=0
    ).fit(X, y)
    display = GateDisplay.from_estimator(reg, X, grid_resolution=6, eps=0.5)
    drawn = sorted(columns)
    assert display.feature_names == [f"x{j}" for j in drawn]
    assert len(display.grid) == len(drawn)
    for values, j in zip(display.grid, drawn, strict=True):
        expected = np.linspace(X[:, j].min() - 0.5, X[:, j].max() + 0.5, 6)
        np.testing.assert_allclose(values, expected, rtol=1e-15)
    # predict_gate on full rows of the grid, the other columns at random
    mesh = np.meshgrid(*display.grid)
    rows = np.random.RandomState(1).uniform(-5, 5, (mesh[0].size, 4))
    rows[:, drawn] = np.column_stack([axis.ravel() for axis in mesh])
    expected = reg.predict_gate(rows).reshape(display.gate.shape)
    np.testing.assert_allclose(display.gate, expected, rtol=1e-12, atol=1e-15)
    if len(drawn) == 1:
        assert len(display.lines_) == 2
    else:
        assert display.surface_.get_array().size == 6 * 6


def test_gate_draws_gate_features_by_name_of_a_frame():
    pd = pytest.importorskip("pandas")
    X, y = _four_features()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["c"] = np.round(frame["c"]).astype(int)  # an int column kept as given
    reg = MoERegressor(n_experts=2, gate_features=["d", "b"], n_init=1)
    reg.set_params(random_state=0).fit(frame, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning
        display = GateDisplay.from_estimator(reg, frame, grid_resolution=5)
    assert display.feature_names == ["b", "d"]
    mesh = np.meshgrid(*display.grid)
    rows = frame.iloc[np.zeros(mesh[0].size, dtype=int)].reset_index(drop=True)
    rows["b"], rows["d"] = mesh[0].ravel(), mesh[1].ravel()
    expected = reg.predict_gate(rows).reshape(display.gate.shape)
    np.testing.assert_allclose(display.gate, expected, rtol=1e-12, atol=1e-15)
    # its columns in another order are refused, as predict refuses them
    with pytest.raises(ValueError, match="feature names should match"):
        GateDisplay.from_estimator(reg, frame[["b", "a", "c", "d"]])


def test_gate_of_chosen_features_holds_values_of_other_columns_with_nan():
    # the other columns were held at X's first row without NaN: a None in an
    # object array was not counted as NaN (drawn: "Input X contains NaN."), nor
    # was any row without NaN (each column here has one NaN)
    X, y = _four_features()
    reg = MoERegressor(n_experts=2, gate_features=[1], n_init=1, random_state=0)
    reg.fit(X, y)
    holed = X.astype(object)
    holed[0, 0] = None
    for j in (2, 3):
        holed[j - 1 :: 3, j] = np.nan  # (every row: a NaN in column 2 or 3)
    for given in (holed, holed.tolist()):
        display = GateDisplay.from_estimator(reg, given, grid_resolution=5)
        expected = np.linspace(X[:, 1].min(), X[:, 1].max(), 5)
        np.testing.assert_allclose(display.grid[0], expected, rtol=1e-15)
        rows = np.random.RandomState(1).uniform(-5, 5, (5, 4))
        rows[:, 1] = display.grid[0]
        gate = reg.predict_gate(rows)
        np.testing.assert_allclose(display.gate, gate, rtol=1e-12, atol=1e-15)
    holed[:, 2] = None  # a column without a value to hold
    with pytest.raises(ValueError, match="X's feature 2 holds NaN only"):
        GateDisplay.from_estimator(reg, holed)


def test_gate_of_chosen_features_names_the_feature_it_cannot_draw():
    # the messages numbered the gate's columns among themselves: a constant
    # column 3 was "X's feature 0"
    X, y = _four_features()
    reg = MoERegressor(n_experts=2, gate_features=[3], n_init=1, random_state=0)
    reg.fit(X, y)
    X[:, 3] = 1.0
    with pytest.raises(ValueError, match="X's feature 3 is constant"):
        GateDisplay.from_estimator(reg, X)
    X[:, 3] = np.nan
    with pytest.raises(ValueError, match="X's feature 3 holds NaN only"):
        GateDisplay.from_estimator(reg, X)


def test_gate_of_chosen_features_in_a_pipeline_says_what_to_draw():
    # the gate's columns are of the transformed input, not the pipeline's:
    # refused, with the call that draws them
    X, y = _four_features()
    mixture = MoERegressor(n_experts=2, gate_features=[1], n_init=1, random_state=0)
    pipe = make_pipeline(StandardScaler(), mixture).fit(X, y)
    with pytest.raises(ValueError, match=r"pipeline\[-1\], over the transformed"):
        GateDisplay.from_estimator(pipe, X)
    transformed = pipe[:-1].transform(X)
    display = GateDisplay.from_estimator(pipe[-1], transformed, grid_resolution=5)
    expected = np.linspace(transformed[:, 1].min(), transformed[:, 1].max(), 5)
    np.testing.assert_allclose(display.grid[0], expected, rtol=1e-15)
    # steps that are all "passthrough" leave the input as it is: drawn
    passthrough = make_pipeline("passthrough", clone(mixture)).fit(X, y)
    display = GateDisplay.from_estimator(passthrough, X, grid_resolution=5)
    rows = np.zeros((5, 4))
    rows[:, 1] = display.grid[0]
    expected = passthrough[-1].predict_gate(rows)
    np.testing.assert_allclose(display.gate, expected, rtol=1e-12, atol=1e-15)
    # and so does a frozen mixture after them (refused as "steps before the
    # mixture" that transform its input)
    frozen = make_pipeline("passthrough", FrozenEstimator(passthrough[-1])).fit(X, y)
    display = GateDisplay.from_estimator(frozen, X, grid_resolution=5)
    np.testing.assert_allclose(display.gate, expected, rtol=1e-12, atol=1e-15)


def test_displays_reject_other_estimators():
    X, y = _regimes_1d(n=50)
    with pytest.raises(
        TypeError,
        match="MoERegressor, MoEPoissonRegressor, MoEGammaRegressor or MoEClassifier",
    ):
        GateDisplay.from_estimator(LinearRegression().fit(X, y), X)
    # a class, not an instance: named as such (the message said "ABCMeta")
    with pytest.raises(TypeError, match="got the class MoERegressor, not an inst"):
        ExpertUsageDisplay.from_estimator(MoERegressor, X, y)


def test_expert_usage_bars(regression_1d):
    X, y, reg = regression_1d
    display = ExpertUsageDisplay.from_estimator(reg, X, y)
    gate = reg.predict_gate(X)
    assert list(display.bars_) == ["mean gate", "top-1 share", "responsibility share"]
    for bars in display.bars_.values():
        assert len(bars) == reg.n_experts
    heights = {
        label: [bar.get_height() for bar in bars]
        for label, bars in display.bars_.items()
    }
    np.testing.assert_allclose(heights["mean gate"], gate.mean(axis=0))
    top1 = np.array([np.mean(np.argmax(gate, axis=1) == k) for k in range(3)])
    np.testing.assert_allclose(heights["top-1 share"], top1)
    # responsibilities from scipy's normal density and the predictive mixture
    dist = reg.predict_distribution(X)
    joint = dist.weights * stats.norm.pdf(y[:, None], dist.means, dist.scales)
    expected = (joint / joint.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(heights["responsibility share"], expected, rtol=1e-6)
    np.testing.assert_allclose(sum(heights["responsibility share"]), 1.0)


def test_expert_usage_takes_sample_weight_as_repeated_rows(regression_1d):
    # without it, a weighted fit's bars were unweighted means: a responsibility
    # share of 0.535 for an expert_usage_ of 0.912
    X, y, _ = regression_1d
    counts = np.where(X[:, 0] > 1.0, 9, 1)
    model = MoERegressor(n_experts=2, random_state=0).fit(X, y, sample_weight=counts)
    weighted = ExpertUsageDisplay.from_estimator(model, X, y, sample_weight=counts)
    repeated = ExpertUsageDisplay.from_estimator(
        model, np.repeat(X, counts, axis=0), np.repeat(y, counts)
    )
    for name in ("mean_gate", "top1_share", "responsibility_share"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name))
    np.testing.assert_allclose(weighted.responsibility_share, model.expert_usage_)
    assert not np.allclose(
        ExpertUsageDisplay.from_estimator(model, X, y).responsibility_share,
        model.expert_usage_,
        atol=0.05,
    )
    # rows of weight 0 are left out, as fit leaves them (one far off overflowed)
    far = ExpertUsageDisplay.from_estimator(
        model,
        np.vstack([X, [[1e300]]]),
        np.r_[y, 1e300],
        sample_weight=np.r_[counts, 0],
    )
    np.testing.assert_allclose(far.responsibility_share, model.expert_usage_)
    with pytest.raises(ValueError, match="at least one non-zero"):
        ExpertUsageDisplay.from_estimator(model, X, y, sample_weight=0.0 * counts)
    with pytest.raises(ValueError, match="Negative values"):
        ExpertUsageDisplay.from_estimator(model, X, y, sample_weight=-counts)


def test_expert_usage_refuses_nan_at_rows_of_weight_zero(regression_1d):
    # the rows of weight 0 are left out, but checked as predict and score
    # check them: NaN or infinity there drew silently, where the display
    # without sample_weight and LinearRegression's score raise
    from sklearn.impute import SimpleImputer

    X, y, model = regression_1d
    weight = np.ones(X.shape[0])
    weight[3] = 0.0
    pipe = make_pipeline(StandardScaler(), MoERegressor(2, random_state=0)).fit(X, y)
    reference = LinearRegression().fit(X, y)
    for bad, words in ((np.nan, "Input X contains NaN"), (np.inf, "infinity")):
        X_bad = X.copy()
        X_bad[3, 0] = bad
        with pytest.raises(ValueError, match=words):  # scikit-learn's words
            reference.score(X_bad, y, sample_weight=weight)
        for estimator in (model, pipe):
            for target in (None, y):
                with pytest.raises(ValueError, match=words):
                    ExpertUsageDisplay.from_estimator(
                        estimator, X_bad, target, sample_weight=weight
                    )
    y_bad = y.copy()
    y_bad[3] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        ExpertUsageDisplay.from_estimator(model, X, y_bad, sample_weight=weight)
    # checked after the pipeline's steps: an imputed NaN draws as the rows kept
    X_nan = X.copy()
    X_nan[3, 0] = np.nan
    imputed = make_pipeline(SimpleImputer(), MoERegressor(2, random_state=0))
    imputed.fit(X, y)
    got = ExpertUsageDisplay.from_estimator(imputed, X_nan, y, sample_weight=weight)
    kept = weight > 0
    expected = ExpertUsageDisplay.from_estimator(imputed, X[kept], y[kept])
    for name in ("mean_gate", "top1_share", "responsibility_share"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))


def test_grid_displays_leave_out_nan_of_a_pipeline_that_imputes_them():
    # a pipeline that imputes NaN predicts on them, and the displays use X's
    # range only: GateDisplay and PredictionBandsDisplay refused such an X,
    # "Input contains NaN". Drawn as over X's other values (np.nanmin to
    # np.nanmax), with the pipeline's own gate and predictions there
    from sklearn.impute import SimpleImputer

    X, y = _regimes_1d(200)
    X_nan = X.copy()
    X_nan[[3, 7], 0] = np.nan
    pipe = make_pipeline(SimpleImputer(), MoERegressor(2, random_state=0))
    pipe.fit(X_nan, y)
    grid = np.linspace(np.nanmin(X_nan), np.nanmax(X_nan), 50)[:, None]
    gate = GateDisplay.from_estimator(pipe, X_nan, grid_resolution=50)
    np.testing.assert_array_equal(gate.grid[0], grid[:, 0])
    expected = pipe[-1].predict_gate(pipe[:-1].transform(grid))
    for k, line in enumerate(gate.lines_):
        np.testing.assert_allclose(line.get_ydata(), expected[:, k], rtol=1e-12)
    bands = PredictionBandsDisplay.from_estimator(
        pipe, X_nan, y, band="std", grid_resolution=50
    )
    np.testing.assert_array_equal(bands.x, grid[:, 0])
    np.testing.assert_allclose(bands.mean, pipe.predict(grid), rtol=1e-12)
    # a feature of NaN only sets no range; infinity is refused as before
    with pytest.raises(ValueError, match="feature 0 holds NaN only"):
        GateDisplay.from_estimator(pipe, np.full((5, 1), np.nan))
    X_inf = X.copy()
    X_inf[3, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        GateDisplay.from_estimator(pipe, X_inf)


def test_expert_usage_share_of_a_balanced_fit_with_sample_weights():
    # class_weight="balanced" counts the classes by the sample weights: the
    # docstring's compute_sample_weight(class_weight, y) times them gave a
    # share 0.018 from expert_usage_; compute_class_weight with the sample
    # weights gives the fit's own weights, and its expert_usage_
    from sklearn.utils.class_weight import compute_class_weight

    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (300, 1))
    y = (X[:, 0] + rng.randn(300) > 1.5).astype(int)
    weight = rng.uniform(0, 3, 300)
    model = MoEClassifier(2, class_weight="balanced", random_state=0)
    model.fit(X, y, sample_weight=weight)
    per_class = compute_class_weight(
        "balanced", classes=model.classes_, y=y, sample_weight=weight
    )
    fitted = weight * per_class[np.searchsorted(model.classes_, y)]
    display = ExpertUsageDisplay.from_estimator(model, X, y, sample_weight=fitted)
    np.testing.assert_allclose(
        display.responsibility_share, model.expert_usage_, rtol=1e-12, atol=1e-14
    )


def test_expert_usage_takes_the_groups_of_a_model_fitted_with_them():
    # the responsibility share was each row's own (0.247 against an
    # expert_usage_ of 0.162), without a word (QA)
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(100), 4)
    X = rng.uniform(-2, 2, (400, 1))
    slope = np.where(rng.rand(100) < 0.3, 2.0, -1.0)[groups]
    y = slope * X[:, 0] + 0.5 * rng.randn(400)
    model = MoERegressor(2, gate="constant", random_state=0).fit(X, y, groups=groups)
    display = ExpertUsageDisplay.from_estimator(model, X, y, groups=groups)
    heights = [bar.get_height() for bar in display.bars_["responsibility share"]]
    np.testing.assert_allclose(heights, model.expert_usage_, rtol=1e-6)
    with pytest.warns(UserWarning, match="fitted with groups") as caught:
        ExpertUsageDisplay.from_estimator(model, X, y)
    assert len([w for w in caught if "fitted with groups" in str(w.message)]) == 1


def test_expert_usage_runs_a_pipeline_s_steps_once(regression_1d):
    from sklearn.preprocessing import FunctionTransformer

    X, y, _ = regression_1d
    calls = []

    def scale(X):
        calls.append(len(X))
        return 2.0 * X

    model = make_pipeline(
        FunctionTransformer(scale), MoERegressor(3, n_init=1, random_state=0)
    ).fit(X, y)
    calls.clear()
    display = ExpertUsageDisplay.from_estimator(model, X, y)
    assert calls == [len(X)]  # once for the gate and the responsibilities
    expected = model[-1].responsibilities(2.0 * X, y).mean(axis=0)
    heights = [bar.get_height() for bar in display.bars_["responsibility share"]]
    np.testing.assert_allclose(heights, expected)


def test_expert_usage_without_targets_draws_two_measures(classification_2d):
    X, _, clf = classification_2d
    display = ExpertUsageDisplay.from_estimator(clf, X)
    assert list(display.bars_) == ["mean gate", "top-1 share"]
    ticks = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert ticks == [f"expert {k}" for k in range(4)]


def test_expert_usage_checks_the_targets(classification_2d, regression_1d):
    X, y, clf = classification_2d  # string labels
    for wrong in (np.full(len(X), "zzz"), np.zeros(len(X), dtype=int)):
        with pytest.raises(ValueError, match="unseen labels"):
            ExpertUsageDisplay.from_estimator(clf, X, wrong)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ExpertUsageDisplay.from_estimator(clf, X, y[:10])
    X1, y1, reg = regression_1d
    with pytest.raises(ValueError, match="1d array"):
        ExpertUsageDisplay.from_estimator(reg, X1, np.c_[y1, y1])


def test_constant_gate_responsibility_share_is_the_mixing_proportion():
    # for gate="constant" the M-step sets pi_k = mean_i r_ik (intercepts are not
    # penalized), so at convergence the two agree to EM's tolerance
    X, y = _regimes_1d(n=300)
    reg = MoERegressor(
        n_experts=2, gate="constant", n_init=2, tol=1e-10, max_iter=2000, random_state=0
    ).fit(X, y)
    share = reg.responsibilities(X, y).mean(axis=0)
    np.testing.assert_allclose(share, special.softmax(reg.gate_intercept_), atol=1e-4)


def test_convergence_line_is_the_history(regression_1d):
    _, _, reg = regression_1d
    display = ConvergenceDisplay.from_estimator(reg)
    np.testing.assert_allclose(display.line_.get_ydata(), reg.log_likelihood_history_)
    np.testing.assert_array_equal(
        display.line_.get_xdata(), np.arange(1, reg.n_iter_ + 1)
    )
    assert display.ax_.get_xlabel() == "EM iteration"

    display = ConvergenceDisplay.from_estimator(reg, objective=True)
    drawn = display.line_.get_ydata()
    np.testing.assert_allclose(drawn, reg.objective_history_)
    assert np.all(np.diff(drawn) >= -1e-12)  # EM never decreases the objective


def test_convergence_through_a_pipeline(classification_2d):
    X, y, _ = classification_2d
    pipe = make_pipeline(
        StandardScaler(), MoEClassifier(n_experts=2, n_init=1, random_state=0)
    ).fit(X, y)
    display = ConvergenceDisplay.from_estimator(pipe)
    np.testing.assert_allclose(
        display.line_.get_ydata(), pipe[-1].log_likelihood_history_
    )


def test_prediction_bands_std(regression_1d):
    X, y, reg = regression_1d
    display = PredictionBandsDisplay.from_estimator(
        reg, X, y, band="std", n_std=1.5, grid_resolution=60
    )
    grid = np.linspace(X.min(), X.max(), 60)[:, None]
    mean, std = reg.predict(grid, return_std=True)
    np.testing.assert_allclose(display.line_.get_xdata(), grid[:, 0])
    np.testing.assert_allclose(display.line_.get_ydata(), mean)
    np.testing.assert_allclose(display.lower, mean - 1.5 * std)
    np.testing.assert_allclose(display.upper, mean + 1.5 * std)
    band = display.band_.get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx((mean - 1.5 * std).min())
    assert band[:, 1].max() == pytest.approx((mean + 1.5 * std).max())
    np.testing.assert_allclose(display.scatter_.get_offsets(), np.column_stack([X, y]))


def test_prediction_bands_of_student_t_experts():
    # quantile bands of the t mixture; a std band refused where df <= 2 has
    # no variance (it drew nothing, unwarned)
    X, y = _regimes_1d(n=200)
    reg = MoERegressor(n_experts=2, noise="student_t", df=1.5, random_state=0)
    reg.fit(X, y)
    display = PredictionBandsDisplay.from_estimator(
        reg, X, coverage=0.8, grid_resolution=30
    )
    grid = np.linspace(X.min(), X.max(), 30)[:, None]
    low, high = reg.predict_distribution(grid).interval(0.8)
    np.testing.assert_allclose(display.lower, low)
    np.testing.assert_allclose(display.upper, high)
    with pytest.raises(ValueError, match="band='std' needs a finite"):
        PredictionBandsDisplay.from_estimator(reg, X, band="std")


def test_prediction_bands_quantile(regression_1d):
    X, _, reg = regression_1d
    display = PredictionBandsDisplay.from_estimator(
        reg, X, coverage=0.8, grid_resolution=40
    )
    assert display.scatter_ is None
    grid = np.linspace(X.min(), X.max(), 40)[:, None]
    dist = reg.predict_distribution(grid)
    np.testing.assert_allclose(display.line_.get_ydata(), reg.predict(grid))
    # the edges are the 10% and 90% quantiles of the mixture, all finite: check
    # with its CDF, summed here from scipy's normal CDF
    for edge, q in [(display.lower, 0.1), (display.upper, 0.9)]:
        assert np.all(np.isfinite(edge))
        cdf = np.sum(
            dist.weights * stats.norm.cdf(edge[:, None], dist.means, dist.scales),
            axis=1,
        )
        np.testing.assert_allclose(cdf, q, atol=1e-6)
    assert "80%" in display.band_.get_label()


def test_prediction_bands_validation(regression_1d, classification_2d):
    X, y, reg = regression_1d
    with pytest.raises(ValueError, match="'band' parameter .* must be a str among"):
        PredictionBandsDisplay.from_estimator(reg, X, band="iqr")
    with pytest.raises(ValueError, match="coverage"):
        PredictionBandsDisplay.from_estimator(reg, X, coverage=1.5)
    X2, _, clf = classification_2d
    with pytest.raises(TypeError, match="MoERegressor"):
        PredictionBandsDisplay.from_estimator(clf, X2)


def _xlabel(display):
    return display.ax_.get_xlabel()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_convergence_label_is_the_fitted_solver_not_the_parameter():
    X, y = _regimes_1d(n=200)
    em = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    sgd = MoERegressor(
        n_experts=2, solver="sgd", max_iter=5, n_init=1, random_state=0
    ).fit(X, y)
    gradient = MoERegressor(
        n_experts=2, solver="gradient", max_iter=20, n_init=1, random_state=0
    ).fit(X, y)
    assert _xlabel(ConvergenceDisplay.from_estimator(gradient)) == "L-BFGS iteration"
    assert _xlabel(ConvergenceDisplay.from_estimator(sgd)) == "epoch"
    # an SGD fit keeps its label after set_params changes the solver
    sgd.set_params(solver="em")
    assert _xlabel(ConvergenceDisplay.from_estimator(sgd)) == "epoch"
    # and an EM fit its own, as does a pruned copy of an SGD fit
    em.set_params(solver="sgd")
    assert _xlabel(ConvergenceDisplay.from_estimator(em)) == "EM iteration"
    pruned = sgd.set_params(solver="em").prune_experts(0.0)
    assert _xlabel(ConvergenceDisplay.from_estimator(pruned)) == "epoch"
    # partial_fit after an EM fit continues with SGD epochs: each part named
    # (all were labelled epochs)
    n_em = len(em.log_likelihood_history_)
    em.partial_fit(X, y)
    display = ConvergenceDisplay.from_estimator(em)
    assert _xlabel(display) == f"EM iterations 1-{n_em}, then epochs {n_em + 1}"
    assert len(display.line_.get_ydata()) == em.n_iter_ == n_em + 1
    # a SQUAREM fit's history holds its cycles, whatever acceleration is now
    fast = MoERegressor(2, acceleration="squarem", n_init=1, random_state=0)
    fast.fit(X, y).set_params(acceleration=None)
    display = ConvergenceDisplay.from_estimator(fast)
    assert _xlabel(display) == "SQUAREM cycle (three EM steps)"
    assert len(display.line_.get_ydata()) == fast.n_iter_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_convergence_label_names_squarem_cycles_then_online_em_steps():
    # online EM (partial_fit) after a SQUAREM fit: its cycles, then one point
    # per online EM step; all were labelled EM iterations
    X, y = _regimes_1d(n=200)
    fast = MoERegressor(2, gate="gaussian", acceleration="squarem", random_state=0)
    fast.fit(X, y)
    cycles = len(fast.log_likelihood_history_)
    assert _xlabel(ConvergenceDisplay.from_estimator(fast)) == (
        "SQUAREM cycle (three EM steps)"
    )
    fast.partial_fit(X[:50], y[:50]).partial_fit(X[50:], y[50:])
    display = ConvergenceDisplay.from_estimator(fast)
    assert _xlabel(display) == (
        f"SQUAREM cycles (three EM steps) 1-{cycles}, then EM iterations "
        f"{cycles + 1}-{cycles + 2}"
    )
    assert len(display.line_.get_ydata()) == cycles + 2
    # a new fit: a history of its own steps
    fast.fit(X, y)
    assert _xlabel(ConvergenceDisplay.from_estimator(fast)) == (
        "SQUAREM cycle (three EM steps)"
    )
    # a new fit whose history is as long as the streamed one (EM to
    # max_iter): its own label, not the stream's parts (mutation testing)
    fast.partial_fit(X[:50], y[:50]).partial_fit(X[50:], y[50:])
    fast.set_params(acceleration=None, tol=0.0, max_iter=cycles + 2).fit(X, y)
    assert len(fast.log_likelihood_history_) == cycles + 2
    assert _xlabel(ConvergenceDisplay.from_estimator(fast)) == "EM iteration"
    # online EM after plain EM: EM iterations, as before
    plain = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    plain.partial_fit(X[:50], y[:50])
    assert _xlabel(ConvergenceDisplay.from_estimator(plain)) == "EM iteration"


# -- fitted searches and other wrappers ---------------------------------------------


def test_displays_draw_the_best_estimator_of_a_search():
    X, y = _regimes_1d(n=300)
    search = GridSearchCV(
        MoERegressor(n_init=1, random_state=0), {"n_experts": [2, 3]}, cv=2
    ).fit(X, y)
    best = search.best_estimator_
    grid = np.linspace(X.min(), X.max(), 30)[:, None]
    gate = GateDisplay.from_estimator(search, X, grid_resolution=30)
    np.testing.assert_allclose(gate.gate, best.predict_gate(grid))
    assert len(gate.lines_) == best.n_experts_
    bands = PredictionBandsDisplay.from_estimator(
        search, X, band="std", grid_resolution=30
    )
    mean, std = best.predict(grid, return_std=True)
    np.testing.assert_allclose(bands.lower, mean - 2 * std)
    usage = ExpertUsageDisplay.from_estimator(search, X, y)
    np.testing.assert_allclose(usage.mean_gate, best.predict_gate(X).mean(axis=0))
    convergence = ConvergenceDisplay.from_estimator(search)
    np.testing.assert_allclose(
        convergence.line_.get_ydata(), best.log_likelihood_history_
    )


def test_randomized_search_over_a_pipeline_draws_in_the_raw_input_space():
    X, y = _regimes_1d(n=300)
    X = 10 * X + 50
    pipe = make_pipeline(StandardScaler(), MoERegressor(n_init=1, random_state=0))
    search = RandomizedSearchCV(
        pipe, {"moeregressor__n_experts": [2, 3]}, n_iter=2, cv=2, random_state=0
    ).fit(X, y)
    display = GateDisplay.from_estimator(search, X, grid_resolution=25)
    grid = np.linspace(X.min(), X.max(), 25)[:, None]
    np.testing.assert_allclose(display.lines_[0].get_xdata(), grid[:, 0])
    best = search.best_estimator_
    np.testing.assert_allclose(
        display.gate, best[-1].predict_gate(best[0].transform(grid))
    )


def test_displays_explain_unusable_wrappers():
    X, y = _regimes_1d(n=100)
    moe = MoERegressor(n_experts=2, n_init=1, random_state=0)
    unfitted = GridSearchCV(moe, {"n_experts": [2]}, cv=2)
    with pytest.raises(NotFittedError):
        GateDisplay.from_estimator(unfitted, X)
    no_refit = GridSearchCV(moe, {"n_experts": [2, 3]}, cv=2, refit=False).fit(X, y)
    with pytest.raises(ValueError, match="refit=False"):
        ConvergenceDisplay.from_estimator(no_refit)
    linear = GridSearchCV(LinearRegression(), {"fit_intercept": [True]}, cv=2)
    with pytest.raises(
        TypeError,
        match="MoERegressor, MoEPoissonRegressor, MoEGammaRegressor or MoEClassifier",
    ):
        GateDisplay.from_estimator(linear.fit(X, y), X)
    # the target transform changes y's units: refused, pointing to regressor_
    wrapped = TransformedTargetRegressor(moe, func=np.exp, inverse_func=np.log)
    wrapped.fit(X, np.log(np.abs(y) + 1))
    for display in (GateDisplay, PredictionBandsDisplay, ExpertUsageDisplay):
        with pytest.raises(TypeError, match="regressor_"):
            display.from_estimator(wrapped, X)
    with pytest.raises(TypeError, match="regressor_"):
        ConvergenceDisplay.from_estimator(make_pipeline(StandardScaler(), wrapped))
    inner = GateDisplay.from_estimator(wrapped.regressor_, X, grid_resolution=10)
    grid = np.linspace(X.min(), X.max(), 10)[:, None]
    np.testing.assert_allclose(inner.gate, wrapped.regressor_.predict_gate(grid))


def test_displays_draw_the_model_a_frozen_estimator_holds():
    # FrozenEstimator replaces cv="prefit" in scikit-learn's meta-estimators;
    # it was refused ("got FrozenEstimator"), alone and as a pipeline's last step
    X, y = _regimes_1d(n=200)
    X = 10 * X + 50
    scaler = StandardScaler().fit(X)
    moe = MoERegressor(n_experts=2, n_init=1, random_state=0)
    moe.fit(scaler.transform(X), y)
    grid = np.linspace(X.min(), X.max(), 20)[:, None]
    for frozen, inputs in (
        (FrozenEstimator(make_pipeline(scaler, moe)), scaler.transform),
        (make_pipeline(scaler, FrozenEstimator(moe)), scaler.transform),
        (FrozenEstimator(moe), lambda Z: Z),
    ):
        gate = GateDisplay.from_estimator(frozen, X, grid_resolution=20)
        np.testing.assert_allclose(gate.gate, moe.predict_gate(inputs(grid)))
        bands = PredictionBandsDisplay.from_estimator(
            frozen, X, band="std", grid_resolution=20
        )
        mean, std = moe.predict(inputs(grid), return_std=True)
        np.testing.assert_allclose(bands.upper, mean + 2 * std)
        usage = ExpertUsageDisplay.from_estimator(frozen, X)
        np.testing.assert_allclose(
            usage.mean_gate, moe.predict_gate(inputs(X)).mean(axis=0)
        )
        convergence = ConvergenceDisplay.from_estimator(frozen)
        np.testing.assert_allclose(
            convergence.line_.get_ydata(), moe.log_likelihood_history_
        )


def test_displays_unwrap_frozen_searches_and_frozen_steps():
    # a FrozenEstimator of a fitted search was refused ("got GridSearchCV"),
    # and a frozen FunctionTransformer (validate=False) first step had X's
    # names checked against those it recorded, where predict reads them by
    # position: a warning and a ValueError for what predict took silently
    from sklearn.preprocessing import FunctionTransformer

    pd = pytest.importorskip("pandas")
    X, y = _regimes_1d(n=200)
    search = GridSearchCV(
        MoERegressor(n_init=1, random_state=0), {"n_experts": [2]}, cv=2
    ).fit(X, y)
    grid = np.linspace(X.min(), X.max(), 10)[:, None]
    for frozen in (FrozenEstimator(search), FrozenEstimator(FrozenEstimator(search))):
        gate = GateDisplay.from_estimator(frozen, X, grid_resolution=10)
        np.testing.assert_allclose(gate.gate, search.best_estimator_.predict_gate(grid))
    with pytest.raises(TypeError, match="got the class MoERegressor"):
        GateDisplay.from_estimator(FrozenEstimator(MoERegressor), X)

    frame = pd.DataFrame({"a": X[:, 0]})
    to_array = FunctionTransformer(np.asarray).fit(frame)
    moe = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    pipe = make_pipeline(FrozenEstimator(to_array), moe)
    for other in (X, pd.DataFrame({"b": X[:, 0]})):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pipe.predict(other)  # by position, silently
            gate = GateDisplay.from_estimator(pipe, other, grid_resolution=10)
        np.testing.assert_allclose(gate.gate, moe.predict_gate(grid))
    # a frozen scaler checks names as predict does, and as the scaler
    scaled = make_pipeline(FrozenEstimator(StandardScaler().fit(frame)), moe)
    with pytest.raises(ValueError, match="should match those"):
        scaled.predict(pd.DataFrame({"b": X[:, 0]}))
    with pytest.raises(ValueError, match="should match those"):
        GateDisplay.from_estimator(scaled, pd.DataFrame({"b": X[:, 0]}))
    message = "X does not have valid feature names, but StandardScaler was fitted"
    with pytest.warns(UserWarning, match=message):
        scaled.predict(X)
    with pytest.warns(UserWarning, match=message):
        GateDisplay.from_estimator(scaled, X, grid_resolution=10)


# -- models fitted under scikit-learn's Array API dispatch -------------------------


array_api_dispatch = pytest.mark.skipif(
    os.environ.get("SCIPY_ARRAY_API") != "1",
    reason="scikit-learn's Array API dispatch needs SCIPY_ARRAY_API=1 at import",
)


@pytest.fixture(scope="module")
def strict_fits():
    """Models fitted on array-api-strict arrays, and the same fitted on NumPy."""
    xps = pytest.importorskip("array_api_strict")
    X, y = _regimes_1d(n=300)
    labels = np.where(X[:, 0] > 0.5, 2, (X[:, 0] > -1).astype(int))
    targets = (y, labels, y)

    def models():
        return (
            MoERegressor(n_experts=2, n_init=1, random_state=0),
            MoEClassifier(n_experts=2, n_init=1, random_state=0),
            make_pipeline(
                StandardScaler(), MoERegressor(n_experts=2, n_init=1, random_state=0)
            ),
        )

    numpy_fits = [m.fit(X, t) for m, t in zip(models(), targets, strict=True)]
    # (StandardScaler's first running variance divides 0 by 0 in array-api-strict)
    with sklearn.config_context(array_api_dispatch=True), np.errstate(invalid="ignore"):
        strict = [
            m.fit(xps.asarray(X), xps.asarray(t))
            for m, t in zip(models(), targets, strict=True)
        ]
    assert not isinstance(strict[0].gate_coef_, np.ndarray)  # kept in its namespace
    return xps, X, y, labels, strict, numpy_fits


@array_api_dispatch
@pytest.mark.parametrize("dispatch", [True, False], ids=["dispatch", "no-dispatch"])
@pytest.mark.parametrize("kind", ["array-api-strict", "numpy"])
def test_displays_of_a_model_fitted_under_array_api_dispatch(
    kind, dispatch, strict_fits
):
    xps, X, y, labels, strict, reference = strict_fits
    regressor, classifier, pipeline = strict
    ref_regressor, ref_classifier, ref_pipeline = reference
    convert = xps.asarray if kind == "array-api-strict" else np.asarray
    Xs, ys, labels_s = convert(X), convert(y), convert(labels)
    grid = np.linspace(X.min(), X.max(), 40)[:, None]
    close = {"rtol": 1e-6, "atol": 1e-9}
    with sklearn.config_context(array_api_dispatch=dispatch):
        gate = GateDisplay.from_estimator(regressor, Xs, grid_resolution=40)
        np.testing.assert_allclose(gate.lines_[0].get_xdata(), grid[:, 0])
        np.testing.assert_allclose(gate.gate, ref_regressor.predict_gate(grid), **close)

        bands = PredictionBandsDisplay.from_estimator(
            regressor, Xs, ys, band="std", grid_resolution=40
        )
        mean, std = ref_regressor.predict(grid, return_std=True)
        np.testing.assert_allclose(bands.line_.get_ydata(), mean, **close)
        np.testing.assert_allclose(bands.upper, mean + 2 * std, **close)
        np.testing.assert_allclose(
            bands.scatter_.get_offsets(), np.column_stack([X, y])
        )
        quantile = PredictionBandsDisplay.from_estimator(
            regressor, Xs, coverage=0.8, grid_resolution=40
        )
        expected = ref_regressor.predict_distribution(grid).ppf(0.9)
        np.testing.assert_allclose(quantile.upper, expected, rtol=1e-5)

        usage = ExpertUsageDisplay.from_estimator(regressor, Xs, ys)
        dist = ref_regressor.predict_distribution(X)
        joint = dist.weights * stats.norm.pdf(y[:, None], dist.means, dist.scales)
        share = (joint / joint.sum(axis=1, keepdims=True)).mean(axis=0)
        np.testing.assert_allclose(usage.responsibility_share, share, rtol=1e-5)
        np.testing.assert_allclose(
            usage.mean_gate, ref_regressor.predict_gate(X).mean(axis=0), **close
        )

        usage = ExpertUsageDisplay.from_estimator(classifier, Xs, labels_s)
        proba = ref_classifier.predict_proba(X)[np.arange(len(labels)), labels]
        gate_weights = ref_classifier.predict_gate(X)
        # the responsibilities mix back to the model's class probability
        expert_proba = np.stack(
            [
                special.softmax(
                    X @ ref_classifier.expert_coef_[k].T
                    + ref_classifier.expert_intercept_[k],
                    axis=1,
                )[np.arange(len(labels)), labels]
                for k in range(2)
            ],
            axis=1,
        )
        share = (gate_weights * expert_proba / proba[:, None]).mean(axis=0)
        np.testing.assert_allclose(usage.responsibility_share, share, rtol=1e-5)

        piped = GateDisplay.from_estimator(pipeline, Xs, grid_resolution=40)
        expected = ref_pipeline[-1].predict_gate(ref_pipeline[0].transform(grid))
        np.testing.assert_allclose(piped.gate, expected, **close)

        convergence = ConvergenceDisplay.from_estimator(regressor)
        np.testing.assert_allclose(
            convergence.line_.get_ydata(),
            ref_regressor.log_likelihood_history_,
            rtol=1e-6,
        )


def test_gate_display_over_a_string_column_says_what_to_draw():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"x": rng.randn(100), "kind": rng.choice(["a", "b"], 100)})
    y = frame["x"].to_numpy() + rng.randn(100)
    encode = make_column_transformer(
        (StandardScaler(), ["x"]), (OneHotEncoder(sparse_output=False), ["kind"])
    )
    pipe = make_pipeline(encode, MoERegressor(2, n_init=1, random_state=0))
    pipe.fit(frame, y)
    with pytest.raises(ValueError, match="must be numeric; X has a non-numeric"):
        GateDisplay.from_estimator(pipe, frame)
    # the displays that the message names draw it
    display = ExpertUsageDisplay.from_estimator(pipe, frame, y)
    share = display.bars_["responsibility share"]
    np.testing.assert_allclose(sum(bar.get_height() for bar in share), 1.0)


def _exposure_counts(n=1000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 1))
    exposure = rng.choice([0.2, 5.0], n)
    rate = np.where(rng.rand(n) < 0.5, 1.0, 6.0) * np.exp(0.3 * X[:, 0])
    return X, rng.poisson(exposure * rate), exposure


def test_displays_take_the_exposure_of_a_poisson_model():
    # the displays had no exposure: an exposure-fitted model's responsibilities
    # were drawn at exposure 1, without a word (QA)
    from skmoe import MoEPoissonRegressor

    X, y, exposure = _exposure_counts()
    model = MoEPoissonRegressor(2, random_state=0).fit(X, y, exposure=exposure)
    display = ExpertUsageDisplay.from_estimator(model, X, y, exposure=exposure)
    expected = model.responsibilities(X, y, exposure=exposure).mean(axis=0)
    np.testing.assert_allclose(display.responsibility_share, expected)
    with pytest.warns(UserWarning, match="fitted with exposure") as record:
        unit = ExpertUsageDisplay.from_estimator(model, X, y)
    assert len(record) == 1  # the display's, not also responsibilities'
    assert np.abs(unit.responsibility_share - expected).max() > 0.005

    bands = PredictionBandsDisplay.from_estimator(
        model, X, y, exposure=5.0, band="std", grid_resolution=7
    )
    grid = bands.x.reshape(-1, 1)
    mean, std = model.predict(grid, exposure=np.full(7, 5.0), return_std=True)
    np.testing.assert_allclose(bands.mean, mean)
    np.testing.assert_allclose(bands.upper, mean + 2 * std)
    with pytest.warns(UserWarning, match="per unit exposure"):
        PredictionBandsDisplay.from_estimator(model, X, y, grid_resolution=7)
    with pytest.raises(ValueError, match="exposure"):
        PredictionBandsDisplay.from_estimator(model, X, y, exposure=-1.0)

    regressor = MoERegressor(2, random_state=0).fit(X, np.log1p(y))
    with pytest.raises(ValueError, match="MoEPoissonRegressor only"):
        ExpertUsageDisplay.from_estimator(regressor, X, np.log1p(y), exposure=exposure)


def test_bands_of_a_count_model_requesting_exposure_warn_once():
    # predict warns where a model fitted with exposure requests it for predict
    # and gets none (a scorer dropped it): the std bands, drawn per unit
    # exposure by design, gave that warning without y (none for quantile
    # bands) and a second one beside the display's own with y
    from skmoe import MoEPoissonRegressor

    X, y, exposure = _exposure_counts(n=400)
    with sklearn.config_context(enable_metadata_routing=True):
        model = MoEPoissonRegressor(2, random_state=0).set_predict_request(
            exposure=True
        )
    model.fit(X, y, exposure=exposure)
    for band in ("std", "quantile"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            PredictionBandsDisplay.from_estimator(model, X, band=band)
        with pytest.warns(UserWarning, match="per unit exposure") as record:
            PredictionBandsDisplay.from_estimator(model, X, y, band=band)
        assert len(record) == 1, [str(w.message) for w in record]
    bands = PredictionBandsDisplay.from_estimator(model, X, band="std")
    grid = bands.x.reshape(-1, 1)
    mean, std = model.predict(grid, exposure=1.0, return_std=True)
    np.testing.assert_allclose(bands.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(bands.upper, mean + 2 * std, rtol=1e-12)


def test_display_messages_and_checks():
    # "X has 2 features; this display draws inputs with 1 or 2 features (the
    # estimator expects 1)" contradicted itself; objective="no" drew the
    # objective (QA)
    X, y = _regimes_1d()
    model = MoERegressor(2, random_state=0).fit(X, y)
    wide = np.column_stack([X, X])
    with pytest.raises(
        ValueError, match="X has 2 features, but the estimator expects 1"
    ):
        PredictionBandsDisplay.from_estimator(model, wide)
    with pytest.raises(ValueError, match="objective"):
        ConvergenceDisplay.from_estimator(model, objective="no")


def test_bands_of_gamma_experts_stop_at_zero():
    # mean - 2 std of a skewed positive target is negative; the band stops at 0
    from skmoe import MoEGammaRegressor

    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 1))
    y = rng.gamma(1.5, np.exp(np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0])) / 1.5)
    model = MoEGammaRegressor(2, random_state=0).fit(X, y)
    bands = PredictionBandsDisplay.from_estimator(
        model, X, y, band="std", grid_resolution=9
    )
    grid = bands.x.reshape(-1, 1)
    mean, std = model.predict(grid, return_std=True)
    assert np.any(mean - 2 * std < 0)
    np.testing.assert_allclose(bands.lower, np.maximum(mean - 2 * std, 0))
    np.testing.assert_allclose(bands.upper, mean + 2 * std)
    quantile = PredictionBandsDisplay.from_estimator(model, X, grid_resolution=9)
    dist = model.predict_distribution(grid)
    np.testing.assert_allclose(quantile.lower, dist.ppf(0.05))
    np.testing.assert_allclose(quantile.upper, dist.ppf(0.95))
    plt.close("all")


def test_from_estimator_passes_its_keywords_to_the_artists(
    regression_1d, classification_2d
):
    # as scikit-learn's DecisionBoundaryDisplay, CalibrationDisplay and
    # DetCurveDisplay: from_estimator(..., **kwargs) is plot(**kwargs)
    X, y, reg = regression_1d
    gate = GateDisplay.from_estimator(reg, X, linestyle="--", linewidth=3.5)
    assert [line.get_linestyle() for line in gate.lines_] == ["--"] * 3
    assert [line.get_linewidth() for line in gate.lines_] == [3.5] * 3
    Xc, _, clf = classification_2d
    surface = GateDisplay.from_estimator(clf, Xc, grid_resolution=5, alpha=0.3)
    assert surface.surface_.get_alpha() == 0.3
    bands = PredictionBandsDisplay.from_estimator(reg, X, y, color="C3", lw=2.5)
    assert bands.line_.get_color() == "C3"
    assert bands.line_.get_linewidth() == 2.5
    usage = ExpertUsageDisplay.from_estimator(reg, X, y, hatch="//")
    patches = [bar for bars in usage.bars_.values() for bar in bars]
    assert len(patches) == 9
    assert {bar.get_hatch() for bar in patches} == {"//"}
    history = ConvergenceDisplay.from_estimator(reg, marker="x", color="k")
    assert history.line_.get_marker() == "x"
    assert history.line_.get_color() == "k"


def test_display_keywords_override_their_own_and_aliases(
    regression_1d, classification_2d
):
    # the keywords a display sets itself give way to the user's, spelled in
    # full or as matplotlib's aliases: c= beside the display's color raised
    # 'Got both', width= the bars' positional width 'multiple values', and
    # norm= the surface's vmin/vmax 'Passing a Normalize instance'
    from matplotlib.colors import LogNorm, Normalize, to_rgba

    X, y, reg = regression_1d
    gate = GateDisplay.from_estimator(reg, X, c="k", ls=":")
    assert [to_rgba(line.get_color()) for line in gate.lines_] == [to_rgba("k")] * 3
    assert [line.get_linestyle() for line in gate.lines_] == [":"] * 3
    bands = PredictionBandsDisplay.from_estimator(reg, X, y, c="C3", label="mean")
    assert bands.line_.get_color() == "C3"
    assert bands.line_.get_label() == "mean"
    history = ConvergenceDisplay.from_estimator(reg, c="k", marker="o")
    assert history.line_.get_color() == "k"
    assert history.line_.get_marker() == "o"
    usage = ExpertUsageDisplay.from_estimator(reg, X, y, width=0.1, fc="r")
    for j, bars in enumerate(usage.bars_.values()):
        # three bars of width 0.1 side by side around each expert's tick
        lefts = [bar.get_x() for bar in bars]
        np.testing.assert_allclose(lefts, np.arange(3) + (j - 1) * 0.1 - 0.05)
        assert [bar.get_width() for bar in bars] == [0.1] * 3
        assert {bar.get_facecolor() for bar in bars} == {to_rgba("r")}
    Xc, _, clf = classification_2d
    for expert in (None, 0):
        norm = Normalize(-1.0, 5.0)
        surface = GateDisplay.from_estimator(
            clf, Xc, grid_resolution=5, expert=expert, norm=norm
        )
        assert surface.surface_.norm is norm
        assert (norm.vmin, norm.vmax) == (-1.0, 5.0)
    log = GateDisplay.from_estimator(
        clf, Xc, grid_resolution=5, expert=0, norm=LogNorm()
    )
    assert isinstance(log.surface_.norm, LogNorm)
    shaded = GateDisplay.from_estimator(
        clf, Xc, grid_resolution=5, shading="nearest", cmap="magma", vmin=0.2
    )
    assert shaded.surface_.get_cmap().name == "magma"
    assert shaded.surface_.norm.vmin == 0.2


@array_api_dispatch
def test_expert_usage_of_an_array_api_model_checks_names_as_predict_does(
    strict_fits,
):
    # the input is converted to the model's namespace, which dropped its names
    # unchecked: mixed-type names and names for a model fitted without them
    # were drawn silently, where predict raises and warns
    pd = pytest.importorskip("pandas")
    _, X, _, _, strict, numpy_fits = strict_fits
    regressor, _, pipeline = strict
    mixed = pd.DataFrame(np.c_[X, X], columns=["a", 0])
    named = pd.DataFrame(X, columns=["a"])
    for model, reference, first in (
        (regressor, numpy_fits[0], "MoERegressor"),
        (pipeline, numpy_fits[2], "StandardScaler"),
    ):
        with sklearn.config_context(array_api_dispatch=True):
            with pytest.raises(TypeError, match="string names"):
                model.predict(mixed)
        with pytest.raises(TypeError, match="string names"):
            ExpertUsageDisplay.from_estimator(model, mixed)
        message = f"X has feature names, but {first} was fitted without"
        with pytest.warns(UserWarning, match=message) as caught:
            display = ExpertUsageDisplay.from_estimator(model, named)
        assert len([w for w in caught if message in str(w.message)]) == 1
        np.testing.assert_allclose(
            display.mean_gate,
            reference[-1].predict_gate(reference[:-1].transform(X)).mean(axis=0)
            if first == "StandardScaler"
            else reference.predict_gate(X).mean(axis=0),
            rtol=1e-6,
            atol=1e-9,
        )
