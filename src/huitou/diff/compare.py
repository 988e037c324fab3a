"""What changes between two plans of the same data: per rule, the customers who gain or
lose a send, messages reworded or moved in time, suppression reasons; per channel the
messages, SMS segments and cost; per playbook, channel and day the sends. SQL over the
two plan relations; only the few examples shown are read into Python.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import duckdb
from sqlglot import exp

from ..db import create_temp, run, tree
from ..project import channel_cost, channel_currency
from ..templates import mask_contacts, mask_filter
from .plan import Checked

EXAMPLES = 3  # examples shown per rule and kind of change

_RULES = """
    WITH b AS (SELECT DISTINCT playbook, rule_id, customer_id FROM :base),
         h AS (SELECT DISTINCT playbook, rule_id, customer_id FROM :head),
         changed AS (
           SELECT coalesce(h.playbook, b.playbook) AS playbook, coalesce(h.rule_id, b.rule_id) AS rule_id,
                  count(h.customer_id) FILTER (WHERE b.customer_id IS NULL) AS added,
                  count(b.customer_id) FILTER (WHERE h.customer_id IS NULL) AS removed
           FROM h FULL JOIN b ON h.playbook = b.playbook AND h.rule_id = b.rule_id AND h.customer_id = b.customer_id
           GROUP BY ALL),
         sends AS (
           SELECT playbook, rule_id, count(*) FILTER (WHERE v = 'base') AS sends_base, count(*) FILTER (WHERE v = 'head') AS sends_head
           FROM (SELECT 'base' AS v, playbook, rule_id FROM :base UNION ALL SELECT 'head' AS v, playbook, rule_id FROM :head)
           GROUP BY ALL),
         same AS (
           SELECT h.playbook, h.rule_id,
                  count(*) FILTER (WHERE h.content.body IS DISTINCT FROM b.content.body OR h.content.subject IS DISTINCT FROM b.content.subject) AS reworded,
                  count(*) FILTER (WHERE h.send_at <> b.send_at) AS moved
           FROM :head AS h JOIN :base AS b ON :same
           GROUP BY ALL)
    SELECT playbook, rule_id, coalesce(added, 0), coalesce(removed, 0), coalesce(sends_base, 0), coalesce(sends_head, 0),
           coalesce(reworded, 0), coalesce(moved, 0)
    FROM sends FULL JOIN changed USING (playbook, rule_id) LEFT JOIN same USING (playbook, rule_id)
    ORDER BY playbook, rule_id"""

_REASONS = """
    SELECT playbook, rule_id, coalesce(reason, status) AS reason, count(*) FILTER (WHERE v = 'base') AS n_base, count(*) FILTER (WHERE v = 'head') AS n_head
    FROM (SELECT 'base' AS v, playbook, rule_id, status, reason FROM :base_plan WHERE status <> 'send' UNION ALL
          SELECT 'head' AS v, playbook, rule_id, status, reason FROM :head_plan WHERE status <> 'send')
    GROUP BY ALL HAVING n_base <> n_head ORDER BY playbook, rule_id, reason"""

_DAYS = """
    SELECT playbook, channel, left(send_at, 10) AS day, count(*) FILTER (WHERE v = 'base') AS n_base, count(*) FILTER (WHERE v = 'head') AS n_head
    FROM (SELECT 'base' AS v, playbook, channel, send_at FROM :base UNION ALL SELECT 'head' AS v, playbook, channel, send_at FROM :head)
    GROUP BY ALL HAVING n_base <> n_head ORDER BY playbook, channel, day"""

# Segments are SMS's (NULL on other channels, where a message bills as one).
_CHANNELS = """
    SELECT channel, count(*) FILTER (WHERE v = 'base') AS messages_base, count(*) FILTER (WHERE v = 'head') AS messages_head,
           sum(segments) FILTER (WHERE v = 'base') AS segments_base, sum(segments) FILTER (WHERE v = 'head') AS segments_head
    FROM (SELECT 'base' AS v, channel, content.segments AS segments FROM :base UNION ALL
          SELECT 'head' AS v, channel, content.segments AS segments FROM :head)
    GROUP BY ALL ORDER BY channel"""

# Examples, a few per rule: customers who gain or lose a send, reworded and moved sends.
_GAINED = """
    SELECT playbook, rule_id, customer_id, "to", send_at, content.body FROM (
      SELECT *, row_number() OVER (PARTITION BY playbook, rule_id ORDER BY customer_id, send_at) AS k FROM :gainer AS g
      WHERE NOT EXISTS (SELECT 1 FROM :other AS o WHERE o.playbook = g.playbook AND o.rule_id = g.rule_id AND o.customer_id = g.customer_id))
    WHERE k <= :examples ORDER BY playbook, rule_id, k"""
_CHANGED = """
    SELECT playbook, rule_id, customer_id, before_at, after_at, before_body, after_body FROM (
      SELECT h.playbook, h.rule_id, h.customer_id, b.send_at AS before_at, h.send_at AS after_at, b.content.body AS before_body, h.content.body AS after_body,
             row_number() OVER (PARTITION BY h.playbook, h.rule_id ORDER BY h.customer_id, h.send_at) AS k
      FROM :head AS h JOIN :base AS b ON :same
      WHERE (:which = 'reworded' AND (h.content.body IS DISTINCT FROM b.content.body OR h.content.subject IS DISTINCT FROM b.content.subject))
         OR (:which = 'moved' AND h.send_at <> b.send_at))
    WHERE k <= :examples ORDER BY playbook, rule_id, k"""


# The same send in both plans: what its idempotency key is made of (contract.key_sql).
_SAME = 'h.playbook = b.playbook AND h.rule_id = b.rule_id AND h.customer_id = b.customer_id AND h."trigger" IS NOT DISTINCT FROM b."trigger"'


def _rows(con: duckdb.DuckDBPyConnection, sql: str, base: exp.Table | None, head: exp.Table | None, **values: Any) -> list[tuple]:
    return run(con, tree(sql, base=base, head=head, examples=EXAMPLES, same=tree(_SAME), **values)).fetchall()


def _sends(con: duckdb.DuckDBPyConnection, plan: exp.Table) -> exp.Table:
    """A plan's sends, the columns compared, as a table: the plan is a view that computes
    its columns on every read, and the comparison reads the sends seven times."""
    columns = [exp.column(c, quoted=True) for c in ("playbook", "rule_id", "customer_id", "trigger", "channel", "send_at", "to", "content")]
    return create_temp(con, f"{plan.name}_sends", exp.select(*columns).from_(plan).where(exp.column("status").eq(exp.Literal.string("send"))))


def empty_plan(con: duckdb.DuckDBPyConnection, like: exp.Table, name: str) -> exp.Table:
    """An empty relation with a plan's columns: the side of a version with nothing to plan."""
    run(con, tree("CREATE OR REPLACE TEMP TABLE :name AS SELECT * FROM :like WHERE false", name=exp.to_table(name), like=like))
    return exp.to_table(name)


