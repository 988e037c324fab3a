"""Local send times as instants, decided by huitou rather than by an engine's timezone
database (docs/plan.md#clock-changes).

A send is planned in the customer's local time; the instant and the UTC offset come
from Python's zoneinfo for each distinct (zone, local time) pair, and the candidates
join that table. Engines disagree at clock changes (DuckDB took the later of a repeated
hour, Spark the earlier) and on which zone names exist; this way there is one answer.
The rule is RFC 5545's: a local time the clocks skip is read with the offset before
the change (02:30 on a spring-forward night goes out at 03:30), and a local time that
happens twice is the first of the two.

>>> instant("America/New_York", dt.datetime(2026, 11, 1, 1, 30))
(1793511000, -240)
>>> instant("America/New_York", dt.datetime(2026, 3, 8, 2, 30))
(1772955000, -300)
"""

from __future__ import annotations

import datetime as dt

import numpy
from sqlglot import exp

from ..engines.base import Engine
from ..quiet import zone


def instant(zone_name: str, local: dt.datetime) -> tuple[int, int]:
    """The epoch second and the offset east of UTC in minutes of `local` in the zone."""
    at = local.replace(tzinfo=zone(zone_name), fold=0)
    offset = at.utcoffset() or dt.timedelta(0)
    return int(at.timestamp()), int(offset.total_seconds()) // 60


def _distinct(engine: Engine, relation: exp.Expr, column: str) -> list:
    """The distinct non-NULL values of a relation's column, sorted here (not by a collation)."""
    query = exp.select(exp.column(column)).distinct().from_(relation.copy()).where(exp.column(column).is_(exp.null()).not_())
    return sorted(row[0] for row in engine.rows(query))


def valid_zones(engine: Engine, names: exp.Expr, zones: str) -> exp.Table:
    """CREATE `zones`(name): those of the distinct names in the relation `names` (a
    column `name`) which are zones (a customer's own zone counts only then)."""
    valid = numpy.array([n for n in _distinct(engine, names, "name") if zone(n) is not None], dtype=object)
    return engine.take(zones, {"name": valid}, {"name": "VARCHAR"})


def create_clock(engine: Engine, candidates: exp.Expr, clock: str) -> exp.Table:
    """CREATE `clock` (tz, send_local, send_utc, utc_offset): for every zone and every local send time of the relation
    `candidates` (columns tz, send_local), the instant (epoch seconds) and the offset.
    Every zone is paired with every time, so a send moved to another candidate's time
    (a promotion after the day's care touch) finds its instant too: zones and times are
    few (the zones in play, the days of the horizon times the send times)."""
    zones, times = _distinct(engine, candidates, "tz"), _distinct(engine, candidates, "send_local")
    tz, local, utc, offset = [], [], [], []
    for name in zones:
        for t in times:
            seconds, minutes = instant(name, t)
            tz.append(name)
            local.append(t)
            utc.append(seconds)
            offset.append(minutes)
    columns = {
        "tz": numpy.array(tz, dtype=object),
        "send_local": numpy.array(local, dtype="datetime64[us]"),
        "send_utc": numpy.array(utc, dtype=numpy.int64),
        "utc_offset": numpy.array(offset, dtype=numpy.int32),
    }
    return engine.take(clock, columns, CLOCK_TYPES)


CLOCK_TYPES = {"tz": "VARCHAR", "send_local": "TIMESTAMP", "send_utc": "BIGINT", "utc_offset": "INTEGER"}
