"""The constant gate g_k(x) = pi_k: a mixture of regressions (latent classes)."""

from __future__ import annotations

import numpy as np

from .._backend import widest_float
from .._math import device, log_softmax
from ._base import Array, GateFamily, Params


class ConstantGate(GateFamily):
    """Mixing proportions that do not depend on x, as in R's flexmix and mixtools.

    Stored as ``coef`` with the centered log proportions in row 0 and zeros
    elsewhere. The M-step is closed form (pi_k = the weighted mean responsibility),
    clipped below at the smallest normal number so that the log stays finite when
    an expert collapses. It is not penalized.
    """

    def log_gate(self, xp, design: Array, params: Params) -> Array:
        log_weights = log_softmax(xp, params["coef"][0, :], axis=0)
        zeros = xp.zeros(
            (1, design.shape[1]), dtype=design.dtype, device=device(design)
        )
        return zeros + log_weights[:, None]

    def logits(self, xp, design: Array, params: Params) -> Array:
        zeros = xp.zeros(
            (1, design.shape[1]), dtype=design.dtype, device=device(design)
        )
        return zeros + params["coef"][0, :][:, None]

    def logits_gradient(self, xp, design: Array, dlogits: Array, params: Params):
        coef = params["coef"]
        row = xp.sum(dlogits, axis=1)[None, :]
        return {"coef": xp.concat([row, xp.zeros_like(coef[1:, :])], axis=0)}

    def penalty_gradient(self, xp, params: Params, alpha: float) -> Params:
        return {"coef": xp.zeros_like(params["coef"])}

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
        tight=False,
    ) -> Params:
        return self._from_weights(xp, xp.sum(weighted_resp, axis=1), params)

    online = True

    def statistics(self, xp, design, weighted_resp) -> Params:
        wide = widest_float(xp, weighted_resp)
        return {"weight": xp.sum(weighted_resp, axis=1, dtype=wide)}

    def m_step_statistics(self, xp, statistics, params) -> Params:
        weights = xp.astype(statistics["weight"], params["coef"].dtype)
        return self._from_weights(xp, weights, params)

    @staticmethod
    def _from_weights(xp, weights, params) -> Params:
        """The proportions of the experts' shares ``weights`` (K,)."""
        tiny = float(xp.finfo(weights.dtype).smallest_normal)
        log_weights = xp.log(xp.clip(weights, tiny, None))
        log_weights = log_weights - xp.mean(log_weights)
        coef = xp.zeros_like(params["coef"])
        coef = xp.concat([log_weights[None, :], coef[1:, :]], axis=0)
        return {"coef": coef}

    def centred(self, params: Params) -> Params:
        coef = params["coef"]
        return dict(params, coef=coef - np.mean(coef, axis=1, keepdims=True))

    def conform(self, xp, params: Params) -> Params:
        coef = params["coef"]
        return {"coef": xp.concat([coef[:1, :], xp.zeros_like(coef[1:, :])], axis=0)}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        return xp.sum(params["coef"][:0, 0])  # 0.0, in the parameters' namespace

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        return n_experts - 1
