"""Every (customer, rule, step, date) the timings produce inside the window, in SQL.

Two statements. The matched relation holds the feature row of every customer some rule's
segment selects, with one boolean per rule (one pass over the features). Then the
candidates relation expands each rule's matches into its send dates and settles, per row,
what needs no arbitration: opt-outs, quiet hours set to drop, a missing contact, a missing
consent, and the holdout draw. Caps and care-first come after (arbitrate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..calendar import anchor_kind
from ..db import date_literal, tree, union_all
from ..engines.base import Engine
from ..engines.portable import hex_int
from ..relation import Scratch
from .clock import create_clock, valid_zones
from .rules import PlannedRule
from .timing import Window, _offsets, constant_dates, customer_anchors, weekday_shift
from .triggers import by_rule, delivered_case, event_id, events_query, needs_events

# Why a candidate is not sent, before arbitration (first match wins).
# What a phone number may look like: digits, an optional leading +, spaces, hyphens, parentheses.
PHONE_PATTERN = r"\+?[0-9][0-9 ()\-]{4,24}"
# local@domain.tld without spaces, quotes, angle brackets or control characters: what
# reaches an SMTP header is one address, never "a@b.cn\r\nBcc: ...". A space, not \s:
# each engine's \s is a different set (the control characters are excluded anyway).
_NOT_IN_ADDRESS = r" @<>()\[\],;:\\\"\x00-\x1f\x7f"
_LABEL = rf"[^{_NOT_IN_ADDRESS}.]+"  # a domain label; IDN labels (例子.cn) are letters too
EMAIL_PATTERN = rf"[^{_NOT_IN_ADDRESS}]{{1,64}}@{_LABEL}(\.{_LABEL})+"


def matched_query(features: exp.Query, predicates: list[exp.Expr], columns: list[str] | None = None) -> exp.Select:
    """The matched relation: the feature rows some rule's segment selects, with a flag
    m_<rule index> per rule. `columns`: the feature columns later stages read (None: all
    of them); a narrow table is most of the plan's memory saved at a million customers."""
    # Each node made once, in place (copy=False): sqlglot's builders copy what they are
    # given, and each predicate was copied four times on its way into the flags.
    flags = [exp.alias_(exp.Coalesce(this=p.copy(), expressions=[exp.false()]), f"m_{i}", copy=False) for i, p in enumerate(predicates)]
    names = [f"m_{i}" for i in range(len(predicates))]
    keep = [exp.column(c, quoted=True) for c in [*columns, *names]] if columns is not None else [exp.Star()]
    inner = exp.select(exp.Star(), *flags, copy=False).from_(features.copy().subquery("f", copy=False), copy=False)
    where = exp.or_(*map(exp.column, names), copy=False) if names else exp.false()
    return exp.select(*keep, copy=False).from_(inner.subquery("flagged", copy=False), copy=False).where(where, copy=False)


# One rule's candidates: its matched customers on each of its dates in the window, with
# what settles before arbitration from the customer's own row (the early reason, first
# match wins) and the holdout draw. What needs another relation (the zones, the opt-outs,
# the ledger) is joined once for every rule's rows (_LOCAL): a subquery per rule made
# Spark plan 32 joins for the example shop.
_RULE = """
    SELECT m.customer_id, :rule_index AS rule_index, CAST(:step AS INTEGER) AS step, :scheduled AS scheduled_date, :shifted AS send_date,
           :event AS event, :event_date AS event_date, :event_id AS event_id, m.timezone AS tz, :contact AS contact,
           CASE WHEN :dropped THEN 'quiet_hours' WHEN NOT :has_contact THEN 'no_contact'
                WHEN NOT :phone_ok THEN 'invalid_phone' WHEN NOT :email_ok THEN 'invalid_email' WHEN NOT :consent_ok THEN 'no_consent' END AS early_reason,
           :held AS held_out
    FROM :matched AS m
    WHERE :selected AND :scheduled BETWEEN :first AND :last"""
