"""The fit check behind `huitou forecast`: fit the models on the history up to a
calibration date, predict each customer's repeat purchase days in the holdout period that
follows (up to the as-of date), and set the predictions beside what the customers did,
by how many times they had bought again before."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from ..db import date_literal, tree
from ..relation import Relation
from .fit import Forecast, fit

BUCKETS = 7  # repeat purchases 0, 1, ..., 6, and 7 or more

# Each customer known at the calibration date: the history then, and the purchase days in
# the holdout period after it.
_ACTUAL = """
    SELECT h.x, h.t_x, h.T, coalesce(a.days, 0) AS actual FROM :history
    LEFT JOIN (SELECT customer_id, count(DISTINCT local_date) AS days FROM :orders
               WHERE status = 'paid' AND local_date > :calibrated AND local_date <= :as_of GROUP BY customer_id) a USING (customer_id)"""


@dataclass(frozen=True)
class Bucket:
    label: str
    customers: int
    actual: float  # mean purchase days per customer in the holdout period
    predicted: float


@dataclass
class FitCheck:
    calibrated: dt.date
    as_of: dt.date
    forecast: Forecast
    buckets: list[Bucket] = field(default_factory=list)
    actual: int = 0
    predicted: float = 0.0

    @property
    def error(self) -> float | None:
        """(predicted - actual) / actual over all the customers."""
        return (self.predicted - self.actual) / self.actual if self.actual else None


def fit_check(orders: Relation, as_of: dt.date, holdout_days: int) -> FitCheck:
    """The models fitted `holdout_days` before as_of, against what the loaded `orders` show after."""
    con, calibrated = orders.con, as_of - dt.timedelta(days=holdout_days)
    check = FitCheck(calibrated, as_of, fit(orders, calibrated))
    model = check.forecast.model
    if model is None:
        return check
    assert check.forecast.history is not None
    sql = tree(
        _ACTUAL, orders=orders.table, history=check.forecast.history.copy(), calibrated=date_literal(calibrated), as_of=date_literal(as_of)
    ).sql("duckdb")
    rows = con.execute(sql).fetchnumpy()
    x, t_x, T, actual = (np.asarray(rows[k], dtype=float) for k in ("x", "t_x", "T", "actual"))
    predicted = model.expected_purchases(float(holdout_days), x, t_x, T)
    check.actual, check.predicted = int(actual.sum()), float(predicted.sum())
    for k in range(BUCKETS + 1):
        mask = x >= k if k == BUCKETS else x == k
        if mask.any():
            label = f"{k}+" if k == BUCKETS else str(k)
            check.buckets.append(Bucket(label, int(mask.sum()), float(actual[mask].mean()), float(predicted[mask].mean())))
    return check
