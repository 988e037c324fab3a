"""Frequency caps, priority and care-first: who wins when candidates compete.

Each customer's eligible candidates are taken greedily in order - higher priority first,
then care before service before promotion, then earlier send time, then playbook and rule
order, then step - and a candidate is accepted when

- no frequency cap of its playbook that covers it (the cap's channel and intent) would
  be exceeded in any window of the cap's length (in the customer's calendar days), counting
  every message to the customer already accepted in this plan or found in the history;
- a promotion whose playbook has care_first has an accepted or past care touch to the
  customer within the window before it (the same day counts).

The greedy is vectorised: step k takes every customer's k-th candidate at once, so the
Python loop runs over ranks (a handful), never over customers. Counts per customer and
day live in small arrays (one per distinct cap scope) indexed from `base`. Customers are
independent: the ranked candidates stay on the engine and are judged a partition of
whole customers at a time, so the arrays are sized by the partition, not the shop. On
Spark the partitions are a grouped map its workers run; on DuckDB and PostgreSQL each is
streamed into huitou's process and the verdicts are copied back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy
from sqlglot import exp

from ..db import date_literal, select_tree, tree
from ..engines.base import Engine
from ..relation import Scratch
from ..vocabulary import Intent
from .rules import INTENT_ORDER, Cap, PlannedRule, caps_of, care_within

ACCEPTED, CAPPED, CARE_FIRST = 0, 1, 2


# Customers arbitrated together (customers are independent): the per-day count tables
# are sized by this, not by the shop. At five million customers, judging all at once
# took the plan's peak from 3.3 GB to 4.8 GB (benchmarks/scale.py).
PARTITION_CUSTOMERS = 100_000

# The eligible candidates, each with its customer's rank (`cust`, 0 ..), its day counted
# from :base and its place in the greedy order (`position`).
_CANDIDATES = """
    SELECT c.customer_id, CAST(c.cand_id AS BIGINT) AS cand_id, CAST(dense_rank() OVER (ORDER BY c.customer_id) - 1 AS BIGINT) AS cust,
           CAST(c.rule_index AS BIGINT) AS rule_index, CAST(date_diff('day', :base, c.send_date) AS BIGINT) AS day,
           CAST(row_number() OVER (ORDER BY c.customer_id, k.neg_priority, k.intent_rank, c.send_utc, c.rule_index, c.step) - 1 AS BIGINT) AS position
    FROM :candidates AS c JOIN :order AS k(rule_index, neg_priority, intent_rank) USING (rule_index)
    WHERE c.early_reason IS NULL AND c.cand_id NOT IN (SELECT cand_id FROM :failed)
    ORDER BY position"""
# One partition of customers, in greedy order.
_PARTITION = "SELECT cand_id, cust, rule_index, day, position FROM :ranked WHERE cust >= :first AND cust < :end ORDER BY position"

# Past messages per customer and day in the customer's zone (the data's when the customer
# has none), at most 20 a day per channel and intent; huitou's DuckDB computes them where
# it read the history (timezone() is DuckDB's), the engine gives each its customer's rank.
_HISTORY = """
    WITH h AS (
        SELECT h.customer_id, CAST(timezone(CASE WHEN m.timezone IN (SELECT name FROM :zones) THEN m.timezone ELSE :timezone END, h.sent_at) AS DATE) AS local_date,
               h.channel, h.intent
        FROM :history AS h JOIN :matched AS m USING (customer_id))
    SELECT customer_id, CAST(date_diff('day', :base, local_date) AS BIGINT) AS day, channel, intent, least(count(*), 20) AS n
    FROM h WHERE local_date >= :base AND local_date < :base + :width
    GROUP BY ALL"""
_HISTORY_RANKED = """
    SELECT k.cust, p.day, p.channel, p.intent, p.n
    FROM :past AS p JOIN (SELECT DISTINCT customer_id, cust FROM :ranked) AS k ON k.customer_id = p.customer_id
    ORDER BY k.cust"""


def plan_caps(rules: list[PlannedRule]) -> list[Cap]:
    """The frequency caps of the rules' playbooks, in playbook order (a verdict's `cap`
    indexes this list)."""
    contexts = {r.ctx.name: r.ctx for r in rules}
    return [cap for ctx in contexts.values() for cap in caps_of(ctx)]


@dataclass(frozen=True)
class _Contest:
    """What arbitration weighs, the same for every partition of customers. Plain values
    only: Spark ships it to its workers (judge_part)."""

    channel_of: tuple[str, ...]  # by rule index
    intent_of: tuple[str, ...]
    playbook_of: tuple[int, ...]  # index into playbooks
    caps: list[Cap]
    care: dict[str, int | None]  # playbook -> care_first days (None: no care-first)
    playbooks: list[str]
    base: dt.date  # day 0 of the count tables
    width: int  # days in the count tables

    @classmethod
    def of(cls, rules: list[PlannedRule], as_of: dt.date, horizon: int) -> _Contest:
        playbooks = list(dict.fromkeys(r.ctx.name for r in rules))
        contexts = {r.ctx.name: r.ctx for r in rules}
        caps = plan_caps(rules)
        care = {name: care_within(contexts[name]) for name in playbooks}
        longest = max([c.days for c in caps] + [w or 0 for w in care.values()] + [1])
        width = longest + horizon + 8 + longest  # history, the window, shifts (weekday, quiet), caps ahead
        assert [r.index for r in rules] == list(range(len(rules)))
        return cls(
            tuple(r.channel for r in rules),
            tuple(r.intent for r in rules),
            tuple(playbooks.index(r.ctx.name) for r in rules),
            caps,
            care,
            playbooks,
            as_of - dt.timedelta(days=longest),
            width,
        )

    @property
    def scopes(self) -> list[tuple[str | None, str | None]]:
        """The distinct (channel, intent) the caps count, then care touches."""
        return list(dict.fromkeys((c.channel, c.intent) for c in self.caps)) + [(None, Intent.CARE)]


def ranked_statement(
    rules: list[PlannedRule], as_of: dt.date, horizon: int, candidates: exp.Table, failed: exp.Table, scratch: Scratch
) -> tuple[str, exp.Expr]:
    """The relation the greedy reads, with the query that makes it: the eligible
    `candidates` (those without an early reason, none that `failed` to render) with their
    customer's rank, their day in the count tables and their greedy position."""
    order = exp.values([(r.index, -r.priority, INTENT_ORDER[r.intent]) for r in rules] or [(0, 0, 0)])
    base = date_literal(_Contest.of(rules, as_of, horizon).base)
    query = tree(_CANDIDATES, order=order, candidates=candidates, failed=failed, base=base)
    return scratch.new("candidates_ranked").name, query


