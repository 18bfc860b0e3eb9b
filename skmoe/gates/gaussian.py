"""The localized gate of Xu, Jordan & Hinton (1995): Gaussian densities of x."""

from __future__ import annotations

import math

import numpy as np

from .. import _sparse
from .._backend import is_numpy_array, to_numpy, widest_float
from .._math import (
    by_columns,
    device,
    log_softmax,
    log_softmax_and_norm,
    sums_in_turn,
    weighted_grams,
)
from .._sparse import route, route_in_blocks
from ._base import Array, GateFamily, Params

#: Added to the diagonal of each expert's covariance, relative to the feature's
#: weighted variance in the training data (scikit-learn's GaussianMixture adds
#: ``reg_covar=1e-6`` in the features' units; relative, the gate does not
#: depend on the features' scales, but with ``"spherical"`` covariances, one
#: variance for all features).
REG_COVAR = 1e-6


#: Tries of the Cholesky factorization, with a jitter of each covariance's own
#: diagonal that starts at 4 eps and grows JITTER_GROWTH times per try: at most
#: 4.8e-3 of the diagonal in float32, 8.9e-12 in float64.
JITTER_TRIES = 3
JITTER_GROWTH = 100.0
#: Elements of the (K d, samples) temporary of the logits, per block of samples.
LOGIT_BLOCK = 2**20
#: An expert whose covariance, in units of the features' variances, has an
#: eigenvalue within COLLAPSE_FACTOR times the loading (``REG_COVAR``) has
#: collapsed onto a lower-dimensional set (its samples share a feature's value).
COLLAPSE_FACTOR = 10.0


def _whitening(xp, covariances: Array, loading: Array) -> Array:
    """Inverse lower Cholesky factors W_k of ``covariances`` (K, d, d) with
    ``loading`` (d,) added to their diagonals.

    The loading (a millionth of each feature's variance) makes them positive
    definite in exact arithmetic, but rounding in float32 can leave one that is
    not, numerically: two nearly collinear features whose variances are far
    apart (the digits' pixels), or an expert on duplicated rows. Each diagonal
    then also gets ``4 eps`` of its own value, a jitter that grows 100 times
    per failed factorization, up to ``JITTER_TRIES`` tries (the digits in
    float32 needed 4.8e-5).
    """
    d = covariances.shape[-1]
    eye = xp.eye(d, dtype=covariances.dtype, device=device(covariances))
    diagonal = xp.sum(covariances * eye, axis=-1)  # (K, d)
    relative = 4 * float(xp.finfo(covariances.dtype).eps)
    failure = None  # the last factorization's error, if it raised
    for _ in range(JITTER_TRIES):
        jitter = loading[None, :] + relative * diagonal
        matrix = covariances + jitter[..., None] * eye
        # factored and inverted as a correlation matrix, scaled back: features
        # whose scales differ by 1e100 left inv(L) a negative diagonal entry
        spread = diagonal + jitter  # (K, d): matrix's diagonal
        scale = xp.sqrt(xp.where(spread > 0, spread, xp.ones_like(spread)))
        matrix = matrix / (scale[:, :, None] * scale[:, None, :])
        try:
            factor = xp.linalg.cholesky(matrix)
        except MemoryError:
            raise
        except Exception as error:  # NumPy's LinAlgError, torch's RuntimeError, ...
            factor, failure = None, error
        if factor is not None and _factored(xp, factor, matrix, eye):
            return xp.linalg.inv(factor) / scale[:, None, :]
        relative *= JITTER_GROWTH
    raise FloatingPointError(
        "gate='gaussian': an expert's covariance of the inputs is not positive "
        f"definite even with a jitter of {relative / JITTER_GROWTH:.1e} of its "
        "diagonal; fit in float64, remove duplicated or collinear features, or "
        "use gate_covariance_type='diag'."
    ) from failure


