"""The contract every gate family implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .._math import center_intercepts, device, expand_rows, restrict_rows
from .._sparse import route, route_in_blocks, truncate_log_gate
from .._squarem import coefficient_units

Array = Any
Params = dict[str, Array]


class GateFamily(ABC):
    """A gate g_k(x): how much expert k counts for input x.

    Parameters are ``{"coef": (d, K)}`` with the intercept in row 0, so that every
    gate is read the same way: ``log g(x) = log_softmax(coef.T @ x~)`` for the
    softmax gate, and the constant gate keeps only row 0 (the log mixing
    proportions). Like expert families, gates are stateless numerics taking ``xp``
    first and the transposed design matrix ``design`` (d, n_samples); per-sample,
    per-expert arrays are (n_experts, n_samples).
    """

    def prepare(self, xp, design: Array, sample_weight: Array, alpha: float) -> Any:
        """Per-fit constants for the M-step (computed once; none by default).

        ``sample_weight`` is normalized to sum to one; with ``groups``, the
        gate's weights (``1 / n_g`` a row of group g) sum to the weighted mean
        of ``1 / n_g`` over the rows, and to one again for a gate that models
        x (``models_inputs``), as its M-step's.
        """
        return None

    def initial_params(self, xp, design: Array, n_experts: int) -> Params:
        """Uniform gate."""
        shape, dtype = (design.shape[0], n_experts), design.dtype
        return {"coef": xp.zeros(shape, dtype=dtype, device=device(design))}

    @abstractmethod
    def log_gate(self, xp, design: Array, params: Params) -> Array:
        """log g_k(x_i), an (n_experts, n_samples) array (columns sum to 1 in exp)."""

    @abstractmethod
    def logits(self, xp, design: Array, params: Params) -> Array:
        """Gate logits a_ki, (n_experts, n_samples): ``log_gate = log_softmax(a)``."""

    def logits_by_sample(self, xp, design: Array, params: Params) -> Array:
        """The logits transposed, (n_samples, n_experts), for per-sample top-k."""
        return xp.permute_dims(self.logits(xp, design, params), (1, 0))

    def truncate(self, xp, log_gate: Array, k: int) -> Array:
        """log of the sparse gate: each column's k largest values, renormalized.

        -inf outside the selected experts; the selection must be the one
        :meth:`route` makes.
        """
        return truncate_log_gate(xp, log_gate, k)

    def nesting(self, n_experts: int) -> list[int] | None:
        """Bounds of the consecutive groups of experts that the gate nests
        (a hierarchical gate's), for a start that groups a flat fit's experts
        (see ``skmoe._nesting``); None: a flat gate."""
        return None

    def route(self, xp, design: Array, params: Params, k: int):
        """Each sample's k selected experts and their log sparse-gate weights.

        Both (k, n_samples), best first; the weights are :meth:`truncate`'s at
        the selected experts. By default from the (n_samples, K) logits, in
        blocks of samples.
        """

        def route_block(block):
            logits = self.logits_by_sample(xp, block, params)
            return route(xp, logits, k, overwrite=True)

        return route_in_blocks(xp, design, route_block)

    @abstractmethod
    def logits_gradient(self, xp, design: Array, dlogits: Array, params: Params):
        """Chain rule: the gradient w.r.t. ``params`` of a function of the logits.

        ``dlogits`` (n_experts, n_samples) is the gradient w.r.t. :meth:`logits`.
        """

    @abstractmethod
    def penalty_gradient(self, xp, params: Params, alpha: float) -> Params:
        """Gradient of :meth:`penalty` w.r.t. ``params``."""

    def select(self, xp, params: Params, keep: Array) -> Params:
        """The parameters of the experts ``keep`` (integer indices), in that order."""
        return {"coef": xp.take(params["coef"], keep, axis=1)}

    def truncated(self, design: Array, params: Params) -> bool:
        """Whether :meth:`m_step` at this size takes truncated steps (conjugate
        gradients), which fall short of the M-step's optimum: EM then checks
        its convergence with one M-step of ``m_step(..., tight=True)`` (never,
        by default)."""
        return False

    @abstractmethod
    def m_step(
        self,
        xp,
        design: Array,
        weighted_resp: Array,
        log_gate: Array,
        params: Params,
        alpha: float,
        prepared: Any,
        n_steps: int | None = None,
        tight: bool = False,
    ) -> Params:
        """Parameters that do not decrease ``sum_ki weighted_resp log g_ki - penalty``.

        ``log_gate`` is the gate at ``params`` (the E-step has it already).
        ``tight``: where the steps are truncated (:meth:`truncated`), take
        them nearer the M-step's optimum (EM's check of a stop); ignored by
        families whose steps are not.
        """

    #: Whether the M-step depends on the data only through
    #: :meth:`statistics`, which online EM (``partial_fit`` with
    #: ``solver="em"``) then averages over the batches.
    online = False

    def statistics(self, xp, design: Array, weighted_resp: Array) -> Params:
        """The M-step's sums over the samples, per unit weight (``online``
        families): a dict of arrays of the namespace's widest float (float64, or
        float32 on a device without float64) with the experts on axis 0, which
        the M-step takes as they are or averaged over batches."""
        raise NotImplementedError(f"{type(self).__name__} has no statistics")

    def m_step_statistics(self, xp, statistics: Params, params: Params) -> Params:
        """:meth:`m_step` from :meth:`statistics` (``params`` gives the
        dtype)."""
        raise NotImplementedError(f"{type(self).__name__} has no statistics")

    @abstractmethod
    def penalty(self, xp, params: Params, alpha: float) -> Array:
        """The L2 penalty subtracted from the per-sample log-likelihood."""

    @abstractmethod
    def n_parameters(self, n_features: int, n_experts: int) -> int:
        """Number of free parameters (for BIC and AIC)."""

    #: Whether the gate models the density of x (:meth:`log_marginal`).
    models_inputs: bool = False
    #: Whether ``alpha`` penalizes the gate's parameters (:meth:`penalty`).
    penalized: bool = True

    def log_gate_and_marginal(self, xp, design: Array, params: Params):
        """:meth:`log_gate` and :meth:`log_marginal` (None by default) together,
        for a gate that gets both from one evaluation of its logits."""
        return self.log_gate(xp, design, params), None

    def log_marginal(self, xp, design: Array, params: Params) -> Array | None:
        """``log p(x_i)`` (n_samples,) for a gate that models the input density
        as well, whose EM objective is then the joint log-likelihood of x and
        y; None (the default) for a gate of y given x only."""
        return None

    def extrapolation_units(self, params: Params, rows: np.ndarray) -> dict:
        """The units in which SQUAREM measures its steps (see
        ``_squarem.coefficient_units``): a coefficient of design row j in units of
        ``rows[j]``, its logit per unit of the feature."""
        return coefficient_units(params, rows)

    def collapsed(self, xp, design: Array, sample_weight: Array, params: Params):
        """Indices (host NumPy) of the experts whose gate parameters sit at a
        bound where the likelihood is unbounded; none by default."""
        return np.zeros(0, dtype=np.intp)

    # -- between fitted attributes and parameters -------------------------------
    # Fitted attributes hold the parameters for the gate's features (the
    # ``columns`` of X it sees, None: all) in the features' units; a fit works on
    # features centered at an offset; predictions read the full design matrix.

    #: The fitted attributes :meth:`to_attributes` sets.
    attribute_names: tuple[str, ...] = ("gate_intercept_", "gate_coef_")

    def conform(self, xp, params: Params) -> Params:
        """This family's parameters from another family's of the same layout
        (a warm start after ``gate`` changed; unchanged by default)."""
        return params

    def centred(self, params: Params) -> Params:
        """Host parameters with the shift the gate does not see removed (the
        logits' common part; unchanged by default). EM's and L-BFGS's steps
        keep softmax coefficients centred, Adam's do not."""
        return params

    def shift(self, xp, params: Params, offset: Array, sign: float = 1.0) -> Params:
        """The parameters for features centered at ``offset`` (``sign=-1``:
        from centered features back); see ``_math.center_intercepts``."""
        return dict(params, coef=center_intercepts(xp, params["coef"], offset, sign))

    def expand(self, params: Params, columns, n_features: int) -> Params:
        """Host parameters of ``columns``' features widened to all
        ``n_features`` (zeros for the others: the same gate on the full
        design matrix)."""
        return dict(params, coef=expand_rows(params["coef"], columns, n_features))

    def to_attributes(self, params: Params, columns, n_features: int) -> dict:
        """The fitted attributes of host parameters (of ``columns``' features, in
        their units): intercepts and coefficients over all ``n_features``."""
        coef = self.expand(params, columns, n_features)["coef"]
        return {"gate_intercept_": coef[0].copy(), "gate_coef_": coef[1:].T.copy()}

    def from_attributes(self, attributes: dict, columns) -> Params:
        """Host parameters (for ``columns``' features) from :meth:`to_attributes`'
        attributes."""
        intercept = np.asarray(attributes["gate_intercept_"])
        coef = np.vstack([intercept[None, :], np.asarray(attributes["gate_coef_"]).T])
        return {"coef": restrict_rows(coef, columns)}
