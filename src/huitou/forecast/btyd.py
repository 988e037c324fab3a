"""Buy-till-you-die models: BG/NBD for whether a customer is still buying and how often,
Gamma-Gamma for how much (Fader, Hardie and Lee 2005, "Counting your customers the easy
way" and "RFM and CLV"). Written with numpy and scipy; the tests hold them to the
`lifetimes` implementation on CDNOW.

A customer is (x, t_x, T): x repeat purchases (purchase days after the first), t_x the
time from the first purchase to the last, T the time from the first purchase to the
as-of date, in days. Fits take the customers grouped by these values with a count each
(`weights`), so a million customers cost what their distinct histories cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x), 0 for x = 0: the odds
        that a customer with this history has stopped."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = np.log(self.a) - np.log(self.b + x - 1) + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        return np.where(x > 0, np.exp(np.minimum(log_odds, 700.0)), 0.0)

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The probability that the customer is still active."""
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def expected_purchases(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Expected repeat purchases in the next t days, given the history."""
        from scipy.special import hyp2f1

        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        head = (a + b + x - 1) / (a - 1)
        tail = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        return head * tail / (1.0 + self._odds_dead(x, t_x, T))


@dataclass(frozen=True)
class Coded:
    """A column as its distinct values and each row's index into them: the special
    functions of the likelihoods run over the distinct values (a few hundred), not the
    rows (hundreds of thousands)."""

    values: np.ndarray
    index: np.ndarray

    @classmethod
    def of(cls, column: np.ndarray) -> Coded:
        values, index = np.unique(np.asarray(column, dtype=float), return_inverse=True)
        return cls(values, index.reshape(-1))

    def rows(self, per_value: np.ndarray) -> np.ndarray:
        return per_value[self.index]


def bgnbd_log_likelihood(
    params: np.ndarray, x: Coded, t_x: Coded, T: Coded, weights: np.ndarray, gradient: bool = False
) -> float | tuple[float, np.ndarray]:
    """The BG/NBD log-likelihood of the customers (weighted), params = (r, alpha, a, b);
    with `gradient`, also its derivatives by the four parameters."""
    from scipy.special import digamma, gammaln

    r, alpha, a, b = params
    xs = x.values
    by_x = np.bincount(x.index, weights, len(xs))  # the weight of each distinct x
    repeat = x.rows(xs > 0)
    rx = x.rows(r + xs)
    log_T, log_tx = T.rows(np.log(alpha + T.values)), t_x.rows(np.log(alpha + t_x.values))
    with np.errstate(divide="ignore"):
        log_b_x = np.log(np.maximum(b + xs - 1, 1e-300))
    a3 = -rx * log_T
    a4 = np.where(repeat, np.log(a) - x.rows(log_b_x) - rx * log_tx, -np.inf)
    mix = np.logaddexp(a3, a4)
    a12 = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(b + xs) - gammaln(b) - gammaln(a + b + xs)
    value = float(by_x @ a12 + weights @ mix)
    if not gradient:
        return value
    w3, w4 = weights * np.exp(a3 - mix), weights * np.exp(a4 - mix)  # each row's weight times its two terms' shares of the mixture
    inv_T, inv_tx = T.rows(1 / (alpha + T.values)), t_x.rows(1 / (alpha + t_x.values))
    d_r = by_x @ (digamma(r + xs) - digamma(r) + np.log(alpha)) - w3 @ log_T - w4 @ log_tx
    d_alpha = r / alpha * by_x.sum() - (w3 * inv_T) @ rx - (w4 * inv_tx) @ rx
    d_a = by_x @ (digamma(a + b) - digamma(a + b + xs)) + w4.sum() / a
    with np.errstate(divide="ignore"):
        inv_b_x = np.where(xs > 0, 1 / np.maximum(b + xs - 1, 1e-300), 0.0)
    d_b = by_x @ (digamma(a + b) + digamma(b + xs) - digamma(b) - digamma(a + b + xs)) - w4 @ x.rows(inv_b_x)
    return value, np.array([d_r, d_alpha, d_a, d_b])


WARM_START_ROWS = 20_000  # above this many rows, a fit on a sample of them gives the full fit its start


def _maximise(
    log_likelihood,
    columns: tuple[np.ndarray, ...],
    weights: np.ndarray,
    start: np.ndarray,
    coded: tuple[int, ...] = (),
) -> np.ndarray:
    """The parameters maximising log_likelihood(params, *columns, weights, gradient=True),
    searched over their logarithms (so they stay positive) by BFGS. Over many rows the
    search starts from the optimum of a fixed sample of them, so the full data is
    evaluated only for the last steps (the answer is the full data's optimum)."""
    from scipy.optimize import minimize

    def search(cols: tuple[np.ndarray, ...], w: np.ndarray, begin: np.ndarray) -> np.ndarray:
        total = w.sum()
        cols = tuple(Coded.of(c) if i in coded else c for i, c in enumerate(cols))  # type: ignore[misc]

        def loss(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            value, grad = log_likelihood(params, *cols, w, gradient=True)
            if not np.isfinite(value) or not np.all(np.isfinite(grad)):
                return 1e300, np.zeros_like(log_params)
            return -value / total, -grad * params / total  # d/d(log p) = p d/dp

        # Bounded (e^-15 .. e^15): on a shop where nobody stops buying, a and b of BG/NBD run
        # off to infinity together; the bound ends that walk where it no longer matters.
        result = minimize(
            loss,
            begin,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-15.0, 15.0)] * len(begin),
            options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2_000},
        )
        return result.x

    if len(weights) > WARM_START_ROWS:
        sample = np.random.default_rng(0).choice(len(weights), WARM_START_ROWS, replace=False, p=weights / weights.sum())
        start = search(tuple(c[sample] for c in columns), np.ones(WARM_START_ROWS), start)
    return np.exp(search(columns, weights, start))


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray | None = None) -> BgNbd:
    """The maximum-likelihood BG/NBD parameters (no penalty)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    scale = float(np.average(T, weights=weights)) or 1.0  # alpha is in days: start it at the histories' scale
    params = _maximise(bgnbd_log_likelihood, (x, t_x, T), weights, np.log([1.0, scale, 1.0, 1.0]), coded=(0, 1, 2))
    return BgNbd(*(float(v) for v in params))


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float

    def expected_value(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Expected spend per purchase of a customer with x repeat purchases of mean m;
        the population mean for x = 0."""
        x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
        population = self.p * self.v / (self.q - 1)
        with np.errstate(invalid="ignore"):
            given = self.p * (self.v + x * m) / (self.p * x + self.q - 1)
        return np.where(x > 0, given, population)


