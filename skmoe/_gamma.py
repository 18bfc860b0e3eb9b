"""MoEGammaRegressor: a mixture of Gamma log-linear experts, for positive amounts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import special
from sklearn.base import RegressorMixin
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
)

from ._backend import as_compute, host, is_numpy_array, to_numpy
from ._base import (
    BaseMixtureOfExperts,
    _add_totals,
    _float64_rows,
    _row_slices,
    _score_weights,
    _scored_rows,
    _too_few_to_score,
    _Underflow,
)
from ._distribution import _component_sums, with_log_parts
from ._docstrings import fill_doc
from ._fitting import (
    AUTO_MIN_SAMPLES_PER_PARAMETER,
    _check_infinite,
    _check_missing,
    _target_column,
)
from ._gamma_distribution import HELD_WEIGHT, PredictiveGammaMixture
from ._init import LOG_SEPARATION, log_separation
from ._loglink import LogLinkMixin, _left_out, _unweighted_zero
from ._math import (
    WorkArrays,
    by_columns,
    constant_tolerance,
    device,
    mixture_std,
    sums_in_turn,
)
from ._partial_fit import _pending_rows, _reset_pending
from ._regressor import r2_score_at_scale
from ._sgd import SGDState, effective_rows
from ._sparse import selected_linear
from ._warnings import _listed, _warn_user
from ._zero_inflated import ZeroInflatedMixin
from .experts._point_mass import ZERO_LOG_RATE
from .experts.estimator import (
    AmountExperts,
    ExpertEstimatorMethods,
    check_sample_weight_support,
    not_a_regressor,
)
from .experts.gamma import GammaExperts, excess, fit_shape

#: Smallest mean of an expert given by ``expert_estimator``, relative to the
#: smallest amount: a prediction at or below 0 keeps a finite likelihood (one
#: relative to the mean amount clipped good predictions where the amounts span
#: ten decades).
MEAN_FLOOR = 1e-10
#: Dispersion floor relative to the (weighted) variance of log(y), as the
#: Gaussian experts' noise floor is relative to the variance of y (of 1 where
#: y is constant): for a small dispersion phi, log(y) has a variance near phi.
DISPERSION_FLOOR = 1e-10


@fill_doc
class MoEGammaRegressor(
    ZeroInflatedMixin, LogLinkMixin, RegressorMixin, BaseMixtureOfExperts
):
    """Mixture of Gamma regressions (log link), fitted by EM.

    ``p(y | x) = sum_k g_k(x) Gamma(y; mean exp(x~ . b_k), shape 1 / phi_k)``:
    a gate g(x) weighs K Gamma regressions, each with its own dispersion
    ``phi_k`` (variance ``phi_k mu^2``: a constant coefficient of variation).
    For positive, right-skewed amounts whose mean follows different
    log-linear laws in different regimes: claim sizes, costs, durations,
    concentrations (R flexmix's ``FLXMRglm(family = "Gamma")`` with the log
    link; with ``gate="constant"``, a latent-class Gamma regression). Each
    expert is the model of scikit-learn's ``GammaRegressor``, with its
    dispersion estimated.

    Parameters
    ----------
    n_experts : int or "auto", default="auto"
        Number of experts K. ``"auto"`` fits K = 1, 2, 3 and 4 (each with
        ``n_init`` restarts) and keeps the fit of lowest BIC on the training data
        (``n_experts_bic_``), passing over fits where an expert handles too few
        samples for its parameters: one expert, i.e. a Gamma regression, when
        the amounts show no regimes. With ``expert_estimator``, by held-out
        log-likelihood instead (see there; held-out samples
        that a candidate scores ``-inf``, or that every candidate scores
        over 50 nats (more where every candidate's scores spread more than a
        Gaussian's) below its median held-out sample's, far outliers, are
        left out of the comparison, with a warning, and where that is all of
        them the fewest experts are kept).
        A warning says when it chooses 4 while the criterion still improves
        there: fit larger numbers of experts and compare them.

    {{gate_parameter}}

    expert_estimator : estimator object, default=None
        Experts that are clones of this scikit-learn regressor of positive
        means instead of Gamma regressions: ``GammaRegressor``,
        ``HistGradientBoostingRegressor(loss="gamma")``, a tree, any regressor
        whose ``fit`` takes ``sample_weight``. Each EM iteration refits every
        expert to the amounts with the samples' weights times their
        responsibilities (generalized EM), then its dispersion by maximum
        likelihood; expert k's mean is its ``predict``, floored at 1e-10 times
        the smallest amount (fit warns where a prediction reaches it: a
        regressor that predicts 0 or less, as a linear model can, does not
        suit). The fitted clones are ``experts_``, on the raw ``expert_features``
        (at least one: an empty list is refused). Fitted by EM on
        the CPU; ``n_experts="auto"`` chooses K by held-out log-likelihood
        (``n_experts_scores_``), ``alpha`` penalizes the gate only (nothing
        with ``gate="constant"`` or ``"gaussian"``: fit warns that it is
        ignored), and ``bic``, ``aic``, ``icl`` and ``std_errors`` are not
        available. See :ref:`estimator-experts`.

    {{shared_features_parameter}}

    alpha : float, default=1e-6
        {{alpha_meaning}} For Gamma experts, each expert's squared norm is
        times its shape ``1 / phi_k``, so that one expert's coefficients are
        those of ``GammaRegressor(alpha=alpha)``. The penalty is per unit of
        all rows' weight: with ``zero_inflated`` and ``n_experts=2``, the Gamma
        expert is ``GammaRegressor`` on the positive amounts with ``alpha``
        times the total weight over the positive amounts' weight.

    n_init : int, default=4
        Number of EM restarts; the run with the best penalized log-likelihood is
        kept.

    {{shared_parameters}}

    zero_inflated : bool, default=False
        Whether the first expert is a point mass at zero, for amounts with
        exact zeros (rainfall, claim costs, spending: a hurdle model, GAMLSS's
        zero-adjusted Gamma ``ZAGA`` with ``n_experts=2``). ``y`` may then be
        0: the zeros are the point mass's samples and the positive amounts
        the Gamma experts', and the gate's weight of the point mass is each
        row's probability of a zero. ``n_experts`` counts the point mass:
        ``n_experts=2`` is one Gamma regression beside it, ``"auto"`` tries
        2, 3 and 4. The point mass stays the expert of intercept ``-inf`` and
        dispersion 0 wherever the fit puts it (its standard errors 0).
        :meth:`score` is then R^2 (the Gamma deviance of a zero is
        infinite): a search over ``zero_inflated`` needs a ``scoring`` of
        its own. Not with ``top_k``, ``prune_threshold``,
        ``shared_features``, ``expert_estimator`` or ``solver="sgd"``; with
        ``groups``, the rows of a group must be all zero or all positive. See
        :ref:`zero-amounts`.

    Attributes
    ----------
    expert_coef_ : ndarray of shape (n_experts_, n_features_in_)
        Coefficients b_k of each expert's log mean.

    expert_intercept_ : ndarray of shape (n_experts_,)
        Intercept of each expert's log mean; ``-inf`` for the point mass at
        zero of ``zero_inflated``.

    experts_ : list of estimators
        With ``expert_estimator``: the fitted clones, one per expert
        (``expert_coef_`` and ``expert_intercept_`` are then not set).

    expert_dispersion_ : ndarray of shape (n_experts_,)
        Dispersion phi_k of each expert: its Gamma's shape is ``1 / phi_k``,
        its variance ``phi_k mu^2``, its coefficient of variation
        ``sqrt(phi_k)``. The maximum-likelihood estimate when ``alpha=0``
        (R's ``summary.glm`` reports a moment estimate instead); with ``alpha
        > 0`` it takes the penalty's share, ``alpha ||b_k||^2 / 2`` per unit
        of the expert's weight beside its mean of ``y / mu - log(y / mu) -
        1`` (about ``phi_k / 2``), as the Gaussian experts' variances do: it
        grows with ``alpha`` and with the coefficients' size (features of
        small scale). With ``expert_estimator`` (``alpha`` penalizes the gate
        only), the maximum-likelihood estimate of each fit. Floored at 1e-10 times the
        variance of ``log(y)`` (an expert that fits its samples exactly would
        have an unbounded likelihood) and at most 1e4. 0 for the point mass
        at zero of ``zero_inflated``.

    {{shared_attributes}}

    See Also
    --------
    MoERegressor : Mixture of linear-Gaussian experts.
    MoEPoissonRegressor : Mixture of Poisson regressions, for counts.
    sklearn.linear_model.GammaRegressor : The single-expert model.

    Notes
    -----
    ``y`` must be positive (or 0, with ``zero_inflated``). The reported
    log-likelihoods are those of the Gamma distribution (R's ``dgamma``), so
    they compare with flexmix's; with ``zero_inflated``, a zero's is the log
    of its probability, a positive amount's the log of its density (their
    sum is the hurdle model's log-likelihood). :meth:`score` is D^2, the
    fraction of Gamma deviance explained, as ``GammaRegressor.score`` (R^2
    with ``zero_inflated``). See :ref:`amounts`.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MoEGammaRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(600, 1))
    >>> log_mean = np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2)
    >>> y = rng.gamma(shape=20.0, scale=np.exp(log_mean) / 20.0)
    >>> reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.round(np.sort(reg.expert_coef_[:, 0]), 1)
    array([-1. ,  0.5])
    >>> np.round(1 / reg.expert_dispersion_)  # the shapes
    array([22., 23.])
    >>> np.round(reg.predict([[-1.0], [1.0]]), 1)
    array([7.4, 4.4])
    """

    def __init__(
        self,
        n_experts="auto",
        *,
        gate="softmax",
        gate_covariance_type="full",
        gate_features=None,
        expert_features=None,
        expert_estimator=None,
        shared_features=None,
        alpha=1e-6,
        n_init=4,
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
        zero_inflated=False,
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
        self.zero_inflated = zero_inflated

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "expert_estimator": [ExpertEstimatorMethods(["fit", "predict"]), None],
        "shared_features": ["array-like", None],
        "zero_inflated": ["boolean"],
    }

    _copies_collapse = True  # (n_experts='auto': see _on_copies)

    _zero_words = (
        "Gamma regressions",
        "positive amount",
        "Gamma regression",
        "a hurdle model, gamlss's ZAGA",
    )

    def _zero_refusals(self):
        return {
            **super()._zero_refusals(),
            "solver='sgd'": (
                self.solver == "sgd",
                "a batch of zeros alone leaves the Gamma experts nothing to "
                "start from; use solver='em' or solver='gradient'",
            ),
        }

    def _far_apart_regimes(self, Y, sample_weight, n_experts) -> bool:
        """As :class:`~skmoe.MoERegressor`'s (not with ``zero_inflated``), but
        where ``log(y)`` falls apart into clusters
        (:func:`~skmoe._init.log_separation` of at least
        :data:`~skmoe._init.LOG_SEPARATION`): Gamma experts of shape 25 at
        means 1, 10 and 1000 ended 201 to 223 nats below the true parameters
        from every built-in start on 10 seeds of 10, 1.2 to 4.3 above with
        this restart. ``spread_ratio`` of ``y`` fired on a single Gamma regime
        of shape 0.5 in 199 of 200 data sets, for a fifth more time."""
        return (
            not self.zero_inflated
            # (Y's rows: y and log(y))
            and log_separation(Y[0], sample_weight, n_experts) >= LOG_SEPARATION
        )

    def _zero_fitted(self):
        """Whether the fitted model has a point mass at zero."""
        if not hasattr(self, "expert_intercept_"):
            return False
        return bool(np.any(np.isneginf(self._host_attribute("expert_intercept_"))))

    def _target_candidates(self, candidates, Y, sample_weight, warm=False):
        if not self.zero_inflated:
            return candidates
        n_amounts = int(np.count_nonzero((Y[0] > 0) & (sample_weight > 0)))
        if n_amounts == 0:  # _amount_weights says so
            return candidates
        if self.n_experts == "auto" and not warm:  # as many as amounts at most
            return [k for k in candidates if k - 1 <= n_amounts]
        n_experts = candidates[0]  # (a warm fit's: the fitted number)
        if n_amounts < n_experts - 1:
            # (a warm fit's remedy is no fewer experts: it ignores n_experts)
            of, remedy = f"n_experts={n_experts}", "pass fewer experts or more"
            if warm:
                of = f"the {n_experts} fitted experts that warm_start=True continues"
                remedy = "set warm_start=False, or pass more"
            raise ValueError(
                f"y has {n_amounts} positive amount(s) of positive weight for the "
                f"{n_experts - 1} Gamma experts of {of} (the first is the point "
                f"mass at zero); {remedy} positive amounts."
            )
        return candidates

    def _check_group_targets(self, grouping, Y, sample_weight):
        if not self.zero_inflated:
            return
        rows = np.flatnonzero(sample_weight > 0)  # (a zero weight leaves a row out)
        grouping = grouping.take(rows)
        mixed = grouping.varies((Y[0][rows] == 0).astype(np.float64))
        if len(mixed):
            raise ValueError(
                "With zero_inflated=True and groups, the rows of a group must "
                "be all zero or all positive: a group's rows share one expert, "
                "and the point mass at zero gives positive amounts the "
                "probability 0, a Gamma expert zeros; group "
                f"{grouping.labels[mixed[0]]!r} has both."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True
        return tags

    def _encode_target(self, y, X, *, fitting, name="y"):
        # (name: y's in scikit-learn's check's errors; "" in score, as
        # GammaRegressor.score's "Input contains NaN.")
        if not fitting:  # (numeric strings as fit takes them, not "numeric")
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name=name)
            y = _target_column(y)
            check_consistent_length(X, y)
        zeros = self.zero_inflated if fitting else self._zero_fitted()
        with np.errstate(over="ignore"):  # checked below
            cast = np.asarray(y, dtype=X.dtype)
        info = np.finfo(cast.dtype)
        wide = np.asarray(y, dtype=np.float64)
        # (a positive amount that rounds to 0 would become a zero)
        outside = ~np.isfinite(cast) | ((cast < info.smallest_normal) & (wide > 0))
        allowed = wide >= 0 if zeros else wide > 0
        if np.any(outside) and np.all(allowed):
            _check_infinite(np, wide, "y")  # inf, let through by assume_finite=True
            wider = " or use float64 X" if cast.dtype != np.float64 else ""
            raise ValueError(
                f"y has amounts outside {cast.dtype}'s range of normal numbers "
                f"({float(info.smallest_normal):.3g} to {float(info.max):.3g}): "
                f"rescale y (amounts in another unit){wider}."
            )
        y = cast
        if zeros and not np.all(y >= 0):
            _check_missing(np, y, "y")
            raise ValueError(
                f"Some value(s) of y are negative: {type(self).__name__} with "
                "zero_inflated=True models zeros and positive amounts."
            )
        if not np.all(y >= 0 if zeros else y > 0):
            _check_missing(np, y, "y")
            raise ValueError(
                f"Some value(s) of y are not positive: {type(self).__name__} "
                "models positive amounts (a Gamma distribution has no mass at 0 "
                "or below). For amounts with zeros, use zero_inflated=True (a "
                "point mass at zero beside the Gamma experts)."
            )
        with np.errstate(divide="ignore"):
            return np.stack([y, np.where(y > 0, np.log(np.where(y > 0, y, 1)), 0)])

    def _make_experts(self, Y, sample_weight, streaming=False):
        if self.zero_inflated:
            sample_weight = self._amount_weights(Y, sample_weight)
        self._constant_target = not np.ptp(Y[1][sample_weight > 0]) > 0
        if self._constant_target and not streaming:
            what = "y's positive amounts are" if self.zero_inflated else "y is"
            _warn_user(
                f"{what} constant: every expert fits it exactly and its "
                "dispersion sits at the floor."
            )
        self._amount_moments = _amount_moments(Y, sample_weight)
        self._centred_squares = True  # (see _update_experts)
        floor = _dispersion_floor(self._amount_moments)
        if self._estimator_experts():
            kind = not_a_regressor(self.expert_estimator)
            if kind is not None:
                raise ValueError(
                    f"expert_estimator={self.expert_estimator!r} is {kind}; "
                    "MoEGammaRegressor's experts predict mean amounts: give a "
                    "regressor (GammaRegressor, HistGradientBoostingRegressor("
                    "loss='gamma'), a tree)."
                )
            check_sample_weight_support(
                self.expert_estimator,
                "GammaRegressor, HistGradientBoostingRegressor(loss='gamma'), "
                "DecisionTreeRegressor",
            )
            smallest = float(np.min(Y[0][sample_weight > 0]))
            return AmountExperts(
                self.expert_estimator,
                mean_floor=MEAN_FLOOR * smallest,
                dispersion_floor=floor,
                weight_total=float(np.sum(sample_weight)),
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                random_state=self._expert_seed(),
            )
        return GammaExperts(
            floor,
            shared=getattr(self, "_shared_rows", ()),
            zero_inflated=self.zero_inflated,
        )

    def _amount_weights(self, Y, sample_weight):
        """The weights of the positive amounts (0 for the zeros) of a
        zero-inflated fit, which the Gamma experts' floor and checks take;
        warns where y has no zero and raises where it has no positive amount."""
        positive = Y[0] > 0
        active = sample_weight > 0
        if not np.any(positive & active):
            raise ValueError(
                "y has no positive amount (of positive weight): the Gamma "
                "experts of zero_inflated=True would have nothing to fit. The "
                "probability of a zero is then 1."
            )
        if np.all(positive[active]):
            _warn_user(
                "y has no zeros (of positive weight), and zero_inflated=True: its "
                "point mass at zero handles no sample, and the model is a "
                "mixture of the other experts. Set zero_inflated=False to fit "
                "without it."
            )
        return np.where(positive, sample_weight, 0.0)

    def _streaming_start(self, xp, params, Y, sample_weight):
        """``params`` with every dispersion at the first batch's Gamma fit (1,
        an exponential's, where its amounts are all equal), and no slopes (each
        expert at its intercept), where that batch has fewer rows than
        ``AUTO_MIN_SAMPLES_PER_PARAMETER`` per parameter of the experts or a
        constant y: its M-step fitted each expert's rows exactly, dispersions
        at the floor, which Adam raised only by its step size (a first batch
        of 1 or 2 rows, then eight epochs of 150-row batches: D^2 0.19 where
        a first batch of 50 rows gave 0.58, shapes of 1e7 and 8e3 where the
        data's are 5; a constant first batch of 150 rows, 0.27 after 30
        epochs, shapes of 3e9). The next batches set the dispersions again
        from all the amounts seen, until ``UNIT_ROWS`` rows have been seen
        (:meth:`_update_experts`)."""
        gate_params, expert_params = params
        n_rows, n_experts = expert_params["coef"].shape
        needed = AUTO_MIN_SAMPLES_PER_PARAMETER * (n_rows + 1) * n_experts
        _, dispersion = _one_gamma(self._amount_moments)
        if dispersion is None and np.count_nonzero(sample_weight) > 1:
            _warn_user(
                "The first partial_fit batch has a constant y: the experts' "
                "dispersions are set from the spread of y over the next batches."
            )
        elif effective_rows(sample_weight) >= needed:
            return params
        self._dispersion_pending = _pending_rows(sample_weight)
        start = expert_params["dispersion"] * 0 + (dispersion or 1.0)
        coef = expert_params["coef"]
        coef = xp.concat([coef[:1, :], xp.zeros_like(coef[1:, :])], axis=0)
        return gate_params, dict(expert_params, coef=coef, dispersion=start)

    def _update_experts(self, Y, sample_weight):
        # partial_fit: the floor follows the spread of all the log(y) seen
        previous = getattr(self, "_amount_moments", None)
        if previous is None:
            return
        if not getattr(self, "_centred_squares", False):
            # pickled before the squares were centred: their raw sum, which
            # mixed with centred ones raised the floor to 1e-10 mean(log(y)^2)
            # (amounts near 1e300 of shape 1e6: 2.4e-6, not 3.8e-12, and a
            # stream continued to a shape of 4.8e4, 7.1e5 where converted)
            previous = _centred(previous)
            self._centred_squares = True
        self._amount_moments = _combine(previous, _amount_moments(Y, sample_weight))
        self._dispersion_floor = _dispersion_floor(self._amount_moments)
        _, dispersion = _one_gamma(self._amount_moments)
        spread = dispersion is not None
        if _reset_pending(self, "_dispersion_pending", sample_weight, spread):
            self.expert_dispersion_ = self.expert_dispersion_ * 0 + dispersion
            if isinstance(self._solver_state, SGDState):  # units from the start
                self._solver_state = dataclasses.replace(self._solver_state, units=None)

    _excess_words = ("amounts", "mean", "a few amounts")

    def _collapse_message(self, problem, best):
        message = super()._collapse_message(problem, best)
        floored = self._floored_message(problem, best)
        return " ".join(part for part in (floored, message) if part) or None

    def _floored_message(self, problem, best):
        """A warning where experts given by ``expert_estimator`` predict means
        at or below their floor (0 or less: a Ridge, a LinearRegression) on
        training rows, or None: a Gamma has no mass there, and such rows'
        likelihood, and the dispersions with it, are ruined (a Ridge of
        least prediction -1.9: dispersion 1e4, D^2 -2e8, without a word)."""
        if not self._estimator_experts():
            return None
        experts = problem.experts
        log_means = experts.log_means(np, problem.design, best.expert_params)
        at_floor = log_means <= math.log(experts.floor(problem.design.dtype))
        at_floor &= np.asarray(problem.sample_weight)[None, :] > 0
        counts = np.sum(at_floor, axis=1)
        if not np.any(counts):
            return None
        which = np.flatnonzero(counts).tolist()
        return (
            f"Experts {_listed(which)} predict means at or below "
            f"{experts.floor(problem.design.dtype):.3g} (0 or less, as a linear "
            f"model can) on {int(np.max(counts))} training rows: a Gamma has no "
            "mass there, so their likelihood, and the experts' dispersions, are "
            "those of the floor. Give expert_estimator a regressor of positive "
            "means (GammaRegressor, HistGradientBoostingRegressor(loss='gamma'), "
            "a tree), or fit log(y) with MoERegressor."
        )

    def _training_log_means(self, problem, expert_params):
        return problem.experts.log_means(problem.xp, problem.design, expert_params)

    def _degenerate_target(self):
        return getattr(self, "_constant_target", False)

    def _set_expert_attributes(self, experts, params):
        # the other kind of experts', from a refit (and the estimators' floor)
        for name in ("expert_coef_", "expert_intercept_", "experts_", "_mean_floor"):
            vars(self).pop(name, None)
        self.expert_dispersion_ = params["dispersion"].copy()
        self._dispersion_floor = experts.dispersion_floor
        if "estimators" in params:
            self.experts_ = list(params["estimators"])
            self._mean_floor = experts.mean_floor
            return
        self.expert_intercept_ = params["coef"][0].copy()
        self.expert_coef_ = params["coef"][1:].T.copy()
        zero = experts.point_masses(np, params)
        if zero is not None:  # the point mass at zero: mean exp(-inf) = 0
            self.expert_intercept_[zero] = -np.inf
            self.expert_dispersion_[zero] = 0.0

    def _experts_from_attributes(self):
        if hasattr(self, "experts_"):
            experts = AmountExperts(
                None,
                self._mean_floor,
                self._dispersion_floor,
                columns=self._expert_columns,
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                remember=False,  # (a new design each call: none to reuse)
            )
            estimators = np.empty(len(self.experts_), dtype=object)
            estimators[:] = self.experts_
            dispersion = self._host_attribute("expert_dispersion_")
            return experts, {"estimators": estimators, "dispersion": dispersion}
        intercept = self._host_attribute("expert_intercept_")
        zero = np.isneginf(intercept)
        # the point mass at zero, as it was fitted (see ZERO_LOG_RATE)
        intercept = np.where(zero, ZERO_LOG_RATE, intercept).astype(intercept.dtype)
        coef = np.vstack([intercept[None, :], self._host_attribute("expert_coef_").T])
        shared = getattr(self, "_fitted_shared_rows", ())
        dispersion = self._host_attribute("expert_dispersion_")
        params = {
            "coef": coef,
            "dispersion": np.where(zero, 1.0, dispersion).astype(dispersion.dtype),
        }
        experts = GammaExperts(
            self._dispersion_floor, shared, zero_inflated=bool(zero.any())
        )
        return experts, params

    def _log_means(self, xp, design, index=None, out=None):
        """The experts' log means (n_experts_, n_samples), or with ``index``
        (top_k, n_samples) those of each sample's selected experts; ``out``:
        a NumPy work array of all experts' to write them into (linear
        experts; estimators make their own)."""
        experts, params = self._experts_from_attributes()
        if hasattr(self, "experts_"):  # estimators: all of them, then the chosen
            log_means = experts.log_means(xp, design, params)
            if index is None:
                return log_means
            return np.take_along_axis(log_means, index, axis=0)
        coef = as_compute(xp, params["coef"], design)
        if index is None:
            return by_columns(xp, coef.T, design, out=out)
        return selected_linear(xp, coef, design, index, 1)[:, 0, :]

    def _dispersions(self, xp, like, index=None):
        """The experts' dispersions as a (K, 1) column, or (top_k, n) with
        ``index``, in ``like``'s namespace."""
        dispersion = as_compute(xp, self._host_attribute("expert_dispersion_"), like)
        if index is None:
            return dispersion[:, None]
        chosen = xp.take(dispersion, xp.reshape(index, (-1,)), axis=0)
        return xp.reshape(chosen, index.shape)

    def _parts(self, xp, design, zeroed=True, column=False, logs=None, dispersion=None):
        """Each sample's gate weights, log weights, means and dispersions
        (K or top_k, n_samples); 0 means where a weight is 0 (``zeroed``);
        ``column``: the dispersions of all experts as a (K, 1) column, not
        spread over the samples (which :meth:`predict` took as one more
        (K, n) array); ``logs``: the log weights and log means of all
        experts, and ``dispersion`` that column, where already computed."""
        if self._top_k() is not None:  # only the selected experts
            index, log_weight = self._route(xp, design)
            log_mean = self._log_means(xp, design, index)
            dispersion = self._dispersions(xp, log_mean, index)
        else:
            if logs is None:
                logs = (self._log_gate(xp, design), self._log_means(xp, design))
            log_weight, log_mean = logs
            del logs
            if dispersion is None:
                dispersion = self._dispersions(xp, log_mean)
            if not column:
                dispersion = dispersion + xp.zeros_like(log_mean)
        weight = xp.exp(log_weight)
        mean = xp.exp(log_mean)
        if zeroed:
            mean = _unweighted_zero(xp, weight, mean)
        return weight, log_weight, log_mean, mean, dispersion

    def predict(self, X, *, return_std=False):
        """Predict the mixture mean (and standard deviation) of y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        return_std : bool, default=False
            Whether to return the standard deviation of the predictive mixture,
            ``sqrt(sum_k g_k (phi_k mu_k^2 + (mu_k - mean)^2))``.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)
            Mean of the predictive mixture of each sample, ``sum_k g_k mu_k``
            with ``mu_k = exp(x~ . b_k)``, each term from its logs: where a
            gate weight underflows to 0 (X far from the training data), its
            term is the mixture's where it is a float, and the expert takes
            no part where the term is beyond the floats (the others' mean).
        y_std : ndarray of shape (n_samples,)
            Its standard deviation; only when ``return_std`` is True (which
            raises where it overflows, also where the mean does not).
        """

        work = WorkArrays()  # (K, n) arrays of the first chunk, for every chunk

        def reused(log_weight, log_mean, dispersion, weight=None, mean=None):
            """:func:`compute`'s mean (and standard deviation, before
            :func:`far`), the same numbers, in ``work`` arrays where the
            parts are C-ordered NumPy arrays of one dtype and shape (else
            None): new (K, n) arrays at every chunk were freed and faulted in
            again (the mean alone made eight beside the logs, four of them
            the means', which it does not use). The gate weights
            and the means (0 where a weight is 0) are made here where not
            given (all experts'; top_k's come from :meth:`_parts`)."""
            parts = [log_weight, log_mean]
            parts += [a for a in (weight, mean) if a is not None]
            if not all(is_numpy_array(a) and a.flags.c_contiguous for a in parts):
                return None
            if len({a.shape for a in parts}) > 1 or not is_numpy_array(dispersion):
                return None
            if len({a.dtype for a in (*parts, dispersion)}) > 1:
                return None
            if weight is None:
                weight = np.exp(log_weight, out=work("weight", log_weight))
            terms = np.add(log_weight, log_mean, out=work("terms", log_mean))
            np.exp(terms, out=terms)
            np.copyto(terms, 0, where=_left_out(np, weight, terms))
            y_mean = sums_in_turn(np, terms)
            if not return_std:
                return y_mean
            if mean is None:  # (_unweighted_zero's)
                mean = np.exp(log_mean, out=work("mean", log_mean))
                np.copyto(mean, 0, where=~(weight > 0))
            unit = np.max(mean, axis=0)
            unit = np.where(unit > 0, unit, np.ones_like(unit))
            scaled = np.divide(mean, unit, out=mean)  # (its own array)
            variance = np.multiply(dispersion, scaled, out=work("variance", mean))
            np.multiply(variance, scaled, out=variance)
            std = mixture_std(np, weight, scaled, variance, y_mean / unit, work=terms)
            return y_mean, unit * std

        def compute(xp, design):
            if self._top_k() is None:  # all experts: the mean alone makes
                # neither the gate weights nor the means as new arrays, and
                # on NumPy the logs are work arrays too (new ones, left at the
                # heap's top, were given back at every chunk: 39k minor faults
                # a call of predict(return_std=True), 3e5 rows, K=32); the
                # log gate's only where the gate writes into it (the softmax
                # gate's: other gates make their own, and left it unused)
                gate_out = None
                if self._log_gate_takes_out():
                    names = ("log_weight", "log_mean")
                    gate_out, mean_out = self._work_logs(work, design, names)
                else:
                    (mean_out,) = self._work_logs(work, design, ("log_mean",))
                logs = (
                    self._log_gate(xp, design, out=gate_out),
                    self._log_means(xp, design, out=mean_out),
                )
                del gate_out, mean_out
                dispersion = self._dispersions(xp, logs[1])
                done = reused(*logs, dispersion)
                if done is not None and not return_std:
                    return done
                if done is not None:  # (the work arrays let go if far needs
                    # its own (K, n) arrays)
                    return far(xp, *logs, dispersion, *done, clear=True)
                weight, log_weight, log_mean, mean, dispersion = self._parts(
                    xp, design, column=True, logs=logs, dispersion=dispersion
                )
                del logs
            else:
                weight, log_weight, log_mean, mean, dispersion = self._parts(
                    xp, design, column=True
                )
                if return_std:
                    done = reused(log_weight, log_mean, dispersion, weight, mean)
                    if done is not None:
                        del mean
                        return far(xp, log_weight, log_mean, dispersion, *done)
            # each term g_k mu_k in log space: finite where an expert's mean
            # overflows but its weight holds it, and where a weight underflowed
            # to 0 (a weight of e^-807.4 beside a mean of e^1163.2: 3.42e154,
            # where leaving it out gave 1.94e-205); 0 where the weight is 0 and
            # its term beyond the floats (an expert of gate weight 0 takes no
            # part there, as in score)
            terms = xp.exp(log_weight + log_mean)
            zero = xp.zeros_like(terms)
            kept = xp.where(_left_out(xp, weight, terms), zero, terms)
            y_mean = sums_in_turn(xp, kept)
            if not return_std:
                return y_mean
            # (the terms are kept: dropped here, 2 (K, n) arrays less at the
            # peak, predict(return_std=True) of 1e6 rows, K=8, took 98,000
            # minor page faults a call against 17,800, 1.9 times the CPU
            # time, as glibc gave the freed top of its heap back and took it
            # again for the next arrays; with them kept, 0.82 to 0.95 times
            # main's at 3e5 to 3e6 rows)
            # in units of each sample's largest mean, whose square overflowed
            # (1e160) where the standard deviation does not
            unit = xp.max(mean, axis=0)
            unit = xp.where(unit > 0, unit, xp.ones_like(unit))
            scaled = mean / unit
            del mean  # (a (K, n) array held beside scaled)
            variance = dispersion * scaled * scaled
            std = mixture_std(xp, weight, scaled, variance, y_mean / unit)
            return far(xp, log_weight, log_mean, dispersion, y_mean, unit * std)

        def far(xp, log_weight, log_mean, dispersion, y_mean, std, clear=False):
            """``std``, the chunk's standard deviations, from the predictive
            distribution's (:func:`_far_std`) in rows where a gate weight
            (from a finite log) is below the smallest normal float, whose
            share the float sums lose (a weight of e^-949.5 beside a mean of
            e^507.8 gave 3.0e-64 for 2.456e14), and may matter. Two
            reductions where no weight is that small. ``clear``: the work
            arrays are let go first where this path makes its own."""
            low = math.log(float(xp.finfo(log_mean.dtype).smallest_normal))
            # (and rows whose std is not finite beside a finite mean: an
            # expert's mean beyond the floats, held by a small weight, made
            # the units inf; a weight of e^-609.7 beside a mean of e^718.9
            # raised for a std of 6.93e179)
            lost = xp.isfinite(y_mean) & ~xp.isfinite(std)
            if not (float(xp.min(log_weight)) < low or bool(xp.any(lost))):
                return y_mean, std
            if clear:
                work.clear()
            held = (log_weight > -xp.inf) & (log_weight < low)
            # (only where the share lost can tell: it is at most w ((1 + phi)
            # mu^2 + m^2), against the variance of the others, std^2, with
            # e^-40 of margin)
            log_std = xp.log(std)[None, :]
            bound = log_weight - 2.0 * log_std
            bound = bound + xp.maximum(
                xp.log1p(dispersion) + 2.0 * log_mean, 2.0 * xp.log(y_mean)[None, :]
            )
            eps = float(xp.finfo(log_mean.dtype).eps)
            held = held & ~(bound < math.log(eps) - 40.0)
            held = xp.any(held, axis=0) & xp.isfinite(y_mean) & xp.isfinite(std)
            held = held | lost
            rows = to_numpy(xp.nonzero(held)[0])
            if rows.shape[0] == 0:
                return y_mean, std
            take = xp.asarray(rows, device=device(log_mean))
            # (a (K, 1) column of all experts' dispersions: one a sample)
            dispersion = dispersion + xp.zeros_like(log_mean)
            parts = (
                np.asarray(to_numpy(xp.take(part, take, axis=1)).T, np.float64)
                for part in (log_weight, log_mean, dispersion)
            )
            out = np.asarray(to_numpy(std), dtype=np.float64).copy()
            out[rows] = _far_std(*parts)
            return y_mean, as_compute(xp, out, std)

        # means or gates that overflow (X far from the training data) raise in
        # _map_rows
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._map_rows(X, compute, "predict")

    def predict_distribution(self, X):
        """The predictive Gamma mixture p(y | x) of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        distribution : PredictiveGammaMixture
            Vectorized ``mean()``, ``var()``, ``std()``, ``pdf(y)``,
            ``logpdf(y)``, ``cdf(y)``, ``sf(y)``, ``ppf(q)``, ``median()``,
            ``interval(confidence)`` and ``sample(n)``, with the per-row expert
            ``weights``, ``means`` and ``shapes``; held on the host (NumPy)
            whatever the input's namespace. With ``top_k``, each row holds only
            its ``top_k`` selected experts.
            ``logpdf(y)`` sums the gate's log weights with the experts' log
            densities, as :meth:`log_likelihood_samples`, also where a gate
            weight underflows in ``weights`` (to 0 or a subnormal float: X far
            from the training data) or an expert's mean under- or overflows
            (``means`` hold the smallest normal float, or 1 for an expert of
            weight 0, there: from its log mean); ``mean()``, ``var()`` and
            ``std()`` take those experts' shares from their logs, as
            :meth:`predict` does, and ``cdf(y)``, ``sf(y)`` and ``ppf(q)`` their
            ``y / mu``.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoEGammaRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> slope = np.where(X[:, 0] < 0, -0.5, 0.5)  # two regimes of means
        >>> mean = np.exp(0.5 + slope * X[:, 0])
        >>> amounts = rng.gamma(5.0, mean / 5.0)
        >>> model = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, amounts)
        >>> dist = model.predict_distribution([[-2.0], [2.0]])
        >>> np.round(dist.mean(), 2)
        array([4.78, 4.1 ])
        >>> np.round(dist.sf(5.0), 3)  # P(y > 5) at each row
        array([0.403, 0.269])
        """
        check_is_fitted(self)
        underflow = _Underflow()

        def compute(xp, design):
            weight, log_weight, log_mean, mean, dispersion = self._parts(
                xp, design, zeroed=False
            )
            log_mean, low = underflow.far(xp, mean, log_mean)
            # a mean beyond the floats that a weight below HELD_WEIGHT holds:
            # its shares come from its logs, as the rows' of low (a weight of
            # e^-609.7 beside a mean of e^718.9 was refused, as predict's std)
            # (where the row's mean is finite, as predict gives it)
            huge = (log_weight < math.log(HELD_WEIGHT)) & (mean == xp.inf)
            any_huge = bool(xp.any(huge))
            if any_huge:
                terms = xp.exp(log_weight + log_mean)
                unused = _left_out(xp, weight, terms)
                terms = xp.where(unused, xp.zeros_like(terms), terms)
                huge = huge & xp.isfinite(xp.sum(terms, axis=0))[None, :]
                del terms
                low = huge if low is None else low | huge
            underflow.add(xp, weight, log_weight, mean, log_mean, dispersion, low=low)
            del log_weight, log_mean, low  # (freed, as before)
            # an expert of weight 0 takes no part: where its mean (or
            # dispersion) overflowed, 1 stands for it, before _map_rows's
            # overflow check refused rows that predict serves (0 would be
            # the point mass's mean); for a huge one the largest float, whose
            # tail its cdf and sf keep (1 gave an sf of 1.2e-102 at 100 for
            # 4.2e-18, the weight of a mean of e^720)
            unused = weight == 0
            one = xp.ones_like(mean)
            mean = xp.where(unused & ~xp.isfinite(mean), one, mean)
            if any_huge:
                largest = xp.full_like(mean, float(xp.finfo(mean.dtype).max))
                mean = xp.where(huge, largest, mean)
            dispersion = xp.where(unused & ~xp.isfinite(dispersion), one, dispersion)
            return _float64_rows(weight.T, mean.T, dispersion.T)

        with np.errstate(over="ignore", invalid="ignore"):
            weights, means, dispersions = self._map_rows(
                X, compute, "predict_distribution"
            )
        weights = np.asarray(to_numpy(weights), dtype=np.float64)
        # (each row by its sum in one order, whatever the chunks' layout)
        weights /= _component_sums(weights)[:, None]
        means = np.asarray(to_numpy(means), dtype=np.float64)
        # in place (the chunks' own arrays): new shapes and clipped means
        # beside the old held 5 (n, K) arrays at once, 305 MiB at 1e6 rows, K=8
        shapes = np.asarray(to_numpy(dispersions), dtype=np.float64)
        with np.errstate(divide="ignore"):  # a point mass's 0: set below
            np.divide(1.0, shapes, out=shapes)
        # (those of positive weight are finite: they overflow in _map_rows)
        np.clip(means, np.finfo(np.float64).smallest_normal, None, out=means)
        if self._zero_fitted():  # the point mass at zero: a component of mean 0
            zero = np.isneginf(self._host_attribute("expert_intercept_"))
            means[:, zero] = 0.0
            shapes[:, zero] = 1.0
        dist = PredictiveGammaMixture(weights, means, shapes)
        kept = underflow.kept()
        if kept is None:
            return dist
        rows, log_weights, mean, log_mean, dispersion = kept
        # the log density leaves out an expert whose dispersion 1 stands in
        # for, and takes those whose mean under- or overflowed from their logs
        # (NaN: a chunk of normal means, whose logs are not needed)
        lost = ~np.isfinite(dispersion)
        # (not the point mass at zero, log mean ZERO_LOG_RATE; tiny: in the
        # chunks' dtype, a subnormal float32 mean of fewer digits)
        odd = ~lost & (log_mean > 0.5 * ZERO_LOG_RATE)
        odd &= (mean < underflow.tiny) | (mean == np.inf)
        return with_log_parts(
            dist,
            rows,
            np.where(lost, -np.inf, log_weights),
            largest=underflow.largest,
            log_means=np.where(odd, log_mean, np.nan),
        )

    def score(self, X, y, sample_weight=None):
        """Return D^2, the fraction of Gamma deviance the predictions explain.

        R^2 instead for a model fitted with ``zero_inflated=True`` (a zero's
        Gamma deviance is infinite).

        ``1 - D(y, y_pred) / D(y, y_null)`` with ``D`` the (weighted) Gamma
        deviance and ``y_null`` the weighted mean of y, as
        ``GammaRegressor.score``; 1 is best, and it can be negative. Summed
        from the logarithms of y and the predictions, so that it stays finite
        for amounts from 1e-300 to 1e300. Where y is constant, 1 for
        predictions equal to it (to 1e-9 of itself, 1.2e-4 for float32
        predictions) and 0 otherwise, as ``r2_score``; on fewer than two rows
        (of positive weight), NaN with an ``UndefinedMetricWarning``, as
        ``d2_tweedie_score``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            The positive amounts (or zeros, with ``zero_inflated``).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            D^2 of ``self.predict(X)`` against y; with ``zero_inflated``,
            ``r2_score`` of them, whose null model is also the mean of y.
        """
        # (y's missing values in GammaRegressor.score's words, "Input contains
        # NaN.", pandas' NA and rows of weight 0 too)
        X, y, sample_weight = _scored_rows(
            X, y, sample_weight, estimator=self, metric_y=True
        )
        predicted = np.asarray(to_numpy(self.predict(X)))
        y_pred = np.asarray(predicted, dtype=np.float64)
        y = self._encode_target(host(y), y_pred[:, None], fitting=False, name="")[0]
        if _too_few_to_score(y, "R^2" if self._zero_fitted() else "D^2"):
            return float("nan")
        sample_weight = _score_weights(sample_weight, y)
        if self._zero_fitted():  # a zero's Gamma deviance is infinite
            return r2_score_at_scale(y, predicted, sample_weight=sample_weight)
        y = np.asarray(y, dtype=np.float64)
        return _gamma_d2(y, y_pred, sample_weight, predicted.dtype)


