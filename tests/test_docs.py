"""The documentation: docstrings of public names, the Sphinx build with -W, and the
user guide's and the README's code, which must run."""

import ast
import doctest
import importlib.util
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

try:
    import matplotlib
except ImportError:  # the plotting page's block is then skipped (rule 2 below)
    pass
else:
    matplotlib.use("Agg")

import skmoe
import skmoe.exceptions
import skmoe.plotting

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [getattr(skmoe, name) for name in skmoe.__all__ if name != "__version__"] + [
    getattr(skmoe.plotting, name) for name in skmoe.plotting.__all__
]
WARNINGS = [getattr(skmoe.exceptions, name) for name in skmoe.exceptions.__all__]


def _sections(doc):
    """Names of the numpydoc sections (a title underlined with dashes)."""
    return re.findall(r"^(\w[\w ]*)\n-+$", doc, flags=re.M)


@pytest.mark.parametrize("obj", PUBLIC, ids=[obj.__name__ for obj in PUBLIC])
def test_public_name_has_numpydoc_docstring_with_examples(obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{obj.__name__} has no docstring"
    sections = _sections(doc)
    assert "Parameters" in sections, f"{obj.__name__}: no Parameters section"
    assert "Examples" in sections, f"{obj.__name__}: no Examples section"
    examples = doc.split("Examples\n--------", 1)[1]
    assert ">>>" in examples, f"{obj.__name__}: the Examples section has no doctest"


@pytest.mark.parametrize("obj", WARNINGS, ids=[obj.__name__ for obj in WARNINGS])
def test_warning_category_has_a_docstring_with_examples_and_a_page(obj):
    # (no Parameters: a warning takes its message only)
    doc = inspect.getdoc(obj)
    assert ">>>" in doc.split("Examples\n--------", 1)[1]
    assert f"   {obj.__name__}\n" in (ROOT / "docs" / "api.rst").read_text()


def test_docs_build_without_warnings(tmp_path):
    for module in ["sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme"]:
        pytest.importorskip(module)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(ROOT / "docs"),
            str(tmp_path / "html"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    html = tmp_path / "html"
    for page in [
        "index.html",
        "api.html",
        "user_guide/fitting.html",
        "generated/skmoe.MoERegressor.html",
        "generated/skmoe.plotting.GateDisplay.html",
    ]:
        assert (html / page).is_file(), page
    notebooks = sorted(p.stem for p in (ROOT / "examples").glob("*.ipynb"))
    rendered = sorted(p.stem for p in (html / "examples").glob("*.html"))
    assert rendered == notebooks
    # the API pages come from the docstrings
    regressor = (html / "generated/skmoe.MoERegressor.html").read_text()
    assert 'id="skmoe.MoERegressor.predict_distribution"' in regressor
    # a reference to skmoe's own names that Sphinx could not resolve renders as code
    # without a link (no warning without nitpicky): external names (scikit-learn,
    # SciPy) stay unlinked offline, skmoe's must all link
    ours = {*skmoe.__all__, *skmoe.plotting.__all__, *skmoe.exceptions.__all__}
    unresolved = []
    for page in html.rglob("*.html"):
        for match in re.finditer(
            r'(<a [^>]*>)?<code class="xref py[^"]*"[^>]*>(.*?)</code>',
            page.read_text(),
        ):
            name = re.sub(r"<[^>]+>", "", match[2]).removesuffix("()")
            if match[1] is None and (
                name.startswith("skmoe") or name.split(".")[0] in ours
            ):
                unresolved.append(f"{page.relative_to(html)}: {name}")
    assert not unresolved, unresolved


# --- The user guide's code runs -------------------------------------------------------
#
# Every Python block of docs/index.rst and docs/user_guide/*.rst runs, page by page:
# the ``.. code-block:: python`` blocks and the ``::`` literal blocks (Sphinx highlights
# those as Python too), in the order of the page and in one namespace per page, so that
# later blocks use the names of earlier ones. A literal block in doctest form (``>>>``)
# runs its source lines; its output is not compared (it holds timings), so a
# ``# doctest: +SKIP`` there does not stop the code from running. Only the three rules
# below change what runs; a block that raises fails its page's test.

DOCS = ROOT / "docs"
PAGES = [DOCS / "index.rst", *sorted((DOCS / "user_guide").glob("*.rst"))]

# Rule 1: blocks not meant to run, as (page, a substring of the block): reason. A rule
# that matches no block fails test_docs_code_rules_match_the_pages.
SKIPPED_BLOCKS = {
    ("user_guide/fitting.rst", "training BIC -493.351"): "printed output, not code",
    ("user_guide/pipelines.rst", "from distributed import Client"): (
        "starts a Dask cluster (dask.distributed)"
    ),
}
# Rule 2: a block that imports one of these optional packages is skipped when the
# package is not installed (the extras "dask", "gpu" and "plot" and Array API inputs).
OPTIONAL_PACKAGES = {"cupy", "dask", "distributed", "matplotlib", "torch"}
# Rule 3: substitutions that shrink slow examples, as page: [(old, new)]; ``old`` must
# occur in the page's code. The grid search over the digits runs on 3 of the 10
# digits, for time.
SUBSTITUTIONS: dict[str, list[tuple[str, str]]] = {
    "user_guide/pipelines.rst": [
        (
            "X, y = load_digits(return_X_y=True)",
            "X, y = load_digits(n_class=3, return_X_y=True)",
        ),
        (
            "train_test_split(X, y, random_state=0)",
            "train_test_split(X, y, train_size=225, test_size=75, random_state=0)",
        ),
    ]
}

# The data that a page's prose assumes, made from synthetic data: only for the
# output that fitting.rst shows (every page's code defines its own data, so that a
# reader can run it as it stands). Pages not listed get none. Only the names of the
# illustrative call (``X``, ``y`` and ``MoERegressor``) reach the page's namespace:
# the page's own code must import what it uses.
_REGIMES_1D = """
import numpy as np
from skmoe import MoERegressor

rng = np.random.RandomState(0)
X = rng.uniform(-3, 3, size=(300, 1))
slope = np.array([-2.0, 0.2, 3.0])[np.digitize(X[:, 0], [-1.0, 1.0])]
y = slope * X[:, 0] + 0.3 * rng.standard_normal(300)
"""
PRELUDES = {
    "user_guide/fitting.rst": _REGIMES_1D,
}


def _page_name(path):
    return path.relative_to(DOCS).as_posix()


def _code_blocks(text):
    """(line number of the first line, code) of each Python block of a page.

    Each code is padded with blank lines so that its line numbers are the page's.
    """
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = re.match(r"\s*\.\. code-block::\s*(\S*)\s*$", line)
        literal = line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        if not (directive or literal):
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        i += 1
        while directive and i < len(lines) and re.match(r"\s+:[\w-]+:", lines[i]):
            i += 1  # the directive's options
        body = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        if directive and directive.group(1) not in ("python", "python3", "pycon"):
            continue
        first = next((n for n, b in enumerate(body) if b.strip()), None)
        if first is None:
            continue
        start = i - len(body) + first + 1  # 1-based line of the block's first line
        code = textwrap.dedent("\n".join(body[first:])).rstrip()
        if code.lstrip().startswith(">>>"):
            padded = [""] * len(code.splitlines())
            for example in doctest.DocTestParser().get_examples(code):
                source = example.source.splitlines()
                padded[example.lineno : example.lineno + len(source)] = source
            code = "\n".join(padded)
        blocks.append((start, "\n" * (start - 1) + code))
    return blocks


def _first_line(code):
    return next(line.strip() for line in code.splitlines() if line.strip())


def _skip_reason(page, code):
    for (rule_page, substring), reason in SKIPPED_BLOCKS.items():
        if rule_page == page and substring in code:
            return reason
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module]
        else:
            continue
        for module in modules:
            package = module.split(".")[0]
            if package in OPTIONAL_PACKAGES and not importlib.util.find_spec(package):
                return f"{package} is not installed"
    return None


CODE_PAGES = [p for p in PAGES if _code_blocks(p.read_text())]


def test_docs_code_rules_match_the_pages():
    pages = {_page_name(p): p.read_text() for p in PAGES}
    code_pages = {_page_name(p) for p in CODE_PAGES}
    assert {"index.rst", "user_guide/recipes.rst"} <= code_pages
    for page, substring in SKIPPED_BLOCKS:
        codes = [code for _, code in _code_blocks(pages[page])]
        assert sum(substring in code for code in codes) == 1, (page, substring)
    for page, substitutions in SUBSTITUTIONS.items():
        for old, _ in substitutions:
            assert old in pages[page], (page, old)
    assert set(PRELUDES) <= code_pages


@pytest.mark.filterwarnings("default")  # warnings show in the summary, never fail
@pytest.mark.parametrize("path", CODE_PAGES, ids=[_page_name(p) for p in CODE_PAGES])
def test_user_guide_code_runs(path, capsys):
    page = _page_name(path)
    namespace = {"__name__": "__docs__"}
    if page in PRELUDES:
        prelude = {}
        exec(PRELUDES[page], prelude)
        namespace.update({name: prelude[name] for name in ("X", "y", "MoERegressor")})
    try:
        for line, code in _code_blocks(path.read_text()):
            where = f"{page}, line {line}: {_first_line(code)!r}"
            try:
                reason = _skip_reason(page, code)  # a SyntaxError fails here
                if reason:
                    with capsys.disabled():
                        print(f"\nskipped {where} ({reason})")
                    continue
                for old, new in SUBSTITUTIONS.get(page, []):
                    code = code.replace(old, new)
                exec(compile(code, str(path), "exec"), namespace)
            except Exception as exc:
                raise AssertionError(
                    f"{where} raised {type(exc).__name__}: {exc}"
                ) from exc
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def test_model_page_conformal_recipe_asks_for_the_conformal_rank():
    # split conformal: the ceil((n + 1) 0.9)-th smallest held-out width covers
    # at least 90% of new rows on average; np.quantile(..., method="higher")
    # at that rank over n took the next one (92.2% expected for n = 50)
    path = DOCS / "user_guide" / "model.rst"
    namespace = {"__name__": "__docs__"}
    for _, code in _code_blocks(path.read_text()):
        exec(compile(code, str(path), "exec"), namespace)
    reg, X_held, y_held = (namespace[name] for name in ("reg", "X_held", "y_held"))
    confidence = namespace["confidence"]
    assert y_held.shape == (200,)
    low, high = reg.predict_distribution(X_held).interval(confidence)
    inside = (y_held >= low) & (y_held <= high)
    # ceil(201 * 0.9) = 181 rows, the one at an end of its interval within rounding
    at_end = ~inside & (np.isclose(y_held, low) | np.isclose(y_held, high))
    assert int(np.sum(inside)) + int(np.sum(at_end)) == 181
    assert int(np.sum(at_end)) <= 1


def test_recipes_coefficients_in_input_units_match_least_squares():
    # the recipe's conversion of a scaled pipeline's coefficients and the
    # intercept's standard error, against least squares on the input's units
    from sklearn.linear_model import LinearRegression

    path = DOCS / "user_guide" / "recipes.rst"
    namespace = {"__name__": "__docs__"}
    for _, code in _code_blocks(path.read_text()):
        exec(compile(code, str(path), "exec"), namespace)
        if "X_units" in namespace and "se" in namespace and "w" in namespace:
            break
    X, y, resp = (namespace[name] for name in ("X_units", "y_units", "resp"))
    coef, intercept = namespace["coef"], namespace["intercept"]
    for k in range(2):
        ls = LinearRegression().fit(X, y, sample_weight=resp[:, k])
        np.testing.assert_allclose(ls.coef_, coef[k], atol=1e-4)
        np.testing.assert_allclose(ls.intercept_, intercept[k], atol=1e-4)
    # the rows expert 0 owns are all its own (responsibility 1): ordinary least
    # squares there gives the intercept's classical standard error
    own = resp.argmax(axis=1) == 0
    design = np.column_stack([np.ones(own.sum()), X[own]])
    beta, *_ = np.linalg.lstsq(design, y[own], rcond=None)
    sigma2 = np.sum((y[own] - design @ beta) ** 2) / (own.sum() - 3)
    ols_se = np.sqrt(sigma2 * np.linalg.inv(design.T @ design)[0, 0])
    se, w = namespace["se"], namespace["w"]
    np.testing.assert_allclose(np.sqrt(w @ se.covariance @ w), ols_se, rtol=0.01)
    assert se.expert_intercept_[0] < 0.5 * ols_se  # the scaled one is not it


def test_estimator_experts_page_states_the_scores_its_code_gives():
    # the comments of the tree experts' snippet give R^2 to the digits shown; here
    # from scikit-learn's r2_score on each model's predictions. The mixture's is one
    # value under NumPy's AVX-512 kernels and its AVX2 ones: weights below the floor
    # reach the trees as 0 (given as 1e-25, a tree split off such rows on rounding,
    # and the two gave 0.998 and 0.997)
    from sklearn.metrics import r2_score
    from sklearn.tree import DecisionTreeRegressor

    path = DOCS / "user_guide" / "gates_and_experts.rst"
    text = path.read_text()
    mixture = re.search(
        r"model\.score\(X, y\)  # ([0-9.]+): a depth-2 tree per side",
        text,
    )
    single = re.search(r"max_depth=2\)\.fit\(X, y\)\.score\(X, y\)  # ([0-9.]+)", text)
    (code,) = [c for _, c in _code_blocks(text) if "expert_estimator=tree" in c]
    namespace = {"__name__": "__docs__"}
    exec(compile(code, str(path), "exec"), namespace)
    X, y, model = (namespace[name] for name in ("X", "y", "model"))
    one = DecisionTreeRegressor(max_depth=2).fit(X, y)
    for stated, predicted in [(mixture, model.predict(X)), (single, one.predict(X))]:
        digits = len(stated[1].split(".")[1])
        assert round(r2_score(y, predicted), digits) == float(stated[1])


# --- README.md -----------------------------------------------------------------------
#
# The user guide's pages run above; the README's code and its table of parameters are
# checked here (the README is not part of the Sphinx build).

README = ROOT / "README.md"


def _readme_python_blocks():
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.M | re.S)


def test_readme_code_runs():
    blocks = _readme_python_blocks()
    assert blocks
    namespace = {"__name__": "__readme__"}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)
    # the block's model: three regimes, three experts, a per-row quantile
    assert namespace["model"][-1].n_experts_ == 3
    assert namespace["dist"].ppf(0.9).shape == (3,)


def test_readme_parameter_table_names_every_parameter():
    table = re.findall(r"^\| (`[^|]*`) \|", README.read_text(), re.M)
    named = set(re.findall(r"`(\w+)`", " ".join(table)))
    parameters = set()
    for name in skmoe.__all__:
        obj = getattr(skmoe, name)
        if inspect.isclass(obj) and name.startswith("MoE"):
            parameters |= set(inspect.signature(obj).parameters)
    assert named == parameters, (
        f"not in the table: {sorted(parameters - named)}; "
        f"not a parameter: {sorted(named - parameters)}"
    )