_TOKENS = re.compile(r"[A-Za-z0-9_']+|\s+|.", re.S)


def word_diff(before: str | None, after: str | None) -> list[tuple[str, str]]:
    """The two texts as (op, text) parts, op "=" kept, "-" removed, "+" added. Latin
    words and numbers are units; other characters (Chinese, Japanese) one at a time."""
    old, new = _TOKENS.findall(before or ""), _TOKENS.findall(after or "")
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("=", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("-", "".join(old[i1:i2])))
        if j2 > j1:
            parts.append(("+", "".join(new[j1:j2])))
    return parts


def git_style(parts: list[tuple[str, str]]) -> str:
    """Word-diff parts as git shows them: [-removed-]{+added+}."""
    return "".join({"=": "{}", "-": "[-{}-]", "+": "{{+{}+}}"}[op].format(text) for op, text in parts)


def _masked(text: str | None) -> str | None:
    return None if text is None else mask_contacts(text)


def _validation(base: Checked, head: Checked) -> dict[str, list[dict[str, Any]]]:
    """Diagnostics that appear in HEAD or went away from BASE (matched by file, code and
    message: a line that moved is the same problem)."""

    def keyed(checked: Checked) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {
            (f, d.code, d.message): {
                "file": f,
                "line": d.line,
                "column": d.column,
                "code": d.code,
                "severity": d.severity,
                "message": d.message,
            }
            for f, d in checked.diagnostics
        }

    before, after = keyed(base), keyed(head)
    return {
        "appeared": [after[k] for k in sorted(after.keys() - before.keys())],
        "went_away": [before[k] for k in sorted(before.keys() - after.keys())],
    }


