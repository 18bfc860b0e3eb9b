"""MoERegressor: a mixture of linear-Gaussian experts."""

from __future__ import annotations

import copy
import dataclasses
import math
from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
)

from ._backend import as_compute, host, to_numpy
from ._base import (
    BaseMixtureOfExperts,
    _float64_rows,
    _score_weights,
    _scored_rows,
    _Underflow,
)
from ._diagnostics import _at_lower_bound, _nan_parameters
from ._distribution import (
    PredictiveMixture,
    PredictiveStudentTMixture,
    _component_sums,
)
from ._docstrings import fill_doc
from ._em import e_step
from ._fitting import (
    AUTO_MIN_SAMPLES_PER_PARAMETER,
    _check_float_range,
    _check_infinite,
    _target_column,
)
from ._init import SPREAD_RATIO, spread_ratio
from ._math import (
    constant_target_score,
    mixture_std,
    sums_in_turn,
    weighted_lower_quantiles,
)
from ._partial_fit import _online_gate, _pending_rows, _reset_pending
from ._sgd import SGDState, effective_rows
from ._sparse import selected_linear
from ._warnings import _listed, _warn_user
from .experts import GaussianLinearExperts, StudentTLinearExperts
from .experts.estimator import (
    ExpertEstimatorMethods,
    RegressorExperts,
    check_sample_weight_support,
    not_a_regressor,
)
from .experts.gaussian import VARIANCE_RANGE, residual_scale

#: The ratio of a linear-Gaussian expert's noise standard deviation to its
#: residuals' above which fit warns (:meth:`MoERegressor._held_noise_message`).
HELD_NOISE = 2.0

#: The degrees of freedom ``df="auto"`` chooses among, by training BIC (at a
#: number of experts, by the log-likelihood: a profile likelihood over a grid,
#: as Yao, Wei & Yu 2014 choose it). Doubling steps: the profile is flat in
#: df where the tails are near Gaussian, and 32 is nearly Gaussian.
DF_GRID = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
#: The df a warm fit with df="auto" takes from a model fitted without it
#: (the ``df`` parameter's default).
DEFAULT_DF = 4.0

#: The standard normal's 90% quantile: (q90 - q10) / (2 NORMAL_Q90) is a
#: normal sample's standard deviation.
NORMAL_Q90 = 1.2815515655446004

#: Noise variance floor relative to the (weighted) variance of y. At 1e-6 (noise
#: sd 1e-3 of y's) it bound real regimes: one of noise sd 0.01 beside one of
#: slope 10 sat at it, so "auto" passed over every fit of several experts (R^2
#: 0.83 for 0.995), and one outlier of 1e6 among 1000 rows raised it to 999,
#: above the inliers' noise variance of 1.06. An exact fit still reaches it.
VARIANCE_FLOOR = 1e-10

#: At most this many distinct values of y, each on two rows or more on average,
#: a collapse warning says that class labels are MoEClassifier's.
MAX_LABELS = 10


