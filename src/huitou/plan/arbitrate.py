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
day live in small arrays (one per distinct cap scope) indexed from `base`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy

from ..data.load import lit
from .relations import Relations
from .rules import INTENT_ORDER, Cap, PlannedRule, caps_of, care_within

ACCEPTED, CAPPED, CARE_FIRST = 0, 1, 2


def _eligible(rel: Relations) -> str:
    """Candidates that take part: no early reason, and not failed at rendering in an earlier round."""
    return f"c.early_reason IS NULL AND c.cand_id NOT IN (SELECT cand_id FROM {rel.rendered} WHERE error IS NOT NULL)"


@dataclass
class Verdicts:
    cand_id: numpy.ndarray
    outcome: numpy.ndarray  # ACCEPTED | CAPPED | CARE_FIRST
    cap: numpy.ndarray  # index into caps for CAPPED, else -1
    position: numpy.ndarray  # place in the greedy order (the winner of a conflict is the lowest)
    caps: list[Cap]


def _scopes(caps: list[Cap]) -> list[tuple[str | None, str | None]]:
    return list(dict.fromkeys((c.channel, c.intent) for c in caps))


def arbitrate(con: duckdb.DuckDBPyConnection, rules: list[PlannedRule], as_of: dt.date, horizon: int, history_timezone: str | None, rel: Relations) -> Verdicts:
    """The verdict of every candidate (rel.candidates) without an early reason;
    `history_timezone` (the data's zone) is None when there is no history (rel.history)."""
    playbooks = list(dict.fromkeys(r.ctx.name for r in rules))
    contexts = {r.ctx.name: r.ctx for r in rules}
    caps = [cap for name in playbooks for cap in caps_of(contexts[name])]
    care = {name: care_within(contexts[name]) for name in playbooks}
    longest = max([c.days for c in caps] + [w or 0 for w in care.values()] + [1])
    base = as_of - dt.timedelta(days=longest)
    width = longest + horizon + 8 + longest  # history, the window, shifts (weekday, quiet), caps ahead

    order = ", ".join(f"({rule.index}, {-rule.priority}, {INTENT_ORDER[rule.intent]})" for rule in rules) or "(0, 0, 0)"
    arrays = con.execute(f"""
        SELECT c.cand_id, dense_rank() OVER (ORDER BY c.customer_id) - 1 AS cust, c.rule_index,
               date_diff('day', DATE '{base.isoformat()}', c.send_date) AS day
        FROM {rel.candidates} c JOIN (VALUES {order}) AS k(rule_index, neg_priority, intent_rank) USING (rule_index)
        WHERE {_eligible(rel)}
        ORDER BY c.customer_id, k.neg_priority, k.intent_rank, c.send_utc, c.rule_index, c.step""").fetchnumpy()
    cand_id = numpy.asarray(arrays["cand_id"], dtype=numpy.int64)
    n = len(cand_id)
    outcome = numpy.full(n, ACCEPTED, dtype=numpy.int8)
    cap_of = numpy.full(n, -1, dtype=numpy.int16)
    if n == 0:
        return Verdicts(cand_id, outcome, cap_of, numpy.arange(n), caps)
    cust = numpy.asarray(arrays["cust"], dtype=numpy.int64)
    rule = numpy.asarray(arrays["rule_index"], dtype=numpy.int64)
    day = numpy.asarray(arrays["day"], dtype=numpy.int64)
    customers = int(cust.max()) + 1

    channel_of = numpy.array([r.channel for r in rules], dtype=object)
    intent_of = numpy.array([r.intent for r in rules], dtype=object)
    playbook_of = numpy.array([playbooks.index(r.ctx.name) for r in rules])
    scopes = _scopes(caps) + [(None, "care")]
    # uint8: a day's count never needs more than 255 (history counts are clipped).
    counts = [numpy.zeros((customers, width), dtype=numpy.uint8) for _ in scopes]
    care_counts = counts[-1]

    def covers(scope: tuple[str | None, str | None], rows: numpy.ndarray) -> numpy.ndarray:
        ok = numpy.ones(len(rows), dtype=bool)
        if scope[0] is not None:
            ok &= channel_of[rows] == scope[0]
        if scope[1] is not None:
            ok &= intent_of[rows] == scope[1]
        return ok

    if history_timezone is not None:
        _add_history(con, counts, scopes, base, width, history_timezone, rel)

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
        for name, within in care.items():
            if within is None:
                continue
            promo = numpy.flatnonzero(ok & (playbook_of[r] == playbooks.index(name)) & (intent_of[r] == "promotion"))
            if not len(promo):
                continue
            touched = _sum_before(care_counts, c[promo], d[promo], within) > 0
            ok[promo[~touched]] = False
            outcome[sel[promo[~touched]]] = CARE_FIRST
        accepted = numpy.flatnonzero(ok)
        for scope, table in zip(scopes, counts):
            rows = accepted[covers(scope, r[accepted])]
            table[c[rows], d[rows]] += 1  # one candidate per customer per rank: no repeats
    return Verdicts(cand_id, outcome, cap_of, numpy.arange(n), caps)


