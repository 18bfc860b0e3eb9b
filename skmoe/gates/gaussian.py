"""The localized gate of Xu, Jordan & Hinton (1995): Gaussian densities of x."""

from __future__ import annotations

import math

import numpy as np

from .._math import device, log_softmax, logsumexp
from ._base import Array, GateFamily, Params

#: Added to the diagonal of each expert's covariance, relative to the feature's
#: weighted variance in the training data (scikit-learn's GaussianMixture adds
#: ``reg_covar=1e-6`` in the features' units; relative, the gate does not
#: depend on the features' scales).
REG_COVAR = 1e-6


#: Tries of the Cholesky factorization, with a jitter of each covariance's own
#: diagonal that starts at 4 eps and grows JITTER_GROWTH times per try.
JITTER_TRIES = 6
JITTER_GROWTH = 100.0


def _whitening(xp, covariances: Array, loading: Array) -> Array:
    """Inverse lower Cholesky factors W_k of ``covariances`` (K, d, d) with
    ``loading`` (d,) added to their diagonals.

    The loading (a millionth of each feature's variance) makes them positive
    definite in exact arithmetic, but rounding in float32 can leave one that is
    not, numerically: two nearly collinear features whose variances are far
    apart (the digits' pixels), or an expert on duplicated rows. Each diagonal
    then also gets ``4 eps`` of its own value, a jitter that grows until every
    factorization succeeds (in float64 it stays below 1e-15).
    """
    d = covariances.shape[-1]
    eye = xp.eye(d, dtype=covariances.dtype, device=device(covariances))
    diagonal = xp.sum(covariances * eye, axis=-1)  # (K, d)
    relative = 4 * float(xp.finfo(covariances.dtype).eps)
    for _ in range(JITTER_TRIES):
        jitter = loading[None, :] + relative * diagonal
        try:
            factor = xp.linalg.cholesky(covariances + jitter[..., None] * eye)
        except Exception:  # NumPy's LinAlgError, torch's RuntimeError, ...
            factor = None
        if factor is not None and bool(xp.all(xp.isfinite(factor))):
            return xp.linalg.inv(factor)
        relative *= JITTER_GROWTH
    raise FloatingPointError(
        "gate='gaussian': an expert's covariance of the inputs is not positive "
        "definite even with a jitter of its diagonal; rescale the features, "
        "remove duplicated ones, or use fewer experts."
    )


