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

from ..checks.context import PlaybookContext
from ..compile import compile_playbook
from ..data.load import lit
from ..evaluate import DataSession, _lifecycle_override
from .arbitrate import ACCEPTED, CAPPED, CARE_FIRST, arbitrate
from .candidates import build_candidates, matched_sql
from .inputs import load_history, load_optouts
from .render import Renderer, rule_specs
from .render_jobs import create_rendered, render_sends
from .rules import INTENT_ORDER, PlannedRule, care_within, planned_rules
from .timing import Window

COLUMNS = (
    "plan_id", "idempotency_key", "customer_id", "playbook", "rule_id", "step", "intent", "channel", "priority",
    "scheduled_date", "send_at", "status", "reason", "reason_detail", "consent_basis", "to", "locale", "template", "content",
)


@dataclass
class Plan:
    con: duckdb.DuckDBPyConnection
    plan_id: str
    window: Window
    rows: int
    notes: list[str]
    timings: dict[str, float]  # seconds per stage (benchmarks/plan.py reports them)
    reports: list = field(default_factory=list)  # the data's load reports, when run_plan loaded it


def plan_id_for(playbooks: list[PlaybookContext], window: Window) -> str:
    """Names the inputs that define the plan: the window and the playbooks' text."""
    digest = hashlib.sha256(f"{window.start.isoformat()}|{window.days}".encode())
    for ctx in sorted(playbooks, key=lambda c: c.name):
        digest.update(ctx.name.encode() + b"\0" + ctx.doc.text.encode())
    return digest.hexdigest()[:16]


def _rule_predicates(playbooks: list[PlaybookContext], rules: list[PlannedRule]) -> list[str]:
    by_rule: dict[tuple[str, str], str] = {}
    for ctx in playbooks:
        for item in compile_playbook(ctx, _lifecycle_override(ctx)):
            if item.kind == "rule":
                by_rule[(ctx.name, item.name)] = item.sql.sql("duckdb")
    return [by_rule[(r.playbook, r.id)] for r in rules]