@dataclass(frozen=True)
class Arbitrated:
    verdicts: exp.Table  # one row per judged candidate (VERDICT_TYPES), on the engine
    caps: list[Cap]  # a verdict's `cap` indexes them


def arbitrate(
    engine: Engine,
    rules: list[PlannedRule],
    as_of: dt.date,
    horizon: int,
    candidates: exp.Table,
    failed: exp.Table,
    past: exp.Expr | None,
    scratch: Scratch,
) -> Arbitrated:
    """The verdict of every one of the `candidates` without an early reason or a render
    failure (`failed`), made on the engine. `past`: the history's messages per customer
    and day (history_query), a relation of the engine; None when there is no history.
    The candidates are ranked in SQL and judged a partition of whole customers at a time:
    on Spark by its workers (a grouped map), elsewhere here, each partition streamed in
    and its verdicts copied back."""
    contest = _Contest.of(rules, as_of, horizon)
    ranked = engine.temp(*ranked_statement(rules, as_of, horizon, candidates, failed, scratch))
    verdicts = scratch.new("verdicts")
    counts = _history(engine, past, ranked) if past is not None else None

    def judge(part: dict[str, numpy.ndarray]) -> dict[str, numpy.ndarray]:
        return judge_part(contest, counts, part)

    if engine.kind == "spark":
        engine.map_groups(verdicts.name, ranked, tree("CAST(FLOOR(cust / :size) AS BIGINT)", size=PARTITION_CUSTOMERS), judge, VERDICT_TYPES)
    else:
        customers = int(engine.rows(tree("SELECT coalesce(max(cust) + 1, 0) FROM :ranked", ranked=ranked))[0][0])
        parts = [judge({c: numpy.zeros(0, numpy.int64) for c in _PART_TYPES})]
        for first in range(0, customers, PARTITION_CUSTOMERS):
            parts.append(judge(engine.fetch_numpy(select_tree(_PARTITION, ranked=ranked, first=first, end=first + PARTITION_CUSTOMERS), _PART_TYPES)))
        engine.take(verdicts.name, {c: numpy.concatenate([part[c] for part in parts]) for c in VERDICT_TYPES}, VERDICT_TYPES)
    engine.drop(ranked)
    return Arbitrated(verdicts, contest.caps)


