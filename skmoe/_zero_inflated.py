"""What the regressors whose first expert may be a point mass at zero share
(``zero_inflated=True``)."""

from __future__ import annotations

import numpy as np

from ._base import _fresh_fit_remedy


class ZeroInflatedMixin:
    """``zero_inflated``: the checks and choices of a model whose first expert
    is a point mass at zero, counted in ``n_experts``.

    Subclasses set ``_zero_words``: what their other experts are, a target
    value the point mass gives the probability 0, the model of two experts
    and a reference for it; and may add refusals in :meth:`_zero_refusals`.
    """

    _zero_words = (
        "Poisson regressions",
        "positive count",
        "Poisson regression",
        "as R flexmix's FLXMRziglm counts its components",
    )

    def _solver_options(self, n_experts, prunes=True):
        if self.zero_inflated:
            self._check_zero_inflated(n_experts, prunes)
        return super()._solver_options(n_experts, prunes)

    def _zero_refusals(self):
        """The parameters ``zero_inflated=True`` refuses: {name: (given,
        why)}."""
        experts, positive, _, _ = self._zero_words
        return {
            "expert_estimator": (
                self.expert_estimator is not None,
                f"its experts are {experts}",
            ),
            "shared_features": (
                self.shared_features is not None,
                "the point mass at zero has no coefficients",
            ),
            "prune_threshold > 0": (
                self.prune_threshold > 0,
                "pruning could drop the point mass at zero mid-fit "
                "(prune_experts prunes a fitted model)",
            ),
            "top_k": (
                self.top_k is not None,
                "with top_k=1 a sample routed to the point mass alone would "
                f"give every {positive} the probability 0, and larger top_k "
                "has not been built for the point mass",
            ),
        }

    def _check_zero_inflated(self, n_experts, prunes=True):
        """Raise where ``zero_inflated=True`` does not go with the other
        parameters (``n_experts`` counts the point mass at zero; ``prunes``:
        whether the fit reads ``prune_threshold``)."""
        for name, (given, why) in self._zero_refusals().items():
            if given and (prunes or name != "prune_threshold > 0"):
                raise ValueError(f"zero_inflated=True does not take {name}: {why}.")
        if n_experts != "auto" and n_experts < 2:
            raise ValueError(
                f"zero_inflated=True needs n_experts >= 2, got {n_experts}: the "
                "first expert is the point mass at zero, so n_experts=2 is a "
                f"zero-inflated {self._zero_words[2]} ({self._zero_words[3]})."
            )

    def _prunable(self):
        # (prune_threshold is refused: the warnings do not suggest it)
        return not self.zero_inflated and super()._prunable()

    def _candidates(self, n_active, warm=False):
        candidates = super()._candidates(n_active, warm)
        if self.zero_inflated and self.n_experts == "auto" and not warm:  # K = 2, 3, 4
            candidates = [k for k in candidates if k >= 2]
            if not candidates:
                # ("negative binomial regression": all but the last word)
                expert = self._zero_words[2].rsplit(maxsplit=1)[0]
                raise ValueError(
                    f"n_samples={n_active} should be >= 2 for "
                    "n_experts='auto' with zero_inflated=True (the point mass "
                    f"at zero and one {expert} expert); pass more "
                    "samples with a positive weight."
                )
        return candidates

    def _check_warm_experts(self, method="warm_start=True"):
        super()._check_warm_experts(method)
        if hasattr(self, "experts_"):  # estimators: zero_inflated refuses them
            return
        fitted = bool(np.any(np.isneginf(self._host_attribute("expert_intercept_"))))
        if fitted == bool(self.zero_inflated):
            return
        was = "have a point mass at zero" if fitted else "have no point mass at zero"
        raise ValueError(
            f"{method} continues the fitted experts, which {was}, unlike "
            f"zero_inflated={self.zero_inflated!r}; {_fresh_fit_remedy(method)} "
            "to fit the new model from scratch."
        )
