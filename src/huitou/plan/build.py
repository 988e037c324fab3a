"""The plan: candidates, arbitration, rendering, in that order (see docs/plan.md).

Everything before rendering is SQL or vectorised numpy; rendering touches only the
sends that survived. The result is the table `plan` in the session's DuckDB, ordered and
deterministic, which output.py writes or summarises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import sqlglot
from sqlglot import exp

from ..checks.context import PlaybookContext
from ..compile import compile_playbook
from ..contract import checksum_sql, key_sql, project_id
from ..data.consent import plan_note
from ..db import create_temp, date_literal, scalar, select_tree, tree
from ..engines.base import Engine, local_table
from ..evaluate import DataSession, lifecycle_override
from ..relation import Relation, Scratch
from ..vocabulary import Reason, Status
from .arbitrate import Arbitrated, arbitrate, history_query, plan_caps, ranked_statement
from .candidates import CandidateInputs, Candidates, build_candidates, candidate_statements, matched_query
from .decide import DECIDED_TYPES, Decided, DecisionInputs, decide, decision_statements
from .inputs import load_history, load_ledger_done, load_optouts, with_inputs
from .render import Renderer, rule_specs
from .render_jobs import RenderInputs, create_rendered, render_sends
from .render_memo import RenderMemo
from .rules import INTENT_ORDER, PlannedRule, care_within, planned_rules
from .timing import Window, anchor_of
from .triggers import by_rule, trigger_case


class PlannedMessage(NamedTuple):
    """One row of a plan as `huitou preview` shows it (Plan.messages_of)."""

    step: int
    scheduled_date: dt.date
    send_at: str  # ISO 8601 with the customer's offset
    status: Status
    reason: Reason | None
    reason_detail: str | None
    channel: str
    to: str | None
    content: dict[str, Any] | None  # subject, body, html, ...

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> PlannedMessage:
        step, scheduled, send_at, status, reason, detail, channel, to, content = row
        return cls(step, scheduled, send_at, Status(status), Reason(reason) if reason else None, detail, channel, to, content)


@dataclass
class Plan:
    rows: Relation  # the plan's rows, in order: what output, delivery and diff read
    plan_id: str
    window: Window
    size: int  # how many rows
    notes: list[str]
    timings: dict[str, float]  # seconds per stage (benchmarks/plan.py reports them)
    reports: list = field(default_factory=list)  # the data's load reports, when run_plan loaded it
    warnings: list[str] = field(default_factory=list)  # said with the notes, but not a rule test's error (notes are: the data a test gives is wrong)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.rows.con

    def messages_of(self, playbook: str, rule_id: str) -> list[PlannedMessage]:
        """The plan's rows of one rule, in send order."""
        columns = list(PlannedMessage._fields)
        query = (
            exp.select(*(exp.column(c, quoted=True) for c in columns))
            .from_(self.rows.table.copy())
            .where(exp.and_(exp.column("playbook").eq(exp.Placeholder()), exp.column("rule_id").eq(exp.Placeholder())))
            .order_by("send_at", "step")
        )
        return [PlannedMessage.of(row) for row in self.con.execute(query.sql("duckdb"), [playbook, rule_id]).fetchall()]


def plan_id_for(playbooks: list[PlaybookContext], window: Window) -> str:
    """Names the inputs that define the plan: the window and the playbooks' text."""
    digest = hashlib.sha256(f"{window.start.isoformat()}|{window.days}".encode())
    for ctx in sorted(playbooks, key=lambda c: c.name):
        digest.update(ctx.name.encode() + b"\0" + ctx.doc.text.encode())
    return digest.hexdigest()[:16]


def _rule_predicates(playbooks: list[PlaybookContext], rules: list[PlannedRule]) -> list[exp.Expr]:
    predicates: dict[tuple[str, str], exp.Expr] = {}
    for ctx in playbooks:
        for item in compile_playbook(ctx, lifecycle_override(ctx)):
            if item.kind == "rule":
                predicates[(ctx.name, item.name)] = item.sql
    return [predicates[(r.playbook, r.id)] for r in rules]