@fill_doc
class MoERegressor(RegressorMixin, BaseMixtureOfExperts):
    """Mixture of linear-Gaussian (or Student-t) experts, fitted by EM.

    ``p(y | x) = sum_k g_k(x) N(y; x~ . b_k, s2_k)``: a gate g(x) weighs K linear
    regressions, each with its own noise variance (Student-t noise with
    ``noise="student_t"``). Fits regimes that a single
    linear model cannot (piecewise, switching or heteroscedastic relations), and
    gives the whole predictive distribution, not only its mean.

    Parameters
    ----------
    n_experts : int or "auto", default="auto"
        Number of experts K. ``"auto"`` fits K = 1, 2, 3 and 4 (each with
        ``n_init`` restarts) and keeps the fit of lowest BIC on the training data
        (``n_experts_bic_``), passing over fits where an expert collapsed onto
        a few points: one expert, i.e. a linear regression, when the data
        show no regimes, and the regimes when they do (5-fold CV R^2 after a
        StandardScaler, 3 seeds, ``benchmarks/tune_defaults.py``: diabetes
        0.481, equal to LinearRegression on every seed, where K=3 gave 0.413;
        its regime data 0.970, K=3 in every fold, as K=3 alone). With
        ``expert_estimator``, by held-out log-likelihood instead (see there;
        held-out samples that a candidate scores ``-inf``, or that every
        candidate scores over 50 nats (more where every candidate's scores
        spread more than a Gaussian's) below its median held-out sample's,
        far outliers, are left out of the comparison, with a warning, and
        where that is all of them the fewest experts are kept).
        A warning says when it chooses 4 while the criterion still improves
        there: fit larger numbers of experts and compare them.

    {{gate_parameter}}

    expert_estimator : estimator object, default=None
        Experts that are clones of this scikit-learn regressor instead of
        linear ones: a tree, a forest, gradient boosting, any regressor whose
        ``fit`` takes ``sample_weight``. Each EM iteration refits every expert
        with the samples' weights times their responsibilities (generalized
        EM), and expert k's noise is Gaussian around its ``predict``, with
        the weighted mean squared residual as its variance. The fitted clones
        are ``experts_``; they see the raw ``expert_features`` (at least one:
        an empty list is refused), in X's column order, so
        ``experts_[k].predict`` takes those columns of X (by name,
        for a model fitted on a DataFrame). Fitted by EM on the CPU. An
        estimator has no count of free parameters, so ``n_experts="auto"``
        chooses K by the mean log-likelihood on ``validation_fraction`` of
        the samples held out (``n_experts_scores_``; the fewest experts within
        one standard error of the best), ``alpha`` penalizes the
        gate only (nothing with ``gate="constant"`` or ``"gaussian"``: fit
        warns that it is ignored), and ``bic``, ``aic``, ``icl`` and
        ``std_errors`` are not available. See :ref:`estimator-experts`.

    {{shared_features_parameter}}

    variance_type : {"per_expert", "tied"}, default="per_expert"
        ``"per_expert"``: each expert has its own noise variance, so the mixture
        can be heteroscedastic. ``"tied"``: all experts share one (R flexmix's
        ``varFix = TRUE``, mixtools' ``arbvar = FALSE``; ``expert_variance_``
        then holds K equal values and BIC counts one). With one variance an
        expert cannot shrink its noise onto a few points while the others keep
        theirs, the degenerate optimum that makes per-expert likelihoods
        unbounded: use it for small samples, duplicated points or experts that
        collapse. A warm-start ``fit`` follows a changed ``variance_type``
        (from ``"per_expert"``, starting at the usage-weighted mean variance);
        ``partial_fit`` continues the fitted model's.

    noise : {"gaussian", "student_t"}, default="gaussian"
        The experts' noise. ``"student_t"``: Student-t noise of ``df`` degrees
        of freedom around each expert's line, whose heavy tails keep a few
        outlying targets from pulling the lines (or claiming an expert of
        their own): robust mixture regression. ``expert_variance_`` then
        holds the squared scales s2_k. EM weighs each sample, beside its
        responsibility, by ``(df + 1) / (df + d2)``, with d2 its squared
        distance from the expert's line in scales; see
        :ref:`student-t-experts`. Linear experts only (no
        ``expert_estimator``), and no online EM.

    df : float or "auto", default=4.0
        Degrees of freedom of ``noise="student_t"`` (ignored for Gaussian
        noise, with a warning where it is set): positive and finite, 1 for
        Cauchy noise, nearly Gaussian from about 30.
        It is fixed during each fit. ``"auto"`` fits df = 1, 2, 4, 8, 16 and
        32 (each with the ``n_experts`` candidates and ``n_init`` restarts,
        so six times the cost) and keeps the fit of lowest training BIC,
        i.e. of highest log-likelihood at a number of experts (a profile
        likelihood; ``df_``, ``df_bic_``), passing over collapsed fits of
        several experts as ``n_experts="auto"`` does, and a single expert's
        fit whose scale sits at or near its floor on a few distinct values
        (a line through a spike of equal y that outweighs df times the other
        samples, whose likelihood has no maximum), and BIC and AIC count the
        chosen df as a parameter; a warm fit keeps the fitted df
        (4 after a fit without Student-t noise), and ``partial_fit`` needs a
        number or a fitted model. With ``df <= 2`` the noise variance is
        infinite, and so are the standard deviations of
        ``predict(return_std=True)``; with ``df <= 1`` the noise has no mean,
        and ``predict`` gives the gate-weighted centres of the experts.

    alpha : float, default=1e-6
        {{alpha_meaning}} The tiny default mostly guards the solves: regimes
        with hard boundaries need a sharp gate, and larger penalties blur it
        (5-fold CV R^2 on the regime data of ``benchmarks/tune_defaults.py``,
        3 seeds: 0.970 at 1e-6, 0.940 at 1e-4, 0.877 at 1e-3, while diabetes
        moved only from 0.413 to 0.447).

    n_init : int, default=4
        Number of EM restarts; the run with the best penalized log-likelihood is
        kept. EM converges to a local optimum, and a few restarts from different
        starts find the best-known optimum far more often than one, notably when
        regression lines cross.

    {{shared_parameters}}

    Attributes
    ----------
    expert_coef_ : ndarray of shape (n_experts_, n_features_in_)
        Coefficients b_k of each expert.

    expert_intercept_ : ndarray of shape (n_experts_,)
        Intercept of each expert.

    experts_ : list of estimators
        With ``expert_estimator``: the fitted clones, one per expert
        (``expert_coef_`` and ``expert_intercept_`` are then not set).

    expert_variance_ : ndarray of shape (n_experts_,)
        Noise variance s2_k of each expert (the MLE when ``alpha=0``, floored at
        1e-10 times the variance of y); K equal values with
        ``variance_type="tied"``. With ``noise="student_t"``, the squared
        scale of each expert's noise, whose variance is
        ``s2_k df / (df - 2)`` for ``df > 2``, floored at 1e-10 times the
        smaller of y's variance and the variance its 10% and 90% quantiles
        imply for a normal y (which outliers do not inflate), or y's variance
        where those quantiles are equal.

    df_ : float
        With ``noise="student_t"``: the experts' degrees of freedom, ``df``'s
        or the one ``df="auto"`` chose.

    df_bic_ : ndarray of shape (6,)
        With ``df="auto"``: the training BIC of the best fit at each df of 1,
        2, 4, 8, 16 and 32 (``n_experts_bic_`` then holds the chosen df's
        BIC per number of experts); ``inf`` where that fit collapsed or broke
        down and was passed over (unless every df's did). Each df has its own
        ``n_init`` restarts from the same starts: with ``n_init=1``, a start
        that lands in a poor optimum at some df raises that df's entry (by 450
        on 300 rows of two crossing lines, where two restarts found the
        profile). Removed, as ``n_experts_bic_`` is, by a ``warm_start`` refit
        (which keeps the fitted df), by ``partial_fit`` and from
        :meth:`prune_experts`' copy.

    {{shared_attributes}}

    See Also
    --------
    MoEClassifier : Mixture of logistic experts for classification.
    MoEPoissonRegressor : Mixture of Poisson regressions, for counts.
    MoEGammaRegressor : Mixture of Gamma regressions, for positive amounts.
    sklearn.linear_model.LinearRegression : The single-expert model.

    Notes
    -----
    The penalty on expert k is ``alpha / 2 * ||b_k||^2 / s2_k`` (a conjugate
    normal prior), which keeps the M-step exact and ``alpha`` independent of the
    scale of y.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MoERegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(400, 1))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.1 * rng.randn(400)
    >>> reg = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    >>> round(reg.score(X, y), 2)
    1.0
    >>> mean, std = reg.predict([[-2.0], [2.0]], return_std=True)
    >>> np.round(mean, 1)
    array([4., 6.])
    """

    @property
    def _ridge_experts(self):
        """One Gaussian expert is a ridge regression (the feature-scale
        warning's RIDGE_PENALTY_SHARE); a Student-t one weighs its rows anew
        at each iteration, unmeasured there, and keeps the gate's share."""
        return self.noise == "gaussian"

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
        variance_type="per_expert",
        noise="gaussian",
        df=DEFAULT_DF,
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
        self.variance_type = variance_type
        self.noise = noise
        self.df = df

    _continuous_target = True
    _copies_collapse = True  # (n_experts='auto': see _on_copies)
    _real_parameters = (*BaseMixtureOfExperts._real_parameters, "df")

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "expert_estimator": [ExpertEstimatorMethods(["fit", "predict"]), None],
        "shared_features": ["array-like", None],
        "variance_type": [StrOptions({"per_expert", "tied"})],
        "noise": [StrOptions({"gaussian", "student_t"})],
        "df": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    }

    def _far_apart_regimes(self, Y, sample_weight, n_experts) -> bool:
        """Gaussian or Student's t experts (with ``init_params="mixed"``): one
        restart more, from k-means of the ranks of ``y`` alone, hard labels,
        where the spreads of ``y``'s quantile bins differ by orders of
        magnitude (:func:`~skmoe._init.spread_ratio` of at least
        :data:`~skmoe._init.SPREAD_RATIO`): k-means of ``y`` splits a wide
        regime there and merges narrow ones, and every built-in start ended
        72 to 114 nats below the true parameters on regimes of means 0, 10
        and 1000 (sds 1, 3 and 100); Student's t experts on the same data
        ended 102 to 119 nats below on 3 seeds of 10."""
        return spread_ratio(Y, sample_weight, n_experts) >= SPREAD_RATIO

    def _encode_target(self, y, X, *, fitting):
        # (the cast overflowed with NumPy's warning, then the error was
        # scikit-learn's "contains infinity" or the squares' overflow)
        _check_float_range(y, X.dtype, "y", "rescale y")
        if not fitting:
            y = check_array(y, ensure_2d=False, dtype=X.dtype, input_name="y")
            y = _target_column(y)
            check_consistent_length(X, y)
        return np.asarray(y, dtype=X.dtype)

    def _inference_target(self, Y, expert_params, sample_weight):
        # y - c with every intercept less c: the same likelihood. std_errors
        # steps the intercepts in units of the noise, and at 1e12 noise units
        # from 0 a step of 1e-4 was below their float spacing (a NaN
        # Hessian), at 1e6 the residuals kept 4 digits of the noise (standard
        # errors 3% off). The median: an outlier of 1e15 moved the mean, and
        # with it a Student-t expert's intercept, to -5e15 noise units
        centre = float(np.median(Y[sample_weight > 0]))
        coef = np.array(expert_params["coef"], copy=True)
        coef[0] -= centre
        return Y - centre, dict(expert_params, coef=coef)

    def _degenerate_target(self):
        total, _, squares = self._target_moments
        return squares / total <= 0

    def _single_collapse_message(self, problem, best):
        # a Student-t expert through a spike of equal values of y (zeros,
        # 60% of y) with more distinct samples than coefficients: its other
        # samples lie in its tails, and the likelihood has no maximum where
        # the spike outweighs df times them (-log s each against df log s);
        # "as many coefficients as distinct samples" did not say so
        message = super()._single_collapse_message(problem, best)
        experts = problem.experts
        if message is None or type(experts) is not StudentTLinearExperts:
            return message
        kept = to_numpy(problem.sample_weight) > 0
        rows = np.vstack([to_numpy(problem.design), to_numpy(problem.Y)[None, :]])
        if np.unique(rows[:, kept], axis=1).shape[1] <= problem.design.shape[0]:
            return message
        return (
            "The expert's line passes (almost) exactly through some of its "
            "samples (copies, or a spike of equal values of y) that outweigh "
            f"df={experts.df:g} times the others, out in the tails of its "
            "Student-t noise: the likelihood then has no maximum, and its "
            "expert_variance_ sits at or near its lower bound. Predictive "
            "intervals, predict(return_std=True) and std_errors are then far "
            "too narrow, and the likelihood, score, bic and aic inflated. A "
            "larger df, or more experts (one for the spike), may do."
        )

    def _collapse_message(self, problem, best):
        # class labels (0/1) fitted as a target collapse every expert but one
        # onto a label, and the advice was fewer experts or a tied variance
        message = super()._collapse_message(problem, best)
        if message is None:
            return self._held_noise_message(problem, best)
        weighted = to_numpy(problem.Y[problem.sample_weight > 0])
        distinct = np.unique(weighted)
        # labels repeat: 5 rows of 5 distinct values (a collapse of too few
        # rows for the coefficients) were said to be perhaps class labels
        if distinct.size > MAX_LABELS or 2 * distinct.size > weighted.size:
            return message
        return (
            f"{message} y takes only {distinct.size} distinct values: if they "
            "are class labels, MoEClassifier models them."
        )

    def _floor_collapse_message(self, problem, best, experts, rows, distinct):
        """The text of a warning when linear-Gaussian or Student-t
        ``experts`` (indices) of many distinct samples (``rows`` of their own,
        of ``distinct`` values of y) sit at the variance
        floor above their residuals' variance, or None: regimes 1e6 apart
        with noise variance 0.75 took the floor's 25 (15.2 with Student-t
        noise), and the warning said they fitted a few distinct values of y
        exactly."""
        gaussian = (GaussianLinearExperts, StudentTLinearExperts)
        if type(problem.experts) not in gaussian:
            return None
        squares, mass = self._expert_residuals(problem, best)
        floor = float(problem.experts.variance_floor)
        variance = np.asarray(
            to_numpy(best.expert_params["variance"]), dtype=np.float64
        )[experts]
        with np.errstate(divide="ignore", invalid="ignore"):
            residual = squares[experts] / mass[experts]
        if not np.all((variance <= floor * (1 + 1e-6)) & (residual < variance)):
            return None
        count, values = (
            f"{lo}" if lo == hi else f"{lo} to {hi}"
            for lo, hi in ((int(a.min()), int(a.max())) for a in (rows, distinct))
        )
        low, high = float(residual.min()), float(residual.max())
        spread = (
            f"{low:.3g}"
            if f"{low:.3g}" == f"{high:.3g}"
            else (f"{low:.3g} to {high:.3g}")
        )
        with np.errstate(divide="ignore"):
            largest = float(np.sqrt(np.max(variance / residual)))
        noun, what = _floor_words(problem.experts)
        return (
            f"Experts {_listed(experts)} of the kept run collapsed onto the "
            f"variance floor ({what}: {floor:.3g}): their {count} samples of "
            f"their own ({values} distinct values of y) lie nearer their lines than "
            f"that (residual variance {spread}), as regimes far apart relative to "
            "their noise, or a spike of values equal to several digits, do. The "
            "floor, not their residuals, sets their expert_variance_: their "
            f"noise {noun} is up to {largest:.3g} times their residuals', and "
            "predict(return_std=True), predict_distribution's intervals and "
            "std_errors are that much too wide for them. The floor scales with "
            "y, so standardizing y does not move it: fit such regimes on their "
            "own (split y where it jumps), or model log(y) where y is positive "
            "and the regimes differ by a factor."
        )

    def _expert_residuals(self, problem, best):
        """Each linear-Gaussian or Student-t expert's weighted sum of squared
        residuals (weighed as the M-step weighs them) and its share of the
        weight (which sums to 1 over the experts): two (K,) float64 arrays,
        pooled over the experts where the variance is tied."""
        experts = problem.experts
        xp = problem.xp
        # (K, n) arrays dropped once used (the E-step's log gate values at
        # once): this check ran near the fit's peak memory
        resp = e_step(problem, best.gate_params, best.expert_params)[1]
        weighted = problem.normalized_weight[None, :] * resp  # (sums to 1)
        del resp
        resid = problem.Y[None, :] - experts.means(
            xp, problem.design, best.expert_params
        )
        precision, _ = experts._precision_weights(
            xp, problem.design, problem.Y, best.expert_params, resid
        )
        if experts.scale == 1.0:
            squares = resid**2 if precision is None else precision * resid**2
            squares = xp.sum(weighted * squares, axis=1)
        else:  # (residuals beyond the square root of the largest float)
            share = weighted if precision is None else weighted * precision
            squares = experts._weighted_squares(xp, resid, share)
            del share
        del resid, precision
        mass = xp.sum(weighted, axis=1)
        squares = np.asarray(to_numpy(squares), dtype=np.float64)
        mass = np.asarray(to_numpy(mass), dtype=np.float64)
        if experts.tied:
            squares, mass = squares.sum() + 0 * squares, mass.sum() + 0 * mass
        return squares, mass

    def _held_noise_message(self, problem, best):
        """A warning where linear-Gaussian or Student-t experts' noise
        standard deviation (scale) is more than ``HELD_NOISE`` times their
        residuals' (alpha's term ``alpha ||b_k||^2 / N_k``, the variance
        floor, or a fit that stopped before the variance settled holds it
        up), or None: y = 1 + 2x + 1e-5 e at the default alpha gave a
        predictive standard deviation 200 times the noise, 50% intervals that
        covered every new point, and no word (172 times with Student-t
        noise). The residuals are weighed as the M-step weighs them (by
        their t precision weights), so that an unpenalized M-step at the fit
        gives their ratio 1."""
        experts = problem.experts
        gaussian = (GaussianLinearExperts, StudentTLinearExperts)
        if type(experts) not in gaussian or self._degenerate_target():
            return None
        squares, mass = self._expert_residuals(problem, best)
        variance = np.asarray(
            to_numpy(best.expert_params["variance"]), dtype=np.float64
        )
        used = mass * np.count_nonzero(to_numpy(problem.sample_weight)) >= 1
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.sqrt(variance / (squares / np.where(used, mass, 1.0)))
        held = np.flatnonzero(used & (ratio > HELD_NOISE))
        if held.size == 0:
            return None
        floor = float(experts.variance_floor)
        by_floor = bool(np.all(variance[held] <= floor * (1 + 1e-6)))
        # alpha's part of the variance: alpha ||b_k||^2 (the slopes' squares,
        # over all the weight, which sums to 1) over the expert's share
        coef = np.asarray(to_numpy(best.expert_params["coef"]), dtype=np.float64)
        with np.errstate(over="ignore"):  # (slopes near the limit: inf)
            slopes = problem.alpha * np.sum(coef[1:] ** 2, axis=0)
        if experts.tied:
            slopes = np.sum(slopes) + 0 * slopes
        with np.errstate(divide="ignore", invalid="ignore"):
            penalty = slopes / mass
        excess = variance - squares / np.where(used, mass, 1.0)
        by_alpha = bool(np.all(penalty[held] >= 0.5 * excess[held]))
        if by_floor:
            cause = f"the variance floor ({_floor_words(experts)[1]})"
            remedy = (
                "Fit such regimes on their own, or y with less spread between them."
                if best.expert_params["variance"].shape[0] > 1
                else "For a y that is linear in X without noise, LinearRegression "
                "fits the line."
            )
        elif by_alpha:
            cause = (
                "alpha's term alpha ||b_k||^2 / N_k (the penalty is a normal prior "
                "on the coefficients in units of the noise)"
            )
            remedy = "Lower alpha (alpha=0 leaves only the floor)."
        else:
            cause = "the fit stopping before its variance settled"
            remedy = (
                "Raise max_iter or lower tol."
                if self.solver == "em"
                else "Fit with solver='em' (the default), or raise max_iter."
            )
        largest = float(np.max(ratio[held]))
        noise = (
            "scale" if type(experts) is StudentTLinearExperts else "standard deviation"
        )
        return (
            f"The noise {noise} of experts {_listed(held)} is up "
            f"to {largest:.3g} times their residuals', held up by {cause}: "
            "predict(return_std=True), predict_distribution's intervals and "
            f"std_errors are that much too wide for them. {remedy}"
        )

    def _online_em(self):
        # linear-Gaussian experts (their sums of x x', x y and y^2) under a
        # gate whose M-step takes sums too
        # (Student-t experts' M-step weighs the samples by their distances
        # from the current lines, which running sums cannot hold)
        return (
            not self._estimator_experts()
            and self._noise() == "gaussian"
            and _online_gate(self)
        )

    def _noise(self):
        """The experts' noise: the fitted model's (which ``partial_fit``
        continues, whatever ``noise`` is set to since), or ``noise``."""
        # rows online EM kept back: the next call starts afresh (as unfitted)
        if hasattr(self, "_noise_df") and not hasattr(self, "_online_rows"):
            return "gaussian" if self._noise_df is None else "student_t"
        return self.noise

    def _conditional_parameters(self, method="fit"):
        # (partial_fit warns of them on the call that starts a model, whose
        # experts' noise is ``noise``)
        return [
            *super()._conditional_parameters(method),
            (
                ("df",),
                "when noise is 'student_t'",
                f"noise={self.noise!r}",
                self.noise == "student_t",
            ),
        ]

    def _warn_ignored_settings(self, method):
        if method == "warm_start=True":
            if (
                self.noise == "student_t"
                and self.df == "auto"
                and not getattr(self, "_df_chosen", False)
            ):
                # a warm fit keeps the fitted df; one that df="auto" did not
                # choose was kept without a word (as a changed n_experts warns)
                fitted = getattr(self, "_noise_df", None)
                kept = (
                    f"the fitted experts' df={fitted:g}"
                    if fitted is not None
                    else f"the fitted Gaussian experts with df={DEFAULT_DF:g}"
                )
                _warn_user(
                    f"warm_start=True continues {kept} and ignores df='auto', set "
                    "after the fit, which chooses df by fits from new starts; set "
                    "warm_start=False to choose it."
                )
            return
        # set_params(noise="student_t") and partial_fit kept the Gaussian
        # experts without a word (a changed n_experts is warned of)
        fitted = self._noise()
        if fitted != self.noise:
            _warn_user(
                f"{method} continues the fitted experts of noise={fitted!r} and "
                f"ignores noise={self.noise!r}, set after the fit; call fit to "
                f"fit noise={self.noise!r}."
            )
            return
        # as silent for a changed variance_type or df (a warm fit applies them)
        ignored = []
        tied = "tied" if getattr(self, "_tied_variance", False) else "per_expert"
        if tied != self.variance_type:
            ignored.append((f"variance_type={tied!r}", self.variance_type))
        df = getattr(self, "_noise_df", None)
        if df is not None and (
            float(self.df) != df
            if self.df != "auto"
            else not getattr(self, "_df_chosen", False)
        ):
            ignored.append((f"df={df:g}", self.df))
        for kept, value in ignored:
            name = kept.split("=")[0]
            _warn_user(
                f"{method} continues the fitted experts of {kept} and ignores "
                f"{name}={value!r}, set after the fit; call fit to fit "
                f"{name}={value!r}."
            )

    def _make_experts(self, Y, sample_weight, streaming=False):
        self._target_moments = _moments(Y, sample_weight)
        variance = self._target_moments[2] / self._target_moments[0]
        _check_target_scale(Y, sample_weight, variance, self.solver)
        if variance <= 0 and not streaming:  # partial_fit: _streaming_start warns
            _warn_user(
                "y is constant: every expert fits it exactly and its noise "
                "variance sits at the floor."
            )
        floor = _variance_floor(*self._target_moments)
        ceiling = floor * VARIANCE_RANGE
        if self.noise == "student_t":
            floor = _robust_floor(Y, sample_weight, floor, self.solver)
        tied = self.variance_type == "tied"
        if self._estimator_experts():
            if self.noise != "gaussian":
                raise ValueError(
                    f"noise={self.noise!r} needs linear experts; with "
                    "expert_estimator the experts' noise is Gaussian around "
                    "the estimator's predictions. Drop expert_estimator, or "
                    "use noise='gaussian'."
                )
            kind = not_a_regressor(self.expert_estimator)
            if kind is not None:
                raise ValueError(
                    f"expert_estimator={self.expert_estimator!r} is {kind}; "
                    "MoERegressor's experts predict y's mean: give a regressor, "
                    "or use MoEClassifier."
                )
            check_sample_weight_support(
                self.expert_estimator,
                "Ridge, DecisionTreeRegressor, HistGradientBoostingRegressor",
            )
            return RegressorExperts(
                self.expert_estimator,
                floor,
                tied=tied,
                weight_total=float(np.sum(sample_weight)),
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                random_state=self._expert_seed(),
            )
        shared = getattr(self, "_shared_rows", ())
        # (max y - min y: residuals beyond y's range on y near the square root
        # of the largest float are scaled before they are squared)
        bounds = (float(np.min(Y)), float(np.max(Y))) if np.size(Y) else None
        # (kept for partial_fit: its batches' residuals reach all the y seen)
        self._target_bounds = bounds
        spread = bounds[1] - bounds[0] if bounds is not None else 0.0
        scale = residual_scale(Y.dtype, spread)
        if self.noise == "student_t":
            df = self.df
            if df == "auto":  # fit chooses it (_fit_candidates); a warm fit keeps it
                df = getattr(self, "_noise_df", None)
                if streaming and df is None:
                    raise ValueError(
                        "df='auto' chooses the degrees of freedom by the BIC of "
                        "complete fits, which one mini-batch cannot do. Set df "
                        "to a number for partial_fit, or call fit first, after "
                        "which partial_fit keeps the fitted df."
                    )
                df = DEFAULT_DF if df is None else df
            # counted by BIC: a df="auto" cold fit's (_fit_candidates), or a
            # warm one's that keeps such a df
            chosen = self.df == "auto" and getattr(self, "_df_chosen", False)
            return StudentTLinearExperts(
                floor,
                df,
                tied=tied,
                shared=shared,
                chosen=chosen,
                variance_ceiling=ceiling,
                scale=scale,
            )
        return GaussianLinearExperts(floor, tied=tied, shared=shared, scale=scale)

    def _streaming_start(self, xp, params, Y, sample_weight):
        # a first batch with a constant y (one row, say) fits it exactly, noise
        # variances at the floor, which Adam would raise only by its step size
        # (R^2 -0.58 after five epochs against 0.55 without that batch): they
        # are reset from the next batch that shows a spread (_update_experts)
        total, _, squares = self._target_moments
        if squares > 0:
            return self._few_rows_start(xp, params, squares / total, sample_weight)
        self._variance_pending = _pending_rows(sample_weight)
        if np.count_nonzero(sample_weight) > 1:  # one row is always constant
            _warn_user(
                "The first partial_fit batch has a constant y: the experts' noise "
                "variances are set from the variance of y over the next batches."
            )
        return params

    def _few_rows_start(self, xp, params, variance, sample_weight):
        """``params`` with every noise variance at ``variance`` (y's), and no
        slopes (each expert at its intercept), where the
        first ``partial_fit`` batch has fewer rows than
        ``AUTO_MIN_SAMPLES_PER_PARAMETER`` per parameter of the experts: its
        M-step fitted each expert's few rows exactly, its variance at the
        floor, which Adam raised only by its step size (a first batch of 2
        rows left R^2 at -1.1 after ten epochs of 100-row batches, against
        0.98 from a first batch of 100). As after a constant first batch, the
        next batches set them again, from the variance of all the y seen, until
        ``UNIT_ROWS`` rows have been seen (:meth:`_update_experts`): 0.98 from
        a first batch of 2 or 5 rows, where the first batch's variance alone
        left 0.75. Its exactly fitted slopes stayed, and a first batch of 5
        rows, then ten epochs of 40-row batches, scored 0.12 to 0.87 over
        three seeds; 0.86 to 0.98 without them (as a Poisson regressor's
        experts start)."""
        gate_params, expert_params = params
        n_rows, n_experts = expert_params["coef"].shape
        needed = AUTO_MIN_SAMPLES_PER_PARAMETER * (n_rows + 1) * n_experts
        if effective_rows(sample_weight) >= needed:
            return params
        self._variance_pending = _pending_rows(sample_weight)
        start = expert_params["variance"] * 0 + variance
        coef = expert_params["coef"]
        coef = xp.concat([coef[:1, :], xp.zeros_like(coef[1:, :])], axis=0)
        return gate_params, dict(expert_params, variance=start, coef=coef)

    def _update_experts(self, Y, sample_weight):
        # partial_fit: the floor follows the variance of all the y seen so far,
        # so that a constant first batch does not hold the noise variance up
        previous = getattr(self, "_target_moments", None)
        if previous is None:  # fitted before the moments were kept
            return
        moments = _moments(Y, sample_weight)
        kept = Y[sample_weight > 0]  # (as fit, which leaves out weights of 0)
        bounds = getattr(self, "_target_bounds", None)
        if kept.size:
            low, high = float(np.min(kept)), float(np.max(kept))
            if bounds is not None:
                low, high = min(low, bounds[0]), max(high, bounds[1])
            bounds = (low, high)
        combined = _combine(previous, moments) if bounds is None else None
        if bounds is not None:
            # the y seen as one fit's y: refused as fit refuses them (a Python
            # OverflowError from _combine for float64 batches of +-1e154)
            limit = math.sqrt(float(np.finfo(Y.dtype).max)) * (1 - 2.0**-22)
            if bounds[1] - bounds[0] <= limit:
                combined = _combine(previous, moments)
            if combined is None or not math.isfinite(combined[2]):
                raise ValueError(
                    "y has values too large to fit: with the y of the earlier "
                    "batches, the squares of their range (max y - min y, which "
                    f"the fit's residuals reach) or their sum overflow {Y.dtype}. "
                    "Rescale y, e.g. with sklearn.compose.TransformedTargetRegressor."
                )
            # y near the limit after ordinary ones: scaled, from the range of
            # all the y seen, not the batch's (a stream of single rows spanning
            # 2e18 in float32 kept scale 1, and a row 1e21 off diverged)
            self._target_bounds = bounds
            scale = residual_scale(Y.dtype, bounds[1] - bounds[0])
            self._residual_scale = min(getattr(self, "_residual_scale", 1.0), scale)
        self._target_moments = combined
        floor = _variance_floor(*self._target_moments)
        if getattr(self, "_noise_df", None) is not None:
            # Student-t experts: the ceiling from all the y seen, the floor
            # robust to this batch's outliers (_robust_floor)
            self._variance_ceiling = floor * VARIANCE_RANGE
            floor = _robust_floor(Y, sample_weight, floor, self.solver)
        self._variance_floor = floor
        total, _, squares = self._target_moments
        if _reset_pending(self, "_variance_pending", sample_weight, squares > 0):
            # at each batch until UNIT_ROWS rows: a stream of single rows whose
            # first two y were close took noise variances 1e-3 times y's from
            # them (R^2 -2.9 after two passes, 0.98 where they were far apart)
            variance = self.expert_variance_
            self.expert_variance_ = variance * 0 + squares / total
            if isinstance(self._solver_state, SGDState):  # units from the noise
                self._solver_state = dataclasses.replace(self._solver_state, units=None)

    def _warm_params(self, problem, gate_params, expert_params):
        # a warm fit with variance_type changed to "tied" starts from the pooled
        # variance, sum_k share_k s2_k: EM's M-step pools by itself, but the
        # gradient solvers keep the K entries as far apart as they start
        if problem.experts.tied and not getattr(self, "_tied_variance", False):
            xp = problem.xp
            variance = expert_params["variance"]
            share = as_compute(xp, self._host_attribute("expert_usage_"), variance)
            pooled = xp.sum(share * variance) / xp.sum(share)
            expert_params = dict(expert_params, variance=pooled + 0 * variance)
        return gate_params, expert_params

    def _set_expert_attributes(self, experts, params):
        for name in ("expert_coef_", "expert_intercept_", "experts_"):
            vars(self).pop(name, None)  # the other kind of experts', from a refit
        if "estimators" in params:
            self.experts_ = list(params["estimators"])
        else:
            self.expert_intercept_ = params["coef"][0].copy()
            self.expert_coef_ = params["coef"][1:].T.copy()
        self.expert_variance_ = params["variance"].copy()
        self._variance_floor = experts.variance_floor
        self._variance_ceiling = experts.variance_ceiling
        self._tied_variance = experts.tied  # set_params must not change the model
        # (log_likelihood_samples, std_errors and later partial_fit batches
        # square residuals as the fit did: residual_scale)
        self._residual_scale = getattr(experts, "scale", 1.0)
        self._noise_df = getattr(experts, "df", None)  # Student-t experts' df
        self._df_chosen = getattr(experts, "chosen", False)  # counted by BIC

    def _set_fitted(self, problem, result, offset=None):
        super()._set_fitted(problem, result, offset)
        # here, not with the experts' parameters: std_errors reads those
        if self._noise_df is None:
            vars(self).pop("df_", None)
        else:
            self.df_ = self._noise_df

    def _fit_candidates(self, problem, X_host, Y, sample_weight, candidates):
        # df="auto": the candidates at each df of DF_GRID, and the fit of
        # lowest training BIC among them all
        experts = problem.experts
        if not isinstance(experts, StudentTLinearExperts) or self.df != "auto":
            vars(self).pop("df_bic_", None)
            return super()._fit_candidates(
                problem, X_host, Y, sample_weight, candidates
            )
        fits, scores, passed_over = [], [], []
        for df in DF_GRID:
            if self.verbose:
                print(f"df={df:g}:")
            family = copy.copy(experts)
            family.df, family.chosen = df, True
            df_problem = dataclasses.replace(problem, experts=family)
            fit, bics = super()._fit_candidates(
                df_problem, X_host, Y, sample_weight, candidates
            )
            fits.append((fit, bics))
            scores.append(float(np.min(bics)))
            # a collapsed fit's spike of likelihood says nothing of the df: at
            # df 16 and 32 one outlier of 1e12 took an expert of its own and
            # the lowest BIC, and predict gave 1e10 where y was near 1. One
            # expert at its floor too: at df 1 a line through 169 zeros of 300
            # had a BIC of 323 (1217 at df 32), R^2 -0.47 (a likelihood
            # without a maximum)
            n_kept = fit.gate_params["coef"].shape[1]
            collapsed = (
                self._collapsed(df_problem, fit)
                if n_kept > 1
                else len(_at_lower_bound(df_problem, fit)) > 0
            )
            passed_over.append(collapsed or _nan_parameters(df_problem, fit))
            if self.verbose:
                note = " (a collapsed or broken-down fit)" if passed_over[-1] else ""
                print(f"df={df:g}: training BIC {scores[-1]:.6g}{note}")
        scores = np.asarray(scores)
        scores[np.isnan(scores)] = np.inf  # (argmin took the first NaN)
        if not all(passed_over):  # else the lowest BIC of them all
            scores[passed_over] = np.inf
        chosen = int(np.argmin(scores))
        df, (fit, bics) = DF_GRID[chosen], fits[chosen]
        experts.df, experts.chosen = df, True  # the fitted model's family
        self.df_bic_ = scores
        if self.verbose:
            print(f"chose df={df:g} (lowest training BIC)")
        return fit, bics

    def _held_out_experts(self, experts, Y, fit_weight):
        """The candidates' estimator experts of ``n_experts="auto"``, with
        the variance floor of the training rows' y (``fit_weight``), not of
        every y: one held-out y 1e6 off (noise 0.3, 200 rows) raised the
        floor to 0.5 and every candidate's variance to it (two experts'
        held-out score -0.64 against -0.11), and one 1e150 off scored every
        held-out row -332 under every candidate, which kept one expert."""
        if not hasattr(experts, "variance_floor"):
            return experts
        floor = _variance_floor(*_moments(Y, fit_weight))
        experts = copy.copy(experts)
        experts.variance_floor = floor
        experts.variance_ceiling = floor * VARIANCE_RANGE
        return experts

    def _experts_from_attributes(self):
        variance = self._host_attribute("expert_variance_")
        tied = getattr(self, "_tied_variance", False)
        if hasattr(self, "experts_"):
            experts = RegressorExperts(
                None,
                self._variance_floor,
                tied=tied,
                columns=self._expert_columns,
                feature_names=self._expert_feature_names(),
                categories=self._expert_categories(),
                remember=False,  # (a new design each call: none to reuse)
            )
            estimators = np.empty(len(self.experts_), dtype=object)
            estimators[:] = self.experts_
            return experts, {"estimators": estimators, "variance": variance}
        intercept = self._host_attribute("expert_intercept_")
        coef = np.vstack([intercept[None, :], self._host_attribute("expert_coef_").T])
        params = {"coef": coef, "variance": variance}
        shared = getattr(self, "_fitted_shared_rows", ())
        scale = getattr(self, "_residual_scale", 1.0)
        df = getattr(self, "_noise_df", None)
        if df is not None:
            experts = StudentTLinearExperts(
                self._variance_floor,
                df,
                tied,
                shared,
                chosen=getattr(self, "_df_chosen", False),
                variance_ceiling=getattr(self, "_variance_ceiling", None),
                scale=scale,
            )
            return experts, params
        experts = GaussianLinearExperts(self._variance_floor, tied, shared, scale)
        return experts, params

    def _noise_variances(self, xp, like):
        """Each expert's noise variance in ``like``'s namespace: the fitted
        ``expert_variance_``, times ``df / (df - 2)`` for Student-t noise
        (None where that is infinite, ``df <= 2``)."""
        variance = as_compute(xp, self.expert_variance_, like)
        df = getattr(self, "_noise_df", None)
        if df is None:
            return variance
        return variance * (df / (df - 2)) if df > 2 else None

    def _predictive(self, weights, means, index=None):
        """The host predictive mixture of rows with these gate ``weights`` and
        expert ``means`` (n_rows, n_columns); ``index``: the expert of each
        column (top-k), or None for all experts in order."""
        # in float64 before the broadcast: the distribution's cast of a
        # float32 model's broadcast wrote a full (n, K) copy (1.84 times a
        # float64 model's memory at 1e6 rows, K=16)
        scale = np.sqrt(self._host_attribute("expert_variance_").astype(np.float64))
        scales = (
            scale[index] if index is not None else np.broadcast_to(scale, means.shape)
        )
        df = getattr(self, "_noise_df", None)
        if df is None:
            return PredictiveMixture(_normalized(weights), means, scales)
        return PredictiveStudentTMixture(_normalized(weights), means, scales, df)

    def _expert_means(self, xp, design):
        """Expert means, (n_experts, n_samples)."""
        experts, params = self._experts_from_attributes()
        return experts.means(xp, design, experts.params_to(xp, params, design))

    def _selected_means(self, xp, design, index):
        """The means of each sample's ``index``ed experts, (top_k, n_samples)."""
        if hasattr(self, "experts_"):  # estimators: all of them, then the chosen
            return np.take_along_axis(self._expert_means(xp, design), index, axis=0)
        _, params = self._experts_from_attributes()
        coef = as_compute(xp, params["coef"], design)
        return selected_linear(xp, coef, design, index, 1)[:, 0, :]

    def _sparse_moments(self, xp, design, return_std=False):
        """Mixture mean (and std) from each sample's top-k experts only."""
        index, log_weight = self._route(xp, design)
        weight = xp.exp(log_weight)
        means = self._selected_means(xp, design, index)
        mean = sums_in_turn(xp, weight * means)
        if not return_std:
            return mean
        variance = self._noise_variances(xp, design)
        variance = xp.reshape(xp.take(variance, xp.reshape(index, (-1,))), index.shape)
        return mean, mixture_std(xp, weight, means, variance, mean)

    def _sparse_distribution(self, X):
        """The predictive mixture over each row's top-k experts, (n, top_k) arrays."""
        underflow = _Underflow()

        def compute(xp, design):
            index, log_weight = self._route(xp, design)
            means = self._selected_means(xp, design, index)
            return (*_float64_rows(underflow.exp(xp, log_weight).T, means.T), index.T)

        rows = self._map_rows(X, compute, "predict_distribution")
        weights, means, index = (to_numpy(a) for a in rows)
        return underflow.keep(self._predictive(weights, means, index))

    def predict(self, X, *, return_std=False):
        """Predict the mixture mean (and standard deviation).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        return_std : bool, default=False
            Whether to return the standard deviation of the predictive mixture,
            ``sqrt(sum_k g_k (v_k + (mu_k - mean)^2))``, with v_k expert k's
            noise variance (``s2_k``; ``s2_k df / (df - 2)`` for Student-t
            noise, infinite for ``df <= 2``).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)
            Mean of the predictive mixture of each sample.
        y_std : ndarray of shape (n_samples,)
            Its standard deviation; only when ``return_std`` is True.
        """

        def compute(xp, design, return_std=return_std):
            if self._top_k() is not None:  # only the selected experts
                return self._sparse_moments(xp, design, return_std)
            gate = xp.exp(self._log_gate(xp, design))
            means = self._expert_means(xp, design)
            mean = sums_in_turn(xp, gate * means)
            if not return_std:
                return mean
            variance = self._noise_variances(xp, design)
            return mean, mixture_std(xp, gate, means, variance[:, None], mean)

        df = getattr(self, "_noise_df", None)
        if return_std and df is not None and df <= 2:
            # Student-t noise of df <= 2: an infinite variance in every row
            # (past the check that the outputs are finite)
            mean = self._map_rows(
                X, lambda xp, design: compute(xp, design, False), "predict"
            )
            return mean, mean * 0 + math.inf
        return self._map_rows(X, compute, "predict")

    def predict_distribution(self, X):
        """The predictive mixture p(y | x) of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        distribution : PredictiveMixture or PredictiveStudentTMixture
            The latter for ``noise="student_t"``. Vectorized ``mean()``,
            ``var()``, ``std()``, ``pdf(y)``, ``logpdf(y)``, ``cdf(y)``,
            ``sf(y)``, ``ppf(q)``, ``median()``, ``interval(confidence)`` and
            ``sample(n)``, with the per-row expert ``weights``, ``means`` and
            ``scales`` (and ``df``); held on the host (NumPy) whatever the
            input's namespace.
            With ``top_k``, each row holds only its ``top_k`` selected experts.
            ``logpdf(y)`` sums the gate's log weights with the experts' log
            densities, as :meth:`log_likelihood_samples`, also where a gate
            weight underflows in ``weights`` (to 0 or a subnormal float: X far
            from the training data); a distribution built by hand takes
            ``log(weights)``.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> dist = model.predict_distribution([[-2.0], [2.0]])
        >>> np.round(dist.mean(), 2)
        array([4.01, 3.92])
        >>> np.round(dist.interval(0.9), 2)  # rows: the lower, then upper ends
        array([[3.56, 3.44],
               [4.47, 4.4 ]])
        >>> np.round(dist.sf(4.5), 3)  # P(y > 4.5) at each row
        array([0.038, 0.024])
        """
        check_is_fitted(self)  # before _top_k reads a fitted attribute
        if self._top_k() is not None:
            return self._sparse_distribution(X)
        underflow = _Underflow()
        gate, means = self._map_rows(
            X,
            lambda xp, design: _float64_rows(
                underflow.exp(xp, self._log_gate(xp, design)).T,
                self._expert_means(xp, design).T,
            ),
            "predict_distribution",
        )
        return underflow.keep(self._predictive(to_numpy(gate), to_numpy(means)))

    def score(self, X, y, sample_weight=None):
        """R^2, the coefficient of determination of the predictions.

        ``1 - sum w (y - y_pred)^2 / sum w (y - mean(y))^2``, as
        ``RegressorMixin.score`` (``r2_score``); 1 is best, and it can be
        negative. y and the predictions are scaled by a power of two where
        their squares would overflow or underflow, so that it stays finite
        for targets of any size, but where R^2 itself lies below -1.8e308,
        the least float (predictions about 1e154 times y's spread away from
        it): -inf there, as ``r2_score`` gives (where y and the predictions
        are both float32, it can be -inf below -3.4e38, float32's least).
        Where y is constant, 1 for predictions equal to it (to 1e-9 of
        itself, 1.2e-4 for float32 predictions) and 0 otherwise, as
        ``r2_score`` (whose rounded mean of a constant y scored such
        predictions between 0 and 1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            True values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` against y.
        """
        # (y's missing values in r2_score's words, "Input contains NaN.", as
        # Ridge's score gives them, pandas' NA and rows of weight 0 too)
        X, y, sample_weight = _scored_rows(
            X, y, sample_weight, estimator=self, metric_y=True
        )
        score = r2_score_at_scale(y, self.predict(X), sample_weight=sample_weight)
        if not math.isfinite(score):
            # NaN or inf in y that assume_finite=True let through: R^2 NaN
            values = np.asarray(host(y))
            # None in object y: NaN, as check_array has it; strings ("nan",
            # "inf", of a list or a str/bytes array) as their floats
            if values.dtype.kind in "OUS":
                # (r2_score's check_array converted these values so: an item
                # NumPy cannot convert raised there, before this; strings of
                # "nan" or "inf" scored NaN without a word)
                values = values.astype(np.float64)
            if values.dtype.kind == "f":
                _check_infinite(np, values, "y")
        return score


