"""The contract every expert family implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .._backend import as_compute
from .._math import center_intercepts, device, expand_rows, restrict_rows
from .._squarem import coefficient_units

Array = Any
Params = dict[str, Array]


class ExpertFamily(ABC):
    """A family of K experts p_k(y | x), fitted together by weighted M-steps.

    Implementations are stateless numerics: every method takes the array namespace
    ``xp``, the transposed design matrix ``design = [1, X]^T`` of shape
    (n_features + 1, n_samples) and the encoded target ``Y`` (samples on its last
    axis) and works on a plain dict of parameters, so that the same family runs on
    any backend. Per-sample, per-expert arrays are (n_experts, n_samples).
    Configuration that depends on the training data (a variance floor, the number of
    classes) is given to the constructor.

    Parameters are laid out with the intercept in row 0 of each coefficient matrix,
    one column (or one block of columns) per expert.
    """

    #: Whether the fit may give the experts centered features (their design
    #: ``[1, X - offset]^T``): parameters then move between origins by
    #: :meth:`shift`. False for experts that must see the raw features.
    centered: bool = True
    #: Whether the M-step never lowers its part of the objective, so that EM
    #: never lowers the whole; where it may, an M-step after which the
    #: objective fell is mended by :meth:`keep_better`.
    monotone: bool = True
    #: Whether :meth:`log_likelihood` gives the model's own values where the
    #: solvers' guard continues them linearly (Poisson rates and Gamma ratios
    #: ``y / mu`` above ``exp(log(largest float) - LINK_MARGIN)``): -inf where
    #: they overflow. Set on a copy for :meth:`_posterior_rows`, where no line
    #: search probes (the guard gave 0.868 relative off in float32 at X x 150).
    exact_tails: bool = False

    @abstractmethod
    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        """Parameters an M-step may warm-start from (before any data is seen)."""

    #: M-steps at a restart's initial responsibilities (EM's, or the start
    #: of the gradient solvers), at most: more than one where a family's
    #: M-step only climbs towards its maximum from parameters that start far
    #: from it; they stop once :meth:`start_settled` says so.
    start_steps: int = 1

    def start_settled(self, xp, former: Params, params: Params) -> bool:
        """Whether the start's M-steps (see ``start_steps``) may stop at
        ``params``, the step after ``former`` (never, by default: all of
        ``start_steps``)."""
        return False

    #: Experts, first in :meth:`initial_params`, that are fixed point masses
    #: with nothing to fit (a zero-inflated model's zero): the initial
    #: responsibilities of the others come from k-means, and
    #: :meth:`start_responsibilities` adds theirs.
    n_point_masses: int = 0

    def start_responsibilities(self, resp, Y):
        """Initial responsibilities (n_samples, K) of all experts from those
        (n_samples, K - ``n_point_masses``) of the others (NumPy; ``Y`` as
        :meth:`start_target` takes it). ``resp`` itself by default."""
        return resp

    def start_weights(self, Y, sample_weight):
        """The sample weights (NumPy) of the k-means start of the experts
        other than the point masses: ``sample_weight`` by default; 0 for the
        samples that only a point mass can take."""
        return sample_weight

    def point_masses(self, xp, params: Params):
        """Whether each expert of ``params`` is a fixed point mass (see
        ``n_point_masses``), a (K,) bool NumPy array, or None where no expert
        is (the default)."""
        return None

    #: Whether the M-step depends on the data only through
    #: :meth:`statistics`, which online EM (``partial_fit`` with
    #: ``solver="em"``) then averages over the batches.
    online: bool = False

    def statistics(self, xp, design: Array, Y: Array, weighted_resp: Array) -> Params:
        """The M-step's sums over the samples, per unit weight (``online``
        families): a dict of arrays of the namespace's widest float (float64, or
        float32 on a device without float64) with the experts on axis 0, which
        :meth:`m_step_statistics` takes as they are or averaged over batches.
        ``Y`` may be shifted by a constant, which that method's ``centre``
        adds back."""
        raise NotImplementedError(f"{type(self).__name__} has no statistics")

    def m_step_statistics(
        self, xp, statistics: Params, params: Params, alpha: float, centre: float
    ) -> Params:
        """:meth:`m_step` from :meth:`statistics` of ``Y - centre`` (``params``
        gives the dtype)."""
        raise NotImplementedError(f"{type(self).__name__} has no statistics")

    @abstractmethod
    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        """log p_k(y_i | x_i) as an (n_experts, n_samples) array."""

    @abstractmethod
    def m_step(
        self,
        xp,
        design: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        """Parameters that do not decrease the expected penalized objective.

        ``weighted_resp[k, i] = w_i r_ik / sum(w)``: the per-sample weight times the
        responsibility of expert k, normalized so that the whole array sums to one.
        The objective is ``sum_ki weighted_resp[k, i] log p_k(y_i | x_i)`` minus
        :meth:`penalty`.
        """

    def start_m_step(
        self,
        xp,
        design: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        """The experts' parameters from a restart's initial responsibilities
        (:func:`skmoe._em.initial_params`): :meth:`m_step`'s, unless a family
        has a start that a few samples on another scale cannot drag (see
        :func:`better_on_own_rows`)."""
        return self.m_step(xp, design, Y, weighted_resp, params, alpha)

    @abstractmethod
    def gradient(
        self,
        xp,
        design: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        """Gradient of the M-step objective w.r.t. ``params`` (same keys).

        The objective is ``sum_ki weighted_resp[k, i] log p_k(y_i | x_i)`` minus
        :meth:`penalty`. By Fisher's identity, with ``weighted_resp`` the
        responsibilities at ``params``, this is also the gradient of the per-sample
        log-likelihood of the mixture (minus the expert penalty).
        """

    def select(self, xp, params: Params, keep: Array) -> Params:
        """The parameters of the experts ``keep`` (integer indices), in that order.

        By default ``coef`` holds one column per expert and every other
        parameter one entry per expert on axis 0 (variances, dispersions)."""
        return {
            name: xp.take(value, keep, axis=1 if name == "coef" else 0)
            for name, value in params.items()
        }

    def start_target(self, Y, sample_weight=None):
        """What k-means clusters, beside X, to start EM: the encoded (NumPy)
        target with samples first (by default ``Y`` itself). ``sample_weight``
        is the start's (:meth:`start_weights`), None for ones."""
        return Y.T if Y.ndim == 2 else Y

    def target_scale(self, xp, params: Params) -> float:
        """The unit of the experts' coefficients per unit of a feature at
        ``params`` (1 by default; the noise standard deviation for Gaussian
        experts), by which the gradient solvers scale their steps (see
        :class:`skmoe._gradient.Packer`)."""
        return 1.0

    def batch_noise(
        self,
        xp,
        design: Array,
        Y: Array,
        resp: Array,
        weight: Array,
        params: Params,
        alpha: float,
        above: float,
        mean: float,
    ) -> Params | None:
        """``params`` with the noise parameters that a batch's rows show at
        ``params``' means (``resp``: their responsibilities, (K, n);
        ``weight``: their weights; ``alpha``: the penalty's), where the
        batch's noise, pooled over the experts, is more than ``above`` in the
        units of :meth:`target_scale`; else None. ``mean``: the batch's
        log-likelihood per unit weight at ``params``, by which a family may
        tell that it is not, without the residuals. A ``partial_fit`` stream
        follows a noise that grew past its fixed unit by it (see
        ``_sgd.follow_noise``). None by default: a family whose
        :meth:`target_scale` does not follow the data (1)."""
        return None

    def curvature_scales(self, xp, params: Params, Y: Array, weight: Array):
        """Each expert's unit of its coefficients per unit of a feature in
        which the log-likelihood's curvature is about 1 at ``params`` (a (K,)
        NumPy array for the columns of a (n_features + 1, K) ``coef``; ``Y``
        and ``weight`` as in :meth:`tol_scale`): the steps of L-BFGS (Adam
        keeps :meth:`target_scale`). None by default: one unit for all,
        :meth:`target_scale`'s."""
        return None

    def information_weights(self, xp, design: Array, Y: Array, params: Params):
        """Each sample's Fisher information in the first expert's linear
        predictor at ``params``, in the units of the penalty (which Gaussian
        and Gamma experts divide by their noise variance or dispersion: 1
        there), as a NumPy (n_samples,) array: the feature-scale warning
        weighs a lone expert's features by it. None by default: not measured
        (the warning keeps its fixed share)."""
        return None

    def extrapolation_units(self, xp, params: Params, rows) -> dict:
        """The units in which SQUAREM measures its steps (see
        ``_squarem.coefficient_units``): a coefficient of design row j in units of
        ``rows[j]`` times :meth:`target_scale` at ``params``; the positive
        parameters of :meth:`lower_bounds`, extrapolated in logs, in 1."""
        scale = self.target_scale(xp, params)
        return coefficient_units(params, rows, scale, skip=self.lower_bounds())

    def lower_bounds(self) -> dict[str, float]:
        """Positive parameters and their floors; solvers move these in log space."""
        return {}

    def upper_bounds(self) -> dict[str, float]:
        """Ceilings of some of the positive parameters of :meth:`lower_bounds`."""
        return {}

    def collapsed(self, xp, design, Y, weighted_resp, params: Params) -> Array:
        """Whether each expert collapsed, (K,) bool: a parameter of
        :meth:`lower_bounds` at its floor (within a relative 1e-6), by default.
        ``weighted_resp`` is as in :meth:`m_step`, at ``params``."""
        hits = xp.zeros(
            weighted_resp.shape[0], dtype=xp.bool, device=device(weighted_resp)
        )
        for name, floor in self.lower_bounds().items():
            values = xp.reshape(params[name], (weighted_resp.shape[0], -1))
            hits = hits | xp.any(values <= floor * (1 + 1e-6), axis=1)
        return hits

    def keep_better(self, xp, design, Y, weighted_resp, params, former) -> Params:
        """For each expert, the better of ``params`` (an M-step's) and
        ``former`` (the parameters it started from) at ``weighted_resp``, the
        M-step's weights: an M-step that does not lower any expert's part of
        the objective, which generalized EM needs. Only called for families
        that are not :attr:`monotone` (``params`` by default)."""
        return params

    def tol_scale(self, xp, Y: Array, weight: Array) -> float:
        """The factor EM's ``tol`` is scaled by: the size of a sample's
        log-likelihood changes relative to those of a target of unit scale
        (1 by default). ``weight`` sums to 1."""
        return 1.0

    def tie(self, xp, params: Params) -> Params:
        """``params`` made to meet the family's constraints (coefficients some
        experts share), e.g. for a warm start from a model without them
        (unchanged by default)."""
        return params

    @abstractmethod
    def penalty(self, xp, params: Params, alpha: float) -> Array:
        """The L2 penalty subtracted from the per-sample log-likelihood."""

    @abstractmethod
    def n_parameters(self, n_features: int, n_experts: int) -> int:
        """Number of free parameters (for BIC and AIC)."""

    def n_own_parameters(self, n_features: int):
        """Free parameters of one expert that no other expert shares: what its
        own samples must determine (parameters all experts share, coefficients
        of ``shared`` rows or a tied variance, are determined by all samples),
        the parameters a second expert adds. None where :meth:`n_parameters` is."""
        one, two = self.n_parameters(n_features, 1), self.n_parameters(n_features, 2)
        if one is None or two is None:
            return None
        return two - one

    # -- parameters between the fit and the fitted attributes -----------------------

    def shift(self, xp, params: Params, offset: Array, sign: float = 1.0) -> Params:
        """Parameters for features centered at ``offset`` (``sign=1``), or back
        from them (``sign=-1``); see ``_math.center_intercepts``."""
        return dict(params, coef=center_intercepts(xp, params["coef"], offset, sign))

    def restrict(self, params: Params, columns) -> Params:
        """Host parameters for all features cut to the features ``columns``
        (None: all) that the fit gives the experts."""
        return dict(params, coef=restrict_rows(params["coef"], columns))

    def expand(self, params: Params, columns, n_features: int) -> Params:
        """Host parameters for the features ``columns`` (None: all) spread over
        all ``n_features``, with zeros for the features the experts do not see."""
        return dict(params, coef=expand_rows(params["coef"], columns, n_features))

    def params_to(self, xp, params: Params, like: Array) -> Params:
        """Host parameters in ``like``'s namespace, dtype and device."""
        return {name: as_compute(xp, value, like) for name, value in params.items()}