def _busiest_window(table: numpy.ndarray, cust: numpy.ndarray, day: numpy.ndarray, days: int) -> numpy.ndarray:
    """For each (customer, day): the most messages in any `days`-long window containing day."""
    offsets = numpy.arange(-days + 1, days)
    around = table[cust[:, None], day[:, None] + offsets]  # 2*days-1 columns centred on day
    running = numpy.concatenate([numpy.zeros((len(cust), 1), dtype=numpy.int32), numpy.cumsum(around, axis=1, dtype=numpy.int32)], axis=1)
    windows = running[:, days:] - running[:, : days]  # window starting at column j covers j..j+days-1
    return windows.max(axis=1)


def _sum_before(table: numpy.ndarray, cust: numpy.ndarray, day: numpy.ndarray, days: int) -> numpy.ndarray:
    """Messages on the `days` days before `day` and on `day` itself."""
    offsets = numpy.arange(-days, 1)
    return table[cust[:, None], day[:, None] + offsets].sum(axis=1)


def _add_history(con: duckdb.DuckDBPyConnection, counts: list[numpy.ndarray], scopes: list[tuple[str | None, str | None]], base: dt.date, width: int, timezone: str,
                 rel: Relations) -> None:
    """Count past messages of the plan's customers into the per-day tables, each on its
    date in the customer's timezone (the data's when the customer has none)."""
    zone = f"CASE WHEN m.timezone IN (SELECT name FROM {rel.zones}) THEN m.timezone ELSE {lit(timezone)} END"
    past = con.execute(f"""
        WITH k AS (
            SELECT customer_id, dense_rank() OVER (ORDER BY customer_id) - 1 AS cust
            FROM (SELECT DISTINCT customer_id FROM {rel.candidates} c WHERE {_eligible(rel)})),
        h AS (
            SELECT k.cust, CAST(timezone({zone}, h.sent_at) AS DATE) AS local_date, h.channel, h.intent
            FROM {rel.history} h JOIN k USING (customer_id) JOIN {rel.matched} m USING (customer_id))
        SELECT cust, date_diff('day', DATE '{base.isoformat()}', local_date) AS day, channel, intent, least(count(*), 20) AS n
        FROM h WHERE local_date >= DATE '{base.isoformat()}' AND local_date < DATE '{base.isoformat()}' + {width}
        GROUP BY ALL""").fetchnumpy()
    cust = numpy.asarray(past["cust"], dtype=numpy.int64)
    day = numpy.asarray(past["day"], dtype=numpy.int64)
    channel = numpy.asarray(past["channel"], dtype=object)
    intent = numpy.asarray(past["intent"], dtype=object)
    n = numpy.asarray(past["n"], dtype=numpy.uint8)  # at most 20 a day per channel and intent: the sum stays under 255
    for (want_channel, want_intent), table in zip(scopes, counts):
        ok = numpy.ones(len(cust), dtype=bool)
        if want_channel is not None:
            ok &= channel == want_channel
        if want_intent is not None:
            ok &= intent == want_intent
        numpy.add.at(table, (cust[ok], day[ok]), n[ok])
