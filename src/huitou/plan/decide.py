"""Every candidate's status and reason, from what settled early (candidates.py), what
arbitration decided (arbitrate.py) and what failed to render; and, for each candidate
lost to a frequency cap, the message that took its slot (the plan says which).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from sqlglot import exp

from ..db import tree
from ..engines.base import Engine
from ..relation import Scratch
from ..vocabulary import Intent
from .arbitrate import ACCEPTED, CAPPED, CARE_FIRST
from .rules import INTENT_ORDER, Cap

# Every candidate with its status and reason; a promotion sent on the same day as a care
# touch goes no earlier than it (and takes the instant of its new local time). Columns
# are listed, not `* EXCLUDE`, and the care touch's time is a CASE, not a FILTER over a
# window: what every engine runs (tests/test_engine_plans.py executes it on each).
_DECIDED = """
    WITH judged AS (
        SELECT c.cand_id, c.customer_id, c.rule_index, c.step, c.scheduled_date, c.send_date, c.event, c.event_date, c.event_id, c.contact,
               c.send_local AS planned_local, c.send_utc AS planned_utc, c.utc_offset AS planned_offset, c.tz, r.intent_rank, v.cap, v.position,
               CASE WHEN c.early_reason IS NOT NULL OR f.cand_id IS NOT NULL THEN 'suppressed' WHEN v.outcome = :accepted AND c.held_out THEN 'holdout'
                    WHEN v.outcome = :accepted THEN 'send' ELSE 'suppressed' END AS status,
               coalesce(c.early_reason, f.error_reason, CASE v.outcome WHEN :capped THEN 'frequency_cap' WHEN :care_first THEN 'care_first' END) AS reason
        FROM :candidates AS c JOIN :rules AS r ON r.rule_index = c.rule_index LEFT JOIN :verdicts AS v ON v.cand_id = c.cand_id
        LEFT JOIN :failed AS f ON f.cand_id = c.cand_id),
    shifted AS (
        SELECT j.*, CASE WHEN intent_rank = :promotion AND status IN ('send', 'holdout')
                         THEN greatest(planned_local, coalesce(max(CASE WHEN intent_rank = :care AND status IN ('send', 'holdout') THEN planned_local END)
                                                               OVER (PARTITION BY customer_id, send_date), planned_local))
                         ELSE planned_local END AS send_local
        FROM judged AS j)
    SELECT s.cand_id, s.customer_id, s.rule_index, s.step, s.scheduled_date, s.send_date, s.event, s.event_date, s.event_id, s.contact, s.planned_local,
           s.cap, s.position, s.status, s.reason, s.intent_rank, s.send_local,
           CASE WHEN s.send_local = s.planned_local THEN s.planned_utc ELSE k.send_utc END AS send_utc,
           CASE WHEN s.send_local = s.planned_local THEN s.planned_offset ELSE k.utc_offset END AS utc_offset, s.tz
    FROM shifted AS s LEFT JOIN :clock AS k ON k.tz = s.tz AND k.send_local = s.send_local"""
# The winner of a cap conflict: the first accepted message (greedy order) of the same
# customer within the cap's reach, else (no row here) an earlier message from the history.
_WINNERS = """
    SELECT v.cand_id, arg_min(r.playbook || '/' || r.rule_id || ' on ' || strftime(w.send_date, '%Y-%m-%d'), w.position) AS winner
    FROM (SELECT cand_id, customer_id, send_date, cap FROM :decided WHERE reason = 'frequency_cap') AS v
    JOIN (SELECT customer_id, send_date, rule_index, position FROM :decided WHERE status IN ('send', 'holdout')) AS w
      ON w.customer_id = v.customer_id AND abs(date_diff('day', w.send_date, v.send_date)) < :reach
    JOIN :rules AS r ON r.rule_index = w.rule_index
    WHERE :in_scope
    GROUP BY v.cand_id"""


def _by_cap(caps: list[Cap], value: Callable[[Cap], exp.Expr]) -> exp.Expr:
    """CASE v.cap WHEN i THEN value(cap i) ... END (NULL when there are no caps)."""
    case = exp.Case(this=exp.column("cap", "v"))
    for i, cap in enumerate(caps):
        case.when(exp.Literal.number(i), value(cap), copy=False)
    return case if caps else exp.null()


@dataclass(frozen=True)
class DecisionInputs:
    """What the decisions read, on the engine."""

    candidates: exp.Table  # the candidates stage's (candidates.Candidates)
    rules: exp.Table  # what each rule index stands for (assemble.create_rules_table)
    verdicts: exp.Table  # arbitration's (arbitrate.Arbitrated)
    failed: exp.Table  # the sends that failed to render: cand_id, error_reason
    clock: exp.Table  # instant and offset per (zone, local time) (candidates.Candidates)


@dataclass(frozen=True)
class Decided:
    decided: exp.Table  # every candidate with status and reason (DECIDED_TYPES)
    winners: exp.Table  # for each candidate lost to a cap, the message that took its slot


def decision_statements(caps: list[Cap], given: DecisionInputs, scratch: Scratch) -> list[tuple[str, exp.Expr]]:
    """The decisions stage's queries, each with the relation it makes: the decided
    candidates (every one with status and reason) and the winners (for each candidate
    lost to a cap, the message that took the slot)."""
    decided = scratch.new("decided")
    tables = {f.name: getattr(given, f.name) for f in fields(given)} | {"decided": decided}
    query = tree(
        _DECIDED,
        accepted=ACCEPTED,
        capped=CAPPED,
        care_first=CARE_FIRST,
        promotion=INTENT_ORDER[Intent.PROMOTION],
        care=INTENT_ORDER[Intent.CARE],
        **tables,
    )

    def in_scope(cap: Cap) -> exp.Expr:
        tests = [exp.column(k, "r").eq(exp.Literal.string(v)) for k, v in (("channel", cap.channel), ("intent", cap.intent)) if v]
        return exp.and_(*tests) if tests else exp.true()

    reach = _by_cap(caps, lambda cap: exp.Literal.number(cap.days)) if caps else exp.Literal.number(0)
    scope = _by_cap(caps, in_scope) if caps else exp.false()
    winners = tree(_WINNERS, reach=reach, in_scope=scope, **tables)
    return [(decided.name, query), (scratch.new("winners").name, winners)]


def decide(engine: Engine, caps: list[Cap], given: DecisionInputs, scratch: Scratch) -> Decided:
    """The decisions, made on the engine (decision_statements)."""
    decided, winners = (engine.temp(name, query) for name, query in decision_statements(caps, given, scratch))
    return Decided(decided, winners)


# The decided relation's columns, as DuckDB types them (what another engine's rows are
# brought back as for rendering; tests/test_plan.py checks them against DuckDB's own).
DECIDED_TYPES = {
    "cand_id": "BIGINT",
    "customer_id": "VARCHAR",
    "rule_index": "INTEGER",
    "step": "INTEGER",
    "scheduled_date": "DATE",
    "send_date": "DATE",
    "event": "VARCHAR",
    "event_date": "DATE",
    "event_id": "VARCHAR",
    "contact": "VARCHAR",
    "planned_local": "TIMESTAMP",
    "cap": "SMALLINT",
    "position": "BIGINT",
    "status": "VARCHAR",
    "reason": "VARCHAR",
    "intent_rank": "INTEGER",
    "send_local": "TIMESTAMP",
    "send_utc": "BIGINT",
    "utc_offset": "INTEGER",
    "tz": "VARCHAR",
}