def _consent_notes(rules: list[PlannedRule], absent: frozenset[str]) -> list[str]:
    """A note for each channel whose rules need consent the data has no column for."""
    lacking = {(rule.channel, rule.consent_column) for rule in rules if rule.basis == "consent" and rule.consent_column in absent}
    return [plan_note(channel, str(column)) for channel, column in sorted(lacking)]


def build_plan(
    session: DataSession,
    playbooks: list[PlaybookContext],
    horizon: int,
    *,
    customer: str | None = None,
    jobs: int | None = None,
    inputs: dict[str, Path | None] | None = None,
    prefix: str = "plan",
    memo: RenderMemo | None = None,
    keep: bool = False,
) -> Plan:
    """`inputs` replaces the project's history, opt-out and ledger files (see
    inputs.with_inputs); `huitou test` gives each test its own. `prefix` names the
    stages' relations (`<prefix>_candidates`, ...; the plan itself `<prefix>`), so that
    two plans share a session. `memo`: messages earlier plans of the session rendered,
    which this one copies where it would render the same (huitou diff; render_memo.py).
    `keep`: the rows are computed once into a table, for a caller that reads them several
    times (the dry run's summary); else the plan is a view, computed as it is read
    (written once to a file, a million rows never held)."""
    con, window = session.con, Window(session.as_of, horizon)
    stage, features, orders = session.plan_features()
    # Each stage asks the scratch for what it makes and hands it on; what is left when
    # the plan ends is dropped then (all of it, when it fails): the plan keeps its own rows.
    with Scratch(con, prefix) as scratch:
        project = playbooks[0].project if playbooks else None
        rules = planned_rules(playbooks)
        if customer is not None:
            features = exp.select("*").from_(features.subquery("f")).where(exp.column("customer_id").eq(exp.Literal.string(customer)))
        clock = _Clock()
        renderer = Renderer(rule_specs(rules))  # every rule's templates, compiled once
        feature_types = session.feature_types()
        columns = _columns_read(list(feature_types), rules, renderer)
        matched_rows = matched_query(features, _rule_predicates(playbooks, rules), columns)
        root, config = (project.root, project.config) if project else (None, {})
        if inputs is not None:
            config = with_inputs(config, inputs)
        notes: list[str] = []
        customers = session.data.customers.table
        optouts = load_optouts(con, config, root, scratch.new("optouts").name, customers, notes) if project else None  # type: ignore[arg-type]
        history = load_history(con, config, root, session.timezone, notes, scratch, customers) if project else None  # type: ignore[arg-type]
        done, legacy = load_ledger_done(con, config, root, scratch.new("ledger_done").name) if project else (None, False)  # type: ignore[arg-type]
        given = CandidateInputs(orders, optouts, done, legacy)
        local = stage.kind == "duckdb"  # huitou's own DuckDB: no relation crosses
        if local:
            matched = stage.temp(scratch.new("matched").name, matched_rows)
            clock.lap("features and segments of the matched customers")
            made = build_candidates(stage, rules, window, matched, given, scratch)
        else:
            flags = {f"m_{rule.index}": "BOOLEAN" for rule in rules}
            types = {c: feature_types[c] for c in (columns if columns is not None else feature_types)} | flags
            matched, made = session.engine_step(
                "computing the candidates",
                lambda: _candidates_on(stage, con, matched_rows, types, rules, window, given, scratch),
            )
            clock.lap("features, segments and candidates on the engine")
        scratch.drop(optouts, done)  # read only by the candidates
        rendered = create_rendered(con, scratch)
        rules_table = create_rules_table(con, rules, scratch.new("rules").name)
        failed = scratch.new("failed")
        past_query = history_query(rules, window.start, horizon, history.view, matched, made.zones, session.timezone) if history else None
        past: exp.Table | None
        if local:
            con.execute(
                exp.Create(
                    this=failed.copy(),
                    kind="VIEW",
                    replace=True,
                    properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                    expression=_failures(rendered),
                ).sql("duckdb")
            )
            past = create_temp(con, scratch.new("history_counts").name, past_query) if past_query is not None else None
        else:
            past = session.engine_step(
                "copying the plan's inputs", lambda: _inputs_on(stage, con, rules_table, failed, rendered, past_query, scratch)
            )
        clock.lap("candidates: timings, opt-outs, contact, consent, holdout")
        contest = _Contest(rules, window, made, rules_table, failed, past)
        # A send that fails to render is out, and its cap slot goes to the next candidate:
        # arbitrate again without the failures and render what that newly accepts (rarely
        # more than one extra round; each round removes at least one candidate).
        while True:
            arbitrated, decided = session.engine_step("arbitrating the candidates", lambda: _arbitrate_and_decide(stage, con, contest, scratch))
            clock.lap("arbitration: caps, priority, care-first, reasons")
            to_render = RenderInputs(decided.decided, matched, session.data.orders.table, rendered)
            failures = render_sends(con, rules, renderer, to_render, scratch, jobs, memo)
            if failures and not local:
                session.engine_step("copying the render failures", lambda: stage.take_local(failed.name, con, _failures(rendered)))
            clock.lap("rendering the sends")
            if not failures:
                break
        warnings = _consent_notes(rules, session.absent)
        if renderer.unsigned_unsubscribe:
            warnings.append(
                "unsubscribe links in email bodies carry the bare customer id (anyone could use them for anyone): the secret that signs them is not set for "
                + ", ".join(renderer.unsigned_unsubscribe)
                + "; see docs/delivery.md"
            )
        pid = plan_id_for(playbooks, window)
        # Tables are given back as soon as nothing reads them: under the default memory
        # limit (docs/engines.md) what DuckDB holds is what it does not spill.
        scratch.drop(made.candidates, matched, made.clock, made.zones, past, *([history.view, *history.parts] if history else []))
        numbered = None if local else session.engine_step("numbering the plan's rows", lambda: _ordered_from(stage, con, contest, decided, scratch))
        ordered = ordered_statement(decided, rules_table, scratch)[1].subquery("o") if numbered is None else numbered
        plan = _assemble(
            con,
            rules,
            arbitrated.caps,
            pid,
            window.start.isoformat(),
            ordered,
            rendered,
            project_id(project.config) if project else "",
            scratch,
            keep,
        )
        # Only the plan's rows are read from here on (kept: the plan's own table).
        scratch.drop(decided.winners, decided.decided, failed, rendered, rules_table, numbered, *([plan.rows] if keep else []))
        scratch.keep(plan.plan, *([] if keep else [plan.rows]))
        clock.lap("assembling the plan")
        return Plan(Relation(plan.plan, con), pid, window, plan.size, notes, clock.laps, warnings=warnings)