def build_plan(
    session: DataSession, playbooks: list[PlaybookContext], horizon: int, *, customer: str | None = None, jobs: int | None = None, inputs: dict[str, Path | None] | None = None
) -> Plan:
    """`inputs` replaces the project's `data.history` and `data.suppression` files (a
    None value: no such file); `huitou test` gives each test its own."""
    con, window = session.con, Window(session.as_of, horizon)
    project = playbooks[0].project if playbooks else None
    rules = planned_rules(playbooks)
    features = session.features_sql()
    if customer is not None:
        features = f"SELECT * FROM ({features}) WHERE customer_id = {lit(customer)}"
    clock = _Clock()
    con.execute(matched_sql(features, _rule_predicates(playbooks, rules), _columns_read(con, features, rules)))
    clock.lap("features and segments of the matched customers")
    root, config = (project.root, project.config) if project else (None, {})
    if inputs is not None:
        data = {k: v for k, v in (config.get("data") or {}).items() if k not in inputs}
        config = {**config, "data": {**data, **{k: {"path": str(v)} for k, v in inputs.items() if v is not None}}}
    has_optouts = bool(project) and load_optouts(con, config, root)  # type: ignore[arg-type]
    notes: list[str] = []
    has_history = bool(project) and load_history(con, config, root, session.timezone, notes)  # type: ignore[arg-type]
    build_candidates(con, rules, window, has_optouts)
    create_rendered(con)
    clock.lap("candidates: timings, opt-outs, contact, consent, holdout")
    # A send that fails to render is out, and its cap slot goes to the next candidate:
    # arbitrate again without the failures and render what that newly accepts (rarely
    # more than one extra round; each round removes at least one candidate).
    while True:
        verdicts = arbitrate(con, rules, window.start, horizon, session.timezone if has_history else None)
        con.register("plan_verdicts_arrays", {"cand_id": verdicts.cand_id, "outcome": verdicts.outcome, "cap": verdicts.cap, "position": verdicts.position})
        con.execute("CREATE OR REPLACE TEMP TABLE plan_verdicts AS SELECT * FROM plan_verdicts_arrays")
        con.unregister("plan_verdicts_arrays")
        _decide(con, rules, verdicts.caps)
        con.execute("DROP TABLE plan_winners")
        clock.lap("arbitration: caps, priority, care-first, reasons")
        failed = render_sends(con, rules, jobs)
        clock.lap("rendering the sends")
        if not failed:
            break
    pid = plan_id_for(playbooks, window)
    _assemble(con, rules, pid)
    # Only `plan` is read from here on; the stages' tables are memory to give back.
    con.execute("DROP VIEW IF EXISTS plan_judged")
    for table in ("plan_winners", "plan_decided", "plan_verdicts", "plan_rendered", "plan_rendered_round", "plan_to_render", "plan_candidates", "plan_matched"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    rows = int(con.execute("SELECT count(*) FROM plan").fetchone()[0])  # type: ignore[index]
    clock.lap("assembling the plan")
    return Plan(con, pid, window, rows, notes, clock.laps)


# Feature columns the planner itself reads (anchors, the customer's zone, the as-of date).
_PLANNER_COLUMNS = ("customer_id", "as_of", "timezone", "birthday", "first_order_date", "last_order_date", "days_since_last_delivery", "purchase_cycle_days")


def _columns_read(con: duckdb.DuckDBPyConnection, features: str, rules: list[PlannedRule]) -> list[str] | None:
    """The feature columns the plan needs: its own, each rule's contact and consent, and
    the customer fields any template reads (None: a template may read any)."""
    fields = Renderer(rule_specs(rules, {r.index: r.steps() for r in rules})).customer_fields
    if fields is None:
        return None
    present = [row[0] for row in con.execute(f"DESCRIBE {features}").fetchall()]
    wanted = {*_PLANNER_COLUMNS, *fields, "name"}
    wanted |= {c for r in rules for c in (r.contact_column, r.consent_column) if c}
    return [c for c in present if c in wanted]


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


def _rules_table(rules: list[PlannedRule]) -> str:
    if not rules:
        return "(SELECT 0 AS rule_index, '' AS playbook, '' AS rule_id, '' AS intent, '' AS channel, '' AS kind, 0 AS priority, 0 AS intent_rank, '' AS locale WHERE false)"
    values = ", ".join(
        f"({r.index}, {lit(r.playbook)}, {lit(r.id)}, {lit(r.intent)}, {lit(r.channel)}, {lit(r.kind)}, {r.priority}, {INTENT_ORDER[r.intent]}, {lit(r.ctx.locale)})"
        for r in rules
    )
    return f"(VALUES {values}) AS r(rule_index, playbook, rule_id, intent, channel, kind, priority, intent_rank, locale)"


def _decide(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], caps: list) -> None:
    """CREATE plan_decided: every candidate with status, reason and reason_detail; a
    promotion sent on the same day as a care touch goes no earlier than it."""
    cap_text = "CASE v.cap " + " ".join(f"WHEN {i} THEN {lit(c.describe())}" for i, c in enumerate(caps)) + " END" if caps else "NULL"
    # The winner of a cap conflict: the first accepted message (greedy order) of the same
    # customer within the cap's reach, else an earlier message from the history.
    reach = "CASE v.cap " + " ".join(f"WHEN {i} THEN {c.days}" for i, c in enumerate(caps)) + " END" if caps else "0"
    scope = " ".join(
        f"WHEN {i} THEN {'w.channel = ' + lit(c.channel) if c.channel else 'true'} AND {'w.intent = ' + lit(c.intent) if c.intent else 'true'}"
        for i, c in enumerate(caps)
    )
    scope_sql = f"CASE v.cap {scope} END" if caps else "false"
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW plan_judged AS
        SELECT c.*, r.playbook, r.rule_id, r.intent, r.channel, r.kind, r.priority, r.intent_rank, r.locale,
               v.outcome, v.cap, v.position,
               CASE WHEN c.early_reason IS NOT NULL OR f.cand_id IS NOT NULL THEN 'suppressed' WHEN v.outcome = {ACCEPTED} AND c.held_out THEN 'holdout'
                    WHEN v.outcome = {ACCEPTED} THEN 'send' ELSE 'suppressed' END AS status,
               coalesce(c.early_reason, f.error_reason, CASE v.outcome WHEN {CAPPED} THEN 'frequency_cap' WHEN {CARE_FIRST} THEN 'care_first' END) AS reason,
               f.error AS render_error, {cap_text} AS cap_text, {reach} AS cap_days
        FROM plan_candidates c JOIN {_rules_table(rules)} USING (rule_index) LEFT JOIN plan_verdicts v USING (cand_id)
        LEFT JOIN (SELECT cand_id, error, error_reason FROM plan_rendered WHERE error IS NOT NULL) f USING (cand_id)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE plan_winners AS
        SELECT v.cand_id, arg_min(w.playbook || '/' || w.rule_id || ' on ' || strftime(w.send_date, '%Y-%m-%d'), w.position) AS winner
        FROM plan_judged v JOIN plan_judged w
          ON w.customer_id = v.customer_id AND w.status IN ('send', 'holdout')
         AND abs(date_diff('day', w.send_date, v.send_date)) < v.cap_days AND {scope_sql}
        WHERE v.reason = 'frequency_cap' GROUP BY v.cand_id""")
    care_days = {r.playbook: r for r in rules}
    within = " ".join(f"WHEN {lit(name)} THEN {lit(_care_text(r))}" for name, r in care_days.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE plan_decided AS
        SELECT j.* EXCLUDE (send_local, send_utc, utc_offset),
               CASE j.reason
                 WHEN 'render_error' THEN j.render_error WHEN 'sms_too_long' THEN j.render_error
                 WHEN 'frequency_cap' THEN 'cap ' || j.cap_text || ' taken by ' || coalesce(w.winner, 'earlier messages (history)')
                 WHEN 'care_first' THEN {f'CASE j.playbook {within} END' if within else 'NULL'}
                 WHEN 'opted_out' THEN 'on the opt-out list for ' || j.channel
                 WHEN 'quiet_hours' THEN 'the send time is inside quiet hours and the policy drops it'
                 WHEN 'no_contact' THEN 'no ' || j.channel || ' contact on file'
                 WHEN 'no_consent' THEN 'no ' || j.consent_basis || ' for ' || j.channel
               END AS reason_detail,
               j.send_local AS planned_local,
               -- same day: a promotion goes no earlier than that day's care touch
               CASE WHEN j.intent = 'promotion' AND j.status IN ('send', 'holdout')
                    THEN greatest(j.send_local, coalesce(max(j.send_local) FILTER (WHERE j.intent = 'care' AND j.status IN ('send', 'holdout'))
                         OVER (PARTITION BY j.customer_id, j.send_date), j.send_local))
                    ELSE j.send_local END AS send_local
        FROM plan_judged j LEFT JOIN plan_winners w USING (cand_id)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE plan_decided AS
        SELECT *, epoch(timezone(tz, send_local)) AS send_utc,
               date_diff('minute', timezone('UTC', timezone(tz, send_local)), send_local) AS utc_offset
        FROM plan_decided""")