def _factored(xp, factor: Array, matrix: Array, eye: Array) -> bool:
    """Whether ``factor`` is a completed Cholesky factorization of ``matrix``:
    finite, with a positive diagonal, and ``factor @ factor.T`` within
    ``sqrt(eps)`` of the largest diagonal entry of ``matrix`` (a completed
    factorization is within ``d eps`` of it: Cholesky is backward stable).
    CuPy's ``cholesky`` of a matrix that is not positive definite does not
    raise (cuSOLVER's ``devInfo`` is read only under
    ``cupyx.errstate(linalg="raise")``): it returns what the factorization left
    (LAPACK's ``potrf`` leaves the failed pivot on the diagonal, zero or
    negative, and the rest of the matrix as it was; cuSOLVER does not document
    its), so a finite factor alone did not show the failure, and its inverse
    whitened with a wrong covariance."""
    if matrix.shape[-1] == 0:  # (a gate on no features: nothing to factor)
        return True
    diagonal = xp.sum(factor * eye, axis=-1)
    rebuilt = factor @ xp.matrix_transpose(factor)
    scale = xp.max(xp.sum(matrix * eye, axis=-1), axis=-1)  # (K,)
    error = xp.max(xp.abs(rebuilt - matrix), axis=(-2, -1))
    tol = math.sqrt(float(xp.finfo(matrix.dtype).eps))
    return bool(
        xp.all(xp.isfinite(factor))
        & xp.all(diagonal > 0)
        & xp.all(error <= tol * scale)
    )