def _far_std(log_weights, log_means, dispersions):
    """The predictive distributions' standard deviations of rows whose gate
    ``log_weights``, ``log_means`` and ``dispersions`` (n_rows,
    n_components, float64) have weights below the smallest normal float:
    from their logs there (:meth:`PredictiveGammaMixture.std`), as
    ``predict_distribution`` gives them (1 stands in for a mean that
    overflows, the smallest normal float for one that underflows, and a
    dispersion that is not finite leaves its component out; a zero-inflated
    model's point mass, of dispersion 0, has mean 0 and shape 1)."""
    # (a zero-inflated model's point mass, of log mean ZERO_LOG_RATE, has
    # mean 0, exactly, and takes part: left out for its dispersion of 0, it
    # gave a std of 0.857 for 0.937 where half the weight was the point
    # mass's)
    mass = log_means <= 0.5 * ZERO_LOG_RATE
    used = np.isfinite(dispersions) & ((dispersions > 0) | mass)
    log_weights = np.where(used, log_weights, -np.inf)
    with np.errstate(over="ignore", under="ignore"):
        weights, means = np.exp(log_weights), np.exp(log_means)
    # (each row by its sum in one order, as predict_distribution's: np.sum
    # added a row alone among a chunk's far rows in another order)
    weights = weights / _component_sums(weights)[:, None]
    tiny = np.finfo(np.float64).smallest_normal
    odd = ~mass & ((means < tiny) | (means == np.inf))
    means = np.where(means < np.inf, np.clip(means, tiny, None), 1.0)
    means = np.where(mass, 0.0, means)
    shapes = 1.0 / np.where(used & ~mass, dispersions, 1.0)
    dist = PredictiveGammaMixture(weights, means, shapes)
    dist = with_log_parts(
        dist,
        np.arange(len(dist)),
        log_weights,
        log_means=np.where(odd, log_means, np.nan),
    )
    return dist.std()