def better_on_own_rows(xp, fit_of, amounts, weighted_resp, exact, other):
    """Each expert's parameters: ``exact`` (the M-step's) or ``other(own)``'s
    (another start; ``own`` (K, n) are the weights of each expert's own rows,
    for a family whose other start needs them: negative binomial's M-step at
    its own rows alone, where Gamma's log-scale regression takes all rows'
    weights) where the expert's own rows (those whose largest
    responsibility is its: a restart's k-means cluster, or random label) give
    less than half its responsibility-weighted sum of ``amounts`` (n,), y or
    the counts, and ``fit_of(params, own)`` (K,), the fit of its means to the
    weights ``own`` (K, n) of those rows, is higher for ``other``.

    A start gives each sample a share of 0.1 / (K - 1) to each other expert
    (``skmoe._init.HARD_SHARE``); at a log link those shares of amounts on
    another scale can outweigh an expert's own rows in its mean: Gamma regimes
    of means 1, 100 and 1e4 that k-means split started both small experts
    near 500, and EM merged them. Elsewhere the M-step's start stays (the
    log-scale start alone, taken wherever it fit an expert's own rows
    better, ended a two-regime negative binomial regression 63 nats lower).
    A row whose largest responsibility is shared is each of those experts'
    own (a row of weight 0 is every expert's, and counts for none). A tie of
    the fits, or a fit or parameters that are not finite, keep ``exact``."""
    own = weighted_resp == xp.max(weighted_resp, axis=0, keepdims=True)
    own = xp.astype(own, weighted_resp.dtype)
    with np.errstate(all="ignore"):  # (sums of amounts near the largest float)
        share = weighted_resp * amounts[None, :]
        mine = xp.sum(own * share, axis=1)
        outweighed = xp.sum(share, axis=1) - mine > mine  # False at NaN
    if not bool(xp.any(outweighed)):
        return exact
    own = own * xp.sum(weighted_resp, axis=0)
    with np.errstate(all="ignore"):  # (a start far off: means that overflow)
        other = other(own)
        better = outweighed & (fit_of(other, own) > fit_of(exact, own))  # not NaN
    for value in other.values():  # and only where its parameters are finite
        finite = xp.isfinite(value)
        better = better & (xp.all(finite, axis=0) if value.ndim > 1 else finite)
    return {name: xp.where(better, other[name], value) for name, value in exact.items()}
