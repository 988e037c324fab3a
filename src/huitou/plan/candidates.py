"""Every (customer, rule, step, date) the timings produce inside the window, in SQL.

Two statements. `plan_matched` holds the feature row of every customer some rule's
segment selects, with one boolean per rule (one pass over the features). Then
`plan_candidates` expands each rule's matches into its send dates and settles, per row,
what needs no arbitration: opt-outs, quiet hours set to drop, a missing contact, a missing
consent, and the holdout draw. Caps and care-first come after (arbitrate.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from ..calendar import anchor_kind
from ..data.load import lit, q
from .keys import key_sql
from .rules import PlannedRule
from .timing import Window, constant_dates, customer_anchor_sql, weekday_shift_sql, _offsets
from ..db import scalar

# Why a candidate is not sent, before arbitration (first match wins).
EARLY_REASONS = ("opted_out", "already_sent", "quiet_hours", "no_contact", "no_consent")


def matched_sql(features_sql: str, predicates: list[str], columns: list[str] | None = None) -> str:
    """`columns`: the feature columns later stages read (None: all of them); a narrow
    table is most of the plan's memory saved at a million customers."""
    flags = ", ".join(f"coalesce({p}, false) AS m_{i}" for i, p in enumerate(predicates))
    any_flag = " OR ".join(f"m_{i}" for i in range(len(predicates))) or "false"
    keep = "*" if columns is None else ", ".join([*(q(c) for c in columns), *(f"m_{i}" for i in range(len(predicates)))])
    return f"CREATE OR REPLACE TEMP TABLE plan_matched AS SELECT {keep} FROM (SELECT *, {flags} FROM ({features_sql})) WHERE {any_flag}"


# What an immediate rule's message answers (timing `per`): the feature naming that event.
# The order events come from plan_events (create_events), the delivery from the features.
IMMEDIATE_EVENTS = {
    "order": "e.latest_order_id",
    "purchase": "e.last_order_id",
    "review": "e.last_rated_order_id",
    "delivery": "strftime(m.as_of - CAST(m.days_since_last_delivery AS INTEGER), '%Y-%m-%d')",
    "customer": None,
}
_ORDER_EVENTS = ("order", "purchase", "review")


def _needs_events(rule: PlannedRule) -> bool:
    when = rule.rule["when"]
    return bool(when.get("immediate")) and str(when.get("per", "order")) in _ORDER_EVENTS


def create_events(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule]) -> None:
    """CREATE plan_events: the orders an immediate rule's message answers, for the
    customers such a rule selected only (the latest order of any status, the latest
    purchase, the latest rated order; ties on the time go to the later row, as in the
    features). Not a feature column: at 10M orders three more aggregates over every
    customer cost 0.5 s on every command."""
    users = [r.index for r in rules if _needs_events(r)]
    if not users:
        return
    latest = "arg_max(order_id, (ordered_at, _row))"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE plan_events AS
        SELECT customer_id, {latest} AS latest_order_id, {latest} FILTER (WHERE status = 'paid') AS last_order_id,
               {latest} FILTER (WHERE rating BETWEEN 1 AND 5) AS last_rated_order_id
        FROM orders
        WHERE local_date <= (SELECT max(as_of) FROM plan_matched)
          AND customer_id IN (SELECT customer_id FROM plan_matched WHERE {' OR '.join(f'm_{i}' for i in users)})
        GROUP BY customer_id""")


def _offset_label(offset: int) -> str:
    """How a trigger names its offset from the anchor: '' on the day, '-7d', '+3d'."""
    return f"{offset:+d}d" if offset else ""


def constant_trigger(when: dict[str, Any], day: dt.date, event: str | None, event_date: dt.date) -> str:
    """The trigger of a date the timing gives without looking at the customer: the
    occurrence (month:2026-11-18, double11:2026-11-11-7d, date:2026-12-24)."""
    if "every" in when:
        return f"{when['every']}:{day.isoformat()}"
    name = "date" if anchor_kind(str(event)) == "date" else str(event)
    return f"{name}:{event_date.isoformat()}{_offset_label((day - event_date).days)}"


def immediate_trigger_sql(when: dict[str, Any]) -> str:
    """An immediate rule's trigger: the event it answers (docs/plan.md)."""
    per = str(when.get("per", "order"))
    event = IMMEDIATE_EVENTS[per]
    return lit(per) if event is None else f"{lit(per + ':')} || coalesce({event}, '-')"


def _dates_for(rule: PlannedRule, window: Window) -> tuple[str, str, str]:
    """FROM-clause additions, the scheduled-date expression and the trigger expression
    for one rule."""
    when = rule.rule["when"]
    constant = constant_dates(when, window)
    if constant is not None:
        if not constant:
            return "", "", ""
        values = ", ".join(
            f"({step}, DATE '{day.isoformat()}', {lit(event) if event else 'NULL'}, {f'DATE {lit(ev.isoformat())}' if ev else 'CAST(NULL AS DATE)'}, "
            f"{'NULL' if when.get('immediate') else lit(constant_trigger(when, day, event, ev))})"
            for step, day, event, ev in constant
        )
        trigger = immediate_trigger_sql(when) if when.get("immediate") else "t.trig"
        return f", (VALUES {values}) AS t(step, scheduled_date, event, event_date, trig)", "t.scheduled_date", trigger
    anchor, offsets = _offsets(when)
    assert anchor_kind(anchor) == "customer"
    steps = ", ".join(f"({abs(o)}, {o}, {lit(_offset_label(o))})" for o in offsets)
    anchors = ", ".join(customer_anchor_sql(anchor, window))
    extra = f", (VALUES {steps}) AS o(step, day_offset, offset_label), unnest([{anchors}]) AS u(anchor_date)"
    trigger = f"{lit(anchor + ':')} || strftime(u.anchor_date, '%Y-%m-%d') || o.offset_label"
    return extra, "u.anchor_date + o.day_offset", trigger