def r2_score_at_scale(y, y_pred, sample_weight=None):
    """``r2_score(y, y_pred)``, with both scaled by a power of two where their
    largest magnitude is so large or small that squared errors summed over
    2**40 rows could overflow or underflow their dtype (beyond 2**492 or below
    2**-491 in float64, 2**44 and 2**-43 in float32): the squared errors of
    targets of 1e160 overflowed (R^2 NaN; 1e19 in float32), those of 1e-200
    underflowed to 0 (R^2 that of a constant y). Scaling by a power of two is
    exact, and R^2 does not depend on the scale. Where y is constant (on two
    or more rows of positive weight), 1 for predictions equal to it to 1e-9
    of itself and 0 otherwise, as the D^2 of the count and Gamma regressors:
    r2_score's mean of a constant 0.1 rounded, and predictions equal to y but
    for rounding scored 0.965 (0.0 at y = 2)."""
    if sample_weight is not None:  # (r2_score takes negative ones: R^2 above 1)
        sample_weight = _score_weights(sample_weight, y)
    values = [np.asarray(host(a)) for a in (y, y_pred)]
    constant = _constant_r2(*values, sample_weight)
    if constant is not None:
        return constant
    # (a 0-d y: r2_score's error below; it was an IndexError in _small_beside)
    if all(v.dtype.kind in "iuf" and v.size and v.ndim for v in values):
        dtype = np.result_type(*values)
        dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
        info = np.finfo(dtype)
        high, low = info.maxexp // 2 - 20, info.minexp // 2 + 20
        with np.errstate(over="ignore"):
            tops = [float(np.max(np.abs(v))) for v in values]
        top = max(tops)
        if math.isfinite(top) and top > 0 and not 2.0**low <= top <= 2.0**high:
            shift = -math.frexp(top)[1]
            y, y_pred = (np.ldexp(v.astype(dtype), shift) for v in values)
            score = float(r2_score(y, y_pred, sample_weight=sample_weight))
            if _small_beside(values[0], y, sample_weight, 2.0**low):
                return _r2_apart(*values, sample_weight)
            return score
        # y whose squares underflow beside predictions of ordinary size (y of
        # 1e-200 against predictions of 1e-60: R^2 about -1e280, which
        # r2_score, its denominator 0, gave as 0)
        # (predictions of inf or NaN: r2_score's error below; y judged on
        # the rows of positive weight: one of weight 0 and y = 1 beside them
        # gave 0.0)
        if math.isfinite(top) and _small_beside(
            values[0], values[0], sample_weight, 2.0**low
        ):
            return _r2_apart(*values, sample_weight)
    # (inf in y that assume_finite=True let through: NaN, which score turns
    # into its error, where r2_score's inf - inf leaked NumPy's warning)
    with np.errstate(invalid="ignore"):
        return float(r2_score(y, y_pred, sample_weight=sample_weight))


