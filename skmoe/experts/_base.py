"""The contract every expert family implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

Array = Any
Params = dict[str, Array]


class ExpertFamily(ABC):
    """A family of K experts p_k(y | x), fitted together by weighted M-steps.

    Implementations are stateless numerics: every method takes the array namespace
    ``xp``, the design matrix ``Xt = [1, X]`` and the encoded target ``Y`` and works
    on a plain dict of parameters, so that the same family runs on any backend.
    Configuration that depends on the training data (a variance floor, the number of
    classes) is given to the constructor.

    Parameters are laid out with the intercept in row 0 of each coefficient matrix,
    one column (or one block of columns) per expert.
    """

    #: "regression" or "classification"
    task: str

    @abstractmethod
    def initial_params(self, xp, Xt: Array, Y: Array, n_experts: int) -> Params:
        """Parameters an M-step may warm-start from (before any data is seen)."""

    @abstractmethod
    def log_likelihood(self, xp, Xt: Array, Y: Array, params: Params) -> Array:
        """log p_k(y_i | x_i) as an (n_samples, n_experts) array."""

    @abstractmethod
    def m_step(
        self,
        xp,
        Xt: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        """Parameters that do not decrease the expected penalized objective.

        ``weighted_resp[i, k] = w_i r_ik / sum(w)``: the per-sample weight times the
        responsibility of expert k, normalized so that the whole array sums to one.
        The objective is ``sum_ik weighted_resp[i, k] log p_k(y_i | x_i)`` minus
        :meth:`penalty`.
        """

    @abstractmethod
    def penalty(self, xp, params: Params, alpha: float) -> Array:
        """The L2 penalty subtracted from the per-sample log-likelihood."""

    @abstractmethod
    def n_parameters(self, n_features: int, n_experts: int) -> int:
        """Number of free parameters (for BIC and AIC)."""