#: The covariances' forms, as scikit-learn's GaussianMixture's ``covariance_type``.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class GaussianGate(GateFamily):
    """``g_k(x) = a_k N(x; m_k, S_k) / sum_j a_j N(x; m_j, S_j)``.

    Each expert has a region of the input space: a Gaussian density with its own
    mean and covariance, and a mixing proportion. ``covariance_type`` constrains
    the covariances as scikit-learn's GaussianMixture does: ``"full"`` (each its
    own), ``"tied"`` (one for all experts: the boundaries are then linear, the
    softmax gate's family fitted generatively), ``"diag"`` (diagonal) or
    ``"spherical"`` (a multiple of the identity). The model is then one of
    ``(x, y)`` jointly, ``p(x, y) = sum_k a_k N(x; m_k, S_k) p_k(y | x)``, whose
    EM has a closed-form gate M-step: each expert's proportion, weighted mean
    and weighted covariance of x under the responsibilities, as in a Gaussian
    mixture. EM never decreases that joint log-likelihood (the objective
    :func:`log_marginal` adds); the conditional one, ``log p(y | x)``, which
    the estimators report, may fall at an iteration.

    Parameters are ``{"coef": (d, K), "whiten": (K, d - 1, d - 1)}``: row 0 of
    ``coef`` holds ``b_k = log a_k + (1/2) log det S_k^-1`` and rows 1: the means
    ``m_k``; ``whiten[k]`` is the inverse of the lower Cholesky factor of
    ``S_k``, so that ``log a_k N(x; m_k, S_k) = b_k - |W_k (x - m_k)|^2 / 2 -
    (d - 1) log(2 pi) / 2``. Rows and columns of zeros in ``W_k`` (with zero
    means) leave a feature out, which is how a gate on ``gate_features`` reads
    the full design matrix. Moving the features' origin moves the means only.
    The covariances get ``REG_COVAR`` times each feature's weighted variance
    added to their diagonal (see :func:`_whitening` for float32); ``alpha``
    does not penalize this gate.
    """

    def __init__(self, covariance_type: str = "full"):
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}; "
                f"got {covariance_type!r}."
            )
        self.covariance_type = covariance_type

    def __repr__(self):
        return f"GaussianGate({self.covariance_type!r})"

    @property
    def _diagonal(self) -> bool:
        return self.covariance_type in ("diag", "spherical")

    def prepare(self, xp, design: Array, sample_weight: Array, alpha: float):
        """Each feature's diagonal loading (``REG_COVAR`` of its variance)."""
        X = design[1:, :]
        mean = X @ sample_weight
        variance = ((X - mean[:, None]) ** 2) @ sample_weight
        # a constant feature: a unit loading, the same for every expert
        ones = xp.ones_like(variance)
        return REG_COVAR * xp.where(variance > 0, variance, ones)

    def initial_params(self, xp, design: Array, n_experts: int) -> Params:
        """Uniform gate: equal proportions, the same unit density."""
        d, dtype = design.shape[0] - 1, design.dtype
        eye = xp.eye(d, dtype=dtype, device=device(design))
        whiten = xp.zeros((n_experts, d, d), dtype=dtype, device=device(design))
        whiten = whiten + eye[None, :, :]
        coef = xp.zeros((d + 1, n_experts), dtype=dtype, device=device(design))
        return {"coef": coef, "whiten": whiten}

    def logits(self, xp, design: Array, params: Params) -> Array:
        coef, whiten = params["coef"], params["whiten"]
        X = design[1:, :]
        rows = []
        if self._diagonal:
            eye = xp.eye(X.shape[0], dtype=X.dtype, device=device(X))
            scales = xp.sum(whiten * eye, axis=-1)  # (K, d): W_k's diagonal
        for k in range(coef.shape[1]):  # one (d, n) temporary at a time
            centered = X - coef[1:, k][:, None]
            if self._diagonal:
                z = scales[k, :][:, None] * centered
            else:
                z = whiten[k, ...] @ centered
            rows.append(coef[0, k] - 0.5 * xp.sum(z * z, axis=0))
        return xp.stack(rows, axis=0)

    def log_gate(self, xp, design: Array, params: Params) -> Array:
        return log_softmax(xp, self.logits(xp, design, params), axis=0)

    def log_marginal(self, xp, design: Array, params: Params) -> Array:
        """``log p(x_i) = log sum_k a_k N(x_i; m_k, S_k)``, shape (n_samples,)."""
        logits = self.logits(xp, design, params)
        d = design.shape[0] - 1
        return logsumexp(xp, logits, axis=0) - 0.5 * d * math.log(2 * math.pi)

    def logits_gradient(self, xp, design: Array, dlogits: Array, params: Params):
        raise NotImplementedError(
            "the gaussian gate is fitted by EM only (closed-form M-steps)"
        )

    def penalty_gradient(self, xp, params: Params, alpha: float) -> Params:
        return {name: xp.zeros_like(value) for name, value in params.items()}

    def select(self, xp, params: Params, keep: Array) -> Params:
        return {
            "coef": xp.take(params["coef"], keep, axis=1),
            "whiten": xp.take(params["whiten"], keep, axis=0),
        }

    def m_step(
        self,
        xp,
        design,
        weighted_resp,
        log_gate,
        params,
        alpha,
        prepared,
        n_steps=None,
    ) -> Params:
        X = design[1:, :]
        d, n_experts = X.shape[0], weighted_resp.shape[0]
        weights = xp.sum(weighted_resp, axis=1)
        tiny = float(xp.finfo(weights.dtype).smallest_normal)
        weights = xp.clip(weights, tiny, None)  # an expert no sample supports
        means = (X @ weighted_resp.T) / weights[None, :]  # (d, K)
        eye = xp.eye(d, dtype=X.dtype, device=device(X))
        if self._diagonal:
            variances = []
            for k in range(n_experts):
                z = X - means[:, k][:, None]
                variances.append((z * z) @ weighted_resp[k, :] / weights[k])
            variances = xp.stack(variances, axis=0) + prepared[None, :]  # (K, d)
            if self.covariance_type == "spherical":
                variances = xp.mean(variances, axis=1, keepdims=True) + 0 * variances
            whiten = (1.0 / xp.sqrt(variances))[:, :, None] * eye[None, :, :]
        else:
            covariances = []
            for k in range(n_experts):
                z = X - means[:, k][:, None]
                covariance = (z * weighted_resp[k, :][None, :]) @ z.T / weights[k]
                covariances.append(0.5 * (covariance + covariance.T))
            covariances = xp.stack(covariances, axis=0)
            if self.covariance_type == "tied":  # pooled within the experts
                shares = weights / xp.sum(weights)
                pooled = xp.sum(shares[:, None, None] * covariances, axis=0)
                covariances = pooled[None, :, :] + 0 * covariances
            whiten = _whitening(xp, covariances, prepared)
        log_det = xp.sum(xp.log(xp.sum(whiten * eye, axis=-1)), axis=-1)  # of W_k
        bias = xp.log(weights) + log_det
        coef = xp.concat([bias[None, :], means], axis=0)
        return {"coef": coef, "whiten": whiten}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        return xp.sum(params["coef"][:0, 0])  # 0.0, in the parameters' namespace

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        full = n_features * (n_features + 1) // 2
        covariances = {
            "full": n_experts * full,
            "tied": full,
            "diag": n_experts * n_features,
            "spherical": n_experts,
        }[self.covariance_type]
        return n_experts - 1 + n_experts * n_features + covariances

    # -- between fitted attributes and parameters (host NumPy) ------------------

    attribute_names = ("gate_weights_", "gate_means_", "gate_covariances_")

    def shift(self, xp, params: Params, offset: Array, sign: float = 1.0) -> Params:
        """Means for features centered at ``offset`` (``sign=-1``: back)."""
        coef = params["coef"]
        means = coef[1:, ...] - sign * offset[:, None]
        return dict(params, coef=xp.concat([coef[:1, ...], means], axis=0))

    def expand(self, params: Params, columns, n_features: int) -> Params:
        if columns is None:
            return params
        index = np.asarray(columns, dtype=np.intp)
        coef, whiten = params["coef"], params["whiten"]
        out_coef = np.zeros((n_features + 1, coef.shape[1]), dtype=coef.dtype)
        out_coef[np.concatenate([[0], index + 1])] = coef
        out_whiten = np.zeros((whiten.shape[0], n_features, n_features), whiten.dtype)
        out_whiten[np.ix_(np.arange(whiten.shape[0]), index, index)] = whiten
        return {"coef": out_coef, "whiten": out_whiten}

    def to_attributes(self, params: Params, columns, n_features: int) -> dict:
        """``gate_weights_`` (K,), ``gate_means_`` (K, d) and
        ``gate_covariances_`` (K, d, d) from host parameters for the gate's
        features in their units."""
        coef, whiten = params["coef"], params["whiten"]
        log_det = np.sum(np.log(np.diagonal(whiten, axis1=1, axis2=2)), axis=1)
        log_weights = coef[0] - log_det
        weights = np.exp(log_weights - np.max(log_weights))
        precisions = np.swapaxes(whiten, 1, 2) @ whiten
        covariances = np.linalg.inv(precisions)
        # GaussianMixture's shapes: (K, d, d), (d, d), (K, d) or (K,)
        if self.covariance_type == "tied":
            covariances = covariances[0]
        elif self.covariance_type == "diag":
            covariances = np.diagonal(covariances, axis1=1, axis2=2).copy()
        elif self.covariance_type == "spherical":
            diagonal = np.diagonal(covariances, axis1=1, axis2=2)
            ones = np.ones(len(covariances), dtype=covariances.dtype)  # no features
            covariances = diagonal[:, 0].copy() if diagonal.shape[1] else ones
        return {
            "gate_weights_": weights / np.sum(weights),
            "gate_means_": coef[1:].T.copy(),
            "gate_covariances_": covariances,
        }

    def from_attributes(self, attributes: dict, columns) -> Params:
        """Host parameters from :meth:`to_attributes`' attributes."""
        weights = np.asarray(attributes["gate_weights_"])
        means = np.asarray(attributes["gate_means_"])
        covariances = np.asarray(attributes["gate_covariances_"])
        n_experts, d = means.shape
        if self.covariance_type == "tied":
            covariances = np.broadcast_to(covariances, (n_experts, d, d))
        elif self.covariance_type == "diag":
            covariances = covariances[:, :, None] * np.eye(d)
        elif self.covariance_type == "spherical":
            covariances = covariances[:, None, None] * np.eye(d)
        whiten = np.linalg.inv(np.linalg.cholesky(covariances))
        log_det = np.sum(np.log(np.diagonal(whiten, axis1=1, axis2=2)), axis=1)
        tiny = np.finfo(weights.dtype).smallest_normal
        bias = np.log(np.clip(weights, tiny, None)) + log_det
        return {"coef": np.vstack([bias[None, :], means.T]), "whiten": whiten}