def _constant_r2(y, y_pred, sample_weight):
    """1.0 or 0.0 where y is constant on two or more rows of positive weight
    (whether ``y_pred`` is within :func:`~skmoe._math.constant_tolerance`
    of y); None otherwise."""
    if not all(v.dtype.kind in "iuf" for v in (y, y_pred)) or y.ndim != 1:
        return None
    rows = slice(None)
    if sample_weight is not None:
        rows = np.asarray(host(sample_weight)) > 0
    dtype = y_pred.dtype  # (float32 predictions: to their resolution)
    y, y_pred = y[rows].astype(np.float64), y_pred[rows].astype(np.float64)
    # (y of inf: r2_score's error, where np.ptp's inf - inf leaked NumPy's
    # "invalid value encountered in subtract"; min and max compared, as np.ptp
    # of y from -0.4e308 to 1.6e308 overflowed with NumPy's warning)
    if y.size < 2 or not np.all(np.isfinite(y)) or y.min() != y.max():
        return None
    if y_pred.shape != y.shape:
        return None
    return constant_target_score(y, y_pred, dtype)


def _small_beside(y, scaled, sample_weight, least):
    """Whether ``y`` varies (over the rows of positive weight) but ``scaled``,
    y scaled down beside predictions far larger, or its range, is below
    ``least``, where its squares or those of its deviations may underflow
    (r2_score then calls y constant, or loses digits: y of 1e-147 spread
    over 1e-12 of itself scored 5e-8 off)."""
    rows = slice(None)
    if sample_weight is not None:
        rows = np.asarray(host(sample_weight)) > 0
    y, scaled = y[rows], scaled[rows]
    if not (y.size and y.max() > y.min()):  # (np.ptp overflows past 1.8e308)
        return False
    return bool(min(np.max(np.abs(scaled)), np.ptp(scaled)) < least)


