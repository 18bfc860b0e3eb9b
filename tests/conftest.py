import numpy as np
import pytest

# tests/_fake_cupy is an emulated CuPy that only test_gpu_emulated.py's
# subprocess may import: collecting it (its doctests) imported it here
collect_ignore = ["_fake_cupy"]


def make_gated_regression(n_samples=1500, random_state=0):
    """Data drawn from a known 3-expert model with a softmax gate on x0.

    Returns X, y and the true expert coefficients (3, 2), intercepts (3,) and
    noise scales (3,).
    """
    rng = np.random.RandomState(random_state)
    X = rng.uniform(-3, 3, size=(n_samples, 2))
    gate_logits = np.column_stack(
        [-4 * X[:, 0] - 4, np.zeros(n_samples), 4 * X[:, 0] - 4]
    )
    gate = np.exp(gate_logits - gate_logits.max(1, keepdims=True))
    gate /= gate.sum(1, keepdims=True)
    expert = np.array([rng.choice(3, p=g) for g in gate])
    coef = np.array([[-3.0, 1.0], [0.5, -2.0], [2.5, 0.5]])
    intercept = np.array([-4.0, 1.0, -3.0])
    scale = np.array([0.3, 0.5, 0.2])
    y = (
        (X * coef[expert]).sum(1)
        + intercept[expert]
        + scale[expert] * rng.randn(n_samples)
    )
    return X, y, coef, intercept, scale


@pytest.fixture
def gated_regression():
    return make_gated_regression()


@pytest.fixture
def crossing_lines():
    """Two regression lines that cross: the classic mixture-of-regressions case."""
    rng = np.random.RandomState(1)
    X = rng.uniform(-2, 2, size=(400, 1))
    z = rng.rand(400) < 0.5
    y = np.where(z, 2 * X[:, 0] + 1, -1.5 * X[:, 0]) + 0.2 * rng.randn(400)
    return X, y


@pytest.fixture
def xor_classes():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "opposite")
    return X, y


@pytest.fixture
def count_cdf_calls(monkeypatch):
    """A list that grows by one on each call of the count mixtures' probabilities.

    The count quantiles search by evaluating the mixture's cdf; the number of
    evaluations is what their bracket tests bound.
    """
    import skmoe._count_distribution as module

    calls = []
    probabilities = module._probabilities

    def counted(*args, **kwargs):
        calls.append(1)
        return probabilities(*args, **kwargs)

    monkeypatch.setattr(module, "_probabilities", counted)
    return calls


def _count_rows(monkeypatch, name):
    """Patch ``skmoe._distribution``'s function ``name`` (a cdf of standardized
    values ``z``, its last argument) to count the rows it is given: a list that
    grows by ``z``'s rows on each call."""
    import skmoe._distribution as module

    evaluated = []
    function = getattr(module, name)

    def counted(*args):
        evaluated.append(np.shape(args[-1])[0])
        return function(*args)

    monkeypatch.setattr(module, name, counted)
    return evaluated


@pytest.fixture
def normal_cdf_rows(monkeypatch):
    """A list that grows by the rows of each evaluation of the Gaussian
    components' cdf (``_ndtr``); the ppf tests bound its sum per row."""
    return _count_rows(monkeypatch, "_ndtr")


@pytest.fixture
def t_cdf_rows(monkeypatch):
    """A list that grows by the rows of each evaluation of the Student t
    components' cdf (``_t_cdf``); the ppf tests bound its sum per row."""
    return _count_rows(monkeypatch, "_t_cdf")


@pytest.fixture
def halley_solved(monkeypatch):
    """A list of the masks of the rows that Halley's steps solve, one per call of
    ``_halley_quantiles`` (one per ppf call); the others go to the root finder."""
    import skmoe._distribution as module

    masks = []
    halley = module._halley_quantiles

    def recorded(*args, **kwargs):
        solved, found = halley(*args, **kwargs)
        masks.append(solved.copy())
        return solved, found

    monkeypatch.setattr(module, "_halley_quantiles", recorded)
    return masks