def _care_text(rule: PlannedRule) -> str:
    days = care_within(rule.ctx)
    return f"no care touch to this customer in the {days} days before (care_first)" if days else ""


def _assemble(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], plan_id: str) -> None:
    """CREATE plan: the rows in their final form and order."""
    offset = "printf('%s%02d:%02d', CASE WHEN utc_offset < 0 THEN '-' ELSE '+' END, abs(utc_offset) // 60, abs(utc_offset) % 60)"
    key = "left(sha256(playbook || chr(31) || rule_id || chr(31) || customer_id || chr(31) || strftime(scheduled_date, '%Y-%m-%d')), 32)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE plan AS
        SELECT {lit(plan_id)} AS plan_id, {key} AS idempotency_key, d.customer_id, d.playbook, d.rule_id, d.step, d.intent,
               d.channel, d.priority, d.scheduled_date, strftime(d.send_local, '%Y-%m-%dT%H:%M:%S') || {offset} AS send_at,
               d.status, d.reason, d.reason_detail, d.consent_basis, d.contact AS "to", d.locale,
               CASE WHEN d.status = 'send' OR d.reason IN ('render_error', 'sms_too_long') THEN x.template END AS template,
               CASE WHEN d.status = 'send' THEN {{'subject': x.subject, 'body': x.body, 'html': x.html, 'segments': x.segments, 'extra': x.extra}} END AS content,
               d.send_utc, d.intent_rank
        FROM plan_decided d LEFT JOIN plan_rendered x USING (cand_id)
        ORDER BY d.send_utc, d.customer_id, d.intent_rank, d.playbook, d.rule_id, d.step""")