@dataclass(frozen=True)
class _Contest:
    """What arbitration and the decisions read, the same in every round."""

    rules: list[PlannedRule]
    window: Window
    made: Candidates  # the candidates, their clock and zones
    rules_table: exp.Table  # what each rule index stands for (create_rules_table)
    failed: exp.Table  # the sends that failed to render
    past: exp.Table | None  # the history's messages per customer and day (arbitrate.history_query)


# What each stage's relation holds (huitou compile says it).
_STAGE_NOTES = {
    "matched": "the feature rows some rule selects, a flag per rule",
    "events": "the orders immediate rules answer",
    "candidates_local": "every rule's send dates and local times, with what settles before arbitration (zones: huitou's, from the features)",
    "candidates": "the candidates numbered, with the instant of each local time (clock: huitou's, from the local times)",
    "candidates_ranked": "the eligible candidates in greedy order; huitou's arbitration reads them a partition of customers at a time "
    "and writes plan_verdicts (outcome, cap, position)",
    "decided": "every candidate with status and reason (failed: the sends huitou could not render)",
    "winners": "for each candidate lost to a cap, the message that took its slot",
    "ordered": "the plan's rows numbered in order; huitou joins its rendered messages and writes the plan file (keys, send_at, checksum)",
}


def plan_trees(playbooks: list[PlaybookContext], features: exp.Select, orders: exp.Table, as_of: dt.date, horizon: int) -> list[tuple[str, exp.Expr]]:
    """The statements of the plan's stages over the features, as (what, tree), as a plan
    with opt-outs and a send ledger runs them (huitou compile): the matched customers, the
    candidates, the candidates ranked for arbitration, the decisions and the rows. The
    matched relation keeps every feature column here; a plan keeps those the later
    stages read (_columns_read), which needs the data."""
    rules = planned_rules(playbooks)
    scratch = Scratch(None, "plan")  # names only: nothing is made
    matched = scratch.new("matched")
    window = Window(as_of, horizon)
    given = CandidateInputs(orders, scratch.new("optouts"), scratch.new("ledger_done"))
    candidates = candidate_statements(rules, window, matched, given, scratch)
    made = Candidates(*(scratch.new(stem) for stem in ("candidates", "clock", "zones")))
    failed, rules_table = scratch.new("failed"), scratch.new("rules")
    decisions = decision_statements(
        plan_caps(rules), DecisionInputs(made.candidates, rules_table, scratch.new("verdicts"), failed, made.clock), scratch
    )
    decided = Decided(*(scratch.new(stem) for stem in ("decided", "winners")))
    statements = [
        (matched.name, matched_query(features, _rule_predicates(playbooks, rules))),
        *candidates,
        ranked_statement(rules, window.start, horizon, made.candidates, failed, scratch),
        *decisions,
        ordered_statement(decided, rules_table, scratch),
    ]
    return [(f"{name}: {_STAGE_NOTES[name.removeprefix('plan_')]}", query) for name, query in statements]


