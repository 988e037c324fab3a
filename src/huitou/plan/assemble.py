"""Assembly: the plan's rows in their final form and order (docs/plan.md).

The decided candidates are numbered in a complete order (on the engine: `ordered_statement`)
and joined to their rendered messages here; the plan is a view over those rows that adds
what follows from the rule (names, consent basis, the reason's text) and from the row (the
idempotency key, the send time with its offset, the checksum) as it is read.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
from sqlglot import exp

from ..contract import checksum_sql, key_sql
from ..db import create_temp, date_literal, scalar, select_tree, tree
from ..engines.base import local_table
from ..relation import Scratch
from .decide import Decided
from .rules import INTENT_ORDER, PlannedRule, care_within
from .triggers import by_rule, trigger_case


def create_rules_table(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], scratch: Scratch) -> exp.Table:
    """The table of what each rule index stands for. The per-candidate tables keep only
    the index: at a million customers, six repeated strings per row were gigabytes."""
    table = scratch.new("rules")
    columns = {
        "rule_index": "INTEGER",
        "playbook": "VARCHAR",
        "rule_id": "VARCHAR",
        "intent": "VARCHAR",
        "channel": "VARCHAR",
        "priority": "INTEGER",
        "intent_rank": "INTEGER",
        "locale": "VARCHAR",
        "consent_basis": "VARCHAR",
        "care_text": "VARCHAR",
    }
    con.execute(local_table(table.name, columns))
    if rules:
        insert = exp.insert(exp.values([tuple(exp.Placeholder() for _ in columns)]), table.copy())
        con.executemany(
            insert.sql("duckdb"),
            [
                [
                    r.index,
                    r.playbook,
                    r.id,
                    r.intent,
                    r.channel,
                    r.priority,
                    INTENT_ORDER[r.intent],
                    r.ctx.locale,
                    r.consent_basis,
                    _care_text(r),
                ]
                for r in rules
            ],
        )
    return table


def _care_text(rule: PlannedRule) -> str:
    days = care_within(rule.ctx)
    return f"no care touch to this customer in the {days} days before (care_first)" if days else ""


# The plan's rows numbered in order (on the engine), then joined to the rendered messages
# (in huitou's process, where rendering ran). The view over them (_PLAN) adds what
# follows from the rule (names, consent basis) and from the row (key, send_at, the
# content as one value) as it is read: at a million customers a table of the finished
# rows was 2 GB more. Text is ordered by its bytes, whatever an engine's collation.
_ORDERED = """
    SELECT row_number() OVER (ORDER BY d.send_utc, d.customer_id COLLATE "C", d.intent_rank, r.playbook COLLATE "C", r.rule_id COLLATE "C", d.step) AS plan_row,
           d.cand_id, d.customer_id, d.rule_index, d.step, d.scheduled_date, d.event_date, d.event_id, d.send_local, d.utc_offset, d.status, d.reason,
           CASE WHEN d.reason = 'frequency_cap' THEN coalesce(w.winner, 'earlier messages (history)') END AS winner, d.cap, d.contact, d.send_utc, d.intent_rank, d.tz
    FROM :decided AS d JOIN :rules AS r ON r.rule_index = d.rule_index LEFT JOIN :winners AS w ON w.cand_id = d.cand_id"""
ORDERED_TYPES = {
    "plan_row": "BIGINT",
    "cand_id": "BIGINT",
    "customer_id": "VARCHAR",
    "rule_index": "INTEGER",
    "step": "INTEGER",
    "scheduled_date": "DATE",
    "event_date": "DATE",
    "event_id": "VARCHAR",
    "send_local": "TIMESTAMP",
    "utc_offset": "INTEGER",
    "status": "VARCHAR",
    "reason": "VARCHAR",
    "winner": "VARCHAR",
    "cap": "SMALLINT",
    "contact": "VARCHAR",
    "send_utc": "BIGINT",
    "intent_rank": "INTEGER",
    "tz": "VARCHAR",
}
_ROWS = """
    SELECT o.plan_row, o.customer_id, o.rule_index, o.step, o.scheduled_date, o.event_date, o.event_id, o.send_local, o.utc_offset, o.status, o.reason,
           CASE WHEN o.reason IN ('render_error', 'sms_too_long') THEN x.error END AS error, o.winner, o.cap, o.contact,
           CASE WHEN o.status = 'send' OR o.reason IN ('render_error', 'sms_too_long') THEN x.template END AS template,
           x.subject, x.body, x.html, x.segments, x.extra, o.send_utc, o.intent_rank, o.tz
    FROM :ordered LEFT JOIN :rendered AS x ON x.cand_id = o.cand_id
    ORDER BY o.plan_row"""
# The detail is text made from the reason and the rule as the view is read: in the
# sorted table it was 3.4M strings to spill under the memory limit (docs/engines.md).
_REASON_DETAIL = """
    CASE d.reason
         WHEN 'render_error' THEN d.error WHEN 'sms_too_long' THEN d.error
         WHEN 'frequency_cap' THEN 'cap ' || :cap_text || ' taken by ' || d.winner
         WHEN 'care_first' THEN :care_text
         WHEN 'already_sent' THEN 'the send ledger has this message (same trigger) as sent, or in flight when a run stopped'
         WHEN 'opted_out' THEN 'on the opt-out list for ' || :channel
         WHEN 'quiet_hours' THEN 'the send time is inside quiet hours and the policy drops it'
         WHEN 'no_contact' THEN 'no ' || :channel || ' contact on file (a value that is not one is set aside at load, and counted in its report)'
         WHEN 'invalid_phone' THEN 'the phone number on file is not one (digits, a leading +, spaces, hyphens, parentheses)'
         WHEN 'invalid_email' THEN 'the email address on file is not one address (local@domain, no spaces, quotes or line breaks)'
         WHEN 'no_consent' THEN 'no ' || :basis || ' for ' || :channel
    END"""
_PLAN = """
    SELECT *, :checksum AS checksum FROM (
    SELECT :plan_id AS plan_id, :project AS project, :plan_rows AS plan_rows, :as_of AS as_of, :key AS idempotency_key, customer_id, playbook, rule_id, step, intent,
           channel, priority, scheduled_date, "trigger", send_at, "timezone", quiet_hours, status, reason, reason_detail, consent_basis, "to", locale, template, content, send_utc, intent_rank
    FROM (SELECT d.customer_id, :playbook AS playbook, :rule_id AS rule_id, d.step, :intent AS intent,
                 :channel AS channel, CAST(:priority AS INTEGER) AS priority, d.scheduled_date, :trigger AS "trigger",
                 strftime(d.send_local, '%Y-%m-%dT%H:%M:%S') || :offset AS send_at, d.tz AS "timezone", :quiet_hours AS quiet_hours, d.status, d.reason, :reason_detail AS reason_detail,
                 :basis AS consent_basis, d.contact AS "to", :locale AS locale, d.template,
                 CASE WHEN d.status = 'send' THEN {'subject': d.subject, 'body': d.body, 'html': d.html, 'segments': d.segments, 'extra': d.extra} END AS content,
                 d.send_utc, d.intent_rank
          FROM :rows AS d))"""
_OFFSET = "printf('%s%02d:%02d', CASE WHEN d.utc_offset < 0 THEN '-' ELSE '+' END, abs(d.utc_offset) // 60, abs(d.utc_offset) % 60)"


def ordered_statement(decided: Decided, rules: exp.Table, scratch: Scratch) -> tuple[str, exp.Select]:
    """The relation of the plan's rows numbered in order, without the messages, with the
    query that makes it from the decisions and the `rules` table."""
    return scratch.new("ordered").name, select_tree(_ORDERED, decided=decided.decided, winners=decided.winners, rules=rules)


@dataclass(frozen=True)
class Assembled:
    plan: exp.Table  # the view (or table) delivery, output and diff read
    rows: exp.Table  # the rows it reads: numbered, with their messages
    size: int  # how many rows


def assemble(
    con: duckdb.DuckDBPyConnection,
    rules: list[PlannedRule],
    caps: list,
    plan_id: str,
    as_of: str,
    ordered: exp.Expr,
    rendered: exp.Table,
    project: str,
    scratch: Scratch,
    keep: bool = False,
) -> Assembled:
    """The plan: a view (`keep`: a table) of the rows in their final form and order, from
    the numbered rows (`ordered`: a relation of `con` aliased o, or a table) and the
    `rendered` messages. `project` names the project in every row."""
    tables = {"rows": scratch.new("rows")}
    create_temp(
        con,
        tables["rows"].name,
        tree(_ROWS, ordered=ordered if isinstance(ordered, exp.Subquery) else ordered.as_("o"), rendered=rendered),
    )
    rows = int(scalar(con, exp.select("count(*)").from_(tables["rows"].copy())))

    # Rule attributes by CASE, not a join: a projection of the ordered table keeps its
    # order (DuckDB preserves insertion order), so reading the view needs no sort.
    def attribute(value: Callable[[PlannedRule], Any]) -> exp.Expr:
        return by_rule(rules, "d", lambda rule: exp.convert(value(rule)))

    attributes = {name: attribute(operator.attrgetter(name)) for name in ("playbook", "intent", "channel", "priority", "locale")}
    attributes |= {
        "rule_id": attribute(lambda r: r.id),
        "basis": attribute(lambda r: r.consent_basis),
        "quiet_hours": attribute(lambda r: r.quiet_text),
    }
    cap_text = exp.Case(this=exp.column("cap", "d"))
    for i, cap in enumerate(caps):
        cap_text.when(exp.Literal.number(i), exp.Literal.string(cap.describe()), copy=False)
    detail = tree(
        _REASON_DETAIL,
        cap_text=cap_text if caps else exp.null(),
        care_text=attribute(_care_text),
        channel=attributes["channel"],
        basis=attributes["basis"],
    )
    view = tree(
        _PLAN,
        checksum=tree(checksum_sql()),
        plan_id=plan_id,
        as_of=date_literal(dt.date.fromisoformat(as_of)),
        key=tree(key_sql()),
        trigger=trigger_case(rules, "d"),
        offset=tree(_OFFSET),
        reason_detail=detail,
        rows=tables["rows"],
        project=exp.Literal.string(project),
        plan_rows=exp.cast(exp.Literal.number(rows), "BIGINT"),
        **attributes,
    )
    plan = scratch.new()
    con.execute(
        exp.Create(
            this=plan.copy(),
            kind="TABLE" if keep else "VIEW",
            replace=True,
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
            expression=view,
        ).sql("duckdb", copy=False)  # written once: see db.statement
    )
    return Assembled(plan, tables["rows"], rows)
