"""The plan: candidates, arbitration, rendering, in that order (see docs/plan.md).

Everything before rendering is SQL or vectorised numpy; rendering touches only the
sends that survived. The result is the table `plan` in the session's DuckDB, ordered and
deterministic, which output.py writes or summarises.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import time
from dataclasses import dataclass, field

import duckdb
import sqlglot
from sqlglot import exp

from ..checks.context import PlaybookContext
from ..compile import compile_playbook
from ..data.load import lit
from ..evaluate import DataSession, _lifecycle_override
from .arbitrate import ACCEPTED, CAPPED, CARE_FIRST, arbitrate
from .candidates import build_candidates, matched_query
from .relations import Relations
from .inputs import load_history, load_ledger_done, load_optouts, with_inputs
from ..contract import checksum_sql, key_sql
from .triggers import trigger_case
from .render import Renderer, rule_specs
from .render_jobs import create_rendered, render_sends
from .rules import INTENT_ORDER, PlannedRule, care_within, planned_rules
from .timing import Window
from ..db import create_temp, scalar

@dataclass
class Plan:
    con: duckdb.DuckDBPyConnection
    plan_id: str
    window: Window
    rows: int
    notes: list[str]
    timings: dict[str, float]  # seconds per stage (benchmarks/plan.py reports them)
    reports: list = field(default_factory=list)  # the data's load reports, when run_plan loaded it
    warnings: list[str] = field(default_factory=list)  # about the configuration, not the data (notes are about the data)
    relation: str = "plan"  # the view of the plan's rows, in order (Relations.plan)


def plan_id_for(playbooks: list[PlaybookContext], window: Window) -> str:
    """Names the inputs that define the plan: the window and the playbooks' text."""
    digest = hashlib.sha256(f"{window.start.isoformat()}|{window.days}".encode())
    for ctx in sorted(playbooks, key=lambda c: c.name):
        digest.update(ctx.name.encode() + b"\0" + ctx.doc.text.encode())
    return digest.hexdigest()[:16]


def _rule_predicates(playbooks: list[PlaybookContext], rules: list[PlannedRule]) -> list[exp.Expression]:
    by_rule: dict[tuple[str, str], exp.Expression] = {}
    for ctx in playbooks:
        for item in compile_playbook(ctx, _lifecycle_override(ctx)):
            if item.kind == "rule":
                by_rule[(ctx.name, item.name)] = item.sql
    return [by_rule[(r.playbook, r.id)] for r in rules]


def build_plan(
    session: DataSession, playbooks: list[PlaybookContext], horizon: int, *, customer: str | None = None, jobs: int | None = None, inputs: dict[str, Path | None] | None = None,
    relations: Relations | None = None,
) -> Plan:
    """`inputs` replaces the project's history, opt-out and ledger files (see
    inputs.with_inputs); `huitou test` gives each test its own. `relations` names the
    stages' relations (default: plan_*, the plan itself `plan`)."""
    con, window = session.con, Window(session.as_of, horizon)
    r = relations or Relations.named()
    project = playbooks[0].project if playbooks else None
    rules = planned_rules(playbooks)
    features = sqlglot.parse_one(session.features_sql(), dialect="duckdb")
    if customer is not None:
        features = exp.select("*").from_(features.subquery("f")).where(exp.column("customer_id").eq(exp.Literal.string(customer)))
    clock = _Clock()
    renderer = Renderer(rule_specs(rules))  # every rule's templates, compiled once
    create_temp(con, r.matched, matched_query(features, _rule_predicates(playbooks, rules), _columns_read(con, features.sql("duckdb"), rules, renderer)))
    clock.lap("features and segments of the matched customers")
    root, config = (project.root, project.config) if project else (None, {})
    if inputs is not None:
        config = with_inputs(config, inputs)
    has_optouts = bool(project) and load_optouts(con, config, root, r.optouts)  # type: ignore[arg-type]
    notes: list[str] = []
    has_history = bool(project) and load_history(con, config, root, session.timezone, notes, r.history)  # type: ignore[arg-type]
    has_ledger, has_legacy = load_ledger_done(con, config, root, r.ledger_done) if project else (False, False)  # type: ignore[arg-type]
    build_candidates(con, rules, window, r, has_optouts, has_ledger, has_legacy)
    _drop(con, r.optouts, r.ledger_done)  # read only by the candidates
    create_rendered(con, r)
    create_rules_table(con, rules, r.rules)
    clock.lap("candidates: timings, opt-outs, contact, consent, holdout")
    # A send that fails to render is out, and its cap slot goes to the next candidate:
    # arbitrate again without the failures and render what that newly accepts (rarely
    # more than one extra round; each round removes at least one candidate).
    while True:
        verdicts = arbitrate(con, rules, window.start, horizon, session.timezone if has_history else None, r)
        con.register(f"{r.verdicts}_arrays", {"cand_id": verdicts.cand_id, "outcome": verdicts.outcome, "cap": verdicts.cap, "position": verdicts.position})
        con.execute(f"CREATE OR REPLACE TEMP TABLE {r.verdicts} AS SELECT * FROM {r.verdicts}_arrays")
        con.unregister(f"{r.verdicts}_arrays")
        _decide(con, verdicts.caps, r)
        _drop(con, r.verdicts)
        clock.lap("arbitration: caps, priority, care-first, reasons")
        failed = render_sends(con, rules, renderer, r, jobs)
        clock.lap("rendering the sends")
        if not failed:
            break
    warnings = []
    if renderer.unsigned_unsubscribe:
        warnings.append("unsubscribe links in email bodies carry the bare customer id (anyone could use them for anyone): the secret that signs them is not set for "
                     + ", ".join(renderer.unsigned_unsubscribe) + "; see docs/delivery.md")
    pid = plan_id_for(playbooks, window)
    # Tables are given back as soon as nothing reads them: under the default memory
    # limit (docs/engines.md) what DuckDB holds is what it does not spill.
    _drop(con, r.to_render, r.candidates, r.matched, r.clock, r.zones, r.history, f"{r.history}_file", f"{r.history}_ledger")
    _assemble(con, rules, verdicts.caps, pid, window.start.isoformat(), r)
    _drop(con, r.winners, r.decided, r.rendered, r.rules)  # only the plan's rows are read from here on
    rows = int(scalar(con, f"SELECT count(*) FROM {r.plan}"))
    clock.lap("assembling the plan")
    return Plan(con, pid, window, rows, notes, clock.laps, warnings=warnings, relation=r.plan)


