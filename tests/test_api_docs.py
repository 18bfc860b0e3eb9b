"""The public API's docstrings against the code: numpydoc's validation with
scikit-learn's rules, and each estimator's Attributes section against the
attributes a fit sets."""

import functools
import inspect
import re

import numpy as np
import pytest
from _references import ESTIMATORS
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import skmoe
import skmoe.exceptions
import skmoe.plotting
from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)

# --- numpydoc's validation, with scikit-learn's rules -------------------------------
#
# As scikit-learn's sklearn/tests/test_docstrings.py: every public class and
# function, and every public method and property of the classes (with those
# inherited from scikit-learn), less the checks scikit-learn ignores.


def _public_objects():
    modules = [
        (skmoe, [name for name in skmoe.__all__ if name != "__version__"]),
        (skmoe.plotting, skmoe.plotting.__all__),
        (skmoe.exceptions, skmoe.exceptions.__all__),
    ]
    for module, names in modules:
        for name in names:
            obj = getattr(module, name)
            yield obj, None
            if not inspect.isclass(obj) or issubclass(obj, Warning):
                continue  # (a warning's methods are Python's)
            for method in sorted(dir(obj)):
                member = getattr(obj, method, None)
                if not method.startswith("_") and (
                    callable(member) or isinstance(member, property)
                ):
                    yield obj, method


PUBLIC_OBJECTS = list(_public_objects())


def _scikit_learn_errors(errors, obj, method):
    """scikit-learn's filter_errors: what its docstring test ignores."""
    for code, message in errors:
        if code in ("RT02", "GL01", "GL02"):
            continue
        if (
            code in ("PR02", "GL08")
            and method is not None
            and isinstance(getattr(obj, method), property)
        ):
            continue
        if method is not None and code in ("EX01", "SA01", "ES01"):
            continue
        yield code, message


@pytest.mark.parametrize(
    "obj, method",
    PUBLIC_OBJECTS,
    ids=[
        f"{obj.__name__}.{method}" if method else obj.__name__
        for obj, method in PUBLIC_OBJECTS
    ],
)
def test_numpydoc_validation(obj, method):
    validate = pytest.importorskip("numpydoc.validate").validate
    path = ".".join([obj.__module__, obj.__name__] + ([method] if method else []))
    errors = list(_scikit_learn_errors(validate(path)["errors"], obj, method))
    assert not errors, "\n".join(f"{code}: {message}" for code, message in errors)


# --- The Attributes sections name the attributes a fit sets --------------------------


def _documented_attributes(cls):
    doc = inspect.getdoc(cls)
    section = doc.split("Attributes\n----------\n", 1)[1]
    section = re.split(r"^\w[\w ]*\n-+$", section, maxsplit=1, flags=re.M)[0]
    return set(re.findall(r"^(\w+) :", section, flags=re.M))


def _data(cls, n=100):
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(n, 2))
    regime = X[:, 0] > 0
    mean = np.exp(np.where(regime, 1 + 0.5 * X[:, 1], 0.2 - 0.3 * X[:, 1]))
    y = {
        MoERegressor: np.where(regime, 2 * X[:, 0], -X[:, 0]) + 0.3 * rng.randn(n),
        MoEClassifier: np.where(regime, X[:, 1], -X[:, 1]) + 0.3 * rng.randn(n) > 0,
        MoEPoissonRegressor: rng.poisson(mean),
        MoEGammaRegressor: rng.gamma(2.0, mean / 2.0),
        MoENegativeBinomialRegressor: rng.negative_binomial(2, 2 / (2 + mean)),
    }[cls]
    return X, y.astype(np.int64 if cls is MoEClassifier else np.float64)


#: Settings that set or remove fitted attributes, as constructor parameters
#: beside BASE ("tree": the experts of a depth-1 tree), each for the estimators
#: that take them.
BASE = dict(n_experts=2, n_init=1, max_iter=20, random_state=0)
SETTINGS = {
    "default": {},
    "top_k": dict(n_experts=3, top_k=2),
    "prune": dict(n_experts=3, prune_threshold=0.2),
    "sgd": dict(solver="sgd"),
    "gaussian_gate": dict(gate="gaussian"),
    "hierarchical": dict(n_experts=4, gate="hierarchical"),
    "tree_auto": dict(n_experts="auto", expert_estimator="tree"),
    "student_t_auto": dict(noise="student_t", df="auto"),
    "zero_inflated": dict(zero_inflated=True),
}
CASES = [
    (cls, name)
    for cls in ESTIMATORS
    for name, setting in SETTINGS.items()
    if set(setting) <= set(cls().get_params())
]