def _r2_apart(y, y_pred, sample_weight):
    """R^2 from its two sums of squares, each summed at its own power of two
    and their ratio taken in the exponents: y scaled with predictions 1e170
    times its spread underflowed to a constant, whose R^2 r2_score calls 0
    (the true one is below -1e300: -inf, as r2_score gives unscaled)."""
    weight = (
        np.ones(y.shape) if sample_weight is None else np.asarray(host(sample_weight))
    )
    rows = weight > 0
    y, y_pred, weight = y[rows], y_pred[rows], weight[rows].astype(np.float64)
    y, y_pred = y.astype(np.float64), y_pred.astype(np.float64)
    top = math.frexp(float(max(np.max(np.abs(y)), np.max(np.abs(y_pred)))))[1]
    errors = np.ldexp(y, -top) - np.ldexp(y_pred, -top)
    spread = math.frexp(float(np.max(np.abs(y))))[1]
    centred = np.ldexp(y, -spread)
    centred = centred - np.average(centred, weights=weight)
    ratio = np.sum(weight * errors**2) / np.sum(weight * centred**2)
    with np.errstate(over="ignore"):
        return float(1.0 - np.ldexp(ratio, 2 * (top - spread)))


def _normalized(weights):
    """Gate rows in float64, scaled to sum to one: in float32 they do so only to
    about 4e-6, which PredictiveMixture's check (to 1e-6) refused. Each row
    divided by its sum in :func:`_component_sums`' order, whatever the layout:
    np.sum's followed it, and a prediction of several chunks (a C-ordered
    gate) divided 236 of 1,000 rows (K = 8) into other floats than one chunk
    (Fortran-ordered) of the same gate."""
    weights = np.asarray(weights, dtype=np.float64)  # (the gate's: a fresh array)
    if not weights.flags.writeable:  # (one from DLPack can be read-only)
        weights = weights.copy()
    weights /= _component_sums(weights)[:, None]  # in place: n x K bytes less
    return weights