# The holdout draw: a salted hash of the customer id, in hundredths of a percent.
_HELD = ":draw % 10000 < :share"


def _dates_for(rule: PlannedRule, window: Window) -> tuple[list[exp.Expr], dict[str, exp.Expr]] | None:
    """The relations a rule's dates come from (joined to the matched customers) and the
    step, scheduled date, event and event date over them; None: no date in the window."""
    when = rule.rule["when"]
    constant = constant_dates(when, window, rule.date_fields, rule.shop_founded)
    if constant is not None:
        if not constant:
            return None
        rows = [
            (
                step,
                date_literal(day),
                exp.Literal.string(event) if event else exp.null(),
                date_literal(ev) if ev else exp.cast(exp.null(), "DATE"),
            )
            for step, day, event, ev in constant
        ]
        dates = exp.values(rows, alias="t", columns=["step", "scheduled_date", "event", "event_date"])
        return [dates], {
            "step": exp.column("step", "t"),
            "scheduled": exp.column("scheduled_date", "t"),
            "event": exp.column("event", "t"),
            "event_date": exp.column("event_date", "t"),
        }
    anchor, offsets = _offsets(when)
    assert anchor_kind(anchor, rule.date_fields) == "customer"
    steps = exp.values([(abs(o), o) for o in offsets], alias="o", columns=["step", "day_offset"])
    anchors = exp.Unnest(
        expressions=[exp.Array(expressions=customer_anchors(anchor, window))],
        alias=exp.TableAlias(this=exp.to_identifier("u"), columns=[exp.to_identifier("anchor_date")]),
    )
    scheduled = tree("u.anchor_date + o.day_offset")
    return [steps, anchors], {
        "step": exp.column("step", "o"),
        "scheduled": scheduled,
        "event": exp.Literal.string(anchor),
        "event_date": exp.column("anchor_date", "u"),
    }


def rule_query(rule: PlannedRule, window: Window, matched: exp.Table, events: exp.Table | None) -> exp.Select | None:
    """One rule's candidates from the `matched` customers (and the `events` immediate
    rules answer, when there are any), or None when its timing has no date in the window."""
    dates = _dates_for(rule, window)
    if dates is None:
        return None
    sources, columns = dates
    first, last = window.bounds()
    contact = exp.cast(exp.column(rule.contact_column, "m", quoted=True), "VARCHAR") if rule.contact_column else exp.null()
    has_contact = tree("(:contact IS NOT NULL AND trim(:contact) <> '')", contact=contact) if rule.contact_column else exp.true()

    # A phone number is a phone number: anything else (a formula, a script) never reaches
    # an SMS gateway or a call list.
    def looks_like(pattern: str, kinds: tuple[str, ...]) -> exp.Expr:
        if not rule.contact_column or rule.kind not in kinds:
            return exp.true()
        return tree("regexp_full_match(trim(:contact), :pattern)", contact=contact, pattern=pattern)

    consent_ok: exp.Expr = exp.true()
    if rule.consent_column and rule.basis in ("consent", "soft_opt_in"):
        consent_ok = exp.func("coalesce", exp.column(rule.consent_column, "m", quoted=True), exp.false() if rule.basis == "consent" else exp.true())
    share, salt = rule.holdout
    draw = hex_int(tree("left(md5(:salt || m.customer_id), 8)", salt=salt + ":"))
    held = tree(_HELD, draw=draw, share=int(round(share * 100))) if share else exp.false()
    query = tree(
        _RULE,
        rule_index=rule.index,
        shifted=weekday_shift(
            exp.paren(tree(":day + :shift", day=columns["scheduled"], shift=rule.time.day_shift)), rule.rule["when"].get("weekdays")
        ),
        event_id=event_id(rule),
        contact=contact,
        dropped=exp.Boolean(this=rule.time.dropped),
        has_contact=has_contact,
        phone_ok=looks_like(PHONE_PATTERN, ("sms", "phone")),
        email_ok=looks_like(EMAIL_PATTERN, ("email",)),
        consent_ok=consent_ok,
        held=held,
        matched=matched,
        selected=exp.column(f"m_{rule.index}", "m"),
        first=first,
        last=last,
        **columns,
    )
    assert isinstance(query, exp.Select)
    # Join nodes made directly, in place: the builder's parsing and copying per join was
    # a third of the cost of a playbook of many rules.
    if events is not None and needs_events(rule):
        aliased = exp.Table(this=exp.to_identifier(events.name), alias=exp.TableAlias(this=exp.to_identifier("e")))
        query.append("joins", exp.Join(this=aliased, side="LEFT", on=tree("e.customer_id = m.customer_id")))
    for source in sources:
        query.append("joins", exp.Join(this=source, kind="CROSS"))
    return query


