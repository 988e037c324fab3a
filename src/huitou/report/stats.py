"""The statistics of a treated-against-holdout comparison, from statsmodels.

- Conversion (a share): the difference of two independent proportions, its 95% interval
  and p-value by the Agresti-Caffo method (Wald after adding one conversion and one
  non-conversion to each group), which keeps its coverage for small and extreme rates,
  0 of n included, where the plain Wald interval does not.
- Means per customer (purchases, revenue): Welch's difference of means (unequal
  variances), unadjusted and CUPED-adjusted: Y - theta * (X - mean X), X the customer's
  value before the message, theta = cov(X, Y) / var(X) over both groups (Deng et al.
  2013). The adjustment removes the part of Y that the past predicts, so the interval
  narrows while the estimate stays unbiased (X is fixed before assignment).
- Before launch: the minimum detectable uplift in conversion at 80% power and 5%
  two-sided significance, from the power of the arcsine-transformed difference.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.8
MIN_PER_ARM = 100  # fewer customers in either group: no verdict, only the counts


@dataclass(frozen=True)
class Difference:
    """Treated minus holdout, with its 95% interval and two-sided p-value."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def spans_zero(self) -> bool:
        return self.ci_low <= 0 <= self.ci_high

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value}

    def scaled(self, factor: float) -> Difference:
        """Per customer -> in all (times the treated customers)."""
        return Difference(self.estimate * factor, self.ci_low * factor, self.ci_high * factor, self.p_value)


def preload() -> None:
    """Import the statsmodels parts used here (about a second): a caller with a thread to
    spare does it while other work runs."""
    import statsmodels.stats.power  # noqa: F401
    import statsmodels.stats.proportion  # noqa: F401
    import statsmodels.stats.weightstats  # noqa: F401


def proportion_difference(converted_t: int, n_t: int, converted_h: int, n_h: int) -> Difference | None:
    """The difference of conversion rates; None when a group is empty."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    if not n_t or not n_h:
        return None
    low, high = confint_proportions_2indep(converted_t, n_t, converted_h, n_h, method="agresti-caffo", compare="diff", alpha=ALPHA)
    with warnings.catch_warnings():  # statsmodels also divides the raw rates for a ratio: 0/0 warns, and is not used
        warnings.simplefilter("ignore", RuntimeWarning)
        test = test_proportions_2indep(converted_t, n_t, converted_h, n_h, method="agresti-caffo", compare="diff")
    p_value = float(test.pvalue)
    return Difference(converted_t / n_t - converted_h / n_h, float(low), float(high), p_value)


def mean_difference(y_t: np.ndarray, y_h: np.ndarray) -> Difference | None:
    """Welch's difference of means; None when a group has fewer than two customers."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    if len(y_t) < 2 or len(y_h) < 2:
        return None
    compare = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_h))
    estimate = float(np.mean(y_t) - np.mean(y_h))
    if np.var(y_t) == 0 and np.var(y_h) == 0:  # no spread at all: the difference is exact
        return Difference(estimate, estimate, estimate, 1.0 if estimate == 0 else 0.0)
    low, high = compare.tconfint_diff(alpha=ALPHA, usevar="unequal")
    _, p_value, _ = compare.ttest_ind(usevar="unequal")
    return Difference(estimate, float(low), float(high), float(p_value))


def cuped(y_t: np.ndarray, x_t: np.ndarray, y_h: np.ndarray, x_h: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(adjusted treated, adjusted holdout, theta): Y - theta (X - mean X) over both groups.
    theta is 0 when X does not vary (nothing to adjust by)."""
    y = np.concatenate([y_t, y_h])
    x = np.concatenate([x_t, x_h])
    var = float(np.var(x))
    theta = float(np.mean((x - x.mean()) * (y - y.mean())) / var) if var > 0 else 0.0
    mean_x = float(x.mean()) if len(x) else 0.0
    return y_t - theta * (x_t - mean_x), y_h - theta * (x_h - mean_x), theta


def minimum_detectable_uplift(baseline: float, n_treated: int, n_holdout: int) -> float | None:
    """The smallest rise in conversion over `baseline` that a test of these group sizes
    detects with 80% power at 5% (two-sided); None when a group is empty or no rise up
    to 100% is detectable. Cohen's h of statsmodels' NormalIndPower, solved here with the
    standard library: `huitou plan` sizes every holdout, and importing statsmodels cost a
    second of a dry run. At the uplift given, statsmodels' power formula is 80% to 1e-12
    (tests/test_effect.py); its own solve_power stops up to 1e-5 short of that."""
    if n_treated < 2 or n_holdout < 2 or not 0 <= baseline < 1:
        return None
    h = _detectable_h(n_treated * n_holdout / (n_treated + n_holdout))
    # Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)), solved for p1.
    angle = math.asin(math.sqrt(baseline)) + h / 2
    if angle >= math.pi / 2:
        return None
    return math.sin(angle) ** 2 - baseline


def _detectable_h(n: float) -> float:
    """The effect size h at which a two-sided z-test over `n` effective observations
    (n1 n2 / (n1 + n2)) has POWER at ALPHA: Newton's method on
    P(Z > c - h sqrt(n)) + P(Z < -c - h sqrt(n)) = POWER, from the one-sided answer."""
    from statistics import NormalDist  # noqa: PLC0415 - only when a plan is sized

    normal = NormalDist()
    crit, root = normal.inv_cdf(1 - ALPHA / 2), math.sqrt(n)
    h = (crit + normal.inv_cdf(POWER)) / root
    for _ in range(50):
        shift = h * root
        gap = (1 - normal.cdf(crit - shift)) + normal.cdf(-crit - shift) - POWER
        slope = root * (normal.pdf(crit - shift) - normal.pdf(-crit - shift))
        step = gap / slope
        h -= step
        if abs(step) < 1e-15 * max(1.0, abs(h)):
            break
    return h