def _moments(Y, sample_weight):
    """(weight sum, weighted mean, weighted sum of squared deviations) of y."""
    total = float(np.sum(sample_weight))
    with np.errstate(over="ignore", invalid="ignore"):
        # (float32 y near its largest: the weighted sum overflows, with NumPy's
        # warning; they are refused below, as their squares overflow)
        mean = float(np.average(Y, weights=sample_weight))
    values = Y[sample_weight > 0]
    if values.size and np.all(values == values.flat[0]):
        # a constant y, exactly: the weighted average can round off it (all
        # y = 3 under unequal weights gave 2.9999999999999996, squares of
        # 4e-27, and no "y is constant", a collapse warning instead and a
        # noise variance of 2e-41 against the floor's 9e-10)
        mean = float(values.flat[0])
    with np.errstate(over="ignore", invalid="ignore"):
        squares = float(np.sum(sample_weight * (Y - mean) ** 2))
        # the values themselves squared too: an intercept near 1e160, whose
        # square the penalty and the variance floor take, overflowed (a
        # constant y of 1e160 raised an OverflowError from Python's float)
        largest = np.max(np.abs(Y)) if Y.size else Y.dtype.type(0)
        squares_of_values = largest * largest
        # and the range: the M-step squares residuals y - mean, of up to
        # max y - min y for means in y's range (float32 y of +-1.2e19, two
        # rows, passed the checks above and overflowed those squares)
        # (in Python floats: no float64 copy of y)
        spread = float(np.max(Y)) - float(np.min(Y)) if Y.size else 0.0
    # (less a float32 ulp: a residual rounds to nearest in Y's dtype)
    limit = math.sqrt(float(np.finfo(Y.dtype).max)) * (1 - 2.0**-22)
    if not (
        np.isfinite(squares) and np.isfinite(squares_of_values) and spread <= limit
    ):
        _check_infinite(np, Y, "y")
        raise ValueError(
            f"y has values too large to fit: their squares overflow {Y.dtype}, "
            "or those of their range (max y - min y, which the fit's residuals "
            "reach). "
            "Rescale y, e.g. with sklearn.compose.TransformedTargetRegressor."
        )
    return total, mean, squares