_NO_CANDIDATES = """
    SELECT CAST(NULL AS VARCHAR) AS customer_id, 0 AS rule_index, 0 AS step, CAST(NULL AS DATE) AS scheduled_date, CAST(NULL AS DATE) AS send_date,
           CAST(NULL AS VARCHAR) AS event, CAST(NULL AS DATE) AS event_date, CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS VARCHAR) AS tz,
           CAST(NULL AS VARCHAR) AS contact, CAST(NULL AS VARCHAR) AS early_reason, false AS held_out
    WHERE false"""
# Every rule's candidates with the local send time. The customer's own zone when it is
# one, else the rule's; an opt-out (from every channel or the rule's) comes first, then
# a message the ledger delivered (already_sent), then the early reasons of _RULE.
_LOCAL = """
    SELECT c.customer_id, c.rule_index, c.step, c.scheduled_date, c.send_date, c.event, c.event_date, c.event_id,
           CASE WHEN z.name IS NULL THEN :timezone ELSE c.tz END AS tz, c.contact,
           CASE WHEN :opted_out THEN 'opted_out' WHEN :delivered THEN 'already_sent' ELSE c.early_reason END AS early_reason,
           c.held_out, CAST(c.send_date AS TIMESTAMP) + to_minutes(CAST(:minutes AS BIGINT)) AS send_local
    FROM :selects AS c LEFT JOIN :zones AS z ON z.name = c.tz"""
_OPTED_OUT = "EXISTS (SELECT 1 FROM :optouts AS x WHERE x.customer_id = c.customer_id AND (x.channel IS NULL OR x.channel = :channel))"
# cand_id numbers the candidates in a complete order; the instant and offset come from the clock.
_NUMBERED = """
    SELECT c.*, row_number() OVER (ORDER BY c.customer_id COLLATE "C", c.rule_index, c.scheduled_date, c.step) AS cand_id, k.send_utc, k.utc_offset
    FROM :local AS c LEFT JOIN :clock AS k USING (tz, send_local)"""


@dataclass(frozen=True)
class CandidateInputs:
    """What the candidates stage reads besides the matched customers, on its engine.

    `orders`: the loaded orders (what immediate rules answer). `optouts`: the opt-outs
    (inputs.load_optouts; None: none), whose candidates are `opted_out`. `done`: what the
    send ledger delivered (inputs.load_ledger_done; None: nothing), those messages
    `already_sent` (after an opt-out, before the other early reasons); `legacy`: some of
    it under keys of the scheduled date."""

    orders: exp.Table
    optouts: exp.Table | None = None
    done: exp.Table | None = None
    legacy: bool = False


@dataclass(frozen=True)
class Candidates:
    """What the candidates stage makes that later stages read, on its engine."""

    candidates: exp.Table  # every possible send, numbered (cand_id), with its early verdicts and instant
    clock: exp.Table  # instant and offset per (zone, local time) (clock.create_clock)
    zones: exp.Table  # the customer timezones that are zones (clock.valid_zones)