# Feature columns the planner itself reads (anchors, the customer's zone, the as-of date).
_PLANNER_COLUMNS = ("customer_id", "as_of", "timezone", "birthday", "first_order_date", "last_order_date", "days_since_last_delivery", "purchase_cycle_days")


def _columns_read(con: duckdb.DuckDBPyConnection, features: str, rules: list[PlannedRule], renderer: Renderer) -> list[str] | None:
    """The feature columns the plan needs: its own, each rule's contact and consent, and
    the customer fields any template reads (None: a template may read any)."""
    fields = renderer.customer_fields
    if fields is None:
        return None
    present = [row[0] for row in con.execute(f"DESCRIBE {features}").fetchall()]
    wanted = {*_PLANNER_COLUMNS, *fields, "name"}
    wanted |= {c for r in rules for c in (r.contact_column, r.consent_column) if c}
    wanted |= {anchor for r in rules for anchor in _anchors(r) if anchor in r.date_fields}  # declared date fields timings anchor on
    return [c for c in present if c in wanted]


def _anchors(rule: PlannedRule) -> list[str]:
    when = rule.rule["when"]
    return [str(when[k]) for k in ("on", "before", "after") if k in when]


def _drop(con: duckdb.DuckDBPyConnection, *relations: str) -> None:
    """Drop the relations that exist (a table or a view)."""
    for name in relations:
        kind = scalar(con, "SELECT CASE WHEN table_type = 'VIEW' THEN 'VIEW' ELSE 'TABLE' END FROM information_schema.tables WHERE table_name = ?", [name])
        if kind is not None:
            con.execute(f"DROP {kind} IF EXISTS {name}")


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


def create_rules_table(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], table: str) -> None:
    """CREATE `table`: what each rule index stands for. The per-candidate tables keep
    only the index: at a million customers, six repeated strings per row were gigabytes."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} (rule_index INTEGER, playbook VARCHAR, rule_id VARCHAR, intent VARCHAR, channel VARCHAR,
            priority INTEGER, intent_rank INTEGER, locale VARCHAR, consent_basis VARCHAR, care_text VARCHAR)""")
    if rules:
        con.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[r.index, r.playbook, r.id, r.intent, r.channel, r.priority, INTENT_ORDER[r.intent], r.ctx.locale, r.consent_basis, _care_text(r)] for r in rules],
        )


