"""What `huitou plan --html` shows, read from a plan's rows: per rule the funnel from its
segment to what is sent, the sends per rule and day, per channel the messages and their
cost, and a few customers' candidate messages in time order. Aggregates in SQL over the
kept plan (a few thousand rows at most come back, whatever the plan's size); the page
itself is reporters/plan_html.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..db import tree
from ..project import channel_cost, channel_currency
from ..vocabulary import Intent, Reason
from .build import Plan
from .output import sample_of

# Each rule's rows: candidates, each reason's suppressions, holdouts and sends.
_RULES = """
    SELECT playbook, rule_id, status, reason, count(*) FROM :plan GROUP BY ALL ORDER BY ALL"""
# Per rule and day (the local date the message goes out): sends, sends a quiet hour moved
# off their scheduled day, holdouts, and candidates lost to a cap or to care first.
_DAYS = """
    SELECT playbook, rule_id, left(send_at, 10) AS day,
           count(*) FILTER (WHERE status = 'send'),
           count(*) FILTER (WHERE status = 'send' AND left(send_at, 10) <> CAST(scheduled_date AS VARCHAR)),
           count(*) FILTER (WHERE status = 'holdout'),
           count(*) FILTER (WHERE reason IN ('frequency_cap', 'care_first'))
    FROM :plan GROUP BY ALL ORDER BY ALL"""
_CHANNELS = """
    SELECT channel, count(*), sum(coalesce(content.segments, 1)) FROM :plan WHERE status = 'send' GROUP BY channel ORDER BY channel"""
_CUSTOMERS = "SELECT count(DISTINCT customer_id) FROM :plan"
# A few customers to follow through the plan: for each outcome, the customers with the
# most candidate messages that had it (ties by id), so the page shows a busy week. Grouped
# once, then a top few per outcome: no sort of the plan's rows.
_FOLLOWED = """
    WITH per AS (
      SELECT customer_id, count(*) AS n, bool_or(status = 'send') AS sent, bool_or(status = 'holdout') AS held,
             bool_or(status = 'suppressed') AS lost
      FROM :plan GROUP BY customer_id)
    SELECT customer_id FROM (SELECT customer_id FROM per WHERE sent ORDER BY n DESC, customer_id LIMIT :each)
    UNION SELECT customer_id FROM (SELECT customer_id FROM per WHERE held ORDER BY n DESC, customer_id LIMIT :each)
    UNION SELECT customer_id FROM (SELECT customer_id FROM per WHERE lost ORDER BY n DESC, customer_id LIMIT :each)
    ORDER BY customer_id"""
# The first sends of each rule's step (by time, then customer): the messages as they arrive.
_MESSAGES = """
    SELECT customer_id, playbook, rule_id, channel, send_at, "to", content, step FROM (
      SELECT *, row_number() OVER (PARTITION BY playbook, rule_id, step ORDER BY send_at, customer_id) AS k FROM :plan WHERE status = 'send')
    WHERE k <= :each ORDER BY playbook, rule_id, step, k"""
_WEEK = """
    SELECT customer_id, send_at, playbook, rule_id, step, channel, status, reason, reason_detail
    FROM :plan WHERE list_contains(:customers, customer_id) ORDER BY customer_id, send_at, playbook, rule_id, step"""


@dataclass
class RuleFunnel:
    playbook: str
    rule: str
    intent: str
    channel: str
    in_segment: int | None  # customers the segment selects (None: not counted)
    candidates: int = 0  # messages timed in the window
    lost: dict[str, int] = field(default_factory=dict)  # reason -> suppressed
    held: int = 0
    sent: int = 0

    @property
    def name(self) -> str:
        return f"{self.playbook}/{self.rule}"


@dataclass(frozen=True)
class DayCell:
    sent: int
    deferred: int  # sent on another day than scheduled (a quiet hour moved it)
    held: int
    capped: int  # lost to a frequency cap or to care first


@dataclass(frozen=True)
class Spend:
    channel: str
    messages: int
    segments: int
    cost: float | None
    currency: str | None


@dataclass
class Overview:
    customers: int
    rules: list[RuleFunnel]
    days: list[str]  # the calendar's columns: the window's days and any a send was moved to
    calendar: dict[str, dict[str, DayCell]]  # rule name -> day -> cell
    channels: list[Spend]
    weeks: dict[str, list[dict[str, Any]]]  # customer -> their candidate messages in time order
    messages: list[dict[str, Any]]  # a few sends of each rule's step, as output.sample_of shows them


_INTENT_ORDER = {intent.value: i for i, intent in enumerate(Intent)}


def overview(
    plan: Plan, config: dict[str, Any], customers: tuple[str, ...] = (), *, followed: int = 2, each: int = 2, show_pii: bool = False
) -> Overview:
    """The page's numbers. `customers`: whose messages to show besides `followed` of each
    outcome's busiest; `each`: messages shown per rule and step."""

    def rows_of(sql: str, **values: Any) -> list[tuple]:
        return plan.con.execute(tree(sql, plan=plan.rows.table, **values).sql("duckdb")).fetchall()

    funnels = {
        (r.playbook, r.id): RuleFunnel(r.playbook, r.id, r.intent.value, r.channel, plan.in_segment.get((r.playbook, r.id))) for r in plan.rules
    }
    for playbook, rule, status, reason, n in rows_of(_RULES):
        f = funnels.setdefault((playbook, rule), RuleFunnel(playbook, rule, "", "", None))
        f.candidates += int(n)
        if status == "send":
            f.sent += int(n)
        elif status == "holdout":
            f.held += int(n)
        else:
            f.lost[str(reason)] = int(n)
    ordered = sorted(funnels.values(), key=lambda f: (f.playbook, _INTENT_ORDER.get(f.intent, 9), f.rule))
    calendar: dict[str, dict[str, DayCell]] = {}
    for playbook, rule, day, sent, deferred, held, capped in rows_of(_DAYS):
        calendar.setdefault(f"{playbook}/{rule}", {})[str(day)] = DayCell(int(sent), int(deferred), int(held), int(capped))
    window = [(plan.window.start + dt.timedelta(days=i)).isoformat() for i in range(plan.window.days)]
    days = sorted(set(window) | {day for cells in calendar.values() for day in cells})
    channels = [
        Spend(str(c), int(m), int(s), channel_cost(config, str(c), int(m), int(s)), channel_currency(config, str(c)))
        for c, m, s in rows_of(_CHANNELS)
    ]
    chosen = [str(c) for (c,) in rows_of(_FOLLOWED, each=followed)] if followed else []
    chosen += [c for c in customers if c not in chosen]
    weeks: dict[str, list[dict[str, Any]]] = {c: [] for c in chosen}
    if chosen:
        names = ("customer_id", "send_at", "playbook", "rule_id", "step", "channel", "status", "reason", "reason_detail")
        for row in rows_of(_WEEK, customers=list(chosen)):
            record = dict(zip(names, row))
            weeks[str(record["customer_id"])].append(record)
    messages = [{**sample_of(row[:7], show_pii), "step": row[7]} for row in rows_of(_MESSAGES, each=each)]
    return Overview(int(rows_of(_CUSTOMERS)[0][0]), ordered, days, calendar, channels, weeks, messages)


# The funnel's steps after the candidates, in the order the stages decide them.
LOSSES = tuple(r.value for r in Reason)
