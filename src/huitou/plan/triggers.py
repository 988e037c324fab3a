"""What a message answers: its trigger, the part of its idempotency key that does not
depend on the day it is planned (docs/plan.md#idempotency-keys-one-message-per-trigger).

A trigger is a function of columns every candidate has anyway - the scheduled date, the
anchor's date (`event_date`) and, for immediate rules only, the id of the event
(`event_id`: an order id, a delivery date) - so the candidate tables keep those and the
trigger text is written only where it is read: the `plan` view and, when there is a send
ledger, the `already_sent` test. At a million customers a trigger column per candidate
cost 3.4 s and 570 MB more.
"""

from __future__ import annotations

import duckdb

from ..calendar import anchor_kind
from ..data.load import lit
from ..contract import key_sql
from .rules import PlannedRule
from .timing import _offsets

# The event an immediate rule answers (timing `per`), over the matched features `m` and
# the events `e` (create_events); `customer`: once per customer, no event.
IMMEDIATE_EVENTS = {
    "order": "e.latest_order_id",
    "purchase": "e.last_order_id",
    "review": "e.last_rated_order_id",
    "delivery": "strftime(m.as_of - CAST(m.days_since_last_delivery AS INTEGER), '%Y-%m-%d')",
    "customer": None,
}
_ORDER_EVENTS = ("order", "purchase", "review")


def _per(rule: PlannedRule) -> str | None:
    """An immediate rule's `per` (default order); None for other timings."""
    when = rule.rule["when"]
    return str(when.get("per", "order")) if when.get("immediate") else None


def needs_events(rule: PlannedRule) -> bool:
    return _per(rule) in _ORDER_EVENTS


def event_id_sql(rule: PlannedRule) -> str:
    """The candidate's event_id column: the event an immediate rule answers, else NULL."""
    per = _per(rule)
    event = IMMEDIATE_EVENTS.get(per or "customer")
    return f"CAST({event} AS VARCHAR)" if event else "CAST(NULL AS VARCHAR)"


def create_events(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], matched: str, events: str) -> bool:
    """CREATE `events` (whether any rule needs it): the orders an immediate rule's message answers, for the
    customers such a rule selected only (the latest order of any status, the latest
    purchase, the latest rated order; ties on the time go to the later row, as in the
    features). Not a feature column: at 10M orders three more aggregates over every
    customer cost 0.5 s on every command."""
    users = [r.index for r in rules if needs_events(r)]
    if not users:
        return False
    latest = "arg_max(order_id, (ordered_at, _row))"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {events} AS
        SELECT customer_id, {latest} AS latest_order_id, {latest} FILTER (WHERE status = 'paid') AS last_order_id,
               {latest} FILTER (WHERE rating BETWEEN 1 AND 5) AS last_rated_order_id
        FROM orders
        WHERE local_date <= (SELECT max(as_of) FROM {matched})
          AND customer_id IN (SELECT customer_id FROM {matched} WHERE {' OR '.join(f'm_{i}' for i in users)})
        GROUP BY customer_id""")
    return True


def trigger_sql(rule: PlannedRule, row: str) -> str:
    """The rule's trigger text over a candidate row (`row`: its alias with a dot):
    `order:O123`, `birthday:2026-11-05-3d`, `double11:2026-11-11-7d`, `month:2026-11-18`."""
    when = rule.rule["when"]
    per = _per(rule)
    if per == "customer":
        return lit("customer")
    if per is not None:
        return f"{lit(per + ':')} || coalesce({row}event_id, '-')"
    if "every" in when:
        return f"{lit(str(when['every']) + ':')} || strftime({row}scheduled_date, '%Y-%m-%d')"
    anchor = _offsets(when)[0]
    name = "date" if anchor_kind(anchor) == "date" else anchor
    offset = f"date_diff('day', {row}event_date, {row}scheduled_date)"
    label = f"CASE WHEN {offset} = 0 THEN '' WHEN {offset} > 0 THEN '+' || {offset} || 'd' ELSE {offset} || 'd' END"
    return f"{lit(name + ':')} || strftime({row}event_date, '%Y-%m-%d') || {label}"


def trigger_case(rules: list[PlannedRule], row: str) -> str:
    """The trigger of a row of any rule (by its rule_index)."""
    if not rules:
        return "CAST(NULL AS VARCHAR)"
    return "CASE " + f"{row}rule_index " + " ".join(f"WHEN {r.index} THEN {trigger_sql(r, row)}" for r in rules) + " END"


def delivered_case(rules: list[PlannedRule], row: str, has_legacy: bool, done: str) -> str:
    """Whether the send ledger has a row's message (`done`: inputs.load_ledger_done), by its key. A
    ledger from before keys named triggers holds keys of the scheduled date: the same
    message by that key, or, for an immediate rule (whose scheduled date was each
    planning day), any message of the rule to the customer - once too few rather than
    once too many."""
    cases = []
    for rule in rules:
        playbook, rule_id = lit(rule.playbook), lit(rule.id)
        key = key_sql(playbook, rule_id, f"{row}customer_id", trigger_sql(rule, row))
        test = f"{key} IN (SELECT idempotency_key FROM {done} WHERE NOT legacy)"
        if has_legacy and _per(rule) is not None:
            test += (f" OR EXISTS (SELECT 1 FROM {done} x WHERE x.legacy AND x.playbook = {playbook} AND x.rule_id = {rule_id} "
                     f"AND x.customer_id = {row}customer_id)")
        elif has_legacy:
            legacy_key = key_sql(playbook, rule_id, f"{row}customer_id", f"strftime({row}scheduled_date, '%Y-%m-%d')")
            test += f" OR {legacy_key} IN (SELECT idempotency_key FROM {done} WHERE legacy)"
        cases.append(f"WHEN {rule.index} THEN ({test})")
    return f"CASE {row}rule_index {' '.join(cases)} ELSE false END" if cases else "false"
