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

from collections.abc import Callable

import sqlglot
from sqlglot import exp

from ..calendar import anchor_kind
from ..contract import key
from ..db import tree
from .rules import PlannedRule
from .timing import _offsets

# The event an immediate rule answers (timing `per`), over the matched features `m` and
# the events `e` (events_query); `customer`: once per customer, no event.
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


def event_id(rule: PlannedRule) -> exp.Expr:
    """The candidate's event_id column: the event an immediate rule answers, else NULL."""
    event = IMMEDIATE_EVENTS.get(_per(rule) or "customer")
    return exp.cast(sqlglot.parse_one(event, dialect="duckdb") if event else exp.null(), "VARCHAR")


# The orders an immediate rule's message answers, per customer such a rule selected.
_EVENTS = """
    SELECT customer_id, arg_max(order_id, (ordered_at, _row)) AS latest_order_id,
           arg_max(order_id, (ordered_at, _row)) FILTER (WHERE status = 'paid') AS last_order_id,
           arg_max(order_id, (ordered_at, _row)) FILTER (WHERE rating BETWEEN 1 AND 5) AS last_rated_order_id
    FROM :orders
    WHERE local_date <= (SELECT max(as_of) FROM :matched) AND customer_id IN (SELECT customer_id FROM :matched WHERE :selected)
    GROUP BY customer_id"""


def events_query(rules: list[PlannedRule], matched: exp.Table, orders: exp.Table) -> exp.Expr | None:
    """The orders an immediate rule's message answers (None: no rule needs them), for the
    customers such a rule selected only (the latest order of any status, the latest
    purchase, the latest rated order; ties on the time go to the later row, as in the
    features). Not a feature column: at 10M orders three more aggregates over every
    customer cost 0.5 s on every command."""
    users = [r.index for r in rules if needs_events(r)]
    if not users:
        return None
    selected = exp.or_(*(exp.column(f"m_{i}") for i in users))
    return tree(_EVENTS, orders=orders, matched=matched, selected=selected)


def _column(name: str, row: str | None) -> exp.Column:
    return exp.column(name, table=row)


def trigger(rule: PlannedRule, row: str | None) -> exp.Expr:
    """The rule's trigger text over a candidate row (`row`: its alias):
    `order:O123`, `birthday:2026-11-05-3d`, `double11:2026-11-11-7d`, `month:2026-11-18`."""
    when = rule.rule["when"]
    per = _per(rule)
    if per == "customer":
        return exp.Literal.string("customer")
    if per is not None:
        return tree(":per || coalesce(:event_id, '-')", per=per + ":", event_id=_column("event_id", row))
    if "every" in when:
        return tree(":every || strftime(:day, '%Y-%m-%d')", every=str(when["every"]) + ":", day=_column("scheduled_date", row))
    anchor = _offsets(when)[0]
    name = "date" if anchor_kind(anchor) == "date" else anchor
    offset = tree("date_diff('day', :event_date, :day)", event_date=_column("event_date", row), day=_column("scheduled_date", row))
    return tree(
        ":name || strftime(:event_date, '%Y-%m-%d') || CASE WHEN :offset = 0 THEN '' WHEN :offset > 0 THEN '+' || :offset || 'd' ELSE :offset || 'd' END",
        name=name + ":",
        event_date=_column("event_date", row),
        offset=offset,
    )


def by_rule(rules: list[PlannedRule], row: str | None, value: Callable[[PlannedRule], exp.Expr]) -> exp.Expr:
    """CASE row.rule_index WHEN i THEN value(rule i) ... END (NULL when there is no rule)."""
    if not rules:
        return exp.null()
    case = exp.Case(this=_column("rule_index", row))
    for rule in rules:  # in place (copy=False): a copy per branch made building this quadratic
        case.when(exp.Literal.number(rule.index), value(rule), copy=False)
    return case


def trigger_case(rules: list[PlannedRule], row: str | None) -> exp.Expr:
    """The trigger of a row of any rule (by its rule_index)."""
    return by_rule(rules, row, lambda rule: trigger(rule, row)) if rules else exp.cast(exp.null(), "VARCHAR")


def delivered_case(rules: list[PlannedRule], row: str | None, has_legacy: bool, done: exp.Table) -> exp.Expr:
    """Whether the send ledger has a row's message (`done`: inputs.load_ledger_done), by its key. A
    ledger from before keys named triggers holds keys of the scheduled date: the same
    message by that key, or, for an immediate rule (whose scheduled date was each
    planning day), any message of the rule to the customer - once too few rather than
    once too many. The key is computed once per row and looked up once, whatever the
    rule: a lookup per rule is a join per rule on Spark and PostgreSQL."""
    if not rules:
        return exp.false()
    ledger, customer = done, _column("customer_id", row)
    playbook = by_rule(rules, row, lambda rule: exp.Literal.string(rule.playbook))
    rule_id = by_rule(rules, row, lambda rule: exp.Literal.string(rule.id))
    delivered = tree(
        ":key IN (SELECT idempotency_key FROM :done WHERE NOT legacy)",
        key=key(playbook, rule_id, customer, trigger_case(rules, row)),
        done=ledger,
    )
    if not has_legacy:
        return delivered

    def legacy(rule: PlannedRule) -> exp.Expr:
        playbook, rule_id = exp.Literal.string(rule.playbook), exp.Literal.string(rule.id)
        if _per(rule) is not None:
            return tree(
                "EXISTS (SELECT 1 FROM :done AS x WHERE x.legacy AND x.playbook = :playbook AND x.rule_id = :rule_id AND x.customer_id = :customer)",
                done=ledger,
                playbook=playbook,
                rule_id=rule_id,
                customer=customer,
            )
        legacy_key = key(playbook, rule_id, customer, tree("strftime(:day, '%Y-%m-%d')", day=_column("scheduled_date", row)))
        return tree(":key IN (SELECT idempotency_key FROM :done WHERE legacy)", key=legacy_key, done=ledger)

    return exp.or_(delivered, exp.func("coalesce", by_rule(rules, row, legacy), exp.false()))