def candidate_statements(
    rules: list[PlannedRule], window: Window, matched: exp.Table, given: CandidateInputs, scratch: Scratch
) -> list[tuple[str, exp.Expr]]:
    """The candidates stage's queries over the `matched` customers, in order, each with the
    relation it makes (events, when an immediate rule needs them; the local send times;
    the numbered candidates). Between the second and the third, huitou makes the clock
    from the local send times; before them, the zones (`huitou compile` shows these
    statements)."""
    events_of = events_query(rules, matched, given.orders)
    events: exp.Table | None = None
    first: list[tuple[str, exp.Expr]] = []  # the events' statement, when a rule needs them
    if events_of is not None:
        events = scratch.new("events")
        first = [(events.name, events_of)]
    zones, local = scratch.new("zones"), scratch.new("candidates_local")
    parts = [rules[i : i + RULES_PER_STATEMENT] for i in range(0, len(rules), RULES_PER_STATEMENT)] or [[]]
    locals_ = [
        (
            local.name if len(parts) == 1 else scratch.new(f"candidates_local_{n}").name,
            _local(part, window, matched, events, zones, given),
        )
        for n, part in enumerate(parts)
    ]
    if len(parts) > 1:  # the parts' rows together: a union of a few tables, cheap at any number of rules
        locals_.append((local.name, union_all([exp.select("*").from_(exp.to_table(name)) for name, _ in locals_])))
    numbered = tree(_NUMBERED, local=local, clock=scratch.new("clock"))
    return [*first, *locals_, (scratch.new("candidates").name, numbered)]


# Rules whose candidates one statement computes: a statement's planning time in DuckDB
# grows faster than its rules (600 rules in one: 10 s; in parts of 64: under 2 s), so a
# playbook of many rules is planned part by part, then the parts are put together.
RULES_PER_STATEMENT = 64


def _local(
    rules: list[PlannedRule], window: Window, matched: exp.Table, events: exp.Table | None, zones: exp.Table, given: CandidateInputs
) -> exp.Expr:
    """The candidates of these rules with their local send times (_LOCAL)."""
    selects = [s for s in (rule_query(rule, window, matched, events) for rule in rules) if s is not None]
    union = union_all(selects) if selects else tree(_NO_CANDIDATES)
    delivered = delivered_case(rules, "c", given.legacy, given.done) if given.done is not None else exp.false()
    opted_out = (
        tree(_OPTED_OUT, optouts=given.optouts, channel=by_rule(rules, "c", lambda rule: exp.Literal.string(rule.channel)))
        if given.optouts is not None
        else exp.false()
    )
    return tree(
        _LOCAL,
        timezone=by_rule(rules, "c", lambda rule: exp.Literal.string(rule.timezone)),
        opted_out=opted_out,
        delivered=delivered,
        minutes=by_rule(rules, "c", lambda rule: exp.Literal.number(rule.time.minutes)),
        selects=exp.Paren(this=union),
        zones=zones,
    )


def build_candidates(
    engine: Engine, rules: list[PlannedRule], window: Window, matched: exp.Table, given: CandidateInputs, scratch: Scratch
) -> Candidates:
    """The candidates relation (and the zones and clock it needs), made on the engine from
    the `matched` customers and what is `given`. `send_local` is the local send time,
    `send_utc` the instant (epoch seconds) and `utc_offset` the minutes east of UTC."""
    *first, (local_name, local), (name, numbered) = candidate_statements(rules, window, matched, given, scratch)
    zones = valid_zones(engine, exp.select(exp.column("timezone").as_("name")).from_(matched.copy()).subquery("z"), scratch.new("zones").name)
    for part, query in first:  # the events, and the rules' parts when there are many
        engine.temp(part, query)
    made = engine.temp(local_name, local)
    clock = create_clock(engine, made, scratch.new("clock").name)
    candidates = engine.temp(name, numbered)
    engine.drop(made)
    for part, _ in first:
        engine.drop(exp.to_table(part))  # read only above
    return Candidates(candidates, clock, zones)