def gamma_gamma_log_likelihood(
    params: np.ndarray, x: Coded, m: np.ndarray, weights: np.ndarray, gradient: bool = False
) -> float | tuple[float, np.ndarray]:
    """The Gamma-Gamma log-likelihood (weighted), params = (p, q, v); with `gradient`, also
    its derivatives."""
    from scipy.special import digamma, gammaln

    p, q, v = params
    xs = x.values
    by_x = np.bincount(x.index, weights, len(xs))
    px = p * xs
    log_xm_v = np.log(x.rows(xs) * m + v)
    log_m = np.log(m)
    per_x = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + px * np.log(xs)
    value = float(by_x @ per_x + weights @ (x.rows(px - 1) * log_m - x.rows(px + q) * log_xm_v))
    if not gradient:
        return value
    wx = weights * x.rows(xs)
    d_p = by_x @ (xs * (digamma(px + q) - digamma(px) + np.log(xs))) + wx @ log_m - wx @ log_xm_v
    d_q = by_x @ (digamma(px + q) - digamma(q) + np.log(v)) - weights @ log_xm_v
    d_v = q / v * weights.sum() - weights @ (x.rows(px + q) / (x.rows(xs) * m + v))
    return value, np.array([d_p, d_q, d_v])


def fit_gamma_gamma(x: np.ndarray, m: np.ndarray, weights: np.ndarray | None = None) -> GammaGamma:
    """The maximum-likelihood Gamma-Gamma parameters over customers with x > 0 and m > 0."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = (x > 0) & (m > 0)
    x, m, weights = x[keep], m[keep], weights[keep]
    start = np.log([1.0, 1.0, float(np.average(m, weights=weights))])
    params = _maximise(gamma_gamma_log_likelihood, (x, m), weights, start, coded=(0,))
    return GammaGamma(*(float(v) for v in params))
