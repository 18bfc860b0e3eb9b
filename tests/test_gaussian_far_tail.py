"""Gaussian mixtures' cdf and quantiles where the tail is a subnormal float.

scipy's ndtr gives 0 below z = -37.68, where the standard normal's distribution
function is still a subnormal float (down to 5e-324 at z = -38.47). The
references are mpmath's, at 40 digits.
"""

import mpmath
import numpy as np
import pytest

from skmoe import PredictiveMixture, PredictiveStudentTMixture

WEIGHTS, MEANS, SCALES = [[0.3, 0.7]], [[2.0, 5.0]], [[0.5, 1.0]]


def _mixture_cdf(y):
    """mpmath's cdf of the mixture at ``y`` (weights as the floats hold them)."""
    terms = zip(WEIGHTS[0], MEANS[0], SCALES[0], strict=True)
    y = mpmath.mpf(y)
    return mpmath.fsum(mpmath.mpf(w) * mpmath.ncdf((y - m) / s) for w, m, s in terms)


def _mixture_ppf(q, start):
    """mpmath's root of cdf(y) = q, solved in logarithms from ``start``."""
    with mpmath.workdps(40):
        log_q = mpmath.log(mpmath.mpf(q))
        return mpmath.findroot(lambda y: mpmath.log(_mixture_cdf(y)) - log_q, start)


@pytest.mark.parametrize("q", [1e-310, 1e-315, 1e-320, 1e-323, 5e-324])
def test_mixture_quantiles_of_subnormal_probabilities(q):
    # quantiles of q below 1e-310 stopped at -32.68, where the component of
    # mean 5 reached ndtr's 0 (its cdf 4e-311): -32.96 for 1e-315
    got = PredictiveMixture(WEIGHTS, MEANS, SCALES).ppf(q)[0]
    expected = float(_mixture_ppf(q, -33.0))
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("q", [1e-315, 1e-323, 5e-324])
def test_one_component_quantiles_of_subnormal_probabilities(q):
    with mpmath.workdps(40):
        log_q = mpmath.log(mpmath.mpf(q))
        expected = mpmath.findroot(lambda y: mpmath.log(mpmath.ncdf(y)) - log_q, -38)
    got = PredictiveMixture([[1.0]], [[0.0]], [[1.0]]).ppf(q)[0]
    assert got == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("y", [-37.8, -38.0, -38.3])
def test_cdf_and_sf_where_the_tail_is_subnormal(y):
    # ndtr's 0 there (2.9e-316 at z = -38)
    with mpmath.workdps(40):
        expected = float(mpmath.ncdf(y))
    assert expected > 0
    dist = PredictiveMixture([[1.0]], [[0.0]], [[1.0]])
    # subnormal results keep fewer digits: within two of their spacings
    tolerance = 2 * 5e-324 + 1e-12 * expected
    assert dist.cdf(y)[0] == pytest.approx(expected, rel=0, abs=tolerance)
    assert dist.sf(-y)[0] == pytest.approx(expected, rel=0, abs=tolerance)
    gaussian_t = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df=np.inf)
    assert gaussian_t.cdf(y)[0] == pytest.approx(expected, rel=0, abs=tolerance)


@pytest.mark.parametrize("q", [1e-315, 1e-320, 1e-323, 5e-324])
def test_gaussian_components_of_student_t_mixture_far_out(q):
    # infinite df: the Gaussian cdf, ndtr's 0 there as well (-32.68 for 1e-315),
    # and its mass summed in subnormal floats (-33.2598044 for -33.2598104 at
    # q = 1e-320), where the Gaussian mixture's is taken from logarithms
    dist = PredictiveStudentTMixture(WEIGHTS, MEANS, SCALES, df=np.inf)
    expected = float(_mixture_ppf(q, -33.0))
    assert dist.ppf(q)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("df", [None, np.inf])
def test_quantile_of_a_normal_tail_beside_a_component_ndtr_loses(df):
    # q = 3e-308 (a normal float, so no logarithms): the light component of
    # mean 0 reaches q at y = -37.39, where the heavy one of mean 0.3 (z =
    # -37.69) holds 1.3e-3 of the mass, a subnormal cdf that ndtr gives as 0;
    # the quantile without it was 3.4e-5 off mpmath's
    weights, means, scales = [[0.01, 0.99]], [[0.0, 0.3]], [[1.0, 1.0]]
    q = 3e-308

    def cdf(y):
        terms = zip(weights[0], means[0], scales[0], strict=True)
        return mpmath.fsum(
            mpmath.mpf(w) * mpmath.ncdf((y - m) / s) for w, m, s in terms
        )

    with mpmath.workdps(40):
        log_q = mpmath.log(mpmath.mpf(q))
        expected = mpmath.findroot(lambda y: mpmath.log(cdf(y)) - log_q, -37.4)
        # (the case: the heavy component's share of the mass there)
        heavy = mpmath.mpf(weights[0][1]) * mpmath.ncdf(expected - means[0][1])
        assert 1e-3 < heavy / q < 2e-3
    if df is None:
        dist = PredictiveMixture(weights, means, scales)
    else:
        dist = PredictiveStudentTMixture(weights, means, scales, df=df)
    assert dist.ppf(q)[0] == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("mean", [1e308, 1.5e308])
@pytest.mark.parametrize("q", [1e-310, 1e-318, 5e-324])
def test_subnormal_quantile_where_the_offset_from_the_mean_overflows(mean, q):
    # N(mean, 5e306): the quantile of a subnormal q lies 37.7 to 38.5 scales
    # (1.9e308) below the mean, an offset y - mean beyond the floats, taken
    # from its half. Expected: mpmath's root, at 40 digits
    scale = 5e306
    with mpmath.workdps(40):
        log_q = mpmath.log(mpmath.mpf(q))
        z = mpmath.findroot(lambda z: mpmath.log(mpmath.ncdf(z)) - log_q, -38)
        expected = float(mpmath.mpf(mean) + z * mpmath.mpf(scale))
    got = PredictiveMixture([[1.0]], [[mean]], [[scale]]).ppf(q)[0]
    assert got == pytest.approx(expected, rel=1e-12)
