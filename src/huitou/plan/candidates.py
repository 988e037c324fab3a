"""Every (customer, rule, step, date) the timings produce inside the window, in SQL.

Two statements. The matched relation holds the feature row of every customer some rule's
segment selects, with one boolean per rule (one pass over the features). Then the
candidates relation expands each rule's matches into its send dates and settles, per row,
what needs no arbitration: opt-outs, quiet hours set to drop, a missing contact, a missing
consent, and the holdout draw. Caps and care-first come after (arbitrate.py).
"""

from __future__ import annotations

import duckdb

from ..calendar import anchor_kind
from ..data.load import lit, q
from ..db import scalar
from .clock import create_clock, valid_zones
from .relations import Relations
from .rules import PlannedRule
from .timing import Window, constant_dates, customer_anchor_sql, weekday_shift_sql, _offsets
from .triggers import create_events, delivered_case, event_id_sql, needs_events

# Why a candidate is not sent, before arbitration (first match wins).
EARLY_REASONS = ("opted_out", "already_sent", "quiet_hours", "no_contact", "invalid_phone", "invalid_email", "no_consent")
# What a phone number may look like: digits, an optional leading +, spaces, hyphens, parentheses.
PHONE_PATTERN = r"\+?[0-9][0-9 ()\-]{4,24}"
# local@domain.tld without spaces, quotes, angle brackets or control characters: what
# reaches an SMTP header is one address, never "a@b.cn\r\nBcc: ...".
_NOT_IN_ADDRESS = r"\s@<>()\[\],;:\\\"\x00-\x1f\x7f"
_LABEL = rf"[^{_NOT_IN_ADDRESS}.]+"  # a domain label; IDN labels (例子.cn) are letters too
EMAIL_PATTERN = rf"[^{_NOT_IN_ADDRESS}]{{1,64}}@{_LABEL}(\.{_LABEL})+"


def matched_sql(features_sql: str, predicates: list[str], matched: str, columns: list[str] | None = None) -> str:
    """`columns`: the feature columns later stages read (None: all of them); a narrow
    table is most of the plan's memory saved at a million customers."""
    flags = ", ".join(f"coalesce({p}, false) AS m_{i}" for i, p in enumerate(predicates))
    any_flag = " OR ".join(f"m_{i}" for i in range(len(predicates))) or "false"
    keep = "*" if columns is None else ", ".join([*(q(c) for c in columns), *(f"m_{i}" for i in range(len(predicates)))])
    return f"CREATE OR REPLACE TEMP TABLE {matched} AS SELECT {keep} FROM (SELECT *, {flags} FROM ({features_sql})) WHERE {any_flag}"


def _dates_for(rule: PlannedRule, window: Window) -> tuple[str, str]:
    """FROM-clause additions and the scheduled-date expression for one rule."""
    when = rule.rule["when"]
    constant = constant_dates(when, window, rule.date_fields, rule.shop_founded)
    if constant is not None:
        if not constant:
            return "", ""
        values = ", ".join(
            f"({step}, DATE '{day.isoformat()}', {lit(event) if event else 'NULL'}, {f'DATE {lit(ev.isoformat())}' if ev else 'CAST(NULL AS DATE)'})"
            for step, day, event, ev in constant
        )
        return f", (VALUES {values}) AS t(step, scheduled_date, event, event_date)", "t.scheduled_date"
    anchor, offsets = _offsets(when)
    assert anchor_kind(anchor, rule.date_fields) == "customer"
    steps = ", ".join(f"({abs(o)}, {o})" for o in offsets)
    anchors = ", ".join(customer_anchor_sql(anchor, window))
    extra = f", (VALUES {steps}) AS o(step, day_offset), unnest([{anchors}]) AS u(anchor_date)"
    return extra, "u.anchor_date + o.day_offset"