def _amount_moments(Y, sample_weight):
    """The weighted sum of 1, the log of that of y, the weighted sum of log(y)
    and the weighted sum of squares of log(y) about its weighted mean, of an
    encoded target, as Python floats (y's sum in logs: it overflowed for
    amounts of 1e306; the squares centred: the raw ones of log(y) near 690
    cancelled, see :func:`_dispersion_floor`)."""
    log_y = Y[1].astype(np.float64)
    positive = sample_weight > 0
    total = float(np.sum(sample_weight))
    log_sum = float(np.sum(sample_weight * log_y))
    mean = log_sum / total if total > 0 else 0.0
    return (
        total,
        float(special.logsumexp(log_y[positive], b=sample_weight[positive])),
        log_sum,
        float(np.sum(sample_weight * (log_y - mean) ** 2)),
    )


def _centred(moments):
    """``moments`` whose 4th entry is the raw weighted sum of log(y)^2 (as
    :func:`_amount_moments` gave them before the squares were centred), with
    the sum of squares about the weighted mean instead."""
    total, log_y_sum, log_sum, raw = moments
    squares = raw - log_sum * (log_sum / total) if total > 0 else 0.0
    return (total, log_y_sum, log_sum, max(float(squares), 0.0))


def _combine(a, b):
    """The moments of two batches together (the centred squares by Chan et
    al.'s pairwise update)."""
    if not a[0] > 0 or not b[0] > 0:  # a batch of no weight adds nothing
        return b if not a[0] > 0 else a
    total = a[0] + b[0]
    delta = b[2] / b[0] - a[2] / a[0]
    squares = a[3] + b[3] + delta**2 * a[0] * b[0] / total
    return (total, float(np.logaddexp(a[1], b[1])), a[2] + b[2], squares)


