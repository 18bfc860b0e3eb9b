"""The warnings skmoe gives, as categories to filter by.

skmoe gives its warnings at the user's own line (the call of ``fit``, or of
the grid search around it), so that ``warnings.filterwarnings("ignore",
module="skmoe")`` matches none of them; filter by these categories instead.
Each is a :class:`UserWarning` (the category they all had before these). A
fit that stops at ``max_iter`` (or a ``partial_fit`` step of too large a
``learning_rate``) gives scikit-learn's
:class:`~sklearn.exceptions.ConvergenceWarning`, and a column-vector ``y``
its :class:`~sklearn.exceptions.DataConversionWarning`, as scikit-learn's
estimators do.

Examples
--------
A grid search over the number of experts fits many that the data cannot
use; each such fit says so once. To silence those warnings alone:

>>> import warnings
>>> from sklearn.datasets import load_iris
>>> from sklearn.model_selection import GridSearchCV
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from skmoe import MoEClassifier
>>> from skmoe.exceptions import DegenerateFitWarning
>>> X, y = load_iris(return_X_y=True)
>>> model = make_pipeline(StandardScaler(), MoEClassifier(random_state=0))
>>> search = GridSearchCV(model, {"moeclassifier__n_experts": [1, 2, 6]}, cv=3)
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warnings.simplefilter("ignore", DegenerateFitWarning)
...     search = search.fit(X, y)
>>> [w.category.__name__ for w in caught]
[]
>>> search.best_params_
{'moeclassifier__n_experts': 1}
"""

__all__ = [
    "DegenerateFitWarning",
    "FeatureScaleWarning",
    "SkmoeWarning",
    "SpuriousExpertWarning",
]


class SkmoeWarning(UserWarning):
    """The base class of the warnings of skmoe's own.

    Given where a fit or a method meets data, parameters or a fitted model
    that it handles, but not as the user may expect: a constant ``y``, a
    parameter that a warm start ignores (or that the setting of another
    leaves unused, as ``df`` with Gaussian noise), groups or an exposure left
    out at predict time, ``n_experts="auto"`` choosing its largest candidate.
    The message says what happened and what to do.

    See Also
    --------
    DegenerateFitWarning : A fitted model degenerate in a way its score hides.
    FeatureScaleWarning : Features on a scale that does not suit the fit.
    sklearn.exceptions.ConvergenceWarning : A fit stopped by ``max_iter``.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skmoe import MoERegressor
    >>> from skmoe.exceptions import SkmoeWarning
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = MoERegressor(n_experts=2, random_state=0).fit(X, np.ones(50))
    >>> [issubclass(w.category, SkmoeWarning) for w in caught]
    [True]
    >>> print(str(caught[0].message)[:13])
    y is constant
    """


class DegenerateFitWarning(SkmoeWarning):
    """The fitted model is degenerate in a way its score does not show.

    Given once per fit, about the kept run: experts that handle less than
    one sample's worth of the data, or too few samples for their parameters;
    experts that collapsed onto a few values of ``y`` (their noise at its
    floor, the likelihood inflated); classes or zero counts separated with
    ``alpha=0`` (coefficients that grow without bound); classes whose samples
    all have weight 0 (intercepts without a maximum); means that overflow
    at training rows. Fewer experts, a penalty or pruning are the usual
    remedies, and the message names those that apply.

    See Also
    --------
    SkmoeWarning : The base class of skmoe's warnings.
    skmoe.MoERegressor.prune_experts : Drop the experts a fit leaves unused.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmoe import MoEClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = MoEClassifier(n_experts=6, random_state=0).fit(X, y)
    >>> [w.category.__name__ for w in caught]
    ['DegenerateFitWarning']
    >>> "handle less than one sample's worth" in str(caught[0].message)
    True
    """


class SpuriousExpertWarning(DegenerateFitWarning):
    """An expert of small share adds less to the likelihood than BIC charges.

    Given once per fit, about experts whose share of the (weighted) data is
    under 5% (R flexmix's default ``minprior``) and whose removal, the other
    experts unchanged and the gate renormalized over them, lowers the
    log-likelihood by less than ``p_k log(n) / 2``: ``p_k`` the parameters
    the expert and its share of the gate add to :meth:`~skmoe.MoERegressor.bic`'s
    count, n the number of samples. A refit without the expert can only raise
    the likelihood, so BIC prefers a model without it. Such an expert (a few
    rows on which its noise is small) is typical of a fit with more experts
    than the data hold. ``prune_threshold=0.05``,
    :meth:`~skmoe.MoERegressor.prune_experts` or ``n_experts="auto"`` drop it.
    Not given about point masses, for ``expert_estimator`` experts (which
    ``bic`` cannot count), ``gate="hierarchical"`` (whose groups are fixed by
    the number of experts), with ``balance_coef`` (which keeps experts in use
    on purpose) or where a :class:`DegenerateFitWarning` about the
    fit's experts is given already.

    A subclass of :class:`DegenerateFitWarning`: filters of the latter
    silence it too.

    See Also
    --------
    DegenerateFitWarning : The fitted model is degenerate.
    skmoe.MoERegressor.prune_experts : Drop the experts a fit leaves unused.

    Examples
    --------
    Three experts on data of two lines: the kept restart has an expert of
    about 11 rows' share, whose noise is far smaller than the others'.

    >>> import warnings
    >>> import numpy as np
    >>> from skmoe import MoERegressor
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 10, 600)
    >>> first = rng.random(600) < 0.4
    >>> y = np.where(first, 1 + 2 * x, 12 - x) + rng.normal(0, 1, 600)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = MoERegressor(3, gate="constant", random_state=2)
    ...     model = model.fit(x.reshape(-1, 1), y)
    >>> [w.category.__name__ for w in caught]
    ['SpuriousExpertWarning']
    >>> model.expert_usage_.round(3)
    array([0.6  , 0.019, 0.381])
    """


class FeatureScaleWarning(SkmoeWarning):
    """The features' scale does not suit the fit.

    Given where features have a standard deviation below 0.1 while the
    penalty ``alpha``, in the features' units, would shrink their
    coefficients (judged after the fit, on the coefficients the fitted model
    penalizes: none for trees as experts under one expert or an unpenalized
    gate; one linear expert of ``MoERegressor``, a ridge regression, only
    where ``alpha`` is above a hundredth of their variance, and one expert of
    the count and amount regressors where it is above a hundredth of their
    variance weighed by the expert's information: the mean count, about, for
    Poisson experts, 1 for Gamma ones), and where a
    ``partial_fit`` batch's features range far
    outside those seen before, and where ``MoEPoissonRegressor``'s features
    are so large for its counts that the curvature of EM's Newton steps (the
    mean count times the features' squares) overflows, which can leave the
    slopes of the experts of large counts at their start; a ``partial_fit``
    stream gives each such warning once (each ``fit`` gives its own).
    Standardizing the features (e.g. with
    :class:`~sklearn.preprocessing.StandardScaler` in a pipeline) answers
    each.

    See Also
    --------
    SkmoeWarning : The base class of skmoe's warnings.
    sklearn.preprocessing.StandardScaler : Standardize the features.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import load_diabetes
    >>> from skmoe import MoERegressor
    >>> X, y = load_diabetes(return_X_y=True)  # columns of norm 1: sd 0.048
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    >>> [w.category.__name__ for w in caught]
    ['FeatureScaleWarning']
    """