def rule_select(rule: PlannedRule, window: Window, r: Relations, has_optouts: bool, has_events: bool) -> str | None:
    """One rule's candidates, or None when its timing has no date in the window."""
    extra, scheduled = _dates_for(rule, window)
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
    # A phone number is a phone number: anything else (a formula, a script) never reaches
    # an SMS gateway or a call list.
    phone_ok = f"regexp_full_match(trim({contact}), {lit(PHONE_PATTERN)})" if rule.contact_column and rule.kind in ("sms", "phone") else "true"
    email_ok = f"regexp_full_match(trim({contact}), {lit(EMAIL_PATTERN)})" if rule.contact_column and rule.kind == "email" else "true"
    consent_col = f"m.{q(rule.consent_column)}" if rule.consent_column else None
    if consent_col is None or rule.basis not in ("consent", "soft_opt_in"):
        consent_ok = "true"
    else:
        consent_ok = f"coalesce({consent_col}, {'false' if rule.basis == 'consent' else 'true'})"
    optout = (
        f"EXISTS (SELECT 1 FROM {r.optouts} x WHERE x.customer_id = m.customer_id AND (x.channel IS NULL OR x.channel = {lit(rule.channel)}))"
        if has_optouts
        else "false"
    )
    share, salt = rule.holdout
    held = f"CAST('0x' || left(md5({lit(salt + ':')} || m.customer_id), 8) AS UBIGINT) % 10000 < {int(round(share * 100))}" if share else "false"
    reason = (
        f"CASE WHEN {optout} THEN 'opted_out' WHEN {str(rule.time.dropped).lower()} THEN 'quiet_hours' "
        f"WHEN NOT {has_contact} THEN 'no_contact' WHEN NOT {phone_ok} THEN 'invalid_phone' WHEN NOT {email_ok} THEN 'invalid_email' WHEN NOT {consent_ok} THEN 'no_consent' END"
    )
    tz = f"CASE WHEN m.timezone IN (SELECT name FROM {r.zones}) THEN m.timezone ELSE {lit(rule.timezone)} END"
    events = f" LEFT JOIN {r.events} e ON e.customer_id = m.customer_id" if has_events and needs_events(rule) else ""
    return f"""
        SELECT m.customer_id, {rule.index} AS rule_index, CAST({step} AS INTEGER) AS step,
               {scheduled} AS scheduled_date, {shifted} AS send_date, {event} AS event, {event_date} AS event_date,
               {event_id_sql(rule)} AS event_id, {tz} AS tz, {contact} AS contact,
               {reason} AS early_reason, {held} AS held_out
        FROM {r.matched} m{events}{extra}
        WHERE m.m_{rule.index} AND {scheduled} BETWEEN {lo} AND {hi}"""


def build_candidates(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], window: Window, r: Relations, has_optouts: bool, has_ledger: bool = False,
                     has_legacy: bool = False) -> int:
    """CREATE the candidates relation (and the zones and clock it needs) from the matched
    one; returns its row count. `send_local` is the local send time,
    `send_utc` the instant (epoch seconds) and `utc_offset` the minutes east of UTC.
    `has_ledger`: r.ledger_done holds what the send ledger delivered (`has_legacy`:
    some of it under keys of the scheduled date); those messages are `already_sent`
    (after an opt-out, before the other early reasons)."""
    has_events = create_events(con, rules, r.matched, r.events)
    valid_zones(con, f"SELECT timezone AS name FROM {r.matched}", r.zones)
    selects = [s for s in (rule_select(rule, window, r, has_optouts, has_events) for rule in rules) if s]
    if not selects:
        selects = ["SELECT NULL::VARCHAR AS customer_id, 0 AS rule_index, 0 AS step, NULL::DATE AS scheduled_date, NULL::DATE AS send_date, NULL::VARCHAR AS event, NULL::DATE AS event_date, NULL::VARCHAR AS event_id, NULL::VARCHAR AS tz, NULL::VARCHAR AS contact, NULL::VARCHAR AS early_reason, false AS held_out WHERE false"]
    already_sent = ""
    if has_ledger:
        delivered = delivered_case(rules, "c.", has_legacy, r.ledger_done)
        already_sent = f"REPLACE (CASE WHEN c.early_reason = 'opted_out' THEN 'opted_out' WHEN {delivered} THEN 'already_sent' ELSE c.early_reason END AS early_reason)"
    minutes = "CASE rule_index " + " ".join(f"WHEN {rule.index} THEN {rule.time.minutes}" for rule in rules) + " END" if rules else "0"
    local = f"{r.candidates}_local"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {local} AS
        SELECT * {already_sent}, CAST(send_date AS TIMESTAMP) + to_minutes(CAST({minutes} AS BIGINT)) AS send_local
        FROM ({' UNION ALL '.join(selects)}) c""")
    create_clock(con, f"SELECT tz, send_local FROM {local}", r.clock)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {r.candidates} AS
        SELECT c.*, row_number() OVER (ORDER BY c.customer_id, c.rule_index, c.scheduled_date, c.step) AS cand_id, k.send_utc, k.utc_offset
        FROM {local} c LEFT JOIN {r.clock} k USING (tz, send_local)""")
    con.execute(f"DROP TABLE {local}")
    con.execute(f"DROP TABLE IF EXISTS {r.events}")  # read only above
    return int(scalar(con, f"SELECT count(*) FROM {r.candidates}"))