def _decide(con: duckdb.DuckDBPyConnection, caps: list, rel: Relations) -> None:
    """CREATE rel.decided (every candidate with status and reason; a promotion sent on
    the same day as a care touch goes no earlier than it) and rel.winners (for each
    candidate lost to a cap, the message that took the slot)."""
    promotion = INTENT_ORDER["promotion"]
    care = INTENT_ORDER["care"]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {rel.decided} AS
        WITH judged AS (
            SELECT c.cand_id, c.customer_id, c.rule_index, c.step, c.scheduled_date, c.send_date, c.event, c.event_date, c.event_id, c.contact,
                   c.send_local AS planned_local, c.send_utc AS planned_utc, c.utc_offset AS planned_offset, c.tz, r.intent_rank, v.cap, v.position,
                   CASE WHEN c.early_reason IS NOT NULL OR f.cand_id IS NOT NULL THEN 'suppressed' WHEN v.outcome = {ACCEPTED} AND c.held_out THEN 'holdout'
                        WHEN v.outcome = {ACCEPTED} THEN 'send' ELSE 'suppressed' END AS status,
                   coalesce(c.early_reason, f.error_reason, CASE v.outcome WHEN {CAPPED} THEN 'frequency_cap' WHEN {CARE_FIRST} THEN 'care_first' END) AS reason
            FROM {rel.candidates} c JOIN {rel.rules} r USING (rule_index) LEFT JOIN {rel.verdicts} v USING (cand_id)
            LEFT JOIN (SELECT cand_id, error_reason FROM {rel.rendered} WHERE error IS NOT NULL) f USING (cand_id)),
        shifted AS (
            -- same day: a promotion goes no earlier than that day's care touch
            SELECT * EXCLUDE (intent_rank), intent_rank,
                   CASE WHEN intent_rank = {promotion} AND status IN ('send', 'holdout')
                        THEN greatest(planned_local, coalesce(max(planned_local) FILTER (WHERE intent_rank = {care} AND status IN ('send', 'holdout'))
                             OVER (PARTITION BY customer_id, send_date), planned_local))
                        ELSE planned_local END AS send_local
            FROM judged)
        SELECT s.* EXCLUDE (tz, planned_utc, planned_offset),
               CASE WHEN s.send_local = s.planned_local THEN s.planned_utc ELSE k.send_utc END AS send_utc,
               CASE WHEN s.send_local = s.planned_local THEN s.planned_offset ELSE k.utc_offset END AS utc_offset
        FROM shifted s LEFT JOIN {rel.clock} k USING (tz, send_local)""")
    # The winner of a cap conflict: the first accepted message (greedy order) of the same
    # customer within the cap's reach, else an earlier message from the history.
    reach = "CASE v.cap " + " ".join(f"WHEN {i} THEN {c.days}" for i, c in enumerate(caps)) + " END" if caps else "0"
    scope = " ".join(
        f"WHEN {i} THEN {'r.channel = ' + lit(c.channel) if c.channel else 'true'} AND {'r.intent = ' + lit(c.intent) if c.intent else 'true'}"
        for i, c in enumerate(caps)
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {rel.winners} AS
        SELECT v.cand_id, arg_min(r.playbook || '/' || r.rule_id || ' on ' || strftime(w.send_date, '%Y-%m-%d'), w.position) AS winner
        FROM (SELECT cand_id, customer_id, send_date, cap FROM {rel.decided} WHERE reason = 'frequency_cap') v
        JOIN (SELECT customer_id, send_date, rule_index, position FROM {rel.decided} WHERE status IN ('send', 'holdout')) w
          ON w.customer_id = v.customer_id AND abs(date_diff('day', w.send_date, v.send_date)) < {reach}
        JOIN {rel.rules} r ON r.rule_index = w.rule_index
        WHERE {f"CASE v.cap {scope} END" if caps else "false"}
        GROUP BY v.cand_id""")


def _care_text(rule: PlannedRule) -> str:
    days = care_within(rule.ctx)
    return f"no care touch to this customer in the {days} days before (care_first)" if days else ""