def _dispersion_floor(moments):
    """``DISPERSION_FLOOR`` times the variance of log(y) (of 1 where y is
    constant, to 1e-12 of log(y)). From the centred squares: the raw ones,
    ``mean(log(y)^2) - mean(log(y))^2``, called amounts of a coefficient of
    variation of 1e-5 at 1e5 constant (a floor of 1e-10, their dispersion),
    where they found a variance of 1e-10 at 1 (a floor of 1e-20): the
    fitted shape depended on y's unit."""
    total, _, log_sum, squares = moments
    spread = squares / total
    constant = not spread > (1e-12 * (1.0 + abs(log_sum / total))) ** 2
    return DISPERSION_FLOOR * (1.0 if constant else spread)


def _one_gamma(moments):
    """The log mean and the maximum-likelihood dispersion of one Gamma
    distribution fitted to the amounts of ``moments``; the dispersion is None
    where they show no spread."""
    total, log_y_sum, log_sum, _ = moments
    log_mean = log_y_sum - math.log(total)
    excess = log_mean - log_sum / total  # >= 0 by Jensen's inequality
    if not excess > 1e-12:
        return log_mean, None
    return log_mean, float(1.0 / fit_shape(excess))


def _gamma_d2(y, y_pred, sample_weight, dtype=np.float64):
    """D^2 of the Gamma deviance, ``1 - D(y, pred) / D(y, mean(y))`` with the
    unit deviance ``2 (y / mu - log(y / mu) - 1)`` summed from logs (as
    ``expm1(d) - d``, ``d = log(y / mu)``; means ``y_pred`` that underflowed
    count as the smallest normal number): ``d2_tweedie_score`` overflowed
    for amounts from 1e-300 to 1e300 (NaN). 1 or 0 where y is constant, as
    ``r2_score`` (to :func:`~skmoe._math.constant_tolerance` of the
    predictions' ``dtype``). In row chunks (:func:`~skmoe._base._row_slices`),
    as ``predict`` makes them."""
    tiny = np.finfo(np.float64).smallest_normal
    log_y = np.log(y)
    slices = _row_slices(y.shape[0])
    parts = []  # log sum w y of each chunk's rows of positive weight
    for rows in slices:
        positive = sample_weight[rows] > 0
        if np.any(positive):
            parts.append(
                special.logsumexp(
                    log_y[rows][positive], b=sample_weight[rows][positive]
                )
            )
    log_sum = parts[0] if len(parts) == 1 else special.logsumexp(parts)
    log_null = log_sum - math.log(np.sum(sample_weight))
    nulls, fits = [], []  # each chunk's deviances
    for rows in slices:
        weight = sample_weight[rows]
        null, _ = excess(np, log_y[rows] - log_null, ratio=False)
        log_pred = np.log(np.maximum(y_pred[rows], tiny))
        fitted, _ = excess(np, log_y[rows] - log_pred, ratio=False)
        nulls.append(float(np.sum(weight * null)))
        fits.append(float(np.sum(weight * fitted)))
    null_deviance, deviance = _add_totals(nulls), _add_totals(fits)
    if not null_deviance > 1e-24 * np.sum(sample_weight):  # y is constant
        tolerance = constant_tolerance(dtype)
        for rows in slices:  # rows of positive weight
            log_pred = np.log(np.maximum(y_pred[rows], tiny))
            close = np.abs(log_y[rows] - log_pred) <= tolerance
            if not np.all(close[sample_weight[rows] > 0]):
                return 0.0
        return 1.0
    return float(1.0 - deviance / null_deviance)
