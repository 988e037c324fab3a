"""The plan: candidates, arbitration, rendering, assembly, in that order (docs/plan.md).

build_plan runs the stages in turn and hands each the relations the earlier ones made.
Everything before rendering is SQL or vectorised numpy; rendering touches only the
sends that survived. The result is the view `plan` (the prefix's) in the session's
DuckDB, ordered and deterministic, which output.py writes or summarises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
from sqlglot import exp

from .. import profile
from ..checks.context import PlaybookContext
from ..compile import compile_playbook
from ..contract import project_id
from ..data.consent import plan_note
from ..db import create_temp
from ..engines.base import Engine
from ..evaluate import DataSession, lifecycle_override
from ..i18n import N_, _
from ..relation import Relation, Scratch
from ..vocabulary import Reason, Status
from .arbitrate import Arbitrated, arbitrate, history_query, plan_caps, ranked_statement
from .assemble import ORDERED_TYPES, assemble, create_rules_table, ordered_statement
from .candidates import CandidateInputs, Candidates, build_candidates, candidate_statements, matched_query
from .decide import DECIDED_TYPES, Decided, DecisionInputs, decide, decision_statements
from .inputs import load_history, load_ledger_done, load_optouts, with_inputs
from .render import Renderer, rule_specs
from .render_jobs import RenderInputs, create_rendered, render_sends
from .render_memo import RenderMemo
from .rules import PlannedRule, planned_rules
from .timing import Window, anchor_of


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
    rules: list[PlannedRule] = field(default_factory=list)  # every enabled rule planned, with or without rows
    in_segment: dict[tuple[str, str], int] = field(default_factory=dict)  # (playbook, rule) -> customers selected, when counted

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
    count_segments: bool = False,
) -> Plan:
    """`inputs` replaces the project's history, opt-out and ledger files (see
    inputs.with_inputs); `huitou test` gives each test its own. `prefix` names the
    stages' relations (`<prefix>_candidates`, ...; the plan itself `<prefix>`), so that
    two plans share a session. `memo`: messages earlier plans of the session rendered,
    which this one copies where it would render the same (huitou diff; render_memo.py).
    `keep`: the rows are computed once into a table, for a caller that reads them several
    times (the dry run's summary); else the plan is a view, computed as it is read
    (written once to a file, a million rows never held). `count_segments`: count each
    rule's customers in its segment (Plan.in_segment; the page's funnel starts there)."""
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
            clock.lap(N_("features and segments of the matched customers"), counter(con, matched), N_("customers"))
            made = build_candidates(stage, rules, window, matched, given, scratch)
        else:
            flags = {f"m_{rule.index}": "BOOLEAN" for rule in rules}
            types = {c: feature_types[c] for c in (columns if columns is not None else feature_types)} | flags
            matched, made = session.engine_step(
                N_("computing the candidates"),
                lambda: _candidates_on(stage, con, matched_rows, types, rules, window, given, scratch),
            )
            clock.lap(N_("features, segments and candidates on the engine"), counter(con, matched), N_("customers"))
        scratch.drop(optouts, done)  # read only by the candidates
        in_segment = _segment_counts(con, matched, rules) if count_segments else {}
        rendered = create_rendered(con, scratch)
        rules_table = create_rules_table(con, rules, scratch)
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
                N_("copying the plan's inputs"), lambda: _inputs_on(stage, con, rules_table, failed, rendered, past_query, scratch)
            )
        clock.lap(N_("candidates: timings, opt-outs, contact, consent, holdout"), counter(con, made.candidates) if local else None, N_("candidates"))
        rounds = _Rounds(rules, window, made, rules_table, failed, past)
        # A send that fails to render is out, and its cap slot goes to the next candidate:
        # arbitrate again without the failures and render what that newly accepts (rarely
        # more than one extra round; each round removes at least one candidate).
        while True:
            arbitrated, decided = session.engine_step(N_("arbitrating the candidates"), lambda: _arbitrate_and_decide(stage, con, rounds, scratch))
            clock.lap(N_("arbitration: caps, priority, care-first, reasons"), counter(con, decided.decided) if local else None, N_("decided"))
            to_render = RenderInputs(decided.decided, matched, session.data.orders.table, rendered)
            failures = render_sends(con, rules, renderer, to_render, scratch, jobs, memo)
            if failures and not local:
                session.engine_step(N_("copying the render failures"), lambda: stage.take_local(failed.name, con, _failures(rendered)))
            clock.lap(N_("rendering the sends"), counter(con, rendered), N_("messages"))
            if not failures:
                break
        warnings = _consent_notes(rules, session.absent)
        if renderer.unsigned_unsubscribe:
            said = _(
                "unsubscribe links in email bodies carry the bare customer id (anyone could use them for anyone): "
                "the secret that signs them is not set for {channels}; see docs/delivery.md",
                channels=", ".join(renderer.unsigned_unsubscribe),
            )
            warnings.append(said)
        pid = plan_id_for(playbooks, window)
        # Tables are given back as soon as nothing reads them: under the default memory
        # limit (docs/engines.md) what DuckDB holds is what it does not spill.
        scratch.drop(made.candidates, matched, made.clock, made.zones, past, *([history.view, *history.parts] if history else []))
        numbered = (
            None if local else session.engine_step(N_("numbering the plan's rows"), lambda: _ordered_from(stage, con, rounds, decided, scratch))
        )
        ordered = ordered_statement(decided, rules_table, scratch)[1].subquery("o") if numbered is None else numbered
        plan = assemble(
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
        clock.lap(N_("assembling the plan"), lambda: plan.size, N_("plan rows"))
        return Plan(Relation(plan.plan, con), pid, window, plan.size, notes, clock.laps, warnings=warnings, rules=rules, in_segment=in_segment)


def _segment_counts(con: duckdb.DuckDBPyConnection, matched: exp.Table, rules: list[PlannedRule]) -> dict[tuple[str, str], int]:
    """Each rule's customers in its segment: one pass over the matched customers' flags
    (in `con` on every engine: rendering reads them there)."""
    if not rules:
        return {}
    counts = [exp.Sum(this=exp.If(this=exp.column(f"m_{r.index}"), true=exp.Literal.number(1), false=exp.Literal.number(0))) for r in rules]
    row = con.execute(exp.select(*counts).from_(matched.copy()).sql("duckdb")).fetchone() or ()
    return {(r.playbook, r.id): int(n or 0) for r, n in zip(rules, row, strict=True)}


@dataclass(frozen=True)
class _Rounds:
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


def _arbitrate_and_decide(engine: Engine, con: duckdb.DuckDBPyConnection, rounds: _Rounds, scratch: Scratch) -> tuple[Arbitrated, Decided]:
    """Arbitration and the decisions on the engine; the sends come back into `con` (under
    the same name) for rendering when the engine is another."""
    made = rounds.made
    window = rounds.window
    arbitrated = arbitrate(engine, rounds.rules, window.start, window.days, made.candidates, rounds.failed, rounds.past, scratch)
    given = DecisionInputs(made.candidates, rounds.rules_table, arbitrated.verdicts, rounds.failed, made.clock)
    decided = decide(engine, arbitrated.caps, given, scratch)
    engine.drop(arbitrated.verdicts)
    if engine.kind != "duckdb":
        sends = exp.select(*[exp.column(c) for c in DECIDED_TYPES]).from_(decided.decided.copy()).where("status = 'send'")
        engine.bring(sends, con, decided.decided.name, DECIDED_TYPES)
    return arbitrated, decided


def _ordered_from(engine: Engine, con: duckdb.DuckDBPyConnection, rounds: _Rounds, decided: Decided, scratch: Scratch) -> exp.Table:
    """The plan's rows numbered on the engine, brought back into `con`; what the plan
    read on the engine is dropped there."""
    ordered = engine.temp(*ordered_statement(decided, rounds.rules_table, scratch))
    engine.bring(exp.select(*[exp.column(c) for c in ORDERED_TYPES]).from_(ordered.copy()), con, ordered.name, ORDERED_TYPES)
    made = rounds.made
    for table in (ordered, decided.decided, decided.winners, made.candidates, made.clock, rounds.rules_table, rounds.failed, rounds.past):
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
    """Seconds per stage (Plan.timings), handed to `huitou plan --profile` as well with
    the rows each stage made (counted only when profiling, and not timed)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str, rows: Callable[[], int] | None = None, of: str = "") -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        profile.lap(name, rows, of)
        self._last = time.perf_counter()


def counter(con: duckdb.DuckDBPyConnection, table: exp.Table) -> Callable[[], int]:
    """Counts `table`'s rows when called (a profile's rows)."""
    return lambda: Relation(table, con).count()
