"""MoEClassifier: a mixture of multinomial logistic experts."""

from __future__ import annotations

import contextlib
import math
from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    column_or_1d,
)

from ._backend import (
    array_namespace,
    as_compute,
    device_of,
    host,
    is_numpy_array,
    to_numpy,
)
from ._base import BaseMixtureOfExperts, _scored_rows
from ._docstrings import fill_doc
from ._em import e_step
from ._fitting import (
    AUTO_MIN_SAMPLES_PER_PARAMETER,
    _check_finite,
    _labels_present,
    _target_column,
    _unchanged_on_failure,
)
from ._math import by_columns, log_softmax, logsumexp, sums_in_turn
from ._partial_fit import _streaming_solver
from ._sgd import effective_rows
from ._sparse import selected_linear
from ._warnings import _listed, _warn_user
from .exceptions import DegenerateFitWarning
from .experts import LogisticExperts
from .experts.estimator import (
    ClassifierExperts,
    ExpertEstimatorMethods,
    check_sample_weight_support,
)

#: A probability of a sample's own class below this (or of another class above
#: 1 minus it) is a confident mistake, which a separated class has none of
#: (:meth:`MoEClassifier._separated_message`).
MISTAKE = 0.05

#: EM restarts of ``n_init="auto"`` in a fit with ``groups`` (binomial
#: responses, repeated measurements), where k-means of the rows splits by x.
GROUPED_N_INIT = 5


