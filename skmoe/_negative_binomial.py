"""MoENegativeBinomialRegressor: a mixture of negative binomial log-linear
experts, for overdispersed counts."""

from __future__ import annotations

import numpy as np

from ._backend import as_compute, to_numpy
from ._base import BaseMixtureOfExperts
from ._count_distribution import PredictiveNegativeBinomialMixture
from ._docstrings import fill_doc
from ._em import e_step
from ._poisson import MoEPoissonRegressor
from ._warnings import _listed
from .experts._point_mass import ZERO_LOG_RATE
from .experts.negative_binomial import DISPERSION_FLOOR, NegativeBinomialExperts

#: Share of a Poisson variance by which the floor's ``DISPERSION_FLOOR mu^2``
#: may exceed it, at an expert's mean count, before the fit warns that the
#: floor is not the Poisson limit (0.1 costs about 0.002 nats a count).
FLOOR_EXCESS = 0.1


@fill_doc
class MoENegativeBinomialRegressor(MoEPoissonRegressor):
    """Mixture of negative binomial regressions (log link), fitted by EM.

    ``p(y | x) = sum_k g_k(x) NB(y; mean exp(x~ . b_k), dispersion phi_k)``: a
    gate g(x) weighs K negative binomial regressions (NB2, R MASS's
    ``glm.nb``), each with its own dispersion: expert k's counts have mean
    ``mu`` and variance ``mu + phi_k mu^2``, a Poisson count whose rate varies
    between samples as a Gamma of mean ``mu`` and variance ``phi_k mu^2``.
    For counts more spread than Poisson regimes give (``theta_k = 1 /
    phi_k`` is R's ``theta``); where they are not, a dispersion ends at its
    floor, 1e-8, the Poisson limit for mean counts below about 1e7 (beyond,
    the floor's ``1e-8 mu^2`` adds 10% or more to the Poisson variance, and
    :meth:`fit` warns: fit :class:`MoEPoissonRegressor`). It takes
    :class:`MoEPoissonRegressor`'s parameters and methods (``exposure``,
    ``groups``, ``zero_inflated``, ``shared_features``), but
    ``expert_estimator``.

    Parameters
    ----------
    n_experts : int or "auto", default="auto"
        Number of experts K. ``"auto"`` fits K = 1, 2, 3 and 4 (each with
        ``n_init`` restarts) and keeps the fit of lowest BIC on the training
        data (``n_experts_bic_``), passing over fits where an expert handles
        too few samples for its parameters: one expert, i.e. a negative
        binomial regression, when the counts show no regimes.
        A warning says when it chooses 4 while the criterion still improves
        there: fit larger numbers of experts and compare them.

    {{gate_parameter}}

    {{shared_features_parameter}}

    alpha : float, default=1e-6
        {{alpha_meaning}} As for :class:`MoEPoissonRegressor`, on each
        expert's squared norm, whatever its dispersion.

    n_init : int, default=4
        Number of EM restarts; the run with the best penalized log-likelihood is
        kept.

    {{shared_parameters}}

    zero_inflated : bool, default=False
        Whether the first expert is a point mass at zero, for counts with more
        zeros than negative binomial regimes give: with ``n_experts=2``, the
        zero-inflated negative binomial regression of R pscl's
        ``zeroinfl(y ~ x | x, dist = "negbin")``, its inflation probability
        the gate's. ``n_experts`` counts the point mass, as for
        :class:`MoEPoissonRegressor`; the point mass has intercept ``-inf``
        and dispersion 0. Not with ``top_k``, ``prune_threshold`` or
        ``shared_features``. With few structural zeros EM stops short of the
        optimum at the default ``tol`` (0.61 nats, a dispersion of 0.745 for
        0.998, on 1000 counts of theta 1 without inflation): ``tol=1e-8`` or
        ``solver="gradient"`` reach it.

    Attributes
    ----------
    expert_coef_ : ndarray of shape (n_experts_, n_features_in_)
        Coefficients b_k of each expert's log mean.

    expert_intercept_ : ndarray of shape (n_experts_,)
        Intercept of each expert's log mean; ``-inf`` for the point mass at
        zero of ``zero_inflated``.

    expert_dispersion_ : ndarray of shape (n_experts_,)
        Each expert's dispersion ``phi_k`` (R's ``1 / theta``), at least 1e-8
        (the Poisson limit) and at most 1e4; 0 for the point mass at zero.

    {{shared_attributes}}

    See Also
    --------
    MoEPoissonRegressor : Mixture of Poisson regressions, its limit.
    PredictiveNegativeBinomialMixture : What :meth:`predict_distribution`
        returns.

    Notes
    -----
    The log-likelihoods are those of R's ``dnbinom(y, size = theta, mu =
    mu)`` (for a non-integer y, with ``gammaln`` in place of the factorials,
    as :class:`MoEPoissonRegressor`'s), so that they compare with R's
    ``glm.nb``; one expert with ``alpha=0`` is ``glm.nb``'s fit. Each M-step
    fits the coefficients by a Newton step at the experts' dispersions, then
    each ``log(theta_k)`` by Newton steps (both halved until they do not
    lower the objective: EM never lowers it). The log-probabilities and
    their derivatives are computed in forms whose terms stay of the size of
    their results, so that counts up to 1e300 keep their digits, and float32
    fits keep theirs at any count (2000 samples, K = 2, counts of 10 to 1e9:
    log-likelihoods within 0.07 of float64's).

    :meth:`score` is D^2 of the Poisson deviance, as
    :class:`MoEPoissonRegressor`'s: the fraction of it the predicted means
    explain (scikit-learn has no negative binomial deviance).

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MoENegativeBinomialRegressor
    >>> rng = np.random.RandomState(1)
    >>> X = rng.uniform(-2, 2, size=(2000, 1))
    >>> mu = np.exp(np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2))
    >>> y = rng.negative_binomial(4.0, 4.0 / (4.0 + mu))  # theta = 4
    >>> reg = MoENegativeBinomialRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.round(np.sort(reg.expert_coef_[:, 0]), 1)
    array([-1. ,  0.5])
    >>> np.round(1 / reg.expert_dispersion_)  # theta
    array([4., 4.])
    """

    # no estimator experts: their fit is not the negative binomial one (a plain
    # comment, not ``#:``, so that autodoc does not list the attribute)
    expert_estimator = None

    def __init__(
        self,
        n_experts="auto",
        *,
        gate="softmax",
        gate_covariance_type="full",
        gate_features=None,
        expert_features=None,
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
        BaseMixtureOfExperts.__init__(
            self,
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
        self.shared_features = shared_features
        self.zero_inflated = zero_inflated

    _parameter_constraints: dict = {
        name: constraint
        for name, constraint in MoEPoissonRegressor._parameter_constraints.items()
        if name != "expert_estimator"
    }

    _count_family = NegativeBinomialExperts
    _rate_curvature = False
    _more_experts_hint = ""
    _zero_words = (
        "negative binomial regressions",
        "positive count",
        "negative binomial regression",
        'as R pscl\'s zeroinfl(dist = "negbin") counts its components',
    )
    _excess_words = ("counts", "mean", "a few nonzero counts")
    # (y / c with sample_weight=c is Poisson's model of the rates, not this one)
    _large_count_remedy = (
        "Divide y by a large c and fit the amounts y / c, e.g. with MoEGammaRegressor"
    )

    def _collapse_message(self, problem, best):
        message = super()._collapse_message(problem, best)
        floor = self._floor_excess_message(problem, best)
        return " ".join(part for part in (message, floor) if part) or None

    def _floor_excess_message(self, problem, best):
        """A warning where experts end at the dispersion's floor, whose
        variance ``mu + DISPERSION_FLOOR mu^2`` at their mean count exceeds a
        Poisson one by ``FLOOR_EXCESS`` or more, or None: the floor is the
        Poisson limit for small counts only (Poisson counts of mean 1e9, 1000
        rows: 717 nats below MoEPoissonRegressor, without a word)."""
        if self._degenerate_target():
            return None
        dispersion = np.asarray(to_numpy(best.expert_params["dispersion"]))
        floored = dispersion <= DISPERSION_FLOOR * (1.0 + 1e-6)
        mass = problem.experts.point_masses(problem.xp, best.expert_params)
        if mass is not None:
            floored &= ~np.asarray(mass)
        if not np.any(floored):
            return None
        resp = to_numpy(e_step(problem, best.gate_params, best.expert_params)[1])
        weight = np.asarray(to_numpy(problem.normalized_weight))[None, :] * resp
        log_mean = to_numpy(self._training_log_means(problem, best.expert_params))
        with np.errstate(over="ignore", invalid="ignore"):
            mean = np.sum(weight * np.exp(log_mean), axis=1) / np.sum(weight, axis=1)
        excess = np.where(floored, DISPERSION_FLOOR * mean, 0.0)
        experts = np.flatnonzero(excess >= FLOOR_EXCESS)
        if not experts.shape[0]:
            return None
        largest = float(np.max(mean[experts]))
        return (
            f"Experts {_listed([int(k) for k in experts])} end at the dispersion's "
            f"floor, {DISPERSION_FLOOR:g} (their counts are no more spread than "
            f"Poisson ones), but at their mean counts (up to {largest:.3g}) the "
            f"floor's variance, mu + {DISPERSION_FLOOR:g} mu^2, is up to "
            f"{1.0 + float(np.max(excess[experts])):.3g} times a Poisson one: "
            "there the floor is not the Poisson limit, and the likelihood is "
            "below that of Poisson experts. Where every expert's counts are "
            "so, fit MoEPoissonRegressor."
        )

    def _set_expert_attributes(self, experts, params):
        # (std_errors calls it on a Bunch: no super())
        MoEPoissonRegressor._set_expert_attributes(self, experts, params)
        dispersion = params["dispersion"].copy()
        dispersion[np.isneginf(self.expert_intercept_)] = 0.0  # the point mass
        self.expert_dispersion_ = dispersion

    def _experts_from_attributes(self):
        intercept = self._host_attribute("expert_intercept_")
        zero = np.isneginf(intercept)
        # the point mass at zero, as it was fitted (see ZERO_LOG_RATE)
        intercept = np.where(zero, ZERO_LOG_RATE, intercept).astype(intercept.dtype)
        coef = np.vstack([intercept[None, :], self._host_attribute("expert_coef_").T])
        dispersion = self._host_attribute("expert_dispersion_")
        params = {
            "coef": coef,
            "dispersion": np.where(zero, 1.0, dispersion).astype(dispersion.dtype),
        }
        shared = getattr(self, "_fitted_shared_rows", ())
        experts = NegativeBinomialExperts(shared, zero_inflated=bool(zero.any()))
        return experts, params

    def _dispersions(self, xp, like, index=None):
        """The experts' dispersions (K, 1) in ``like``'s namespace, or with
        ``index`` (top_k, n) those of each sample's selected experts."""
        dispersion = as_compute(xp, self._host_attribute("expert_dispersion_"), like)
        if index is None:
            return dispersion[:, None]
        chosen = xp.take(dispersion, xp.reshape(index, (-1,)), axis=0)
        return xp.reshape(chosen, index.shape)

    def _excess_scales(self, xp, rate, index=None, out=None):
        # a negative binomial expert's variance is mu + phi mu^2
        root = xp.sqrt(self._dispersions(xp, rate, index))
        if out is None:
            return root * rate
        return np.multiply(root, rate, out=out)

    def _distribution(self, weights, rates, experts):
        dispersion = np.asarray(
            self._host_attribute("expert_dispersion_"), dtype=np.float64
        )
        if experts is None:
            dispersions = np.broadcast_to(dispersion, rates.shape)
        else:
            dispersions = dispersion[experts]
        return PredictiveNegativeBinomialMixture(weights, rates, dispersions)

    def predict(self, X, *, return_std=False, exposure=None):
        """Predict the mixture mean (and standard deviation) of the counts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        return_std : bool, default=False
            Whether to return the standard deviation of the predictive mixture,
            ``sqrt(sum_k g_k (mu_k + phi_k mu_k^2 + (mu_k - mean)^2))``.
        exposure : array-like of shape (n_samples,) or float, default=None
            The samples' positive exposures (a float: the same for all): each
            expert's mean count is ``mu_k = exposure * exp(x~ . b_k)``. None:
            every exposure is 1, which predicts the means per unit exposure
            (with a warning where a model fitted with exposures requests them
            for ``predict`` through metadata routing: a caller dropped them).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)
            Mean of the predictive mixture of each sample, ``sum_k g_k mu_k``.
        y_std : ndarray of shape (n_samples,)
            Its standard deviation; only when ``return_std`` is True.

        Raises
        ------
        {{count_predict_raises}}
        """
        return super().predict(X, return_std=return_std, exposure=exposure)

    def predict_distribution(self, X, *, exposure=None):
        """The predictive negative binomial mixture p(y | x) of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        exposure : array-like of shape (n_samples,) or float, default=None
            The samples' positive exposures, which multiply the experts' means
            (as in :meth:`predict`). None: every exposure is 1.

        Returns
        -------
        distribution : PredictiveNegativeBinomialMixture
            Vectorized ``mean()``, ``var()``, ``std()``, ``pmf(y)``,
            ``logpmf(y)``, ``cdf(y)``, ``sf(y)``, ``ppf(q)``, ``median()``,
            ``interval(confidence)`` and ``sample(n)``, with the per-row
            expert ``weights``, means (``rates``) and ``dispersions``; held on
            the host (NumPy) whatever the input's namespace. With ``top_k``,
            each row holds only its ``top_k`` selected experts.
            ``logpmf(y)`` sums the gate's log weights with the experts' log
            probabilities, as :meth:`log_likelihood_samples`, also where a
            gate weight underflows in ``weights`` (to 0 or a subnormal float:
            X far from the training data) or a mean in ``rates`` under- or
            overflows (from each expert's log mean there).

        Raises
        ------
        {{count_distribution_raises}}
        """
        return super().predict_distribution(X, exposure=exposure)
