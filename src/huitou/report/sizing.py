"""Before launch: how big an uplift each rule's holdout can detect.

For every rule with holdout rows in a plan, the minimum detectable uplift in conversion
(stats.minimum_detectable_uplift: 80% power, 5% two-sided) for its treated and held-out
customers. The baseline conversion is the shop's, from the data: of the customers who
had bought before the last W days (W the rule's attribution window), the share who
bought within those W days - how often a known customer buys in a window that long,
with no message at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..db import date_literal, first_row, tree
from ..plan.rules import window_days
from ..relation import Relation
from .effect import DEFAULT_WINDOW, windows
from .stats import minimum_detectable_uplift


@dataclass(frozen=True)
class Sizing:
    playbook: str
    rule: str
    treated: int  # customers
    holdout: int
    window_days: int
    baseline: float | None
    mde: float | None  # absolute, in conversion

    def as_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "rule": self.rule,
            "treated": self.treated,
            "holdout": self.holdout,
            "attribution_window_days": self.window_days,
            "baseline_conversion": self.baseline,
            "minimum_detectable_uplift": self.mde,
        }


_GROUPS = """
    SELECT playbook, rule_id, count(DISTINCT customer_id) FILTER (WHERE status = 'send') AS treated,
           count(DISTINCT customer_id) FILTER (WHERE status = 'holdout') AS held
    FROM :plan GROUP BY ALL HAVING held > 0 ORDER BY ALL"""

_BASELINE = """
    SELECT count(*) FILTER (WHERE recent) / nullif(count(*), 0)
    FROM (SELECT customer_id, bool_or(local_date >= :since) AS recent FROM :orders
          WHERE status = 'paid' AND local_date < :as_of GROUP BY customer_id HAVING min(local_date) < :since)"""


def baseline(orders: Relation, as_of: dt.date, days: int) -> float | None:
    """The shop's conversion in a window of `days` with no message (module docstring)."""
    sql = tree(_BASELINE, orders=orders.table, since=date_literal(as_of - dt.timedelta(days=days)), as_of=date_literal(as_of)).sql("duckdb")
    row = first_row(orders.con, sql)
    return float(row[0]) if row and row[0] is not None else None


def holdout_sizing(plan: Relation, orders: Relation, playbooks: list[Any], as_of: dt.date) -> list[Sizing]:
    """One Sizing per rule of the planned relation `plan` that holds customers out, the
    baseline from the loaded `orders` (on the same connection)."""
    known = windows(playbooks)
    rates: dict[int, float | None] = {}
    out = []
    for playbook, rule, treated, held in plan.con.execute(tree(_GROUPS, plan=plan.table).sql("duckdb")).fetchall():
        days = known.get((playbook, rule), window_days(DEFAULT_WINDOW))
        if days not in rates:
            rates[days] = baseline(orders, as_of, days)
        p0 = rates[days]
        mde = minimum_detectable_uplift(p0, int(treated), int(held)) if p0 is not None else None
        out.append(Sizing(playbook, rule, int(treated), int(held), days, p0, mde))
    return out