def rule_select(rule: PlannedRule, window: Window, has_optouts: bool, has_ledger: bool = False) -> str | None:
    """One rule's candidates, or None when its timing has no date in the window.
    `has_ledger`: plan_ledger_done holds the keys the send ledger has delivered."""
    extra, scheduled, trigger = _dates_for(rule, window)
    if not scheduled:
        return None
    lo, hi = window.sql_bounds()
    is_constant = scheduled.startswith("t.")
    step = "t.step" if is_constant else "o.step"
    event = "t.event" if is_constant else lit(str(_offsets(rule.rule["when"])[0]))
    event_date = "t.event_date" if is_constant else "u.anchor_date"
    shifted = weekday_shift_sql(f"({scheduled} + {rule.time.day_shift})", rule.rule["when"].get("weekdays"))
    contact = f"CAST(m.{q(rule.contact_column)} AS VARCHAR)" if rule.contact_column else "NULL"
    has_contact = f"({contact} IS NOT NULL AND trim({contact}) <> '')" if rule.contact_column else "true"
    consent_col = f"m.{q(rule.consent_column)}" if rule.consent_column else None
    if consent_col is None or rule.basis not in ("consent", "soft_opt_in"):
        consent_ok = "true"
    else:
        consent_ok = f"coalesce({consent_col}, {'false' if rule.basis == 'consent' else 'true'})"
    optout = (
        f"EXISTS (SELECT 1 FROM plan_optouts x WHERE x.customer_id = m.customer_id AND (x.channel IS NULL OR x.channel = {lit(rule.channel)}))"
        if has_optouts
        else "false"
    )
    delivered = (
        f"{key_sql(lit(rule.playbook), lit(rule.id), 'm.customer_id', trigger)} IN (SELECT idempotency_key FROM plan_ledger_done)" if has_ledger else "false"
    )
    share, salt = rule.holdout
    held = f"CAST('0x' || left(md5({lit(salt + ':')} || m.customer_id), 8) AS UBIGINT) % 10000 < {int(round(share * 100))}" if share else "false"
    reason = (
        f"CASE WHEN {optout} THEN 'opted_out' WHEN {delivered} THEN 'already_sent' WHEN {str(rule.time.dropped).lower()} THEN 'quiet_hours' "
        f"WHEN NOT {has_contact} THEN 'no_contact' WHEN NOT {consent_ok} THEN 'no_consent' END"
    )
    tz = f"CASE WHEN m.timezone IN (SELECT name FROM pg_timezone_names()) THEN m.timezone ELSE {lit(rule.timezone)} END"
    events = " LEFT JOIN plan_events e ON e.customer_id = m.customer_id" if _needs_events(rule) else ""
    return f"""
        SELECT m.customer_id, {rule.index} AS rule_index, CAST({step} AS INTEGER) AS step,
               {scheduled} AS scheduled_date, {shifted} AS send_date, {event} AS event, {event_date} AS event_date,
               {trigger} AS "trigger", {tz} AS tz, {contact} AS contact,
               {reason} AS early_reason, {held} AS held_out
        FROM plan_matched m{events}{extra}
        WHERE m.m_{rule.index} AND {scheduled} BETWEEN {lo} AND {hi}"""


def build_candidates(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], window: Window, has_optouts: bool, has_ledger: bool = False) -> int:
    """CREATE plan_candidates; returns its row count. `send_local` is the local send time,
    `send_utc` the instant (epoch seconds) and `utc_offset` the minutes east of UTC."""
    create_events(con, rules)
    selects = [s for s in (rule_select(r, window, has_optouts, has_ledger) for r in rules) if s]
    if not selects:
        selects = ["SELECT NULL::VARCHAR AS customer_id, 0 AS rule_index, 0 AS step, NULL::DATE AS scheduled_date, NULL::DATE AS send_date, NULL::VARCHAR AS event, NULL::DATE AS event_date, NULL::VARCHAR AS trigger, NULL::VARCHAR AS tz, NULL::VARCHAR AS contact, NULL::VARCHAR AS early_reason, false AS held_out WHERE false"]
    minutes = "CASE rule_index " + " ".join(f"WHEN {r.index} THEN {r.time.minutes}" for r in rules) + " END" if rules else "0"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE plan_candidates AS
        SELECT *, row_number() OVER (ORDER BY customer_id, rule_index, scheduled_date, step) AS cand_id,
               epoch(timezone(tz, send_local)) AS send_utc,
               date_diff('minute', timezone('UTC', timezone(tz, send_local)), send_local) AS utc_offset
        FROM (SELECT *, CAST(send_date AS TIMESTAMP) + to_minutes(CAST({minutes} AS BIGINT)) AS send_local
              FROM ({' UNION ALL '.join(selects)}))""")
    return int(scalar(con, "SELECT count(*) FROM plan_candidates"))
