"""The next purchase, from the shop's own history: BG/NBD and Gamma-Gamma (btyd.py) fitted
on the loaded orders as of a date, and scored per customer as a relation the features
join (p_alive, expected_orders_90d, expected_spend_90d).

The unit of purchase is the purchase day, as in the features: x = purchase_days - 1,
t_x = days from the first purchase day to the last, T = days from the first to the as-of
date; m = the mean spend of the repeat purchase days (the first day left out, as Fader,
Hardie and Lee do). Customers without a purchase get no row (their features are NULL).

The SQL computes the histories and the scores; Python only fits (on the histories
grouped by value) and evaluates the hypergeometric term of the expected purchases over
the distinct (x, T) pairs, a lookup the scoring query joins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
from sqlglot import exp

from .. import profile
from ..db import create_temp, date_literal, register_columns, tree
from ..i18n import N_, _, said_date
from ..relation import Relation
from . import MIN_CUSTOMERS, MIN_REPEAT_BUYERS
from .btyd import BgNbd, GammaGamma, fit_bgnbd, fit_gamma_gamma

HORIZON_DAYS = 90  # expected_orders_90d, expected_spend_90d
FORECAST = "customer_forecast"  # the scored relation (a temporary table of the session)

# Per customer: the history the models read, from the purchase days up to :as_of.
_HISTORY = """
    WITH days AS (
        SELECT customer_id, local_date, sum(amount) AS spend FROM :orders
        WHERE status = 'paid' AND local_date <= :as_of GROUP BY customer_id, local_date)
    SELECT customer_id, count(*) - 1 AS x, date_diff('day', min(local_date), max(local_date)) AS t_x,
           date_diff('day', min(local_date), :as_of) AS T,
           CAST((sum(spend) - arg_min(spend, local_date)) / nullif(count(*) - 1, 0) AS DOUBLE) AS m
    FROM days GROUP BY customer_id"""


@dataclass
class Forecast:
    as_of: dt.date
    customers: int
    repeat_buyers: int
    model: BgNbd | None = None
    spend: GammaGamma | None = None
    problem: str | None = None  # why there is no fit (the features are NULL)
    history: exp.Expr | None = None  # the histories as of as_of: a temporary table (history())


def history(orders: Relation, as_of: dt.date) -> exp.Expr:
    """The per-customer histories as of `as_of` (customer_id, x, t_x, T, m) from the loaded
    `orders`, computed once into a temporary table of their connection; returned as that
    table, aliased `h`."""
    query = tree(_HISTORY, orders=orders.table, as_of=date_literal(as_of))
    table = create_temp(orders.con, f"forecast_history_{as_of:%Y%m%d}", query)
    return exp.alias_(table, "h", table=True)


def fit(orders: Relation, as_of: dt.date, spend: bool = True) -> Forecast:
    """Fit the models on the histories as of `as_of` (of the loaded `orders`): BG/NBD, and
    Gamma-Gamma when `spend` (expected_spend_90d is NULL without it); a Forecast with
    `problem` set when the shop is too small to say anything."""
    con = orders.con
    histories = history(orders, as_of)
    grouped = con.execute(tree("SELECT x, t_x, T, count(*) AS n FROM :history GROUP BY ALL", history=histories.copy()).sql("duckdb")).fetchnumpy()
    x, t_x, T, n = (np.asarray(grouped[k], dtype=float) for k in ("x", "t_x", "T", "n"))
    customers, repeat = int(n.sum()), int(n[x > 0].sum())
    profile.lap(N_("purchase histories"), lambda: len(n), N_("distinct histories"))
    out = Forecast(as_of, customers, repeat, history=histories)
    if customers < MIN_CUSTOMERS or repeat < MIN_REPEAT_BUYERS:
        out.problem = _(
            "too few customers to fit the purchase models as of {as_of}: {customers:,} with a purchase and {repeat:,} who bought again on "
            "another day (at least {least} and {least_repeat} are needed); p_alive, expected_orders_90d and expected_spend_90d are empty",
            as_of=said_date(as_of),
            customers=customers,
            repeat=repeat,
            least=MIN_CUSTOMERS,
            least_repeat=MIN_REPEAT_BUYERS,
        )
        return out
    out.model = fit_bgnbd(x, t_x, T, n)
    profile.lap(N_("BG/NBD fit"))
    if not spend:
        return out
    repeat_rows = con.execute(tree("SELECT x, m FROM :history WHERE x > 0 AND m > 0", history=histories.copy()).sql("duckdb")).fetchnumpy()
    if len(repeat_rows["x"]) >= MIN_REPEAT_BUYERS:
        out.spend = fit_gamma_gamma(np.asarray(repeat_rows["x"], dtype=float), np.asarray(repeat_rows["m"], dtype=float))
    profile.lap(N_("Gamma-Gamma fit"), lambda: len(repeat_rows["x"]), N_("repeat buyers"))
    return out


def _num(value: float) -> exp.Expr:
    return exp.Literal.number(repr(float(value)))


# The scores per customer: p_alive and the expected purchases in closed form, with the
# hypergeometric term looked up by (x, T); the spend per purchase from Gamma-Gamma. The
# fitted parameters come in as a one-row VALUES relation `f`.
_SCORES = """
    SELECT customer_id, p_alive, expected_orders AS expected_orders_90d, expected_orders * spend_per_order AS expected_spend_90d FROM (
        SELECT h.customer_id, 1 / (1 + odds_dead) AS p_alive,
               (f.a + f.b + h.x - 1) / (f.a - 1) * (1 - pow((f.alpha + h.T) / (f.alpha + h.T + f.t), f.r + h.x) * k.hyp) / (1 + odds_dead) AS expected_orders,
               CASE WHEN h.x > 0 AND h.m >= 0 THEN f.p * (f.v + h.x * h.m) / (f.p * h.x + f.q - 1) ELSE f.p * f.v / (f.q - 1) END AS spend_per_order
        FROM (SELECT h.*, CASE WHEN h.x > 0 THEN f.a / (f.b + h.x - 1) * pow((f.alpha + h.T) / (f.alpha + h.t_x), f.r + h.x) ELSE 0 END AS odds_dead
              FROM :history CROSS JOIN :params) h
        CROSS JOIN :params JOIN forecast_hyp k ON k.x = h.x AND k.T = h.T)"""


_NO_SCORES = """
    SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS DOUBLE) AS p_alive, CAST(NULL AS DOUBLE) AS expected_orders_90d,
           CAST(NULL AS DOUBLE) AS expected_spend_90d
    WHERE false"""


def score(con: duckdb.DuckDBPyConnection, forecast: Forecast) -> exp.Expr:
    """CREATE the scored relation and return it as a table expression: one row per customer
    with a purchase (customer_id, p_alive, expected_orders_90d, expected_spend_90d); no
    rows when there is no fit."""
    from scipy.special import hyp2f1

    if forecast.model is None:  # no fit: no rows, the columns typed
        return create_temp(con, FORECAST, tree(_NO_SCORES))
    m, t = forecast.model, float(HORIZON_DAYS)
    assert forecast.history is not None, "scored after history()"
    pairs = con.execute(tree("SELECT DISTINCT x, T FROM :history", history=forecast.history.copy()).sql("duckdb")).fetchnumpy()
    x, T = np.asarray(pairs["x"], dtype=float), np.asarray(pairs["T"], dtype=float)
    hyp = hyp2f1(m.r + x, m.b + x, m.a + m.b + x - 1, t / (m.alpha + T + t))
    register_columns(con, "forecast_hyp", {"x": np.asarray(pairs["x"]), "T": np.asarray(pairs["T"]), "hyp": hyp})
    try:
        s = forecast.spend  # no spend model (too few repeat buyers with a spend): expected_spend_90d is NULL
        values = [_num(v) for v in (m.r, m.alpha, m.a, m.b, t)] + [
            _num(getattr(s, k)) if s else exp.cast(exp.Null(), "DOUBLE") for k in ("p", "q", "v")
        ]
        params = exp.values([tuple(values)], alias="f", columns=["r", "alpha", "a", "b", "t", "p", "q", "v"])
        scores = create_temp(con, FORECAST, tree(_SCORES, history=forecast.history.copy(), params=params))
        profile.lap(N_("purchase model scores"), lambda: forecast.customers, N_("customers"))
        return scores
    finally:
        con.unregister("forecast_hyp")