def compare(con: duckdb.DuckDBPyConnection, base_plan: exp.Table, head_plan: exp.Table, base: Checked, head: Checked) -> dict[str, Any]:
    """The differences, JSON-ready (docs/cli.md#diff)."""
    base_plan, head_plan, plans = _sends(con, base_plan), _sends(con, head_plan), {"base_plan": base_plan, "head_plan": head_plan}
    rules = []
    gained = {
        "added": _rows(con, _GAINED, None, None, gainer=head_plan, other=base_plan),
        "removed": _rows(con, _GAINED, None, None, gainer=base_plan, other=head_plan),
    }
    changed = {which: _rows(con, _CHANGED, base_plan, head_plan, which=which) for which in ("reworded", "moved")}
    reasons = _rows(con, _REASONS, None, None, **plans)
    for playbook, rule, added, removed, sends_base, sends_head, reworded, moved in _rows(con, _RULES, base_plan, head_plan):
        mine = [(r[2], r[3], r[4]) for r in reasons if (r[0], r[1]) == (playbook, rule)]
        entry: dict[str, Any] = {
            "playbook": playbook,
            "rule": rule,
            "added": added,
            "removed": removed,
            "sends_base": sends_base,
            "sends_head": sends_head,
            "reworded": reworded,
            "moved": moved,
            "reasons": [{"reason": r, "base": b, "head": h, "change": h - b} for r, b, h in mine],
            "examples": {
                kind: [
                    {"customer_id": c, "to": None if to is None else mask_filter(to), "send_at": at, "body": _masked(body)}
                    for p, r, c, to, at, body in rows
                    if (p, r) == (playbook, rule)
                ]
                for kind, rows in gained.items()
            },
            "reworded_examples": [
                {"customer_id": c, "diff": git_style(parts), "parts": parts}
                for p, r, c, _, _, b, a in changed["reworded"]
                if (p, r) == (playbook, rule)
                for parts in [word_diff(_masked(b), _masked(a))]
            ],
            "moved_examples": [{"customer_id": c, "from": f, "to": t} for p, r, c, f, t, _, _ in changed["moved"] if (p, r) == (playbook, rule)],
        }
        entry["changed"] = bool(added or removed or reworded or moved or mine or sends_base != sends_head)
        rules.append(entry)
    channels = []
    for channel, m_base, m_head, s_base, s_head in _rows(con, _CHANNELS, base_plan, head_plan):
        s_base, s_head = (None if s is None else int(s) for s in (s_base, s_head))
        cost_base, cost_head = (
            channel_cost(base.config, channel, m_base, s_base or m_base),
            channel_cost(head.config, channel, m_head, s_head or m_head),
        )
        currency = channel_currency(head.config, channel)
        channels.append(
            {
                "channel": channel,
                "messages_base": m_base,
                "messages_head": m_head,
                "segments_base": s_base,
                "segments_head": s_head,
                "cost_base": cost_base,
                "cost_head": cost_head,
                "currency": currency,
            }
        )
    days = [{"playbook": p, "channel": c, "day": d, "base": b, "head": h} for p, c, d, b, h in _rows(con, _DAYS, base_plan, head_plan)]
    added_rules, removed_rules = sorted(set(head.rules) - set(base.rules)), sorted(set(base.rules) - set(head.rules))
    validation = _validation(base, head)
    moved_channels = any(
        c["messages_base"] != c["messages_head"] or c["segments_base"] != c["segments_head"] or c["cost_base"] != c["cost_head"] for c in channels
    )
    unchanged = not (
        any(r["changed"] for r in rules)
        or days
        or moved_channels
        or added_rules
        or removed_rules
        or validation["appeared"]
        or validation["went_away"]
    )
    return {
        "unchanged": unchanged,
        "rules": rules,
        "rules_added": [{"playbook": p, "rule": r} for p, r in added_rules],
        "rules_removed": [{"playbook": p, "rule": r} for p, r in removed_rules],
        "channels": channels,
        "days": days,
        "validation": validation,
    }
