"""Log-gammas in decimal arithmetic of any precision: references for the
count families' log-probabilities, whose float64 terms cancel (terms of 7e302
at counts of 1e300); and a fitted mixture's log gate weights and log means in
mpmath, for its moments at rows where the floats underflow or overflow."""

import functools
from decimal import Decimal, localcontext
from fractions import Fraction

#: B_2j / (2j (2j - 1)): Stirling's series of log Gamma, to x^-15.
_SERIES = (
    Fraction(1, 12),
    Fraction(-1, 360),
    Fraction(1, 1260),
    Fraction(-1, 1680),
    Fraction(1, 1188),
    Fraction(-691, 360360),
    Fraction(1, 156),
    Fraction(-3617, 122400),
)


@functools.cache
def _half_log_2pi(digits):
    """``log(2 pi) / 2`` to ``digits`` digits."""
    with localcontext() as context:
        context.prec = digits + 10
        return (2 * _pi()).ln() / 2


def _pi():
    """pi by Machin's formula, 16 atan(1/5) - 4 atan(1/239), at the context's
    precision."""

    def atan_inverse(n):
        total, term, k, square = Decimal(0), Decimal(1) / n, 0, n * n
        while term:
            total += term / (2 * k + 1) * (-1) ** k
            term /= square
            k += 1
        return total

    return 16 * atan_inverse(5) - 4 * atan_inverse(239)


def log_gamma(x, digits=400):
    """``log Gamma(x)`` of a positive ``x`` (float, int or Decimal, taken
    exactly), as a Decimal of ``digits`` digits: shifted up by ``log
    Gamma(x) = log Gamma(x + 1) - log(x)`` to 1e4 (so that differences
    over steps in x far below 1e-27 see a smooth function), then Stirling's
    series, whose first omitted term is below 1e-68 there."""
    with localcontext() as context:
        context.prec = digits
        x = Decimal(x)
        product = Decimal(1)
        while x < 10000:
            product *= x
            x += 1
        total = (x - Decimal("0.5")) * x.ln() - x + _half_log_2pi(digits)
        for j, c in enumerate(_SERIES, start=1):
            total += Decimal(c.numerator) / Decimal(c.denominator) / x ** (2 * j - 1)
        return total - product.ln()


def nb_logpmf(y, mean, theta, digits=400):
    """The negative binomial log-probability of the count ``y`` at ``mean``
    and ``theta = 1 / phi``, as a Decimal, from exact log-gammas."""
    with localcontext() as context:
        context.prec = digits
        y, mean, theta = Decimal(y), Decimal(mean), Decimal(theta)
        out = log_gamma(y + theta, digits) - log_gamma(theta, digits)
        out -= log_gamma(y + 1, digits)
        out += theta * (theta / (theta + mean)).ln()
        if y > 0:
            out += y * (mean / (theta + mean)).ln()
        return out


def poisson_logpmf(y, mean, digits=400):
    """The Poisson log-probability of the count ``y`` at ``mean``, as a
    Decimal."""
    with localcontext() as context:
        context.prec = digits
        y, mean = Decimal(y), Decimal(mean)
        out = -mean - log_gamma(y + 1, digits)
        return out + (y * mean.ln() if y > 0 else 0)


def mixture_logs(model, row):
    """One row's log gate weights and experts' log means in mpmath, at its
    current precision, from ``model``'s fitted parameters taken exactly.

    The log weights are the softmax gate's ``gate_intercept_ + gate_coef_ x``
    less their log-sum-exp; the log means ``expert_intercept_ + expert_coef_
    x`` (log link, no exposure). Returns two lists of ``mpf``, one entry an
    expert.
    """
    import mpmath

    x = [mpmath.mpf(float(v)) for v in row]

    def linear(intercepts, coefs):
        return [
            mpmath.mpf(float(b))
            + sum(mpmath.mpf(float(c)) * v for c, v in zip(a, x, strict=True))
            for b, a in zip(intercepts, coefs, strict=True)
        ]

    logits = linear(model.gate_intercept_, model.gate_coef_)
    total = mpmath.log(sum(mpmath.exp(g) for g in logits))
    log_weights = [g - total for g in logits]
    return log_weights, linear(model.expert_intercept_, model.expert_coef_)