# The verdicts relation: one row per judged candidate.
VERDICT_TYPES = {"cand_id": "BIGINT", "outcome": "SMALLINT", "cap": "SMALLINT", "position": "BIGINT"}
_PART_TYPES = {"cand_id": "BIGINT", "cust": "BIGINT", "rule_index": "BIGINT", "day": "BIGINT", "position": "BIGINT"}


def judge_part(contest: _Contest, past: dict[str, numpy.ndarray] | None, part: dict[str, numpy.ndarray]) -> dict[str, numpy.ndarray]:
    """The verdicts of one partition of whole customers (the ranked candidates' columns,
    in any order): cand_id, outcome, cap, position."""
    order = numpy.argsort(numpy.asarray(part["position"], dtype=numpy.int64), kind="stable")
    columns = {c: numpy.asarray(part[c], dtype=numpy.int64)[order] for c in _PART_TYPES}
    outcome, cap = _judge(contest, columns, past) if len(order) else (numpy.zeros(0, numpy.int8), numpy.zeros(0, numpy.int16))
    return {
        "cand_id": columns["cand_id"],
        "outcome": outcome.astype(numpy.int16),
        "cap": cap.astype(numpy.int16),
        "position": columns["position"],
    }


def history_query(
    rules: list[PlannedRule], as_of: dt.date, horizon: int, history: exp.Table, matched: exp.Table, zones: exp.Table, timezone: str
) -> exp.Select:
    """The `history`'s messages per customer and local day of the count tables, for
    huitou's DuckDB (where the history was read): at most 20 a day per channel and intent,
    in the customer's zone (one of `zones`, from the `matched` customers' features; else
    `timezone`, the data's)."""
    contest = _Contest.of(rules, as_of, horizon)
    return select_tree(
        _HISTORY,
        history=history,
        matched=matched,
        zones=zones,
        timezone=timezone,
        base=date_literal(contest.base),
        width=contest.width,
    )


def _history(engine: Engine, past: exp.Expr, ranked: exp.Table) -> dict[str, numpy.ndarray]:
    """The past messages' counts per customer rank and day, sorted by rank."""
    found = engine.fetch_numpy(select_tree(_HISTORY_RANKED, past=past, ranked=ranked), _HISTORY_TYPES)
    order = numpy.argsort(numpy.asarray(found["cust"], dtype=numpy.int64), kind="stable")
    counts = {
        "cust": numpy.int64,
        "day": numpy.int64,
        "channel": object,
        "intent": object,
        "n": numpy.uint8,
    }  # n: at most 20 a day, sums stay under 255
    return {c: numpy.asarray(found[c], dtype=kind)[order] for c, kind in counts.items()}


_HISTORY_TYPES = {"cust": "BIGINT", "day": "BIGINT", "channel": "VARCHAR", "intent": "VARCHAR", "n": "BIGINT"}


