"""Repeat purchase as the shop counts it: by customer and by transaction, per period, per
lifecycle stage at the period's start, and by first-purchase cohort.

Purchases are paid orders (as in the features), dated by their local date, ordered by
time and then by their row in the file. Over a period [lo, hi]:

- by customer: of the customers who bought in the period, those with a purchase in it
  that was not their first ever (the whole history counts: a customer who bought before
  the period, or twice within it);
- by transaction: of the purchases in the period, those that were a customer's second or
  later purchase within the period (100 orders, 20 second and 10 third purchases: 30%).

The SQL is one sqlglot tree per question; the periods reach it as a VALUES relation.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from .. import i18n
from ..db import create_temp, date_literal, drop_table, tree
from ..feature_sql import lifecycle_sql
from ..i18n import _
from ..relation import Relation

EVERY = ("month", "week", "quarter")
FIRST_PURCHASE = "first_purchase"  # the stage of a buyer with no purchase before the period


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"rate": self.rate, "numerator": self.numerator, "denominator": self.denominator}


@dataclass(frozen=True)
class PeriodRates:
    period: str
    start: dt.date
    end: dt.date
    by_customer: Rate  # returning buyers / buyers
    by_transaction: Rate  # repeat purchases / purchases


@dataclass(frozen=True)
class Cohort:
    month: str  # the month of the cohort's first purchase, YYYY-MM
    customers: int
    again: list[Rate]  # month 1, 2, ...: the cohort's customers who bought in that month


@dataclass
class RepeatReport:
    start: dt.date
    end: dt.date
    every: str | None
    total: PeriodRates
    periods: list[PeriodRates] = field(default_factory=list)
    stages: list[tuple[str, str, PeriodRates]] = field(default_factory=list)  # (period, stage, rates)
    cohorts: list[Cohort] = field(default_factory=list)
    median_cycle_days: float | None = None
    warnings: list[str] = field(default_factory=list)


def periods(start: dt.date, end: dt.date, every: str | None) -> list[tuple[str, dt.date, dt.date]]:
    """(label, first day, last day) of each calendar period between start and end, clipped
    to them; one period for the whole range without `every`.

    >>> [p[0] for p in periods(dt.date(2026, 1, 15), dt.date(2026, 3, 2), "month")]
    ['2026-01', '2026-02', '2026-03']
    >>> periods(dt.date(2026, 11, 4), dt.date(2026, 11, 17), "week")[0]
    ('2026-W45', datetime.date(2026, 11, 4), datetime.date(2026, 11, 8))
    """
    if every is None:
        return [(f"{start}..{end}", start, end)]
    out = []
    day = start
    while day <= end:
        if every == "month":
            last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
            label = f"{day.year}-{day.month:02d}"
        elif every == "quarter":
            quarter = (day.month - 1) // 3
            last_month = quarter * 3 + 3
            last = dt.date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])
            label = f"{day.year}-Q{quarter + 1}"
        else:
            last = day + dt.timedelta(days=6 - day.weekday())
            year, week, _ = day.isocalendar()
            label = f"{year}-W{week:02d}"
        out.append((label, day, min(last, end)))
        day = min(last, end) + dt.timedelta(days=1)
    return out


def _periods_relation(spans: list[tuple[str, dt.date, dt.date]]) -> exp.Expr:
    rows = [(exp.Literal.string(label), date_literal(lo), date_literal(hi)) for label, lo, hi in spans]
    return exp.values(rows, alias="periods", columns=["period", "lo", "hi"])


# Every paid order with its rank in the customer's whole history and the date of the
# purchase before it: computed once per report into a temporary table (PURCHASES) that
# the stage, cohort and cycle queries read.
PURCHASES = "report_purchases"
_PURCHASES = """
    SELECT customer_id, local_date, ordered_at, _row,
           row_number() OVER w AS nth, lag(local_date) OVER w AS previous_date
    FROM :orders WHERE status = 'paid'
    WINDOW w AS (PARTITION BY customer_id ORDER BY ordered_at, _row)"""

# Purchases in each period, ranked within the period; a buyer's first purchase in the
# period carries what the lifecycle stage at the period's start is computed from: the
# purchases before it (nth - 1) and the date of the last of them.
_IN_PERIOD = """
    SELECT periods.period, periods.lo, x.customer_id, x.nth, x.previous_date,
           row_number() OVER (PARTITION BY periods.period, x.customer_id ORDER BY x.ordered_at, x._row) AS nth_in_period
    FROM :purchases x JOIN :periods ON x.local_date BETWEEN periods.lo AND periods.hi"""

# Each buyer's lifecycle stage as of the day before the period (the features' own CASE);
# a buyer is returning when they had bought before the period or bought twice in it. The
# stages partition the buyers, so their sums are the period's rates.
_STAGES = f"""
    WITH rows AS (
        SELECT period, customer_id, nth_in_period, nth - 1 AS order_count, previous_date AS last_order_date,
               date_diff('day', previous_date, lo - 1) AS days_since_last_order
        FROM ({_IN_PERIOD})),
    buyers AS (
        SELECT period, customer_id, coalesce(max(CASE WHEN nth_in_period = 1 THEN :stage END), :first) AS stage,
               count(*) AS purchases, count(*) FILTER (WHERE nth_in_period >= 2) AS repeats
        FROM rows GROUP BY period, customer_id)
    SELECT period, stage, count(*) AS buyers, count(*) FILTER (WHERE stage <> :first OR purchases >= 2) AS returning,
           sum(purchases) AS purchases, sum(repeats) AS repeats
    FROM buyers GROUP BY period, stage"""


def repeat_report(orders: Relation, start: dt.date, end: dt.date, every: str | None = None) -> RepeatReport:
    """The repeat-purchase rates of the loaded `orders` between start and end (inclusive)."""
    con = orders.con
    purchases = create_temp(con, PURCHASES, tree(_PURCHASES, orders=orders.table))
    spans = periods(start, end, every)
    try:
        report = _rates_and_stages(con, purchases, start, end, every, spans)
        report.cohorts, report.median_cycle_days = cohorts_and_cycle(con, purchases, start, end)
    finally:
        drop_table(con, purchases)
    shortest = min(((hi - lo).days + 1 for _, lo, hi in (spans if every else [("all", start, end)])), default=0)
    if report.median_cycle_days is not None and shortest < report.median_cycle_days:
        report.warnings.append(
            _(
                "the {span} ({days} days) is shorter than the customers' median purchase cycle ({cycle:.0f} days): "
                "many customers would not buy again within it even if they stay; read the rates over longer periods",
                span=_("shortest period") if every else _("range"),
                days=shortest,
                cycle=report.median_cycle_days,
            )
        )
    if not report.total.by_transaction.denominator:
        report.warnings.append(
            _("no purchases between {start} and {end}: there is nothing to count", start=i18n.said_date(start), end=i18n.said_date(end))
        )
    return report


def _rates_and_stages(
    con: duckdb.DuckDBPyConnection,
    purchases: exp.Expr,
    start: dt.date,
    end: dt.date,
    every: str | None,
    spans: list[tuple[str, dt.date, dt.date]],
) -> RepeatReport:
    """The rates of the range and of each period, as the sums of their stages' rates."""
    whole = ("all", start, end)
    relation = _periods_relation([whole, *spans] if every else [whole])
    # Each period's place and dates by its label: a weekly report over years has thousands.
    order = {label: (i, lo, hi) for i, (label, lo, hi) in enumerate([whole, *spans])}
    stage_sql = tree(_STAGES, purchases=purchases, periods=relation, stage=lifecycle_sql(), first=exp.Literal.string(FIRST_PURCHASE))
    sums: dict[str, list[int]] = {}
    stages = []
    for label, name, buyers, returning, purchased, repeats in con.execute(stage_sql.sql("duckdb")).fetchall():
        _, lo, hi = order[label]
        stages.append((label, name, PeriodRates(label, lo, hi, Rate(int(returning), int(buyers)), Rate(int(repeats), int(purchased)))))
        total = sums.setdefault(label, [0, 0, 0, 0])
        for k, value in enumerate((buyers, returning, purchased, repeats)):
            total[k] += int(value)

    def rates(label: str, lo: dt.date, hi: dt.date) -> PeriodRates:
        buyers, returning, purchased, repeats = sums.get(label, (0, 0, 0, 0))
        return PeriodRates(label, lo, hi, Rate(returning, buyers), Rate(repeats, purchased))

    report = RepeatReport(start, end, every, rates(*whole), [rates(*s) for s in spans] if every else [])
    report.stages = sorted(stages, key=lambda s: (order[s[0]][0], _STAGE_ORDER.get(s[1], 99)))
    return report