# Feature columns the planner itself reads (anchors, the customer's zone, the as-of date).
_PLANNER_COLUMNS = (
    "customer_id",
    "as_of",
    "timezone",
    "birthday",
    "first_order_date",
    "last_order_date",
    "days_since_last_delivery",
    "purchase_cycle_days",
)


def _candidates_on(
    engine: Engine,
    con: duckdb.DuckDBPyConnection,
    matched_rows: exp.Select,
    types: dict[str, str],
    rules: list[PlannedRule],
    window: Window,
    given: CandidateInputs,
    scratch: Scratch,
) -> tuple[exp.Table, Candidates]:
    """The matched customers and the candidates computed on another engine (beside the
    features, which stay there), the opt-outs and the ledger's messages taken in. The
    candidates and the clock stay there for arbitration and the decisions; the matched
    customers (rendering reads them) and the zones (the history's days) come back into
    `con` under the same names. Returns the matched customers and the candidates."""

    def taken_in(local: exp.Table | None) -> exp.Table | None:
        return None if local is None else engine.take_local(local.name, con, exp.select("*").from_(local))

    optouts, done = taken_in(given.optouts), taken_in(given.done)
    matched = engine.temp(scratch.new("matched").name, matched_rows)
    made = build_candidates(engine, rules, window, matched, dataclasses.replace(given, optouts=optouts, done=done), scratch)
    for table, columns in ((matched, types), (made.zones, {"name": "VARCHAR"})):
        engine.bring(exp.select(*[exp.column(c, quoted=True) for c in columns]).from_(table), con, table.name, columns)
    for gone in (matched, made.zones, optouts, done):
        if gone is not None:
            engine.drop(gone)
    return matched, made


def _inputs_on(
    engine: Engine,
    con: duckdb.DuckDBPyConnection,
    rules: exp.Table,
    failed: exp.Table,
    rendered: exp.Table,
    past: exp.Select | None,
    scratch: Scratch,
) -> exp.Table | None:
    """What arbitration and the decisions read besides the candidates, copied to the
    engine: the rules, the (so far no) render failures and the history's counts (`past`,
    a query of `con`); the counts' relation there."""
    engine.take_local(rules.name, con, exp.select("*").from_(rules))
    engine.take_local(failed.name, con, _failures(rendered))
    return engine.take_local(scratch.new("history_counts").name, con, past) if past is not None else None