@functools.cache
def _fitted(cls, name):
    params = {**BASE, **SETTINGS[name]}
    if params.get("expert_estimator") == "tree":
        tree = DecisionTreeClassifier if cls is MoEClassifier else DecisionTreeRegressor
        params["expert_estimator"] = tree(max_depth=1)
    X, y = _data(cls)
    if name == "default":  # feature_names_in_
        X = pytest.importorskip("pandas").DataFrame(X, columns=["a", "b"])
    return cls(**params).fit(X, y)


def _fitted_attributes(estimator):
    return {a for a in vars(estimator) if a.endswith("_") and not a.startswith("_")}


# the fits' warnings (convergence in max_iter=20) are not what these test
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    "cls, name", CASES, ids=[f"{cls.__name__}-{name}" for cls, name in CASES]
)
def test_fitted_attributes_are_documented(cls, name):
    undocumented = _fitted_attributes(_fitted(cls, name)) - _documented_attributes(cls)
    assert not undocumented, f"{cls.__name__}: {sorted(undocumented)} undocumented"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_documented_attributes_are_set_by_some_fit(cls):
    fitted = set().union(
        *(_fitted_attributes(_fitted(c, name)) for c, name in CASES if c is cls)
    )
    never_set = _documented_attributes(cls) - fitted
    assert not never_set, f"{cls.__name__}: {sorted(never_set)} never set"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_solver_entry_names_expert_estimator_only_where_it_is_a_parameter(cls):
    # MoENegativeBinomialRegressor's said the other solvers use
    # validation_fraction for n_experts="auto" with expert_estimator, a
    # parameter it does not have
    doc = inspect.cleandoc(cls.__doc__)
    entry = re.search(r"^solver : .*?\n\n", doc, re.MULTILINE | re.DOTALL).group()
    assert "ignore ``batch_size``" in entry
    has = "expert_estimator" in inspect.signature(cls).parameters
    assert ("``expert_estimator``" in entry) == has
    # nor any other parameter's entry (acceleration's, random_state's and
    # warm_start's named it in the NB regressor's)
    parameters = re.search(r"^Parameters\n-+\n(.*?)^Attributes\n", doc, re.M | re.S)
    assert ("expert_estimator" in parameters.group(1)) == has


def _attribute_entry(cls, name):
    doc = inspect.getdoc(cls)
    section = doc.split("Attributes\n----------\n", 1)[1]
    entry = re.search(rf"^{name} :.*?(?=^\w+ :|\Z)", section, re.M | re.S).group()
    return " ".join(entry.split())


REMOVING_CASES = [(cls, name) for cls, name in CASES if name.endswith("_auto")]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    "cls, name",
    REMOVING_CASES,
    ids=[f"{cls.__name__}-{name}" for cls, name in REMOVING_CASES],
)
def test_attributes_a_warm_refit_or_pruning_removes_are_documented_so(cls, name):
    # n_experts_bic_'s entry said a warm refit and prune_experts' copy remove
    # it; n_experts_scores_ and df_bic_, removed alike, did not say so, nor
    # did prune_experts' Returns
    fitted = _fitted(cls, name)
    X, y = _data(cls)
    warm = clone(fitted).fit(X, y).set_params(warm_start=True).fit(X, y)
    pruned = fitted.prune_experts(0.0)
    removed_warm = _fitted_attributes(fitted) - _fitted_attributes(warm)
    removed_pruned = _fitted_attributes(fitted) - _fitted_attributes(pruned)
    assert removed_warm and removed_pruned
    returns = inspect.getdoc(cls.prune_experts).split("Returns\n-------\n")[1]
    returns = " ".join(returns.split())
    for attribute in removed_warm:
        assert "``warm_start`` refit" in _attribute_entry(cls, attribute), attribute
    for attribute in removed_pruned:
        entry = _attribute_entry(cls, attribute)
        assert ":meth:`prune_experts`' copy" in entry, attribute
        assert f"``{attribute}``" in returns, attribute