_STAGE_ORDER = {FIRST_PURCHASE: 0, "new": 1, "active": 2, "cooling": 3, "dormant_high": 4, "dormant_low": 5, "lost": 6}


# One pass over each customer's purchases feeds both the cohorts and the purchase cycle:
# the first purchase ever, and up to `end` the last purchase day and the purchase days.
_COHORTS_AND_CYCLE = """
    WITH buyers AS MATERIALIZED (
        SELECT customer_id, min(local_date) AS first_date, max(local_date) FILTER (WHERE local_date <= :end) AS last_date,
               count(*) FILTER (WHERE local_date <= :end AND local_date IS DISTINCT FROM previous_date) AS days  -- purchase days: dates rise with nth
        FROM :purchases GROUP BY customer_id),
    cohort AS (
        SELECT customer_id, CAST(date_trunc('month', first_date) AS DATE) AS month FROM buyers
        WHERE first_date BETWEEN CAST(date_trunc('month', :start) AS DATE) AND :end),
    later AS (
        SELECT DISTINCT o.customer_id, c.month,
               CAST((year(o.local_date) - year(c.month)) * 12 + month(o.local_date) - month(c.month) AS BIGINT) AS k
        FROM :purchases o JOIN cohort c ON o.customer_id = c.customer_id WHERE o.local_date <= :end)
    SELECT strftime(month, '%Y-%m') AS cohort, CAST(0 AS BIGINT) AS k, count(*) AS n, NULL AS cycle FROM cohort GROUP BY month
    UNION ALL
    SELECT strftime(month, '%Y-%m') AS cohort, k, count(*) AS n, NULL AS cycle FROM later WHERE k >= 1 GROUP BY month, k
    UNION ALL
    SELECT NULL, NULL, NULL, median(date_diff('day', first_date, last_date) / (days - 1)) FROM buyers WHERE days >= 2"""