def _check_target_scale(Y, sample_weight, variance, solver):
    """Raise when y varies but its variance is too small for Y's dtype.

    EM needs the noise floor, ``VARIANCE_FLOOR`` times the variance, to be a
    normal number: below, y * 1e-160 (float64) did not converge and its model
    refused to predict, and y * 1e-170, whose variance underflowed to 0, was
    called constant; float32 y * 6e-20, whose floor rounded to 0, warned of
    divisions by zero and dropped its collapsing runs unwarned (float32 y *
    1e-12 fits as well as y). The gradient solvers also square the variance
    (in its derivative), which must stay normal (``sqrt(tiny)``): y * 1e-90
    fitted at R^2 0.60 instead of 0.98 with solver="gradient", where EM fits
    it as well as y."""
    info = np.finfo(Y.dtype)
    floor = float(info.smallest_normal) / VARIANCE_FLOOR
    if solver != "em":
        floor = max(floor, float(np.sqrt(info.smallest_normal)))
    if not variance < floor:
        return
    kept = Y[sample_weight > 0]
    if kept.size and np.ptp(kept) > 0:
        needs = "" if solver == "em" else f" for solver={solver!r}"
        raise ValueError(
            f"y varies on too small a scale{needs} in {Y.dtype}: its variance "
            f"({variance:.3g}) is below {floor:.3g}. Rescale y, e.g. with "
            "sklearn.compose.TransformedTargetRegressor."
            + ("" if solver == "em" else " solver='em' fits it.")
        )