@fill_doc
class MoEClassifier(ClassifierMixin, BaseMixtureOfExperts):
    """Mixture of multinomial logistic experts, fitted by EM.

    ``p(y | x) = sum_k g_k(x) softmax(W_k x~)[y]``: a gate g(x) weighs K logistic
    regressions, each free to draw its own class boundaries in its region of the
    input space. Binary and multiclass targets with labels of one sortable type
    that scikit-learn's classifiers take (integers, strings, booleans; not
    bytes).

    Parameters
    ----------
    n_experts : int or "auto", default=2
        Number of experts K. Two logistic experts already draw piecewise class
        boundaries; more need more data (5-fold CV, 3 seeds, after a
        ``StandardScaler``: K=2 matched K=3 on iris, 0.9622, and beat it on
        wine, 0.9813 against 0.9776, and breast cancer, 0.9772 against 0.9736,
        while K=3 took 1.2 to 1.7 times as long). ``"auto"`` keeps the fit of
        lowest training BIC among K = 1 to 4; with logistic experts' many
        coefficients it tends to choose K=1 (it did on standardized iris and
        breast cancer), and it fits four models: on breast cancer about 4 times
        the fit time of the default (25.6 s against 6.2 s for 15 fits) at a lower
        accuracy (0.9713 against 0.9772); see ``benchmarks/RESULTS.md``,
        section 14, for the script. With ``expert_estimator``, whose experts have no
        parameter count, ``"auto"`` chooses by held-out log-likelihood
        instead (``n_experts_scores_``; held-out samples that a
        candidate scores ``-inf``, far outliers, are left out of the
        comparison, with a warning, and where that is all of them the fewest
        experts are kept). A warning says when it chooses 4
        while the criterion still improves there.

    {{gate_parameter}}

    expert_estimator : estimator object, default=None
        Experts that are clones of this scikit-learn classifier instead of
        logistic ones: a tree, a forest, gradient boosting, any classifier
        with ``predict_proba`` whose ``fit`` takes ``sample_weight``. Each EM
        iteration refits every expert with the samples' weights times their
        responsibilities (generalized EM), to the class indices ``0, ...,
        n_classes - 1``; expert k's class probabilities are its
        ``predict_proba``, floored at 1e-10 and renormalized (a pure leaf's
        zeros would give -inf log-likelihoods). The fitted clones are
        ``experts_``, on the raw ``expert_features`` (at least one: an empty
        list is refused), in X's column order.
        Fitted by EM on the CPU; ``n_experts="auto"`` chooses K by held-out
        log-likelihood (``n_experts_scores_``), ``alpha`` penalizes the gate
        only (nothing with ``gate="constant"`` or ``"gaussian"``: fit warns
        that it is ignored), and ``bic``, ``aic``, ``icl`` and
        ``std_errors`` are not available. See :ref:`estimator-experts`.

    {{shared_features_parameter}}

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, as ``LogisticRegression``'s: ``fit`` and
        ``partial_fit`` multiply each sample's weight by its class's, so that
        every part of the fit (EM, the gradient solvers, ``"auto"``,
        ``validation_fraction``) sees the product. A dict maps class labels to
        weights (classes it omits weigh 1; labels of no class are refused
        unless it weighs every class, as scikit-learn's); ``"balanced"`` gives
        class c the weight ``W / (n_classes * n_c)``, with ``n_c`` the sum of
        class c's sample weights in ``fit``'s data and ``W`` that of all
        (``n_samples`` without sample weights), as scikit-learn's
        (``partial_fit``, which sees one batch at a time, refuses it: pass a
        dict, e.g. from
        ``sklearn.utils.class_weight.compute_class_weight``). The fitted
        attributes are the fit's, so they carry the class weights too
        (``log_likelihood_`` and its histories, ``expert_usage_``,
        ``n_experts_bic_``). The methods that take y after the fit
        (``score``, ``bic``, ``std_errors``, ...) weigh the samples by their
        own ``sample_weight`` only, so ``bic(X, y)`` on the training data
        differs from ``n_experts_bic_``, which ``bic`` gives with the fit's
        weights: ``sample_weight=compute_sample_weight(class_weight, y)``
        after a fit without sample weights; after one with them, those times
        each row's class weight from ``compute_class_weight(class_weight,
        classes=model.classes_, y=y, sample_weight=...)`` ("balanced" counts
        the classes by the sample weights). A class of weight 0 (or whose samples
        all weigh 0) stays in ``classes_``, and its unpenalized intercepts fall
        until the solver stops: its probabilities are tiny but depend on the
        solver and the data (on iris, each class in turn weighing 0, one or
        two experts: at most 4e-16 to 6e-6 over the rows by EM, 5e-9 to
        2e-7 by L-BFGS), as ``LogisticRegression``'s do (6e-7 to 5e-5).

    alpha : float, default=1e-3
        {{alpha_meaning}} Logistic experts overfit nearly separable classes
        with less (5-fold CV, 3 seeds, these defaults against K=3 with
        alpha=1e-4: iris 0.962 vs 0.949, breast cancer 0.977 vs 0.968, wine
        0.981 vs 0.983). For the ``C`` of ``LogisticRegression`` that matches
        a given ``alpha``, see Notes.

    n_init : int or "auto", default="auto"
        Number of EM restarts; the run with the best penalized log-likelihood is
        kept. ``"auto"``: 1 (the k-means start) for a fit without ``groups``,
        5 with them (k-means and 4 random starts, with ``init_params="mixed"``).
        For classification the k-means start was best nearly always: 5-fold
        CV, 3 seeds, mean accuracy over iris, wine, breast cancer and digits
        0.9736 with one restart against 0.9738 with four, at 9x less time
        (13.9 s against 122 s for the 60 fits), the random restarts running
        long on digits. Not for binomial responses as ``groups``, whose rows
        repeat one x: there k-means splits by x, and one restart ended 80 to
        117 nats below the maximum on 5 of 5 two-regime mixtures (a slope of
        0.52 for 2), which random starts found (see
        :doc:`/user_guide/from_r`). Nor before ``std_errors``, which need
        the maximum, where the regimes are not clusters of X: on a simulated
        mixture of two 3-class experts with a gate on one of two uniform
        features (3000 rows, ``alpha=0``, ``tol=1e-8``), the k-means start
        ended 6 to 27 nats below the maximum in 7 of 12 fits, which
        ``n_init=5`` reached in 12 of 12; the 95% Wald intervals covered
        the true coefficients 67% of the time after one start (200 fits),
        91% after five (80 fits, 10 of them warning of ``max_iter`` or
        separated classes).

    {{shared_parameters}}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    expert_coef_ : ndarray of shape (n_experts_, n_classes, n_features_in_)
        Coefficients of each expert's multinomial logistic regression (all
        ``n_classes`` logits are kept, also for two classes).

    expert_intercept_ : ndarray of shape (n_experts_, n_classes)
        Intercepts of each expert.

    experts_ : list of estimators
        With ``expert_estimator``: the fitted clones, one per expert, whose
        ``classes_`` are class indices into ``classes_`` (``expert_coef_`` and
        ``expert_intercept_`` are then not set).

    {{shared_attributes}}

    See Also
    --------
    MoERegressor : Mixture of linear-Gaussian experts for regression.
    sklearn.linear_model.LogisticRegression : The single-expert model.

    Notes
    -----
    With ``n_experts=1`` the model is scikit-learn's L2-penalized
    ``LogisticRegression`` with ``C = 1 / (alpha * sum(sample_weight))`` when
    there are three or more classes, and with ``C = 2 / (alpha *
    sum(sample_weight))`` for two classes: skmoe keeps and penalizes both
    logits, which at the optimum are ``w / 2`` and ``-w / 2`` for
    ``LogisticRegression``'s coefficients ``w``, so its penalty is half of
    ``||w||^2``. On standardized iris and breast cancer (``tol=1e-12``) the
    predicted probabilities agreed to within 1e-6. With ``class_weight``, the
    sum is that of the samples' weights times their classes' weights.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MoEClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(400, 2))
    >>> y = np.where(X[:, 0] * X[:, 1] > 0, "same", "opposite")  # XOR
    >>> clf = MoEClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(
        self,
        n_experts=2,
        *,
        gate="softmax",
        gate_covariance_type="full",
        gate_features=None,
        expert_features=None,
        expert_estimator=None,
        shared_features=None,
        class_weight=None,
        alpha=1e-3,
        n_init="auto",
        init_params="mixed",
        max_iter=500,
        tol=1e-5,
        top_k=None,
        prune_threshold=0.0,
        solver="em",
        assignment="soft",
        acceleration=None,
        balance_coef=0.0,
        noisy_gating=False,
        batch_size="auto",
        learning_rate=0.01,
        validation_fraction=0.1,
        n_iter_no_change=5,
        random_state=None,
        warm_start=False,
        verbose=0,
        n_jobs=None,
        device="cpu",
    ):
        super().__init__(
            n_experts=n_experts,
            gate=gate,
            gate_covariance_type=gate_covariance_type,
            gate_features=gate_features,
            expert_features=expert_features,
            alpha=alpha,
            n_init=n_init,
            init_params=init_params,
            max_iter=max_iter,
            tol=tol,
            top_k=top_k,
            prune_threshold=prune_threshold,
            solver=solver,
            assignment=assignment,
            acceleration=acceleration,
            balance_coef=balance_coef,
            noisy_gating=noisy_gating,
            batch_size=batch_size,
            learning_rate=learning_rate,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            n_jobs=n_jobs,
            device=device,
        )
        self.expert_estimator = expert_estimator
        self.shared_features = shared_features
        self.class_weight = class_weight

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "expert_estimator": [ExpertEstimatorMethods(["fit", "predict_proba"]), None],
        "shared_features": ["array-like", None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "n_init": [
            *BaseMixtureOfExperts._parameter_constraints["n_init"],
            StrOptions({"auto"}),
        ],
    }

    def _n_restarts(self, grouped):
        if self.n_init == "auto":
            return GROUPED_N_INIT if grouped else 1
        return self.n_init

    def _encode_target(self, y, X, *, fitting):
        indices = self._label_indices(y, X, fitting=fitting)
        return _OneHot(indices, self, X.dtype)[..., :]

    def _encode_target_rows(self, y, X, **target):
        # one-hot a chunk at a time: the E-step's (n_classes, n) targets of
        # all the rows were most of the peak of log_likelihood_samples and
        # responsibilities (153 of 159 MiB at 2e5 rows of 100 classes)
        return _OneHot(self._label_indices(y, X, fitting=False), self, X.dtype)

    def _label_indices(self, y, X, *, fitting):
        """The class index of each label of ``y`` (checked; ``fitting``: sets
        ``classes_``)."""
        if fitting:
            with _labels_that_compare(y, "y"):
                check_classification_targets(y)
                classes, indices = np.unique(y, return_inverse=True)
            if classes.shape[0] < 2:
                raise ValueError(
                    "MoEClassifier needs samples of at least 2 classes in the data, "
                    f"but the data contains only one class: {classes[0]}."
                )
            warm = self.warm_start and hasattr(self, "converged_")
            if warm and not np.array_equal(classes, self._classes()):
                raise ValueError(
                    f"warm_start=True needs the classes of the previous fit, "
                    f"{self._classes().tolist()}; y has {classes.tolist()}. Set "
                    "warm_start=False to fit a new model."
                )
            self.classes_ = classes
        else:
            y = _target_column(y)
            check_consistent_length(X, y)
            classes = self._classes()
            try:
                indices = np.searchsorted(classes, y)
            except TypeError:  # labels that do not compare with the classes
                known = set(classes.tolist())
                unseen = [label for label in y.tolist() if label not in known]
                raise ValueError(
                    "y contains previously unseen labels: "
                    f"{list(dict.fromkeys(unseen))}"
                ) from None
            indices = np.clip(indices, 0, len(classes) - 1)
            unknown = classes[indices] != y
            if np.any(unknown):
                unseen = np.unique(y[unknown]).tolist()
                raise ValueError(f"y contains previously unseen labels: {unseen}")
        return indices

    def _weigh_targets(self, Y, sample_weight, *, streaming):
        if self.class_weight is None:
            return sample_weight
        classes = self._classes()
        indices = np.argmax(Y, axis=0)
        if isinstance(self.class_weight, str):  # "balanced"
            if streaming:
                raise ValueError(
                    "class_weight='balanced' is not supported by partial_fit, which "
                    "sees one batch at a time: pass a dict of the classes' weights, "
                    "e.g. from sklearn.utils.class_weight.compute_class_weight on "
                    "all the labels."
                )
            with np.errstate(divide="ignore"):  # a class of weight 0
                weights = compute_class_weight(
                    "balanced",
                    classes=classes,
                    y=classes[indices],
                    sample_weight=sample_weight,
                )[indices]
        else:
            known = set(classes)
            unknown = [label for label in self.class_weight if label not in known]
            omitted = [c for c in classes if c not in self.class_weight]
            # as scikit-learn's: labels of other classes are ignored when every
            # class has its weight (a rare class missing from a CV fold), a
            # mistyped label ({"1": 5} for the classes 0 and 1) refused
            if unknown and omitted:
                raise ValueError(
                    f"class_weight has labels that are not classes: {unknown}; "
                    f"the classes are {classes.tolist()}."
                )
            # as sample_weight's: a negative weight made the fit diverge, and
            # its error blamed the features or the outputs' overflow (QA)
            bad = {
                label: weight
                for label, weight in self.class_weight.items()
                if not (isinstance(weight, Real) and 0 <= weight < np.inf)
            }
            if bad:
                raise ValueError(
                    "class_weight must map classes to non-negative finite "
                    f"numbers; got {bad}."
                )
            # by the labels themselves: compute_class_weight's int() of numeric
            # strings refused {"0": 5.0} for the labels "0" and "1" (QA)
            per_class = [float(self.class_weight.get(c, 1.0)) for c in classes]
            weights = np.asarray(per_class)[indices]
        with np.errstate(invalid="ignore", over="ignore"):
            weighted = np.where(sample_weight > 0, sample_weight * weights, 0.0)
            weighted = weighted.astype(sample_weight.dtype)
            total = np.sum(weighted)
        data = "this partial_fit batch" if streaming else "the data"
        if not total > 0 and np.any(sample_weight > 0):
            raise ValueError(
                f"class_weight={self.class_weight!r} gives every sample of {data} "
                "a weight of 0."
            )
        if not np.isfinite(total):
            raise ValueError(
                f"The sample weights times class_weight={self.class_weight!r} sum "
                f"to infinity in {weighted.dtype}; divide the class weights by a "
                "constant (only their ratios matter to the fit)."
            )
        return weighted

    def _target_candidates(self, candidates, Y, sample_weight, warm=False):
        # classes_ holds every label of y, but a class whose samples all have
        # weight 0 (sample_weight, class_weight) is absent from the fit: the
        # likelihood has no maximum in its intercept (not penalized), which
        # ran to -36 and gave it probabilities of 3e-16, without a word (QA);
        # with one class of positive weight left, the fit was of one class
        # (which y of one class refuses)
        classes = self._classes()
        weighted = np.bincount(
            np.argmax(np.asarray(Y), axis=0),
            weights=np.asarray(sample_weight > 0, dtype=np.float64),
            minlength=classes.shape[0],
        )
        absent = np.flatnonzero(weighted == 0)
        if absent.shape[0]:
            kept = classes[weighted > 0].tolist()
            absent_labels = classes[absent].tolist()
            # which weights did it: "sample_weight and class_weight" named
            # the sample weights that were not given, for class_weight={2: 0},
            # and a "balanced" that gives no class a weight of 0
            zeroed = [
                isinstance(self.class_weight, dict)
                and self.class_weight.get(label, 1.0) == 0
                for label in classes[absent]
            ]
            if all(zeroed):
                how = "class_weight gives"
            elif not any(zeroed):
                how = "sample_weight gives"
            else:
                how = "sample_weight and class_weight give"
            if len(kept) < 2:
                raise ValueError(
                    "MoEClassifier needs samples of at least 2 classes of "
                    "positive weight, but the data contains only one class of "
                    f"positive weight: {kept[0]!r} ({how} every sample of "
                    f"classes {absent_labels} a weight of 0)."
                )
            _warn_user(
                f"{how} every sample of classes {absent_labels} a weight "
                "of 0: the fit sees none of them, their intercepts have no "
                "maximum (the likelihood rises as their probabilities fall to "
                "0), and predict_proba gives them probabilities near 0 that "
                "depend on where the fit stops. Drop their samples, or give "
                "some of them a positive weight.",
                DegenerateFitWarning,
            )
        return candidates

    def _n_outputs(self):
        return self.classes_.shape[0]

    def _classes(self):
        """``classes_`` as a NumPy array (numeric labels fitted under Array API
        dispatch live in the input's namespace, as scikit-learn's own
        classifiers keep them)."""
        return self._host_attribute("classes_")

    def _collapse_message(self, problem, best):
        message = super()._collapse_message(problem, best)
        separated = self._separated_message(problem, best)
        return " ".join(part for part in (message, separated) if part) or None

    def _separated_message(self, problem, best):
        """A warning where ``alpha=0`` and the classes are separated, or None:
        the likelihood then has no maximum, and the coefficients grew until
        EM's stop test (316 on a separable half-plane, 540 by L-BFGS), without
        a word. Separated: the fit gives every training sample's class a
        probability above 1/2, or an expert gives a class probabilities
        numerically 0 on samples it is responsible for, without a confident
        mistake about that class on them: classes separated within an expert
        (coefficients of 691 to 14,114 on two regimes of three classes, by
        ``tol``), one class from the others (standardized iris's setosa,
        coefficients of 16 at the default ``tol``, 21.7 at ``tol=1e-8``), with
        ties on the boundary (quasi-separation) or a class absent from an
        expert's samples."""
        xp = problem.xp
        coef = best.expert_params.get("coef")
        if self.alpha > 0 or coef is None or problem.groups is not None:
            return None
        log_norm, resp, *_ = e_step(problem, best.gate_params, best.expert_params)
        largest = float(np.max(np.abs(to_numpy(coef)[1:]), initial=0.0))
        if bool(xp.all(log_norm > math.log(0.5))):
            return (
                "With alpha=0, the fitted model gives every training sample's "
                "class a probability above 1/2: the classes are separated, the "
                "likelihood has no maximum, and the coefficients grow until the "
                f"fit stops (largest {largest:.3g}). Set alpha > 0 for finite, "
                "reproducible coefficients."
            )
        # within an expert: on the samples it is responsible for, probabilities
        # of a class c numerically 0 or 1 (within ten float64 epsilons, R
        # glm's test), and no confident mistake about c (a sample of c given
        # it below MISTAKE, another above 1 - MISTAKE): the fit ran off, as
        # where c is told apart, ties on the boundary aside (quasi-separation),
        # or absent from the expert's samples. Extreme probabilities alone are
        # not separation: a finite optimum can give them (slope 11 on 2000
        # rows, 92 on the wrong side, some confidently)
        log_proba = problem.experts.log_proba(xp, problem.design, best.expert_params)
        mine = ((resp > 0.5) & (problem.sample_weight > 0))[:, None, :]
        member = (problem.Y > 0)[None, :, :]  # one-hot (1, n_classes, n_samples)
        mistake = xp.where(
            member,
            log_proba < math.log(MISTAKE),
            log_proba > math.log1p(-MISTAKE),
        )
        # (near 0 only: a probability near 1 is others' near 0, and a log of
        # one within 1e-15 of 1 is 0 in float32 from 1 - 6e-8, logits of 17)
        extreme = log_proba < math.log(10 * float(np.finfo(np.float64).eps))
        separated = ~xp.any(mine & mistake, axis=2) & xp.any(mine & extreme, axis=2)
        experts = np.flatnonzero(np.any(to_numpy(separated), axis=1)).tolist()
        if not experts:
            return None
        return (
            f"With alpha=0, experts {_listed(experts)} give a class probabilities "
            "numerically 0 or 1 on the samples they are responsible for, with no "
            "confident mistake about it: the classes are separated within an "
            "expert (or a class is absent from its samples), the likelihood has "
            "no maximum, and the coefficients grow until the fit stops "
            f"(largest {largest:.3g}). Set alpha > 0 for finite, reproducible "
            "coefficients (an absent class's intercept, not penalized, stays "
            "unbounded at any alpha: fewer experts bound it)."
        )

    def _make_experts(self, Y, sample_weight, streaming=False):
        if self._estimator_experts():
            check_sample_weight_support(
                self.expert_estimator,
                "LogisticRegression, DecisionTreeClassifier, "
                "HistGradientBoostingClassifier",
            )
            return ClassifierExperts(
                self.expert_estimator,
                n_classes=Y.shape[0],
                weight_total=float(np.sum(sample_weight)),
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                random_state=self._expert_seed(),
            )
        shared = getattr(self, "_shared_rows", ())
        return LogisticExperts(n_classes=Y.shape[0], shared=shared)

    def _set_expert_attributes(self, experts, params):
        for name in ("expert_coef_", "expert_intercept_", "experts_"):
            vars(self).pop(name, None)  # the other kind of experts', from a refit
        if "estimators" in params:
            self.experts_ = list(params["estimators"])
            return
        coef = params["coef"]
        n_classes = experts.n_classes
        n_experts = coef.shape[1] // n_classes
        self.expert_intercept_ = coef[0].reshape(n_experts, n_classes).copy()
        self.expert_coef_ = coef[1:].T.reshape(n_experts, n_classes, -1).copy()

    def _streaming_start(self, xp, params, Y, sample_weight):
        # a first batch without some of the classes: its M-step drives their
        # logits far down (intercepts are not penalized), and Adam takes many
        # epochs to bring them back (iris, one row first: accuracy 0.33 after six
        # epochs). The experts start instead from the class frequencies, with one
        # pseudo-count per class, and no slopes (SGDClassifier starts at zero).
        # So too where the batch has fewer than AUTO_MIN_SAMPLES_PER_PARAMETER
        # rows per coefficient of one expert, too few to determine even one:
        # its M-step separated them (two regimes, a first batch of 3 rows, 5
        # epochs of 100-row batches: accuracy 0.868 over 8 seeds, 0.938 now;
        # 0.94 from a first batch of 100). Counting every expert's
        # coefficients reset larger batches too, and cost accuracy (iris, a
        # first batch of 30 rows: 0.869 against 0.955).
        counts = np.asarray(Y, dtype=np.float64) @ np.asarray(sample_weight, float)
        gate_params, expert_params = params
        coef = expert_params["coef"]  # (partial_fit refuses expert_estimator)
        one_expert = coef.shape[0] * (len(counts) - 1)
        rows = effective_rows(sample_weight)
        few = rows < AUTO_MIN_SAMPLES_PER_PARAMETER * one_expert
        if np.all(counts > 0) and not few:
            return params
        log_frequency = np.log((counts + 1) / (counts.sum() + counts.shape[0]))
        n_experts = coef.shape[1] // counts.shape[0]
        start = np.zeros(tuple(coef.shape))
        start[0] = np.tile(log_frequency - log_frequency.mean(), n_experts)
        return gate_params, dict(expert_params, coef=as_compute(xp, start, coef))

    def _experts_from_attributes(self):
        if hasattr(self, "experts_"):
            experts = ClassifierExperts(
                None,
                self._n_outputs(),
                columns=self._expert_columns,
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                remember=False,  # (a new design each call: none to reuse)
            )
            estimators = np.empty(len(self.experts_), dtype=object)
            estimators[:] = self.experts_
            return experts, {"estimators": estimators}
        expert_coef = self._host_attribute("expert_coef_")
        n_experts, n_classes, n_features = expert_coef.shape
        coef = np.vstack(
            [
                self._host_attribute("expert_intercept_").reshape(1, -1),
                expert_coef.reshape(n_experts * n_classes, n_features).T,
            ]
        )
        shared = getattr(self, "_fitted_shared_rows", ())
        return LogisticExperts(n_classes, shared), {"coef": coef}

    def _expert_scores(self, xp, design):
        """The log gate weights (m, n_samples) of the m experts each sample
        uses (all, or the top k routed) and those experts' class scores (m,
        n_classes, n_samples), whose softmax over the classes is each expert's
        probabilities: the logits of logistic experts, the log probabilities
        of estimator experts."""
        experts, params = self._experts_from_attributes()
        estimators = hasattr(self, "experts_")
        if self._top_k() is not None:  # only the selected experts
            index, log_weight = self._route(xp, design)
            if estimators:  # all of them, then the chosen
                log_proba = experts.log_proba(xp, design, params)
                return log_weight, np.take_along_axis(log_proba, index[:, None, :], 0)
            coef = as_compute(xp, params["coef"], design)
            logits = selected_linear(xp, coef, design, index, self._n_outputs())
            return log_weight, logits
        params = experts.params_to(xp, params, design)
        log_gate = self._log_gate(xp, design)
        if estimators:
            return log_gate, experts.log_proba(xp, design, params)
        logits = by_columns(xp, params["coef"].T, design)
        return log_gate, xp.reshape(logits, (-1, self._n_outputs(), design.shape[1]))

    def predict_proba(self, X):
        """Class probabilities of the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            ``sum_k g_k(x) softmax(W_k x~)``, columns in the order of ``classes_``;
            rows sum to one. Each softmax is taken after subtracting the
            expert's largest logit, so that nothing overflows.
        """
        return self._proba(X, "predict_proba")

    def _proba(self, X, method, log=False):
        """Class probabilities, or with ``log`` their logs computed in log space."""

        def compute(xp, design):
            log_weight, scores = self._expert_scores(xp, design)
            if not log:
                return _mixture_proba(xp, log_weight, scores)
            log_softmax_scores = (
                scores if hasattr(self, "experts_") else log_softmax(xp, scores, axis=1)
            )
            log_joint = log_weight[:, None, :] + log_softmax_scores
            # rounding can put a log probability a few ulp above 0: clipped;
            # and one below the most negative float (logits 3.3e308 apart, at
            # |x| of 1e308, where predict_proba gives 0) at that float, not
            # -inf, which raised as an overflow (NaN, of infinite logits, stays)
            lowest = float(xp.finfo(log_joint.dtype).min)
            log_proba = xp.clip(logsumexp(xp, log_joint, axis=0).T, lowest, 0.0)
            # log(predict_proba) where that is a normal number, so that the two
            # agree (in float32 a log of -3e-8 has the probability 1.0); the
            # log-sum-exp where it underflows
            proba = _mixture_proba(xp, log_weight, scores)
            tiny = float(xp.finfo(proba.dtype).smallest_normal)
            normal = proba >= tiny
            return xp.where(normal, xp.log(xp.where(normal, proba, 1.0)), log_proba)

        return self._map_rows(X, compute, method)

    def _expert_proba(self, X, method):
        """Each expert's class probabilities, (n_samples, n_experts_,
        n_classes), whatever the gate (``bootstrap_lrt``'s draws for groups)."""

        def compute(xp, design):
            experts, params = self._experts_from_attributes()
            params = experts.params_to(xp, params, design)
            log_proba = experts.log_proba(xp, design, params)  # (K, C, n)
            return xp.exp(xp.permute_dims(log_proba, (2, 0, 1)))

        return self._map_rows(X, compute, method, every_expert=True)

    @available_if(_streaming_solver)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of mini-batch Adam on (X, y) (``solver="sgd"`` only).

        The model stays in the units of the rows it was first fitted on: a
        batch of at least 50 rows in which a feature spreads more than 100
        times as wide, or as narrow, as there (by the range of its 10% to 90%
        quantiles and by its standard deviation) warns, once per stream for
        each feature and direction (:meth:`fit` starts a new stream). Transform
        every batch alike. ``classes_`` is ``np.unique`` of ``classes``, in their dtype
        (object for pandas string or categorical labels, as :meth:`fit`
        gives for such y). It takes no ``groups`` (:meth:`fit`'s), and
        continues no model fitted with them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Target values.
        classes : array-like of shape (n_classes,), default=None
            All the classes that may appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights; None gives every sample weight 1. Past the first
            rows they count within the batch only: its rows' weights relative
            to each other, not to other batches' (a batch of rows weighing
            100 moves the model as one of rows weighing 1), unlike
            scikit-learn's ``SGDClassifier.partial_fit``, whose step they
            scale. The first 50 rows or so (by Kish's effective number),
            whose spreads fix Adam's units, are pooled with their weights as
            given (see the user guide). For weights that count across
            batches, call :meth:`fit` on all the rows.

        Returns
        -------
        self : object
            The updated estimator.

        Raises
        ------
        ValueError
            "partial_fit diverged" where the step leaves non-finite parameters
            or log-likelihood; the estimator is unchanged. A step that only
            makes the model worse is kept: one that lowers its own batch's
            likelihood by much warns (below), a smaller harm goes unnoticed
            (as with scikit-learn's ``SGDClassifier`` and ``MLPClassifier``):
            score a held-out batch.
        AttributeError
            On access (``hasattr(estimator, "partial_fit")`` is False) unless
            ``solver="sgd"``, and while ``n_experts="auto"`` is unfitted: it
            chooses the number of experts by BIC in :meth:`fit`, which one
            mini-batch cannot do. The exception's cause says which and what to
            do (an integer ``n_experts``, or :meth:`fit` first, which
            ``partial_fit`` then continues); the estimator is unchanged.

        Warns
        -----
        ConvergenceWarning
            Where the epoch lowers its own batch's penalized log-likelihood by
            more than 2 nats per sample (unit of weight), which a sound
            ``learning_rate`` does not (at most 0.7 at 0.1, 5 and more at
            100): the message says by how much and to lower
            ``learning_rate``. The step is kept; once per stream (:meth:`fit`
            starts a new one).
        SkmoeWarning
            On the call that starts a model (not after :meth:`fit`, which
            warns itself), and on a later call, after :meth:`fit` too, where
            ``set_params`` changed them since (once per setting), where
            parameters set away from their defaults are ignored, as
            :meth:`fit` warns: ``n_init`` (but 1, the one start made),
            ``init_params``, ``max_iter``, ``tol`` and ``prune_threshold``
            (Adam's epochs have no restarts, iterations to a tolerance or
            pruning), ``n_iter_no_change`` and ``validation_fraction``
            (:meth:`fit`'s early stopping), ``gate_covariance_type`` without
            ``gate="gaussian"``.
        """
        first = not hasattr(self, "n_experts_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            # the checks fit makes of y: 1-D labels, not continuous, no NaN
            _labels_present(host(classes), "classes", nan=False)
            with _labels_that_compare(host(classes), "classes"):
                try:
                    labels = column_or_1d(host(classes))
                    with np.errstate(invalid="ignore"):  # NaN: refused, not warned
                        check_classification_targets(labels)
                except ValueError as exc:
                    raise ValueError(
                        f"classes={classes!r} are not class labels: {exc}"
                    ) from None
                classes = np.unique(labels)
            if classes.shape[0] < 2:
                raise ValueError(
                    "MoEClassifier needs at least 2 classes, but classes="
                    f"{classes.tolist()} has {classes.shape[0]}."
                )
            if not first and not np.array_equal(classes, self._classes()):
                raise ValueError(
                    f"classes={classes.tolist()} is not the same as the classes the "
                    f"model was fitted with, {self._classes().tolist()}."
                )
        if not first:  # scikit-learn's words say what is wrong; say what to do
            return self._partial_fit_of_known_labels(
                X,
                y,
                sample_weight,
                lambda labels: (
                    f"y contains previously unseen labels: {labels}. The model's "
                    f"classes are {self._classes().tolist()}, fixed by the first "
                    "partial_fit's classes (or by fit), and partial_fit cannot add "
                    "one: start a new estimator whose first partial_fit passes "
                    "every label that can come as classes, or call fit."
                ),
            )
        # the parameters are checked while the estimator does not look fitted
        # (scikit-learn skips that once partial_fit has set classes_)
        self._validate_partial_fit_params()
        with _unchanged_on_failure(self):
            self.classes_ = classes
            # nothing was seen before a first call: say what classes lacks
            return self._partial_fit_of_known_labels(
                X,
                y,
                sample_weight,
                lambda labels: (
                    f"y contains labels that classes={classes.tolist()} does not "
                    f"hold: {labels}. classes must include every label that "
                    "can be in y (in this and later calls)."
                ),
            )

    def _partial_fit_of_known_labels(self, X, y, sample_weight, message):
        """The base's ``partial_fit``, whose error for labels outside the
        classes is raised with ``message(labels)`` instead."""
        unseen = "y contains previously unseen labels: "
        try:
            return super().partial_fit(X, y, sample_weight=sample_weight)
        except ValueError as exc:
            if not str(exc).startswith(unseen):
                raise
            raise ValueError(message(str(exc).removeprefix(unseen))) from None

    def predict_log_proba(self, X):
        """Log of the mixture's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))`` within rounding, computed in log space:
            finite where a probability underflows to 0.
        """
        return self._proba(X, "predict_log_proba", log=True)

    def decision_function(self, X):
        """Confidence scores of the classes: the log-odds for two classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            With two classes, ``log p(classes_[1] | x) - log p(classes_[0] |
            x)``, positive where :meth:`predict` gives ``classes_[1]`` (as
            ``LogisticRegression``'s); with more, the log probabilities less
            their mean over the classes, whose arg max is :meth:`predict`'s
            class. Computed in log space: finite where a probability
            underflows to 0.
        """
        log_proba = self._proba(X, "decision_function", log=True)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        xp = array_namespace(log_proba)
        with np.errstate(over="ignore"):
            mean = xp.mean(log_proba, axis=1, keepdims=True)
        if not bool(xp.all(xp.isfinite(mean))):
            # log probabilities near the most negative float: their sum
            # overflowed where the mean of their fractions does not
            fraction = xp.sum(log_proba / log_proba.shape[1], axis=1, keepdims=True)
            mean = xp.where(xp.isfinite(mean), mean, fraction)
        return log_proba - mean

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class of largest predicted probability, from ``classes_``.
        """

        def compute(xp, design):
            # each chunk's argmax: no (n_samples, n_classes) array over all
            # rows (311 MiB for 2e5 rows of 200 classes, where X took 12)
            log_weight, scores = self._expert_scores(xp, design)
            proba = _mixture_proba(xp, log_weight, scores)
            _check_finite(xp, proba, "predict", design)
            return xp.argmax(proba, axis=1)

        indices = self._map_rows(X, compute, "predict")
        xp = array_namespace(indices)
        classes = self._classes()
        if isinstance(indices, np.ndarray) or classes.dtype.kind not in "biuf":
            return classes[to_numpy(indices)]
        # Array API input: numeric labels come back in the input's namespace
        classes = xp.asarray(classes, device=device_of(indices))
        return xp.take(classes, indices, axis=0)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on X against y.

        As ``ClassifierMixin.score`` (``accuracy_score``), but a negative
        ``sample_weight`` is refused, as ``fit`` refuses it (with one, the
        accuracy can exceed 1), and the accuracy is taken on the host, as the
        regressors' scores are (on a device without float64, scikit-learn's
        took the mean of the hits in array-api-strict's float64 and raised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        score : float
            The (weighted) fraction of samples whose class is predicted.
        """
        _labels_present(y)
        X, y, sample_weight = _scored_rows(X, y, sample_weight, estimator=self)
        predicted = host(self.predict(X))
        return float(
            accuracy_score(host(y), predicted, sample_weight=host(sample_weight))
        )


class _OneHot:
    """Labels' class ``indices`` as one-hot targets (n_classes, n) in
    ``dtype``, made for the rows of ``[..., start:stop]``."""

    def __init__(self, indices, model, dtype):
        self.indices, self.n_classes, self.dtype = indices, model._n_outputs(), dtype

    def __getitem__(self, key):
        _, rows = key  # (..., a slice of the rows)
        indices = self.indices[rows]
        Y = np.zeros((self.n_classes, len(indices)), dtype=self.dtype)
        Y[indices, np.arange(len(indices))] = 1
        return Y


@contextlib.contextmanager
def _labels_that_compare(labels, name):
    """Say in words that labels of several types do not sort.

    scikit-learn's ``check_classification_targets`` and ``np.unique`` sort the
    labels, and raise NumPy's "'<' not supported between instances of ...".
    Any other TypeError is raised as it is: scikit-learn's own refusal of bytes
    labels, which it gives wherever the first label is bytes, the others' type
    aside (``[b"a", 1]`` was said to mix labels that do not compare, where
    ``LogisticRegression`` names the bytes).
    """
    try:
        yield
    except TypeError as error:
        if "not supported between instances of" not in str(error):
            raise
        values = np.asarray(labels, dtype=object).ravel().tolist()
        kinds = sorted({type(label).__name__ for label in values})
        if len(kinds) < 2:
            raise
        raise TypeError(
            f"{name} mixes labels of types that do not compare ({', '.join(kinds)})"
            ", and MoEClassifier sorts its classes: give labels of one type (e.g. "
            f"{name}.astype(str))."
        ) from None


def _mixture_proba(xp, log_weight, scores):
    """``sum_k g_k softmax(scores_k)`` over the classes, (n_samples, n_classes),
    from the log gate weights (m, n_samples) and the experts' class scores (m,
    n_classes, n_samples), in probability space: the softmax after subtracting
    each expert's largest score, whose exponentials lie in [0, 1], so that
    nothing overflows (1e6 rows, 8 experts, 10 classes: 466 ms against 1043 ms
    for the log-sum-exp over the experts of the log-softmaxes, equal within
    7e-16). Where the gate weights' sum rounds above 1, a probability can
    exceed 1 by an ulp: clipped."""
    if is_numpy_array(scores):  # in place: scores is a temporary
        scores -= np.max(scores, axis=1, keepdims=True)
        np.exp(scores, out=scores)
        weight = np.exp(log_weight)
        weight /= sums_in_turn(np, scores, axis=1)
        scores *= weight[:, None, :]
        proba = sums_in_turn(np, scores).T
        return np.minimum(proba, 1.0, out=proba)
    shifted = xp.exp(scores - xp.max(scores, axis=1, keepdims=True))
    weight = xp.exp(log_weight) / sums_in_turn(xp, shifted, axis=1)
    return xp.clip(sums_in_turn(xp, shifted * weight[:, None, :]).T, max=1.0)