def _failures(rendered: exp.Table) -> exp.Select:
    """The sends that failed to render, from the rendered messages: cand_id, error_reason."""
    return exp.select("cand_id", "error_reason").from_(rendered.copy()).where("error IS NOT NULL")


def _arbitrate_and_decide(engine: Engine, con: duckdb.DuckDBPyConnection, contest: _Contest, scratch: Scratch) -> tuple[Arbitrated, Decided]:
    """Arbitration and the decisions on the engine; the sends come back into `con` (under
    the same name) for rendering when the engine is another."""
    made = contest.made
    window = contest.window
    arbitrated = arbitrate(engine, contest.rules, window.start, window.days, made.candidates, contest.failed, contest.past, scratch)
    given = DecisionInputs(made.candidates, contest.rules_table, arbitrated.verdicts, contest.failed, made.clock)
    decided = decide(engine, arbitrated.caps, given, scratch)
    engine.drop(arbitrated.verdicts)
    if engine.kind != "duckdb":
        sends = exp.select(*[exp.column(c) for c in DECIDED_TYPES]).from_(decided.decided.copy()).where("status = 'send'")
        engine.bring(sends, con, decided.decided.name, DECIDED_TYPES)
    return arbitrated, decided


def _ordered_from(engine: Engine, con: duckdb.DuckDBPyConnection, contest: _Contest, decided: Decided, scratch: Scratch) -> exp.Table:
    """The plan's rows numbered on the engine, brought back into `con`; what the plan
    read on the engine is dropped there."""
    ordered = engine.temp(*ordered_statement(decided, contest.rules_table, scratch))
    engine.bring(exp.select(*[exp.column(c) for c in ORDERED_TYPES]).from_(ordered.copy()), con, ordered.name, ORDERED_TYPES)
    made = contest.made
    for table in (ordered, decided.decided, decided.winners, made.candidates, made.clock, contest.rules_table, contest.failed, contest.past):
        if table is not None:
            engine.drop(table)
    return ordered


def _columns_read(present: list[str], rules: list[PlannedRule], renderer: Renderer) -> list[str] | None:
    """The feature columns the plan needs: its own, each rule's contact and consent, and
    the customer fields any template reads (None: a template may read any)."""
    fields = renderer.customer_fields
    if fields is None:
        return None
    wanted = {*_PLANNER_COLUMNS, *fields, "name"}
    wanted |= {c for r in rules for c in (r.contact_column, r.consent_column) if c}
    wanted |= {a for r in rules if (a := anchor_of(r.rule["when"])) in r.date_fields}  # declared date fields timings anchor on
    return [c for c in present if c in wanted]


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


def create_rules_table(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], table: str) -> exp.Table:
    """CREATE `table`: what each rule index stands for; the table. The per-candidate
    tables keep only the index: at a million customers, six repeated strings per row
    were gigabytes."""
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
    con.execute(local_table(table, columns))
    if rules:
        insert = exp.insert(exp.values([tuple(exp.Placeholder() for _ in columns)]), exp.to_table(table))
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
    return exp.to_table(table)


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
class _Assembled:
    plan: exp.Table  # the view (or table) delivery, output and diff read
    rows: exp.Table  # the rows it reads: numbered, with their messages
    size: int  # how many rows


def _assemble(
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
) -> _Assembled:
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
        checksum=sqlglot.parse_one(checksum_sql(), dialect="duckdb"),
        plan_id=plan_id,
        as_of=date_literal(dt.date.fromisoformat(as_of)),
        key=sqlglot.parse_one(key_sql(), dialect="duckdb"),
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
    return _Assembled(plan, tables["rows"], rows)