def _judge(contest: _Contest, part: dict[str, numpy.ndarray], past: dict[str, numpy.ndarray] | None) -> tuple[numpy.ndarray, numpy.ndarray]:
    """The outcome and cap of each candidate of a partition of whole customers, in greedy
    order: the greedy, one rank of every customer's candidates at a time."""
    first = int(part["cust"][0])
    cust = numpy.asarray(part["cust"], dtype=numpy.int64) - first
    rule = numpy.asarray(part["rule_index"], dtype=numpy.int64)
    day = numpy.asarray(part["day"], dtype=numpy.int64)
    n = len(cust)
    outcome = numpy.full(n, ACCEPTED, dtype=numpy.int8)
    cap_of = numpy.full(n, -1, dtype=numpy.int16)
    caps, playbooks = contest.caps, contest.playbooks
    channel_of = numpy.array(contest.channel_of, dtype=object)
    intent_of = numpy.array(contest.intent_of, dtype=object)
    playbook_of = numpy.array(contest.playbook_of, dtype=numpy.int64)
    scopes = contest.scopes
    # uint8: a day's count never needs more than 255 (history counts are clipped).
    counts = [numpy.zeros((int(cust[-1]) + 1, contest.width), dtype=numpy.uint8) for _ in scopes]
    care_counts = counts[-1]

    def covers(scope: tuple[str | None, str | None], rows: numpy.ndarray) -> numpy.ndarray:
        ok = numpy.ones(len(rows), dtype=bool)
        if scope[0] is not None:
            ok &= channel_of[rows] == scope[0]
        if scope[1] is not None:
            ok &= intent_of[rows] == scope[1]
        return ok

    if past is not None:
        _add_history(counts, scopes, past, first, first + len(counts[0]))

    # Each candidate's rank among its customer's candidates (the input is sorted by customer).
    starts = numpy.flatnonzero(numpy.r_[True, cust[1:] != cust[:-1]])
    rank = numpy.arange(n) - numpy.repeat(starts, numpy.diff(numpy.r_[starts, n]))
    for k in range(int(rank.max()) + 1):
        sel = numpy.flatnonzero(rank == k)
        c, d, r = cust[sel], day[sel], rule[sel]
        ok = numpy.ones(len(sel), dtype=bool)
        for index, cap in enumerate(caps):
            scope = scopes.index((cap.channel, cap.intent))
            hit = ok & (playbook_of[r] == playbooks.index(cap.playbook)) & covers((cap.channel, cap.intent), r)
            rows = numpy.flatnonzero(hit)
            if not len(rows):
                continue
            if cap.max == 0:
                over = numpy.ones(len(rows), dtype=bool)
            else:
                over = _busiest_window(counts[scope], c[rows], d[rows], cap.days) >= cap.max
            ok[rows[over]] = False
            outcome[sel[rows[over]]] = CAPPED
            cap_of[sel[rows[over]]] = index
        for name, within in contest.care.items():
            if within is None:
                continue
            promo = numpy.flatnonzero(ok & (playbook_of[r] == playbooks.index(name)) & (intent_of[r] == Intent.PROMOTION))
            if not len(promo):
                continue
            touched = _sum_before(care_counts, c[promo], d[promo], within) > 0
            ok[promo[~touched]] = False
            outcome[sel[promo[~touched]]] = CARE_FIRST
        accepted = numpy.flatnonzero(ok)
        for covered, table in zip(scopes, counts):
            rows = accepted[covers(covered, r[accepted])]
            table[c[rows], d[rows]] += 1  # one candidate per customer per rank: no repeats
    return outcome, cap_of


def _busiest_window(table: numpy.ndarray, cust: numpy.ndarray, day: numpy.ndarray, days: int) -> numpy.ndarray:
    """For each (customer, day): the most messages in any `days`-long window containing day."""
    offsets = numpy.arange(-days + 1, days)
    around = table[cust[:, None], day[:, None] + offsets]  # 2*days-1 columns centred on day
    running = numpy.concatenate([numpy.zeros((len(cust), 1), dtype=numpy.int32), numpy.cumsum(around, axis=1, dtype=numpy.int32)], axis=1)
    windows = running[:, days:] - running[:, :days]  # window starting at column j covers j..j+days-1
    return windows.max(axis=1)


def _sum_before(table: numpy.ndarray, cust: numpy.ndarray, day: numpy.ndarray, days: int) -> numpy.ndarray:
    """Messages on the `days` days before `day` and on `day` itself."""
    offsets = numpy.arange(-days, 1)
    return table[cust[:, None], day[:, None] + offsets].sum(axis=1)


def _add_history(
    counts: list[numpy.ndarray], scopes: list[tuple[str | None, str | None]], past: dict[str, numpy.ndarray], first: int, end: int
) -> None:
    """Count the past messages of customers first .. end-1 into a partition's per-day tables."""
    lo, hi = numpy.searchsorted(past["cust"], [first, end])
    cust, day, n = past["cust"][lo:hi] - first, past["day"][lo:hi], past["n"][lo:hi]
    channel, intent = past["channel"][lo:hi], past["intent"][lo:hi]
    for (want_channel, want_intent), table in zip(scopes, counts):
        ok = numpy.ones(len(cust), dtype=bool)
        if want_channel is not None:
            ok &= channel == want_channel
        if want_intent is not None:
            ok &= intent == want_intent
        numpy.add.at(table, (cust[ok], day[ok]), n[ok])