def _assemble(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], caps: list, plan_id: str, as_of: str, rel: Relations) -> None:
    """CREATE the view rel.plan: the rows (rel.rows) in their final form and order."""
    offset = "printf('%s%02d:%02d', CASE WHEN d.utc_offset < 0 THEN '-' ELSE '+' END, abs(d.utc_offset) // 60, abs(d.utc_offset) % 60)"
    cap_text = "CASE d.cap " + " ".join(f"WHEN {i} THEN {lit(c.describe())}" for i, c in enumerate(caps)) + " END" if caps else "NULL"
    # rel.rows holds what differs per row, in the plan's order; the view rel.plan adds what
    # follows from the rule (names, consent basis) and from the row (key, send_at) as it
    # is read: at a million customers a table of the finished rows was 2 GB more.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {rel.rows} AS
        SELECT row_number() OVER (ORDER BY d.send_utc, d.customer_id, d.intent_rank, r.playbook, r.rule_id, d.step) AS plan_row,
               d.customer_id, d.rule_index, d.step, d.scheduled_date, d.event_date, d.event_id, d.send_local, d.utc_offset, d.status, d.reason,
               CASE WHEN d.reason IN ('render_error', 'sms_too_long') THEN x.error END AS error,
               CASE WHEN d.reason = 'frequency_cap' THEN coalesce(w.winner, 'earlier messages (history)') END AS winner, d.cap,
               d.contact,
               CASE WHEN d.status = 'send' OR d.reason IN ('render_error', 'sms_too_long') THEN x.template END AS template,
               CASE WHEN d.status = 'send' THEN {{'subject': x.subject, 'body': x.body, 'html': x.html, 'segments': x.segments, 'extra': x.extra}} END AS content,
               d.send_utc, d.intent_rank
        FROM {rel.decided} d JOIN {rel.rules} r USING (rule_index) LEFT JOIN {rel.rendered} x USING (cand_id) LEFT JOIN {rel.winners} w USING (cand_id)
        ORDER BY plan_row""")
    # Rule attributes by CASE, not a join: a projection of the ordered table keeps its
    # order (DuckDB preserves insertion order), so reading the view needs no sort.
    def by_rule(attribute: str) -> str:
        if not rules:
            return "NULL"
        values = [getattr(r, attribute) for r in rules]
        return "CASE d.rule_index " + " ".join(f"WHEN {r.index} THEN {v if isinstance(v, int) else lit(v)}" for r, v in zip(rules, values)) + " END"

    # The detail is text made from the reason and the rule as the view is read: in the
    # sorted table it was 3.4M strings to spill under the memory limit (docs/engines.md).
    care_text = "CASE d.rule_index " + " ".join(f"WHEN {r.index} THEN {lit(_care_text(r))}" for r in rules) + " END" if rules else "NULL"
    channel, basis = by_rule("channel"), by_rule("consent_basis")
    reason_detail = f"""CASE d.reason
                 WHEN 'render_error' THEN d.error WHEN 'sms_too_long' THEN d.error
                 WHEN 'frequency_cap' THEN 'cap ' || {cap_text} || ' taken by ' || d.winner
                 WHEN 'care_first' THEN {care_text}
                 WHEN 'already_sent' THEN 'the send ledger has this message (same trigger) as sent, or in flight when a run stopped'
                 WHEN 'opted_out' THEN 'on the opt-out list for ' || {channel}
                 WHEN 'quiet_hours' THEN 'the send time is inside quiet hours and the policy drops it'
                 WHEN 'no_contact' THEN 'no ' || {channel} || ' contact on file'
                 WHEN 'invalid_phone' THEN 'the phone number on file is not one (digits, a leading +, spaces, hyphens, parentheses)'
                 WHEN 'invalid_email' THEN 'the email address on file is not one address (local@domain, no spaces, quotes or line breaks)'
                 WHEN 'no_consent' THEN 'no ' || {basis} || ' for ' || {channel}
               END"""
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW {rel.plan} AS
        SELECT *, CASE WHEN status = 'send' THEN {checksum_sql()} END AS checksum FROM (
        SELECT {lit(plan_id)} AS plan_id, DATE {lit(as_of)} AS as_of, {key_sql()} AS idempotency_key, customer_id, playbook, rule_id, step, intent,
               channel, priority, scheduled_date, "trigger", send_at, status, reason, reason_detail, consent_basis, "to", locale, template, content, send_utc, intent_rank
        FROM (SELECT d.customer_id, {by_rule("playbook")} AS playbook, {by_rule("id")} AS rule_id, d.step, {by_rule("intent")} AS intent,
                     {by_rule("channel")} AS channel, CAST({by_rule("priority")} AS INTEGER) AS priority, d.scheduled_date, {trigger_case(rules, "d").sql("duckdb")} AS "trigger",
                     strftime(d.send_local, '%Y-%m-%dT%H:%M:%S') || {offset} AS send_at, d.status, d.reason, {reason_detail} AS reason_detail,
                     {by_rule("consent_basis")} AS consent_basis, d.contact AS "to", {by_rule("locale")} AS locale, d.template, d.content,
                     d.send_utc, d.intent_rank
              FROM {rel.rows} d))""")