def cohorts_and_cycle(con: duckdb.DuckDBPyConnection, purchases: exp.Expr, start: dt.date, end: dt.date) -> tuple[list[Cohort], float | None]:
    """Monthly first-purchase cohorts from start's month to end's - the share of each that
    bought again in month 1, 2, ... after its first (up to the end of the range) - and the
    median over customers with purchases on two days or more (up to `end`) of their
    average days between purchase days: the feature purchase_cycle_days."""
    sql = tree(_COHORTS_AND_CYCLE, purchases=purchases, start=date_literal(start), end=date_literal(end)).sql("duckdb")
    sizes: dict[str, int] = {}
    again: dict[str, dict[int, int]] = {}
    cycle = None
    for month, k, count, median in con.execute(sql).fetchall():
        if month is None:
            cycle = float(median) if median is not None else None
        elif k == 0:
            sizes[month] = int(count)
        else:
            again.setdefault(month, {})[int(k)] = int(count)
    out = []
    for month in sorted(sizes):
        year, mon = map(int, month.split("-"))
        horizon = (end.year - year) * 12 + end.month - mon  # months after the cohort's that the range reaches
        out.append(Cohort(month, sizes[month], [Rate(again.get(month, {}).get(k, 0), sizes[month]) for k in range(1, horizon + 1)]))
    return out, cycle