def _combine(a, b):
    """The moments of two batches together (Chan et al.'s pairwise update)."""
    total = a[0] + b[0]
    delta = b[1] - a[1]
    mean = a[1] + delta * b[0] / total
    return total, mean, a[2] + b[2] + delta**2 * a[0] * b[0] / total


def _robust_floor(Y, sample_weight, floor, solver):
    """The noise floor of Student-t experts: ``VARIANCE_FLOOR`` times the
    squared normal-consistent range between y's 10% and 90% quantiles where
    that is below ``floor`` (y's variance's): one target of 1e8 among 200 of
    sd 3.5 raised y's variance, and the floor, to 5e13 and 5e3, where the t
    experts fit the others' noise, 0.056 (and the predictive interval was
    300 wide for 1). The median absolute deviation, first used, vanished
    where half the y were equal (a zero-inflated y: a floor of 2e-308 and 80
    nats a sample) or nearly (with 1e-12 jitter, 4.6e-34 and 15). ``floor``
    where the range is 0 (a constant y, a batch of one row). No lower than
    the least floor y's dtype allows the solver (see
    :func:`_check_target_scale`)."""
    kept = sample_weight > 0
    if not np.any(kept):
        return floor
    y, weight = Y[kept].astype(np.float64), sample_weight[kept]
    # the lower weighted quantiles (weights positive)
    low, high = weighted_lower_quantiles(y, (0.1, 0.9), weight)
    spread = ((high - low) / (2 * NORMAL_Q90)) ** 2
    if not spread > 0:
        return floor
    info = np.finfo(Y.dtype)
    least = float(info.smallest_normal)
    if solver != "em":  # the gradient divides by the variance squared
        least = max(least, float(np.sqrt(info.smallest_normal)))
    return max(min(floor, VARIANCE_FLOOR * spread), least)


def _floor_words(experts):
    """The noise's name and the variance floor's definition, in words, for
    linear-Gaussian or Student-t ``experts`` (whose floor is robust)."""
    if type(experts) is StudentTLinearExperts:
        return "scale", (
            "1e-10 times the smaller of y's variance and the one its 10% and 90% "
            "quantiles imply"
        )
    return "standard deviation", "1e-10 times the variance of y"


def _variance_floor(total, mean, squares):
    """VARIANCE_FLOOR times the variance of y (of its squared mean, at least 1,
    where y is constant)."""
    variance = squares / total
    if variance <= 0:
        variance = max(mean**2, 1.0)
    return VARIANCE_FLOOR * variance