def _cholesky_factor(whiten):
    """``L_k = W_k^-1`` (K, d, d) in float64 on the host, for ``whiten``'s lower
    triangular ``W_k``: inverted with unit diagonal, ``W_k = U_k D_k``, as
    ``L_k = D_k^-1 U_k^-1`` (a plain inverse of factors of features on scales
    1e100 apart overflowed the covariances ``L_k L_k^T``)."""
    whiten = np.asarray(whiten, dtype=np.float64)
    diagonal = np.diagonal(whiten, axis1=1, axis2=2)  # (K, d), positive
    return np.linalg.inv(whiten / diagonal[:, None, :]) / diagonal[:, :, None]


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
        sample_weight = _summing_to_one(xp, sample_weight)
        mean = X @ sample_weight
        variance = ((X - mean[:, None]) ** 2) @ sample_weight
        # a constant feature: a unit loading, the same for every expert
        ones = xp.ones_like(variance)
        return REG_COVAR * xp.where(variance > 0, variance, ones)

    def initial_params(self, xp, design: Array, n_experts: int) -> Params:
        """Uniform gate: equal proportions, the same density, in units of each
        feature's largest magnitude (in unit units, ``|x|^2`` of features near
        1e19 overflowed float32: every logit -inf, a NaN gate at the start)."""
        d, dtype = design.shape[0] - 1, design.dtype
        eye = xp.eye(d, dtype=dtype, device=device(design))
        if design.shape[1] > 0:
            largest = xp.max(xp.abs(design[1:, :]), axis=1)  # (d,)
            usable = xp.isfinite(largest) & (largest > 0)
            eye = eye / xp.where(usable, largest, xp.ones_like(largest))[None, :]
        whiten = xp.zeros((n_experts, d, d), dtype=dtype, device=device(design))
        whiten = whiten + eye[None, :, :]
        coef = xp.zeros((d + 1, n_experts), dtype=dtype, device=device(design))
        return {"coef": coef, "whiten": whiten}

    def logits(self, xp, design: Array, params: Params) -> Array:
        """``b_k - |W_k (x - m_k)|^2 / 2``, (n_experts, n_samples): all experts'
        whitened deviations ``W x - W m`` in one product per block of samples
        (``LOGIT_BLOCK`` elements of the (K d, block) temporary): fewer, larger
        products than one expert at a time (``benchmarks/gaussian_gate.py``,
        ``logits_forms``)."""
        relative, shared = self._logit_parts(xp, design, params)
        return relative if shared is None else relative - shared[None, :]

    def _logit_parts(
        self, xp, design: Array, params: Params, work=None, by_sample=False
    ):
        """The logits as ``relative - shared[None, :]``: with a tied covariance
        ``S``, ``shared`` is the quadratic ``|W x|^2 / 2`` all experts have
        and ``relative`` the rest, linear in x; else ``shared`` is None and
        ``relative`` the logits. Apart, the gate keeps its digits far from
        the data, where the quadratic rounds the logits' differences away
        (at x = 1e20 every expert had a gate of 1).

        On NumPy, with more than one block of samples or ``work`` given, the
        blocks' (K d, block) deviations and (K, block) sums are work arrays,
        one of each per call, and each block's logits are written into
        ``relative`` (not concatenated); with a single block, new arrays (that
        took less time from 1 to 1e3 rows). ``work``, a dict, keeps those work
        arrays across calls (:meth:`route`'s blocks of samples);
        ``by_sample``: ``relative`` is then the transpose of a C-ordered (n,
        K) work array, valid until the next call with ``work``. Tied
        covariances and no features keep their own forms (new arrays)."""
        coef, whiten = params["coef"], params["whiten"]
        X = design[1:, :]
        d, n_experts, n_samples = X.shape[0], coef.shape[1], X.shape[1]
        if d == 0:  # no features: the proportions alone
            zeros = xp.zeros((1, n_samples), dtype=X.dtype, device=device(X))
            return coef[0, :][:, None] + zeros, None
        if self.covariance_type == "tied":  # every W_k is W_0
            # about the mean of the means c: |W (x - m_k)|^2 is |W (x - c)|^2
            # (shared) - 2 W (m_k - c) . W (x - c) + |W (m_k - c)|^2, whose
            # terms are no larger than the full form's near the data
            # (uncentered at predict: features near 2000 lost 0.2 of the
            # logits in float32 about the origin)
            middle = xp.mean(coef[1:, :], axis=1, keepdims=True)  # (d, 1)
            # (the whitened inputs halved, their squares' sum doubled: the
            # same floats, where |W x| of 1.34e154 to 1.9e154 overflowed its
            # square though |W x|^2 / 2 is a float)
            halved = by_columns(xp, 0.5 * whiten[0, ...], X - middle)  # (d, n)
            centres = whiten[0, ...] @ (coef[1:, :] - middle)  # (d, K)
            bias = coef[0, :] - 0.5 * xp.sum(centres * centres, axis=0)
            doubled = xp.permute_dims(2 * centres, (1, 0))
            relative = bias[:, None] + by_columns(xp, doubled, halved, "C")
            return relative, 2 * sums_in_turn(xp, halved * halved)
        means = xp.permute_dims(coef[1:, :], (1, 0))  # (K, d)
        if self._diagonal:
            eye = xp.eye(d, dtype=X.dtype, device=device(X))
            # W_k's diagonal, halved (below)
            scales = 0.5 * xp.sum(whiten * eye, axis=-1)[:, :, None]
            means = means[:, :, None]
        else:
            # about the mean of the means c, W_k (x - c) - W_k (m_k - c): W_k x
            # - W_k m_k cancelled features near 2000 (float32 gates 1.8e-4 off,
            # 5.7e-3 near 1e5; fitting centres them, predict does not)
            middle = xp.mean(coef[1:, :], axis=1, keepdims=True)  # (d, 1)
            if is_numpy_array(whiten):  # column-major, as by_columns hands
                # it to BLAS, once, not copied so in each block (8 experts, 64
                # features: predict 1.02x to 1.05x slower for 1e5 rows, 1.12x
                # for one)
                flat = np.reshape(whiten, (n_experts * d, d))
                stacked = np.multiply(flat, 0.5, order="F")
            else:
                stacked = xp.reshape(0.5 * whiten, (n_experts * d, d))
            centres = (means - xp.permute_dims(middle, (1, 0)))[:, :, None]
            offsets = xp.reshape(0.5 * whiten @ centres, (n_experts * d, 1))
        # z below is W_k (x - m_k) / 2, and its squares' sum doubled the same
        # floats as |W_k (x - m_k)|^2 / 2 (halving and doubling are exact),
        # where a |W_k (x - m_k)| of 1.34e154 to 1.9e154 overflowed its square
        # though the logit is a float (gate_log_density refused inputs there)
        step = max(1, LOGIT_BLOCK // max(n_experts * d, 1))
        if is_numpy_array(X) and (work is not None or n_samples > step):
            # in place, samples last, in work arrays (several blocks: a
            # single one, 1 to 1e3 rows, took 3-7% longer so)
            work = {} if work is None else work
            dtype = np.result_type(X, coef)
            if by_sample:  # (n, K) C-ordered, as argmax over K takes it fast
                relative = _work(work, "relative", (n_samples, n_experts), dtype).T
            else:
                relative = np.empty((n_experts, n_samples), dtype=dtype)
            bias = coef[0, :][:, None]
            for start in range(0, n_samples, step):
                stop = min(start + step, n_samples)
                part = X[:, start:stop]
                shape = (n_experts, d, stop - start)
                z = _work(work, "z", shape, dtype)
                if self._diagonal:  # (broadcast, the samples came outermost:
                    # a slow sum over short rows; now within 7e-16 of it)
                    np.subtract(part[None, :, :], means, out=z)
                    z *= scales
                else:
                    flat = np.reshape(z, (n_experts * d, stop - start))
                    by_columns(xp, stacked, part - middle, out=flat)
                    flat -= offsets
                square = np.multiply(z, z, out=z)
                if stop - start == 1:  # (a lone column: sums_in_turn's twins)
                    sums = sums_in_turn(xp, square, axis=1)
                else:  # (the same sum, into a C-ordered work array)
                    sums = _work(work, "sums", (n_experts, stop - start), dtype)
                    np.sum(square, axis=1, out=sums)
                sums *= 2
                np.subtract(bias, sums, out=relative[:, start:stop])
            return relative, None
        blocks = []
        for start in range(0, n_samples, step):
            part = X[:, start : min(start + step, n_samples)]  # the standard's bounds
            if not is_numpy_array(part):
                if self._diagonal:
                    z = scales * (part[None, :, :] - means)
                else:
                    z = by_columns(xp, stacked, part - middle) - offsets
                    z = xp.reshape(z, (n_experts, d, -1))
                square = z * z
            else:  # in place, samples last (1e6 rows: full 1.3x, diagonal 2.2-3x)
                if self._diagonal:  # (broadcast, the samples came outermost:
                    # a slow sum over short rows; now within 7e-16 of it)
                    shape = (n_experts, d, part.shape[1])
                    z = np.empty(shape, dtype=np.result_type(part, means))
                    np.subtract(part[None, :, :], means, out=z)
                    z *= scales
                else:
                    z = by_columns(xp, stacked, part - middle)
                    z -= offsets
                    z = np.reshape(z, (n_experts, d, -1))
                square = np.multiply(z, z, out=z)
            blocks.append(coef[0, :][:, None] - 2 * sums_in_turn(xp, square, axis=1))
        if len(blocks) == 1:
            return blocks[0], None
        if not blocks:  # no samples
            return xp.zeros((n_experts, 0), dtype=X.dtype, device=device(X)), None
        return xp.concat(blocks, axis=1), None

    def logits_by_sample(self, xp, design: Array, params: Params) -> Array:
        # for top-k routing, whose choice and weights do not see the quadratic
        # a tied covariance's logits share: as log_gate, without it
        relative = self._logit_parts(xp, design, params)[0]
        return xp.permute_dims(relative, (1, 0))

    def route(self, xp, design: Array, params: Params, k: int):
        """As :meth:`GateFamily.route`, the logits of each block of samples
        in work arrays kept across the blocks (on NumPy, more than one block:
        for one, 1 to 1e3 rows, the base's took 5-7% less time)."""
        if not is_numpy_array(design) or design.shape[1] <= _sparse.ROUTE_BLOCK:
            return super().route(xp, design, params, k)
        work = {}

        def route_block(block):
            relative = self._logit_parts(xp, block, params, work, True)[0]
            return route(xp, xp.permute_dims(relative, (1, 0)), k, overwrite=True)

        return route_in_blocks(xp, design, route_block)

    models_inputs = True
    penalized = False  # (its M-step is closed form; penalty is 0)

    def log_gate(self, xp, design: Array, params: Params) -> Array:
        # (the shared quadratic of a tied covariance cancels)
        relative = self._logit_parts(xp, design, params)[0]  # (a new array)
        return log_softmax(xp, relative, axis=0, out=relative)

    def log_gate_and_marginal(self, xp, design: Array, params: Params):
        """The gate and ``log p(x)`` from one evaluation of the logits (EM's
        E-step and objective need both: evaluated apart, the second took a
        quarter of an iteration)."""
        relative, shared = self._logit_parts(xp, design, params)
        log_gate, norm = log_softmax_and_norm(xp, relative, axis=0)
        if shared is not None:
            norm = norm - shared
        return log_gate, self._log_density(norm, design)

    def log_marginal(self, xp, design: Array, params: Params) -> Array:
        """``log p(x_i) = log sum_k a_k N(x_i; m_k, S_k)``, shape (n_samples,)."""
        return self.log_gate_and_marginal(xp, design, params)[1]

    @staticmethod
    def _log_density(norm, design):
        """``log p(x)`` from the log-sum-exp of the logits over the experts."""
        return norm - 0.5 * (design.shape[0] - 1) * math.log(2 * math.pi)

    def logits_gradient(self, xp, design: Array, dlogits: Array, params: Params):
        raise NotImplementedError(
            "the gaussian gate is fitted by EM only (closed-form M-steps)"
        )

    def penalty_gradient(self, xp, params: Params, alpha: float) -> Params:
        return {name: xp.zeros_like(value) for name, value in params.items()}

    def extrapolation_units(self, params: Params, rows: np.ndarray) -> dict:
        # the means (rows 1:) in the features' units, 1 / rows (row 0, the log
        # weights, in 1); a whitening matrix's column j in rows[j]
        return {"coef": (1.0 / rows)[:, None], "whiten": rows[None, None, 1:]}

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
        tight=False,
    ) -> Params:
        X = design[1:, :]
        n_experts = weighted_resp.shape[0]
        weights = xp.sum(weighted_resp, axis=1)
        tiny = float(xp.finfo(weights.dtype).smallest_normal)
        weights = xp.clip(weights, tiny, None)  # an expert no sample supports
        means = (X @ weighted_resp.T) / weights[None, :]  # (d, K)
        if not self._diagonal:  # (over cache-sized blocks on NumPy: 1.2x)
            covariances = weighted_grams(xp, X, weighted_resp, means)
            covariances = covariances / weights[:, None, None]
            spreads = 0.5 * (covariances + xp.permute_dims(covariances, (0, 2, 1)))
        else:  # the variances, (d,)
            spreads = []
            for k in range(n_experts):
                z = X - means[:, k][:, None]
                spreads.append((z * z) @ weighted_resp[k, :] / weights[k])
            spreads = xp.stack(spreads, axis=0)
        return self._from_moments(
            xp, _summing_to_one(xp, weights), means, spreads, prepared
        )

    online = True

    def statistics(self, xp, design, weighted_resp) -> Params:
        wide = widest_float(xp, design)  # float64 where the device has it
        X = xp.astype(design[1:, :], wide)
        weighted_resp = xp.astype(weighted_resp, wide)
        return {
            "weight": xp.sum(weighted_resp, axis=1),
            "first": weighted_resp @ X.T,  # (K, d)
            "second": xp.stack(  # (K, d, d)
                [
                    (X * weighted_resp[k, :][None, :]) @ X.T
                    for k in range(weighted_resp.shape[0])
                ]
            ),
        }

    def m_step_statistics(self, xp, statistics, params) -> Params:
        weight, first = statistics["weight"], statistics["first"]
        second = statistics["second"]
        d = first.shape[1]
        eye = xp.eye(d, dtype=first.dtype, device=device(first))
        # the loading, REG_COVAR of each feature's variance over all the experts
        total = xp.sum(weight)
        mean = xp.sum(first, axis=0) / total
        variance = xp.sum(xp.sum(second * eye, axis=-1), axis=0) / total - mean**2
        loading = REG_COVAR * xp.where(variance > 0, variance, xp.ones_like(variance))
        tiny = float(xp.finfo(weight.dtype).smallest_normal)
        weights = xp.clip(weight, tiny, None)
        means = first / weights[:, None]  # (K, d)
        covariances = second / weights[:, None, None] - (
            means[:, :, None] * means[:, None, :]
        )
        covariances = 0.5 * (covariances + xp.permute_dims(covariances, (0, 2, 1)))
        spreads = xp.sum(covariances * eye, axis=-1) if self._diagonal else covariances
        dtype = params["coef"].dtype
        fitted = self._from_moments(
            xp, weights, xp.permute_dims(means, (1, 0)), spreads, loading
        )
        return {name: xp.astype(value, dtype) for name, value in fitted.items()}

    def _from_moments(self, xp, weights, means, spreads, loading) -> Params:
        """The parameters of experts of shares ``weights`` (K,), ``means``
        (d, K) and ``spreads``: their variances (K, d) for a diagonal
        covariance type, else their covariances (K, d, d)."""
        d = means.shape[0]
        eye = xp.eye(d, dtype=means.dtype, device=device(means))
        if self._diagonal:
            variances = spreads + loading[None, :]  # (K, d)
            if self.covariance_type == "spherical" and d > 0:  # (none: no mean)
                variances = xp.mean(variances, axis=1, keepdims=True) + 0 * variances
            whiten = (1.0 / xp.sqrt(variances))[:, :, None] * eye[None, :, :]
        else:
            covariances = spreads
            if self.covariance_type == "tied":  # pooled within the experts
                shares = weights / xp.sum(weights)
                pooled = xp.sum(shares[:, None, None] * covariances, axis=0)
                covariances = pooled[None, :, :] + 0 * covariances
            whiten = _whitening(xp, covariances, loading)
        log_det = xp.sum(xp.log(xp.sum(whiten * eye, axis=-1)), axis=-1)  # of W_k
        bias = xp.log(weights) + log_det
        coef = xp.concat([bias[None, :], means], axis=0)
        return {"coef": coef, "whiten": whiten}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        return xp.sum(params["coef"][:0, 0])  # 0.0, in the parameters' namespace

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        """Free parameters of the gate as a function of x, for BIC and AIC of
        ``p(y | x)``: the logits ``log a_k N(x; m_k, S_k)`` are quadratic in x,
        and adding one quadratic to all of them leaves the gate unchanged, so
        each expert but one adds an intercept, D linear terms and the
        covariance form's quadratic terms (none when tied: the softmax gate's
        (K - 1)(D + 1)). The joint model has more (the density of x), which
        the likelihood of y given x does not see."""
        quadratic = {
            "full": n_features * (n_features + 1) // 2,
            "tied": 0,
            "diag": n_features,
            "spherical": 1 if n_features else 0,
        }[self.covariance_type]
        return (n_experts - 1) * (1 + n_features + quadratic)

    # -- between fitted attributes and parameters (host NumPy) ------------------

    attribute_names = (
        "gate_weights_",
        "gate_means_",
        "gate_covariances_",
        "gate_precisions_cholesky_",
    )

    def shift(self, xp, params: Params, offset: Array, sign: float = 1.0) -> Params:
        """Means for features centered at ``offset`` (``sign=-1``: back)."""
        coef = params["coef"]
        means = coef[1:, ...] - sign * offset[:, None]
        return dict(params, coef=xp.concat([coef[:1, ...], means], axis=0))

    def to_attributes(self, params: Params, columns, n_features: int) -> dict:
        """``gate_weights_`` (K,), ``gate_means_`` (K, d), and the covariances and
        the Cholesky factors of the precisions in GaussianMixture's shapes, from
        host parameters for the gate's features in their units.

        The factors (``W_k`` transposed, upper triangular: ``S_k^-1 = U_k
        U_k^T``, GaussianMixture's ``precisions_cholesky_``) are what predictions
        read; the covariances, ``W_k^-1 W_k^-T`` formed in float64, are for
        reading. (Factorizing stored float32 covariances again, ill-conditioned
        as the digits' are, failed: their rounding left them indefinite.)
        """
        coef, whiten = params["coef"], params["whiten"]
        log_det = np.sum(np.log(np.diagonal(whiten, axis1=1, axis2=2)), axis=1)
        log_weights = coef[0] - log_det
        weights = np.exp(log_weights - np.max(log_weights))
        factor = _cholesky_factor(whiten)  # lower, S_k = L L^T
        covariances = (factor @ np.swapaxes(factor, 1, 2)).astype(whiten.dtype)
        precisions_cholesky = np.swapaxes(whiten, 1, 2).copy()
        kind = self.covariance_type
        if kind == "tied":
            covariances, precisions_cholesky = covariances[0], precisions_cholesky[0]
        elif kind in ("diag", "spherical"):
            covariances = np.diagonal(covariances, axis1=1, axis2=2).copy()
            precisions_cholesky = np.diagonal(whiten, axis1=1, axis2=2).copy()
            if kind == "spherical":  # no features: ones, of no consequence
                ones = np.ones(len(whiten), dtype=whiten.dtype)
                d = whiten.shape[1]
                covariances = covariances[:, 0].copy() if d else ones
                precisions_cholesky = precisions_cholesky[:, 0].copy() if d else ones
        return {
            "gate_weights_": weights / np.sum(weights),
            "gate_means_": coef[1:].T.copy(),
            "gate_covariances_": covariances,
            "gate_precisions_cholesky_": precisions_cholesky,
        }

    def from_attributes(self, attributes: dict, columns) -> Params:
        """Host parameters from :meth:`to_attributes`' attributes."""
        weights = np.asarray(attributes["gate_weights_"])
        means = np.asarray(attributes["gate_means_"])
        factor = np.asarray(attributes["gate_precisions_cholesky_"])
        n_experts, d = means.shape
        eye = np.eye(d, dtype=factor.dtype)
        kind = self.covariance_type
        if kind == "full":
            whiten = np.swapaxes(factor, 1, 2)
        elif kind == "tied":
            whiten = np.broadcast_to(factor.T, (n_experts, d, d))
        elif kind == "diag":
            whiten = factor[:, :, None] * eye
        else:
            whiten = factor[:, None, None] * eye
        log_det = np.sum(np.log(np.diagonal(whiten, axis1=1, axis2=2)), axis=1)
        tiny = np.finfo(weights.dtype).smallest_normal
        bias = np.log(np.clip(weights, tiny, None)) + log_det
        coef = np.vstack([bias[None, :], means.T]).astype(factor.dtype, copy=False)
        return {"coef": coef, "whiten": np.ascontiguousarray(whiten)}

    def collapsed(self, xp, design: Array, sample_weight: Array, params: Params):
        """Indices of the experts whose covariance has collapsed: an eigenvalue,
        in units of the features' variances in the data, within
        ``COLLAPSE_FACTOR`` times the loading. Their samples share a value of a
        feature (a binary one, duplicated rows) or lie on a line, where the
        density, and the joint likelihood EM maximizes, are unbounded but for
        the loading. Constant features do not count."""
        X = design[1:, :]
        if X.shape[0] == 0 or X.shape[1] == 0:
            return np.zeros(0, dtype=np.intp)
        normalized = sample_weight / xp.sum(sample_weight)
        # over the rows of positive weight, as the fit (a feature constant but
        # for rows of weight 0 warned where dropping those rows did not)
        active = (sample_weight > 0)[None, :]
        highest = xp.max(xp.where(active, X, -xp.inf), axis=1)
        spread = to_numpy(highest - xp.min(xp.where(active, X, xp.inf), axis=1))
        varying = np.flatnonzero(spread > 0)
        if len(varying) == 0:
            return np.zeros(0, dtype=np.intp)
        centered = X - (X @ normalized)[:, None]
        data = to_numpy((centered * normalized[None, :]) @ centered.T)
        data = data.astype(np.float64)[varying][:, varying]
        scale = np.sqrt(np.diagonal(data))
        correlation = data / scale[:, None] / scale[None, :]
        # directions in which all the data lie flat (collinear features, x and
        # 2x) are no expert's collapse: every expert has only its loading
        # there, which moves all logits alike (each expert was flagged, where
        # the fit equals that on x alone)
        values, vectors = np.linalg.eigh(correlation)
        flat = values <= COLLAPSE_FACTOR * REG_COVAR
        spanned, null = vectors[:, ~flat], vectors[:, flat]
        if spanned.shape[1] == 0:
            return np.zeros(0, dtype=np.intp)
        # each expert's covariance in units of the features' variances, S~_k,
        # within the span V of the data: the smallest eigenvalue of V^T S~_k V
        # is one over the largest of its inverse, M_k^T M_k, where M_k is G_k V
        # less its projection on the range of G_k N (N: the flat directions),
        # and G_k = W_k D on the varying features (S~_k^-1 = G_k^T G_k: a
        # constant feature's covariances with the others are 0). G_k is at
        # most 1 / sqrt(the loading) on any scales: S~_k itself, spherical over
        # features 1e150 apart, overflowed (LinAlgError from eigvalsh) and lost
        # its smallest eigenvalue 1e50 apart (every expert flagged)
        whiten = np.asarray(to_numpy(params["whiten"]), dtype=np.float64)
        scaled = whiten[:, :, varying] * scale[None, None, :]  # G_k, (K, d, v)
        inverse = scaled @ spanned
        if null.shape[1] > 0:
            # entries of the flat directions within sqrt(eps) of 0 are
            # rounding, which G_k could scale past their true entries (1e-16
            # along a feature 1e150 apart took the projection's direction)
            tiny = math.sqrt(np.finfo(np.float64).eps)
            null = np.where(np.abs(null) > tiny, null, 0.0)
            basis = np.linalg.qr(scaled @ null)[0]
            inverse = inverse - basis @ (np.swapaxes(basis, 1, 2) @ inverse)
        largest = np.linalg.svd(inverse, compute_uv=False)[:, 0]
        threshold = math.sqrt(COLLAPSE_FACTOR * REG_COVAR)
        return np.flatnonzero(largest * threshold >= 1)


def _work(work: dict, name: str, shape: tuple, dtype) -> np.ndarray:
    """A C-ordered NumPy array of ``shape`` and ``dtype``, a view of the
    flat work array ``work[name]`` (made, or made larger, as needed): the
    gate's per-block temporaries, one per call or per :meth:`GaussianGate.route`,
    not one per block (at 1e6 rows, 1e5 to 2e5 page faults a call)."""
    size = math.prod(shape)
    flat = work.get(name)
    if flat is None or flat.size < size or flat.dtype != dtype:
        flat = work[name] = np.empty(size, dtype=dtype)
    return np.reshape(flat[:size], shape)


def _summing_to_one(xp, weights: Array) -> Array:
    """``weights`` divided by their sum where it is off one (EM passes weights
    that sum to one, with groups too: ``EMProblem.gate_fit_weight``). Weights
    that sum to one but for rounding are left as they are: a division by such
    a sum moved the last bits and, in float32, which restart a fit kept. Off
    by more than sqrt(eps) (1e-4 at most) counts as off one."""
    total = xp.sum(weights)
    tol = min(1e-4, math.sqrt(float(xp.finfo(weights.dtype).eps)))
    return xp.where(xp.abs(total - 1) > tol, weights / total, weights)  # no sync
